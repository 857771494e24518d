"""Typing notifications (RFC 3994, ``application/im-iscomposing+xml``), both ways.

Sending (§3.2, the Composer): the application says "the user typed" with
``Account.send_typing(to)``; the first keystroke after idle sends ``active`` with a
``refresh`` interval, a still-active state is sent again before that interval runs out, and
``idle_timeout`` seconds after the last keystroke ``idle`` is sent on its own. Sending the
message itself ends the active state without an ``idle`` indication: the receiver goes idle
when the message arrives (§3.3).

Receiving (§3.3, the Receiver): indications become :class:`TypingEvent` items, never chat
messages; an ``active`` state not refreshed within its ``refresh`` (120 s when absent) times
out to idle, and a message from the same sender makes it idle at once.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from parley.payloads import iscomposing
from parley.payloads.errors import PayloadError

log = logging.getLogger(__name__)

CONTENT_TYPE = iscomposing.CONTENT_TYPE

#: §3.2: seconds of no typing after which the Composer goes idle (and says so).
IDLE_TIMEOUT = 15.0
#: §3.2: the active state's refresh interval we announce (at least 60 s).
REFRESH = 90
#: §3.3: the Receiver's timeout of an active state that carried no refresh.
DEFAULT_ACTIVE_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class TypingEvent:
    """Someone started (``active``) or stopped (idle) composing a message to us.

    ``sender`` is their AOR; ``content_type`` what they compose (``text/plain`` if unsaid);
    ``last_active`` when they last typed (their clock), if they said. ``timed_out`` is true
    when idle was concluded here (no refresh came, §3.3) rather than sent by the sender, and
    ``by_message`` when a message from them ended the active state.
    """

    sender: str
    active: bool
    content_type: str = "text/plain"
    last_active: datetime.datetime | None = None
    refresh: int | None = None
    timed_out: bool = False
    by_message: bool = False


Send = Callable[[str, bytes], Awaitable[object]]


class _Outgoing:
    __slots__ = ("active", "idle_timer", "refresh_at", "refresh_timer")

    def __init__(self) -> None:
        self.active = False
        self.refresh_at = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.refresh_timer: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        for timer in (self.idle_timer, self.refresh_timer):
            if timer is not None:
                timer.cancel()
        self.idle_timer = self.refresh_timer = None


class Composer:
    """Our side: the active/idle state per recipient and its timers. ``send(to, body)``
    sends one indication as a MESSAGE (the account's ``send_message``)."""

    def __init__(
        self,
        send: Send,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        refresh: int = REFRESH,
    ) -> None:
        self._send = send
        self.idle_timeout = idle_timeout
        self.refresh = refresh
        self._peers: dict[str, _Outgoing] = {}
        self._tasks: set[asyncio.Task[object]] = set()

    def document(self, active: bool) -> bytes:
        state = iscomposing.State.ACTIVE if active else iscomposing.State.IDLE
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        return iscomposing.serialize(
            iscomposing.IsComposing(
                state,
                lastactive=now if active else None,
                contenttype="text/plain",
                refresh=self.refresh if active else None,
            )
        )

    async def typed(self, to: str, active: bool = True) -> object | None:
        """The user typed (``active``) or cleared the draft (not ``active``). Returns what
        ``send`` returned when an indication was sent, None when none was due."""
        peer = self._peers.setdefault(to, _Outgoing())
        loop = asyncio.get_running_loop()
        if not active:
            if not peer.active:
                return None
            self._forget(to)
            return await self._send(to, self.document(False))
        if peer.idle_timer is not None:
            peer.idle_timer.cancel()
        peer.idle_timer = loop.call_later(self.idle_timeout, self._went_idle, to)
        if peer.active and loop.time() < peer.refresh_at:
            return None  # still active, and the receiver knows it until refresh_at
        return await self._send_active(to, peer)

    async def _send_active(self, to: str, peer: _Outgoing) -> object:
        loop = asyncio.get_running_loop()
        peer.active = True
        # §3.2: refresh a little before the interval announced, so it never lapses.
        peer.refresh_at = loop.time() + self.refresh * 0.9
        if peer.refresh_timer is not None:
            peer.refresh_timer.cancel()
        peer.refresh_timer = loop.call_at(peer.refresh_at, self._refresh_due, to)
        return await self._send(to, self.document(True))

    def message_sent(self, to: str) -> None:
        """A message went to ``to``: the active state ends with it, silently (§3.2)."""
        self._forget(to)

    def _forget(self, to: str) -> None:
        peer = self._peers.pop(to, None)
        if peer is not None:
            peer.cancel()

    def _went_idle(self, to: str) -> None:
        peer = self._peers.get(to)
        if peer is None or not peer.active:
            return
        self._forget(to)
        self._spawn(self._send(to, self.document(False)))

    def _refresh_due(self, to: str) -> None:
        peer = self._peers.get(to)
        if peer is not None and peer.active:
            self._spawn(self._send_active(to, peer))

    def _spawn(self, work: Awaitable[object]) -> None:
        async def run() -> object:
            try:
                return await work
            except (TimeoutError, OSError) as exc:
                log.info("typing indication not sent: %s", exc)
                return None

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        for to in list(self._peers):
            self._forget(to)
        for task in list(self._tasks):
            task.cancel()


class Receiver:
    """Their side: turns indications into events on ``events``, with §3.3's timeout."""

    def __init__(self, events: asyncio.Queue[TypingEvent]) -> None:
        self.events = events
        self._active: dict[str, asyncio.TimerHandle] = {}

    def indication(self, sender: str, body: bytes) -> TypingEvent | None:
        """An isComposing MESSAGE from ``sender``; None when its body is unreadable."""
        try:
            document = iscomposing.parse(body)
        except PayloadError as exc:
            log.info("unreadable isComposing from %s: %s", sender, exc)
            return None
        active = document.state is iscomposing.State.ACTIVE
        self._cancel(sender)
        if active:
            timeout = float(document.refresh) if document.refresh else DEFAULT_ACTIVE_TIMEOUT
            loop = asyncio.get_running_loop()
            self._active[sender] = loop.call_later(timeout, self._timed_out, sender)
        event = TypingEvent(
            sender,
            active,
            document.contenttype or "text/plain",
            document.lastactive,
            document.refresh,
        )
        self.events.put_nowait(event)
        return event

    def message(self, sender: str) -> None:
        """A message from ``sender`` arrived: its active state, if any, ends (§3.3)."""
        if self._cancel(sender):
            self.events.put_nowait(TypingEvent(sender, False, by_message=True))

    def _timed_out(self, sender: str) -> None:
        if self._active.pop(sender, None) is not None:
            self.events.put_nowait(TypingEvent(sender, False, timed_out=True))

    def _cancel(self, sender: str) -> bool:
        timer = self._active.pop(sender, None)
        if timer is None:
            return False
        timer.cancel()
        return True

    def close(self) -> None:
        for sender in list(self._active):
            self._cancel(sender)


__all__ = ["CONTENT_TYPE", "Composer", "Receiver", "TypingEvent"]
