"""BackgroundTasks: work a service starts and must stop when it closes."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import pytest

from parley.runtime.tasks import BackgroundTasks


async def test_close_cancels_even_what_never_started() -> None:
    tasks = BackgroundTasks("test work")
    started: list[int] = []

    async def work() -> None:
        started.append(1)
        await asyncio.sleep(60)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "coroutine ... was never awaited"
        tasks.spawn(work())
        await tasks.close()  # before the task ever ran
        gc.collect()
    assert started == [] and len(tasks) == 0


async def test_a_failure_is_logged_and_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks("test work")

    async def fail() -> None:
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR):
        tasks.spawn(fail())
        for _ in range(3):
            await asyncio.sleep(0)
    assert len(tasks) == 0
    assert any("test work failed" in r.getMessage() for r in caplog.records)
