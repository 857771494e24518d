"""RFC 3261 §17.2.3: matching requests to server transactions; §9.2 CANCEL matching;
the RFC 2543 fallback for requests without a magic-cookie branch."""

from __future__ import annotations

import pytest
from transaction_support import ALICE_UDP, cancel_for, make_request, reparse, response_to

from parley.sip.errors import LocalProtocolError
from parley.sip.transaction import (
    AckReceived,
    RequestReceived,
    Role,
    State,
    TransactionKey,
    TransactionLayer,
)
from parley.sip.transaction.matching import (
    cancel_target_key,
    legacy_matches,
    server_key,
    via_equal,
)

CAROL_UDP = ALICE_UDP.__class__("udp", "192.0.2.3", 5060)


def received(layer):
    return [e for e in layer.events() if isinstance(e, RequestReceived)]


def test_key_is_branch_sent_by_and_method_with_ack_looking_up_invite():
    invite = make_request(sent_by="PC33.Atlanta.example.com:5070")
    key = server_key(invite)
    assert key == TransactionKey(
        Role.SERVER, "INVITE", "z9hG4bKnashds8", ("pc33.atlanta.example.com", 5070)
    )
    assert server_key(make_request("ACK", sent_by="pc33.atlanta.example.com:5070")) == key
    assert server_key(cancel_for(invite)).method == "CANCEL"
    assert cancel_target_key(cancel_for(invite)) == key


def test_same_branch_from_another_sent_by_is_another_transaction():
    # §17.2.3: sent-by guards against "accidental or malicious duplication of branch".
    layer = TransactionLayer()
    layer.receive(make_request("OPTIONS"), ALICE_UDP, 0.0)
    layer.receive(make_request("OPTIONS", sent_by="192.0.2.3:5060"), CAROL_UDP, 0.1)
    assert len(received(layer)) == 2 and layer.server_count == 2


def test_same_branch_other_method_is_another_transaction():
    layer = TransactionLayer()
    layer.receive(make_request("OPTIONS"), ALICE_UDP, 0.0)
    layer.receive(make_request("INFO"), ALICE_UDP, 0.1)
    assert len(received(layer)) == 2


def test_retransmission_is_absorbed():
    layer = TransactionLayer()
    request = make_request("OPTIONS")
    for at in (0.0, 0.5, 1.5):
        layer.receive(request, ALICE_UDP, at)
    assert len(received(layer)) == 1


def test_cancel_is_its_own_transaction_and_names_the_invite():
    layer = TransactionLayer()
    invite = make_request()
    layer.receive(invite, ALICE_UDP, 0.0)
    (invite_event,) = received(layer)
    layer.send_response(response_to(invite, 180), 0.1)
    cancel = cancel_for(invite)
    layer.receive(cancel, ALICE_UDP, 0.2)
    (cancel_event,) = received(layer)
    assert cancel_event.key != invite_event.key
    assert cancel_event.key.method == "CANCEL"
    assert cancel_event.cancels == invite_event.key
    # The TU answers both: 200 to the CANCEL on its transaction, 487 to the INVITE (§9.2).
    layer.outgoing()
    layer.send_response(response_to(cancel, 200), 0.3)
    layer.send_response(response_to(invite, 487), 0.3)
    statuses = [(reparse(d).status, reparse(d).cseq.method) for d, _ in layer.outgoing()]
    assert statuses == [(200, "CANCEL"), (487, "INVITE")]
    assert layer.state(invite_event.key) is State.COMPLETED


def test_cancel_without_its_invite_names_nothing():
    layer = TransactionLayer()
    layer.receive(cancel_for(make_request()), ALICE_UDP, 0.0)
    (event,) = received(layer)
    assert event.cancels is None  # the TU answers 481 (§9.2)


def test_ack_matching_nothing_is_passed_up_and_creates_nothing():
    layer = TransactionLayer()
    ack = make_request("ACK", to_tag="x")
    layer.receive(ack, ALICE_UDP, 0.0)
    assert layer.events() == [AckReceived(ack, ALICE_UDP, None)]
    assert len(layer) == 0 and layer.outgoing() == []


# -- RFC 2543 fallback ----------------------------------------------------------------


def legacy_invite(**kw):
    return make_request(branch="", **kw)


def test_bare_magic_cookie_counts_as_rfc2543():
    assert server_key(make_request(branch="z9hG4bK")) is None
    assert server_key(make_request(branch="")) is None
    assert server_key(make_request(branch="1234abc")) is None


def test_rfc2543_retransmission_is_absorbed():
    layer = TransactionLayer()
    invite = legacy_invite()
    layer.receive(invite, ALICE_UDP, 0.0)
    (event,) = received(layer)
    assert event.key.branch is None and event.key.serial > 0
    layer.receive(legacy_invite(), ALICE_UDP, 0.5)  # a fresh parse of the same request
    assert received(layer) == []


def test_rfc2543_uri_compared_by_19_1_4():
    layer = TransactionLayer()
    layer.receive(legacy_invite(uri="sip:bob@BILOXI.example.com"), ALICE_UDP, 0.0)
    layer.receive(legacy_invite(uri="sip:bob@biloxi.example.com"), ALICE_UDP, 0.5)
    assert len(received(layer)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"uri": "sip:carol@biloxi.example.com"},
        {"to_tag": "abc"},
        {"from_tag": "other"},
        {"call_id": "other@atlanta"},
        {"cseq": 2},
        {"sent_by": "192.0.2.1:5062"},
    ],
)
def test_rfc2543_any_difference_makes_a_new_transaction(change):
    layer = TransactionLayer()
    layer.receive(legacy_invite(), ALICE_UDP, 0.0)
    layer.receive(legacy_invite(**change), ALICE_UDP, 0.5)
    assert len(received(layer)) == 2


def test_rfc2543_ack_matches_by_the_tag_of_the_response_sent():
    layer = TransactionLayer()
    invite = legacy_invite()
    layer.receive(invite, ALICE_UDP, 0.0)
    (event,) = received(layer)
    layer.send_response(response_to(invite, 486, to_tag="srv"), 0.1)
    # An ACK with another tag (e.g. for a different fork's response) matches nothing.
    stray = make_request("ACK", branch="", to_tag="elsewhere")
    layer.receive(stray, ALICE_UDP, 0.2)
    assert layer.events() == [AckReceived(stray, ALICE_UDP, None)]
    assert layer.state(event.key) is State.COMPLETED
    layer.receive(make_request("ACK", branch="", to_tag="srv"), ALICE_UDP, 0.3)
    assert layer.state(event.key) is State.CONFIRMED


def test_rfc2543_ack_for_2xx_matches_accepted_and_goes_to_the_tu():
    # RFC 6026: an RFC 2543 ACK for the 2xx matches the INVITE transaction, which in the
    # Accepted state passes it up instead of absorbing it.
    layer = TransactionLayer()
    invite = legacy_invite()
    layer.receive(invite, ALICE_UDP, 0.0)
    (event,) = received(layer)
    layer.send_response(response_to(invite, 200, to_tag="srv"), 0.1)
    ack = make_request("ACK", branch="", to_tag="srv")
    layer.receive(ack, ALICE_UDP, 0.2)
    assert layer.events() == [AckReceived(ack, ALICE_UDP, event.key)]


def test_rfc2543_cancel_names_its_invite():
    layer = TransactionLayer()
    invite = legacy_invite()
    layer.receive(invite, ALICE_UDP, 0.0)
    (invite_event,) = received(layer)
    layer.receive(cancel_for(invite), ALICE_UDP, 0.1)
    (cancel_event,) = received(layer)
    assert cancel_event.cancels == invite_event.key
    assert cancel_event.key != invite_event.key


def test_rfc2543_send_response_finds_its_transaction_without_a_key():
    layer = TransactionLayer()
    invite = legacy_invite()
    layer.receive(invite, ALICE_UDP, 0.0)
    (event,) = received(layer)
    assert layer.send_response(response_to(invite, 180), 0.1) == event.key


def test_rfc2543_ambiguous_response_needs_a_key():
    layer = TransactionLayer()
    a = legacy_invite(uri="sip:bob@biloxi.example.com")
    b = legacy_invite(uri="sip:robert@biloxi.example.com")
    layer.receive(a, ALICE_UDP, 0.0)
    layer.receive(b, ALICE_UDP, 0.0)
    _first, second = received(layer)
    with pytest.raises(LocalProtocolError):
        layer.send_response(response_to(b, 180), 0.1)
    assert layer.send_response(response_to(b, 180), 0.1, key=second.key) == second.key


def test_legacy_matches_and_via_equal_directly():
    invite = legacy_invite()
    assert legacy_matches(invite, None, legacy_invite())
    assert not legacy_matches(invite, None, make_request("ACK", branch="", to_tag="t"))
    assert legacy_matches(invite, "t", make_request("ACK", branch="", to_tag="t"))
    assert not legacy_matches(invite, None, make_request("OPTIONS", branch=""))
    assert via_equal(invite.top_via, legacy_invite(transport="udp").top_via)
    assert not via_equal(invite.top_via, make_request().top_via)
