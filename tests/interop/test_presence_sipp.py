"""SIPp (Debian sip-tester) drives Parley's presence agent over UDP and TCP with hand-written
RFC 3903 and RFC 6665 exchanges (tests/interop/scenarios/presence_*.xml), as one user of a
real in-process ``parley serve`` with MD5 digest (SIPp answers challenges with
``[authentication]``, credentials from ``-au``/``-ap``):

* presence_publish_uac.xml: PUBLISH initial, refresh (SIP-If-Match, no body), modify, remove
  (Expires 0), then 412 for the removed entity-tag; a Parley SDK watcher sees it;
* presence_subscribe_uac.xml: SUBSCRIBE (200, or 202 with ``notifier-202``), the immediate
  NOTIFY answered by SIPp as the watcher's UAS, a NOTIFY for a change the SDK publishes, then
  an un-SUBSCRIBE whose final NOTIFY says terminated;
* presence_notify_481_uac.xml: SIPp answers a NOTIFY 481 (it knows no such subscription),
  which ends the subscription at the server (RFC 6665 §4.2.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from clients import (
    DOMAIN,
    WAIT,
    next_change,
    parley_server,
    password_of,
    port_of,
    sdk_account,
    wait_for_publications,
)
from conftest import require_tool

from parley.services.presence import PresenceConfig

pytestmark = pytest.mark.interop

SCENARIOS = Path(__file__).parent / "scenarios"
TRANSPORTS = [("udp", "u1"), ("tcp", "t1")]
#: Short timings: no test waits for RFC 3856 §6.12's 5 s between NOTIFYs.
TIMINGS = PresenceConfig(min_notify_interval=0.1, persist_delay=0.05)
ALICE = f"alice@{DOMAIN}"
T = TypeVar("T")
BOB = f"bob@{DOMAIN}"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sipp:
    """One SIPp run of ``scenario`` as ``user`` against ``server`` (a subprocess)."""

    def __init__(self, scenario: str, server: Any, transport: str, mode: str, workdir: Path):
        self.scenario = SCENARIOS / scenario
        self.server = server
        self.transport = transport
        self.mode = mode
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None
        self._finished: asyncio.Task[None] | None = None

    async def start(self, user: str, target: str, **keys: str) -> None:
        """Run as ``user`` (``[service]`` in the scenario); ``target`` is the Request-URI
        of the requests that get challenged (SIPp's digest ``uri`` would otherwise be the
        server's address, which Parley refuses: it must match the Request-URI)."""
        sipp = require_tool("sipp")
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        extra = [arg for key, value in keys.items() for arg in ("-key", key, value)]
        self.process = await asyncio.create_subprocess_exec(
            sipp,
            f"127.0.0.1:{port_of(self.server, self.transport)}",
            "-sf", str(self.scenario),
            "-t", self.mode,
            "-i", "127.0.0.1",
            "-p", str(free_port(kind)),
            "-s", user,
            "-au", user,
            "-ap", password_of(user),
            "-auth_uri", target.removeprefix("sip:"),  # SIPp adds "sip:"
            "-m", "1",
            "-timeout", f"{int(WAIT)}s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
            "-trace_msg",
            *extra,
            cwd=self.workdir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip

    async def finish(self) -> None:
        """Wait for SIPp to end (bounded); fail with its output and logs unless it passed."""
        if self._finished is None:
            self._finished = asyncio.ensure_future(self._finish())
        await self._finished

    async def meanwhile(self, work: Awaitable[T]) -> T:
        """``work``'s result, unless SIPp fails first: then SIPp's failure, at once."""
        if self._finished is None:
            self._finished = asyncio.ensure_future(self._finish())
        task = asyncio.ensure_future(work)
        await asyncio.wait([task, self._finished], return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and self._finished.exception() is not None:
            task.cancel()
            await self._finished  # raises SIPp's failure
        return await task

    async def __aenter__(self) -> Sipp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """End SIPp should the test stop before it did (it would run to its timeout)."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        if self._finished is not None:
            with contextlib.suppress(Exception):
                await self._finished
        elif self.process is not None:
            await self.process.communicate()

    def messages(self) -> str:
        """SIPp's trace of every message it sent and received (``-trace_msg``)."""
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_messages.log"))

    async def _finish(self) -> None:
        assert self.process is not None
        try:
            output, _ = await asyncio.wait_for(self.process.communicate(), WAIT + 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise
        text = output.decode(errors="replace")
        if self.process.returncode != 0:
            logs = "".join(
                path.read_text(errors="replace")[-4000:]
                for pattern in ("*_errors.log", "*_messages.log")
                for path in self.workdir.glob(pattern)
            )
            raise AssertionError(f"SIPp failed:\n{text[-3000:]}\n{logs}")


@pytest.mark.parametrize(("transport", "mode"), TRANSPORTS)
async def test_sipp_publishes_refreshes_modifies_and_removes(
    tmp_path: Path, transport: str, mode: str
) -> None:
    async with (
        parley_server(
            tmp_path / "data", ["MD5"], presence_policy="open", presence_timings=TIMINGS
        ) as server,
        sdk_account(server, "bob", transport) as bob,
        contextlib.AsyncExitStack() as stack,
    ):
        watch = bob.watch(ALICE)
        try:
            first = await next_change(watch, lambda change: change.basic is not None)
            assert first.basic == "closed", first  # alice is neither registered nor published
            sipp = await stack.enter_async_context(
                Sipp("presence_publish_uac.xml", server, transport, mode, tmp_path)
            )
            await sipp.start("alice", f"sip:{ALICE}")
            # The first change after a quiet spell is notified at once (RFC 3856 §6.12).
            published = await sipp.meanwhile(
                next_change(watch, lambda change: change.note == "sipp initial")
            )
            assert published.open, published
            await sipp.finish()
            await wait_for_publications(server, ALICE, 0)
            final = await next_change(
                watch, lambda change: change.basic == "closed" and change.note is None
            )
            assert final.state == "active", final
        finally:
            await watch.close()


@pytest.mark.parametrize("notifier_202", [False, True], ids=["200", "202"])
@pytest.mark.parametrize(("transport", "mode"), TRANSPORTS)
async def test_sipp_subscribes_is_notified_and_unsubscribes(
    tmp_path: Path, transport: str, mode: str, notifier_202: bool
) -> None:
    async with (
        parley_server(
            tmp_path / "data",
            ["MD5"],
            presence_policy="open",
            presence_timings=TIMINGS,
            notifier_202=notifier_202,
        ) as server,
        sdk_account(server, "bob", transport) as bob,
        contextlib.AsyncExitStack() as stack,
    ):
        watchers = bob.watchers()
        try:
            sipp = await stack.enter_async_context(
                Sipp("presence_subscribe_uac.xml", server, transport, mode, tmp_path)
            )
            await sipp.start("alice", f"sip:{BOB}", watched="bob")
            await sipp.meanwhile(
                next_change(watchers, lambda change: f"sip:{ALICE}" in change.active)
            )
            published = await bob.publish_status(activity="busy", note="sipp watching")
            assert published.status == 200, published
            await sipp.finish()
            await next_change(watchers, lambda change: f"sip:{ALICE}" not in change.active)
        finally:
            await watchers.close()
        # The scenario takes 200 or 202; which one came is in SIPp's trace.
        assert ("SIP/2.0 202 Accepted" in sipp.messages()) == notifier_202


@pytest.mark.parametrize(("transport", "mode"), TRANSPORTS)
async def test_a_notify_answered_481_ends_the_subscription(
    tmp_path: Path, transport: str, mode: str
) -> None:
    async with (
        parley_server(
            tmp_path / "data", ["MD5"], presence_policy="open", presence_timings=TIMINGS
        ) as server,
        sdk_account(server, "bob", transport) as bob,
        contextlib.AsyncExitStack() as stack,
    ):
        watchers = bob.watchers()
        try:
            sipp = await stack.enter_async_context(
                Sipp("presence_notify_481_uac.xml", server, transport, mode, tmp_path)
            )
            await sipp.start("alice", f"sip:{BOB}", watched="bob")
            await sipp.meanwhile(
                next_change(watchers, lambda change: f"sip:{ALICE}" in change.active)
            )
            # A change: its NOTIFY is the one SIPp answers 481.
            assert (await bob.publish_status(activity="busy")).status == 200
            await sipp.finish()
            ended = await next_change(watchers, lambda change: f"sip:{ALICE}" not in change.active)
            assert f"sip:{ALICE}" not in ended.pending, ended
        finally:
            await watchers.close()
