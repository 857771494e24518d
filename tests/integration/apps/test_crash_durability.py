"""A MESSAGE answered 202 Accepted survives a crash of ``parley serve``.

``parley serve`` runs as a real process. Two SDK accounts (alice over UDP, bob over TCP)
stream MESSAGEs, one at a time each, to carol, who is offline, so each is stored and
answered 202 (RFC 3428 §7 store-and-forward). Part-way through the stream the server is
killed with SIGKILL, while requests are in flight. Then:

* the data directory, read while the server is down, holds every message that was answered
  202, in order; at most the one request each sender had in flight may be there as well
  (stored but its 202 lost with the process);
* restarted on the same data directory and ports, the server hands carol, when she
  registers, exactly those messages, each once, with content, sender and per-sender order
  kept, and then empties the store.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from parley.client import Account
from parley.services.storage.sqlite import SqliteStorage

DOMAIN = "example.com"
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}
SENDERS = {"alice": "udp", "bob": "tcp"}
#: Bounds of the stream: each sender sends at most PER_SENDER messages, and the server is
#: killed once KILL_AFTER of them (over both senders) were answered 202.
PER_SENDER = 150
KILL_AFTER = 200
#: Upper bound of every wait; only a wedged run waits this long.
WAIT = 30.0


#: Server processes not yet reaped: killed at exit should the test be cut short
#: (pytest-timeout) before its context managers could end them.
_LIVE: set[asyncio.subprocess.Process] = set()


@atexit.register
def _kill_leftovers() -> None:
    for process in _LIVE:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


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


async def run_cli(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "parley.apps.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), WAIT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, text
    return text


@contextlib.asynccontextmanager
async def parley_serve(data_dir: Path, port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """``parley serve`` as a subprocess, ready once it printed both listeners; its output
    is read all along (into ``output``) so that it never blocks on a full pipe; killed at
    exit if it is still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "parley.apps.cli",
        "serve",
        "--domain",
        DOMAIN,
        "--listen",
        f"udp:127.0.0.1:{port}",
        "--listen",
        f"tcp:127.0.0.1:{port}",
        "--data-dir",
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    _LIVE.add(process)
    output: list[str] = []
    ready = asyncio.Event()
    wanted = {f"listening on udp:127.0.0.1:{port}", f"listening on tcp:127.0.0.1:{port}"}

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            output.append(line.decode("utf-8", "replace"))
            wanted.difference_update(w for w in list(wanted) if w in output[-1])
            if not wanted:
                ready.set()

    reader = asyncio.create_task(read())
    waiter = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait([reader, waiter], timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        assert ready.is_set(), "parley serve did not get ready:\n" + "".join(output)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        _LIVE.discard(process)
        await asyncio.wait_for(reader, WAIT)


def account(user: str, port: int, transport: str) -> Account:
    return Account(
        f"{user}@{DOMAIN}",
        PASSWORDS[user],
        server=("127.0.0.1", port),
        transport=transport,
    )


def text_of(user: str, i: int) -> str:
    return f"{user} #{i:03d}: the quick brown fox jumps over the lazy dog"


async def stream(
    sender: Account, count: int, accepted: list[str], all_accepted: list[str], enough: asyncio.Event
) -> None:
    """Send ``count`` MESSAGEs to carol one at a time, noting each answered 202."""
    for i in range(count):
        text = text_of(sender.user, i)
        result = await sender.send_message(f"carol@{DOMAIN}", text)
        if not result.stored:
            return  # the server is gone: 408/503 from our own transaction layer
        accepted.append(text)
        all_accepted.append(text)
        if len(all_accepted) >= KILL_AFTER:
            enough.set()


def check_against(accepted: list[str], got: list[str], who: str) -> None:
    """``got`` is ``accepted`` and at most the one message that was in flight after it."""
    assert got[: len(accepted)] == accepted, (who, accepted, got)
    extra = got[len(accepted) :]
    assert extra in ([], [text_of(who, len(accepted))]), (who, extra)


async def test_every_message_answered_202_survives_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    users = tmp_path / "users.csv"
    users.write_text("".join(f"{u}@{DOMAIN},{p}\n" for u, p in PASSWORDS.items()))
    await run_cli("user", "import", str(users), "--data-dir", str(data_dir))
    port = free_port()

    accepted: dict[str, list[str]] = {user: [] for user in SENDERS}
    all_accepted: list[str] = []
    enough = asyncio.Event()
    async with parley_serve(data_dir, port) as server:
        senders = [account(user, port, transport) for user, transport in SENDERS.items()]
        tasks: list[asyncio.Task[object]] = []
        try:
            for sender in senders:
                await sender.start()
                tasks.append(
                    asyncio.create_task(
                        stream(sender, PER_SENDER, accepted[sender.user], all_accepted, enough)
                    )
                )
            done = asyncio.create_task(enough.wait())
            tasks.append(done)
            finished, _ = await asyncio.wait(
                tasks, timeout=WAIT * 2, return_when=asyncio.FIRST_COMPLETED
            )
            assert done in finished, (finished, {u: len(a) for u, a in accepted.items()})
            # Requests are in flight now: each sender went straight on with its next one.
            server.send_signal(signal.SIGKILL)
            await asyncio.wait_for(server.wait(), WAIT)
            assert server.returncode == -signal.SIGKILL
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sender in senders:
                await sender.close()
    assert len(all_accepted) >= KILL_AFTER
    assert all(accepted.values()), accepted

    # The data directory, with the server down: everything answered 202 is there.
    async with SqliteStorage(data_dir / "parley.db") as storage:
        pending = await storage.pending_messages(f"carol@{DOMAIN}", time.time())
    stored = [m.body.decode() for m in pending]
    assert len(set(stored)) == len(stored), "a message was stored twice"
    for user in SENDERS:
        check_against(accepted[user], [t for t in stored if t.startswith(f"{user} #")], user)

    # Restarted, the server delivers exactly what it stored, in order, once.
    async with (
        parley_serve(data_dir, port),
        account("carol", port, "tcp") as carol,
    ):
        assert (await carol.register()).status == 200
        got = [await asyncio.wait_for(carol.messages.get(), WAIT) for _ in stored]
        assert [m.text for m in got] == stored
        for message in got:
            assert message.sender == f"{message.text.split(' #')[0]}@{DOMAIN}", message
            assert message.content_type == "text/plain", message
            assert message.date, message
        # Each is removed once carol answered 2xx; nothing is left over for a second round.
        async with SqliteStorage(data_dir / "parley.db") as storage:
            for _ in range(int(WAIT / 0.05)):
                if await storage.count_messages() == 0:
                    break
                await asyncio.sleep(0.05)
            assert await storage.count_messages() == 0
        assert carol.messages.empty()
