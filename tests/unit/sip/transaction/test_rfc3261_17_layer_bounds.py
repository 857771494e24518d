"""RFC 3261 §17 layer bookkeeping: transactions are destroyed when Terminated (§17.1.1.2,
§17.2.2), server transactions are capped (503 + Retry-After, §21.5.4), one deadline."""

from __future__ import annotations

import pytest
from transaction_support import ALICE_UDP, BOB_UDP, FakeClock, drive, make_request, reparse

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import make_response
from parley.sip.transaction import (
    RequestReceived,
    RequestRejected,
    TransactionLayer,
    TransactionTerminated,
)


def test_every_transaction_is_gone_after_its_timers():
    clock = FakeClock()
    layer = TransactionLayer()
    for i in range(50):
        request = make_request("OPTIONS", branch=f"z9hG4bKc{i}")
        layer.send_request(request, BOB_UDP, 0.0)
        incoming = make_request("MESSAGE", branch=f"z9hG4bKs{i}")
        layer.receive(incoming, ALICE_UDP, 0.0)
        layer.send_response(make_response(incoming, 200, to_tag="t"), 0.0)
    assert layer.client_count == 50 and layer.server_count == 50
    drive(layer, clock, 100.0)
    assert len(layer) == 0 and layer.next_deadline() is None
    terminated = [e for e in layer.events() if isinstance(e, TransactionTerminated)]
    assert len(terminated) == 100


def test_next_deadline_is_the_earliest_of_all_transactions():
    layer = TransactionLayer()
    layer.send_request(make_request("OPTIONS", branch="z9hG4bK1"), BOB_UDP, 10.0)
    layer.send_request(make_request("OPTIONS", branch="z9hG4bK2"), BOB_UDP, 3.0)
    assert layer.next_deadline() == 3.5
    layer.handle_timeout(3.5)
    assert layer.next_deadline() == 4.5  # the second's E doubled to 1 s
    layer.handle_timeout(4.5)
    assert layer.next_deadline() == 6.5


def test_handle_timeout_early_does_nothing():
    layer = TransactionLayer()
    layer.send_request(make_request(), BOB_UDP, 0.0)
    layer.outgoing()
    layer.handle_timeout(0.49)
    assert layer.outgoing() == [] and layer.events() == []


def test_server_cap_answers_503_with_retry_after_and_no_transaction():
    layer = TransactionLayer(max_server_transactions=2, retry_after=30)
    for i in range(2):
        layer.receive(make_request("MESSAGE", branch=f"z9hG4bK{i}"), ALICE_UDP, 0.0)
    assert [type(e) for e in layer.events()] == [RequestReceived, RequestReceived]
    overflow = make_request("MESSAGE", branch="z9hG4bK3")
    layer.receive(overflow, ALICE_UDP, 0.0)
    (event,) = layer.events()
    assert isinstance(event, RequestRejected) and event.request is overflow
    ((data, peer),) = layer.outgoing()
    assert peer == ALICE_UDP
    answer = reparse(data)
    assert answer.status == 503 and answer.headers.get("Retry-After") == "30"
    assert answer.to.tag  # §8.2.6.2: a UAS response carries a To tag
    assert layer.server_count == 2
    # A retransmission gets the same answer, tag included (§8.2.7: stateless).
    layer.receive(overflow, ALICE_UDP, 0.5)
    assert layer.outgoing()[0][0] == data
    # ACKs never create transactions, so they are never refused.
    layer.receive(make_request("ACK", branch="z9hG4bK9", to_tag="t"), ALICE_UDP, 0.6)
    assert layer.outgoing() == []


def test_cap_frees_up_when_transactions_end():
    clock = FakeClock()
    layer = TransactionLayer(max_server_transactions=1)
    request = make_request("MESSAGE")
    layer.receive(request, ALICE_UDP, 0.0)
    layer.send_response(make_response(request, 200, to_tag="t"), 0.0)
    drive(layer, clock, 32.0)  # Timer J
    layer.events()
    layer.receive(make_request("MESSAGE", branch="z9hG4bKnext"), ALICE_UDP, 32.0)
    assert isinstance(layer.events()[0], RequestReceived)


def test_limits_must_not_be_negative():
    with pytest.raises(LocalProtocolError):
        TransactionLayer(max_server_transactions=-1)


def test_send_response_without_transaction_is_a_local_error():
    layer = TransactionLayer()
    with pytest.raises(LocalProtocolError):
        layer.send_response(make_response(make_request(), 200, to_tag="t"), 0.0)


def test_send_stateless_queues_bytes():
    layer = TransactionLayer()
    ack = make_request("ACK", branch="z9hG4bKack", to_tag="t")
    layer.send_stateless(ack, BOB_UDP)
    assert layer.outgoing() == [(ack.to_bytes(), BOB_UDP)]
    assert len(layer) == 0


def test_next_event_and_events_drain_in_order():
    layer = TransactionLayer()
    layer.receive(make_request("MESSAGE", branch="z9hG4bKa"), ALICE_UDP, 0.0)
    layer.receive(make_request("MESSAGE", branch="z9hG4bKb"), ALICE_UDP, 0.0)
    first = layer.next_event()
    assert isinstance(first, RequestReceived) and first.key.branch == "z9hG4bKa"
    assert [e.key.branch for e in layer.events()] == ["z9hG4bKb"]
    assert layer.next_event() is None
