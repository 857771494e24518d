"""Transaction timers of RFC 3261 §17 and Appendix A, with RFC 6026's Timers L and M.

Nothing here keeps a clock. A transaction stores each running timer as an absolute deadline,
``now + duration``, where ``now`` is the float the caller passed in (seconds on any monotonic
scale: ``loop.time()`` in the runtime, a plain float in tests). This module only says how
long each timer runs and how the retransmission timers back off.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.sip.errors import LocalProtocolError
from parley.sip.fast_enum import FastEnum

__all__ = [
    "RETRANSMIT_TIMERS",
    "Timer",
    "TimerConfig",
    "backoff",
    "initial_duration",
    "runs_on",
]


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2 and T4 of RFC 3261 Appendix A, in seconds; frozen so that no transaction's
    timing changes under it (PJSIP's global mutable config is the cautionary tale).

    ``t1`` is the round-trip estimate (§17.1.1.1, default 500 ms); ``t2`` caps the
    retransmission interval of non-INVITE requests and of INVITE responses (§17.1.2.2, 4 s);
    ``t4`` is how long a message may live in the network (§17.1.2.2, 5 s).
    ``trying_delay`` is §17.2.1's 200 ms: an INVITE server transaction answers 100 Trying
    on its own unless the TU responds within it.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    trying_delay: float = 0.2

    def __post_init__(self) -> None:
        # §17.1.1.2: T1 MAY be larger or (not recommended) smaller, but it is never zero,
        # and a cap below the first interval would make the back-off shrink.
        if not self.t1 > 0:
            raise LocalProtocolError("T1 must be positive")
        if not self.t2 >= self.t1:
            raise LocalProtocolError("T2 must not be smaller than T1")
        if not self.t4 >= 0 or not self.trying_delay >= 0:
            raise LocalProtocolError("T4 and the 100 Trying delay must not be negative")


class Timer(FastEnum):
    """The timers of RFC 3261 Table 4 (Appendix A) plus RFC 6026 §8.4 (M) and §8.7 (L).

    Timer C (§16.6 bullet 11) belongs to the proxy core and is listed only so that the
    letters are complete; no transaction arms it. ``TRYING`` is §17.2.1's unnamed 200 ms
    deadline for the INVITE server's own 100 (Trying).
    """

    TIMER_A = "A"  # §17.1.1.2: INVITE request retransmit interval, unreliable only
    TIMER_B = "B"  # §17.1.1.2: INVITE transaction timeout
    TIMER_C = "C"  # §16.6 bullet 11: proxy INVITE timeout (proxy core, not armed here)
    TIMER_D = "D"  # §17.1.1.2: wait for response retransmits (>= 32 s unreliable, 0 reliable)
    TIMER_E = "E"  # §17.1.2.2: non-INVITE request retransmit interval, unreliable only
    TIMER_F = "F"  # §17.1.2.2: non-INVITE transaction timeout
    TIMER_G = "G"  # §17.2.1: INVITE response retransmit interval, unreliable only
    TIMER_H = "H"  # §17.2.1: wait for ACK receipt
    TIMER_I = "I"  # §17.2.1: wait for ACK retransmits (T4 unreliable, 0 reliable)
    TIMER_J = "J"  # §17.2.2: wait for non-INVITE request retransmits (64*T1 / 0)
    TIMER_K = "K"  # §17.1.2.2: wait for response retransmits (T4 unreliable, 0 reliable)
    TIMER_L = "L"  # RFC 6026 §8.7: wait for 2xx retransmits from the TU and for the ACK
    TIMER_M = "M"  # RFC 6026 §8.4: wait for 2xx retransmits (forked INVITE)
    TRYING = "200 ms"  # §17.2.1: send 100 Trying if the TU has not answered by then


#: Timers that drive retransmissions. §17.1.1.2, §17.1.2.2 and §17.2.1 start them only on
#: unreliable transports: a reliable transport already retransmits below SIP.
RETRANSMIT_TIMERS = frozenset({Timer.TIMER_A, Timer.TIMER_E, Timer.TIMER_G})

# §17.1.1.2 (D), §17.2.1 (I), §17.2.2 (J), §17.1.2.2 (K): these only absorb retransmissions,
# and there are none on a reliable transport, so they run for zero seconds there.
_ZERO_WHEN_RELIABLE = frozenset({Timer.TIMER_D, Timer.TIMER_I, Timer.TIMER_J, Timer.TIMER_K})


def runs_on(timer: Timer, reliable: bool) -> bool:
    """Whether ``timer`` is started at all on a transport of that reliability."""
    return not (reliable and timer in RETRANSMIT_TIMERS)


def initial_duration(timer: Timer, config: TimerConfig, reliable: bool) -> float:
    """Seconds from starting ``timer`` to its firing (RFC 3261 Table 4, RFC 6026 §8.4/§8.7)."""
    t1, t4 = config.t1, config.t4
    if reliable and timer in _ZERO_WHEN_RELIABLE:
        return 0.0
    if timer in RETRANSMIT_TIMERS:
        # §17.1.1.2 (A), §17.1.2.2 (E), §17.2.1 (G): the first interval is T1.
        return t1
    if timer is Timer.TIMER_D:
        # §17.1.1.2: "at least 32 seconds"; the client cannot know the server's T1, so 32 s
        # is a floor, not 64*T1 (which equals it only at the default T1).
        return max(32.0, 64 * t1)
    if timer in (Timer.TIMER_I, Timer.TIMER_K):
        # §17.2.1 (I) and §17.1.2.2 (K): T4 on unreliable transports.
        return t4
    if timer is Timer.TRYING:
        # §17.2.1: "unless it knows that the TU will generate a ... response within 200 ms".
        return config.trying_delay
    if timer is Timer.TIMER_C:
        raise LocalProtocolError("Timer C belongs to the proxy core (§16.6), not a transaction")
    # §17.1.1.2 (B), §17.1.2.2 (F), §17.2.1 (H), §17.2.2 (J unreliable), RFC 6026 (L, M):
    # 64*T1, the time it takes to send seven requests with doubling intervals.
    return 64 * t1


def backoff(timer: Timer, interval: float, config: TimerConfig) -> float:
    """The next interval of a retransmission timer that just fired after ``interval``.

    §17.1.1.2: Timer A doubles without bound (0.5, 1, 2, 4, 8, 16 s; Timer B ends it).
    §17.1.2.2 and §17.2.1: Timers E and G double up to T2 (0.5, 1, 2, 4, 4, 4 s).
    """
    if timer is Timer.TIMER_A:
        return 2 * interval
    if timer in (Timer.TIMER_E, Timer.TIMER_G):
        return min(2 * interval, config.t2)
    raise LocalProtocolError(f"{timer.name} is not a retransmission timer")
