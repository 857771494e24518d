"""Subscriptions kept across restarts (issue 4: "after a restart watchers keep getting
correct NOTIFYs without re-subscribing").

Each notifier subscription is saved as a ``SubscriptionRecord`` whose ``state`` is the JSON
of ``NotifierSubscription.to_dict`` (dialog with its CSeq numbers and route set, version,
expiry, rate-limit deadlines, last document) plus the wall-clock time it was taken. Changes
are batched: a subscription marked by :meth:`SubscriptionStore.touched` is written within
``persist_delay`` seconds, and a clean shutdown writes everything. After a crash the last
batch may be lost, so restored dialogs that were not saved by a clean shutdown skip
``cseq_margin`` CSeq numbers: RFC 3261 §12.2.2 has the subscriber refuse (500) a CSeq that
is not above the last it saw, but gaps are fine.

Friend requests whose subscription ended unanswered (``waiting`` watchers) are records too,
of the pseudo-event ``presence.waiting``.

Two clocks meet here: the subscription table's monotonic ``loop.time()`` and the wall clock
of storage (``clock()``); records hold wall-clock times, tables get loop times.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from parley.services.presence.config import PresenceConfig
from parley.services.presence.winfo import WaitingWatcher
from parley.services.storage import PresenceStorage, SubscriptionRecord
from parley.sip.core.subscription import NotifierSubscription, SubscriptionTable
from parley.sip.dialog import DialogId
from parley.sip.errors import LocalProtocolError

log = logging.getLogger(__name__)

#: The pseudo-event of waiting friend requests' records.
WAITING_EVENT = "presence.waiting"


def record_id(dialog_id: DialogId) -> str:
    return str(dialog_id)


def _waiting_id(presentity: str, watcher: str) -> str:
    return f"waiting;{presentity};{watcher}"


class SubscriptionStore:
    """Saves ``table``'s subscriptions to ``storage`` and restores them."""

    def __init__(
        self,
        storage: PresenceStorage,
        table: SubscriptionTable,
        config: PresenceConfig,
        *,
        clock: Callable[[], float] = time.time,
        resource_lists: bool = False,
    ) -> None:
        self.storage = storage
        self.table = table
        self.config = config
        self.clock = clock
        # The presence agent and the resource list server (rls.py) share the records; each
        # restores only its own kind (RFC 4662 list subscriptions or the others).
        self.resource_lists = resource_lists
        self._dirty: set[DialogId] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    # -- saving ---------------------------------------------------------------------------

    def touched(self, dialog_id: DialogId) -> None:
        """The subscription of ``dialog_id`` changed or ended: write it (or delete its
        record) within ``persist_delay`` seconds."""
        self._dirty.add(dialog_id)
        if self._handle is None and not self._closed:
            self._handle = asyncio.get_running_loop().call_later(
                self.config.persist_delay, self._start_flush
            )

    def _start_flush(self) -> None:
        self._handle = None
        self._flushing = asyncio.get_running_loop().create_task(self.flush())

    def record(self, sub: NotifierSubscription, *, clean: bool) -> SubscriptionRecord:
        now = self._loop_time()
        wall = self.clock()
        state = {"saved_at": wall, "clean": clean, "subscription": sub.to_dict(now)}
        return SubscriptionRecord(
            id=record_id(sub.id),
            presentity=sub.resource,
            watcher=str(sub.dialog.remote_uri),
            event=sub.package.name,
            expires_at=wall + (sub.expires_at - now),
            state=json.dumps(state, separators=(",", ":")),
        )

    async def flush(self, *, everything: bool = False) -> None:
        """Write the changed subscriptions now; with ``everything`` (shutdown), every
        subscription, marked as saved cleanly."""
        async with self._lock:
            dirty, self._dirty = self._dirty, set()
            if everything:
                dirty |= {sub.id for sub in self.table}
            for dialog_id in dirty:
                sub = self.table.get(dialog_id)
                try:
                    if sub is None:
                        await self.storage.remove_subscription(record_id(dialog_id))
                    else:
                        await self.storage.put_subscription(self.record(sub, clean=everything))
                except Exception:
                    log.exception("saving subscription %s failed", dialog_id)
                    self._dirty.add(dialog_id)

    async def close(self) -> None:
        """Cancel the pending batch and write everything (a clean shutdown); nothing is
        written after that."""
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._flushing is not None and not self._flushing.done():
            await asyncio.gather(self._flushing, return_exceptions=True)
        await self.flush(everything=True)

    # -- waiting friend requests ----------------------------------------------------------

    async def save_waiting(self, presentity: str, waiting: WaitingWatcher) -> None:
        await self.storage.put_subscription(
            SubscriptionRecord(
                id=_waiting_id(presentity, waiting.watcher),
                presentity=presentity,
                watcher=waiting.watcher,
                event=WAITING_EVENT,
                expires_at=waiting.until,
                state="{}",
            )
        )

    async def remove_waiting(self, presentity: str, watcher: str) -> None:
        await self.storage.remove_subscription(_waiting_id(presentity, watcher))

    # -- restoring ------------------------------------------------------------------------

    async def restore(self) -> tuple[list[NotifierSubscription], dict[str, list[WaitingWatcher]]]:
        """Put the saved subscriptions back into the table (those of unregistered packages
        and unreadable ones are dropped); returns them, and the waiting friend requests by
        presentity."""
        wall = self.clock()
        now = self._loop_time()
        restored: list[NotifierSubscription] = []
        waiting: dict[str, list[WaitingWatcher]] = {}
        for record in await self.storage.load_subscriptions(wall):
            if record.event == WAITING_EVENT:
                waiting.setdefault(record.presentity, []).append(
                    WaitingWatcher(record.watcher, record.expires_at)
                )
                continue
            try:
                saved: dict[str, Any] = json.loads(record.state)
                data = saved["subscription"]
                if bool(data.get("resource_list")) is not self.resource_lists:
                    continue
                elapsed = max(0.0, wall - float(saved["saved_at"]))
                self.table.restore([data], now, elapsed=elapsed)
                d = data["dialog"]
                sub = self.table.get(DialogId(d["call_id"], d["local_tag"], d["remote_tag"]))
            except (ValueError, KeyError, TypeError, LocalProtocolError) as exc:
                log.warning("dropping saved subscription %s: %s", record.id, exc)
                await self.storage.remove_subscription(record.id)
                continue
            if sub is None:
                continue
            if not saved.get("clean") and sub.dialog.local_seq is not None:
                # The last batch may have been lost with a crash: skip past any CSeq it
                # could have used (RFC 3261 §12.2.1.1 needs them to grow, not to be dense).
                sub.dialog.local_seq += self.config.cseq_margin
            restored.append(sub)
            self._dirty.add(sub.id)
        return restored, waiting


__all__ = ["WAITING_EVENT", "SubscriptionStore", "record_id"]
