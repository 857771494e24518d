"""Every decision of the four transaction state machines, as data (RFC 3261 §17, RFC 6026).

One table per RFC figure maps ``(State, Input | Timer)`` to ``(Action | None, State)``, the
shape of h2's ``_transitions``: the action is what the transaction does (the label under
the arc in the figure; ``None`` is the figure's "-"), the state is where the arc ends. A
pair missing from a table is an input the machine does not accept in that state: as in h11,
``transition`` raises ``LocalProtocolError`` and the machine is left as it was.

The figures are drawn with RFC 6026 applied: a 2xx takes the INVITE client and server
machines to ``ACCEPTED`` instead of ``TERMINATED`` (RFC 6026 §8.4, §8.7), and a server
transaction that fails to send a response informs the TU but keeps its state (RFC 6026 §7.1,
§8.8 amending §17.2.4). Arcs that the figures leave out but that the network can still
produce (a late 1xx after the final response, a retransmitted request in ``CONFIRMED``) are
written out as absorbing self-loops, each with the reason, so that only the TU, never a
peer, can hit a missing pair.

``STATE_TIMERS`` says which timers run in each state; ``START`` gives the arc by which each
machine is created. ``render_dot`` draws a table as Graphviz, as h11 draws its diagrams.
"""

from __future__ import annotations

from parley.sip.errors import LocalProtocolError
from parley.sip.fast_enum import FastEnum
from parley.sip.transaction.timers import Timer

__all__ = [
    "INVITE_CLIENT",
    "INVITE_SERVER",
    "NON_INVITE_CLIENT",
    "NON_INVITE_SERVER",
    "START",
    "STATE_TIMERS",
    "TABLES",
    "Action",
    "Arc",
    "Input",
    "Kind",
    "State",
    "Table",
    "Trigger",
    "render_dot",
    "response_input",
    "transition",
    "tu_response_input",
]


class Kind(FastEnum):
    """The four machines of §17: client/server, INVITE/non-INVITE (Figures 5-8)."""

    INVITE_CLIENT = "INVITE client (RFC 3261 Figure 5, RFC 6026 §8.4)"
    NON_INVITE_CLIENT = "non-INVITE client (RFC 3261 Figure 6)"
    INVITE_SERVER = "INVITE server (RFC 3261 Figure 7, RFC 6026 §8.7)"
    NON_INVITE_SERVER = "non-INVITE server (RFC 3261 Figure 8)"

    @property
    def is_client(self) -> bool:
        return self in (Kind.INVITE_CLIENT, Kind.NON_INVITE_CLIENT)

    @property
    def is_invite(self) -> bool:
        return self in (Kind.INVITE_CLIENT, Kind.INVITE_SERVER)


class State(FastEnum):
    """The states of Figures 5-8 under their RFC names (ACCEPTED from RFC 6026 §7.1)."""

    CALLING = "Calling"  # Figure 5 only
    TRYING = "Trying"  # Figures 6 and 8
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"  # Figure 7 only
    ACCEPTED = "Accepted"  # RFC 6026: Figures 5 and 7
    TERMINATED = "Terminated"


class Input(FastEnum):
    """What can happen to a transaction, besides a timer firing (timers are ``Timer``)."""

    # From the network, to a client transaction (§17.1.1.2, §17.1.2.2).
    RECV_1XX = "1xx"
    RECV_2XX = "2xx"
    RECV_3XX_6XX = "300-699"
    # From the network, to a server transaction (§17.2.1, §17.2.2): a retransmission of the
    # request that created it, or (INVITE only) an ACK that matched it (§17.2.3).
    RECV_REQUEST = "request"
    RECV_ACK = "ACK"
    # From the TU, to a server transaction.
    TU_1XX = "1xx from TU"
    TU_2XX = "2xx from TU"
    TU_3XX_6XX = "300-699 from TU"
    # §17.1.4, §17.2.4, §18.4: the transport could not send a message of this transaction.
    TRANSPORT_ERROR = "transport error"
    # The TU gives up on a transaction, e.g. §9.1: an INVITE that stays unanswered 64*T1
    # after its CANCEL was answered is destroyed by the UAC. Also used at shutdown.
    ABANDON = "abandoned by TU"


class Action(FastEnum):
    """What a transaction does on an arc; ``client.py``/``server.py`` carry them out."""

    SEND_REQUEST = "send request"  # §17.1.1.2, §17.1.2.2: first transmission
    RETRANSMIT_REQUEST = "retransmit request, back off"  # Timer A doubles, Timer E to T2
    RETRANSMIT_REQUEST_AT_T2 = "retransmit request, reset E to T2"  # §17.1.2.2 Proceeding
    PASS_RESPONSE = "response to TU"
    PASS_RESPONSE_SEND_ACK = "response to TU, ACK sent"  # §17.1.1.2 + §17.1.1.3
    RESEND_ACK = "ACK sent again"  # §17.1.1.2: final response retransmitted in Completed
    REPORT_TIMEOUT = "inform TU: timeout (408)"  # Timer B/F, §8.1.3.1
    REPORT_TRANSPORT_ERROR = "inform TU: transport error (503)"  # §17.1.4, §8.1.3.1
    NOTE_TRANSPORT_ERROR = "inform TU of the error, no verdict"  # final already passed up
    PASS_REQUEST = "request to TU"  # §17.2.1, §17.2.2: creation of a server transaction
    SEND_TRYING = "send 100 Trying"  # §17.2.1: the TU did not answer within 200 ms
    SEND_RESPONSE = "send response"  # a response from the TU goes to the transport
    RESEND_RESPONSE = "send last response again"  # request retransmission absorbed
    RETRANSMIT_RESPONSE = "retransmit response, back off"  # Timer G, §17.2.1
    REPORT_FAILURE = "inform TU: transaction failure"  # Timer H: the ACK never came
    PASS_ACK = "ACK to TU"  # RFC 6026 §7.1: ACK in Accepted


Trigger = Input | Timer
Arc = tuple[Action | None, State]
Table = dict[tuple[State, Trigger], Arc]

_C, _T, _P = State.CALLING, State.TRYING, State.PROCEEDING
_CO, _CF, _A, _X = State.COMPLETED, State.CONFIRMED, State.ACCEPTED, State.TERMINATED
_I = Input
_Ac = Action

# -- Figure 5: INVITE client transaction (§17.1.1.2), with RFC 6026 §8.4 -----------------

INVITE_CLIENT: Table = {
    # §17.1.1.2: "When timer A fires, the client transaction MUST retransmit the request
    # ... and MUST reset the timer with a value of 2*T1" (doubling each time).
    (_C, Timer.TIMER_A): (_Ac.RETRANSMIT_REQUEST, _C),
    # §17.1.1.2: still Calling when B fires: inform the TU, MUST NOT generate an ACK.
    (_C, Timer.TIMER_B): (_Ac.REPORT_TIMEOUT, _X),
    # §17.1.4: inform the TU of the transport failure, go straight to Terminated.
    (_C, _I.TRANSPORT_ERROR): (_Ac.REPORT_TRANSPORT_ERROR, _X),
    # §17.1.1.2: a provisional response moves to Proceeding and goes to the TU.
    (_C, _I.RECV_1XX): (_Ac.PASS_RESPONSE, _P),
    # RFC 6026 §8.4: a 2xx goes to the TU and the machine enters Accepted (not Terminated).
    (_C, _I.RECV_2XX): (_Ac.PASS_RESPONSE, _A),
    # §17.1.1.2: 300-699 goes to the TU, an ACK is generated "even if the transport is
    # reliable", and the machine enters Completed.
    (_C, _I.RECV_3XX_6XX): (_Ac.PASS_RESPONSE_SEND_ACK, _CO),
    (_C, _I.ABANDON): (None, _X),
    # §17.1.1.2: "Any further provisional responses MUST be passed up to the TU".
    (_P, _I.RECV_1XX): (_Ac.PASS_RESPONSE, _P),
    (_P, _I.RECV_2XX): (_Ac.PASS_RESPONSE, _A),
    (_P, _I.RECV_3XX_6XX): (_Ac.PASS_RESPONSE_SEND_ACK, _CO),
    # Figure 5 draws no transport error out of Proceeding: nothing is being sent there, and
    # §18.2.2 lets the server reach us over a new connection. The TU may ABANDON (§9.1).
    (_P, _I.TRANSPORT_ERROR): (None, _P),
    (_P, _I.ABANDON): (None, _X),
    # §17.1.1.2: a retransmitted final response re-sends the ACK and is not passed up.
    (_CO, _I.RECV_3XX_6XX): (_Ac.RESEND_ACK, _CO),
    # Not in Figure 5: a late 1xx, or a 2xx after the non-2xx (a broken or forked peer),
    # matches this transaction (§17.1.3) and is absorbed; Completed has no arc for it.
    (_CO, _I.RECV_1XX): (None, _CO),
    (_CO, _I.RECV_2XX): (None, _CO),
    # Figure 5: Completed --Transport Err./Inform TU--> Terminated. The TU already has the
    # final response, so it is told of the error without a synthetic 503.
    (_CO, _I.TRANSPORT_ERROR): (_Ac.NOTE_TRANSPORT_ERROR, _X),
    # §17.1.1.2: "If timer D fires while ... in the Completed state, the client transaction
    # MUST move to the terminated state."
    (_CO, Timer.TIMER_D): (None, _X),
    (_CO, _I.ABANDON): (None, _X),
    # RFC 6026 §8.4: "Any 2xx responses that match this client transaction and that are
    # received while in the Accepted state MUST be passed up to the TU"; no ACK here.
    (_A, _I.RECV_2XX): (_Ac.PASS_RESPONSE, _A),
    # Not in RFC 6026 Figure 5: stragglers after the 2xx are absorbed.
    (_A, _I.RECV_1XX): (None, _A),
    (_A, _I.RECV_3XX_6XX): (None, _A),
    # The ACK for a 2xx is the TU's (§13.2.2.4) and goes around the transaction, so a
    # transport error is none of the Accepted state's business.
    (_A, _I.TRANSPORT_ERROR): (None, _A),
    # RFC 6026 §8.4: "If timer M fires while the client transaction is in the Accepted
    # state, the client transaction MUST move to the Terminated state."
    (_A, Timer.TIMER_M): (None, _X),
    (_A, _I.ABANDON): (None, _X),
}

# -- Figure 6: non-INVITE client transaction (§17.1.2.2) ----------------------------------

NON_INVITE_CLIENT: Table = {
    # §17.1.2.2: Timer E doubles, capped at T2, while in Trying.
    (_T, Timer.TIMER_E): (_Ac.RETRANSMIT_REQUEST, _T),
    # §17.1.2.2: "If Timer F fires while ... in the Trying state, the client transaction
    # SHOULD inform the TU about the timeout, and then it SHOULD enter the Terminated state."
    (_T, Timer.TIMER_F): (_Ac.REPORT_TIMEOUT, _X),
    (_T, _I.TRANSPORT_ERROR): (_Ac.REPORT_TRANSPORT_ERROR, _X),  # §17.1.4
    # §17.1.2.2: a provisional response goes to the TU, then Proceeding.
    (_T, _I.RECV_1XX): (_Ac.PASS_RESPONSE, _P),
    # §17.1.2.2: "a final response (status codes 200-699)" goes to the TU, then Completed.
    (_T, _I.RECV_2XX): (_Ac.PASS_RESPONSE, _CO),
    (_T, _I.RECV_3XX_6XX): (_Ac.PASS_RESPONSE, _CO),
    (_T, _I.ABANDON): (None, _X),
    # §17.1.2.2: "If Timer E fires while in the Proceeding state, the request MUST be
    # passed to the transport layer for retransmission, and Timer E MUST be reset with a
    # value of T2 seconds."
    (_P, Timer.TIMER_E): (_Ac.RETRANSMIT_REQUEST_AT_T2, _P),
    (_P, Timer.TIMER_F): (_Ac.REPORT_TIMEOUT, _X),
    (_P, _I.TRANSPORT_ERROR): (_Ac.REPORT_TRANSPORT_ERROR, _X),
    (_P, _I.RECV_1XX): (_Ac.PASS_RESPONSE, _P),  # Figure 6: 1xx / resp. to TU
    (_P, _I.RECV_2XX): (_Ac.PASS_RESPONSE, _CO),
    (_P, _I.RECV_3XX_6XX): (_Ac.PASS_RESPONSE, _CO),
    (_P, _I.ABANDON): (None, _X),
    # §17.1.2.2: Completed "exists to buffer any additional response retransmissions";
    # they are absorbed, not passed up ("only a single 2xx ... is ever delivered").
    (_CO, _I.RECV_1XX): (None, _CO),
    (_CO, _I.RECV_2XX): (None, _CO),
    (_CO, _I.RECV_3XX_6XX): (None, _CO),
    # Figure 6 has no transport error out of Completed: nothing is sent there.
    (_CO, _I.TRANSPORT_ERROR): (None, _CO),
    # §17.1.2.2: "If Timer K fires while in this state, the client transaction MUST
    # transition to the Terminated state."
    (_CO, Timer.TIMER_K): (None, _X),
    (_CO, _I.ABANDON): (None, _X),
}

# -- Figure 7: INVITE server transaction (§17.2.1), with RFC 6026 §8.7 ---------------------

INVITE_SERVER: Table = {
    # §17.2.1: "If a request retransmission is received while in the Proceeding state, the
    # most recent provisional response that was received from the TU MUST be passed to the
    # transport layer for retransmission."
    (_P, _I.RECV_REQUEST): (_Ac.RESEND_RESPONSE, _P),
    # §17.2.1: "send 100 if TU won't in 200ms".
    (_P, Timer.TRYING): (_Ac.SEND_TRYING, _P),
    # §17.2.1: provisional responses from the TU are sent, not retransmitted, no state change.
    (_P, _I.TU_1XX): (_Ac.SEND_RESPONSE, _P),
    # RFC 6026 §8.7: a 2xx from the TU is sent once (the TU retransmits it, §13.3.1.4) and
    # the machine enters Accepted, no longer Terminated.
    (_P, _I.TU_2XX): (_Ac.SEND_RESPONSE, _A),
    # §17.2.1: 300-699 from the TU is sent and the machine enters Completed.
    (_P, _I.TU_3XX_6XX): (_Ac.SEND_RESPONSE, _CO),
    # RFC 6026 §7.1: "A server transaction MUST NOT discard transaction state based only on
    # encountering a non-recoverable transport error when sending a response"; the TU is
    # informed and timers end the transaction.
    (_P, _I.TRANSPORT_ERROR): (_Ac.NOTE_TRANSPORT_ERROR, _P),
    # Not in Figure 7: an ACK before any final response acknowledges nothing; absorbed.
    (_P, _I.RECV_ACK): (None, _P),
    (_P, _I.ABANDON): (None, _X),
    # §17.2.1: "while in the Completed state, if a request retransmission is received, the
    # server SHOULD pass the response to the transport for retransmission."
    (_CO, _I.RECV_REQUEST): (_Ac.RESEND_RESPONSE, _CO),
    # §17.2.1: Timer G resends the response and doubles, capped at T2.
    (_CO, Timer.TIMER_G): (_Ac.RETRANSMIT_RESPONSE, _CO),
    # §17.2.1: "If an ACK is received while the server transaction is in the Completed
    # state, the server transaction MUST transition to the Confirmed state."
    (_CO, _I.RECV_ACK): (None, _CF),
    # §17.2.1: "If timer H fires while in the Completed state, it implies that the ACK was
    # never received ... MUST indicate to the TU that a transaction failure has occurred."
    (_CO, Timer.TIMER_H): (_Ac.REPORT_FAILURE, _X),
    (_CO, _I.TRANSPORT_ERROR): (_Ac.NOTE_TRANSPORT_ERROR, _CO),  # RFC 6026 §7.1
    (_CO, _I.ABANDON): (None, _X),
    # §17.2.1: Confirmed exists "to absorb any additional ACK messages".
    (_CF, _I.RECV_ACK): (None, _CF),
    # Not in Figure 7: an INVITE retransmission crossing our ACK'ed response; absorbed.
    (_CF, _I.RECV_REQUEST): (None, _CF),
    (_CF, _I.TRANSPORT_ERROR): (None, _CF),  # nothing is sent in Confirmed
    # §17.2.1: "Once timer I fires, the server MUST transition to the Terminated state."
    (_CF, Timer.TIMER_I): (None, _X),
    (_CF, _I.ABANDON): (None, _X),
    # RFC 6026 §8.7: retransmissions of the INVITE are "absorbed entirely within the server
    # transaction. They are not passed up to the TU".
    (_A, _I.RECV_REQUEST): (None, _A),
    # RFC 6026 §8.7: "If an ACK is received while the INVITE server transaction is in the
    # Accepted state, then the ACK must be passed up to the TU."
    (_A, _I.RECV_ACK): (_Ac.PASS_ACK, _A),
    # RFC 6026 §8.7: "While in the Accepted state, if the TU passes a 2xx response, the
    # server transaction MUST pass the response to the transport layer for transmission."
    (_A, _I.TU_2XX): (_Ac.SEND_RESPONSE, _A),
    (_A, _I.TRANSPORT_ERROR): (_Ac.NOTE_TRANSPORT_ERROR, _A),  # RFC 6026 §7.1
    # RFC 6026 §8.7: "If Timer L fires while the INVITE server transaction is in the
    # Accepted state, the transaction MUST transition to the Terminated state."
    (_A, Timer.TIMER_L): (None, _X),
    (_A, _I.ABANDON): (None, _X),
}

# -- Figure 8: non-INVITE server transaction (§17.2.2) ------------------------------------

NON_INVITE_SERVER: Table = {
    # §17.2.2: "Once in the Trying state, any further request retransmissions are discarded."
    (_T, _I.RECV_REQUEST): (None, _T),
    # §17.2.2: a provisional response from the TU is sent and the machine enters Proceeding.
    (_T, _I.TU_1XX): (_Ac.SEND_RESPONSE, _P),
    # Figure 8: 200-699 from TU / send response, Trying -> Completed.
    (_T, _I.TU_2XX): (_Ac.SEND_RESPONSE, _CO),
    (_T, _I.TU_3XX_6XX): (_Ac.SEND_RESPONSE, _CO),
    # Figure 8 has no transport error out of Trying: nothing has been sent yet.
    (_T, _I.TRANSPORT_ERROR): (None, _T),
    (_T, _I.ABANDON): (None, _X),
    # §17.2.2: in Proceeding "the most recently sent provisional response MUST be passed
    # to the transport layer for retransmission".
    (_P, _I.RECV_REQUEST): (_Ac.RESEND_RESPONSE, _P),
    (_P, _I.TU_1XX): (_Ac.SEND_RESPONSE, _P),
    (_P, _I.TU_2XX): (_Ac.SEND_RESPONSE, _CO),
    (_P, _I.TU_3XX_6XX): (_Ac.SEND_RESPONSE, _CO),
    # Figure 8 ends the transaction on a transport error; RFC 6026 §8.8 rewrites §17.2.4
    # (which covers both server machines) to "inform the TU ... and MUST remain in the
    # current state". We follow the later text: a retransmitted request stays absorbed.
    (_P, _I.TRANSPORT_ERROR): (_Ac.NOTE_TRANSPORT_ERROR, _P),
    (_P, _I.ABANDON): (None, _X),
    # §17.2.2: "the server transaction MUST pass the final response to the transport layer
    # for retransmission whenever a retransmission of the request is received."
    (_CO, _I.RECV_REQUEST): (_Ac.RESEND_RESPONSE, _CO),
    # §17.2.2: "Any other final responses passed by the TU to the server transaction MUST
    # be discarded while in the Completed state."
    (_CO, _I.TU_2XX): (None, _CO),
    (_CO, _I.TU_3XX_6XX): (None, _CO),
    (_CO, _I.TRANSPORT_ERROR): (_Ac.NOTE_TRANSPORT_ERROR, _CO),  # RFC 6026 §8.8
    # §17.2.2: stay "until Timer J fires, at which point it MUST transition to the
    # Terminated state."
    (_CO, Timer.TIMER_J): (None, _X),
    (_CO, _I.ABANDON): (None, _X),
}

TABLES: dict[Kind, Table] = {
    Kind.INVITE_CLIENT: INVITE_CLIENT,
    Kind.NON_INVITE_CLIENT: NON_INVITE_CLIENT,
    Kind.INVITE_SERVER: INVITE_SERVER,
    Kind.NON_INVITE_SERVER: NON_INVITE_SERVER,
}

#: The arc that creates each machine: the figures' unlabelled entry arrow.
START: dict[Kind, tuple[Action, State]] = {
    # §17.1.1.2: "The initial state, calling, MUST be entered when the TU initiates a new
    # client transaction with an INVITE request ... MUST pass the request to the transport".
    Kind.INVITE_CLIENT: (Action.SEND_REQUEST, State.CALLING),
    # §17.1.2.2: "The Trying state is entered when the TU initiates a new client transaction".
    Kind.NON_INVITE_CLIENT: (Action.SEND_REQUEST, State.TRYING),
    # §17.2.1: "it enters the Proceeding state ... The request MUST be passed to the TU."
    Kind.INVITE_SERVER: (Action.PASS_REQUEST, State.PROCEEDING),
    # §17.2.2: "initialized in the Trying state ... This request is passed up to the TU."
    Kind.NON_INVITE_SERVER: (Action.PASS_REQUEST, State.TRYING),
}

#: Timers that run while a machine is in a state. Entering a state starts those of its
#: timers that are not running yet (so Timer E and F carry on from Trying into Proceeding,
#: §17.1.2.2) and stops every other; a self-loop starts and stops nothing. Retransmission
#: timers start only on unreliable transports (``timers.runs_on``).
STATE_TIMERS: dict[tuple[Kind, State], frozenset[Timer]] = {
    # §17.1.1.2: Timer A (unreliable) and B start in Calling; Proceeding stops both, as
    # retransmissions cease on a 1xx and B only matters "still in the Calling state".
    (Kind.INVITE_CLIENT, _C): frozenset({Timer.TIMER_A, Timer.TIMER_B}),
    (Kind.INVITE_CLIENT, _P): frozenset(),
    (Kind.INVITE_CLIENT, _CO): frozenset({Timer.TIMER_D}),  # §17.1.1.2, RFC 6026 §8.4
    (Kind.INVITE_CLIENT, _A): frozenset({Timer.TIMER_M}),  # RFC 6026 §8.4
    # §17.1.2.2: E and F run in Trying and keep running in Proceeding; K in Completed.
    (Kind.NON_INVITE_CLIENT, _T): frozenset({Timer.TIMER_E, Timer.TIMER_F}),
    (Kind.NON_INVITE_CLIENT, _P): frozenset({Timer.TIMER_E, Timer.TIMER_F}),
    (Kind.NON_INVITE_CLIENT, _CO): frozenset({Timer.TIMER_K}),
    # §17.2.1: the 100 Trying deadline in Proceeding; G (unreliable) and H in Completed;
    # I in Confirmed; RFC 6026 §8.7: L in Accepted.
    (Kind.INVITE_SERVER, _P): frozenset({Timer.TRYING}),
    (Kind.INVITE_SERVER, _CO): frozenset({Timer.TIMER_G, Timer.TIMER_H}),
    (Kind.INVITE_SERVER, _CF): frozenset({Timer.TIMER_I}),
    (Kind.INVITE_SERVER, _A): frozenset({Timer.TIMER_L}),
    # §17.2.2: only Timer J, in Completed.
    (Kind.NON_INVITE_SERVER, _T): frozenset(),
    (Kind.NON_INVITE_SERVER, _P): frozenset(),
    (Kind.NON_INVITE_SERVER, _CO): frozenset({Timer.TIMER_J}),
}


def transition(kind: Kind, state: State, event: Trigger) -> Arc:
    """The arc that ``event`` takes out of ``state`` in ``kind``'s figure.

    Raises ``LocalProtocolError`` when the figure has no such arc: the caller (in practice
    the TU, e.g. a second final response to an INVITE) asked for something §17 forbids.
    """
    arc = TABLES[kind].get((state, event))
    if arc is None:
        what = event.name if isinstance(event, Timer) else event.value
        raise LocalProtocolError(f"{kind.name}: {what!r} is not allowed in state {state.name}")
    return arc


def response_input(status: int) -> Input:
    """The client-side input for a response with this status code (§17.1.1.2, §17.1.2.2)."""
    if 100 <= status <= 199:
        return Input.RECV_1XX
    if 200 <= status <= 299:
        return Input.RECV_2XX
    if 300 <= status <= 699:
        return Input.RECV_3XX_6XX
    raise LocalProtocolError(f"status code {status} outside 100-699")


def tu_response_input(status: int) -> Input:
    """The server-side input for a response with this status code passed by the TU."""
    if 100 <= status <= 199:
        return Input.TU_1XX
    if 200 <= status <= 299:
        return Input.TU_2XX
    if 300 <= status <= 699:
        return Input.TU_3XX_6XX
    raise LocalProtocolError(f"status code {status} outside 100-699")


def render_dot(kind: Kind) -> str:
    """A Graphviz drawing of one table, arcs labelled "input / action" as in the RFC."""
    start_action, start_state = START[kind]
    lines = [
        f'digraph "{kind.name}" {{',
        "  rankdir=TB;",
        '  start [shape=point, label=""];',
        f'  start -> {start_state.name} [label="{start_action.value}"];',
    ]
    for (state, event), (action, target) in TABLES[kind].items():
        if isinstance(event, Timer):
            what = event.value if event is Timer.TRYING else f"Timer {event.value}"
        else:
            what = event.value
        done = "-" if action is None else action.value
        lines.append(f'  {state.name} -> {target.name} [label="{what} / {done}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
