"""The ``parley`` command as a user runs it: accounts, status, and a server that starts,
serves and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from parley.client import Account

PARLEY = [sys.executable, "-m", "parley.apps.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PARLEY, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_user_commands_and_status(tmp_path: Path) -> None:
    data = str(tmp_path)
    assert (
        run("user", "add", "alice@example.com", "--password", "pw", "--data-dir", data).returncode
        == 0
    )
    env = {**os.environ, "PARLEY_PASSWORD": "from-env"}
    assert run("user", "add", "bob@example.com", "--data-dir", data, env=env).returncode == 0
    again = run("user", "add", "bob@example.com", "--password", "x", "--data-dir", data)
    assert again.returncode == 2 and "exists" in again.stderr
    bad = run("user", "add", "not-an-aor", "--password", "x", "--data-dir", data)
    assert bad.returncode == 2 and "user@domain" in bad.stderr
    csv = tmp_path / "users.csv"
    csv.write_text("aor,password\n" + "".join(f"u{i}@example.com,p{i}\n" for i in range(500)))
    imported = run("user", "import", str(csv), "--data-dir", data)
    assert imported.returncode == 0 and "500" in imported.stdout
    listed = run("user", "list", "--data-dir", data)
    assert "alice@example.com" in listed.stdout.split()
    assert (
        run(
            "user", "passwd", "alice@example.com", "--password", "new", "--data-dir", data
        ).returncode
        == 0
    )
    assert run("user", "delete", "bob@example.com", "--data-dir", data).returncode == 0
    status = run("status", "--json", "--data-dir", data)
    assert json.loads(status.stdout) == {
        "accounts": 501, "registrations": [], "subscriptions": [], "stored_messages": 0,
    }  # fmt: skip


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        port = int(tcp.getsockname()[1])
        udp.bind(("127.0.0.1", port))
        return port


async def test_serve_registers_users_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = str(tmp_path)
    assert (
        run("user", "add", "alice@example.com", "--password", "pw", "--data-dir", data).returncode
        == 0
    )
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *PARLEY, "serve", "--domain", "example.com", "--data-dir", data,
        "--listen", f"udp:127.0.0.1:{port}", "--listen", f"tcp:127.0.0.1:{port}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = b""
        while b"add a user" not in banner:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, banner.decode()
            banner += line
        assert f"udp:127.0.0.1:{port}".encode() in banner
        async with Account("alice@example.com", "pw", server=("127.0.0.1", port)) as alice:
            assert (await alice.register()).status == 200
            status = run("status", "--json", "--data-dir", data)
            [registration] = json.loads(status.stdout)["registrations"]
            assert registration["aor"] == "alice@example.com"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_send_reports_delivered_stored_and_failures(tmp_path: Path) -> None:
    data = str(tmp_path)
    for aor in ("alice@example.com", "bob@example.com"):
        assert run("user", "add", aor, "--password", "pw", "--data-dir", data).returncode == 0
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *PARLEY, "serve", "--domain", "example.com", "--data-dir", data,
        "--listen", f"udp:127.0.0.1:{port}", "--listen", f"tcp:127.0.0.1:{port}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        while b"add a user" not in await asyncio.wait_for(process.stdout.readline(), 30):
            pass
        env = {**os.environ, "PARLEY_PASSWORD": "pw"}
        common = ["--account", "alice@example.com", "--server", f"127.0.0.1:{port}", "--json"]

        async def send(*args: str, password: str = "pw") -> tuple[int, dict[str, object]]:
            done = await asyncio.create_subprocess_exec(
                *PARLEY, "send", *common, *args,
                env={**env, "PARLEY_PASSWORD": password},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(done.communicate(), 60)
            assert done.returncode is not None
            return done.returncode, json.loads(out)

        code, result = await send("bob@example.com", "hello")
        assert (code, result["outcome"]) == (0, "stored")  # bob is offline
        async with Account("bob@example.com", "pw", server=("127.0.0.1", port)) as bob:
            await bob.register()
            assert (await asyncio.wait_for(bob.messages.get(), 10)).text == "hello"
            code, result = await send("bob@example.com", "now you are here")
            assert (code, result["outcome"]) == (0, "delivered")
        code, result = await send("nobody@example.com", "hello?")
        assert (code, result["status"]) == (1, 404)
        code, result = await send("bob@example.com", "x", password="wrong")
        assert (code, result["status"]) == (4, 401)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
