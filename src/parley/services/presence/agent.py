"""The presence agent's notifier (RFC 3856 §6, RFC 3857 §4, RFC 6665 §4.2) on the endpoint.

:class:`PresenceAgent` drives one sans-I/O ``SubscriptionTable`` the way ``runtime/driver``
drives the stack: every input (a SUBSCRIBE, a NOTIFY's response, a state change, the timer)
is followed by a flush that sends the queued NOTIFYs and re-arms one ``loop.call_at`` for
``table.next_deadline()``. ``now`` for the table is ``loop.time()``.

What it decides, beyond the table:

* who the watcher is: the authenticated user for our own domains (challenged with 407 as
  the proxy would, RFC 3261 §22.3), the From AOR for watchers of federated domains, whom we
  cannot challenge (RFC 3856 §6.6 leaves authentication to the domain's means);
* whether they may watch (:class:`~.authorization.PresenceAuthorizer`): allowed watchers
  get the composed document, politely blocked ones a neutral one, pending ones none
  (RFC 3856 §6.6); ``presence.winfo`` only for oneself (RFC 3857 §5.4: 403 otherwise);
* the body's type by Accept (``EventPackage.negotiate``: PIDF, or the seed's CPIM-PIDF);
* where each NOTIFY goes (:class:`~.delivery.NextHop`), sent in CSeq order per dialog;
* the presentity's watcher information, updated whenever a presence subscription comes,
  goes or changes state, and the friend requests that outlive their subscription;
* persistence (:class:`~.persistence.SubscriptionStore`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from parley.payloads import pidf
from parley.payloads.watcherinfo import Watcher
from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.tasks import BackgroundTasks
from parley.runtime.timer import DeadlineTimer
from parley.services.auth import DigestAuthenticator
from parley.services.presence import winfo
from parley.services.presence.authorization import PresenceAuthorizer
from parley.services.presence.composition import neutral_presence, render
from parley.services.presence.config import PresenceConfig
from parley.services.presence.delivery import NextHop
from parley.services.presence.persistence import SubscriptionStore
from parley.services.presence.sending import NotifySender
from parley.services.presence.storage import PresenceStore
from parley.services.presence.winfo import WaitingWatcher
from parley.services.proxy import ProxyService
from parley.sip.core.subscription import (
    Authorization,
    LocalEndpoint,
    NotifierConfig,
    NotifierState,
    NotifierSubscription,
    PackageRegistry,
    Reason,
    SubscribeOutcome,
    SubscriptionState,
    SubscriptionTable,
    package_of,
)
from parley.sip.core.uac import SentBy
from parley.sip.dialog import DialogId
from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.syntax import Request, Response, SipUri, parse_sip_uri
from parley.sip.transport.address import Peer

log = logging.getLogger(__name__)

PresenceSource = Callable[[str], Awaitable[pidf.Presence]]

PRESENCE_EVENT = "presence"
WINFO_EVENT = "presence.winfo"
#: Watcher information is rebuilt at most this often (seconds): a burst of subscriptions to
#: one presentity costs one document listing them all, not one per subscription (the table
#: would coalesce the NOTIFYs anyway, RFC 3857 §5.3 via RFC 6665 §7.2's rate limit).
WINFO_BATCH = 0.05
#: A fan-out sends its NOTIFYs in chunks of this many watchers, the first while the last
#: are still being built. (Their 200 OKs are read before any is retransmitted: see the
#: endpoint's timer.)
FANOUT_CHUNK = 256


def _aor(uri: object) -> str | None:
    return uri.aor if isinstance(uri, SipUri) and uri.user is not None else None


class PresenceAgent:
    """Notifier of ``presence`` and ``presence.winfo`` for the users of ``proxy``'s domains.

    ``presence_of(aor)`` gives a presentity's current composed document. ``clock`` is the
    wall clock of storage; the table runs on ``loop.time()``.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        proxy: ProxyService,
        storage: PresenceStore,
        authenticator: DigestAuthenticator,
        authorizer: PresenceAuthorizer,
        config: PresenceConfig,
        presence_of: PresenceSource,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = endpoint
        self.proxy = proxy
        self.storage = storage
        self.auth = authenticator
        self.authorizer = authorizer
        self.config = config
        self.presence_of = presence_of
        self.clock = clock
        self.registry = PackageRegistry(config.packages())
        # Until start() knows our listeners, a placeholder that nothing is sent with.
        placeholder = LocalEndpoint(
            SentBy("udp", "127.0.0.1", 5060),
            endpoint.stack.ids,
            parse_sip_uri("sip:127.0.0.1"),
        )
        self.table = SubscriptionTable(
            self.registry,
            placeholder,
            NotifierConfig(rfc3265_accepted=config.notifier_202),
        )
        self.store = SubscriptionStore(storage, self.table, config, clock=clock)
        self.next_hop = NextHop(proxy, clock=clock)
        self.sender = NotifySender(
            endpoint,
            self.next_hop,
            local_transport=lambda: self.table.local.sent_by.transport.lower(),
            on_response=self._on_response,
            on_failed=self._failed,
            spawn=self._spawn,
        )
        self.started = False
        # Subscriptions we hold, kept after the table drops them so that their end can be
        # acted on (watcher information, waiting friend requests).
        self._subs: dict[DialogId, NotifierSubscription] = {}
        # The composed document of each presentity with watchers, as last computed: every
        # change comes through presentity_changed(), which recomputes it, so a burst of
        # SUBSCRIBEs to one presentity costs one composition, not one per SUBSCRIBE.
        self._documents: dict[str, pidf.Presence] = {}
        self._waiting: dict[str, list[WaitingWatcher]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._contacts: dict[str, SipUri] = {}
        self._winfo_due: set[str] = set()
        self._timer = DeadlineTimer(self._on_timer)
        self._winfo_timer: asyncio.TimerHandle | None = None
        self._tasks = BackgroundTasks("presence task")

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Take our address from the listeners, restore saved subscriptions and bring
        their watchers up to date (the presentity may have changed while we were down)."""
        self.table.local = self._local_endpoint()
        restored, waiting = await self.store.restore()
        now_wall = self.clock()
        self._waiting = {
            p: [w for w in ws if w.until > now_wall] for p, ws in waiting.items() if ws
        }
        for sub in restored:
            self._subs[sub.id] = sub
        self.started = True
        presentities = {s.resource for s in restored if s.package.name == PRESENCE_EVENT}
        for presentity in sorted(presentities):
            # The policy or the rules may have changed while we were down; so may the state.
            await self.reauthorize(presentity)
            await self.presentity_changed(presentity)
        self._winfo_due.update(s.resource for s in restored if s.package.name == WINFO_EVENT)
        self._flush()

    async def close(self) -> None:
        """Stop the timer and tasks and save every subscription (a clean shutdown)."""
        self.started = False
        self._timer.cancel()
        if self._winfo_timer is not None:
            self._winfo_timer.cancel()
        self._winfo_timer = None
        await self._tasks.close()
        await self.store.close()

    def _local_endpoint(self) -> LocalEndpoint:
        listeners = self.endpoint.listeners
        if not listeners:
            raise LocalProtocolError("the presence agent needs a listener")
        preference = {"udp": 0, "tcp": 1, "tls": 2, "ws": 3}
        listener = min(listeners, key=lambda item: preference.get(item.transport, 9))
        sent_by = self.endpoint.sent_by(listener.transport)
        # Our Contact in 2xx and NOTIFYs (RFC 6665 §4.2.1.1, §3.2) when no better one is
        # known for the transport a SUBSCRIBE came over (contact_for).
        contact = self.contact_for(listener.transport)
        headers = (("Allow-Events", self.registry.allow_events()),)
        return LocalEndpoint(sent_by, self.endpoint.stack.ids, contact, headers)

    def contact_for(self, transport: str) -> SipUri:
        """Our Contact for a subscription set up over ``transport``: our address on that
        transport, where the subscriber sends its refreshes (a TCP-only client cannot
        reach a UDP Contact). The notifier's own Contact if we have no such listener."""
        contact = self._contacts.get(transport)
        if contact is None:
            if not any(item.transport == transport for item in self.endpoint.listeners):
                return self.table.local.contact
            sent_by = self.endpoint.sent_by(transport)
            host = f"[{sent_by.host}]" if ":" in sent_by.host else sent_by.host
            suffix = "" if transport == "udp" else f";transport={transport}"
            contact = self._contacts[transport] = parse_sip_uri(
                f"sip:{host}:{sent_by.port}{suffix}"
            )
        return contact

    def _lock(self, presentity: str) -> asyncio.Lock:
        return self._locks.setdefault(presentity, asyncio.Lock())

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        self._tasks.spawn(work)

    # -- SUBSCRIBE -------------------------------------------------------------------------

    def holds(self, dialog_id: DialogId) -> bool:
        """Whether the subscription of ``dialog_id`` is ours (in-dialog dispatch)."""
        return dialog_id in self.table

    async def handle_subscribe(self, incoming: ServerRequest) -> None:
        """Answer a SUBSCRIBE for one of our presentities (new) or subscriptions (in-dialog)."""
        request = incoming.request
        if not self.started:
            incoming.respond(503, "Presence agent starting", headers=[("Retry-After", "1")])
            return
        try:
            to_tag = request.to.tag
            from_uri = request.from_.uri
            package = package_of(self.registry, request)
        except ParseError as exc:
            incoming.respond(exc.status_hint, _phrase(exc.reason))
            return
        if to_tag is not None:
            self._in_dialog(incoming)
            return
        if package is None:
            # RFC 6665 §8.2.1 / §4.2.1.1: 489 Bad Event with our Allow-Events.
            self._answer(incoming, self.table.receive_subscribe(request, self._now()))
            return
        presentity = self.proxy.aor_of(request.uri)
        if presentity is None:
            incoming.respond(404, "No such presentity here")
            return
        if self.proxy.is_local_domain(from_uri):
            # RFC 3856 §6.6: the watcher's identity must be authenticated before policy.
            watcher = await self.auth.authenticate(
                incoming, proxy=True, identity=self.proxy.aor_of(from_uri)
            )
            if watcher is None:
                return  # challenged (407) or refused already
        else:
            # A watcher of a federated domain: its own server vouched for it; we cannot
            # challenge it (no shared secret), as the proxy does not.
            watcher = _aor(from_uri)
            if watcher is None:
                incoming.respond(403, "From is not a SIP address of record")
                return
        if await self.storage.get_account(presentity) is None:
            incoming.respond(404, "No such presentity here")
            return
        if package.name == WINFO_EVENT and watcher != presentity:
            # RFC 3857 §5.4: watcher information is the presentity's own business.
            incoming.respond(403, "Only the presentity may watch its watchers")
            return
        async with self._lock(presentity):
            outcome = await self._create(
                request, package.name, presentity, watcher, incoming.peer.transport
            )
            self._answer(incoming, outcome)
            sub = outcome.subscription
            if outcome.created and sub is not None:
                self._subs[sub.id] = sub
                self.sender.subscribed(sub.id, request, incoming.peer)
                if sub.package.name == PRESENCE_EVENT:
                    self._winfo_due.add(presentity)
                    self._spawn(self._forget_waiting(presentity, watcher))
        self._remember_contact(request, incoming.peer)
        self._flush()

    async def _create(
        self, request: Request, event: str, presentity: str, watcher: str, transport: str
    ) -> SubscribeOutcome:
        """Decide and render, then let the table create the subscription."""
        now = self._now()
        package = self.registry.get(event)
        assert package is not None
        accept = request.headers.values("Accept") if "Accept" in request.headers else None
        content_type = package.negotiate(accept)
        document: bytes | None = None
        if event == WINFO_EVENT:
            decision = Authorization.ALLOW
            if content_type is not None:
                document = winfo.document(presentity, self._watchers(presentity), version=0)
        else:
            decision = await self.authorizer.decide(presentity, watcher)
            if content_type is not None:
                document = await self._document_for(presentity, decision, content_type)
            now = self._now()
        return self.table.receive_subscribe(
            request,
            now,
            decision=decision,
            document=document,
            resource=presentity,
            contact=self.contact_for(transport),
        )

    async def _presence(self, presentity: str) -> pidf.Presence:
        presence = self._documents.get(presentity)
        if presence is None:
            presence = self._documents[presentity] = await self.presence_of(presentity)
        return presence

    async def _document_for(
        self, presentity: str, decision: Authorization, content_type: str
    ) -> bytes | None:
        if decision is Authorization.ALLOW:
            return render(await self._presence(presentity), content_type)
        if decision is Authorization.POLITE_BLOCK:
            return render(neutral_presence(presentity), content_type)
        return None  # RFC 3856 §6.6: pending (or refused) watchers get no document

    def _in_dialog(self, incoming: ServerRequest) -> None:
        """§4.2.1.4: a refresh or an unsubscription; 481 for dialogs we do not hold. The
        dialog identifiers authenticate it as they do for the proxy's in-dialog requests."""
        request = incoming.request
        outcome = self.table.receive_subscribe(request, self._now())
        sub = outcome.subscription
        if sub is not None and 200 <= outcome.response.status < 300:
            self.sender.subscribed(sub.id, request, incoming.peer)  # the flow may be new
            self.store.touched(sub.id)
        self._answer(incoming, outcome)
        self._remember_contact(request, incoming.peer)
        self._flush()

    def _answer(self, incoming: ServerRequest, outcome: SubscribeOutcome) -> None:
        # RFC 6665 §4.2.1.2: the 2xx goes first, the NOTIFY it causes after.
        incoming.send(outcome.response)

    def _remember_contact(self, request: Request, peer: Peer) -> None:
        """As the proxy does for requests it routes: a client on a connection is reached
        over it (RFC 5626 §5.3), so its in-dialog requests find the flow."""
        if not peer.reliable or len(request.vias) != 1:
            return
        try:
            contacts = request.contacts
        except ParseError:
            return
        for contact in contacts:
            self.proxy.contacts.remember(contact.uri, peer)

    # -- state changes ---------------------------------------------------------------------

    async def presentity_changed(self, presentity: str) -> None:
        """``presentity``'s document may have changed: recompose it and update every
        allowed watcher whose document differs (RFC 3856 §6.12: NOTIFY only on change; the
        table rate-limits and coalesces)."""
        if not self.started:
            return
        if presentity not in self._locks and not self.table.watchers(presentity, PRESENCE_EVENT):
            self._documents.pop(presentity, None)
            return  # nobody watches, and no SUBSCRIBE is being answered
        async with self._lock(presentity):
            # Under the lock: a SUBSCRIBE being answered meanwhile either composed before
            # this change and is among the watchers now, or composes after it.
            if not self.table.watchers(presentity, PRESENCE_EVENT):
                self._documents.pop(presentity, None)
                return
            presence = self._documents[presentity] = await self.presence_of(presentity)
            now = self._now()
            rendered: dict[str, bytes] = {}
            watchers = self.table.watchers(presentity, PRESENCE_EVENT)
            for count, sub in enumerate(watchers, 1):
                if sub.state is not NotifierState.ACTIVE:
                    continue  # pending: nothing may leak (RFC 3856 §6.6)
                source = neutral_presence(presentity) if sub.blocked else presence
                key = ("neutral:" if sub.blocked else "") + sub.content_type
                document = rendered.get(key)
                if document is None:
                    document = rendered[key] = render(source, sub.content_type)
                if document != sub.document:
                    self.table.update(sub.id, document, now)
                if count % FANOUT_CHUNK == 0:
                    self._flush()
        self._flush()

    async def reauthorize(self, presentity: str, watcher: str | None = None) -> None:
        """Apply ``presentity``'s current rules to its watchers (all, or those of the AOR
        ``watcher``) at once (RFC 6665 §4.2.1.3): pending ones that are now allowed get
        their first real NOTIFY, allowed ones that are now refused are terminated
        (``reason=rejected``) or see the neutral document (polite blocking)."""
        if not self.started:
            return
        async with self._lock(presentity):
            decisions: dict[str, Authorization] = {}
            presence: pidf.Presence | None = None
            for sub in self.table.watchers(presentity, PRESENCE_EVENT):
                who = _aor(sub.dialog.remote_uri) or str(sub.dialog.remote_uri)
                if watcher is not None and who != watcher:
                    continue
                if who not in decisions:
                    decisions[who] = await self.authorizer.decide(presentity, who)
                decision = decisions[who]
                if decision is _current(sub) or self.table.get(sub.id) is None:
                    continue
                document: bytes | None = None
                if decision is Authorization.ALLOW:
                    if presence is None:
                        presence = await self._presence(presentity)
                    document = render(presence, sub.content_type)
                elif decision is Authorization.POLITE_BLOCK:
                    document = render(neutral_presence(presentity), sub.content_type)
                self.table.authorize(sub.id, decision, self._now(), document=document)
            self._winfo_due.add(presentity)
        self._flush()

    def connection_closed(self, peer: Peer) -> None:
        """A connection went away: NOTIFYs that would have used it find a new way."""
        self.sender.connection_closed(peer)

    # -- friend requests that outlive their subscription ----------------------------------

    def waiting(self, presentity: str) -> list[WaitingWatcher]:
        now = self.clock()
        kept = [w for w in self._waiting.get(presentity, []) if w.until > now]
        if kept:
            self._waiting[presentity] = kept
        else:
            self._waiting.pop(presentity, None)
        return kept

    async def _forget_waiting(self, presentity: str, watcher: str) -> None:
        entries = self._waiting.get(presentity, [])
        if any(w.watcher == watcher for w in entries):
            self._waiting[presentity] = [w for w in entries if w.watcher != watcher]
            self._winfo_due.add(presentity)
            await self.store.remove_waiting(presentity, watcher)
            self._flush()

    def answered(self, presentity: str, watcher: str) -> None:
        """The presentity decided about ``watcher``: its request is no longer waiting."""
        self._spawn(self._forget_waiting(presentity, watcher))

    def _ended(self, sub: NotifierSubscription, reason: str | None) -> None:
        """A subscription is gone (final NOTIFY sent, or its NOTIFY failed)."""
        self._subs.pop(sub.id, None)
        self.store.touched(sub.id)
        if sub.package.name != PRESENCE_EVENT:
            return
        presentity = sub.resource
        self._winfo_due.add(presentity)
        if sub.authorization is Authorization.PENDING and reason != Reason.REJECTED:
            # RFC 3857 §4.4: a pending subscription that ended unanswered is "waiting";
            # the presentity still sees the request when it comes back online.
            who = _aor(sub.dialog.remote_uri) or str(sub.dialog.remote_uri)
            entry = WaitingWatcher(who, self.clock() + self.config.waiting_seconds)
            entries = [w for w in self._waiting.get(presentity, []) if w.watcher != who]
            self._waiting[presentity] = [*entries, entry]
            self._spawn(self.store.save_waiting(presentity, entry))

    def _watchers(self, presentity: str) -> tuple[Watcher, ...]:
        return winfo.watchers(
            presentity, self.table.watchers(presentity, PRESENCE_EVENT), self.waiting(presentity)
        )

    def _on_winfo(self) -> None:
        self._winfo_timer = None
        due, self._winfo_due = self._winfo_due, set()
        for presentity in sorted(due):
            self._update_winfo(presentity)
        self._flush()

    def _update_winfo(self, presentity: str) -> None:
        """RFC 3857 §5.3: watcher information changed; every winfo subscriber of the
        presentity whose last document lists other watchers gets the new full state."""
        subscriptions = self.table.watchers(presentity, WINFO_EVENT)
        if not subscriptions:
            return
        found = self._watchers(presentity)
        now = self._now()
        for sub in subscriptions:
            if winfo.listed(sub.document) != found:
                document = winfo.document(presentity, found, version=sub.version)
                self.table.update(sub.id, document, now)

    # -- sending ---------------------------------------------------------------------------

    def _flush(self) -> None:
        """Send what the table queued, schedule watcher information updates, re-arm the
        timer."""
        self.sender.drain(self.table.outgoing_by_dialog, self._dispatch)
        if self._winfo_due and self._winfo_timer is None and self.started:
            self._winfo_timer = asyncio.get_running_loop().call_later(WINFO_BATCH, self._on_winfo)
        self._arm()

    def _dispatch(self, dialog_id: DialogId, notify: Request) -> None:
        try:
            value = notify.headers.get("Subscription-State") or ""
            # Only a final NOTIFY needs reading (its reason); the others go as they are.
            state = SubscriptionState.parse(value) if value.startswith("terminated") else None
        except (ParseError, LocalProtocolError):
            log.exception("unusable NOTIFY from the table")
            return
        self.store.touched(dialog_id)
        sub = self._subs.get(dialog_id)
        if state is not None and sub is not None:
            self._ended(sub, state.reason)
        self.sender.send(dialog_id, notify, last=state is not None)

    def _failed(self, dialog_id: DialogId) -> None:
        # §4.2.2: a NOTIFY that cannot be delivered ends the subscription as a 408 would.
        removed = self.table.notify_failed(dialog_id)
        if removed is not None:
            self._ended(removed, None)
        self._flush()

    def _on_response(self, dialog_id: DialogId, response: Response) -> None:
        try:
            removed = self.table.receive_notify_response(response)
        except (ParseError, LocalProtocolError) as exc:
            log.info("unusable response to NOTIFY of %s: %s", dialog_id, exc)
            return
        if removed is not None:
            # §4.2.2: 481 or 408 removes the subscription without another NOTIFY.
            self.sender.forget(dialog_id)
            self._ended(removed, None)
        elif 200 <= response.status < 300 and response.headers.get("Contact") is not None:
            self.store.touched(dialog_id)  # the NOTIFY's 2xx may refresh the target
        self._flush()

    # -- time ------------------------------------------------------------------------------

    def _arm(self) -> None:
        self._timer.arm(self.table.next_deadline() if self.started else None)

    def _on_timer(self) -> None:
        # Expiries (terminated;reason=timeout, §4.2.1.4) and coalesced NOTIFYs (§6.12).
        self.table.handle_timeout(self._now())
        self._flush()


def _current(sub: NotifierSubscription) -> Authorization:
    """The decision a subscription now reflects."""
    if sub.state is NotifierState.PENDING:
        return Authorization.PENDING
    return Authorization.POLITE_BLOCK if sub.blocked else Authorization.ALLOW


def _phrase(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:120]


__all__ = ["PRESENCE_EVENT", "WINFO_EVENT", "PresenceAgent", "PresenceSource"]
