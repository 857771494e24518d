"""The resource list server (RFC 4662): one SUBSCRIBE to a user's buddy list gives
``multipart/related`` NOTIFYs with RLMI and each buddy's presence.

A user's buddy list is ``sip:<user>+buddies@<domain>`` (:mod:`.rls_state`: every entry of
the user's resource-lists document ``index``, RFC 4826, as written over XCAP). Only its
owner may subscribe to it, digest-authenticated as for any presence SUBSCRIBE; others get
403. Subscribers must say ``Supported: eventlist`` (421 with ``Require: eventlist``
otherwise, RFC 4662 §5.1) and accept ``multipart/related`` with an
``application/rlmi+xml`` root (406 otherwise).

Back-end subscriptions (RFC 4662 §4.4.2) are in-process: the server is told of every
possible change of a presentity's document (``PresenceService.listeners``) and of the
owner's list itself, and looks again at what changed. Each buddy is shown as the presence
agent would show it to a watcher that is the list owner (``PresenceAuthorizer``): allowed
buddies ``active`` with their composed document, politely blocking ones ``active`` with a
neutral one, undecided ones ``pending`` with none (RFC 3856 §6.6), blocking ones
``terminated;reason=rejected``, unknown local users ``terminated;reason=noresource``.

Buddies of other domains are listed ``pending`` without a document: this server does not
subscribe across domains on the owner's behalf (their state is not known here).

The subscriptions live in a sans-I/O :class:`~.rls_table.ResourceListTable` (over the
notifier table the presence agent uses, with its rate limit: one NOTIFY per interval per
subscription, the latest state never dropped); this module does the I/O around it (digest
authentication, storage reads, sending NOTIFYs where the agent would). They are saved as the
agent's are (:class:`~.persistence.SubscriptionStore`, the records marked as lists) and
after a restart each gets a full-state NOTIFY in its dialog.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from parley.payloads import pidf, resourcelists
from parley.payloads.errors import PayloadError
from parley.payloads.rlmi import InstanceState
from parley.runtime.endpoint import ServerRequest
from parley.runtime.tasks import BackgroundTasks
from parley.runtime.timer import DeadlineTimer
from parley.services.presence.authorization import DOCUMENT_NAME, RESOURCE_LISTS_AUID
from parley.services.presence.composition import neutral_presence, render
from parley.services.presence.delivery import NextHop
from parley.services.presence.persistence import SubscriptionStore
from parley.services.presence.rls_state import Buddy, ResourceView, buddies, list_owner
from parley.services.presence.rls_table import ResourceListTable
from parley.services.presence.sending import NotifySender
from parley.sip.core.subscription import (
    Authorization,
    NotifierConfig,
    PackageRegistry,
    SubscriptionTable,
)
from parley.sip.dialog import DialogId
from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.syntax import Request, Response, SipUri, parse_uri
from parley.sip.transport.address import Peer

if TYPE_CHECKING:
    from parley.services.presence.service import PresenceService

log = logging.getLogger(__name__)

PIDF = pidf.CONTENT_TYPE
CPIM_PIDF = pidf.CPIM_PIDF_CONTENT_TYPE


def part_type(accept: Iterable[str] | None) -> str:
    """The type of each buddy's part: PIDF unless the Accept names only the seed's
    CPIM-PIDF (RFC 4662 §5: the parts are of types the subscriber accepts)."""
    if accept is None:
        return PIDF
    types = {value.split(";", 1)[0].strip().lower() for value in accept}
    if PIDF not in types and CPIM_PIDF in types:
        return CPIM_PIDF
    return PIDF


class ResourceListServer:
    """The RLS of ``service``'s domains: a ``SubscriptionHandler`` and a
    ``ChangeListener`` of the presence service (:meth:`attach` registers both). It drives
    a sans-I/O :class:`~.rls_table.ResourceListTable` the way the presence agent drives
    its table: after every input, a flush sends the NOTIFYs and re-arms one timer.

    ``now`` for the table is ``loop.time()``, as for the presence agent.
    """

    def __init__(self, service: PresenceService) -> None:
        self.service = service
        self.proxy = service.proxy
        self.storage = service.storage
        self.endpoint = service.agent.endpoint
        presence_package = service.config.packages()[0]
        self.lists = ResourceListTable(
            SubscriptionTable(
                PackageRegistry([presence_package]),
                service.agent.table.local,
                NotifierConfig(rfc3265_accepted=service.config.notifier_202),
            )
        )
        self.next_hop = NextHop(self.proxy, clock=service.clock)
        self.store = SubscriptionStore(
            self.storage,
            self.lists.table,
            service.config,
            clock=service.clock,
            resource_lists=True,
        )
        self.sender = NotifySender(
            self.endpoint,
            self.next_hop,
            local_transport=lambda: self.lists.table.local.sent_by.transport.lower(),
            on_response=self._on_response,
            on_failed=self._failed,
            spawn=self._spawn,
        )
        self.started = False
        self._dirty: set[str] = set()
        # Change notices counted, so that one that came while a new subscription's
        # resources were being looked up (before it could be told) is not lost.
        self._notices = 0
        self._worker: asyncio.Task[None] | None = None
        self._timer = DeadlineTimer(self._on_timer)
        self._tasks = BackgroundTasks("resource list task")

    def attach(self) -> None:
        """Register with the presence service: SUBSCRIBEs to list URIs come here, and
        every change notice."""
        self.service.handlers.append(self)
        self.service.listeners.append(self.changed)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the presence agent's address (set by its start) for our 2xx and NOTIFYs,
        and restore the saved list subscriptions: each gets full state at once, as its
        buddies may have changed while we were down."""
        self.lists.table.local = self.service.agent.table.local
        restored, _ = await self.store.restore()
        self.started = True
        notices = self._notices
        for sub in restored:
            owner = list_owner(sub.resource)
            if owner is None:
                continue
            # The Accept is not saved: parts are PIDF (CPIM-PIDF-only list clients are
            # not known to exist).
            views = await self._resources(owner, PIDF)
            self.lists.restored(
                sub.id,
                self._now(),
                owner=owner,
                views=views,
                part_type=PIDF,
                salt=secrets.token_hex(8),
            )
            if self._notices != notices:
                self._look_at(owner)
        self._flush()

    async def close(self) -> None:
        """Stop, and save every subscription (a clean shutdown)."""
        self.started = False
        self._timer.cancel()
        if self._worker is not None:
            self._worker.cancel()
        worker = [self._worker] if self._worker is not None else []
        await asyncio.gather(self._tasks.close(), *worker, return_exceptions=True)
        await self.store.close()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        self._tasks.spawn(work)

    # -- SubscriptionHandler ---------------------------------------------------------------

    def claims(self, request: Request) -> bool:
        """A SUBSCRIBE to one of our users' list URIs, or in one of our subscriptions."""
        if request.method != "SUBSCRIBE":
            return False
        try:
            dialog_id = DialogId.of_request(request)
        except ParseError:
            return False
        if dialog_id is not None:
            return dialog_id in self.lists
        aor = self.proxy.aor_of(request.uri)
        return aor is not None and list_owner(aor) is not None

    async def handle(self, incoming: ServerRequest) -> None:
        """Answer a SUBSCRIBE :meth:`claims` took."""
        request = incoming.request
        if not self.started:
            incoming.respond(503, "Presence agent starting", headers=[("Retry-After", "1")])
            return
        try:
            in_dialog = request.to.tag is not None
            from_uri = request.from_.uri
        except ParseError as exc:
            incoming.respond(exc.status_hint, "Bad request")
            return
        if in_dialog:
            self._in_dialog(incoming)
            return
        aor = self.proxy.aor_of(request.uri)
        owner = None if aor is None else list_owner(aor)
        if aor is None or owner is None:
            incoming.respond(404, "No such list here")
            return
        if not self.proxy.is_local_domain(from_uri):
            incoming.respond(403, "Only its owner may subscribe to a buddy list")
            return
        who = await self.service.auth.authenticate(
            incoming, proxy=True, identity=self.proxy.aor_of(from_uri)
        )
        if who is None:
            return  # challenged (407) or refused already
        if who != owner:
            incoming.respond(403, "Only its owner may subscribe to a buddy list")
            return
        if await self.storage.get_account(owner) is None:
            incoming.respond(404, "No such list here")
            return
        accept = request.headers.values("Accept") if "Accept" in request.headers else None
        parts = part_type(accept)
        notices = self._notices
        views = await self._resources(owner, parts)
        outcome = self.lists.receive_subscribe(
            request,
            self._now(),
            owner=owner,
            resource=aor,
            views=views,
            part_type=parts,
            salt=secrets.token_hex(8),
            contact=self.service.agent.contact_for(incoming.peer.transport),
        )
        sub = outcome.subscription
        if outcome.created and sub is not None:
            self.sender.subscribed(sub.id, request, incoming.peer)
        if outcome.created and self._notices != notices:
            self._look_at(owner)  # something changed while we looked: look again
        incoming.send(outcome.response)  # RFC 6665 §4.2.1.2: the 2xx before its NOTIFY
        self._remember_contact(request, incoming.peer)
        self._flush()

    def _in_dialog(self, incoming: ServerRequest) -> None:
        """A refresh or an unsubscription; its NOTIFY carries full state."""
        request = incoming.request
        outcome = self.lists.receive_in_dialog(request, self._now())
        sub = outcome.subscription
        if sub is not None and 200 <= outcome.response.status < 300:
            self.sender.subscribed(sub.id, request, incoming.peer)  # the flow may be new
            self.store.touched(sub.id)
        incoming.send(outcome.response)
        self._remember_contact(request, incoming.peer)
        self._flush()

    def _remember_contact(self, request: Request, peer: Peer) -> None:
        """As the presence agent does: a client on a connection is reached over it."""
        if not peer.reliable or len(request.vias) != 1:
            return
        try:
            contacts = request.contacts
        except ParseError:
            return
        for contact in contacts:
            self.proxy.contacts.remember(contact.uri, peer)

    # -- what each buddy looks like to the owner ------------------------------------------

    async def _buddies(self, owner: str) -> tuple[Buddy, ...]:
        document = await self.storage.get_document(owner, RESOURCE_LISTS_AUID, DOCUMENT_NAME)
        if document is None:
            return ()
        try:
            return buddies(resourcelists.parse(document.content))
        except PayloadError as exc:
            log.warning("resource-lists of %s unreadable: %s", owner, exc)
            return ()

    async def _resources(self, owner: str, parts: str) -> list[ResourceView]:
        return [await self._view(owner, buddy, parts) for buddy in await self._buddies(owner)]

    def _presentity(self, uri: str) -> str | None:
        """The local AOR a buddy's URI names, or None for other domains and non-SIP URIs."""
        try:
            parsed = parse_uri(uri)
        except ParseError:
            return None
        return self.proxy.aor_of(parsed) if isinstance(parsed, SipUri) else None

    async def _view(self, owner: str, buddy: Buddy, parts: str) -> ResourceView:
        """``buddy`` as the presence agent would show it to ``owner`` watching it."""
        uri, name = buddy.uri, buddy.name
        presentity = self._presentity(uri)
        if presentity is None:
            # Another domain's user: no back-end subscription across domains (yet).
            return ResourceView(uri, name, InstanceState.PENDING)
        if await self.storage.get_account(presentity) is None:
            return ResourceView(
                uri, name, InstanceState.TERMINATED, "noresource", presentity=presentity
            )
        decision = await self.service.authorizer.decide(presentity, owner)
        if decision is Authorization.DENY:
            return ResourceView(
                uri, name, InstanceState.TERMINATED, "rejected", presentity=presentity
            )
        if decision is Authorization.PENDING:
            return ResourceView(uri, name, InstanceState.PENDING, presentity=presentity)
        if decision is Authorization.POLITE_BLOCK:
            presence = neutral_presence(presentity)
        else:
            presence = await self.service.presence_of(presentity)
        document = render(presence, parts)
        return ResourceView(uri, name, InstanceState.ACTIVE, None, document, parts, presentity)

    # -- ChangeListener: the in-process back end -------------------------------------------

    def changed(self, aor: str) -> None:
        """``aor``'s presence, its rules, or its own buddy list may have changed: look
        again, in the background. A burst of notices is worked through once."""
        self._notices += 1
        if self.lists.concerns(aor):
            self._look_at(aor)

    def _look_at(self, aor: str) -> None:
        self._dirty.add(aor)
        if self._worker is None and self.started:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        try:
            while self._dirty:
                dirty, self._dirty = self._dirty, set()
                for aor in sorted(dirty):
                    for dialog_id in self.lists.owned_by(aor):
                        await self._reload(dialog_id)
                    for dialog_id in self.lists.showing(aor):
                        await self._look_again(dialog_id, aor)
                self._flush()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("resource list update failed")
        finally:
            self._worker = None

    async def _reload(self, dialog_id: DialogId) -> None:
        """The owner's list may have changed: every resource anew."""
        entry = self.lists.get(dialog_id)
        if entry is None:
            return
        resources = await self._resources(entry.owner, entry.part_type)
        self.lists.replace(dialog_id, resources, self._now())

    async def _look_again(self, dialog_id: DialogId, presentity: str) -> None:
        entry = self.lists.get(dialog_id)
        if entry is None:
            return
        for resource in list(entry.view.resources.values()):
            if resource.presentity == presentity:
                buddy = Buddy(resource.uri, resource.name)
                fresh = await self._view(entry.owner, buddy, entry.part_type)
                self.lists.update(dialog_id, fresh, self._now())

    # -- sending (as the presence agent sends its NOTIFYs) -----------------------------------

    def _flush(self) -> None:
        self.sender.drain(self.lists.outgoing, self._dispatch)
        self._arm()

    def _dispatch(self, dialog_id: DialogId, notify: Request) -> None:
        self.store.touched(dialog_id)  # a new CSeq and version, or its end
        self.sender.send(dialog_id, notify, last=dialog_id not in self.lists)

    def _failed(self, dialog_id: DialogId) -> None:
        # RFC 6665 §4.2.2: a NOTIFY that cannot be delivered ends the subscription.
        self.lists.notify_failed(dialog_id)
        self.store.touched(dialog_id)
        self._flush()

    def _on_response(self, dialog_id: DialogId, response: Response) -> None:
        try:
            if self.lists.receive_notify_response(response):
                self.sender.forget(dialog_id)
                self.store.touched(dialog_id)
            elif 200 <= response.status < 300 and response.headers.get("Contact") is not None:
                self.store.touched(dialog_id)  # the NOTIFY's 2xx may refresh the target
        except (ParseError, LocalProtocolError) as exc:
            log.info("unusable response to NOTIFY of %s: %s", dialog_id, exc)
            return
        self._flush()

    def _arm(self) -> None:
        self._timer.arm(self.lists.next_deadline() if self.started else None)

    def _on_timer(self) -> None:
        # Expiries (terminated;reason=timeout) and NOTIFYs the rate limit held back.
        self.lists.handle_timeout(self._now())
        self._flush()


__all__ = ["ResourceListServer", "part_type"]
