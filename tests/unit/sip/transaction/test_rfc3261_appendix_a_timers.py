"""RFC 3261 Appendix A (Table 4) and RFC 6026 §8.4/§8.7: timer values and back-off."""

from __future__ import annotations

import dataclasses

import pytest

from parley.sip.errors import LocalProtocolError
from parley.sip.transaction.timers import (
    RETRANSMIT_TIMERS,
    Timer,
    TimerConfig,
    backoff,
    initial_duration,
    runs_on,
)

DEFAULT = TimerConfig()

TABLE_4 = {
    # timer: (unreliable, reliable)
    Timer.TIMER_A: (0.5, 0.5),
    Timer.TIMER_B: (32.0, 32.0),
    Timer.TIMER_D: (32.0, 0.0),
    Timer.TIMER_E: (0.5, 0.5),
    Timer.TIMER_F: (32.0, 32.0),
    Timer.TIMER_G: (0.5, 0.5),
    Timer.TIMER_H: (32.0, 32.0),
    Timer.TIMER_I: (5.0, 0.0),
    Timer.TIMER_J: (32.0, 0.0),
    Timer.TIMER_K: (5.0, 0.0),
    Timer.TIMER_L: (32.0, 32.0),
    Timer.TIMER_M: (32.0, 32.0),
    Timer.TRYING: (0.2, 0.2),
}


def test_defaults_are_table_4():
    assert (DEFAULT.t1, DEFAULT.t2, DEFAULT.t4) == (0.5, 4.0, 5.0)


@pytest.mark.parametrize(("timer", "values"), TABLE_4.items(), ids=lambda v: str(v))
def test_initial_durations(timer, values):
    unreliable, reliable = values
    assert initial_duration(timer, DEFAULT, reliable=False) == unreliable
    assert initial_duration(timer, DEFAULT, reliable=True) == reliable


def test_retransmission_timers_do_not_run_on_reliable_transports():
    for timer in Timer:
        assert runs_on(timer, reliable=False)
        assert runs_on(timer, reliable=True) == (timer not in RETRANSMIT_TIMERS)


def test_backoff():
    assert backoff(Timer.TIMER_A, 16.0, DEFAULT) == 32.0  # no cap: Timer B ends A
    assert backoff(Timer.TIMER_E, 0.5, DEFAULT) == 1.0
    assert backoff(Timer.TIMER_E, 4.0, DEFAULT) == 4.0
    assert backoff(Timer.TIMER_G, 2.0, DEFAULT) == 4.0
    assert backoff(Timer.TIMER_G, 4.0, DEFAULT) == 4.0
    with pytest.raises(LocalProtocolError):
        backoff(Timer.TIMER_B, 1.0, DEFAULT)


def test_timer_c_belongs_to_the_proxy():
    with pytest.raises(LocalProtocolError):
        initial_duration(Timer.TIMER_C, DEFAULT, reliable=False)


def test_config_is_frozen_and_checked():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.t1 = 1.0  # type: ignore[misc]
    for bad in ({"t1": 0}, {"t1": 1.0, "t2": 0.5}, {"t4": -1}, {"trying_delay": -0.1}):
        with pytest.raises(LocalProtocolError):
            TimerConfig(**bad)
