"""The Digest guessing throttle, sans I/O: a clock the test moves, no event loop."""

from __future__ import annotations

import pytest

from parley.services.throttle import Throttle, ThrottleConfig

ALICE = "alice@example.com"
BOB = "bob@example.com"
HOME = "192.0.2.1"
ATTACKER = "198.51.100.7"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **overrides: float) -> Throttle:
    values: dict[str, float] = {
        "window": 60.0,
        "ip_threshold": 10,
        "user_threshold": 6,
        "pair_threshold": 3,
        "lockout": 300.0,
        "max_entries": 1000,
    }
    values.update(overrides)
    config = ThrottleConfig(
        window=values["window"],
        ip_threshold=int(values["ip_threshold"]),
        user_threshold=int(values["user_threshold"]),
        pair_threshold=int(values["pair_threshold"]),
        lockout=values["lockout"],
        max_entries=int(values["max_entries"]),
    )
    return Throttle(config, clock=clock)


def test_pair_lock_spares_other_users_and_other_addresses() -> None:
    clock = Clock()
    throttle = make(clock)
    for _ in range(2):
        throttle.record_failure(ATTACKER, ALICE)
    assert not throttle.is_blocked(ATTACKER, ALICE)
    throttle.record_failure(ATTACKER, ALICE)
    assert throttle.is_blocked(ATTACKER, ALICE)
    assert not throttle.is_blocked(ATTACKER)  # the address as such is not locked
    assert not throttle.is_blocked(ATTACKER, BOB)
    assert not throttle.is_blocked(HOME, ALICE)


def test_lockout_ends() -> None:
    clock = Clock()
    throttle = make(clock)
    for _ in range(3):
        throttle.record_failure(ATTACKER, ALICE)
    clock.now += 299
    assert throttle.is_blocked(ATTACKER, ALICE)
    clock.now += 2
    assert not throttle.is_blocked(ATTACKER, ALICE)


def test_failures_outside_the_window_do_not_add_up() -> None:
    clock = Clock()
    throttle = make(clock)
    for _ in range(5):
        throttle.record_failure(ATTACKER, ALICE)
        throttle.record_failure(ATTACKER, ALICE)
        clock.now += 61  # two per window stay below pair_threshold=3
        assert not throttle.is_blocked(ATTACKER, ALICE)


def test_address_guessing_many_users_is_locked_for_everyone() -> None:
    clock = Clock()
    throttle = make(clock)
    for i in range(10):
        throttle.record_failure(ATTACKER, f"user{i}@example.com")
    assert throttle.is_blocked(ATTACKER)
    assert throttle.is_blocked(ATTACKER, BOB)
    assert not throttle.is_blocked(HOME)


def test_distributed_attack_locks_the_attacking_addresses_only() -> None:
    clock = Clock()
    throttle = make(clock)
    attackers = [f"203.0.113.{i}" for i in range(6)]
    for ip in attackers[:5]:
        throttle.record_failure(ip, ALICE)  # one guess each: no pair or IP limit reached
        assert not throttle.is_blocked(ip, ALICE)
    throttle.record_failure(attackers[5], ALICE)  # the sixth failure: alice is under attack
    assert all(throttle.is_blocked(ip, ALICE) for ip in attackers)
    assert not throttle.is_blocked(HOME, ALICE)  # the real alice still gets in
    # A new address that fails during the attack is shut out at once.
    throttle.record_failure("203.0.113.99", ALICE)
    assert throttle.is_blocked("203.0.113.99", ALICE)
    assert not throttle.is_blocked("203.0.113.99", BOB)


def test_success_forgets_the_pairs_typos_but_not_the_address_count() -> None:
    clock = Clock()
    throttle = make(clock, ip_threshold=5)
    throttle.record_failure(HOME, ALICE)
    throttle.record_failure(HOME, ALICE)
    throttle.record_success(HOME, ALICE)
    throttle.record_failure(HOME, ALICE)
    throttle.record_failure(HOME, ALICE)
    assert not throttle.is_blocked(HOME, ALICE)  # 2 since the success, below 3
    # But the address has failed 4 times in the window, and a fifth reaches ip_threshold:
    # logging in to one's own account does not buy more guesses at others.
    throttle.record_failure(HOME, BOB)
    assert throttle.is_blocked(HOME)


def test_memory_is_bounded() -> None:
    clock = Clock()
    throttle = make(clock, max_entries=8, ip_threshold=1)
    for i in range(1000):
        throttle.record_failure(f"10.0.{i // 256}.{i % 256}", f"user{i}@example.com")
    assert len(throttle) <= 6 * 8
    # The newest addresses are still remembered and locked.
    assert throttle.is_blocked("10.0.3.231")


@pytest.mark.parametrize(
    "overrides",
    [{"window": 0}, {"lockout": -1}, {"ip_threshold": 0}, {"max_entries": 0}],
)
def test_config_is_checked(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        make(Clock(), **overrides)


def test_records_are_reported_and_records_from_elsewhere_count() -> None:
    # parley serve --workers: each process reports what it counted (on_record) and applies
    # what the others counted (apply), so that guesses spread over processes add up.
    clock = Clock()
    here, there = make(clock), make(clock)
    reported: list[tuple[str, str, str | None]] = []
    here.on_record = lambda kind, ip, user: reported.append((kind, ip, user))
    for _ in range(2):
        here.record_failure(ATTACKER, ALICE)
    here.record_success(HOME, ALICE)
    assert reported == [
        ("failure", ATTACKER, ALICE),
        ("failure", ATTACKER, ALICE),
        ("success", HOME, ALICE),
    ]
    for record in reported:
        there.apply(*record)
    assert not there.is_blocked(ATTACKER, ALICE)
    there.record_failure(ATTACKER, ALICE)  # the third of the pair threshold
    assert there.is_blocked(ATTACKER, ALICE)
    assert not there.is_blocked(HOME, ALICE)
