"""A fake :class:`~parley.apps.tui.session.ChatSession` with deterministic data, for tests
of the chat window's rendering and behaviour (the networking is tested end to end in
tests/integration/apps/test_tui_chat.py against a real server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime

from parley.apps.tui.history import Delivery
from parley.apps.tui.session import (
    Buddy,
    MessageArrived,
    PresenceSeen,
    RequestsSeen,
    SendOutcome,
    SessionError,
    SessionEvent,
)
from parley.apps.tui.status import OwnStatus, Status

ME = "alice@example.com"
#: The fixed "now" of every fake scene: 25 Nov 2026, 14:30.
NOW = datetime(2026, 11, 25, 14, 30)


def at(hour: int, minute: int, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute)


class FakeSession:
    """Answers at once from what it was given and records what the UI asked for.
    ``outcomes`` are the fates of sent messages, in order (then "delivered"); an
    exception is raised, None leaves the message sending forever."""

    def __init__(
        self,
        buddies: Iterable[Buddy] = (),
        events: Iterable[SessionEvent] = (),
        outcomes: Iterable[SendOutcome | Exception | None] = (),
    ) -> None:
        self.aor = ME
        self.events: asyncio.Queue[SessionEvent] = asyncio.Queue()
        for event in events:
            self.events.put_nowait(event)
        self._buddies = list(buddies)
        self._outcomes = list(outcomes)
        self.sent: list[tuple[str, str]] = []
        self.typing: list[tuple[str, bool]] = []
        self.statuses: list[tuple[str, str | None]] = []
        self.answers: list[tuple[str, bool]] = []
        self.refused: list[str] = []
        self.refuse_answers = False

    async def sign_in(self, status: OwnStatus, note: str | None) -> None:
        pass

    async def sign_out(self) -> None:
        pass

    async def buddies(self) -> list[Buddy]:
        return list(self._buddies)

    async def add_buddy(self, aor: str, name: str | None = None) -> None:
        self._buddies.append(Buddy(aor, name))

    async def remove_buddy(self, aor: str) -> None:
        self._buddies = [b for b in self._buddies if b.aor != aor]

    async def allow(self, watcher: str) -> None:
        if self.refuse_answers:
            self.refused.append(watcher)
            raise SessionError("answering friend requests needs the server's XCAP (--xcap)")
        self.answers.append((watcher, True))

    async def block(self, watcher: str) -> None:
        self.answers.append((watcher, False))

    async def send(self, to: str, text: str) -> SendOutcome:
        self.sent.append((to, text))
        outcome = self._outcomes.pop(0) if self._outcomes else SendOutcome(Delivery.DELIVERED)
        if outcome is None:
            await asyncio.Event().wait()  # never answered
            raise AssertionError("unreachable")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def set_typing(self, to: str, active: bool) -> None:
        self.typing.append((to, active))

    async def set_status(self, status: OwnStatus, note: str | None) -> None:
        self.statuses.append((status.key, note))


def scene(outcomes: Iterable[SendOutcome | Exception | None] = ()) -> FakeSession:
    """Alice's buddy list: one buddy in each group, a buddy who has not allowed her yet,
    and a friend request."""
    buddies = [
        Buddy("bob@example.com"),
        Buddy("carol@example.com", "Carol"),
        Buddy("dave@example.com"),
        Buddy("erin@example.com"),
        Buddy("frank@example.com"),
    ]
    events: list[SessionEvent] = [
        PresenceSeen("bob@example.com", Status.ONLINE, "at my desk", at(14, 5)),
        PresenceSeen("carol@example.com", Status.AWAY, "lunch", at(13, 10)),
        PresenceSeen("dave@example.com", Status.BUSY, "on a call", at(14, 20)),
        PresenceSeen("erin@example.com", Status.OFFLINE, None, at(22, 15, day=24)),
        PresenceSeen("frank@example.com", Status.OFFLINE, None, at(9, 0), pending=True),
        RequestsSeen(("grace@example.com",)),
        MessageArrived("carol@example.com", "back at 3", at(14, 12)),
    ]
    return FakeSession(buddies, events, outcomes)
