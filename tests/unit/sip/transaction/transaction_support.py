"""Test helpers for the transaction layer: virtual time, message builders, a fake network.

Nothing here sleeps or reads a clock: time is a float that the tests move forward.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from parley.sip.syntax import Headers, Request, Response, make_response, parse_message
from parley.sip.transaction import Event, TransactionLayer
from parley.sip.transport.address import Peer

ALICE_UDP = Peer("udp", "192.0.2.1", 5060)
BOB_UDP = Peer("udp", "192.0.2.2", 5060)
ALICE_TCP = Peer("tcp", "192.0.2.1", 5060, conn_id=7)
BOB_TCP = Peer("tcp", "192.0.2.2", 5060, conn_id=7)


@dataclass
class FakeClock:
    """Virtual time in seconds; tests move it, nothing else does."""

    now: float = 0.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def make_request(
    method: str = "INVITE",
    *,
    branch: str = "z9hG4bKnashds8",
    transport: str = "UDP",
    sent_by: str = "192.0.2.1:5060",
    uri: str = "sip:bob@biloxi.example.com",
    to_tag: str | None = None,
    from_tag: str = "9fxced76sl",
    call_id: str = "3848276298220188511@atlanta.example.com",
    cseq: int = 1,
    cseq_method: str | None = None,
    routes: tuple[str, ...] = (),
    extra: tuple[tuple[str, str], ...] = (),
) -> Request:
    """A request as a UAC would send it (RFC 3665 style addresses)."""
    via = f"SIP/2.0/{transport} {sent_by}"
    if branch:
        via += f";branch={branch}"
    to = "Bob <sip:bob@biloxi.example.com>" + (f";tag={to_tag}" if to_tag else "")
    fields = [("Via", via)]
    fields += [("Route", route) for route in routes]
    fields += [
        ("Max-Forwards", "70"),
        ("To", to),
        ("From", f"Alice <sip:alice@atlanta.example.com>;tag={from_tag}"),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {cseq_method or method}"),
        *extra,
    ]
    return Request(method, uri, Headers(fields))


def response_to(request: Request, status: int, *, to_tag: str | None = "8321234356") -> Response:
    """The response a UAS sends (§8.2.6); 100 gets no To tag unless asked."""
    return make_response(request, status, to_tag=None if status == 100 else to_tag)


def cancel_for(invite: Request) -> Request:
    """§9.1: Request-URI, Call-ID, To, From, CSeq number and top Via of the INVITE."""
    h = invite.headers
    fields = [
        ("Via", h.values("Via")[0]),
        ("Max-Forwards", "70"),
        ("To", h.get("To") or ""),
        ("From", h.get("From") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.seq} CANCEL"),
    ]
    return Request("CANCEL", invite.request_uri, Headers(fields))


def reparse(data: bytes) -> Request | Response:
    return parse_message(data)


def drive(layer: TransactionLayer, clock: FakeClock, until: float) -> list[tuple[float, bytes]]:
    """Fire every deadline up to ``until`` at its exact time; returns (time, bytes) sent."""
    sent = [(clock.now, data) for data, _ in layer.outgoing()]
    while True:
        deadline = layer.next_deadline()
        if deadline is None or deadline > until:
            break
        clock.now = max(clock.now, deadline)
        layer.handle_timeout(clock.now)
        sent += [(clock.now, data) for data, _ in layer.outgoing()]
    clock.now = max(clock.now, until)
    return sent


@dataclass(order=True)
class _InFlight:
    at: float
    seq: int
    data: bytes = field(compare=False)
    source: Peer = field(compare=False)
    target: Peer = field(compare=False)


Rule = Callable[[bytes, Peer, Peer], bool]
TU = Callable[[Event, TransactionLayer, float], None]


class TransactionPair:
    """Two transaction layers joined by a fake network (h11's ConnectionPair, PJSIP's loop
    transport): ``a`` lives at ``a_peer``, ``b`` at ``b_peer``.

    Knobs: ``drop`` and ``duplicate`` are predicates on (bytes, source, target) deciding a
    message's fate; ``latency`` delays every message; ``jitter`` adds a random extra delay
    from ``rng`` so that messages overtake each other (reordering). ``tu_a``/``tu_b``, when
    set, are called with each event as it is produced, to answer like a TU would.
    """

    def __init__(
        self,
        a_peer: Peer = ALICE_UDP,
        b_peer: Peer = BOB_UDP,
        *,
        latency: float = 0.01,
        jitter: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.clock = FakeClock()
        self.a = TransactionLayer()
        self.b = TransactionLayer()
        self.a_peer, self.b_peer = a_peer, b_peer
        self.latency, self.jitter = latency, jitter
        self.rng = random.Random(seed)
        self.drop: Rule = lambda data, source, target: False
        self.duplicate: Rule = lambda data, source, target: False
        self.tu_a: TU | None = None
        self.tu_b: TU | None = None
        self.events_a: list[Event] = []
        self.events_b: list[Event] = []
        self.wire: list[tuple[float, Peer, bytes]] = []  # everything sent, with its sender
        self._flight: list[_InFlight] = []
        self._seq = 0

    def _layer_at(self, peer: Peer) -> TransactionLayer:
        return self.a if peer == self.a_peer else self.b

    def _peer_of(self, layer: TransactionLayer) -> Peer:
        return self.a_peer if layer is self.a else self.b_peer

    def flush(self) -> None:
        """Move both layers' output onto the wire and their events to the TU."""
        progress = True
        while progress:
            progress = False
            for layer in (self.a, self.b):
                source = self._peer_of(layer)
                for data, target in layer.outgoing():
                    progress = True
                    self.wire.append((self.clock.now, source, data))
                    if self.drop(data, source, target):
                        continue
                    copies = 2 if self.duplicate(data, source, target) else 1
                    for _ in range(copies):
                        delay = self.latency + self.rng.uniform(0, self.jitter)
                        self._seq += 1
                        self._flight.append(
                            _InFlight(self.clock.now + delay, self._seq, data, source, target)
                        )
                tu = self.tu_a if layer is self.a else self.tu_b
                log = self.events_a if layer is self.a else self.events_b
                while (event := layer.next_event()) is not None:
                    progress = True
                    log.append(event)
                    if tu is not None:
                        tu(event, layer, self.clock.now)

    def run(self, until: float) -> None:
        """Deliver messages and fire timers in time order up to ``until``."""
        self.flush()
        while True:
            candidates = [
                d for d in (self.a.next_deadline(), self.b.next_deadline()) if d is not None
            ]
            if self._flight:
                candidates.append(min(self._flight).at)
            if not candidates or min(candidates) > until:
                break
            self.clock.now = max(self.clock.now, min(candidates))
            now = self.clock.now
            self._flight.sort()
            while self._flight and self._flight[0].at <= now:
                item = self._flight.pop(0)
                self._layer_at(item.target).receive(parse_message(item.data), item.source, now)
                self.flush()
            for layer in (self.a, self.b):
                deadline = layer.next_deadline()
                if deadline is not None and deadline <= now:
                    layer.handle_timeout(now)
            self.flush()
        self.clock.now = max(self.clock.now, until)

    def sent_by(self, peer: Peer, start: str = "") -> list[tuple[float, bytes]]:
        """What ``peer`` put on the wire, optionally only messages starting ``start``."""
        return [(t, d) for t, p, d in self.wire if p == peer and d.startswith(start.encode())]
