"""RFC 3261 §17.1.2 (Figure 6): the non-INVITE client transaction."""

from __future__ import annotations

import itertools

import pytest
from transaction_support import BOB_TCP, BOB_UDP, FakeClock, drive, make_request, response_to

from parley.sip.transaction import (
    ResponseReceived,
    State,
    Timer,
    TimerConfig,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)


def start(peer=BOB_UDP, method="MESSAGE", config=None):
    clock = FakeClock()
    layer = TransactionLayer(config)
    request = make_request(method, transport=peer.transport.upper())
    key = layer.send_request(request, peer, clock.now)
    return clock, layer, request, key


def test_retransmissions_double_up_to_t2_then_timer_f_reports_408():
    # §17.1.2.2: "intervals of 500 ms, 1 s, 2 s, 4 s, 4 s, 4 s, etc."; F = 64*T1.
    clock, layer, _request, _key = start()
    sent = drive(layer, clock, 40.0)
    times = [t for t, _ in sent]
    assert times[:6] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) == 4.0 and gaps[3:] == [4.0] * len(gaps[3:])
    assert times[-1] == 31.5
    timed_out, terminated = layer.events()
    assert isinstance(timed_out, TransactionTimedOut) and timed_out.timer is Timer.TIMER_F
    assert timed_out.response is not None and timed_out.response.status == 408
    assert isinstance(terminated, TransactionTerminated)


def test_t2_is_configurable():
    clock, layer, _, _ = start(config=TimerConfig(t2=1.0))
    times = [t for t, _ in drive(layer, clock, 5.0)]
    assert times == [0.0, 0.5, 1.5, 2.5, 3.5, 4.5]


def test_no_retransmission_over_tcp():
    clock, layer, _, key = start(peer=BOB_TCP)
    assert [t for t, _ in drive(layer, clock, 31.9)] == [0.0]
    assert layer.state(key) is State.TRYING
    drive(layer, clock, 32.0)
    assert isinstance(layer.events()[0], TransactionTimedOut)


def test_provisional_response_keeps_retransmitting_at_t2():
    # §17.1.2.2: "If a provisional response is received, retransmissions continue for
    # unreliable transports, but at an interval of T2"; F keeps running.
    clock, layer, request, key = start()
    drive(layer, clock, 0.6)  # sends at 0 and 0.5; E next due at 1.5
    layer.receive(response_to(request, 100), BOB_UDP, clock.now)
    assert layer.state(key) is State.PROCEEDING
    sent = drive(layer, clock, 40.0)
    assert [t for t, _ in sent] == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    timed_out = [e for e in layer.events() if isinstance(e, TransactionTimedOut)]
    assert len(timed_out) == 1  # F still fires at 32 in Proceeding


def test_final_response_goes_up_once_and_retransmissions_are_absorbed():
    clock, layer, request, key = start()
    layer.receive(response_to(request, 200), BOB_UDP, 0.2)
    assert layer.state(key) is State.COMPLETED
    assert [e.response.status for e in layer.events() if isinstance(e, ResponseReceived)] == [200]
    layer.outgoing()
    # §17.1.2.1: "only a single 2xx response to a non-INVITE is ever delivered to a UAC".
    layer.receive(response_to(request, 200), BOB_UDP, 0.3)
    layer.receive(response_to(request, 180), BOB_UDP, 0.4)
    assert layer.events() == [] and layer.outgoing() == []
    # Timer K: T4 on UDP; nothing is retransmitted in Completed.
    assert drive(layer, clock, 5.19) == []
    assert layer.state(key) is State.COMPLETED
    drive(layer, clock, 5.2)
    assert layer.state(key) is None


def test_timer_k_is_zero_on_tcp():
    _clock, layer, request, key = start(peer=BOB_TCP)
    layer.receive(response_to(request, 404), BOB_TCP, 0.2)
    assert layer.state(key) is None
    assert [type(e) for e in layer.events()] == [ResponseReceived, TransactionTerminated]


@pytest.mark.parametrize("provisional", [False, True])
def test_transport_error_reports_503(provisional):
    _clock, layer, request, _key = start()
    if provisional:
        layer.receive(response_to(request, 100), BOB_UDP, 0.1)
        layer.events()
    layer.transport_error(BOB_UDP, 0.2)
    failed, terminated = layer.events()
    assert isinstance(failed, TransportFailed) and failed.response.status == 503
    assert isinstance(terminated, TransactionTerminated)


def test_transport_error_in_completed_is_ignored():
    _clock, layer, request, key = start()
    layer.receive(response_to(request, 200), BOB_UDP, 0.1)
    layer.events()
    layer.transport_error(BOB_UDP, 0.2)
    assert layer.events() == [] and layer.state(key) is State.COMPLETED


def test_completed_lets_go_of_the_request():
    # Timer K only absorbs retransmitted finals (§17.1.2.2): the parsed and serialised
    # request is not kept for it, and the TU's request is left whole.
    clock, layer, request, key = start()
    layer.outgoing()
    layer.receive(response_to(request, 200), BOB_UDP, clock.now)
    tx = layer.transaction(key)
    assert tx is not None and tx.state is State.COMPLETED
    assert tx.request is not request and tx.request.method == request.method
    assert request.headers.get("Call-ID") is not None
    layer.events()
    layer.receive(response_to(request, 200), BOB_UDP, clock.now)
    assert layer.events() == [] and layer.outgoing() == []
