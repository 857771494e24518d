"""The presence service: what the server app and the XCAP server talk to.

:class:`PresenceService` puts the parts together: PUBLISH (:mod:`.publications`), SUBSCRIBE
and NOTIFY (:mod:`.agent`), composition with registrations (:mod:`.composition`) and
authorization (:mod:`.authorization`). The server app hands it SUBSCRIBE and PUBLISH
requests for our users (:meth:`accepts` says which) and tells it when registrations change;
the XCAP server tells it when a user's rules or buddy list changed
(``XcapHooks(on_update=presence.document_updated)``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol

from parley.payloads import pidf, resourcelists
from parley.payloads.errors import PayloadError
from parley.payloads.presrules import Ruleset, SubHandling
from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.tasks import BackgroundTasks
from parley.services.auth import DigestAuthenticator
from parley.services.presence.agent import PresenceAgent
from parley.services.presence.authorization import (
    PRES_RULES_AUID,
    RESOURCE_LISTS_AUID,
    PresenceAuthorizer,
    added_entries,
)
from parley.services.presence.composition import compose_presence
from parley.services.presence.config import PresenceConfig
from parley.services.presence.publications import EVENT, PublicationService
from parley.services.presence.rls import ResourceListServer
from parley.services.presence.storage import PresenceStore
from parley.services.proxy import ProxyService
from parley.sip.core.proxy import preprocess_routes
from parley.sip.dialog import DialogId
from parley.sip.errors import ParseError
from parley.sip.syntax import Request, SipUri
from parley.sip.transport.address import Peer

log = logging.getLogger(__name__)


class SubscriptionHandler(Protocol):
    """A server of other SUBSCRIBEs for our domains, consulted before the presence agent:
    the resource list server (RFC 4662) claims SUBSCRIBEs to list URIs this way."""

    def claims(self, request: Request) -> bool:
        """Whether ``request`` (a SUBSCRIBE) is this handler's."""
        ...

    async def handle(self, incoming: ServerRequest) -> None:
        """Answer a request it claimed."""
        ...


#: Told the AOR of a presentity whose document may have changed.
ChangeListener = Callable[[str], object]


class PresenceService:
    """The presence agent of ``proxy``'s domains (RFC 3856 §3: the presence agent of a
    domain receives the SUBSCRIBEs for its users), with its state in ``storage``.

    ``clock`` is the wall clock of storage (publication and binding expiry).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        storage: PresenceStore,
        proxy: ProxyService,
        authenticator: DigestAuthenticator,
        config: PresenceConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or PresenceConfig()
        self.storage = storage
        self.proxy = proxy
        self.auth = authenticator
        self.clock = clock
        self.authorizer = PresenceAuthorizer(storage, self.config.policy)
        self.publications = PublicationService(
            storage, self.config, on_expired=self.state_changed, clock=clock
        )
        self.agent = PresenceAgent(
            endpoint,
            proxy,
            storage,
            authenticator,
            self.authorizer,
            self.config,
            self.presence_of,
            clock=clock,
        )
        #: Consulted first for SUBSCRIBEs (the RLS registers itself here).
        self.handlers: list[SubscriptionHandler] = []
        #: Told of every possible change of a presentity's document (the RLS's back end
        #: subscriptions, RFC 4662 §4.4.2, are in-process: it listens here).
        self.listeners: list[ChangeListener] = []
        #: The resource list server (RFC 4662) of our users' buddy lists.
        self.rls = ResourceListServer(self)
        self.rls.attach()
        self._tasks = BackgroundTasks("presence update")
        self._runner: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore subscriptions and start expiring publications; call once the endpoint
        listens."""
        await self.agent.start()
        await self.rls.start()
        self._runner = asyncio.get_running_loop().create_task(self.publications.run())

    async def close(self) -> None:
        """Stop, and save every subscription."""
        if self._runner is not None:
            self._runner.cancel()
        runner = [self._runner] if self._runner is not None else []
        await asyncio.gather(self._tasks.close(), *runner, return_exceptions=True)
        await self.rls.close()
        await self.agent.close()

    # -- requests --------------------------------------------------------------------------

    def accepts(self, request: Request) -> bool:
        """Whether a request is the presence agent's: a PUBLISH or new SUBSCRIBE for one of
        our users, or a SUBSCRIBE in one of our subscriptions. Requests that still carry
        someone else's Route (after ours is removed, RFC 3261 §16.4) are the proxy's."""
        if request.method not in ("SUBSCRIBE", "PUBLISH"):
            return False
        try:
            local = self.proxy.local
            pre = preprocess_routes(request, local.is_us)
            if pre.request.headers.values("Route"):
                return False
            uri = pre.request.uri
            dialog_id = DialogId.of_request(request) if request.method == "SUBSCRIBE" else None
        except ParseError:
            return False  # the proxy answers 400
        if request.method == "SUBSCRIBE" and self._handler_for(request) is not None:
            return True
        if dialog_id is not None:
            if self.agent.holds(dialog_id):
                return True
            # In-dialog for our own Contact: a subscription we no longer hold (481).
            return isinstance(uri, SipUri) and uri.user is None and local.is_us(uri)
        return self.proxy.aor_of(uri) is not None

    async def handle(self, incoming: ServerRequest) -> None:
        """Answer a request :meth:`accepts` took."""
        request = incoming.request
        required = [tag for tag in request.headers.values("Require") if tag]
        if required:
            # RFC 3261 §8.2.2.3: we are the UAS here and support no extension it requires.
            incoming.respond(420, headers=[("Unsupported", ", ".join(required))])
            return
        if request.method == "SUBSCRIBE":
            handler = self._handler_for(request)
            if handler is not None:
                await handler.handle(incoming)
            else:
                await self.agent.handle_subscribe(incoming)
        else:
            await self._publish(incoming)

    def _handler_for(self, request: Request) -> SubscriptionHandler | None:
        return next((h for h in self.handlers if h.claims(request)), None)

    async def _publish(self, incoming: ServerRequest) -> None:
        """RFC 3903 §6 step 1: only the presentity itself, authenticated, publishes its
        presence; then the publication service does the rest."""
        request = incoming.request
        presentity = self.proxy.aor_of(request.uri)
        try:
            from_uri = request.from_.uri
        except ParseError as exc:
            incoming.respond(400, exc.reason)
            return
        if presentity is None or not self.proxy.is_local_domain(from_uri):
            incoming.respond(403, "Only a user of this domain may publish its presence")
            return
        who = await self.auth.authenticate(
            incoming, proxy=True, identity=self.proxy.aor_of(from_uri)
        )
        if who is None:
            return
        if who != presentity:
            incoming.respond(403, "You may publish only your own presence")
            return
        outcome = await self.publications.publish(request, presentity, incoming.peer)
        incoming.respond(outcome.status, outcome.reason, headers=outcome.headers)
        if outcome.changed:
            self._tell(presentity)
            await self.agent.presentity_changed(presentity)

    # -- state -----------------------------------------------------------------------------

    async def presence_of(self, aor: str) -> pidf.Presence:
        """``aor``'s document now: its live publications composed, or what its
        registrations say (:func:`~.composition.compose_presence`)."""
        now = self.clock()
        publications = await self.storage.get_publications(aor, EVENT, now)
        bindings = await self.storage.get_bindings(aor, now) if not publications else []
        return compose_presence(aor, publications, bindings)

    def state_changed(self, aor: str) -> None:
        """Something ``aor``'s document depends on changed (a binding came or went, a
        publication expired): update its watchers, in the background."""
        self._tell(aor)
        self._spawn(self.agent.presentity_changed(aor))

    def _tell(self, aor: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(aor)
            except Exception:
                log.exception("presence listener failed")

    def registrations_changed(self, aors: Iterable[str]) -> None:
        """Bindings of ``aors`` were added, refreshed or removed (REGISTER, a closed
        connection, expiry): without publications, registration is presence."""
        for aor in sorted(set(aors)):
            self.state_changed(aor)

    def connection_closed(self, peer: Peer) -> None:
        """A connection went away: NOTIFYs that would have used it find a new way."""
        self.agent.connection_closed(peer)
        self.rls.sender.connection_closed(peer)
        self._spawn(self._publisher_gone(peer))

    async def _publisher_gone(self, peer: Peer) -> None:
        for aor in sorted(await self.publications.connection_closed(peer)):
            self.state_changed(aor)

    # -- authorization: the presentity's answers, and the XCAP server's hooks ---------------

    async def set_rule(self, presentity: str, watcher: str, handling: SubHandling | str) -> Ruleset:
        """The presentity's answer to ``watcher`` (an AOR or SIP URI): ``allow``,
        ``polite-block``, ``block``, or ``confirm`` (ignore: leave it pending). Stored in
        its pres-rules (RFC 5025) and applied at once to the watcher's subscriptions."""
        rules = await self.authorizer.set_rule(presentity, watcher, handling)
        who = _bare(watcher)
        if SubHandling(handling) is not SubHandling.CONFIRM:
            self.agent.answered(presentity, who)
        self._tell(presentity)
        await self.agent.reauthorize(presentity, who)
        return rules

    async def rules_changed(self, presentity: str) -> None:
        """``presentity``'s pres-rules document was written (by the XCAP server): apply it
        to every watcher at once."""
        self._tell(presentity)
        await self.agent.reauthorize(presentity)

    async def buddies_added(self, owner: str, buddies: Iterable[str]) -> None:
        """``owner`` added ``buddies`` (SIP URIs or AORs) to its buddy list: allow them to
        watch ``owner`` (a friendship accepted both ways, as in QQ). The XCAP server calls
        this after a resource-lists change; :meth:`resource_lists_changed` works out who
        was added."""
        for buddy in buddies:
            await self.set_rule(owner, buddy, SubHandling.ALLOW)

    async def resource_lists_changed(
        self,
        owner: str,
        old: resourcelists.ResourceLists | None,
        new: resourcelists.ResourceLists,
    ) -> list[str]:
        """The XCAP server replaced ``owner``'s resource-lists ``old`` by ``new``: allow
        everyone added (:meth:`buddies_added`); returns them."""
        added = added_entries(old, new)
        await self.buddies_added(owner, added)
        return added

    async def document_updated(
        self, aor: str, auid: str, old: bytes | None, new: bytes | None
    ) -> None:
        """The XCAP server's ``on_update`` hook (``XcapHooks(on_update=...)``): ``aor``'s
        ``index`` document of ``auid`` went from ``old`` to ``new`` (None: absent).
        pres-rules: apply the new rules at once (RFC 5025); resource-lists: allow the
        buddies just added (:meth:`resource_lists_changed`)."""
        if auid == PRES_RULES_AUID:
            await self.rules_changed(aor)
        elif auid == RESOURCE_LISTS_AUID:
            self._tell(aor)  # the owner's buddy list (RLS) changed, removals included
        if auid == RESOURCE_LISTS_AUID and new is not None:
            try:
                after = resourcelists.parse(new)
            except PayloadError as exc:  # XCAP validated it; only a codec change gets here
                log.warning("resource-lists of %s unreadable: %s", aor, exc)
                return
            before: resourcelists.ResourceLists | None = None
            if old is not None:
                try:
                    before = resourcelists.parse(old)
                except PayloadError:
                    before = None
            await self.resource_lists_changed(aor, before, after)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        self._tasks.spawn(work)


def _bare(watcher: str) -> str:
    """``sip:alice@example.com`` -> ``alice@example.com`` (an AOR stays as it is)."""
    scheme, colon, rest = watcher.partition(":")
    if colon and scheme.lower() in ("sip", "sips", "pres"):
        return rest.split(";", 1)[0].split("?", 1)[0]
    return watcher


__all__ = ["ChangeListener", "PresenceService", "SubscriptionHandler"]
