"""How a notifier's NOTIFYs leave: in CSeq order per dialog, over the subscriber's own
flow when its SUBSCRIBE came straight from it, else to the next hop found by
:class:`~parley.services.presence.delivery.NextHop` (RFC 6665 §4.2.2, RFC 5626 §5.3).

Both notifiers of the server, the presence agent and the resource list server, send
through one :class:`NotifySender` each. A NOTIFY that cannot be sent, or whose next hop
cannot be found, ends the subscription as a 408 would (§4.2.2): ``on_failed`` is told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from parley.runtime.endpoint import Endpoint
from parley.services.presence.delivery import NextHop, NoRoute
from parley.sip.dialog import DialogId
from parley.sip.syntax import Request, Response
from parley.sip.transport.address import Peer

log = logging.getLogger(__name__)


class NotifySender:
    """Sends NOTIFYs for one notifier. ``local_transport()`` is the transport the
    notifier's Vias name; ``on_response(dialog_id, response)`` gets every final response;
    ``on_failed(dialog_id)`` hears of NOTIFYs that could not be sent; ``spawn`` runs a
    coroutine in the background (next-hop lookups)."""

    def __init__(
        self,
        endpoint: Endpoint,
        next_hop: NextHop,
        *,
        local_transport: Callable[[], str],
        on_response: Callable[[DialogId, Response], None],
        on_failed: Callable[[DialogId], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
    ) -> None:
        self.endpoint = endpoint
        self.next_hop = next_hop
        self._local_transport = local_transport
        self._on_response = on_response
        self._on_failed = on_failed
        self._spawn = spawn
        self._peers: dict[DialogId, Peer] = {}
        self._queues: dict[DialogId, list[Request]] = {}
        # Dialogs whose last NOTIFY is queued: their next hop is not kept once it is sent.
        self._ending: set[DialogId] = set()
        self._draining = False
        self._again = False

    # -- where a subscriber is -------------------------------------------------------------

    def subscribed(self, dialog_id: DialogId, request: Request, peer: Peer) -> None:
        """A SUBSCRIBE of ``dialog_id`` was accepted from ``peer``. Straight from the
        subscriber (one Via, no Record-Route): its NOTIFYs go back over that flow or to
        that source (RFC 3581, RFC 5626 §5.3); through proxies: by the route set."""
        if len(request.vias) == 1 and not request.headers.values("Record-Route"):
            self._peers[dialog_id] = peer
        else:
            self._peers.pop(dialog_id, None)

    def forget(self, dialog_id: DialogId) -> None:
        """The subscription is gone, or its way is to be found anew."""
        self._peers.pop(dialog_id, None)
        if dialog_id in self._queues:
            self._ending.add(dialog_id)

    def connection_closed(self, peer: Peer) -> None:
        """A connection went away: NOTIFYs that would have used it find a new way."""
        for dialog_id in [d for d, p in self._peers.items() if p == peer]:
            del self._peers[dialog_id]

    # -- sending ---------------------------------------------------------------------------

    def drain(
        self,
        outgoing: Callable[[], list[tuple[DialogId, Request]]],
        dispatch: Callable[[DialogId, Request], None],
    ) -> None:
        """Hand every NOTIFY a table queued (``outgoing()``) to ``dispatch``, including
        those queued meanwhile: a send that fails ends its subscription, whose table may
        queue more. Called again from within, it only asks for one more round."""
        if self._draining:
            self._again = True
            return
        self._draining = True
        try:
            while True:
                self._again = False
                for dialog_id, notify in outgoing():
                    dispatch(dialog_id, notify)
                if not self._again:
                    break
        finally:
            self._draining = False

    def send(self, dialog_id: DialogId, notify: Request, *, last: bool = False) -> None:
        """Send ``notify`` after the dialog's earlier ones. ``last``: the subscription
        ends with it, so its way is forgotten once it is sent (not before: a final NOTIFY
        takes the way the others took)."""
        queue = self._queues.get(dialog_id)
        if queue is not None:
            queue.append(notify)
            if last:
                self._ending.add(dialog_id)
            return
        peer = self._peers.get(dialog_id)
        if peer is not None:
            self._transmit(dialog_id, notify, peer)
            if last:
                self._peers.pop(dialog_id, None)
            return
        self._queues[dialog_id] = [notify]
        if last:
            self._ending.add(dialog_id)
        self._spawn(self._resolve(dialog_id))

    async def _resolve(self, dialog_id: DialogId) -> None:
        queue = self._queues.get(dialog_id, [])
        peer: Peer | None = None
        try:
            peer = await self.next_hop.peer_for(queue[0])
        except NoRoute as exc:
            log.info("no route for NOTIFY of %s: %s", dialog_id, exc)
        finally:
            queued = self._queues.pop(dialog_id, [])
            ending = dialog_id in self._ending
            self._ending.discard(dialog_id)
        if peer is None:
            self._on_failed(dialog_id)
            return
        if not ending:
            self._peers[dialog_id] = peer
        for notify in queued:
            self._transmit(dialog_id, notify, peer)

    def _transmit(self, dialog_id: DialogId, notify: Request, peer: Peer) -> None:
        try:
            if peer.transport != self._local_transport():
                # RFC 3261 §18.1.1: the notifier wrote one Via for all its NOTIFYs; it must
                # name the transport actually used, and our address on it.
                sent_by = self.endpoint.sent_by(peer.transport)
                branch = notify.top_via.branch or self.endpoint.stack.ids.branch()
                notify.headers.pop_first_value("Via")
                notify.headers.prepend("Via", sent_by.via(branch))
            self.endpoint.start_request(
                notify, peer, lambda response: self._answered(dialog_id, response)
            )
        except Exception as exc:
            log.info("cannot send NOTIFY of %s to %s: %s", dialog_id, peer, exc)
            self._peers.pop(dialog_id, None)
            self._on_failed(dialog_id)

    def _answered(self, dialog_id: DialogId, response: Response) -> None:
        if response.status < 200:
            return
        if response.status in (408, 503):
            self._peers.pop(dialog_id, None)  # find the way anew next time
        self._on_response(dialog_id, response)


__all__ = ["NotifySender"]
