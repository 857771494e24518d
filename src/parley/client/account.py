"""One SIP account on a Parley (or any RFC 3261) server: registration with digest
authentication kept alive (:mod:`parley.client.connectivity`), MESSAGE out and in
(RFC 3428), typing notifications (RFC 3994, :mod:`parley.client.composing`), presence
(RFC 3856/3903: publish one's status, watch others', see who watches;
:mod:`parley.client.presence`).

With no server the account is a peer-to-peer user agent, as in the seed: it is its own
presence notifier (:mod:`parley.client.notifier`), takes MESSAGEs directly, and sends its
requests to the Request-URI's host (a contact URI) or to a static route per domain.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parley.client.composing import CONTENT_TYPE as TYPING_CONTENT_TYPE
from parley.client.composing import Composer, Receiver, TypingEvent
from parley.client.connectivity import (
    KEEPALIVE_INTERVAL,
    ConnectionState,
    Connectivity,
    ReconnectPolicy,
)
from parley.client.notifier import PeerNotifier
from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.tls import client_context
from parley.runtime.transports import ListenSpec
from parley.sip.auth.challenge import DigestChallenge, parse_challenges, serialize_credentials
from parley.sip.auth.digest import build_authorization, choose_challenges
from parley.sip.core.uac import SentBy, build_request
from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.syntax import Request, Response, SipUri, parse_uri
from parley.sip.transport.address import Peer

if TYPE_CHECKING:
    from parley.client.presence import PresenceChange, PresenceClient, Watch, WatcherChange

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY"
#: A peer-to-peer UA also answers SUBSCRIBE (it is its own presence notifier).
PEER_ALLOW = "ACK, INVITE, CANCEL, BYE, NOTIFY, SUBSCRIBE, MESSAGE, OPTIONS"

#: Takes an incoming request and answers it, returning True, or leaves it (False).
RequestHook = Callable[[ServerRequest], bool]


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of a MESSAGE: ``delivered`` (2xx but 202), ``stored`` (202: the server
    keeps it for an offline user), or failed with the status and reason."""

    status: int
    reason: str

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300 and self.status != 202

    @property
    def stored(self) -> bool:
        return self.status == 202

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A MESSAGE received: sender AOR, content type, body, and its Date header if any."""

    sender: str
    content_type: str
    body: bytes
    date: str | None
    request: Request

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Account:
    """A user's account.

    ``server`` is the registrar/outbound proxy address: requests go there whatever their
    Request-URI says (an outbound proxy, RFC 3261 §8.1.2). With ``server=None`` the account
    is a peer-to-peer UA: requests go to the host of their Request-URI (or first Route), or
    to ``routes[aor or domain]`` (an ``(ip, port)``), and the account answers SUBSCRIBEs for
    its own AOR itself (``peer=True`` does that next to a server too; ``notifier_202``
    answers them 202 as the seed does, else 200).

    ``transport`` is ``udp``, ``tcp`` or ``tls``; the account listens on ``local_host``
    (port ``local_port``, 0 for any). ``expires`` is the registration time asked for; it is
    refreshed before it runs out, kept alive by CRLF pings every ``keepalive_interval``
    seconds on TCP/TLS (None: none), and after a lost connection or server restart the
    account registers again with ``reconnect`` backoff, then re-publishes and re-subscribes.
    ``tracer(direction, transport, local, peer, data)`` sees every message on the wire.
    Over TLS the account connects out and takes requests back over that connection (RFC
    5626 §5.3; it listens on TCP only to have an address for its Via and Contact); the
    server's certificate is checked against ``tls_ca`` (a CA file; None: the system's
    trust store), host name included (RFC 5922).
    """

    def __init__(
        self,
        aor: str,
        password: str = "",
        *,
        server: tuple[str, int] | None = None,
        transport: str = "udp",
        local_host: str = "127.0.0.1",
        local_port: int = 0,
        expires: int = 600,
        display_name: str | None = None,
        routes: Mapping[str, tuple[str, int]] | None = None,
        peer: bool | None = None,
        notifier_202: bool = True,
        notify_interval: float = 5.0,
        keepalive_interval: float | None = KEEPALIVE_INTERVAL,
        reconnect: ReconnectPolicy | None = None,
        typing_idle_timeout: float = 15.0,
        tracer: Any = None,
        tls_ca: str | os.PathLike[str] | None = None,
    ) -> None:
        user, _, domain = aor.partition("@")
        if not user or not domain:
            raise ValueError(f"not an address of record: {aor!r}")
        self.aor = aor
        self.user = user
        self.domain = domain
        self.password = password
        self.display_name = display_name
        self.transport = transport
        self.server = None if server is None else Peer(transport, server[0], server[1])
        self.routes = dict(routes or {})
        self.local_host = local_host
        self.local_port = local_port
        self.expires = expires
        self.peer_mode = server is None if peer is None else peer
        self.allow = PEER_ALLOW if self.peer_mode else ALLOW
        self._notifier_202 = notifier_202
        self._notify_interval = notify_interval
        #: Messages received, oldest first (``iter_messages`` reads them as an iterator).
        self.messages: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        #: Typing notifications received (RFC 3994), never mixed with ``messages``.
        self.typing: asyncio.Queue[TypingEvent] = asyncio.Queue()
        self.endpoint = Endpoint(
            self._handle,
            tracer=tracer,
            on_connection_closed=self._connection_closed,
            client_ssl=client_context(verify=True, cafile=tls_ca) if transport == "tls" else None,
        )
        self.connectivity = Connectivity(
            self,
            keepalive_interval=keepalive_interval,
            reconnect=reconnect or ReconnectPolicy(),
        )
        self.notifier: PeerNotifier | None = None
        self._composer = Composer(self._send_indication, idle_timeout=typing_idle_timeout)
        self._typing_receiver = Receiver(self.typing)
        self._call_id = ""
        self._cseq = 0
        self._nc = 0
        #: Hooks offered every incoming SUBSCRIBE and NOTIFY first (the presence client's
        #: subscriptions answer their NOTIFYs here, RFC 6665 §4.1.3; the peer notifier its
        #: SUBSCRIBEs).
        self.event_hooks: list[RequestHook] = []
        self._presence: PresenceClient | None = None

    async def start(self) -> None:
        """Open the account's listener (and, in peer mode, its presence notifier)."""
        # TLS: connections go out only; a TCP listener gives us an address (see above).
        listen = "tcp" if self.transport == "tls" else self.transport
        await self.endpoint.start([ListenSpec(listen, self.local_host, self.local_port)])
        self._call_id = self.endpoint.stack.ids.call_id()
        if self.peer_mode:
            self.notifier = PeerNotifier(
                self,
                accepted_202=self._notifier_202,
                min_notify_interval=self._notify_interval,
            )

    async def close(self) -> None:
        """Unsubscribe, unpublish, stop every timer and close the listener (bounded)."""
        await self.connectivity.close()
        self._composer.close()
        self._typing_receiver.close()
        if self._presence is not None:
            await self._presence.close()
        if self.notifier is not None:
            self.notifier.close()
            await asyncio.sleep(0)  # let the final NOTIFYs reach the transport
        await self.endpoint.close()

    async def __aenter__(self) -> Account:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def sent_by(self) -> SentBy:
        """Our address for Via and Contact on the account's transport (for TLS, the
        address of the TCP listener, named TLS: requests come back over our connection)."""
        if self.transport == "tls":
            tcp = self.endpoint.sent_by("tcp")
            return SentBy("tls", tcp.host, tcp.port)
        return self.endpoint.sent_by(self.transport)

    @property
    def contact(self) -> str:
        """Our Contact, ``<sip:user@host:port;transport=...>``."""
        sent_by = self.sent_by
        host = f"[{sent_by.host}]" if ":" in sent_by.host else sent_by.host
        return f"<sip:{self.user}@{host}:{sent_by.port};transport={self.transport}>"

    @property
    def address(self) -> str:
        """Our From: ``"Display Name" <sip:aor>``."""
        if self.display_name:
            name = self.display_name.replace("\\", "\\\\").replace('"', '\\"')
            return f'"{name}" <sip:{self.aor}>'
        return f"<sip:{self.aor}>"

    @property
    def state(self) -> ConnectionState:
        """``registered``, ``reconnecting`` (lost, registering again) or ``offline``."""
        return self.connectivity.state

    # -- registration ----------------------------------------------------------------------

    async def register(self, expires: int | None = None) -> Response:
        """REGISTER this device (§10.2); one Call-ID for all refreshes, CSeq growing. A 2xx
        starts the refresh timer (and keep-alives); ``expires=0`` unregisters."""
        if self.server is None:
            raise LocalProtocolError("a peer-to-peer account has no registrar")
        seconds = self.expires if expires is None else expires
        for _ in range(2):
            response = await self.request(
                "REGISTER",
                f"sip:{self.domain}",
                to=f"<sip:{self.aor}>",
                headers=[("Contact", self.contact), ("Expires", str(seconds))],
                call_id=self._call_id,
            )
            minimum = response.headers.get("Min-Expires") if response.status == 423 else None
            if minimum is None or not minimum.strip().isdigit():
                break
            # §10.2.8: too brief; ask again for at least the registrar's minimum.
            seconds = max(seconds, int(minimum.strip()))
        self.connectivity.registered(response, seconds)
        return response

    async def unregister(self) -> Response:
        return await self.register(expires=0)

    def _connection_closed(self, peer: Peer, local: Any) -> None:
        self.connectivity.connection_closed(peer, local)

    async def resume_presence(self) -> None:
        """After a recovery: publish our status again and refresh every watch (a watch the
        server lost is subscribed anew); called by :mod:`parley.client.connectivity`."""
        if self._presence is not None:
            await self._presence.resume()

    # -- messages --------------------------------------------------------------------------

    def target_uri(self, to: str) -> str:
        """``to`` as a Request-URI: a ``sip:``/``sips:`` URI as given (a contact, as the
        seed's MESSAGE goes to Poisson's), an AOR ``user@domain`` prefixed with ``sip:``."""
        return to if to.startswith(("sip:", "sips:")) else f"sip:{to}"

    async def send_message(
        self, to: str, body: str | bytes, content_type: str = "text/plain;charset=utf-8"
    ) -> SendResult:
        """Send a MESSAGE (RFC 3428) to an AOR or a contact URI and learn its fate:
        delivered, stored for an offline user (202), or failed with the status."""
        self._composer.message_sent(to)
        payload = body.encode() if isinstance(body, str) else body
        response = await self.request(
            "MESSAGE", self.target_uri(to), body=payload, content_type=content_type
        )
        return SendResult(response.status, response.reason)

    async def send_typing(self, to: str, active: bool = True) -> SendResult | None:
        """Tell ``to`` that we are typing (``active``) or stopped (RFC 3994). Call it on
        each keystroke: ``active`` is sent when it is news or its refresh is due, and idle
        follows on its own after ``typing_idle_timeout`` seconds without one. Returns the
        result of the MESSAGE sent, or None when nothing needed sending."""
        result = await self._composer.typed(to, active)
        return result if isinstance(result, SendResult) else None

    async def _send_indication(self, to: str, document: bytes) -> SendResult:
        payload = document
        response = await self.request(
            "MESSAGE", self.target_uri(to), body=payload, content_type=TYPING_CONTENT_TYPE
        )
        return SendResult(response.status, response.reason)

    async def iter_messages(self) -> AsyncIterator[IncomingMessage]:
        """Every message received, as an async iterator (endless: break out of it)."""
        while True:
            yield await self.messages.get()

    async def iter_typing(self) -> AsyncIterator[TypingEvent]:
        """Every typing notification, as an async iterator (endless: break out of it)."""
        while True:
            yield await self.typing.get()

    # -- presence (parley.client.presence) ---------------------------------------------------

    @property
    def presence(self) -> PresenceClient:
        """This account's presence client, made on first use."""
        if self._presence is None:
            from parley.client.presence import PresenceClient

            self._presence = PresenceClient(self)
        return self._presence

    async def publish_status(
        self,
        open: bool = True,
        activity: str | None = None,
        note: str | None = None,
        *,
        activities: Iterable[str] = (),
        expires: int | None = None,
    ) -> Response:
        """PUBLISH this device's status as PIDF with RPID (RFC 3903, RFC 4480), keeping the
        SIP-ETag and refreshing it (``PresenceClient.publish_status``). With ``peer=True``
        next to a server, our own watchers see it too; ``set_status`` works in both modes."""
        if self.server is None:
            raise LocalProtocolError("no server to PUBLISH to: use set_status")
        if self.notifier is not None:
            self.notifier.set_status(open, [*([activity] if activity else []), *activities], note)
        return await self.presence.publish_status(
            open, activity, note, activities=activities, expires=expires
        )

    async def set_status(
        self,
        open: bool = True,
        activity: str | None = None,
        note: str | None = None,
        *,
        activities: Iterable[str] = (),
    ) -> Response | None:
        """Show this status to those who watch us, in either mode: our own watchers in peer
        mode (NOTIFYs, RFC 3856 §4), and the server with a PUBLISH when there is one (its
        final response; None without a server)."""
        values = [*([activity] if activity else []), *activities]
        if self.server is None:
            if self.notifier is None:
                raise LocalProtocolError("start() the account first")
            self.notifier.set_status(open, values, note)
            return None
        return await self.publish_status(open, None, note, activities=values)

    def watch(
        self,
        aor: str,
        *,
        accept: Iterable[str] | None = None,
        expires: int | None = None,
        auto_retry: bool = True,
        send_expires: bool = True,
    ) -> Watch[PresenceChange]:
        """Subscribe to ``aor``'s presence; iterate for each change (``PresenceClient.watch``)."""
        return self.presence.watch(
            aor, accept=accept, expires=expires, auto_retry=auto_retry, send_expires=send_expires
        )

    def watchers(self, *, expires: int | None = None) -> Watch[WatcherChange]:
        """Subscribe to one's own watcher information: who watches, who asks to
        (``PresenceClient.watchers``)."""
        return self.presence.watchers(expires=expires)

    # -- requests with authentication ---------------------------------------------------------

    def next_hop(self, request: Request) -> Peer:
        """Where ``request`` goes: the server (an outbound proxy) when there is one; else
        its first Route, else its Request-URI, looked up in ``routes`` by AOR then domain,
        or taken as the address itself (a contact URI)."""
        if self.server is not None:
            return self.server
        routes = request.headers.values("Route")
        uri = parse_uri(routes[0].strip().strip("<>").split(">")[0]) if routes else request.uri
        if not isinstance(uri, SipUri):
            raise LocalProtocolError(f"cannot send to {uri}")
        transport = uri.transport or ("tls" if uri.secure else self.transport)
        for key in (uri.aor, uri.host_bare):
            found = self.routes.get(key)
            if found is not None:
                return Peer(self.transport, found[0], found[1])
        default = 5061 if transport == "tls" else 5060
        return Peer(transport, uri.host_bare, uri.port or default)

    async def request(
        self,
        method: str,
        uri: str,
        *,
        to: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        call_id: str | None = None,
    ) -> Response:
        """Send a request to its next hop (``next_hop``); answer one 401/407 challenge
        (§22.2)."""
        extra = list(headers)
        authorization: list[tuple[str, str]] = []
        for _ in range(2):
            self._cseq += 1
            request = build_request(
                method,
                uri,
                from_=self.address,
                to=to,
                sent_by=self.sent_by,
                ids=self.endpoint.stack.ids,
                cseq=self._cseq,
                call_id=call_id or self.endpoint.stack.ids.call_id(),
                headers=[*extra, ("Allow", self.allow), *authorization],
                body=body,
                content_type=content_type,
            )
            response = await self.endpoint.request(request, self.next_hop(request))
            if response.status not in (401, 407):
                return response
            authorization = self._answer(response, method, uri)
            if not authorization:
                return response
        return response

    def authorization_for(self, response: Response, method: str, uri: str) -> list[tuple[str, str]]:
        """The Authorization or Proxy-Authorization headers answering the 401 or 407
        ``response`` for a ``method`` request to ``uri`` (§22.2, §22.3); empty if it
        offers no challenge we can answer."""
        return self._answer(response, method, uri)

    def _answer(self, response: Response, method: str, uri: str) -> list[tuple[str, str]]:
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        answer = "Authorization" if response.status == 401 else "Proxy-Authorization"
        challenges: list[DigestChallenge] = []
        for value in response.headers.get_all(header):
            try:
                challenges.extend(parse_challenges(value))
            except ParseError:
                continue
        out = []
        for challenge in choose_challenges(challenges):
            self._nc += 1
            credentials = build_authorization(
                challenge, self.user, self.password, method, uri, os.urandom(8).hex(), 1
            )
            out.append((answer, serialize_credentials(credentials)))
        return out

    # -- incoming ------------------------------------------------------------------------

    def _handle(self, incoming: ServerRequest) -> None:
        request = incoming.request
        if request.method in ("NOTIFY", "SUBSCRIBE"):
            for hook in list(self.event_hooks):
                if hook(incoming):
                    return
            if request.method == "NOTIFY":
                # RFC 6665 §4.1.3: a NOTIFY for no subscription of ours is answered 481.
                incoming.respond(481)
                return
        if request.method == "MESSAGE":
            try:
                sender = request.from_.uri
                aor = getattr(sender, "aor", str(sender))
            except ParseError:
                aor = ""
            incoming.respond(200)
            content_type = request.content_type or "text/plain"
            if content_type == TYPING_CONTENT_TYPE:
                # RFC 3994: an indication, not a message for the user.
                self._typing_receiver.indication(aor, request.body)
                return
            self._typing_receiver.message(aor)
            self.messages.put_nowait(
                IncomingMessage(
                    aor, content_type, request.body, request.headers.get("Date"), request
                )
            )
        elif request.method == "OPTIONS":
            incoming.respond(200, headers=[("Allow", self.allow)])
        else:
            incoming.respond(405, headers=[("Allow", self.allow)])
