"""DeadlineTimer: one loop timer that follows a machine's next deadline."""

from __future__ import annotations

import asyncio

from parley.runtime.timer import DeadlineTimer


async def test_fires_once_at_the_last_deadline_given() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    done = asyncio.Event()

    def on_time() -> None:
        fired.append(loop.time())
        done.set()

    timer = DeadlineTimer(on_time)
    start = loop.time()
    timer.arm(start + 30)  # moved earlier before it fires: only the new deadline counts
    timer.arm(start + 0.02)
    await asyncio.wait_for(done.wait(), 10)
    await asyncio.sleep(0.05)
    assert len(fired) == 1 and fired[0] >= start + 0.02


async def test_none_and_cancel_stop_it() -> None:
    fired: list[int] = []
    timer = DeadlineTimer(lambda: fired.append(1))
    now = asyncio.get_running_loop().time()
    timer.arm(now + 0.01)
    timer.arm(None)
    timer.arm(now + 0.01)
    timer.cancel()
    await asyncio.sleep(0.05)
    assert fired == []
