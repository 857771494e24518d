"""The SIP core's one public surface: bytes in, events and bytes out, time injected.

``SipStack`` composes the layers below it the way aioquic's connection composes QUIC: the
runtime feeds it each message that arrived (``receive``), the TU's requests and responses
(``send_request``, ``send_response``), and the clock (``handle_timeout``); after each call
it drains ``outgoing()`` to the transport, ``next_event()`` to the TU, and re-arms one timer
for ``next_deadline()``. ``now`` is seconds on the caller's monotonic clock.

What the stack decides itself: §18.2.1 (``received``/``rport`` on requests), §18.2.2
(where responses go), and answering what cannot even enter a transaction: a request too
malformed to validate gets its error response statelessly (RFC 4475 prefers that), an
invalid response is dropped (§18.1.2).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from parley.sip.dialog.ids import IdGenerator
from parley.sip.errors import ParseError
from parley.sip.syntax import Request, Response, make_response, parse_message, validate_message
from parley.sip.transaction.events import Event, TransactionKey
from parley.sip.transaction.layer import TransactionLayer
from parley.sip.transaction.timers import TimerConfig
from parley.sip.transport.address import Peer
from parley.sip.transport.via import response_destination, stamp_received

RandomBytes = Callable[[int], bytes]


@dataclass(frozen=True, slots=True)
class MessageDropped:
    """Bytes from ``peer`` that were not acted on: unparsable, invalid, or an invalid
    response. ``answered`` is the status sent back statelessly, if any."""

    peer: Peer
    reason: str
    answered: int | None


StackEvent = Event | MessageDropped


@dataclass(frozen=True, slots=True)
class StackConfig:
    """``max_server_transactions`` bounds memory under a flood; completed non-INVITE
    transactions linger for Timer J (32 s on UDP, §17.2.2), so the bound must exceed the
    sustained request rate times 32 s or a busy server refuses work it has CPU for."""

    timers: TimerConfig = field(default_factory=TimerConfig)
    max_server_transactions: int = 200_000
    #: See ``IdGenerator.branch_prefix``; a token (§25.1), e.g. ``W1-``.
    branch_prefix: str = ""


class SipStack:
    """Transport checks plus the transaction layer, for one SIP element.

    ``random_bytes`` (``os.urandom`` in production, a seeded source in tests) makes tags,
    branches and Call-IDs through ``ids``.
    """

    def __init__(self, random_bytes: RandomBytes, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.ids = IdGenerator(random_bytes, self.config.branch_prefix)
        self.transactions = TransactionLayer(
            self.config.timers, max_server_transactions=self.config.max_server_transactions
        )
        self._dropped: deque[MessageDropped] = deque()
        self._stateless: list[tuple[bytes, Peer]] = []

    # -- inputs ------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        """One whole message from ``peer``: a datagram, a framed stream message or a
        WebSocket message. Never raises for anything the peer sent."""
        try:
            message = parse_message(data)
            validate_message(message)
        except ParseError as exc:
            self._refuse(data, exc, peer)
            return
        if isinstance(message, Response):
            self.transactions.receive(message, peer, now)
            return
        try:
            stamp_received(message, peer)
        except ParseError as exc:  # pragma: no cover - validate_message parsed the Via
            self._refuse(data, exc, peer)
            return
        reply_to = peer if peer.reliable else _udp_reply_address(message, peer)
        self.transactions.receive(message, peer, now, reply_to=reply_to)

    def send_request(self, request: Request, peer: Peer, now: float) -> TransactionKey:
        """Start a client transaction for ``request`` (which carries its Via) to ``peer``;
        an ACK goes statelessly and gets no key."""
        return self.transactions.send_request(request, peer, now)

    def send_ack(self, ack: Request, peer: Peer) -> None:
        self.transactions.send_stateless(ack, peer)

    def send_response(
        self, response: Response, now: float, *, key: TransactionKey | None = None
    ) -> None:
        self.transactions.send_response(response, now, key=key)

    def transport_error(self, peer: Peer, now: float) -> None:
        self.transactions.transport_error(peer, now)

    def handle_timeout(self, now: float) -> None:
        self.transactions.handle_timeout(now)

    # -- outputs -----------------------------------------------------------------------

    def next_event(self) -> StackEvent | None:
        if self._dropped:
            return self._dropped.popleft()
        return self.transactions.next_event()

    def outgoing(self) -> list[tuple[bytes, Peer]]:
        out = self.transactions.outgoing()
        if self._stateless:
            out = self._stateless + out
            self._stateless = []
        return out

    def next_deadline(self) -> float | None:
        return self.transactions.next_deadline()

    # -- helpers -----------------------------------------------------------------------

    def _refuse(self, data: bytes, error: ParseError, peer: Peer) -> None:
        """Answer a malformed request statelessly when enough of it is readable to build
        a response (§8.2.6.2 needs Via, From, To, Call-ID, CSeq); otherwise drop it."""
        response = _stateless_error(data, error)
        answered = None
        if response is not None:
            destination = peer if peer.reliable else _udp_reply_address(response, peer)
            self._stateless.append((response.to_bytes(), destination))
            answered = response.status
        self._dropped.append(MessageDropped(peer, error.reason, answered))


def _udp_reply_address(message: Request | Response, peer: Peer) -> Peer:
    try:
        return response_destination(message, peer)
    except ParseError:
        return peer


def _stateless_error(data: bytes, error: ParseError) -> Response | None:
    request = _readable_request(data)
    if request is None or request.method == "ACK":
        return None  # §17.2.1: an ACK is never answered; a bad response is dropped.
    # §8.2.7: a stateless UAS must give a retransmission the same To tag, hence a hash.
    tag = hashlib.sha256(data).hexdigest()[:16]
    try:
        response = make_response(request, error.status_hint, _phrase(error), to_tag=tag)
        response.top_via  # noqa: B018  (a response we cannot route is not worth sending)
    except ParseError:
        return None
    return response


def _readable_request(data: bytes) -> Request | None:
    """The request in ``data`` as far as a response needs it. When the Request-Line itself
    is what is wrong (a bad SIP version, white space in the URI), the headers still say
    where the answer goes, so they are read under a stand-in Request-Line."""
    try:
        message = parse_message(data)
    except ParseError:
        line_end = data.find(b"\n")
        if line_end < 0 or data.startswith(b"SIP/"):
            return None
        method = data.split(b" ", 1)[0].decode("ascii", "replace") or "UNKNOWN"
        try:
            message = parse_message(b"%s sip:invalid SIP/2.0\r" % method.encode() + data[line_end:])
        except ParseError:
            return None
    return message if isinstance(message, Request) else None


def _phrase(error: ParseError) -> str:
    text = "".join(c if c.isprintable() else "?" for c in error.reason)[:120]
    return text or "Bad Request"
