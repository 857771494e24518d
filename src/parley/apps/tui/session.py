"""The chat client's one door to the SDK: everything the UI does to the network goes
through a :class:`ChatSession`, and everything the network tells it comes back as
:data:`SessionEvent` values on ``session.events``. The UI never imports
:mod:`parley.client`; a change in the SDK touches this module only, and the snapshot tests
drive the UI with a fake session of deterministic data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from parley.client import Account, IncomingMessage
from parley.client.presence import PresenceChange, Watch, WatcherChange
from parley.client.xcap import XcapClient

from .history import Delivery
from .status import OwnStatus, Status, classify

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


# -- what the UI is told ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PresenceSeen:
    """A buddy's presence changed at ``at``; ``pending`` while the buddy has not yet
    allowed us to see it."""

    aor: str
    status: Status
    note: str | None
    at: datetime
    pending: bool = False


@dataclass(frozen=True, slots=True)
class MessageArrived:
    sender: str
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TypingSeen:
    """RFC 3994: ``sender`` is composing (``active``) or stopped; an active state lapses
    after ``refresh`` seconds without news (§4.2, 120 s by default)."""

    sender: str
    active: bool
    refresh: int = 120


@dataclass(frozen=True, slots=True)
class RequestsSeen:
    """The friend requests now pending: who asks to see our presence (RFC 3857)."""

    requests: tuple[str, ...]


SessionEvent = PresenceSeen | MessageArrived | TypingSeen | RequestsSeen


@dataclass(frozen=True, slots=True)
class Buddy:
    aor: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SendOutcome:
    state: Delivery
    reason: str = ""


class SessionError(Exception):
    """Something the user asked for could not be done; the message says what and why,
    ``status`` the SIP status behind it if there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ChatSession(Protocol):
    """What the chat UI needs from an account (see :class:`SdkSession`)."""

    aor: str
    events: asyncio.Queue[SessionEvent]

    async def sign_in(self, status: OwnStatus, note: str | None) -> None: ...
    async def sign_out(self) -> None: ...
    async def buddies(self) -> list[Buddy]: ...
    async def add_buddy(self, aor: str, name: str | None = None) -> None: ...
    async def remove_buddy(self, aor: str) -> None: ...
    async def allow(self, watcher: str) -> None: ...
    async def block(self, watcher: str) -> None: ...
    async def send(self, to: str, text: str) -> SendOutcome: ...
    async def set_typing(self, to: str, active: bool) -> None: ...
    async def set_status(self, status: OwnStatus, note: str | None) -> None: ...


# -- where the buddy list lives -------------------------------------------------------------


class BuddyEntry(Protocol):
    @property
    def uri(self) -> str: ...
    @property
    def name(self) -> str | None: ...


class BuddyStore(Protocol):
    """The buddy list and presence authorization: the server's XCAP documents
    (``parley.client.xcap.XcapClient`` has this shape) or :class:`LocalBuddies`."""

    async def buddies(self) -> Sequence[BuddyEntry]: ...
    async def add_buddy(self, uri: str, name: str | None = None) -> None: ...
    async def remove_buddy(self, uri: str) -> None: ...
    async def allow(self, watcher: str) -> None: ...
    async def block(self, watcher: str) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LocalEntry:
    uri: str
    name: str | None = None


class LocalBuddies:
    """A buddy list in a JSON file, for servers without XCAP. Friend requests cannot be
    answered without one: the answer is a pres-rules document on the server."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def buddies(self) -> list[LocalEntry]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [LocalEntry(item["uri"], item.get("name")) for item in data if "uri" in item]

    async def add_buddy(self, uri: str, name: str | None = None) -> None:
        entries = [e for e in await self.buddies() if e.uri != uri]
        self._save([*entries, LocalEntry(uri, name)])

    async def remove_buddy(self, uri: str) -> None:
        self._save([e for e in await self.buddies() if e.uri != uri])

    async def allow(self, watcher: str) -> None:
        raise SessionError("answering friend requests needs the server's XCAP (--xcap)")

    async def block(self, watcher: str) -> None:
        raise SessionError("answering friend requests needs the server's XCAP (--xcap)")

    async def close(self) -> None:
        pass

    def _save(self, entries: list[LocalEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = [{"uri": e.uri, "name": e.name} for e in entries]
        self.path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def aor_of(uri: str) -> str:
    """``sip:bob@example.com;x`` → ``bob@example.com``."""
    bare = uri.strip().strip("<>")
    for scheme in ("sips:", "sip:"):
        if bare.lower().startswith(scheme):
            bare = bare[len(scheme) :]
    return bare.split(";", 1)[0].split("?", 1)[0]


def sip_uri(aor: str) -> str:
    return aor if aor.startswith(("sip:", "sips:")) else f"sip:{aor}"


# -- the real thing -----------------------------------------------------------------------


class SdkSession:
    """A :class:`ChatSession` over a started :class:`parley.client.Account`: registers,
    publishes our status, watches every buddy, watches our watchers (friend requests), and
    turns incoming MESSAGEs into chat messages or typing indications."""

    def __init__(self, account: Account, store: BuddyStore, *, clock: Clock = datetime.now) -> None:
        self.account = account
        self.aor = account.aor
        self.store = store
        self.clock = clock
        self.events: asyncio.Queue[SessionEvent] = asyncio.Queue()
        self._watches: dict[str, Watch[PresenceChange]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchers: Watch[WatcherChange] | None = None

    async def sign_in(self, status: OwnStatus, note: str | None) -> None:
        response = await self.account.register()
        said = f"{response.status} {response.reason}"
        if response.status in (401, 403, 407):
            raise SessionError(
                f"sign-in refused: wrong password for {self.aor} (or no such account): {said}",
                response.status,
            )
        if response.status in (408, 503):
            raise SessionError(f"server unreachable: {said}", response.status)
        if not 200 <= response.status < 300:
            raise SessionError(f"sign-in failed: {said}", response.status)
        await self.set_status(status, note)
        self._watchers = self.account.watchers()
        self._spawn(self._read_watchers(self._watchers))
        self._spawn(self._read_messages())
        self._spawn(self._read_typing())
        try:
            buddies = await self.buddies()
        except SessionError as exc:
            # Chatting works without the buddy list; the window says what went wrong.
            log.warning("no buddy list: %s", exc)
            buddies = []
        for buddy in buddies:
            self._watch(buddy.aor)

    async def sign_out(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        watches: list[Watch[Any]] = list(self._watches.values())
        if self._watchers is not None:
            watches.append(self._watchers)
        for watch in watches:
            with contextlib.suppress(Exception):
                await watch.close(timeout=2.0)
        self._watches.clear()
        with contextlib.suppress(Exception):
            await self.store.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.account.unregister(), 5.0)

    async def close(self) -> None:
        """Sign out and stop the account."""
        await self.sign_out()
        await self.account.close()

    async def buddies(self) -> list[Buddy]:
        return [Buddy(aor_of(e.uri), e.name) for e in await self._store(self.store.buddies())]

    async def add_buddy(self, aor: str, name: str | None = None) -> None:
        await self._store(self.store.add_buddy(sip_uri(aor), name))
        self._watch(aor)

    async def remove_buddy(self, aor: str) -> None:
        await self._store(self.store.remove_buddy(sip_uri(aor)))
        watch = self._watches.pop(aor, None)
        if watch is not None:
            await watch.close(timeout=2.0)

    async def allow(self, watcher: str) -> None:
        await self._store(self.store.allow(sip_uri(watcher)))

    async def block(self, watcher: str) -> None:
        await self._store(self.store.block(sip_uri(watcher)))

    async def send(self, to: str, text: str) -> SendOutcome:
        try:
            result = await self.account.send_message(to, text)
        except OSError as exc:
            return SendOutcome(Delivery.FAILED, str(exc) or type(exc).__name__)
        if result.delivered:
            return SendOutcome(Delivery.DELIVERED)
        if result.stored:
            return SendOutcome(Delivery.STORED)
        return SendOutcome(Delivery.FAILED, f"{result.status} {result.reason}")

    async def set_typing(self, to: str, active: bool) -> None:
        # The SDK's composer (RFC 3994 §3.2) decides when an indication is news: it is
        # told every keystroke, refreshes "active" and goes idle by itself.
        await self.account.send_typing(to, active)

    async def set_status(self, status: OwnStatus, note: str | None) -> None:
        response = await self.account.publish_status(status.open, status.activity, note or None)
        if not 200 <= response.status < 300:
            raise SessionError(f"status not published: {response.status} {response.reason}")

    # -- behind the scenes ------------------------------------------------------------------

    async def _store(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except SessionError:
            raise
        except Exception as exc:  # an XCAP client raises its own errors: show them
            raise SessionError(str(exc) or type(exc).__name__) from exc

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _watch(self, aor: str) -> None:
        if aor in self._watches or aor == self.aor:
            return
        watch = self.account.watch(aor)
        self._watches[aor] = watch
        self._spawn(self._read_presence(aor, watch))

    async def _read_presence(self, aor: str, watch: Watch[PresenceChange]) -> None:
        async for change in watch:
            if self._watches.get(aor) is not watch:
                return  # removed from the buddy list: its last NOTIFY is no news
            # RFC 3856 §6.6: a pending subscription's NOTIFYs carry no document.
            pending = change.state == "pending" or (
                change.basic is None and change.state != "terminated"
            )
            status = classify(change.basic, change.activities)
            self.events.put_nowait(PresenceSeen(aor, status, change.note, self.clock(), pending))

    async def _read_watchers(self, watch: Watch[WatcherChange]) -> None:
        async for change in watch:
            requests = tuple(dict.fromkeys(aor_of(uri) for uri in change.requests))
            self.events.put_nowait(RequestsSeen(requests))

    async def _read_messages(self) -> None:
        while True:
            message = await self.account.messages.get()
            event = self._read_message(message)
            if event is not None:
                self.events.put_nowait(event)

    def _read_message(self, message: IncomingMessage) -> SessionEvent | None:
        media = message.content_type.split(";", 1)[0].strip().lower()
        if not media.startswith("text/"):
            log.info("ignoring a %s message from %s", media, message.sender)
            return None
        return MessageArrived(message.sender, message.text, self.clock())

    async def _read_typing(self) -> None:
        while True:
            event = await self.account.typing.get()
            self.events.put_nowait(TypingSeen(event.sender, event.active, event.refresh or 120))


async def connect(
    aor: str,
    password: str,
    *,
    server: tuple[str, int],
    transport: str,
    xcap: str,
    buddies_file: Path | None = None,
    tls_ca: str | None = None,
) -> SdkSession:
    """A session for ``aor``, its account started (not yet signed in): the buddy list on
    the server's XCAP root ``xcap``, or in ``buddies_file`` for servers without one."""
    account = Account(aor, password, server=server, transport=transport, tls_ca=tls_ca)
    await account.start()
    store: BuddyStore = (
        LocalBuddies(buddies_file)
        if buddies_file is not None
        else XcapClient(aor, password, base_url=xcap)
    )
    return SdkSession(account, store)
