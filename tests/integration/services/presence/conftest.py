"""Fixtures of the presence tests: a server with alice, bob and carol, and their accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from presence_support import add_users, make_account, start

from parley.apps.server import Server
from parley.client import Account


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await start(tmp_path / "data")
    await add_users(running)
    yield running
    await running.close()


@pytest.fixture
def account(server: Server) -> Callable[..., Account]:
    def make(user: str, transport: str = "udp") -> Account:
        return make_account(server, user, transport)

    return make
