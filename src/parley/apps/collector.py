"""When the server runs CPython's cyclic garbage collector: rarely, on a timer.

Reference counting frees what Parley makes per message: under a MESSAGE load no
reference cycle was found at all (0 objects in cycles after 15 s at 3,000 relays/s,
docs/benchmarks.md). The collector's automatic runs still walk every object that lives a
while, and a relaying server keeps tens of thousands of them (transactions stay 32 s after
their answer, RFC 3261 §17.2.2): with its thresholds, collections of the youngest
generation took 300-400 ms each once the heap had grown, a third of a core and stalls
that clients see as retransmissions. So ``parley serve`` switches the automatic
collector off after start-up and collects on a timer instead: after ``first`` seconds,
then at intervals doubling while collections find nothing, up to ``longest``, and back to
``first`` when one does (a code path making cycles is then cleaned up often). Each such
collection walks the whole heap: under heavy load it pauses the process for most of a
second (0.7-0.9 s with some 800,000 objects), once every 5 to 60 minutes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)


async def collect_periodically(first: float = 300.0, longest: float = 3600.0) -> None:
    """Run forever (cancel to stop): the automatic collector off, full collections on a
    timer as described above. Whatever start-up made is frozen out of every collection."""
    gc.freeze()
    gc.disable()
    interval = first
    try:
        while True:
            await asyncio.sleep(interval)
            began = time.perf_counter()
            found = gc.collect()
            took = time.perf_counter() - began
            log.info("garbage collection: %d objects in cycles, %.0f ms", found, took * 1000)
            interval = first if found else min(interval * 2, longest)
    finally:
        gc.enable()
