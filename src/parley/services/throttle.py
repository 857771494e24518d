"""Throttling of password guessing against Digest authentication (RFC 3261 §22, RFC 7616 §5).

Digest lets anyone who can send a request test one password per request, so a server must
limit how often a source may be wrong. This follows what Kamailio's pike and htable modules
are used for in practice, kept in bounded memory:

* **per source IP**: ``ip_threshold`` failures from one address (against any users) within
  ``window`` seconds lock that address out completely for ``lockout`` seconds;
* **per (user, IP)**: ``pair_threshold`` failures for one user from one address lock that
  address out *for that user only*;
* **per user**: ``user_threshold`` failures against one user (from any addresses, i.e. a
  distributed attack that stays under the per-IP limit) mark the user "under attack" for
  ``lockout`` seconds. Meanwhile every address that failed for that user within the window
  is locked out for it, and any further failure locks its address for that user at once.
  An address that has not failed for the user (the real user at home, on the phone) is
  untouched: the attacker cannot lock the real user out by guessing, which a plain per-user
  lock would allow.

Only wrong credentials count (a digest that does not verify, an unknown user, unparseable
credentials). A request without credentials, or with a stale nonce, is the normal first leg
of the handshake and counts for nothing.

Time comes from an injected ``clock`` (seconds, any epoch), so tests need no sleeping. Every
table is an LRU of at most ``max_entries`` keys: under a flood of distinct (possibly spoofed)
addresses or user names the oldest entries are forgotten rather than memory growing without
bound. That only ever forgets a counter or lock, so the failure mode is "less throttling
during a flood", never "a real user locked out".
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    """Thresholds (failure counts), durations (seconds) and the size bound (keys per table)."""

    window: float = 60.0
    ip_threshold: int = 20
    user_threshold: int = 10
    pair_threshold: int = 5
    lockout: float = 300.0
    max_entries: int = 10_000

    def __post_init__(self) -> None:
        for name in ("ip_threshold", "user_threshold", "pair_threshold", "max_entries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("window", "lockout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds")


@dataclass(slots=True)
class _Count:
    """Failures counted in a fixed window that started at ``start``."""

    start: float
    count: int


class _Lru(Generic[K, V]):
    """An insertion/touch-ordered dict that drops its oldest key beyond ``limit`` keys."""

    __slots__ = ("_items", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        items = self._items
        if key in items:
            items.move_to_end(key)
        elif len(items) >= self.limit:
            items.popitem(last=False)
        items[key] = value

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


class Throttle:
    """Counts failed authentications and says which sources are locked out.

    ``ip`` is the source address of the request as a string; ``user`` the AOR the
    credentials named (``None`` when they named nobody usable). All times come from
    ``clock()``.
    """

    def __init__(self, config: ThrottleConfig | None = None, *, clock: Clock) -> None:
        self.config = config or ThrottleConfig()
        self._clock = clock
        limit = self.config.max_entries
        self._by_ip: _Lru[str, _Count] = _Lru(limit)
        self._by_user: _Lru[str, _Count] = _Lru(limit)
        self._by_pair: _Lru[tuple[str, str], _Count] = _Lru(limit)
        self._ip_locked: _Lru[str, float] = _Lru(limit)
        self._pair_locked: _Lru[tuple[str, str], float] = _Lru(limit)
        self._under_attack: _Lru[str, float] = _Lru(limit)
        #: Told ``("failure" | "success", ip, user)`` of each record made here, so that the
        #: other processes of a server (``parley serve --workers``) count it too.
        self.on_record: Callable[[str, str, str | None], None] | None = None

    def __len__(self) -> int:
        """Keys held over all tables: at most six times ``max_entries``."""
        return (
            len(self._by_ip)
            + len(self._by_user)
            + len(self._by_pair)
            + len(self._ip_locked)
            + len(self._pair_locked)
            + len(self._under_attack)
        )

    def is_blocked(self, ip: str, user: str | None = None) -> bool:
        """Whether a request from ``ip`` (for ``user``, if known yet) must be refused."""
        now = self._clock()
        if _active(self._ip_locked.get(ip), now):
            return True
        if user is None:
            return False
        pair = (user, ip)
        if _active(self._pair_locked.get(pair), now):
            return True
        if _active(self._under_attack.get(user), now):
            # A distributed attack on this user: the addresses it came from are shut out,
            # the others (where the real user is) are not.
            return self._current(self._by_pair.get(pair), now) > 0
        return False

    def record_failure(self, ip: str, user: str | None = None) -> None:
        """Count one wrong password (or unknown user) from ``ip`` for ``user``."""
        self._record_failure(ip, user)
        if self.on_record is not None:
            self.on_record("failure", ip, user)

    def apply(self, kind: str, ip: str, user: str | None) -> None:
        """A record another process made (see ``on_record``), counted here too."""
        if kind == "failure":
            self._record_failure(ip, user)
        elif kind == "success" and user is not None:
            self._by_pair.pop((user, ip))

    def _record_failure(self, ip: str, user: str | None) -> None:
        now = self._clock()
        config = self.config
        lock_until = now + config.lockout
        if self._bump(self._by_ip, ip, now) >= config.ip_threshold:
            self._ip_locked.put(ip, lock_until)
        if user is None:
            return
        pair = (user, ip)
        pair_count = self._bump(self._by_pair, pair, now)
        attacked = _active(self._under_attack.get(user), now)
        if self._bump(self._by_user, user, now) >= config.user_threshold and not attacked:
            self._under_attack.put(user, lock_until)
            attacked = True
        if pair_count >= config.pair_threshold or attacked:
            self._pair_locked.put(pair, lock_until)

    def record_success(self, ip: str, user: str) -> None:
        """A correct password from ``ip`` for ``user``: forget that pair's failures (typos).

        The per-IP and per-user counts stay: a valid login of the attacker's own account must
        not reset the count of its guesses at other accounts.
        """
        self._by_pair.pop((user, ip))
        if self.on_record is not None:
            self.on_record("success", ip, user)

    def _bump(self, table: _Lru[K, _Count], key: K, now: float) -> int:
        entry = table.get(key)
        if entry is None or now - entry.start >= self.config.window:
            entry = _Count(now, 0)
        entry.count += 1
        table.put(key, entry)
        return entry.count

    def _current(self, entry: _Count | None, now: float) -> int:
        if entry is None or now - entry.start >= self.config.window:
            return 0
        return entry.count


def _active(until: float | None, now: float) -> bool:
    return until is not None and now < until


__all__ = ["Throttle", "ThrottleConfig"]
