"""The part every transaction shares: walk the table, keep the timers as deadlines.

A ``Transaction`` is sans-I/O. Each method takes ``now`` (seconds, on the caller's monotonic
clock) and returns a list of outputs: ``Transmit`` instructions for the transport and
events for the TU. Timers are absolute deadlines in ``deadlines``; nothing fires on its own,
the owner calls ``handle_timeout(now)`` at or after ``next_deadline()``.

Subclasses (``client.py``, ``server.py``) carry out the table's actions; they never choose
a next state themselves (h11's rule: what decides a transition lives in ``table.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request, Response
from parley.sip.transaction.events import (
    Event,
    TransactionKey,
    TransactionTerminated,
    Transmit,
)
from parley.sip.transaction.table import (
    START,
    STATE_TIMERS,
    Action,
    Input,
    Kind,
    State,
    transition,
)
from parley.sip.transaction.timers import (
    RETRANSMIT_TIMERS,
    Timer,
    TimerConfig,
    backoff,
    initial_duration,
    runs_on,
)
from parley.sip.transport.address import Peer

__all__ = ["Output", "Transaction"]

Output = Transmit | Event
Message = Request | Response


class Transaction:
    """One transaction of ``kind``, created for ``request`` exchanged with ``peer``.

    ``peer`` is the address the request goes to (client) or came from (server); responses
    of a server transaction go to ``reply_to`` (default ``peer``). Its reliability decides
    whether retransmission timers run (§17.1.1.2, §17.1.2.2, §17.2.1). Call ``start(now)``
    once, then feed inputs with ``handle`` (or the subclasses' named helpers).
    """

    #: The machine this class implements; set by each concrete subclass.
    KINDS: ClassVar[tuple[Kind, ...]] = ()

    def __init__(
        self,
        kind: Kind,
        key: TransactionKey,
        request: Request,
        peer: Peer,
        config: TimerConfig,
    ) -> None:
        if kind not in self.KINDS:
            raise LocalProtocolError(f"{type(self).__name__} cannot run a {kind.name} machine")
        self.kind = kind
        self.key = key
        self.request = request
        self.peer = peer
        self.config = config
        self.reliable = peer.reliable
        self._state: State | None = None
        self._deadlines: dict[Timer, float] = {}
        # Current interval of each running retransmission timer (A, E, G), for back-off.
        self._intervals: dict[Timer, float] = {}

    # -- read-only views -----------------------------------------------------------------

    @property
    def state(self) -> State:
        if self._state is None:
            raise LocalProtocolError("transaction not started")
        return self._state

    @property
    def deadlines(self) -> Mapping[Timer, float]:
        """Running timers and the absolute time at which each fires."""
        return MappingProxyType(self._deadlines)

    def next_deadline(self) -> float | None:
        """The earliest running timer's deadline, or None when no timer runs."""
        return min(self._deadlines.values(), default=None)

    # -- driving -------------------------------------------------------------------------

    def start(self, now: float) -> list[Output]:
        """Take the figure's entry arc: send the request (client) or pass it up (server)."""
        if self._state is not None:
            raise LocalProtocolError("transaction already started")
        action, target = START[self.kind]
        out: list[Output] = []
        self._run(action, None, now, None, None, out)
        self._enter(target, now, out)
        self._fire_due(now, out)
        return out

    def handle(
        self,
        event: Input | Timer,
        now: float,
        message: Message | None = None,
        source: Peer | None = None,
    ) -> list[Output]:
        """Feed one input: a message-bearing ``Input`` with its ``message`` (and the
        ``source`` it came from), a bare ``Input``, or a running ``Timer`` (it fires now,
        whatever its deadline: ``handle_timeout`` is the normal way to fire timers).

        Raises ``LocalProtocolError`` when the table has no arc for ``(state, event)``, a
        timer is fed that is not running, or the message does not fit the input; the
        transaction is then left exactly as it was. Timers due at ``now`` after the
        transition fire before returning: that is how Timers D/I/J/K of zero seconds on
        reliable transports end a transaction at once.
        """
        out: list[Output] = []
        self._step(event, now, message, source, out)
        self._fire_due(now, out)
        return out

    def transport_error(self, now: float) -> list[Output]:
        """The transport failed to send one of this transaction's messages (§17.1.4,
        §17.2.4, §18.4)."""
        return self.handle(Input.TRANSPORT_ERROR, now)

    def abandon(self, now: float) -> list[Output]:
        """The TU destroys the transaction without waiting for it (§9.1; shutdown)."""
        return self.handle(Input.ABANDON, now)

    def handle_timeout(self, now: float) -> list[Output]:
        """Fire every timer whose deadline is at or before ``now``, earliest first."""
        out: list[Output] = []
        self._fire_due(now, out)
        return out

    # -- the walk --------------------------------------------------------------------------

    def _step(
        self,
        event: Input | Timer,
        now: float,
        message: Message | None,
        source: Peer | None,
        out: list[Output],
    ) -> None:
        state = self.state
        # Everything that can refuse the input is checked before anything changes, so a
        # refused input leaves the machine consistent.
        action, target = transition(self.kind, state, event)
        if isinstance(event, Timer):
            if event not in self._deadlines:
                raise LocalProtocolError(f"{event.name} is not running in {state.name}")
            # A timer fires once; a retransmission action may start it again.
            del self._deadlines[event]
        else:
            self._check(event, message)
        if action is not None:
            self._run(action, event, now, message, source, out)
        if target is not state:
            self._enter(target, now, out)

    def _fire_due(self, now: float, out: list[Output]) -> None:
        while self._state is not State.TERMINATED:
            due = [(deadline, timer.value, timer) for timer, deadline in self._deadlines.items()]
            due = [item for item in due if item[0] <= now]
            if not due:
                return
            # Earliest first; equal deadlines in letter order, so runs are reproducible.
            _, _, timer = min(due)
            self._step(timer, now, None, None, out)

    def _enter(self, target: State, now: float, out: list[Output]) -> None:
        live = STATE_TIMERS.get((self.kind, target), frozenset())
        # Leaving a state stops the timers the new state does not use (§17.1.1.2: no
        # retransmission and no Timer B once Proceeding).
        for timer in [t for t in self._deadlines if t not in live]:
            del self._deadlines[timer]
            self._intervals.pop(timer, None)
        for timer in sorted(live, key=lambda t: t.value):
            # §17.1.1.2, §17.1.2.2, §17.2.1: A, E and G are not started on reliable
            # transports; a timer already running (E and F into Proceeding) runs on.
            if timer in self._deadlines or not runs_on(timer, self.reliable):
                continue
            duration = initial_duration(timer, self.config, self.reliable)
            self._deadlines[timer] = now + duration
            if timer in RETRANSMIT_TIMERS:
                self._intervals[timer] = duration
        self._state = target
        if target is State.TERMINATED:
            # §17.1.1.2, §17.2.2: destroyed the instant it enters Terminated.
            self._deadlines.clear()
            self._intervals.clear()
            out.append(TransactionTerminated(self.key))

    def _restart(self, timer: Timer, interval: float, now: float) -> None:
        """Start a retransmission timer again, ``interval`` seconds from ``now``."""
        # §17.1.1.2: "MUST reset the timer": the new interval counts from the firing, so a
        # late handle_timeout delays later retransmissions instead of bunching them up.
        self._intervals[timer] = interval
        self._deadlines[timer] = now + interval

    def _back_off(self, timer: Timer, now: float) -> None:
        self._restart(timer, backoff(timer, self._intervals[timer], self.config), now)

    def _stop(self, timer: Timer) -> None:
        self._deadlines.pop(timer, None)
        self._intervals.pop(timer, None)

    # -- hooks for the subclasses ------------------------------------------------------

    def _check(self, event: Input, message: Message | None) -> None:
        """Refuse a message that does not fit ``event`` (raise ``LocalProtocolError``)."""
        raise NotImplementedError

    def _run(
        self,
        action: Action,
        event: Input | Timer | None,
        now: float,
        message: Message | None,
        source: Peer | None,
        out: list[Output],
    ) -> None:
        """Carry out ``action``; ``event`` is None on the entry arc."""
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "unstarted" if self._state is None else self._state.name
        return f"<{self.kind.name} {self.key.method} {self.key.branch} {state}>"
