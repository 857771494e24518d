"""Helpers of the presence tests: a Parley server on loopback with real SQLite.

Timings are injected small (rate limit, minimum expiries, sweeps) so that no test sleeps
through RFC defaults; every wait is bounded (``WAIT``) and nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.apps.users import add_user
from parley.client import Account
from parley.client.presence import Watch
from parley.runtime.endpoint import ServerRequest
from parley.services.presence import PresenceConfig
from parley.sip.core.subscription import SubscriptionState
from parley.sip.syntax import Request

T = TypeVar("T")

DOMAIN = "example.com"
USERS = ("alice", "bob", "carol")
#: The bound of every wait for a NOTIFY or a response: only a broken run waits this long.
WAIT = 10.0
#: Short timings for tests: RFC 3856 §6.12's 5 s rate limit and one-minute minimum
#: expiries would make every test sleep.
TIMINGS = PresenceConfig(
    min_notify_interval=0.05,
    min_expires=1,
    publish_min_expires=1,
    publication_sweep=0.2,
    persist_delay=0.05,
)


def server_config(data_dir: Path, listen: list[str], **settings: object) -> dict[str, object]:
    return {
        "domain": [DOMAIN],
        "listen": listen,
        "data-dir": str(data_dir),
        **settings,
    }


async def start(
    data_dir: Path,
    listen: list[str] | None = None,
    timings: PresenceConfig = TIMINGS,
    **settings: object,
) -> Server:
    config = build_config(
        server_config(data_dir, listen or ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], **settings), {}
    )
    return await start_server(config, presence=timings)


def port_of(server: Server, transport: str) -> int:
    return next(item.port for item in server.listeners if item.transport == transport)


async def add_users(server: Server, *users: str) -> None:
    for user in users or USERS:
        await add_user(server.storage, f"{user}@{DOMAIN}", f"{user}-password")


def make_account(server: Server, user: str, transport: str = "udp") -> Account:
    return Account(
        f"{user}@{DOMAIN}",
        f"{user}-password",
        server=("127.0.0.1", port_of(server, transport)),
        transport=transport,
    )


async def until(watch: Watch[T], predicate: Callable[[T], bool], wait: float = WAIT) -> T:
    """The first change of ``watch`` that satisfies ``predicate``, reading at most for
    ``wait`` seconds (TimeoutError otherwise): intermediate NOTIFYs may come first, as a
    registration and a publication each change the document."""

    async def scan() -> T:
        async for change in watch:
            if predicate(change):
                return change
        raise AssertionError("the subscription ended first")

    return await asyncio.wait_for(scan(), wait)


class NotifyCollector:
    """Answers 200 to every NOTIFY an account receives and keeps them, for tests that
    SUBSCRIBE by hand (``Account.request``) rather than through ``Account.watch``."""

    def __init__(self, account: Account) -> None:
        self.notifies: asyncio.Queue[Request] = asyncio.Queue()
        account.event_hooks.append(self._hook)

    def _hook(self, incoming: ServerRequest) -> bool:
        if incoming.request.method != "NOTIFY":
            return False
        incoming.respond(200)
        self.notifies.put_nowait(incoming.request)
        return True

    async def next(self, wait: float = WAIT) -> Request:
        return await asyncio.wait_for(self.notifies.get(), wait)


def subscription_state(notify: Request) -> SubscriptionState:
    return SubscriptionState.parse(notify.headers.get("Subscription-State") or "")


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
