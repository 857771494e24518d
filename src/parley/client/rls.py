"""Watching one's whole buddy list with one subscription: the server's resource list server
(RFC 4662) at ``sip:<user>+buddies@<domain>``.

::

    async with watch_buddies(account) as watch:
        async for change in watch:
            for uri in change.changed:
                buddy = change.buddy(uri)
                print(buddy.uri, buddy.state, buddy.basic, buddy.note)

Each NOTIFY is ``multipart/related`` with an RLMI root (RFC 4662 §5): full state replaces
what was known, partial state is merged by resource URI. RLMI versions count NOTIFYs; a
NOTIFY older than the last one read is ignored, and a gap (a partial NOTIFY lost) is
reported as ``BuddyListChange.out_of_sync``: :meth:`Watch.refresh` brings full state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from parley.client.account import Account
from parley.client.presence import PresenceChange, PresenceClient, Watch
from parley.payloads import multipart, rlmi
from parley.payloads.errors import PayloadError
from parley.runtime.endpoint import ServerRequest
from parley.sip.core.subscription import PRESENCE, SubscriberConfig, SubscriptionState

log = logging.getLogger(__name__)

#: The user-part suffix of a buddy list's URI (the server's convention).
LIST_SUFFIX = "+buddies"
#: What a list subscription asks for: the multipart with its RLMI root, PIDF parts.
ACCEPT = ("multipart/related", "application/rlmi+xml", "application/pidf+xml")


def buddy_list_of(aor: str) -> str:
    """``alice@example.com`` -> ``alice+buddies@example.com``."""
    user, _, domain = aor.partition("@")
    return f"{user}{LIST_SUFFIX}@{domain}"


@dataclass(frozen=True, slots=True)
class BuddyPresence:
    """One buddy as the list shows it. ``state`` is its RLMI instance state: ``active``
    (``presence`` holds its document), ``pending`` (it has not allowed us yet, or it is
    on another server), ``terminated`` (``reason``: ``rejected``, ``noresource``...)."""

    uri: str
    name: str | None
    state: str
    reason: str | None = None
    presence: PresenceChange | None = None

    @property
    def basic(self) -> str | None:
        """``open``, ``closed``, or None without a document."""
        return None if self.presence is None else self.presence.basic

    @property
    def note(self) -> str | None:
        return None if self.presence is None else self.presence.note

    @property
    def activities(self) -> tuple[str, ...]:
        return () if self.presence is None else self.presence.activities


@dataclass(frozen=True, slots=True)
class BuddyListChange:
    """The list after one NOTIFY: ``buddies`` in list order, the URIs this NOTIFY
    reported (``changed``), its RLMI ``version`` and whether it was ``full_state``.
    ``state``/``reason`` are the list subscription's own (``terminated`` at the end)."""

    buddies: tuple[BuddyPresence, ...]
    changed: tuple[str, ...] = ()
    version: int | None = None
    full_state: bool = False
    state: str = "active"
    reason: str | None = None
    out_of_sync: bool = False

    def buddy(self, uri: str) -> BuddyPresence | None:
        return next((b for b in self.buddies if b.uri == uri), None)


def _buddy(
    resource: rlmi.Resource, related: multipart.Related, state: SubscriptionState
) -> BuddyPresence:
    name = resource.names[0].text if resource.names else None
    if not resource.instances:
        return BuddyPresence(resource.uri, name, "pending")
    instance = resource.instances[0]
    presence: PresenceChange | None = None
    part = None if instance.cid is None else related.part(instance.cid)
    if part is not None:
        presence = PresenceChange.of(resource.uri, state, part.content_type, part.body)
    return BuddyPresence(resource.uri, name, instance.state.value, instance.reason, presence)


def read_buddy_list(
    state: SubscriptionState,
    content_type: str | None,
    body: bytes,
    last: BuddyListChange | None,
) -> BuddyListChange | None:
    """A :data:`~parley.client.presence.Reader` of list NOTIFYs (given the whole
    Content-Type value, boundary included): merge one into ``last``."""
    known = () if last is None else last.buddies
    if not body or content_type is None:
        # A NOTIFY without a body (pending, or the end of the subscription).
        return BuddyListChange(known, (), None, False, state.state, state.reason)
    try:
        related = multipart.parse(content_type, body)
        document = rlmi.parse(related.root.body)
    except PayloadError as exc:
        log.info("unreadable list NOTIFY: %s", exc)
        return None
    last_version = None if last is None else last.version
    if last_version is not None and document.version <= last_version:
        return None  # RFC 4662 §5.2: older than what we have
    reported = tuple(_buddy(r, related, state) for r in document.resources)
    if document.full_state:
        buddies = reported
        out_of_sync = False
    else:
        by_uri = {b.uri: b for b in known}
        for buddy in reported:
            by_uri[buddy.uri] = buddy
        buddies = tuple(by_uri.values())
        gap = last_version is not None and document.version != last_version + 1
        out_of_sync = gap or (last is not None and last.out_of_sync)
    return BuddyListChange(
        buddies,
        tuple(b.uri for b in reported),
        document.version,
        document.full_state,
        state.state,
        state.reason,
        out_of_sync,
    )


class BuddyListWatch(Watch[BuddyListChange]):
    """A :class:`~parley.client.presence.Watch` of a buddy list; it answers its NOTIFYs
    through the account's ``event_hooks`` until closed.

    The Subscriber reports a NOTIFY's media type without parameters; a multipart body
    needs its boundary, so the whole Content-Type is kept from the NOTIFY being read.
    """

    def __init__(self, client: PresenceClient, target: str, config: SubscriberConfig) -> None:
        super().__init__(client, PRESENCE, target, self._read_notify, config)
        self._content_type: str | None = None

    def on_notify(self, incoming: ServerRequest) -> bool:
        self._content_type = incoming.request.headers.get("Content-Type")
        return super().on_notify(incoming)

    def _read_notify(
        self,
        state: SubscriptionState,
        content_type: str | None,
        body: bytes,
        last: BuddyListChange | None,
    ) -> BuddyListChange | None:
        full_type = self._content_type if content_type is not None else None
        return read_buddy_list(state, full_type, body, last)

    async def close(self, timeout: float = 5.0) -> None:
        await super().close(timeout)
        hooks = self.client.account.event_hooks
        if self.on_notify in hooks:
            hooks.remove(self.on_notify)


def watch_buddies(
    account: Account, *, list_aor: str | None = None, expires: int | None = None
) -> BuddyListWatch:
    """Subscribe to ``account``'s buddy list (or to ``list_aor``) with ``Supported:
    eventlist``; iterate for each change."""
    target = list_aor or buddy_list_of(account.aor)
    config = SubscriberConfig(expires=expires, accept=ACCEPT, resource_list=True)
    watch = BuddyListWatch(account.presence, target, config)
    account.event_hooks.append(watch.on_notify)
    watch.start()
    return watch


__all__ = [
    "ACCEPT",
    "LIST_SUFFIX",
    "BuddyListChange",
    "BuddyListWatch",
    "BuddyPresence",
    "buddy_list_of",
    "read_buddy_list",
    "watch_buddies",
]
