"""PUBLISH (RFC 3903): the presence agent as Event State Compositor for ``presence``.

:meth:`PublicationService.publish` follows RFC 3903 §6 step by step (steps 2 to 8; step 1,
authentication and authorisation, is the caller's): 489 for an event we do not compose,
412 for a SIP-If-Match naming no live publication, 423 for a too brief Expires, 400 for an
initial publication without a body or a body that is not a PIDF document, 415 for other
media types; then the publication is created, refreshed, modified or removed, and the 200
carries a new SIP-ETag and the Expires granted.

Publications live in storage with wall-clock ``expires_at`` (``clock()``); every live one
counts in composition. Expiry (RFC 3903 §6 step 5: "the ESC MUST remove the event state")
runs on a deadline heap for the publications this process accepted, and a periodic sweep of
storage catches the rest (those left by a previous run).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from parley.payloads import pidf
from parley.payloads.errors import PayloadError
from parley.services.presence.config import PresenceConfig
from parley.services.storage import PresenceStorage, Publication
from parley.sip.core.subscription import EventHeader
from parley.sip.errors import ParseError
from parley.sip.syntax import Request
from parley.sip.transport.address import Peer

log = logging.getLogger(__name__)

#: The one event package whose state Parley composes (RFC 3903 §4: per event package).
EVENT = "presence"
#: Media types a presence publication may carry (RFC 3856 §6.7; the seed's CPIM flavour).
ACCEPTED_TYPES = (pidf.CONTENT_TYPE, pidf.CPIM_PIDF_CONTENT_TYPE)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """The answer to a PUBLISH: ``status``, ``reason`` (None: the default phrase) and
    ``headers``; ``changed`` says the presentity's publications changed (a refresh does not
    change the document, so watchers need no NOTIFY for it)."""

    status: int
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = False


class PublicationService:
    """Publications of every presentity, in ``storage``; ``clock`` is wall-clock seconds.

    ``on_expired(aor)`` is called when a publication of ``aor`` expired, once
    :meth:`run` is running (a task body).
    """

    def __init__(
        self,
        storage: PresenceStorage,
        config: PresenceConfig,
        *,
        on_expired: Callable[[str], object] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.storage = storage
        self.config = config
        self.on_expired = on_expired
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._heap: list[tuple[float, str, str]] = []
        self._wake = asyncio.Event()
        # Publications made straight over a connection (TCP, TLS, WebSocket): the device
        # that made them is gone when its connection is, as its registration is (RFC 5626
        # §7); a browser tab that closed cannot unpublish in time. (aor, etag) by flow.
        self._by_flow: dict[Peer, set[tuple[str, str]]] = {}
        self._flow_of: dict[tuple[str, str], Peer] = {}

    # -- RFC 3903 §6 -----------------------------------------------------------------------

    async def publish(
        self, request: Request, presentity: str, peer: Peer | None = None
    ) -> PublishOutcome:
        """Process a PUBLISH for ``presentity`` (already authenticated as its owner) that
        came from ``peer``."""
        # Step 2: the event package must be one we compose (489 with Allow-Events, §6).
        try:
            value = request.headers.get("Event")
            event = None if value is None else EventHeader.parse(value)
        except ParseError as exc:
            return PublishOutcome(400, exc.reason)
        if event is None or event.event_type != EVENT:
            return PublishOutcome(489, headers=[("Allow-Events", EVENT)])
        try:
            expires = request.expires
        except ParseError as exc:
            return PublishOutcome(400, exc.reason)
        etag = request.headers.get("SIP-If-Match")
        if etag is not None:
            etag = etag.strip()
        body = request.body
        lock = self._locks.setdefault(presentity, asyncio.Lock())
        try:
            async with lock:
                outcome = await self._publish(request, presentity, etag, expires, body)
        finally:
            if not lock.locked():
                self._locks.pop(presentity, None)
        if outcome.status == 200:
            self._follow(request, presentity, etag, outcome, peer)
        return outcome

    def _follow(
        self,
        request: Request,
        presentity: str,
        old_etag: str | None,
        outcome: PublishOutcome,
        peer: Peer | None,
    ) -> None:
        """Keep which connection each publication came over."""
        if old_etag is not None:
            flow = self._flow_of.pop((presentity, old_etag), None)
            if flow is not None:
                self._by_flow.get(flow, set()).discard((presentity, old_etag))
        new_etag = next((v for k, v in outcome.headers if k == "SIP-ETag"), None)
        direct = len(request.vias) == 1  # through a proxy, the connection is the proxy's
        if new_etag is None or peer is None or peer.transport == "udp" or not direct:
            return
        self._flow_of[(presentity, new_etag)] = peer
        self._by_flow.setdefault(peer, set()).add((presentity, new_etag))

    async def connection_closed(self, peer: Peer) -> set[str]:
        """Remove the publications made over ``peer``'s connection; returns the
        presentities that lost one."""
        doomed = self._by_flow.pop(peer, set())
        aors: set[str] = set()
        for aor, etag in sorted(doomed):
            self._flow_of.pop((aor, etag), None)
            if await self.storage.remove_publication(aor, EVENT, etag):
                aors.add(aor)
        return aors

    async def _publish(
        self,
        request: Request,
        presentity: str,
        etag: str | None,
        expires: int | None,
        body: bytes,
    ) -> PublishOutcome:
        config = self.config
        now = self.clock()
        existing: Publication | None = None
        if etag is not None:
            # Step 3: SIP-If-Match names the state to refresh, modify or remove; none by that
            # entity-tag (expired, or never) is 412 Conditional Request Failed.
            live = await self.storage.get_publications(presentity, EVENT, now)
            existing = next((p for p in live if p.etag == etag), None)
            if existing is None:
                return PublishOutcome(412)
        # Step 4: the requested duration; below the minimum is 423 with Min-Expires (an
        # Expires of 0, a removal, is always allowed); above the maximum is shortened.
        if expires is not None and 0 < expires < config.publish_min_expires:
            return PublishOutcome(423, headers=[("Min-Expires", str(config.publish_min_expires))])
        granted = (
            config.publish_default_expires
            if expires is None
            else min(expires, config.publish_max_expires)
        )
        if existing is not None and granted == 0:
            # Step 6: Expires 0 with SIP-If-Match removes the publication.
            await self.storage.remove_publication(presentity, EVENT, existing.etag)
            return PublishOutcome(200, headers=[("Expires", "0")], changed=True)
        if existing is None and not body:
            # Step 5: an initial publication must carry the state.
            return PublishOutcome(400, "Initial PUBLISH without a body")
        if granted == 0:
            return PublishOutcome(400, "Initial PUBLISH with Expires 0")
        content_type = existing.content_type if existing is not None else ""
        document = existing.document if existing is not None else b""
        published = existing.published if existing is not None else now
        if body:
            media = request.content_type
            if media is None or media.lower() not in ACCEPTED_TYPES:
                # Step 5 / RFC 3261 §21.4.13: say what we accept.
                return PublishOutcome(415, headers=[("Accept", ", ".join(ACCEPTED_TYPES))])
            try:
                pidf.parse(body)
            except PayloadError as exc:
                return PublishOutcome(400, _phrase(f"Bad PIDF: {exc}"))
            content_type, document, published = media.lower(), body, now
        # Steps 7-8: a new entity-tag for every successful PUBLISH, refreshes included.
        new_etag = secrets.token_hex(8)
        expires_at = now + granted
        await self.storage.put_publication(
            Publication(presentity, EVENT, new_etag, content_type, document, published, expires_at)
        )
        if existing is not None:
            await self.storage.remove_publication(presentity, EVENT, existing.etag)
        self._schedule(expires_at, presentity, new_etag)
        return PublishOutcome(
            200,
            headers=[("SIP-ETag", new_etag), ("Expires", str(granted))],
            changed=bool(body),
        )

    # -- expiry ----------------------------------------------------------------------------

    def _schedule(self, expires_at: float, aor: str, etag: str) -> None:
        heapq.heappush(self._heap, (expires_at, aor, etag))
        if self._heap[0][2] == etag:
            self._wake.set()

    async def expire(self) -> set[str]:
        """Remove every publication whose time is up; returns the presentities that lost
        one, after calling ``on_expired`` for each."""
        now = self.clock()
        while self._heap and self._heap[0][0] <= now:
            heapq.heappop(self._heap)
        gone = await self.storage.expire_publications(now)
        aors = {p.aor for p in gone}
        for aor in sorted(aors):
            if self.on_expired is not None:
                try:
                    self.on_expired(aor)
                except Exception:
                    log.exception("publication expiry hook failed")
        return aors

    async def run(self) -> None:
        """Expire publications at their deadlines and every ``publication_sweep`` seconds,
        until cancelled."""
        await self.expire()
        while True:
            now = self.clock()
            wait = self.config.publication_sweep
            if self._heap:
                wait = min(wait, max(0.0, self._heap[0][0] - now))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
                continue  # an earlier deadline came in: wait for that one instead
            except TimeoutError:
                pass
            try:
                await self.expire()
            except Exception:
                log.exception("publication expiry failed")


def _phrase(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:120]


__all__ = ["ACCEPTED_TYPES", "EVENT", "PublicationService", "PublishOutcome"]
