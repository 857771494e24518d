"""RFC 3261 §17.2.2 (Figure 8): the non-INVITE server transaction."""

from __future__ import annotations

import pytest
from transaction_support import ALICE_TCP, ALICE_UDP, FakeClock, drive, make_request, reparse

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import make_response
from parley.sip.transaction import (
    RequestReceived,
    State,
    TransactionLayer,
    TransactionTerminated,
    TransportFailed,
)


def start(peer=ALICE_UDP, method="MESSAGE"):
    clock = FakeClock()
    layer = TransactionLayer()
    request = make_request(method, transport=peer.transport.upper())
    layer.receive(request, peer, clock.now)
    (event,) = layer.events()
    assert isinstance(event, RequestReceived)
    return clock, layer, request, event.key


def ok(request, status=200):
    return make_response(request, status, to_tag="srv1")


def test_trying_discards_retransmissions_and_sends_no_100_on_its_own():
    _clock, layer, request, key = start()
    assert layer.state(key) is State.TRYING
    layer.receive(request, ALICE_UDP, 0.5)
    assert layer.events() == [] and layer.outgoing() == []
    assert layer.next_deadline() is None  # no timer runs in Trying


def test_proceeding_resends_the_last_provisional():
    _clock, layer, request, key = start()
    layer.send_response(make_response(request, 100), 0.1)
    assert layer.state(key) is State.PROCEEDING
    layer.send_response(make_response(request, 182, to_tag="srv1"), 0.2)
    layer.outgoing()
    layer.receive(request, ALICE_UDP, 0.5)
    assert [reparse(d).status for d, _ in layer.outgoing()] == [182]


def test_completed_resends_the_final_and_discards_other_finals():
    _clock, layer, request, key = start()
    final = ok(request)
    layer.send_response(final, 0.1)
    assert layer.state(key) is State.COMPLETED
    layer.outgoing()
    layer.receive(request, ALICE_UDP, 0.6)
    assert layer.outgoing() == [(final.to_bytes(), ALICE_UDP)]
    # §17.2.2: "Any other final responses passed by the TU ... MUST be discarded".
    layer.send_response(ok(request, 500), 0.7)
    assert layer.outgoing() == []
    layer.receive(request, ALICE_UDP, 0.8)
    assert layer.outgoing() == [(final.to_bytes(), ALICE_UDP)]
    with pytest.raises(LocalProtocolError):  # a provisional after the final is a TU bug
        layer.send_response(make_response(request, 180, to_tag="srv1"), 0.9)


def test_timer_j_is_64_t1_on_udp():
    clock, layer, request, key = start()
    layer.send_response(ok(request), 1.0)
    assert layer.next_deadline() == pytest.approx(33.0)
    clock.now = 1.0
    assert drive(layer, clock, 40.0) == [(1.0, ok(request).to_bytes())]
    assert layer.state(key) is None
    assert layer.events() == [TransactionTerminated(key)]


def test_timer_j_is_zero_on_tcp():
    _clock, layer, request, key = start(peer=ALICE_TCP)
    layer.send_response(ok(request), 1.0)
    assert layer.state(key) is None and len(layer) == 0


def test_transport_error_informs_the_tu_and_keeps_the_state():
    _clock, layer, request, key = start()
    layer.transport_error(ALICE_UDP, 0.0)  # nothing sent yet: Trying ignores it
    assert layer.events() == []
    layer.send_response(make_response(request, 100), 0.1)
    layer.transport_error(ALICE_UDP, 0.2)
    assert layer.events() == [TransportFailed(key, ALICE_UDP, None)]
    assert layer.state(key) is State.PROCEEDING


def test_completed_keeps_only_what_it_resends():
    # For Timer J's 32 s a Completed transaction only answers retransmissions with the
    # final response's bytes: it lets go of the parsed request and response (memory, and
    # the garbage collector's time under load) without changing the TU's request.
    _clock, layer, request, key = start()
    final = ok(request)
    layer.send_response(final, 0.1)
    tx = layer.transaction(key)
    assert tx is not None and tx.state is State.COMPLETED
    assert tx.request is not request and tx.request.method == "MESSAGE"
    assert tx.request.headers.get("Call-ID") is None
    assert request.headers.get("Call-ID") is not None  # the TU's copy is whole
    layer.outgoing()
    layer.receive(request, ALICE_UDP, 0.5)
    assert layer.outgoing() == [(final.to_bytes(), ALICE_UDP)]
