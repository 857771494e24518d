"""Watcher information (RFC 3857 event package ``presence.winfo``, RFC 3858 documents): who
watches a presentity and in what state. A pending watcher here is a friend request.

Every document is full state (RFC 3858 §4.4 lets a notifier send full state whenever it
likes), so a subscriber never has to merge. Watchers are:

* each live ``presence`` subscription to the presentity: ``pending`` (event ``subscribe``)
  or ``active`` (event ``approved``). The optional ``expiration`` (§5.4) is left out: it
  would make every document differ from the last, and NOTIFYs go only on real change;
* each friend request whose subscription ended before the presentity answered it:
  ``waiting`` with event ``timeout`` (RFC 3857 §4.4: "the subscription timed out while
  pending"), so that requests made while the presentity was offline reach it later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from parley.payloads import watcherinfo
from parley.payloads.errors import PayloadError
from parley.payloads.watcherinfo import Watcher, WatcherEvent, WatcherStatus
from parley.services.presence.composition import entity_of
from parley.sip.core.subscription import NotifierState, NotifierSubscription

PACKAGE = "presence"


@dataclass(frozen=True, slots=True)
class WaitingWatcher:
    """A friend request kept after its subscription ended: who asked, and until when
    (wall-clock seconds) it is kept."""

    watcher: str
    until: float


def _id(*parts: str) -> str:
    # §5.4: an id unique among the watchers of the list and stable across documents.
    return "w" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def subscription_watcher(sub: NotifierSubscription) -> Watcher:
    """The ``<watcher>`` of one presence subscription."""
    pending = sub.state is NotifierState.PENDING
    return Watcher(
        uri=str(sub.dialog.remote_uri),
        id=_id(str(sub.id)),
        status=WatcherStatus.PENDING if pending else WatcherStatus.ACTIVE,
        event=WatcherEvent.SUBSCRIBE if pending else WatcherEvent.APPROVED,
    )


def waiting_watcher(waiting: WaitingWatcher, presentity: str) -> Watcher:
    return Watcher(
        uri=waiting.watcher if ":" in waiting.watcher else f"sip:{waiting.watcher}",
        id=_id("waiting", presentity, waiting.watcher),
        status=WatcherStatus.WAITING,
        event=WatcherEvent.TIMEOUT,
    )


def watchers(
    presentity: str,
    subscriptions: Iterable[NotifierSubscription],
    waiting: Iterable[WaitingWatcher],
) -> tuple[Watcher, ...]:
    """Every watcher of ``presentity``: its live presence subscriptions, then the waiting
    requests of those that have none."""
    found = [subscription_watcher(sub) for sub in subscriptions]
    live = {w.uri.lower() for w in found}
    found += [
        waiting_watcher(w, presentity)
        for w in waiting
        if (w.watcher if ":" in w.watcher else f"sip:{w.watcher}").lower() not in live
    ]
    return tuple(found)


def document(presentity: str, found: tuple[Watcher, ...], *, version: int) -> bytes:
    """The full-state watcherinfo document number ``version`` (RFC 3858 §4.2: counted from
    0 per subscription) listing ``found``, ``presentity``'s presence watchers."""
    info = watcherinfo.WatcherInfo(
        version,
        watcherinfo.State.FULL,
        (watcherinfo.WatcherList(entity_of(presentity), PACKAGE, found),),
    )
    return watcherinfo.serialize(info)


def listed(document: bytes | None) -> tuple[Watcher, ...] | None:
    """The watchers a document we sent lists (None for no or an unreadable document): what
    a subscriber knows, to compare with the current list whatever the version numbers."""
    if document is None:
        return None
    try:
        info = watcherinfo.parse(document)
    except PayloadError:
        return None
    return tuple(w for wl in info.watcher_lists for w in wl.watchers)


__all__ = [
    "PACKAGE",
    "WaitingWatcher",
    "document",
    "listed",
    "subscription_watcher",
    "waiting_watcher",
    "watchers",
]
