"""An Enum that hashes as fast as a plain object.

``enum.Enum.__hash__`` is Python code (``hash(self._name_)``); the transaction layer looks
its states, inputs and timers up in dicts dozens of times per relayed message, and that
hash alone was a measurable share of a relay. Members are singletons compared by identity,
so the identity hash is just as correct.
"""

from __future__ import annotations

import enum


class FastEnum(enum.Enum):
    __hash__ = object.__hash__
