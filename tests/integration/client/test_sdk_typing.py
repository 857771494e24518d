"""Typing notifications through a real Parley server (RFC 3994): ``send_typing`` sends
``application/im-iscomposing+xml`` MESSAGEs (active, refreshed; idle on its own after the
idle timeout), and the receiving account turns them into ``TypingEvent`` items, never into
chat messages, with the receiver's own timeout of an active state that is not refreshed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sdk_support import DOMAIN, WAIT, account, add_users, start

from parley.apps.server import Server
from parley.client import TypingEvent
from parley.payloads import iscomposing

ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await start(tmp_path / "data")
    await add_users(running)
    yield running
    await running.close()


async def next_typing(queue: asyncio.Queue[TypingEvent]) -> TypingEvent:
    return await asyncio.wait_for(queue.get(), WAIT)


async def test_typing_indications_become_events_not_messages(server: Server) -> None:
    async with account(server, "alice") as alice, account(server, "bob", "tcp") as bob:
        await alice.register()
        await bob.register()
        sent = await alice.send_typing(BOB)
        assert sent is not None and sent.delivered
        event = await next_typing(bob.typing)
        assert (event.sender, event.active, event.content_type) == (ALICE, True, "text/plain")
        assert event.refresh is not None and event.refresh >= 60
        # More keystrokes: the receiver knows already, nothing is sent until the refresh.
        assert await alice.send_typing(BOB) is None
        # Alice clears her draft: idle.
        stopped = await alice.send_typing(BOB, active=False)
        assert stopped is not None and stopped.delivered
        event = await next_typing(bob.typing)
        assert (event.sender, event.active, event.timed_out) == (ALICE, False, False)

        # Typing, then the message itself: no idle is sent, Bob goes idle with the message.
        await alice.send_typing(BOB)
        assert (await next_typing(bob.typing)).active
        assert (await alice.send_message(BOB, "Hi There!")).delivered
        message = await asyncio.wait_for(bob.messages.get(), WAIT)
        assert message.text == "Hi There!"
        event = await next_typing(bob.typing)
        assert (event.active, event.by_message) == (False, True)
        # Indications never showed up as messages.
        assert bob.messages.empty()


async def test_idle_follows_the_idle_timeout_and_active_times_out(server: Server) -> None:
    alice = account(server, "alice", typing_idle_timeout=0.2)
    async with alice, account(server, "bob") as bob:
        await alice.register()
        await bob.register()
        await alice.send_typing(BOB)
        assert (await next_typing(bob.typing)).active
        # No more keystrokes: Alice's UA says idle by itself (RFC 3994 §3.2).
        event = await next_typing(bob.typing)
        assert (event.active, event.timed_out) == (False, False)

        # An active state whose sender vanishes times out at the receiver (§3.3).
        document = iscomposing.serialize(
            iscomposing.IsComposing(iscomposing.State.ACTIVE, refresh=1)
        )
        result = await alice.send_message(BOB, document, iscomposing.CONTENT_TYPE)
        assert result.delivered
        assert (await next_typing(bob.typing)).active
        event = await next_typing(bob.typing)
        assert (event.sender, event.active, event.timed_out) == (ALICE, False, True)
        assert bob.messages.empty()
