"""End-to-end tests of the browser client: a real ``start_server`` on loopback with its HTTP
port (the page at ``/``, SIP over WebSocket at ``/ws``, XCAP), driven in Debian's headless
Chromium through Playwright. They skip only when Chromium, Playwright or the built client
(``scripts/build-web``) is absent; CI installs all three (``scripts/test``)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from parley.apps.config import ServerConfig, build_config
from parley.apps.server import Server, start_server
from parley.apps.users import add_user
from parley.apps.web import STATIC_DIR
from parley.services.presence import PresenceConfig

DOMAIN = "example.com"
USERS = ("alice", "bob", "carol", "dave")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Generous: a loaded two-core machine runs Chromium, the server and the test together.
WAIT_MS = 20_000
#: Short presence timings so that status changes show within a test's patience.
TIMINGS = PresenceConfig(min_notify_interval=0.2, persist_delay=0.05)


def _require_browser() -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    if not (STATIC_DIR / "index.html").is_file():
        pytest.skip("the web client is not built (scripts/build-web)")
    pytest.importorskip("playwright.async_api")


@dataclass
class RunningServer:
    """The server and how to reach it; ``restart`` stops it and starts it again on the
    same ports with the same data (a dropped WebSocket for every browser)."""

    config: ServerConfig
    server: Server

    @property
    def http_port(self) -> int:
        return next(item.port for item in self.server.listeners if item.transport == "ws")

    @property
    def tcp_port(self) -> int:
        return next(item.port for item in self.server.listeners if item.transport == "tcp")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    async def restart(self) -> None:
        ports = {item.transport: item.port for item in self.server.listeners}
        await self.server.close()
        self.config.listen = [
            replace(spec, port=ports[spec.transport]) for spec in self.config.listen
        ]
        self.config.http = ("127.0.0.1", ports["ws"])
        self.server = await start_server(self.config, presence=TIMINGS)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningServer]:
    _require_browser()
    config = build_config(
        {},
        {
            "domain": [DOMAIN],
            "listen": ["tcp:127.0.0.1:0"],
            "http": "127.0.0.1:0",
            "data-dir": str(tmp_path / "data"),
        },
    )
    server = await start_server(config, presence=TIMINGS)
    for user in USERS:
        await add_user(server.storage, f"{user}@{DOMAIN}", f"{user}-password")
    holder = RunningServer(config, server)
    yield holder
    await holder.server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    _require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()
