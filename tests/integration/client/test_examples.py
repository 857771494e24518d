"""The runnable examples in examples/ run (as subprocesses) against a real Parley server,
so that they do not rot."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sdk_support import DOMAIN, WAIT, account, add_users, port_of, start

from parley.apps.server import Server

EXAMPLES = Path(__file__).parents[3] / "examples"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await start(tmp_path / "data")
    await add_users(running)
    yield running
    await running.close()


async def run(script: str, *args: str, password: str = "") -> asyncio.subprocess.Process:
    env = {**os.environ, "PARLEY_PASSWORD": password}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def account_args(server: Server, user: str) -> list[str]:
    return ["--account", f"{user}@{DOMAIN}", "--server", f"127.0.0.1:{port_of(server, 'udp')}"]


async def test_send_message_example_stores_for_an_offline_user(server: Server) -> None:
    process = await run(
        "send_message.py",
        *account_args(server, "alice"),
        f"bob@{DOMAIN}",
        "Hi There!",
        password="alice-password",
    )
    code, out, err = await finish(process)
    assert code == 0, err
    assert out.strip() == f"bob@{DOMAIN} is offline: stored for later"
    assert await server.storage.count_messages() == 1


async def test_echo_bot_example_answers(server: Server) -> None:
    bot = await run(
        "echo_bot.py", *account_args(server, "carol"), "--count", "1", password="carol-password"
    )
    try:
        assert bot.stdout is not None
        ready = await asyncio.wait_for(bot.stdout.readline(), 60)
        assert ready.strip() == b"ready"
        async with account(server, "alice") as alice:
            await alice.register()
            assert (await alice.send_message(f"carol@{DOMAIN}", "ping")).delivered
            typing = await asyncio.wait_for(alice.typing.get(), WAIT)
            assert typing.active and typing.sender == f"carol@{DOMAIN}"
            echo = await asyncio.wait_for(alice.messages.get(), WAIT)
            assert (echo.sender, echo.text) == (f"carol@{DOMAIN}", "echo: ping")
        code, _out, err = await finish(bot)
        assert code == 0, err
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()


async def test_peer_to_peer_example_plays_the_seed() -> None:
    code, out, err = await finish(await run("peer_to_peer.py"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Poisson is closed"
    assert lines[1].startswith("Poisson is open at sip:poisson@127.0.0.1:")
    assert "Poisson got: Hi There!" in lines
    assert "Chebychev got: Well, hello there to you, too!" in lines


async def test_watch_buddy_example_prints_changes(server: Server) -> None:
    await server.presence.set_rule(f"bob@{DOMAIN}", f"alice@{DOMAIN}", "allow")
    watcher = await run(
        "watch_buddy.py",
        *account_args(server, "alice"),
        f"bob@{DOMAIN}",
        "--changes",
        "2",
        password="alice-password",
    )
    try:
        assert watcher.stdout is not None
        first = await asyncio.wait_for(watcher.stdout.readline(), 60)
        assert first.decode().strip() == f"bob@{DOMAIN} closed"
        async with account(server, "bob") as bob:
            await bob.register()
            await bob.set_status(True, "away", "back soon")
            code, out, err = await finish(watcher)
        assert code == 0, err
        assert out.strip().startswith(f"bob@{DOMAIN} open")
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()
