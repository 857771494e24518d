"""``parley chat`` end to end: the Textual app driven by its pilot, signed in to a real
``parley serve`` (start_server) on loopback, with SDK accounts as the other people.

Every wait is bounded (``WAIT``); nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.apps.tui.app import ChatApp
from parley.apps.tui.history import Delivery, Direction, History
from parley.apps.tui.session import PresenceSeen, SdkSession, SessionError, connect
from parley.apps.tui.status import OWN_STATUSES, Status
from parley.apps.users import add_user
from parley.client import Account
from parley.services.presence import PresenceConfig

DOMAIN = "example.com"
ALICE, BOB, CAROL = (f"{user}@{DOMAIN}" for user in ("alice", "bob", "carol"))
WAIT = 20.0
#: Small presence timings so no test sleeps through RFC 3856's 5 s notification limit.
TIMINGS = PresenceConfig(
    min_notify_interval=0.05,
    min_expires=1,
    publish_min_expires=1,
    publication_sweep=0.2,
    persist_delay=0.05,
)


async def serve(data_dir: Path, policy: str) -> Server:
    config = build_config(
        {},
        {
            "domain": [DOMAIN],
            "listen": ["udp:127.0.0.1:0"],
            "http": "127.0.0.1:0",
            "data-dir": str(data_dir),
            "presence-policy": policy,
        },
    )
    server = await start_server(config, presence=TIMINGS)
    for aor in (ALICE, BOB, CAROL):
        await add_user(server.storage, aor, aor.partition("@")[0] + "-password")
    return server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await serve(tmp_path / "data", "open")
    yield running
    await running.close()


@pytest.fixture
async def asking_server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await serve(tmp_path / "data", "ask")
    yield running
    await running.close()


def sip_port(server: Server) -> int:
    return next(item.port for item in server.listeners if item.transport == "udp")


def account(server: Server, aor: str) -> Account:
    password = aor.partition("@")[0] + "-password"
    return Account(aor, password, server=("127.0.0.1", sip_port(server)))


async def alice_session(server: Server) -> SdkSession:
    assert server.http is not None
    session = await connect(
        ALICE,
        "alice-password",
        server=("127.0.0.1", sip_port(server)),
        transport="udp",
        xcap=f"http://127.0.0.1:{server.http.port}/xcap-root",
    )
    await session.sign_in(OWN_STATUSES[0], None)
    return session


async def until(pilot: Pilot[None], check: Callable[[], bool], what: str) -> None:
    """Let the app run until ``check()`` holds; fail after ``WAIT`` seconds."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await pilot.pause(0.05)


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*[" " if c == " " else c for c in text])


async def add_buddy_with_keys(pilot: Pilot[None], app: ChatApp, aor: str) -> None:
    await pilot.press("ctrl+n")
    await until(pilot, lambda: bool(app.screen.query("#buddy-address")), "the add-buddy dialog")
    await type_text(pilot, aor)
    await pilot.press("enter")
    await until(pilot, lambda: aor in app.buddy_list.rows, f"{aor} in the buddy list")


def chat_lines(app: ChatApp, aor: str) -> list[tuple[Direction, str, Delivery]]:
    pane = app.pane(aor)
    return [] if pane is None else [(x.direction, x.text, x.state) for x in pane.lines]


async def test_buddies_presence_messages_unread_typing_and_delivery(
    server: Server, tmp_path: Path
) -> None:
    session = await alice_session(server)
    app = ChatApp(session, History(tmp_path / "history", ALICE))
    async with account(server, BOB) as bob:
        assert (await bob.register()).status == 200
        assert (await bob.publish_status(True, "away", "in a meeting")).status == 200
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                # Added with the keyboard, through XCAP; bob's presence shows at once.
                await add_buddy_with_keys(pilot, app, BOB)
                await until(
                    pilot,
                    lambda: app.buddy_list.rows[BOB].status is Status.AWAY,
                    "bob shown away",
                )
                assert app.buddy_list.rows[BOB].note == "in a meeting"
                assert [b.aor for b in await session.buddies()] == [BOB]

                # carol's chat is open: bob's message waits, counted, in a tab of its own.
                await add_buddy_with_keys(pilot, app, CAROL)
                await app.open_chat(CAROL)
                assert (await bob.send_message(ALICE, "are you there?")).delivered
                await until(pilot, lambda: app.unread.get(BOB) == 1, "one unread from bob")
                assert app.buddy_list.rows[BOB].unread == 1
                assert app.tab_label(BOB) == "◐ bob (1)"
                assert chat_lines(app, BOB) == [(Direction.IN, "are you there?", Delivery.RECEIVED)]

                # Opening bob's tab reads it.
                await app.open_chat(BOB)
                await until(pilot, lambda: BOB not in app.unread, "bob's message read")
                assert app.buddy_list.rows[BOB].unread == 0

                # bob types: alice sees it.
                await bob.send_typing(ALICE, True)
                pane = app.pane(BOB)
                assert pane is not None
                await until(pilot, lambda: "typing" in pane.typing_shown, "bob is typing…")

                # alice answers: the line goes from sending to delivered, bob gets it.
                pane.input.focus()
                await type_text(pilot, "yes, here")
                await pilot.press("enter")
                got = await asyncio.wait_for(bob.messages.get(), WAIT)
                assert (got.sender, got.text) == (ALICE, "yes, here")
                await until(
                    pilot,
                    lambda: (
                        (Direction.OUT, "yes, here", Delivery.DELIVERED) in chat_lines(app, BOB)
                    ),
                    "delivered",
                )
        finally:
            await session.close()
    # The conversation is on disk.
    kept = History(tmp_path / "history", ALICE).load(BOB)
    assert [(x.direction, x.text, x.state) for x in kept] == [
        (Direction.IN, "are you there?", Delivery.RECEIVED),
        (Direction.OUT, "yes, here", Delivery.DELIVERED),
    ]


async def test_message_to_offline_buddy_is_stored(server: Server, tmp_path: Path) -> None:
    session = await alice_session(server)
    app = ChatApp(session, History(tmp_path / "history", ALICE))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await add_buddy_with_keys(pilot, app, CAROL)
            await until(
                pilot,
                lambda: app.buddy_list.rows[CAROL].changed_at is not None,
                "carol's presence",
            )
            assert app.buddy_list.rows[CAROL].status is Status.OFFLINE
            await pilot.press("ctrl+b", "enter")  # the highlighted buddy: carol
            pane = app.pane(CAROL)
            assert pane is not None
            await until(pilot, lambda: app.focused is pane.input, "the chat input focused")
            await type_text(pilot, "call me")
            await pilot.press("enter")
            await until(
                pilot,
                lambda: (Direction.OUT, "call me", Delivery.STORED) in chat_lines(app, CAROL),
                "stored for offline delivery",
            )
            # Removed with the keyboard, through XCAP; its watch ends without bringing
            # the row back.
            await pilot.press("ctrl+b", "delete")
            await until(pilot, lambda: CAROL not in app.buddy_list.rows, "carol removed")
            assert await session.buddies() == []
            for _ in range(10):
                await pilot.pause(0.05)
            assert CAROL not in app.buddy_list.rows
    finally:
        await session.close()


async def test_own_status_and_note_are_published(server: Server, tmp_path: Path) -> None:
    session = await alice_session(server)
    app = ChatApp(session, History(tmp_path / "history", ALICE))
    async with account(server, BOB) as bob:
        assert (await bob.register()).status == 200
        watch = bob.watch(ALICE)
        try:
            first = await watch.next(WAIT)
            assert first.basic == "open" and "busy" not in first.activities
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.press("ctrl+t", "enter")  # the status selector, opened
                await pilot.press("down", "down", "enter")  # Available → Away → Busy
                note = app.query_one("#note", Input)
                note.focus()
                await type_text(pilot, "deep work")
                await pilot.press("enter")
                change = first
                while change.note != "deep work":
                    change = await watch.next(WAIT)
                assert (change.basic, change.activities) == ("open", ("busy",))
        finally:
            await watch.close()
            await session.close()


async def test_friend_request_allowed(asking_server: Server, tmp_path: Path) -> None:
    session = await alice_session(asking_server)
    app = ChatApp(session, History(tmp_path / "history", ALICE))
    async with account(asking_server, CAROL) as carol:
        assert (await carol.register()).status == 200
        watch = carol.watch(ALICE)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await until(pilot, lambda: CAROL in app.request_list.requests, "carol asks")
                assert (await watch.next(WAIT)).basic is None  # pending: nothing to see
                await pilot.press("ctrl+r", "a")
                await until(pilot, lambda: not app.request_list.requests, "request answered")
                change = await watch.next(WAIT)
                while change.basic is None:
                    change = await watch.next(WAIT)
                assert change.basic == "open"
        finally:
            await watch.close()
            await session.close()


async def test_local_buddy_list_without_xcap(server: Server, tmp_path: Path) -> None:
    """A server without XCAP: the buddy list lives in a file, presence still works, and
    friend requests cannot be answered (the session says why)."""
    session = await connect(
        ALICE,
        "alice-password",
        server=("127.0.0.1", sip_port(server)),
        transport="udp",
        xcap="http://127.0.0.1:9/xcap-root",  # never asked
        buddies_file=tmp_path / "buddies.json",
    )
    async with account(server, BOB) as bob:
        assert (await bob.register()).status == 200
        assert (await bob.publish_status(True, "busy", "on a call")).status == 200
        try:
            await session.sign_in(OWN_STATUSES[0], None)
            await session.add_buddy(BOB)
            seen = await asyncio.wait_for(session.events.get(), WAIT)
            while not isinstance(seen, PresenceSeen):  # our own watcher-info comes too
                seen = await asyncio.wait_for(session.events.get(), WAIT)
            assert (seen.aor, seen.status, seen.note) == (BOB, Status.BUSY, "on a call")
            assert [b.aor for b in await session.buddies()] == [BOB]
            assert "sip:bob@example.com" in (tmp_path / "buddies.json").read_text()
            with pytest.raises(SessionError, match="XCAP"):
                await session.allow(CAROL)
        finally:
            await session.close()
