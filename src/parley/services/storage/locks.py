"""Locks by key that disappear when nobody holds or waits for them.

Documents (XCAP, pres-rules) are changed read-modify-write by more than one part of the
server: the XCAP server for HTTP clients, the presence service for answers to friend
requests given over SIP. They must take the same lock, so the lock lives with the store
that both share. One process today; several nodes would need a lock in the shared store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedLocks:
    """One :class:`asyncio.Lock` per key, created on first use, dropped after last use."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


__all__ = ["KeyedLocks"]
