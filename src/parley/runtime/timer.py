"""One ``loop.call_at`` that follows the next deadline of a sans-I/O machine.

The SIP core's machines (transactions, subscription tables) say when they next need the
time (``next_deadline()``) and act when told it (``handle_timeout(now)``). Their asyncio
drivers keep one timer each, moved whenever the deadline moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class DeadlineTimer:
    """Calls ``callback()`` at the deadline last given to :meth:`arm` (loop time)."""

    __slots__ = ("_at", "_callback", "_handle")

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None

    def arm(self, deadline: float | None) -> None:
        """Fire at ``deadline`` (None: not at all), replacing the deadline before."""
        if deadline == self._at and (deadline is None or self._handle is not None):
            return
        self.cancel()
        self._at = deadline
        if deadline is not None:
            self._handle = asyncio.get_running_loop().call_at(deadline, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._at = None

    def _fire(self) -> None:
        self._handle = None
        self._at = None
        self._callback()


__all__ = ["DeadlineTimer"]
