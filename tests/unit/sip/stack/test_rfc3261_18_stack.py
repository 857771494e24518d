"""The composed stack in virtual time: two SipStacks joined by a fake network (§17, §18).

No sockets and no event loop: datagrams are handed from one stack to the other, dropped or
duplicated on purpose, and time only moves when the test says so.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from parley.sip.core.uac import SentBy, build_request
from parley.sip.stack import MessageDropped, SipStack
from parley.sip.syntax import Response, make_response, parse_message
from parley.sip.transaction.events import (
    RequestReceived,
    ResponseReceived,
    TransactionTimedOut,
)
from parley.sip.transport.address import Peer

ALICE = Peer("udp", "127.0.0.1", 5070)
BOB = Peer("udp", "127.0.0.2", 5060)


def seeded(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


class Network:
    """Carries datagrams between two stacks; ``drop`` decides per datagram."""

    def __init__(self) -> None:
        self.alice = SipStack(seeded(1))
        self.bob = SipStack(seeded(2))
        self.now = 0.0
        self.drop: Callable[[bytes], bool] = lambda data: False
        self.duplicate = False
        self.events: dict[str, list[object]] = {"alice": [], "bob": []}

    def deliver(self) -> None:
        """Move datagrams until both sides are quiet."""
        moved = True
        while moved:
            moved = False
            for name, stack, other, source in (
                ("alice", self.alice, self.bob, ALICE),
                ("bob", self.bob, self.alice, BOB),
            ):
                for data, _destination in stack.outgoing():
                    moved = True
                    if self.drop(data):
                        continue
                    for _ in range(2 if self.duplicate else 1):
                        other.receive(data, source, self.now)
                while (event := stack.next_event()) is not None:
                    self.events[name].append(event)

    def advance(self, to: float) -> None:
        """Fire every deadline up to ``to``, delivering in between."""
        while True:
            deadlines = [d for d in (self.alice.next_deadline(), self.bob.next_deadline()) if d]
            due = [d for d in deadlines if d <= to]
            if not due:
                break
            self.now = min(due)
            self.alice.handle_timeout(self.now)
            self.bob.handle_timeout(self.now)
            self.deliver()
        self.now = to


def options(stack: SipStack) -> tuple[bytes, object]:
    request = build_request(
        "OPTIONS",
        "sip:bob@127.0.0.2",
        from_="<sip:alice@127.0.0.1>",
        sent_by=SentBy("udp", "127.0.0.1", 5070),
        ids=stack.ids,
    )
    return request.to_bytes(), request


def answer_all(net: Network, status: int = 200) -> list[RequestReceived]:
    received = [e for e in net.events["bob"] if isinstance(e, RequestReceived)]
    for event in received:
        net.bob.send_response(make_response(event.request, status, to_tag="b0b"), net.now)
    net.events["bob"].clear()
    net.deliver()
    return received


def finals(net: Network) -> list[Response]:
    return [
        e.response
        for e in net.events["alice"]
        if isinstance(e, ResponseReceived) and e.response.status >= 200
    ]


def test_request_and_response_cross_the_network() -> None:
    net = Network()
    _, request = options(net.alice)
    net.alice.send_request(request, BOB, net.now)  # type: ignore[arg-type]
    net.deliver()
    [event] = answer_all(net)
    # §18.2.1: sent-by already equals the source address, so no received=; the request
    # asked for rport, which gets the source port.
    assert event.request.top_via.params.get("rport") == "5070"
    assert event.request.top_via.received is None
    [response] = finals(net)
    assert response.status == 200
    assert response.to.tag == "b0b"


def test_lost_request_is_retransmitted_over_udp() -> None:
    net = Network()
    _, request = options(net.alice)
    lost: list[bytes] = []

    def drop_first(data: bytes) -> bool:
        if not lost and data.startswith(b"OPTIONS"):
            lost.append(data)
            return True
        return False

    net.drop = drop_first
    net.alice.send_request(request, BOB, net.now)  # type: ignore[arg-type]
    net.deliver()
    assert not net.events["bob"]
    net.advance(0.5)  # §17.1.2.2: Timer E fires at T1
    assert answer_all(net)
    assert [r.status for r in finals(net)] == [200]


def test_duplicated_request_reaches_the_tu_once() -> None:
    net = Network()
    net.duplicate = True
    _, request = options(net.alice)
    net.alice.send_request(request, BOB, net.now)  # type: ignore[arg-type]
    net.deliver()
    assert len(answer_all(net)) == 1
    assert [r.status for r in finals(net)] == [200]


def test_unanswered_request_times_out_with_408() -> None:
    net = Network()
    net.drop = lambda data: True
    _, request = options(net.alice)
    key = net.alice.send_request(request, BOB, net.now)  # type: ignore[arg-type]
    net.advance(40.0)
    [timeout] = [e for e in net.events["alice"] if isinstance(e, TransactionTimedOut)]
    assert timeout.key == key
    assert timeout.response is not None and timeout.response.status == 408


def test_malformed_request_gets_a_stateless_answer_saying_why() -> None:
    net = Network()
    data, _ = options(net.alice)
    bad = data.replace(b"CSeq: 1 OPTIONS", b"CSeq: 99999999999 OPTIONS")
    net.bob.receive(bad, ALICE, 0.0)
    [(reply, destination)] = net.bob.outgoing()
    response = parse_message(reply)
    assert isinstance(response, Response)
    assert (response.status, response.reason) == (400, "CSeq number is too large")
    assert destination == ALICE
    [dropped] = [net.bob.next_event()]
    assert isinstance(dropped, MessageDropped) and dropped.answered == 400


def test_wrong_sip_version_gets_505() -> None:
    net = Network()
    data, _ = options(net.alice)
    net.bob.receive(data.replace(b" SIP/2.0\r\n", b" SIP/3.0\r\n", 1), ALICE, 0.0)
    [(reply, _)] = net.bob.outgoing()
    assert parse_message(reply).status == 505  # type: ignore[union-attr]


def test_garbage_and_malformed_responses_are_dropped_silently() -> None:
    net = Network()
    for junk in (b"", b"\x00\xff garbage", b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n"):
        net.bob.receive(junk, ALICE, 0.0)
    assert net.bob.outgoing() == []
    events = []
    while (event := net.bob.next_event()) is not None:
        events.append(event)
    assert len(events) == 3 and all(isinstance(e, MessageDropped) for e in events)
    assert all(e.answered is None for e in events)  # type: ignore[union-attr]


def test_response_goes_to_received_and_rport_behind_nat() -> None:
    """RFC 3581 §4: sent-by says 10.0.0.5:5060 but the datagram came from a NAT's public
    address; the response must go to where the request came from."""
    net = Network()
    data, _ = options(net.alice)
    natted = Peer("udp", "127.0.0.9", 40000)
    net.bob.receive(data.replace(b"127.0.0.1:5070;branch", b"10.0.0.5:5060;branch"), natted, 0.0)
    [event] = [net.bob.next_event()]
    assert isinstance(event, RequestReceived)
    via = event.request.top_via
    assert (via.received, via.rport) == ("127.0.0.9", 40000)
    net.bob.send_response(make_response(event.request, 200, to_tag="x"), 0.0)
    [(_, destination)] = net.bob.outgoing()
    assert (destination.host, destination.port) == ("127.0.0.9", 40000)
