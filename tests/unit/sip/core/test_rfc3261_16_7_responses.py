"""RFC 3261 §16.7 response processing in the response context, with §16.8 (Timer C), §16.9
(transport errors) and §16.10 (CANCEL). Virtual time: ``now`` is a float the test picks."""

from __future__ import annotations

import pytest
from test_rfc3261_16_support import (
    ALICE_VIA,
    PROXY_UDP,
    answer,
    client_key,
    context,
    fresh_branch,
    incoming,
)

from parley.sip.core.proxy import (
    TIMER_C,
    AbandonBranch,
    ForwardResponse,
    ResponseContext,
    SendCancel,
    aggregate_challenges,
    choose_best_response,
    forward_request,
    loop_hash,
)
from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request, Response


class Fork:
    """A response context with forwarded branches, as the proxy core builds it."""

    def __init__(self, request: Request | None = None, targets: int = 2, **kwargs: float):
        self.request = request or incoming()
        self.ctx = context(self.request, **kwargs)
        self.sent: list[Request] = []
        self.keys = []
        loop = loop_hash(self.request)
        for i in range(targets):
            branch = fresh_branch()
            out = forward_request(
                self.request,
                f"sip:bob@203.0.113.{20 + i}",
                sent_by=PROXY_UDP,
                branch=branch,
                loop=loop,
            ).request
            key = client_key(out.top_via.branch or "", self.request.method)
            self.ctx.add_branch(key, out, 0.0)
            self.sent.append(out)
            self.keys.append(key)

    def reply(self, index: int, status: int, now: float = 1.0, **kwargs):
        response = answer(self.sent[index], status, to_tag=f"uas{index}", **kwargs)
        return self.ctx.on_response(self.keys[index], response, now)


def forwarded(actions) -> list[Response]:
    return [a.response for a in actions if isinstance(a, ForwardResponse)]


def cancels(actions) -> list[SendCancel]:
    return [a for a in actions if isinstance(a, SendCancel)]


# -- step 5: what goes at once -------------------------------------------------------------


def test_provisional_is_forwarded_at_once_without_our_via():
    fork = Fork()
    actions = fork.reply(0, 180)
    [response] = forwarded(actions)
    assert response.status == 180
    assert response.headers.get_all("Via") == [ALICE_VIA]  # step 3, and nothing else
    assert response.to.tag == "uas0"  # "A proxy MUST NOT modify the tag"
    assert fork.sent[0].headers.count("Via") == 2


def test_100_trying_is_never_forwarded():
    fork = Fork()
    assert fork.reply(0, 100) == []


def test_fork_with_180_and_200_forwards_both_and_cancels_the_ringing_branch():
    fork = Fork()
    ringing = fork.reply(0, 180)
    assert [r.status for r in forwarded(ringing)] == [180]
    actions = fork.reply(1, 200)
    assert [r.status for r in forwarded(actions)] == [200]
    # Step 10: "If the forwarded response was a final response, the proxy MUST generate a
    # CANCEL request for all pending client transactions".
    [cancel] = cancels(actions)
    assert cancel.key == fork.keys[0]
    assert cancel.request.method == "CANCEL"
    assert cancel.request.top_via.branch == fork.sent[0].top_via.branch
    assert cancel.request.request_uri == fork.sent[0].request_uri
    assert isinstance(actions[0], ForwardResponse)  # step 9 before step 10
    assert fork.ctx.final_response is not None and fork.ctx.final_response.status == 200
    # The cancelled branch's 487 goes nowhere; a 180 now is no longer forwarded.
    assert fork.reply(0, 487) == []
    assert fork.ctx.outstanding == ()


def test_every_2xx_to_invite_is_forwarded():
    fork = Fork()
    first = fork.reply(0, 200)
    second = fork.reply(1, 200)
    retransmitted = fork.reply(0, 200)  # RFC 6026: passed up by the Accepted state
    assert [r.to.tag for r in forwarded(first + second + retransmitted)] == [
        "uas0",
        "uas1",
        "uas0",
    ]
    assert cancels(second) == []


def test_non_invite_forwards_exactly_one_final_response():
    fork = Fork(incoming("MESSAGE"))
    first = fork.reply(0, 200)
    assert [r.status for r in forwarded(first)] == [200]
    assert cancels(first) == []  # §9.1: CANCEL is for INVITE
    assert fork.reply(1, 202) == []


def test_branch_without_provisional_gets_its_cancel_once_one_arrives():
    fork = Fork()
    fork.reply(1, 200)
    # §9.1: "If no provisional response has been received, the CANCEL request MUST NOT be
    # sent; rather, the client MUST wait for the arrival of a provisional response".
    later = fork.reply(0, 183)
    assert forwarded(later) == []  # a final response went already
    [cancel] = cancels(later)
    assert cancel.key == fork.keys[0]
    assert fork.reply(0, 180) == []  # only one CANCEL per branch


# -- step 6: choosing the best response -------------------------------------------------------


def responses(*statuses: int) -> list[Response]:
    return [answer(incoming(), status, to_tag=f"t{i}") for i, status in enumerate(statuses)]


@pytest.mark.parametrize(
    ("statuses", "best"),
    [
        ((503, 407, 501, 404), 407),  # the RFC's own example
        ((486, 404), 486),  # same class: any; the first
        ((404, 486), 404),
        ((486, 603, 302), 603),  # "MUST choose from the 6xx class responses if any exist"
        ((302, 404, 500), 302),  # otherwise the lowest class
        ((500, 404), 404),
        ((503, 500), 500),  # a 503 is the last choice in its class
        ((404, 415), 415),  # 415, 420, 484 affect resubmission
        ((480, 484), 484),
        ((420, 401), 401),  # challenges first: they are aggregated
        ((600, 603), 600),
    ],
)
def test_best_response_table(statuses, best):
    assert choose_best_response(responses(*statuses)).status == best


def test_choosing_from_nothing_is_a_caller_error():
    with pytest.raises(LocalProtocolError):
        choose_best_response([])


def test_best_final_waits_for_every_branch_and_the_end_of_the_target_set():
    fork = Fork()
    assert fork.reply(0, 486) == []
    assert fork.reply(1, 404) == []
    assert fork.ctx.accepting_branches  # serial forking could still add a target
    [response] = forwarded(fork.ctx.complete_target_set(2.0))
    assert response.status == 486
    assert response.to.tag == "uas0"  # forwarded as received (To tag kept)
    assert response.headers.get_all("Via") == [ALICE_VIA]


def test_target_set_completed_first_then_last_branch_answers():
    fork = Fork()
    assert fork.ctx.complete_target_set(0.5) == []
    fork.reply(0, 404)
    [response] = forwarded(fork.reply(1, 480))
    assert response.status == 404


def test_lone_503_becomes_our_500():
    fork = Fork(targets=1)
    fork.ctx.complete_target_set(0.0)
    [response] = forwarded(fork.reply(0, 503, extra=[("Retry-After", "30")]))
    assert response.status == 500
    assert response.to.tag == "proxytag"
    assert "Retry-After" not in response.headers
    assert response.headers.get_all("Via") == [ALICE_VIA]


def test_503_loses_to_any_lower_class():
    fork = Fork()
    fork.ctx.complete_target_set(0.0)
    fork.reply(0, 503)
    [response] = forwarded(fork.reply(1, 404))
    assert response.status == 404


def test_challenges_of_all_401_and_407_are_aggregated():
    fork = Fork(targets=3)
    fork.ctx.complete_target_set(0.0)
    fork.reply(0, 407, extra=[("Proxy-Authenticate", 'Digest realm="a.example", nonce="1"')])
    fork.reply(1, 404)
    actions = fork.reply(
        2,
        401,
        extra=[
            ("WWW-Authenticate", 'Digest realm="b.example", nonce="2"'),
            ("WWW-Authenticate", 'Digest realm="b.example", nonce="3", algorithm=SHA-256'),
        ],
    )
    [response] = forwarded(actions)
    assert response.status == 407
    assert response.headers.get_all("Proxy-Authenticate") == ['Digest realm="a.example", nonce="1"']
    assert response.headers.get_all("WWW-Authenticate") == [
        'Digest realm="b.example", nonce="2"',
        'Digest realm="b.example", nonce="3", algorithm=SHA-256',
    ]


def test_aggregate_challenges_leaves_inputs_alone():
    a, b = responses(401, 407)
    a.headers.add("WWW-Authenticate", 'Digest realm="a"')
    b.headers.add("Proxy-Authenticate", 'Digest realm="b"')
    out = aggregate_challenges(a, [a, b])
    assert out.headers.get_all("Proxy-Authenticate") == ['Digest realm="b"']
    assert "Proxy-Authenticate" not in a.headers


def test_6xx_cancels_pending_branches_and_closes_the_target_set():
    fork = Fork(targets=3)
    fork.reply(0, 180)
    actions = fork.reply(2, 603)
    assert forwarded(actions) == []  # "it is not immediately forwarded"
    assert [c.key for c in cancels(actions)] == [fork.keys[0]]
    assert not fork.ctx.accepting_branches
    with pytest.raises(LocalProtocolError):
        fork.ctx.add_branch(client_key(fresh_branch()), fork.sent[0], 1.0)
    # Branch 1 had no provisional response: its CANCEL waits for one, which is forwarded
    # (no final response went yet).
    later = fork.reply(1, 180)
    assert [r.status for r in forwarded(later)] == [180]
    assert [c.key for c in cancels(later)] == [fork.keys[1]]
    assert fork.reply(0, 487) == []
    [response] = forwarded(fork.reply(1, 487))
    assert response.status == 603


def test_a_2xx_after_a_6xx_still_wins():
    # §16.7 step 5's rationale: the UAC must never see a 6xx followed by a 2xx.
    fork = Fork()
    fork.reply(0, 180)
    fork.reply(1, 600)
    [response] = forwarded(fork.reply(0, 200))
    assert response.status == 200


# -- timeouts, transport errors, Timer C -------------------------------------------------------


def test_all_branches_timing_out_gives_our_408():
    fork = Fork()
    fork.ctx.complete_target_set(0.0)
    assert fork.ctx.on_timeout(fork.keys[0], 32.0) == []
    [response] = forwarded(fork.ctx.on_timeout(fork.keys[1], 32.0))
    assert response.status == 408
    assert response.to.tag == "proxytag"


def test_a_real_answer_is_preferred_to_our_timeout():
    fork = Fork()
    fork.ctx.complete_target_set(0.0)
    fork.ctx.on_timeout(fork.keys[0], 32.0)
    [response] = forwarded(fork.reply(1, 486))
    assert response.status == 486


def test_transport_error_counts_as_503_and_goes_up_as_500():
    fork = Fork(targets=1)
    fork.ctx.complete_target_set(0.0)
    [response] = forwarded(fork.ctx.on_transport_error(fork.keys[0], 0.1))
    assert response.status == 500


def test_timer_c_runs_for_invite_and_restarts_on_provisional_responses():
    fork = Fork(targets=1)
    assert fork.ctx.next_deadline() == TIMER_C
    fork.reply(0, 100, now=5.0)
    assert fork.ctx.next_deadline() == TIMER_C  # 100 does not restart it
    fork.reply(0, 180, now=10.0)
    assert fork.ctx.next_deadline() == 10.0 + TIMER_C
    assert fork.ctx.handle_timeout(10.0 + TIMER_C - 0.001) == []


def test_timer_c_with_a_provisional_response_cancels_then_gives_up():
    fork = Fork(targets=1)
    fork.ctx.complete_target_set(0.0)
    fork.reply(0, 180, now=10.0)
    fired = 10.0 + TIMER_C
    [cancel] = fork.ctx.handle_timeout(fired)
    assert isinstance(cancel, SendCancel) and cancel.key == fork.keys[0]
    # §9.1: no final response 64*T1 after the CANCEL: the transaction is destroyed.
    assert fork.ctx.next_deadline() == fired + 32.0
    actions = fork.ctx.handle_timeout(fired + 32.0)
    assert actions[0] == AbandonBranch(fork.keys[0])
    [response] = forwarded(actions)
    assert response.status == 408


def test_timer_c_without_provisional_response_is_a_408():
    fork = Fork(targets=1, timer_c=200.0)
    fork.ctx.complete_target_set(0.0)
    actions = fork.ctx.handle_timeout(200.0)
    assert actions[0] == AbandonBranch(fork.keys[0])
    assert [r.status for r in forwarded(actions)] == [408]
    assert cancels(actions) == []


def test_no_timer_c_for_non_invite():
    fork = Fork(incoming("SUBSCRIBE"))
    assert fork.ctx.next_deadline() is None


def test_timer_c_must_exceed_three_minutes():
    with pytest.raises(LocalProtocolError):
        ResponseContext(incoming(), to_tag="x", timer_c=180.0)


# -- §16.10 CANCEL ---------------------------------------------------------------------------


def test_cancel_cancels_pending_branches_and_the_487s_go_up():
    fork = Fork()
    fork.reply(0, 180)
    actions = fork.ctx.cancel(3.0)
    assert [c.key for c in cancels(actions)] == [fork.keys[0]]
    assert not fork.ctx.accepting_branches
    # Branch 1 is cancelled as soon as its first provisional response allows it.
    later = fork.reply(1, 100, now=3.5)
    assert [c.key for c in cancels(later)] == [fork.keys[1]]
    fork.reply(0, 487, now=4.0)
    [response] = forwarded(fork.reply(1, 487, now=4.0))
    assert response.status == 487


def test_cancel_before_any_branch_answers_487_ourselves():
    ctx = context()
    [action] = ctx.cancel(0.0)
    assert isinstance(action, ForwardResponse)
    assert action.response.status == 487
    assert action.response.to.tag == "proxytag"


def test_cancel_after_the_final_response_does_nothing():
    fork = Fork()
    fork.reply(0, 200)
    assert fork.ctx.cancel(2.0) == []


def test_empty_target_set_is_480():
    ctx = context()
    [action] = ctx.complete_target_set(0.0)
    assert isinstance(action, ForwardResponse) and action.response.status == 480


# -- bookkeeping ------------------------------------------------------------------------------


def test_context_is_finished_when_every_branch_transaction_is_gone():
    fork = Fork()
    fork.reply(0, 200)
    assert not fork.ctx.finished
    fork.ctx.on_terminated(fork.keys[0], 40.0)
    fork.reply(1, 487)
    fork.ctx.on_terminated(fork.keys[1], 40.0)
    assert fork.ctx.finished


def test_a_branch_gone_without_final_response_counts_as_408():
    fork = Fork(targets=1)
    fork.ctx.complete_target_set(0.0)
    [response] = forwarded(fork.ctx.on_terminated(fork.keys[0], 1.0))
    assert response.status == 408


def test_unknown_branch_and_duplicate_branch_are_caller_errors():
    fork = Fork(targets=1)
    with pytest.raises(LocalProtocolError):
        fork.ctx.on_response(client_key("z9hG4bKnope"), answer(fork.sent[0], 200), 1.0)
    with pytest.raises(LocalProtocolError):
        fork.ctx.add_branch(fork.keys[0], fork.sent[0], 1.0)


def test_no_context_for_ack_or_cancel():
    for method in ("ACK", "CANCEL"):
        with pytest.raises(LocalProtocolError):
            ResponseContext(incoming(method), to_tag="x")


def test_response_with_only_our_via_is_not_forwarded():
    fork = Fork(targets=1)
    response = answer(fork.sent[0], 180)
    vias = response.headers.values("Via")
    response.headers.set("Via", vias[0])
    assert fork.ctx.on_response(fork.keys[0], response, 1.0) == []
