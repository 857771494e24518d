"""Peer-to-peer presence: a user agent that is its own presence notifier (RFC 3856 §4, as
in the seed, where Poisson's UA answers Chebychev's SUBSCRIBE and sends the NOTIFYs).

``PeerNotifier`` drives one sans-I/O ``SubscriptionTable`` for the account's own address
of record, the way the server's presence agent drives its table: a SUBSCRIBE is answered
with what the table says (202 by default here, as RFC 3265 notifiers and the seed did, or
RFC 6665's 200), every NOTIFY the table queues is sent in its dialog to the watcher's
Contact (the dialog's remote target, or its route set), and one timer is armed for
``table.next_deadline()`` (expiries, rate-limited NOTIFYs).

The state shown is this UA's own: ``closed`` until :meth:`set_status` says otherwise, then
one tuple with our Contact when open (where the watcher may send its MESSAGE). Documents
are PIDF, or the seed's CPIM-PIDF when the SUBSCRIBE's Accept asks only for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from parley.client.presence import device_presence
from parley.payloads import pidf
from parley.runtime.endpoint import ServerRequest
from parley.runtime.timer import DeadlineTimer
from parley.sip.core.subscription import (
    PRESENCE,
    Authorization,
    LocalEndpoint,
    NotifierConfig,
    NotifierState,
    PackageRegistry,
    Reason,
    SubscriptionTable,
)
from parley.sip.dialog import DialogId
from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.syntax import Request, Response, SipUri, parse_sip_uri

if TYPE_CHECKING:
    from parley.client.account import Account

log = logging.getLogger(__name__)

#: Decides whether the watcher with this AOR may see our presence (RFC 3856 §6.6).
Authorizer = Callable[[str], Authorization]


def _allow_everyone(watcher: str) -> Authorization:
    return Authorization.ALLOW


class PeerNotifier:
    """The presence notifier of ``account``'s own AOR, with no server in between.

    ``accepted_202``: answer SUBSCRIBE 202 (RFC 3265, the seed) rather than 200 (RFC 6665
    §8.3.1). ``min_notify_interval``: RFC 3856 §6.12's rate limit (5 s); NOTIFYs coming
    sooner are coalesced, never dropped. ``authorize``: the policy for watchers (all
    allowed by default: a peer UA is reached only by those who know where it is).
    """

    def __init__(
        self,
        account: Account,
        *,
        accepted_202: bool = True,
        min_notify_interval: float = 5.0,
        authorize: Authorizer = _allow_everyone,
    ) -> None:
        self.account = account
        self.authorize = authorize
        self.package = replace(PRESENCE, min_notify_interval=min_notify_interval, list_accept=())
        self.registry = PackageRegistry([self.package])
        sent_by = account.sent_by
        local = LocalEndpoint(
            sent_by,
            account.endpoint.stack.ids,
            parse_sip_uri(account.contact.strip("<>")),
            (("Allow", account.allow), ("Allow-Events", self.registry.allow_events())),
        )
        self.table = SubscriptionTable(
            self.registry, local, NotifierConfig(rfc3265_accepted=accepted_202)
        )
        self.presence = self.status_presence(False)
        self._timer = DeadlineTimer(self._on_timer)
        account.event_hooks.append(self._on_request)

    # -- our state ---------------------------------------------------------------------

    def status_presence(
        self, open: bool, activities: Iterable[str] = (), note: str | None = None
    ) -> pidf.Presence:
        """Our presence document: one tuple (basic status, and our Contact when open, as
        the seed's second NOTIFY tells where Poisson is reached) and, with activities or a
        note, a person carrying them as RPID (RFC 4480)."""
        contact = self.account.contact.strip("<>")
        return device_presence(
            self.account.aor, contact, open, activities, note, contact_when_closed=False
        )

    def set_status(
        self,
        open: bool = True,
        activities: Iterable[str] = (),
        note: str | None = None,
    ) -> None:
        """Change our status; every active watcher whose document differs gets a NOTIFY
        (rate-limited, RFC 3856 §6.12)."""
        self.presence = self.status_presence(open, activities, note)
        now = self._now()
        for sub in self.table.watchers(self.account.aor, self.package.name):
            if sub.state is not NotifierState.ACTIVE:
                continue
            document = pidf.serialize(self.presence, content_type=sub.content_type)
            if document != sub.document:
                self.table.update(sub.id, document, now)
        self._flush()

    @property
    def watchers(self) -> list[str]:
        """The AORs (or URIs) of the current watchers."""
        out = []
        for sub in self.table.watchers(self.account.aor, self.package.name):
            uri = sub.dialog.remote_uri
            out.append(uri.aor if isinstance(uri, SipUri) else str(uri))
        return out

    # -- SUBSCRIBE ---------------------------------------------------------------------

    def _on_request(self, incoming: ServerRequest) -> bool:
        request = incoming.request
        if request.method != "SUBSCRIBE":
            return False
        try:
            to_tag = request.to.tag
            from_uri = request.from_.uri
        except ParseError as exc:
            incoming.respond(exc.status_hint)
            return True
        uri = request.uri
        if to_tag is None and not (
            isinstance(uri, SipUri)
            and (uri.aor == self.account.aor or uri.user == self.account.user)
        ):
            # Our AOR, or our Contact (which carries our user part), and nobody else's.
            incoming.respond(404, "Not this user agent's address")
            return True
        now = self._now()
        if to_tag is not None:
            # §4.2.1.4: a refresh or an unsubscription (481 for dialogs we do not hold).
            outcome = self.table.receive_subscribe(request, now)
        else:
            watcher = from_uri.aor if isinstance(from_uri, SipUri) else str(from_uri)
            decision = self.authorize(watcher)
            document = None
            accept = request.headers.values("Accept") if "Accept" in request.headers else None
            content_type = self.package.negotiate(accept)
            if content_type is not None and decision is Authorization.ALLOW:
                document = pidf.serialize(self.presence, content_type=content_type)
            outcome = self.table.receive_subscribe(
                request,
                now,
                decision=decision,
                document=document,
                resource=self.account.aor,
                over_tls=incoming.peer.transport == "tls",
            )
        # RFC 6665 §4.2.1.2: the 2xx goes first, the NOTIFY it causes after.
        incoming.send(outcome.response)
        self._flush()
        return True

    # -- NOTIFY ------------------------------------------------------------------------

    def _flush(self) -> None:
        for notify in self.table.outgoing():
            self._send(notify)
        self._arm()

    def _send(self, notify: Request) -> None:
        dialog_id = DialogId(notify.call_id, notify.from_.tag or "", notify.to.tag)
        try:
            peer = self.account.next_hop(notify)
            self.account.endpoint.start_request(
                notify, peer, lambda response: self._on_response(dialog_id, response)
            )
        except (LocalProtocolError, ParseError, OSError) as exc:
            log.info("cannot send NOTIFY of %s: %s", dialog_id, exc)
            self.table.notify_failed(dialog_id)

    def _on_response(self, dialog_id: DialogId, response: Response) -> None:
        if response.status < 200:
            return
        try:
            if response.status == 503:
                # The transport's failure (§8.1.3.1): the watcher is gone, as for a 408.
                self.table.notify_failed(dialog_id)
            else:
                # §4.2.2: a 481 or 408 ends the subscription; a 2xx may retarget it.
                self.table.receive_notify_response(response)
        except (ParseError, LocalProtocolError) as exc:
            log.info("unusable response to NOTIFY of %s: %s", dialog_id, exc)
        self._flush()

    # -- time --------------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _arm(self) -> None:
        self._timer.arm(self.table.next_deadline())

    def _on_timer(self) -> None:
        # Expiries (terminated;reason=timeout, §4.2.1.4) and coalesced NOTIFYs (§6.12).
        self.table.handle_timeout(self._now())
        self._flush()

    def close(self) -> None:
        """End every subscription (a final NOTIFY, reason ``deactivated``: the watchers
        may subscribe again, §4.1.3) and stop the timer."""
        now = self._now()
        for sub in self.table:
            self.table.terminate(sub.id, Reason.DEACTIVATED, now)
        self._flush()
        self._timer.cancel()
        if self._on_request in self.account.event_hooks:
            self.account.event_hooks.remove(self._on_request)


__all__ = ["Authorizer", "PeerNotifier"]
