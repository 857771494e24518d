"""The chat window's behaviour, driven by Textual's pilot over a fake session: what the
user does reaches the session, what the session tells shows up. (Against a real server:
tests/integration/apps/test_tui_chat.py.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input
from tui_fakes import NOW, FakeSession, at, scene

from parley.apps.tui.app import ChatApp
from parley.apps.tui.history import ChatLine, Delivery, Direction, History
from parley.apps.tui.session import MessageArrived, RequestsSeen, SendOutcome, TypingSeen
from parley.apps.tui.status import Status

BOB, CAROL, GRACE = "bob@example.com", "carol@example.com", "grace@example.com"


def make_app(session: FakeSession, tmp_path: Path) -> ChatApp:
    return ChatApp(session, History(tmp_path, session.aor), clock=lambda: NOW)


async def until(pilot: Pilot[Any], check: Callable[[], object], what: str) -> None:
    """Let the app run until ``check()`` holds (bounded in rounds, not in time)."""
    for _ in range(400):
        if check():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"gave up waiting for {what}")


async def test_scene_is_shown(tmp_path: Path) -> None:
    session = scene()
    app = make_app(session, tmp_path)
    async with app.run_test(size=(120, 34)) as pilot:
        await until(pilot, lambda: session.events.empty() and app.request_list.requests, "scene")
        rows = app.buddy_list.rows
        assert {aor: r.status for aor, r in rows.items()} == {
            BOB: Status.ONLINE,
            CAROL: Status.AWAY,
            "dave@example.com": Status.BUSY,
            "erin@example.com": Status.OFFLINE,
            "frank@example.com": Status.OFFLINE,
        }
        assert rows["frank@example.com"].pending
        assert app.request_list.requests == (GRACE,)
        # carol's message opened her chat (shown, so read) without taking the focus.
        assert app.pane(CAROL) is not None
        assert app.unread == {}
        assert app.focused is app.buddy_list


async def test_unread_counts_until_the_chat_is_opened(tmp_path: Path) -> None:
    session = scene()
    app = make_app(session, tmp_path)
    async with app.run_test(size=(120, 34)) as pilot:
        await until(pilot, lambda: session.events.empty() and app.pane(CAROL), "scene")
        for text in ("one", "two"):
            session.events.put_nowait(MessageArrived(BOB, text, at(14, 29)))
        await until(pilot, lambda: app.unread.get(BOB) == 2, "two unread")
        assert app.buddy_list.rows[BOB].unread == 2
        assert app.tab_label(BOB) == "● bob (2)"
        await pilot.press("ctrl+b", "home", "enter")  # bob heads the list
        await until(pilot, lambda: BOB not in app.unread, "read")
        assert app.tab_label(BOB) == "● bob"
        assert app.buddy_list.rows[BOB].unread == 0
        pane = app.pane(BOB)
        assert pane is not None and app.focused is pane.input
        assert [x.text for x in pane.lines] == ["one", "two"]


async def test_typing_is_told_and_shown(tmp_path: Path) -> None:
    session = scene()
    app = make_app(session, tmp_path)
    async with app.run_test(size=(120, 34)) as pilot:
        await until(pilot, session.events.empty, "scene")
        pane = await app.open_chat(BOB)
        await pilot.press("h", "i")
        await until(pilot, lambda: len(session.typing) == 2, "keystrokes told")
        await pilot.press("enter")
        await until(pilot, lambda: session.sent == [(BOB, "hi")], "sent")
        await pilot.press("x", "backspace")
        await until(pilot, lambda: len(session.typing) == 4, "keystrokes told")
        # Each keystroke is told (the SDK decides what is news); emptying the line after
        # sending is not a keystroke, deleting the last character is.
        assert session.typing == [(BOB, True), (BOB, True), (BOB, True), (BOB, False)]

        session.events.put_nowait(TypingSeen(BOB, True))
        await until(pilot, lambda: pane.typing_shown == f"{BOB} is typing…", "typing shown")
        assert app.buddy_list.rows[BOB].typing
        session.events.put_nowait(MessageArrived(BOB, "done", at(14, 29)))
        await until(pilot, lambda: pane.typing_shown == "", "typing ended by the message")
        assert not app.buddy_list.rows[BOB].typing


async def test_delivery_states_are_shown_and_kept(tmp_path: Path) -> None:
    session = FakeSession(
        outcomes=[
            SendOutcome(Delivery.STORED),
            SendOutcome(Delivery.FAILED, "404 Not Found"),
            OSError("network is down"),
        ]
    )
    app = make_app(session, tmp_path)
    async with app.run_test(size=(120, 34)) as pilot:
        pane = await app.open_chat("dan@example.com")
        await pilot.press("a", "enter", "b", "enter", "c", "enter")
        await until(pilot, lambda: len(session.sent) == 3, "sent")
        expected = [
            (Direction.OUT, "a", Delivery.STORED, ""),
            (Direction.OUT, "b", Delivery.FAILED, "404 Not Found"),
            (Direction.OUT, "c", Delivery.FAILED, "network is down"),
        ]
        await until(
            pilot,
            lambda: [(x.direction, x.text, x.state, x.reason) for x in pane.lines] == expected,
            "final states",
        )
        # Closing the chat and opening it again reads it back from disk.
        await pilot.press("ctrl+g")
        await until(pilot, lambda: app.pane("dan@example.com") is None, "closed")
        again = await app.open_chat("dan@example.com")
        await until(pilot, lambda: len(again.lines) == 3, "history shown")
        assert [(x.direction, x.text, x.state, x.reason) for x in again.lines] == expected
    kept = History(tmp_path, session.aor).load("dan@example.com")
    assert [(x.text, x.state) for x in kept] == [
        ("a", Delivery.STORED),
        ("b", Delivery.FAILED),
        ("c", Delivery.FAILED),
    ]


async def test_history_is_shown_when_a_chat_opens(tmp_path: Path) -> None:
    History(tmp_path, "alice@example.com").append(
        BOB, ChatLine("x", at(9, 0, day=20), Direction.IN, "old news", Delivery.RECEIVED)
    )
    app = make_app(FakeSession(), tmp_path)
    async with app.run_test(size=(120, 34)):
        pane = await app.open_chat(BOB)
        assert [x.text for x in pane.lines] == ["old news"]


async def test_friend_requests_are_answered(tmp_path: Path) -> None:
    session = FakeSession(events=[RequestsSeen((GRACE, "heidi@example.com"))])
    app = make_app(session, tmp_path)
    async with app.run_test(size=(120, 34)) as pilot:
        await until(pilot, lambda: len(app.request_list.requests) == 2, "requests")
        await pilot.press("ctrl+r", "a")
        await until(pilot, lambda: app.request_list.requests == ("heidi@example.com",), "allowed")
        await pilot.press("b")
        await until(pilot, lambda: not app.request_list.requests, "blocked")
        assert session.answers == [(GRACE, True), ("heidi@example.com", False)]


async def test_a_refused_answer_keeps_the_request(tmp_path: Path) -> None:
    session = FakeSession(events=[RequestsSeen((GRACE,))])
    session.refuse_answers = True
    app = make_app(session, tmp_path)
    async with app.run_test(size=(120, 34)) as pilot:
        await until(pilot, lambda: app.request_list.requests, "request")
        await pilot.press("ctrl+r", "a")
        await until(pilot, lambda: session.refused == [GRACE], "the answer tried")
        for _ in range(5):
            await pilot.pause()
        assert app.request_list.requests == (GRACE,)


async def test_buddies_are_added_and_removed_with_keys(tmp_path: Path) -> None:
    session = FakeSession()
    app = make_app(session, tmp_path)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.press("ctrl+n", *"dan@example.com", "enter")
        await until(pilot, lambda: "dan@example.com" in app.buddy_list.rows, "added")
        assert [b.aor for b in await session.buddies()] == ["dan@example.com"]
        await pilot.press("ctrl+b", "home", "delete")
        await until(pilot, lambda: not app.buddy_list.rows, "removed")
        assert await session.buddies() == []


async def test_status_and_note_are_published(tmp_path: Path) -> None:
    session = FakeSession()
    app = make_app(session, tmp_path)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.press("ctrl+t", "enter", "down", "enter")  # Available → Away
        await until(pilot, lambda: session.statuses == [("away", None)], "away published")
        app.query_one("#note", Input).focus()
        await pilot.press(*"gone fishing", "enter")
        await until(pilot, lambda: len(session.statuses) == 2, "note published")
        assert session.statuses[-1] == ("away", "gone fishing")
