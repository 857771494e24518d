"""Snapshots of the chat window (pytest-textual-snapshot) with a fake session: fixed
buddies, presence, times and messages, so the pictures change only when the rendering
does. Update with ``pytest --snapshot-update`` and look at the SVGs before committing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input
from tui_fakes import NOW, FakeSession, at, scene

from parley.apps.tui.app import ChatApp
from parley.apps.tui.history import Delivery, History
from parley.apps.tui.session import MessageArrived, SendOutcome, TypingSeen

SIZE = (120, 34)


class StillChatApp(ChatApp):
    """Notifications stay until the picture is taken, however slow the machine."""

    NOTIFICATION_TIMEOUT = 3600


def make_app(session: FakeSession, tmp_path: Path) -> ChatApp:
    return StillChatApp(session, History(tmp_path / "history", session.aor), clock=lambda: NOW)


async def settle(pilot: Pilot[Any], session: FakeSession) -> None:
    """Let the app take in every queued event and finish its work."""
    # The fake answers at once: a few rounds of the message loop see everything through.
    for _ in range(100):
        await pilot.pause()
        if session.events.empty():
            break
    for _ in range(10):
        await pilot.pause()
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False  # the blink phase would make pictures differ
    await pilot.pause()


def test_main_screen(snap_compare: Any, tmp_path: Path) -> None:
    """Groups with colours and symbols, notes and change times, an unread count, a
    friend request, and a chat with each delivery state and the typing indicator."""
    session = scene(
        [
            SendOutcome(Delivery.DELIVERED),
            SendOutcome(Delivery.FAILED, "480 Temporarily Unavailable"),
            None,  # still sending
        ]
    )
    app = make_app(session, tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, session)
        await app.open_chat("bob@example.com")
        session.events.put_nowait(MessageArrived("bob@example.com", "lunch at 1?", at(14, 26)))
        await settle(pilot, session)
        for text in ("yes!", "the usual place?", "or the new one"):
            await pilot.press(*text, "enter")
            await settle(pilot, session)
        session.events.put_nowait(MessageArrived("carol@example.com", "bring slides", at(14, 27)))
        session.events.put_nowait(TypingSeen("bob@example.com", True))
        await settle(pilot, session)
        app.clear_notifications()
        await settle(pilot, session)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_notifications_of_messages_and_requests(snap_compare: Any, tmp_path: Path) -> None:
    session = scene()
    app = make_app(session, tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, session)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_add_buddy_dialog(snap_compare: Any, tmp_path: Path) -> None:
    session = scene()
    app = make_app(session, tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, session)
        app.clear_notifications()
        await pilot.press("ctrl+n")
        await settle(pilot, session)
        await pilot.press(*"dan@", "enter")  # not an address yet: the dialog says so
        await settle(pilot, session)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
