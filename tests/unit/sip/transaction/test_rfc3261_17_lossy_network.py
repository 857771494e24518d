"""RFC 3261 §17 end to end: two transaction layers over a fake network that drops,
duplicates and reorders (h11's ConnectionPair, PJSIP's loop transport)."""

from __future__ import annotations

from transaction_support import (
    ALICE_TCP,
    ALICE_UDP,
    BOB_TCP,
    BOB_UDP,
    TransactionPair,
    make_request,
    response_to,
)

from parley.sip.transaction import (
    AckReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
)


def answer_with(status, *, provisional=None):
    """A TU that answers every new request with ``status`` (after ``provisional``)."""

    def tu(event: Event, layer: TransactionLayer, now: float) -> None:
        if isinstance(event, RequestReceived):
            if provisional:
                layer.send_response(response_to(event.request, provisional), now)
            layer.send_response(response_to(event.request, status), now)

    return tu


def count(events, kind):
    return sum(isinstance(e, kind) for e in events)


def test_lost_invite_is_retransmitted_and_the_call_is_rejected_cleanly():
    pair = TransactionPair()
    lost = {"n": 0}

    def drop_first_two_invites(data, source, target):
        if data.startswith(b"INVITE") and lost["n"] < 2:
            lost["n"] += 1
            return True
        return False

    pair.drop = drop_first_two_invites
    pair.tu_b = answer_with(486)
    invite = make_request()
    pair.a.send_request(invite, BOB_UDP, 0.0)
    pair.run(60.0)
    # Sent at 0 and 0.5 (lost), at 1.5 delivered; the 486 is ACKed once.
    assert [t for t, _ in pair.sent_by(ALICE_UDP, "INVITE")] == [0.0, 0.5, 1.5]
    assert len(pair.sent_by(ALICE_UDP, "ACK")) == 1
    assert count(pair.events_b, RequestReceived) == 1
    assert [e.response.status for e in pair.events_a if isinstance(e, ResponseReceived)] == [486]
    assert count(pair.events_a, TransactionTimedOut) == count(pair.events_b, TransactionTimedOut)
    assert len(pair.a) == 0 and len(pair.b) == 0


def test_lost_final_response_is_retransmitted_by_timer_g_until_acked():
    pair = TransactionPair()
    dropped = {"n": 0}

    def drop_first_486(data, source, target):
        if data.startswith(b"SIP/2.0 486") and dropped["n"] == 0:
            dropped["n"] += 1
            return True
        return False

    pair.drop = drop_first_486
    pair.tu_b = answer_with(486, provisional=180)
    pair.a.send_request(make_request(), BOB_UDP, 0.0)
    pair.run(60.0)
    finals = pair.sent_by(BOB_UDP, "SIP/2.0 486")
    assert [round(t, 2) for t, _ in finals] == [0.01, 0.51]  # Timer G at T1
    assert len(pair.sent_by(ALICE_UDP, "ACK")) == 1
    assert count(pair.events_a, ResponseReceived) == 2  # 180 and 486, once each
    assert count(pair.events_b, TransactionTimedOut) == 0  # the ACK arrived: no Timer H


def test_lost_ack_gets_the_response_again_and_a_new_ack():
    pair = TransactionPair()
    dropped = {"n": 0}

    def drop_first_ack(data, source, target):
        if data.startswith(b"ACK") and dropped["n"] == 0:
            dropped["n"] += 1
            return True
        return False

    pair.drop = drop_first_ack
    pair.tu_b = answer_with(603)
    pair.a.send_request(make_request(), BOB_UDP, 0.0)
    pair.run(60.0)
    assert len(pair.sent_by(ALICE_UDP, "ACK")) == 2
    assert len(pair.sent_by(BOB_UDP, "SIP/2.0 603")) == 2
    assert count(pair.events_a, ResponseReceived) == 1  # the retransmission is absorbed


def test_everything_duplicated_reaches_each_tu_once():
    pair = TransactionPair()
    pair.duplicate = lambda data, source, target: True
    pair.tu_b = answer_with(200)
    pair.a.send_request(make_request("MESSAGE"), BOB_UDP, 0.0)
    pair.run(60.0)
    assert count(pair.events_b, RequestReceived) == 1
    assert count(pair.events_a, ResponseReceived) == 1
    assert len(pair.a) == 0 and len(pair.b) == 0


def test_duplicated_and_reordered_invite_with_2xx():
    pair = TransactionPair(jitter=0.3, seed=4)
    pair.duplicate = lambda data, source, target: True
    pair.tu_b = answer_with(200, provisional=180)
    invite = make_request()
    key = pair.a.send_request(invite, BOB_UDP, 0.0)

    def uac(event, layer, now):  # §13.2.2.4: the UAC core ACKs each 2xx itself
        if isinstance(event, ResponseReceived) and event.response.status == 200:
            ack = make_request("ACK", branch="z9hG4bKack", to_tag=event.response.to.tag)
            layer.send_stateless(ack, BOB_UDP)

    pair.tu_a = uac
    pair.run(60.0)
    assert count(pair.events_b, RequestReceived) == 1
    oks = [e for e in pair.events_a if isinstance(e, ResponseReceived) and e.key == key]
    # RFC 6026: every 2xx copy reaching Accepted is passed up (the UAC core dedupes).
    assert {e.response.status for e in oks} >= {200}
    acks = [e for e in pair.events_b if isinstance(e, AckReceived)]
    assert acks and all(e.key is None for e in acks)
    assert TransactionTerminated(key) in pair.events_a
    assert len(pair.a) == 0 and len(pair.b) == 0


def test_non_invite_loses_request_then_response():
    pair = TransactionPair()
    fate = iter([True, False, True])  # request lost, retransmission through, 200 lost

    def drop(data, source, target):
        return next(fate, False)

    pair.drop = drop
    pair.tu_b = answer_with(200)
    pair.a.send_request(make_request("MESSAGE"), BOB_UDP, 0.0)
    pair.run(60.0)
    # The third MESSAGE (at 1.5) hits Completed and gets the stored 200 again.
    assert [t for t, _ in pair.sent_by(ALICE_UDP, "MESSAGE")] == [0.0, 0.5, 1.5]
    assert count(pair.events_b, RequestReceived) == 1
    assert count(pair.events_a, ResponseReceived) == 1


def test_dead_peer_times_out_on_both_kinds():
    pair = TransactionPair()
    pair.drop = lambda data, source, target: True
    pair.a.send_request(make_request(), BOB_UDP, 0.0)
    pair.a.send_request(make_request("OPTIONS", branch="z9hG4bKopt"), BOB_UDP, 0.0)
    pair.run(40.0)
    timeouts = [e for e in pair.events_a if isinstance(e, TransactionTimedOut)]
    assert sorted(e.response.status for e in timeouts) == [408, 408]
    assert {round(t, 6) for t, _ in pair.sent_by(ALICE_UDP, "INVITE")} == {
        0.0,
        0.5,
        1.5,
        3.5,
        7.5,
        15.5,
        31.5,
    }


def test_tcp_pair_sends_everything_exactly_once():
    pair = TransactionPair(ALICE_TCP, BOB_TCP)
    pair.tu_b = answer_with(486, provisional=180)
    pair.a.send_request(make_request(transport="TCP"), BOB_TCP, 0.0)
    pair.run(60.0)
    assert [len(pair.sent_by(p)) for p in (ALICE_TCP, BOB_TCP)] == [2, 2]  # INVITE+ACK, 180+486
    # Timers D and I are zero on TCP; only Timer H/I style waits remain on B (none here).
    assert len(pair.a) == 0 and len(pair.b) == 0
