"""The document lock that the XCAP server and the presence service share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.services.storage.memory import MemoryStorage
from parley.services.storage.sqlite import SqliteStorage


@pytest.fixture(params=["memory", "sqlite"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MemoryStorage | SqliteStorage]:
    if request.param == "memory":
        yield MemoryStorage()
        return
    async with SqliteStorage(tmp_path / "parley.db") as sqlite:
        yield sqlite


async def test_one_writer_per_document_and_nothing_left_behind(
    store: MemoryStorage | SqliteStorage,
) -> None:
    order: list[str] = []

    async def writer(name: str, key: str) -> None:
        async with store.document_lock("alice@example.com", "pres-rules", key):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(writer("a", "index"), writer("b", "index"))
    # Same document: one after the other, never interleaved.
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    order.clear()
    await asyncio.gather(writer("a", "index"), writer("b", "other"))
    # Other documents do not wait for each other.
    assert order[:2] in (["a in", "b in"], ["b in", "a in"])
    assert len(store._document_locks) == 0
