"""Chat history on disk: appended, states folded in, torn lines skipped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from parley.apps.tui.history import ChatLine, Delivery, Direction, History, default_history_dir

WHEN = datetime(2026, 11, 25, 14, 30)


def test_messages_and_later_states_are_read_back(tmp_path: Path) -> None:
    history = History(tmp_path, "alice@example.com")
    history.append("bob@example.com", ChatLine("1", WHEN, Direction.IN, "hi", Delivery.RECEIVED))
    history.append("bob@example.com", ChatLine("2", WHEN, Direction.OUT, "yo", Delivery.SENDING))
    history.update("bob@example.com", "2", Delivery.FAILED, "480 Temporarily Unavailable")
    again = History(tmp_path, "alice@example.com").load("bob@example.com")
    assert again == [
        ChatLine("1", WHEN, Direction.IN, "hi", Delivery.RECEIVED),
        ChatLine("2", WHEN, Direction.OUT, "yo", Delivery.FAILED, "480 Temporarily Unavailable"),
    ]
    assert History(tmp_path, "alice@example.com").load("carol@example.com") == []


def test_accounts_and_buddies_have_files_of_their_own(tmp_path: Path) -> None:
    alice = History(tmp_path, "alice@example.com")
    alice.append("../../etc/x", ChatLine("1", WHEN, Direction.IN, "a", Delivery.RECEIVED))
    History(tmp_path, "bob@example.com").append(
        "alice@example.com", ChatLine("2", WHEN, Direction.OUT, "b", Delivery.DELIVERED)
    )
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jsonl"))
    assert files == ["alice@example.com/_.._etc_x.jsonl", "bob@example.com/alice@example.com.jsonl"]


def test_a_torn_last_line_is_skipped_and_only_recent_lines_load(tmp_path: Path) -> None:
    history = History(tmp_path, "alice@example.com")
    for n in range(5):
        line = ChatLine(str(n), WHEN, Direction.OUT, f"m{n}", Delivery.DELIVERED)
        history.append("bob@example.com", line)
    with history.path("bob@example.com").open("a") as f:
        f.write('{"id": "5", "at": "2026-11-25T14:3')
    assert [x.text for x in history.load("bob@example.com", limit=3)] == ["m2", "m3", "m4"]


def test_default_directory_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_history_dir() == tmp_path / "parley" / "history"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_history_dir() == Path.home() / ".local" / "share" / "parley" / "history"
