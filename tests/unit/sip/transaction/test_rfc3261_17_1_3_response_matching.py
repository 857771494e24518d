"""RFC 3261 §17.1.3: matching responses to client transactions (branch + CSeq method)."""

from __future__ import annotations

from transaction_support import BOB_TCP, BOB_UDP, cancel_for, make_request, response_to

from parley.sip.transaction import (
    ResponseReceived,
    Role,
    State,
    StrayResponse,
    TransactionKey,
    TransactionLayer,
)
from parley.sip.transaction.matching import client_key, response_key


def test_key_is_branch_and_method():
    request = make_request("OPTIONS", branch="z9hG4bKabc")
    assert client_key(request) == TransactionKey(Role.CLIENT, "OPTIONS", "z9hG4bKabc")
    assert response_key(response_to(request, 200)) == client_key(request)


def test_cancel_and_invite_share_a_branch_but_not_a_transaction():
    layer = TransactionLayer()
    invite = make_request()
    invite_key = layer.send_request(invite, BOB_UDP, 0.0)
    layer.receive(response_to(invite, 180), BOB_UDP, 0.1)
    cancel = cancel_for(invite)
    cancel_key = layer.send_request(cancel, BOB_UDP, 0.2)
    assert invite_key != cancel_key and invite_key.branch == cancel_key.branch
    layer.events()
    # The 200 to the CANCEL matches the CANCEL by its CSeq method (§17.1.3 rule 2) ...
    cancel_ok = response_to(cancel, 200)
    layer.receive(cancel_ok, BOB_UDP, 0.3)
    assert layer.events() == [ResponseReceived(cancel_ok, cancel_key)]
    assert layer.state(cancel_key) is State.COMPLETED
    assert layer.state(invite_key) is State.PROCEEDING
    # ... and the 487 to the INVITE matches the INVITE.
    layer.receive(response_to(invite, 487), BOB_UDP, 0.4)
    assert layer.state(invite_key) is State.COMPLETED


def test_responses_reach_the_transaction_their_cseq_method_names():
    layer = TransactionLayer()
    invite = make_request()
    invite_key = layer.send_request(invite, BOB_UDP, 0.0)
    cancel = cancel_for(invite)
    cancel_key = layer.send_request(cancel, BOB_UDP, 0.0)
    layer.events()
    layer.receive(response_to(cancel, 200), BOB_UDP, 0.1)
    (event,) = layer.events()
    assert isinstance(event, ResponseReceived) and event.key == cancel_key
    assert event.response.cseq.method == "CANCEL"
    assert layer.state(invite_key) is State.CALLING


def test_response_with_unknown_branch_is_stray():
    # §18.1.2: no match: passed to the core, which forwards (proxy) or drops (UA) it.
    layer = TransactionLayer()
    request = make_request()
    layer.send_request(request, BOB_UDP, 0.0)
    other = make_request(branch="z9hG4bKsomeoneelse")
    response = response_to(other, 200)
    layer.receive(response, BOB_UDP, 0.1)
    assert layer.events() == [StrayResponse(response, BOB_UDP)]


def test_response_whose_cseq_method_differs_is_stray():
    layer = TransactionLayer()
    request = make_request("OPTIONS")
    layer.send_request(request, BOB_UDP, 0.0)
    response = response_to(make_request("OPTIONS", cseq_method="INFO"), 200)
    layer.receive(response, BOB_UDP, 0.1)
    assert isinstance(layer.events()[0], StrayResponse)


def test_responses_without_rfc3261_branch_or_to_ack_are_stray():
    layer = TransactionLayer()
    for request in (
        make_request(branch=""),
        make_request(branch="z9hG4bK"),
        make_request("ACK", branch="z9hG4bKnashds8"),
    ):
        assert response_key(response_to(request, 200)) is None
        layer.receive(response_to(request, 200), BOB_UDP, 0.0)
    assert all(isinstance(e, StrayResponse) for e in layer.events())


def test_second_2xx_after_terminated_non_invite_is_stray():
    layer = TransactionLayer()
    request = make_request("OPTIONS", transport="TCP")
    layer.send_request(request, BOB_TCP, 0.0)
    layer.receive(response_to(request, 200), BOB_TCP, 0.1)  # K = 0: gone at once
    layer.events()
    layer.receive(response_to(request, 200), BOB_TCP, 0.2)
    assert isinstance(layer.events()[0], StrayResponse)
