"""RFC 3261 Figures 5-8 with RFC 6026, as tables: static checks, and a hypothesis walk in
which every (state, input) either transitions as the table says or raises
LocalProtocolError leaving the machine unchanged (h2's test_state_machines.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transaction_support import ALICE_TCP, ALICE_UDP, make_request, response_to

from parley.sip.errors import LocalProtocolError
from parley.sip.transaction import ClientTransaction, ServerTransaction, TransactionTerminated
from parley.sip.transaction.events import Role, TransactionKey
from parley.sip.transaction.table import (
    START,
    STATE_TIMERS,
    TABLES,
    Input,
    Kind,
    State,
    render_dot,
)
from parley.sip.transaction.timers import RETRANSMIT_TIMERS, Timer, TimerConfig

EVENTS: list[Input | Timer] = [*Input, *Timer]


def states_of(kind: Kind) -> set[State]:
    table = TABLES[kind]
    return {s for s, _ in table} | {t for _, t in table.values()}


@pytest.mark.parametrize("kind", list(Kind))
def test_every_running_timer_has_an_arc(kind):
    for (k, state), timers in STATE_TIMERS.items():
        if k is kind:
            for timer in timers:
                assert (state, timer) in TABLES[kind], (state, timer)


@pytest.mark.parametrize("kind", list(Kind))
def test_terminated_is_final_and_everything_else_can_be_abandoned(kind):
    table = TABLES[kind]
    assert not [key for key in table if key[0] is State.TERMINATED]
    for state in states_of(kind) - {State.TERMINATED}:
        assert table[(state, Input.ABANDON)] == (None, State.TERMINATED)
        # Every state reached from the network has an answer to a transport error.
        assert (state, Input.TRANSPORT_ERROR) in table
        assert (kind, state) in STATE_TIMERS


@pytest.mark.parametrize("kind", list(Kind))
def test_every_state_is_reachable_from_the_start(kind):
    table = TABLES[kind]
    seen = {START[kind][1]}
    frontier = list(seen)
    while frontier:
        state = frontier.pop()
        for (source, _), (_, target) in table.items():
            if source is state and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == states_of(kind)
    assert State.TERMINATED in seen


@pytest.mark.parametrize("kind", list(Kind))
def test_client_tables_take_only_client_inputs(kind):
    server_inputs = {
        Input.RECV_REQUEST,
        Input.RECV_ACK,
        Input.TU_1XX,
        Input.TU_2XX,
        Input.TU_3XX_6XX,
    }
    used = {event for _, event in TABLES[kind]}
    if kind.is_client:
        assert not used & server_inputs
    else:
        assert not used & {Input.RECV_1XX, Input.RECV_2XX, Input.RECV_3XX_6XX}


@pytest.mark.parametrize("kind", list(Kind))
def test_render_dot_draws_every_arc(kind):
    dot = render_dot(kind)
    assert dot.startswith(f'digraph "{kind.name}"')
    assert dot.count("->") == len(TABLES[kind]) + 1
    for state in states_of(kind):
        assert state.name in dot


# -- hypothesis walk ----------------------------------------------------------------


def build(kind: Kind, reliable: bool):
    peer = ALICE_TCP if reliable else ALICE_UDP
    method = "INVITE" if kind.is_invite else "MESSAGE"
    request = make_request(method, transport=peer.transport.upper())
    config = TimerConfig()
    if kind.is_client:
        key = TransactionKey(Role.CLIENT, method, "z9hG4bKnashds8")
        return ClientTransaction(kind, key, request, peer, config), request
    key = TransactionKey(Role.SERVER, method, "z9hG4bKnashds8", ("192.0.2.1", 5060))
    return ServerTransaction(kind, key, request, peer, config), request


def message_for(event, request):
    statuses = {
        Input.RECV_1XX: 180,
        Input.RECV_2XX: 200,
        Input.RECV_3XX_6XX: 486,
        Input.TU_1XX: 180,
        Input.TU_2XX: 200,
        Input.TU_3XX_6XX: 486,
    }
    if event in statuses:
        return response_to(request, statuses[event])
    if event is Input.RECV_REQUEST:
        return request
    if event is Input.RECV_ACK:
        return make_request("ACK", to_tag="8321234356")
    return None


def check_invariants(tx, kind: Kind, reliable: bool) -> None:
    running = set(tx.deadlines)
    if tx.state is State.TERMINATED:
        assert running == set()
    else:
        assert running <= STATE_TIMERS[(kind, tx.state)]
    if reliable:
        assert not running & RETRANSMIT_TIMERS


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(Kind)),
    reliable=st.booleans(),
    events=st.lists(st.sampled_from(EVENTS), max_size=25),
)
def test_random_inputs_follow_the_table_or_raise(kind, reliable, events):
    tx, request = build(kind, reliable)
    tx.start(0.0)
    check_invariants(tx, kind, reliable)
    now = 0.0
    for event in events:
        before_state = tx.state
        before_deadlines = dict(tx.deadlines)
        arc = TABLES[kind].get((before_state, event))
        allowed = arc is not None and (not isinstance(event, Timer) or event in before_deadlines)
        message = message_for(event, request)
        if not allowed:
            with pytest.raises(LocalProtocolError):
                tx.handle(event, now, message)
            assert tx.state is before_state
            assert dict(tx.deadlines) == before_deadlines
            continue
        assert arc is not None
        out = tx.handle(event, now, message)
        target = arc[1]
        if reliable:
            # Zero-second timers (D, I, J, K) may end the transaction within the call.
            assert tx.state in (target, State.TERMINATED)
        else:
            assert tx.state is target
        terminated = [o for o in out if isinstance(o, TransactionTerminated)]
        assert len(terminated) == (tx.state is State.TERMINATED)
        check_invariants(tx, kind, reliable)


@pytest.mark.parametrize("kind", list(Kind))
def test_wrong_message_for_an_input_is_refused_without_change(kind):
    tx, request = build(kind, reliable=False)
    tx.start(0.0)
    state = tx.state
    inputs = [Input.RECV_2XX] if kind.is_client else [Input.TU_2XX]
    for event in inputs:
        with pytest.raises(LocalProtocolError):  # no message
            tx.handle(event, 0.0)
        with pytest.raises(LocalProtocolError):  # a 486 is not a 2xx
            tx.handle(event, 0.0, response_to(request, 486))
    with pytest.raises(LocalProtocolError):  # ABANDON carries no message
        tx.handle(Input.ABANDON, 0.0, request)
    assert tx.state is state
    with pytest.raises(LocalProtocolError):
        tx.start(0.0)
