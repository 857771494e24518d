"""Helpers of the SDK tests: a real Parley server (``start_server``) on loopback with its
own SQLite data directory, users alice, bob and carol, and SDK accounts for them.

Presence timings are injected small (RFC 3856 §6.12's 5 s rate limit would make tests
sleep); every wait is bounded by ``WAIT`` and nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.apps.users import add_user
from parley.client import Account, ReconnectPolicy
from parley.client.presence import Watch
from parley.services.presence import PresenceConfig

T = TypeVar("T")

DOMAIN = "example.com"
USERS = ("alice", "bob", "carol")
WAIT = 15.0
TIMINGS = PresenceConfig(
    min_notify_interval=0.05,
    min_expires=1,
    publish_min_expires=1,
    publication_sweep=0.2,
    persist_delay=0.05,
)
#: Reconnect quickly in tests (the defaults start at 1 s and grow to a minute).
FAST_RECONNECT = ReconnectPolicy(initial=0.1, maximum=0.5)


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


async def start(data_dir: Path, port: int = 0) -> Server:
    config = build_config(
        {
            "domain": [DOMAIN],
            "listen": [f"udp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}"],
            "data-dir": str(data_dir),
        },
        {},
    )
    return await start_server(config, presence=TIMINGS)


async def add_users(server: Server) -> None:
    for user in USERS:
        await add_user(server.storage, f"{user}@{DOMAIN}", f"{user}-password")


def port_of(server: Server, transport: str) -> int:
    return next(item.port for item in server.listeners if item.transport == transport)


def account(server: Server, user: str, transport: str = "udp", **options: Any) -> Account:
    return Account(
        f"{user}@{DOMAIN}",
        f"{user}-password",
        server=("127.0.0.1", port_of(server, transport)),
        transport=transport,
        **options,
    )


async def until(watch: Watch[T], predicate: Callable[[T], bool], wait: float = WAIT) -> T:
    """The first change of ``watch`` satisfying ``predicate`` within ``wait`` seconds."""

    async def scan() -> T:
        async for change in watch:
            if predicate(change):
                return change
        raise AssertionError("the subscription ended first")

    return await asyncio.wait_for(scan(), wait)


async def eventually(check: Callable[[], Any], wait: float = WAIT) -> None:
    """Poll ``check`` (sync or async) until it is true, for at most ``wait`` seconds."""

    async def poll() -> None:
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), wait)
