"""RFC 3261 §17.1.1 (Figure 5) with RFC 6026 §8.4: the INVITE client transaction."""

from __future__ import annotations

import pytest
from transaction_support import (
    ALICE_UDP,
    BOB_TCP,
    BOB_UDP,
    FakeClock,
    drive,
    make_request,
    reparse,
    response_to,
)

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request
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


def start(peer=BOB_UDP, request=None, config=None):
    clock = FakeClock()
    layer = TransactionLayer(config)
    request = request or make_request(transport=peer.transport.upper())
    key = layer.send_request(request, peer, clock.now)
    return clock, layer, request, key


def test_udp_retransmits_at_doubling_intervals_then_times_out_with_408_at_64_t1():
    # §17.1.1.2: Timer A starts at T1 and doubles; Timer B fires at 64*T1 = 32 s.
    clock, layer, request, key = start()
    sent = drive(layer, clock, 40.0)
    assert [t for t, _ in sent] == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert {data for _, data in sent} == {request.to_bytes()}  # byte-identical retransmits
    events = layer.events()
    assert len(events) == 2
    timed_out, terminated = events
    assert isinstance(timed_out, TransactionTimedOut)
    assert timed_out.key == key and timed_out.timer is Timer.TIMER_B
    # §8.1.3.1: the TU acts as if a 408 had been received.
    assert timed_out.response is not None and timed_out.response.status == 408
    assert timed_out.response.cseq == request.cseq
    assert terminated == TransactionTerminated(key)
    assert layer.state(key) is None and len(layer) == 0 and layer.next_deadline() is None


def test_timeout_happens_exactly_at_32_seconds():
    clock, layer, _, key = start()
    drive(layer, clock, 31.999)
    assert layer.state(key) is State.CALLING
    drive(layer, clock, 32.0)
    assert layer.state(key) is None


def test_t1_scales_every_timer():
    # §17.1.1.2: "changing T1 adjusts their values".
    clock, layer, _, _ = start(config=TimerConfig(t1=0.1))
    sent = drive(layer, clock, 10.0)
    assert [round(t, 6) for t, _ in sent] == [0.0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3]


def test_no_retransmission_over_tcp_but_timer_b_still_runs():
    # §17.1.1.2: timer A SHOULD NOT start on reliable transports; B starts for any.
    clock, layer, _, key = start(peer=BOB_TCP)
    assert layer.transaction(key) is not None
    assert set(layer.transaction(key).deadlines) == {Timer.TIMER_B}
    sent = drive(layer, clock, 40.0)
    assert [t for t, _ in sent] == [0.0]
    assert isinstance(layer.events()[0], TransactionTimedOut)


def test_provisional_response_stops_retransmissions_and_timer_b():
    clock, layer, request, key = start()
    drive(layer, clock, 0.6)  # one retransmission at 0.5
    layer.receive(response_to(request, 180), BOB_UDP, clock.now)
    assert layer.state(key) is State.PROCEEDING
    (event,) = layer.events()
    assert isinstance(event, ResponseReceived) and event.response.status == 180
    # §17.1.1.2: no more retransmissions in Proceeding, and B no longer applies.
    assert drive(layer, clock, 100.0) == []
    assert layer.state(key) is State.PROCEEDING
    # Further provisional responses go up too.
    layer.receive(response_to(request, 183), BOB_UDP, clock.now)
    assert [e.response.status for e in layer.events()] == [183]


@pytest.mark.parametrize("first", [None, 100])
def test_2xx_enters_accepted_passes_every_2xx_up_and_never_acks(first):
    clock, layer, request, key = start()
    if first:
        layer.receive(response_to(request, first), BOB_UDP, 0.1)
    layer.receive(response_to(request, 200), BOB_UDP, 1.0)
    assert layer.state(key) is State.ACCEPTED
    assert layer.outgoing() == [(request.to_bytes(), BOB_UDP)]  # only the INVITE; no ACK
    # RFC 6026 §8.4: a retransmitted or forked 2xx is passed up as well.
    layer.receive(response_to(request, 200, to_tag="other-fork"), BOB_UDP, 2.0)
    statuses = [e.response.status for e in layer.events() if isinstance(e, ResponseReceived)]
    assert statuses[-2:] == [200, 200]
    assert layer.outgoing() == []
    # Timer M = 64*T1 from entering Accepted.
    assert layer.next_deadline() == pytest.approx(1.0 + 32.0)
    clock.now = 2.0
    drive(layer, clock, 33.0)
    assert layer.state(key) is None
    assert layer.events() == [TransactionTerminated(key)]


def test_non_2xx_is_acknowledged_per_17_1_1_3():
    routes = ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")
    request = make_request(routes=routes)
    _clock, layer, request, key = start(request=request)
    layer.outgoing()
    layer.receive(response_to(request, 486, to_tag="99sa0xk"), BOB_UDP, 0.2)
    assert layer.state(key) is State.COMPLETED
    (event,) = layer.events()
    assert isinstance(event, ResponseReceived) and event.response.status == 486
    ((data, peer),) = layer.outgoing()
    # §17.1.1.2: sent "to the same address, port, and transport" as the INVITE.
    assert peer == BOB_UDP
    ack = reparse(data)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.request_uri == request.request_uri
    assert ack.call_id == request.call_id
    assert ack.headers.get("From") == request.headers.get("From")
    assert ack.to.tag == "99sa0xk"
    assert ack.cseq.seq == request.cseq.seq and ack.cseq.method == "ACK"
    assert ack.headers.values("Via") == [request.headers.values("Via")[0]]
    assert ack.headers.values("Route") == list(routes)
    assert ack.body == b""


def test_ack_for_multi_via_request_carries_only_the_top_via():
    request = make_request(extra=(("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy"),))
    assert len(request.vias) == 2
    _clock, layer, request, _ = start(request=request)
    layer.receive(response_to(request, 404), BOB_UDP, 0.1)
    ack = reparse(layer.outgoing()[-1][0])
    assert len(ack.vias) == 1 and ack.top_via.branch == "z9hG4bKnashds8"


def test_retransmitted_final_response_resends_ack_and_is_not_passed_up():
    _clock, layer, request, _key = start()
    layer.receive(response_to(request, 603), BOB_UDP, 0.1)
    layer.events()
    (first_ack,) = [d for d, _ in layer.outgoing() if d.startswith(b"ACK")]
    layer.receive(response_to(request, 603), BOB_UDP, 0.6)
    assert layer.events() == []
    assert layer.outgoing() == [(first_ack, BOB_UDP)]


def test_timer_d_is_32_seconds_on_udp():
    clock, layer, request, key = start()
    layer.receive(response_to(request, 500), BOB_UDP, 1.0)
    assert layer.next_deadline() == pytest.approx(33.0)
    clock.now = 1.0
    drive(layer, clock, 32.9)
    assert layer.state(key) is State.COMPLETED
    drive(layer, clock, 33.0)
    assert layer.state(key) is None


def test_timer_d_never_shorter_than_32_seconds_even_with_small_t1():
    # §17.1.1.2: the client cannot know the server's T1, so 32 s is an absolute minimum.
    _clock, layer, request, _key = start(config=TimerConfig(t1=0.1))
    layer.receive(response_to(request, 500), BOB_UDP, 0.0)
    assert layer.next_deadline() == pytest.approx(32.0)


def test_timer_d_is_zero_on_tcp_and_the_ack_is_still_sent():
    _clock, layer, request, key = start(peer=BOB_TCP)
    layer.outgoing()
    layer.receive(response_to(request, 486), BOB_TCP, 1.0)
    # "even if the transport is reliable"
    assert [d[:3] for d, _ in layer.outgoing()] == [b"ACK"]
    assert layer.state(key) is None
    assert [type(e) for e in layer.events()] == [ResponseReceived, TransactionTerminated]


def test_late_provisional_after_final_is_absorbed():
    _clock, layer, request, _key = start()
    layer.receive(response_to(request, 486), BOB_UDP, 0.1)
    layer.events()
    layer.outgoing()
    layer.receive(response_to(request, 180), BOB_UDP, 0.2)
    assert layer.events() == [] and layer.outgoing() == []


def test_transport_error_in_calling_reports_503_and_terminates():
    # §17.1.4 and §8.1.3.1.
    _clock, layer, _request, key = start()
    layer.transport_error(BOB_UDP, 0.1)
    failed, terminated = layer.events()
    assert isinstance(failed, TransportFailed) and failed.key == key and failed.peer == BOB_UDP
    assert failed.response is not None and failed.response.status == 503
    assert terminated == TransactionTerminated(key)
    assert layer.next_deadline() is None


def test_transport_error_in_completed_informs_tu_without_a_second_final_response():
    _clock, layer, request, _key = start()
    layer.receive(response_to(request, 486), BOB_UDP, 0.1)
    layer.events()
    layer.transport_error(BOB_UDP, 0.2)
    failed, terminated = layer.events()
    assert isinstance(failed, TransportFailed) and failed.response is None
    assert isinstance(terminated, TransactionTerminated)


def test_transport_error_elsewhere_or_in_proceeding_changes_nothing():
    _clock, layer, request, key = start()
    layer.transport_error(ALICE_UDP, 0.1)  # another peer
    assert layer.state(key) is State.CALLING
    layer.receive(response_to(request, 180), BOB_UDP, 0.2)
    layer.events()
    layer.transport_error(BOB_UDP, 0.3)  # Figure 5 has no such arc out of Proceeding
    assert layer.state(key) is State.PROCEEDING and layer.events() == []


def test_abandon_destroys_a_proceeding_invite():
    # §9.1: the UAC may give up on an INVITE whose CANCEL got no final response.
    _clock, layer, request, key = start()
    layer.receive(response_to(request, 180), BOB_UDP, 0.1)
    layer.events()
    layer.abandon(key, 40.0)
    assert layer.events() == [TransactionTerminated(key)]
    with pytest.raises(LocalProtocolError):
        layer.abandon(key, 41.0)


def test_requests_the_layer_refuses():
    _clock, layer, _request, _key = start()
    with pytest.raises(LocalProtocolError):  # the branch is taken
        layer.send_request(make_request(), BOB_UDP, 0.0)
    with pytest.raises(LocalProtocolError):  # §17.1: no client transaction for ACK
        layer.send_request(make_request("ACK", branch="z9hG4bKack"), BOB_UDP, 0.0)
    with pytest.raises(LocalProtocolError):  # §8.1.1.7: the magic cookie is required
        layer.send_request(make_request(branch="rfc2543"), BOB_UDP, 0.0)
    with pytest.raises(LocalProtocolError):  # a bare cookie is not an RFC 3261 branch
        layer.send_request(make_request(branch="z9hG4bK"), BOB_UDP, 0.0)
    with pytest.raises(LocalProtocolError):  # CSeq method must be the request's
        layer.send_request(make_request(branch="z9hG4bKx", cseq_method="BYE"), BOB_UDP, 0.0)
