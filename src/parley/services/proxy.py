"""The stateful proxy service (RFC 3261 §16) on the asyncio endpoint.

It does what the sans-I/O proxy core decides: validation, route preprocessing, forking to
every registered device of a local user, forwarding to foreign domains (RFC 3263 or static
routes), best-response selection, CANCEL. Policy lives here: who must authenticate, who
may relay where, and the hook that turns "no device took the MESSAGE" into
store-and-forward (RFC 3428 §7 leaves that to the server).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.resolver import ResolutionError, SipResolver
from parley.services.auth import DigestAuthenticator
from parley.services.location import targets_of
from parley.services.storage import Storage
from parley.sip.core.proxy import (
    AbandonBranch,
    ForwardResponse,
    LocalAddresses,
    ProxyAction,
    ResponseContext,
    SendCancel,
    forward_request,
    loop_hash,
    preprocess_routes,
    stateless_branch,
    validate_request,
)
from parley.sip.core.uac import SentBy
from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.syntax import Request, Response, SipUri, Uri
from parley.sip.transaction.events import TransactionKey
from parley.sip.transport.address import Peer
from parley.sip.transport.via import response_destination

log = logging.getLogger(__name__)

#: Requests a local user's request is never challenged for (§22.1: ACK and CANCEL cannot
#: be resubmitted with credentials). In-dialog requests that follow our Record-Route are
#: routed before authentication comes up.
UNCHALLENGED_METHODS = frozenset({"ACK", "CANCEL"})

SERVER_ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, PUBLISH, REGISTER"


@dataclass
class _Proxied:
    """One request being proxied: its response context and where its branches went."""

    incoming: ServerRequest
    context: ResponseContext
    peers: dict[TransactionKey, Peer] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    #: Called with the best final response instead of forwarding it; True if it took it.
    on_final: Callable[[Response], bool] | None = None


class ContactIndex:
    """Contact URI -> the connection it registered or last sent from (bounded, LRU).

    In-dialog requests to a client behind a NAT or on a connection name its Contact as
    Request-URI; this finds the flow to reach it (what Kamailio's nathelper aliases do).
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._flows: OrderedDict[tuple[str, str, int | None], Peer] = OrderedDict()

    @staticmethod
    def key(uri: Uri) -> tuple[str, str, int | None] | None:
        if not isinstance(uri, SipUri):
            return None
        return (uri.user or "", uri.host_bare, uri.port)

    def remember(self, uri: Uri, peer: Peer) -> None:
        key = self.key(uri)
        if key is None:
            return
        self._flows[key] = peer
        self._flows.move_to_end(key)
        while len(self._flows) > self.capacity:
            self._flows.popitem(last=False)

    def find(self, uri: Uri) -> Peer | None:
        key = self.key(uri)
        return None if key is None else self._flows.get(key)

    def forget_connection(self, conn_id: int) -> None:
        for key in [k for k, p in self._flows.items() if p.conn_id == conn_id]:
            del self._flows[key]


class ProxyService:
    """Routes every request that is not for the server itself.

    ``domains`` are the domains we are authoritative for; ``aliases`` more names of this
    host. ``store`` is the store-and-forward hook for MESSAGE: called with the request and
    the recipient AOR when no device of a local user accepted it, it answers the request.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        storage: Storage,
        authenticator: DigestAuthenticator,
        domains: Iterable[str],
        resolver: SipResolver,
        *,
        aliases: Iterable[str] = (),
        store: Callable[[ServerRequest, str], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = endpoint
        self.storage = storage
        self.auth = authenticator
        self.domains = {d.lower() for d in domains}
        self.resolver = resolver
        self.aliases = list(aliases)
        self.store = store
        self.clock = clock
        self.contacts = ContactIndex()
        self._local: LocalAddresses | None = None
        self._proxied: dict[TransactionKey, _Proxied] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- who we are ----------------------------------------------------------------------

    @property
    def local(self) -> LocalAddresses:
        """Our addresses (listeners, aliases, domains); fixed once the listeners are up."""
        if self._local is None:
            listeners = self.endpoint.listeners
            sent_bys = [SentBy(item.transport, item.host, item.port) for item in listeners]
            local = LocalAddresses.of(sent_bys, [*self.aliases, *self.domains])
            if not listeners:
                return local
            self._local = local
        return self._local

    def is_local_domain(self, uri: Uri) -> bool:
        return isinstance(uri, SipUri) and (
            uri.host_bare in self.domains or self.local.is_us(uri.without(params=True))
        )

    def aor_of(self, uri: Uri) -> str | None:
        """The local AOR a URI names: user@domain, with our own address standing for the
        first domain (clients configured with the server's IP use that)."""
        if not isinstance(uri, SipUri) or uri.user is None:
            return None
        host = uri.host_bare
        if host not in self.domains:
            if not self.local.is_us(uri.without(params=True)):
                return None
            host = sorted(self.domains)[0]
        return f"{uri.user_unescaped}@{host}"

    # -- requests ------------------------------------------------------------------------

    async def handle(self, incoming: ServerRequest) -> None:
        request = incoming.request
        if request.method == "CANCEL":
            self._cancel(incoming)
            return
        local = self.local
        # Max-Forwards 0 gets 483 even for OPTIONS (RFC 4475 zeromf), rather than §16.3's
        # optional answer as the final recipient.
        try:
            loop: str | None = loop_hash(request)  # once: validation and our branch use it
        except ParseError:
            loop = None  # validate_request answers 400 with what is malformed
        refusal = validate_request(request, to_tag=incoming.to_tag, is_us=local.is_us, loop=loop)
        if refusal is not None:
            incoming.send(refusal)
            return
        if loop is None:
            loop = loop_hash(request)
        pre = preprocess_routes(request, local.is_us)
        forwarded = pre.request
        self._remember_contact(forwarded, incoming.peer)
        if forwarded.headers.values("Route"):
            # Loose routing (§16.12): someone else's Route comes next; dialogs were
            # authenticated when they were set up.
            await self._forward_to_next_hop(incoming, forwarded, loop)
            return
        uri = forwarded.uri
        if pre.removed_route is not None and request.to.tag is not None:
            # An in-dialog request that came through us on its route set: its
            # Request-URI is the remote target, a device we can reach by its flow.
            await self._forward_to_next_hop(incoming, forwarded, loop)
            return
        if isinstance(uri, SipUri) and uri.user is None and local.is_us(uri):
            self._answer_for_server(incoming)
            return
        sender = await self._sender(incoming)
        if sender is False:
            return  # challenged or refused already
        if isinstance(sender, str):
            # §22.3: credentials for our realm were for us; they go no further.
            forwarded.headers.remove("Proxy-Authorization")
        aor = self.aor_of(uri)
        if aor is not None:
            await self._to_local_user(incoming, forwarded, aor, loop)
            return
        if sender is None:
            # §16.5 policy: a foreign sender may only reach our users (no open relay).
            incoming.respond(403, "Relaying denied")
            return
        await self._forward_to_next_hop(incoming, forwarded, loop)

    async def _sender(self, incoming: ServerRequest) -> str | bool | None:
        """The authenticated local sender; None for a sender of another domain; False when
        the request was answered (challenge, 403)."""
        request = incoming.request
        try:
            sender_uri = request.from_.uri
        except ParseError:
            incoming.respond(400, "Malformed From")
            return False
        if not self.is_local_domain(sender_uri):
            return None
        if request.method in UNCHALLENGED_METHODS:
            return True
        identity = self.aor_of(sender_uri)
        aor = await self.auth.authenticate(incoming, proxy=True, identity=identity)
        return False if aor is None else aor

    async def _to_local_user(
        self, incoming: ServerRequest, request: Request, aor: str, loop: str
    ) -> None:
        bindings = await self.storage.get_bindings(aor, self.clock())
        targets = targets_of(bindings)
        is_message = request.method == "MESSAGE"
        if not targets:
            account = await self.storage.get_account(aor)
            if account is None:
                incoming.respond(404)
            elif is_message and self.store is not None:
                self.store(incoming, aor)
            else:
                incoming.respond(480)
            return
        on_final = None
        if is_message and self.store is not None:
            store = self.store

            def on_final(response: Response) -> bool:
                # No device took it (gone without unregistering, unreachable): keep it
                # for the next time one registers, rather than failing the sender.
                if response.status in (408, 480, 503):
                    store(incoming, aor)
                    return True
                return False

        self._fork(incoming, request, [(t.uri, t.peer, t.path) for t in targets], loop, on_final)

    async def _forward_to_next_hop(
        self, incoming: ServerRequest, request: Request, loop: str
    ) -> None:
        """Forward to the top Route, else the Request-URI: a known flow, a local user's
        device, or a foreign domain resolved by RFC 3263."""
        # §16.6 step 7: the next hop is the top Route if there is one, else the Request-URI.
        routes = request.routes
        next_hop = routes[0].uri if routes else request.uri
        peer = self.contacts.find(next_hop)
        if peer is None and self.is_local_domain(next_hop):
            aor = self.aor_of(next_hop)
            if aor is not None and not request.headers.values("Route"):
                await self._to_local_user(incoming, request, aor, loop)
                return
        if peer is None:
            if not isinstance(next_hop, SipUri):
                incoming.respond(416)
                return
            try:
                found = await self.resolver.resolve(next_hop, message_size=len(request.body) + 600)
            except ResolutionError as exc:
                incoming.respond(503 if exc.transient else 404, _phrase(str(exc)))
                return
            peer = found[0].peer()
        self._fork(incoming, request, [(str(request.uri), peer, ())], loop, None)

    def _fork(
        self,
        incoming: ServerRequest,
        request: Request,
        targets: list[tuple[str, Peer, tuple[str, ...]]],
        loop: str,
        on_final: Callable[[Response], bool] | None,
    ) -> None:
        incoming.hold()
        context = ResponseContext(incoming.request, to_tag=incoming.to_tag)
        proxied = _Proxied(incoming, context, on_final=on_final)
        self._proxied[incoming.key] = proxied
        now = self._now()
        record_route = self._record_route(incoming.peer)
        actions: list[ProxyAction] = []
        for uri, peer, path in targets:
            try:
                sent_by = self.endpoint.sent_by(peer.transport)
            except Exception:
                log.info("no %s listener to reach %s", peer.transport, peer)
                continue
            fwd = forward_request(
                request,
                uri,
                sent_by=sent_by,
                branch=self.endpoint.stack.ids.branch(),
                loop=loop,
                record_route=record_route,
                path=path,
            )
            key = self.endpoint.start_request(fwd.request, peer, self._on_branch_response(proxied))
            proxied.peers[key] = peer
            context.add_branch(key, fwd.request, now)
        actions.extend(context.complete_target_set(now))
        self._run(proxied, actions)

    def _on_branch_response(self, proxied: _Proxied) -> Callable[[Response], None]:
        def on_response(response: Response) -> None:
            key = _key_of(proxied, response)
            if key is None:
                return
            self._run(proxied, proxied.context.on_response(key, response, self._now()))

        return on_response

    def _run(self, proxied: _Proxied, actions: list[ProxyAction]) -> None:
        for action in actions:
            if isinstance(action, ForwardResponse):
                self._forward_response(proxied, action.response)
            elif isinstance(action, SendCancel):
                peer = proxied.peers.get(action.key)
                if peer is not None:
                    self.endpoint.start_request(action.request, peer, lambda response: None)
            elif isinstance(action, AbandonBranch):
                self.endpoint.abandon(action.key)
        self._arm(proxied)

    def _forward_response(self, proxied: _Proxied, response: Response) -> None:
        incoming = proxied.incoming
        if response.status >= 200 and not incoming.answered:
            if proxied.on_final is not None and proxied.on_final(response):
                self._proxied.pop(incoming.key, None)
                return
            if incoming.request.method == "INVITE":
                # Keep an INVITE's context a while for CANCELs and further 2xx (RFC 6026),
                # then let it go; a non-INVITE one has nothing more to wait for.
                loop = asyncio.get_running_loop()
                loop.call_later(32.0, self._proxied.pop, incoming.key, None)
            else:
                self._proxied.pop(incoming.key, None)
        try:
            incoming.send(response)
        except LocalProtocolError:
            # §16.7 step 9: the server transaction is gone; forward it statelessly.
            try:
                self.endpoint.send_stateless(response, response_destination(response, None))
            except ParseError:
                log.info("cannot forward a response without a Via")

    def _arm(self, proxied: _Proxied) -> None:
        if proxied.timer is not None:
            proxied.timer.cancel()
            proxied.timer = None
        deadline = proxied.context.next_deadline()
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, deadline - self._now())

        def fire() -> None:
            proxied.timer = None
            self._run(proxied, proxied.context.handle_timeout(self._now()))

        proxied.timer = loop.call_later(delay, fire)

    def _cancel(self, incoming: ServerRequest) -> None:
        """§16.10: answer the CANCEL, then cancel the pending branches of its INVITE."""
        proxied = self._proxied.get(incoming.cancels) if incoming.cancels else None
        if proxied is None:
            incoming.respond(481)
            return
        incoming.respond(200)
        self._run(proxied, proxied.context.cancel(self._now()))

    def forward_ack(self, ack: Request, peer: Peer) -> None:
        """The ACK of a 2xx passes through statelessly along its route (§16.11)."""
        task = asyncio.get_running_loop().create_task(self._forward_ack(ack))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward_ack(self, ack: Request) -> None:
        try:
            local = self.local
            if validate_request(ack, to_tag="-", is_us=local.is_us) is not None:
                return
            pre = preprocess_routes(ack, local.is_us)
            request = pre.request
            routes = request.routes
            next_hop = routes[0].uri if routes else request.uri
            peer = self.contacts.find(next_hop)
            if peer is None and isinstance(next_hop, SipUri):
                aor = self.aor_of(next_hop)
                if aor is not None:
                    targets = targets_of(await self.storage.get_bindings(aor, self.clock()))
                    peer = targets[0].peer if targets else None
                else:
                    peer = (await self.resolver.resolve(next_hop))[0].peer()
            if peer is None:
                return
            fwd = forward_request(
                request,
                request.uri,
                sent_by=self.endpoint.sent_by(peer.transport),
                branch=stateless_branch(request),
            )
            self.endpoint.send_stateless(fwd.request, peer)
        except (ParseError, ResolutionError, LocalProtocolError) as exc:
            log.info("ACK not forwarded: %s", exc)

    # -- helpers -------------------------------------------------------------------------

    def _answer_for_server(self, incoming: ServerRequest) -> None:
        if incoming.request.method == "OPTIONS":
            incoming.respond(200, headers=[("Allow", SERVER_ALLOW)])
        else:
            incoming.respond(404, "No such user here")

    def _record_route(self, peer: Peer) -> str:
        sent_by = self.endpoint.sent_by(peer.transport)
        host = f"[{sent_by.host}]" if ":" in sent_by.host else sent_by.host
        return f"sip:{host}:{sent_by.port};transport={peer.transport}"

    def _remember_contact(self, request: Request, peer: Peer) -> None:
        if not peer.reliable:
            return
        try:
            contacts = request.contacts
        except ParseError:
            return
        for contact in contacts:
            self.contacts.remember(contact.uri, peer)

    def _now(self) -> float:
        # Not asyncio.get_running_loop(): it asks the kernel for our pid at every call.
        return self.endpoint.now()


def _key_of(proxied: _Proxied, response: Response) -> TransactionKey | None:
    """The branch a response belongs to, by its top Via branch (ours)."""
    try:
        branch = response.top_via.branch
        method = response.cseq.method
    except ParseError:
        return None
    for key in proxied.peers:
        if key.branch == branch and key.method == method:
            return key
    return None


def _phrase(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:120]
