"""``parley chat``'s options and its sign-in errors, against a real server on loopback."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.apps.client_commands import EXIT_AUTH
from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.apps.tui.command import add_chat_parser, run_chat
from parley.apps.users import add_user

ALICE = "alice@example.com"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="parley")
    add_chat_parser(top.add_subparsers(dest="command"))
    return top


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    config = build_config(
        {},
        {"domain": ["example.com"], "listen": ["udp:127.0.0.1:0"], "data-dir": str(tmp_path)},
    )
    running = await start_server(config)
    await add_user(running.storage, ALICE, "alice-password")
    yield running
    await running.close()


def test_options(tmp_path: Path) -> None:
    args = parser().parse_args(
        ["chat", "--account", ALICE, "--server", "127.0.0.1:5070", "--status", "away",
         "--note", "back soon", "--history-dir", str(tmp_path), "--local-buddies",
         str(tmp_path / "b.json")]
    )  # fmt: skip
    assert (args.command, args.account, args.server) == ("chat", ALICE, "127.0.0.1:5070")
    assert (args.status, args.note, args.history_dir) == ("away", "back soon", tmp_path)
    assert args.local_buddies == tmp_path / "b.json"
    with pytest.raises(SystemExit):
        parser().parse_args(["chat", "--account", ALICE, "--status", "asleep"])


async def test_wrong_password_exits_4_before_any_window(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PARLEY_PASSWORD", "not-it")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    port = next(item.port for item in server.listeners if item.transport == "udp")
    args = parser().parse_args(
        ["chat", "--account", ALICE, "--server", f"127.0.0.1:{port}",
         "--history-dir", str(tmp_path / "history")]
    )  # fmt: skip
    # run_chat runs its own event loop: give it a thread, the server keeps this one.
    code = await asyncio.wait_for(asyncio.to_thread(run_chat, args), 60)
    assert code == EXIT_AUTH
    assert "sign-in refused: wrong password for alice@example.com" in capsys.readouterr().err
    assert not (tmp_path / "history").exists()


def test_no_account_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert run_chat(parser().parse_args(["chat"])) == 2
    assert "no account" in capsys.readouterr().err
