"""The server's garbage collection policy: automatic collections off, cycles collected
on a timer."""

from __future__ import annotations

import asyncio
import gc
import weakref

from parley.apps.collector import collect_periodically


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


async def test_cycles_are_collected_on_the_timer_and_the_collector_is_restored() -> None:
    task = asyncio.get_running_loop().create_task(collect_periodically(first=0.05))
    try:
        await asyncio.sleep(0)  # the task has switched the automatic collector off
        assert not gc.isenabled()
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = asyncio.Event()
        weakref.finalize(a, gone.set)
        del a, b  # unreachable, but only a collection can free a cycle
        await asyncio.wait_for(gone.wait(), 5.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        gc.unfreeze()  # what the task froze belongs to the test process
    assert gc.isenabled()
