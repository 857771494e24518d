"""RFC 3261 §17.2.1 (Figure 7) with RFC 6026 §8.7: the INVITE server transaction."""

from __future__ import annotations

import pytest
from transaction_support import (
    ALICE_TCP,
    ALICE_UDP,
    FakeClock,
    drive,
    make_request,
    reparse,
    response_to,
)

from parley.sip.errors import LocalProtocolError
from parley.sip.transaction import (
    AckReceived,
    RequestReceived,
    State,
    Timer,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)


def start(peer=ALICE_UDP, request=None):
    clock = FakeClock()
    layer = TransactionLayer()
    request = request or make_request(transport=peer.transport.upper())
    layer.receive(request, peer, clock.now)
    (event,) = layer.events()
    assert isinstance(event, RequestReceived)
    assert event.request is request and event.peer == peer and event.cancels is None
    return clock, layer, request, event.key


def test_new_invite_is_passed_up_in_proceeding():
    _clock, layer, _request, key = start()
    assert layer.state(key) is State.PROCEEDING
    assert key.method == "INVITE" and key.branch == "z9hG4bKnashds8"
    assert key.sent_by == ("192.0.2.1", 5060)


def test_100_trying_is_sent_when_the_tu_is_silent_for_200_ms():
    clock, layer, request, _key = start(
        request=make_request(extra=(("Timestamp", "54"),)),
    )
    assert layer.outgoing() == []
    assert layer.next_deadline() == pytest.approx(0.2)
    sent = drive(layer, clock, 0.2)
    ((at, data),) = sent
    assert at == pytest.approx(0.2)
    trying = reparse(data)
    assert trying.status == 100
    # §17.2.1: no To tag ("downgraded from MAY to SHOULD NOT"); §8.2.6.1: Timestamp copied.
    assert trying.to.tag is None
    assert trying.headers.get("Timestamp") == "54"
    assert trying.headers.get_all("Via") == request.headers.get_all("Via")


def test_no_100_trying_when_the_tu_answers_in_time():
    clock, layer, request, _key = start()
    layer.send_response(response_to(request, 180), 0.1)
    assert [reparse(d).status for d, _ in layer.outgoing()] == [180]
    assert drive(layer, clock, 10.0) == []


def test_retransmitted_invite_gets_the_last_provisional_and_is_not_passed_up():
    _clock, layer, request, _key = start()
    layer.receive(request, ALICE_UDP, 0.05)  # before any response: nothing to resend
    assert layer.outgoing() == [] and layer.events() == []
    layer.send_response(response_to(request, 180), 0.1)
    layer.send_response(response_to(request, 183), 0.2)
    layer.outgoing()
    layer.receive(request, ALICE_UDP, 0.5)
    assert [reparse(d).status for d, _ in layer.outgoing()] == [183]
    assert layer.events() == []


def test_non_2xx_final_is_retransmitted_on_timer_g_until_timer_h():
    # §17.2.1: G starts at T1, doubles, caps at T2; H = 64*T1 ends it and tells the TU.
    clock, layer, request, key = start()
    layer.send_response(response_to(request, 486), 0.0)
    assert layer.state(key) is State.COMPLETED
    sent = drive(layer, clock, 40.0)
    times = [t for t, _ in sent]
    assert times[:6] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]
    assert times[6:] == [15.5, 19.5, 23.5, 27.5, 31.5]
    assert {reparse(d).status for _, d in sent} == {486}
    timed_out, terminated = layer.events()
    assert timed_out == TransactionTimedOut(key, Timer.TIMER_H, None)
    assert terminated == TransactionTerminated(key)


def test_ack_confirms_stops_retransmission_and_timer_i_ends_it():
    clock, layer, request, key = start()
    final = response_to(request, 404)
    layer.send_response(final, 0.0)
    drive(layer, clock, 0.6)
    ack = make_request("ACK", to_tag="8321234356")
    layer.receive(ack, ALICE_UDP, 0.7)
    assert layer.state(key) is State.CONFIRMED
    assert layer.events() == []  # §17.2.1: the ACK for a non-2xx is absorbed
    # Retransmitted ACKs are absorbed too; no more responses go out.
    layer.receive(ack, ALICE_UDP, 1.0)
    assert drive(layer, clock, 5.69) == []
    assert layer.state(key) is State.CONFIRMED
    drive(layer, clock, 5.7)  # Timer I = T4 after the ACK
    assert layer.state(key) is None


def test_retransmitted_invite_in_completed_gets_the_final_response():
    _clock, layer, request, _key = start()
    layer.send_response(response_to(request, 486), 0.0)
    layer.outgoing()
    layer.receive(request, ALICE_UDP, 0.3)
    assert [reparse(d).status for d, _ in layer.outgoing()] == [486]
    assert layer.events() == []


def test_over_tcp_no_timer_g_and_timer_i_is_zero():
    clock, layer, request, key = start(peer=ALICE_TCP)
    layer.send_response(response_to(request, 486), 0.0)
    assert set(layer.transaction(key).deadlines) == {Timer.TIMER_H}
    assert len(drive(layer, clock, 10.0)) == 1
    layer.receive(make_request("ACK", transport="TCP", to_tag="8321234356"), ALICE_TCP, 10.0)
    assert layer.state(key) is None
    assert layer.events() == [TransactionTerminated(key)]


def test_2xx_enters_accepted_and_is_not_retransmitted_by_the_transaction():
    clock, layer, request, key = start()
    ok = response_to(request, 200)
    layer.send_response(ok, 0.1)
    assert layer.state(key) is State.ACCEPTED
    assert layer.outgoing() == [(ok.to_bytes(), ALICE_UDP)]
    # RFC 6026 §8.7: INVITE retransmissions are absorbed, not passed up, not answered.
    layer.receive(request, ALICE_UDP, 0.5)
    assert layer.outgoing() == [] and layer.events() == []
    # The TU retransmits its 2xx (§13.3.1.4) through the transaction.
    layer.send_response(ok, 0.6)
    assert layer.outgoing() == [(ok.to_bytes(), ALICE_UDP)]
    # Timer L = 64*T1 after entering Accepted.
    assert layer.next_deadline() == pytest.approx(32.1)
    clock.now = 0.6
    drive(layer, clock, 32.1)
    assert layer.events() == [TransactionTerminated(key)]


def test_ack_for_2xx_with_its_own_branch_goes_to_the_tu_without_a_key():
    # §13.2.2.4: the ACK for a 2xx is a new transaction (new branch): it matches nothing.
    _clock, layer, request, key = start()
    layer.send_response(response_to(request, 200), 0.1)
    ack = make_request("ACK", branch="z9hG4bKack2xx", to_tag="8321234356")
    layer.receive(ack, ALICE_UDP, 0.2)
    assert layer.events() == [AckReceived(ack, ALICE_UDP, None)]
    assert layer.state(key) is State.ACCEPTED


def test_ack_matching_an_accepted_transaction_is_passed_up_with_its_key():
    # RFC 6026 §8.7: "If an ACK is received while ... in the Accepted state, then the ACK
    # must be passed up to the TU."
    _clock, layer, request, key = start()
    layer.send_response(response_to(request, 200), 0.1)
    ack = make_request("ACK", to_tag="8321234356")  # same branch as the INVITE
    layer.receive(ack, ALICE_UDP, 0.2)
    assert layer.events() == [AckReceived(ack, ALICE_UDP, key)]
    assert layer.state(key) is State.ACCEPTED


def test_tu_errors_raise_and_leave_the_transaction_alone():
    _clock, layer, request, key = start()
    layer.send_response(response_to(request, 486), 0.0)
    for status in (180, 200, 500):
        with pytest.raises(LocalProtocolError):
            layer.send_response(response_to(request, status), 0.1)
    assert layer.state(key) is State.COMPLETED
    with pytest.raises(LocalProtocolError):  # another CSeq is another transaction
        bad = response_to(make_request(cseq=2), 180)
        layer.send_response(bad, 0.1, key=key)


def test_transport_error_informs_the_tu_and_keeps_the_state():
    # RFC 6026 §7.1: "MUST NOT discard transaction state based only on ... a
    # non-recoverable transport error"; timers end the transaction.
    clock, layer, request, key = start()
    layer.send_response(response_to(request, 486), 0.0)
    layer.transport_error(ALICE_UDP, 0.1)
    assert layer.events() == [TransportFailed(key, ALICE_UDP, None)]
    assert layer.state(key) is State.COMPLETED
    drive(layer, clock, 32.0)
    assert isinstance(layer.events()[-1], TransactionTerminated)


def test_responses_go_to_reply_to():
    layer = TransactionLayer()
    request = make_request()
    nat = ALICE_UDP.__class__("udp", "198.51.100.9", 40000)
    layer.receive(request, ALICE_UDP, 0.0, reply_to=nat)
    layer.send_response(response_to(request, 180), 0.0)
    assert [peer for _, peer in layer.outgoing()] == [nat]
