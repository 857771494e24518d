"""One SIP account on a Parley (or any RFC 3261) server: registration with digest
authentication, MESSAGE out and in (RFC 3428), presence (RFC 3856/3903: publish one's
status, watch others', see who watches; :mod:`parley.client.presence`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.transports import ListenSpec
from parley.sip.auth.challenge import DigestChallenge, parse_challenges, serialize_credentials
from parley.sip.auth.digest import build_authorization, choose_challenges
from parley.sip.core.uac import build_request
from parley.sip.errors import ParseError
from parley.sip.syntax import Request, Response
from parley.sip.transport.address import Peer

if TYPE_CHECKING:
    from parley.client.presence import PresenceChange, PresenceClient, Watch, WatcherChange

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY"

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
    """A user's account. ``server`` is the registrar/outbound proxy address; requests go
    there whatever their Request-URI says (an outbound proxy, RFC 3261 §8.1.2)."""

    def __init__(
        self,
        aor: str,
        password: str,
        *,
        server: tuple[str, int],
        transport: str = "udp",
        local_host: str = "127.0.0.1",
        expires: int = 600,
    ) -> None:
        user, _, domain = aor.partition("@")
        if not user or not domain:
            raise ValueError(f"not an address of record: {aor!r}")
        self.aor = aor
        self.user = user
        self.domain = domain
        self.password = password
        self.transport = transport
        self.server = Peer(transport, server[0], server[1])
        self.local_host = local_host
        self.expires = expires
        self.messages: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self.endpoint = Endpoint(self._handle)
        self._call_id = ""
        self._cseq = 0
        self._nc = 0
        #: Hooks offered every incoming SUBSCRIBE and NOTIFY first (the presence client's
        #: subscriptions answer their NOTIFYs here, RFC 6665 §4.1.3).
        self.event_hooks: list[RequestHook] = []
        self._presence: PresenceClient | None = None

    async def start(self) -> None:
        await self.endpoint.start([ListenSpec(self.transport, self.local_host, 0)])
        self._call_id = self.endpoint.stack.ids.call_id()

    async def close(self) -> None:
        if self._presence is not None:
            await self._presence.close()
        await self.endpoint.close()

    async def __aenter__(self) -> Account:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def contact(self) -> str:
        sent_by = self.endpoint.sent_by(self.transport)
        host = f"[{sent_by.host}]" if ":" in sent_by.host else sent_by.host
        return f"<sip:{self.user}@{host}:{sent_by.port};transport={self.transport}>"

    # -- registration ----------------------------------------------------------------------

    async def register(self, expires: int | None = None) -> Response:
        """REGISTER this device (§10.2); one Call-ID for all refreshes, CSeq growing."""
        seconds = self.expires if expires is None else expires
        return await self.request(
            "REGISTER",
            f"sip:{self.domain}",
            to=f"<sip:{self.aor}>",
            headers=[("Contact", self.contact), ("Expires", str(seconds))],
            call_id=self._call_id,
        )

    async def unregister(self) -> Response:
        return await self.register(expires=0)

    # -- messages --------------------------------------------------------------------------

    async def send_message(
        self, to: str, body: str | bytes, content_type: str = "text/plain;charset=utf-8"
    ) -> SendResult:
        payload = body.encode() if isinstance(body, str) else body
        response = await self.request(
            "MESSAGE", f"sip:{to}", body=payload, content_type=content_type
        )
        return SendResult(response.status, response.reason)

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
        SIP-ETag and refreshing it (``PresenceClient.publish_status``)."""
        return await self.presence.publish_status(
            open, activity, note, activities=activities, expires=expires
        )

    def watch(
        self,
        aor: str,
        *,
        accept: Iterable[str] | None = None,
        expires: int | None = None,
        auto_retry: bool = True,
    ) -> Watch[PresenceChange]:
        """Subscribe to ``aor``'s presence; iterate for each change (``PresenceClient.watch``)."""
        return self.presence.watch(aor, accept=accept, expires=expires, auto_retry=auto_retry)

    def watchers(self, *, expires: int | None = None) -> Watch[WatcherChange]:
        """Subscribe to one's own watcher information: who watches, who asks to
        (``PresenceClient.watchers``)."""
        return self.presence.watchers(expires=expires)

    # -- requests with authentication ---------------------------------------------------------

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
        """Send a request to the server; answer one 401/407 challenge (§22.2)."""
        extra = list(headers)
        authorization: list[tuple[str, str]] = []
        for _ in range(2):
            self._cseq += 1
            request = build_request(
                method,
                uri,
                from_=f"<sip:{self.aor}>",
                to=to,
                sent_by=self.endpoint.sent_by(self.transport),
                ids=self.endpoint.stack.ids,
                cseq=self._cseq,
                call_id=call_id or self.endpoint.stack.ids.call_id(),
                headers=[*extra, *authorization],
                body=body,
                content_type=content_type,
            )
            response = await self.endpoint.request(request, self.server)
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
            self.messages.put_nowait(
                IncomingMessage(
                    aor,
                    request.content_type or "text/plain",
                    request.body,
                    request.headers.get("Date"),
                    request,
                )
            )
        elif request.method == "OPTIONS":
            incoming.respond(200, headers=[("Allow", ALLOW)])
        else:
            incoming.respond(405, headers=[("Allow", ALLOW)])
