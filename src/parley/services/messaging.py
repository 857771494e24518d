"""Instant messages (RFC 3428) kept for users with no device online, and delivered, in
order, when one registers.

A MESSAGE is answered 202 Accepted only after ``Storage.store_message`` has committed it, so
an accepted message survives a crash. Delivery sends a new MESSAGE per stored one, with
the original sender in From and a Date header saying when it was accepted; it is removed
only after a device answered 2xx, and delivery stops at the first one no device took,
so that order is kept.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.services.location import Target, targets_of
from parley.services.storage import QuotaExceeded, Storage, StoredMessage
from parley.sip.core.uac import build_request
from parley.sip.errors import ParseError
from parley.sip.syntax import NameAddr, Response

log = logging.getLogger(__name__)

#: Media types a MESSAGE may carry through this server (RFC 3428 §7 lets a server refuse
#: others with 415 and an Accept header). IMDN and isComposing ride MESSAGE too.
ACCEPTED_TYPES = frozenset(
    {
        "text/plain",
        "text/html",
        "message/cpim",
        "message/imdn+xml",
        "application/im-iscomposing+xml",
        "multipart/mixed",
        "multipart/alternative",
        "application/octet-stream",
    }
)
#: Headers of a stored MESSAGE that are replayed on delivery.
REPLAYED = ("Content-Encoding", "Subject", "Priority", "In-Reply-To")


@dataclass(frozen=True, slots=True)
class MessagingConfig:
    max_body: int = 64 * 1024
    store_seconds: float = 7 * 24 * 3600.0
    quota: int = 1000
    accepted_types: frozenset[str] = ACCEPTED_TYPES


class MessageService:
    """Admission checks for MESSAGE, the store, and delivery of what was stored."""

    def __init__(
        self,
        endpoint: Endpoint,
        storage: Storage,
        config: MessagingConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = endpoint
        self.storage = storage
        self.config = config or MessagingConfig()
        self.clock = clock
        self._delivering: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Told the recipient of each MESSAGE committed to the store.
        self.on_stored: Callable[[str], None] | None = None

    def admit(self, incoming: ServerRequest) -> bool:
        """RFC 3428 §7 and §8: refuse with 413 a body over the limit and with 415 (and
        Accept) a type we do not carry. True when the MESSAGE may go on."""
        request = incoming.request
        if len(request.body) > self.config.max_body:
            incoming.respond(413, f"Message body over {self.config.max_body} bytes")
            return False
        media = request.content_type
        if request.body and (media is None or media not in self.config.accepted_types):
            accept = ", ".join(sorted(self.config.accepted_types))
            incoming.respond(415, headers=[("Accept", accept)])
            return False
        return True

    def store(self, incoming: ServerRequest, recipient: str) -> None:
        """Commit the MESSAGE for ``recipient`` and answer 202 once it is on disk."""
        incoming.hold()
        self._spawn(self._store(incoming, recipient))

    async def _store(self, incoming: ServerRequest, recipient: str) -> None:
        request = incoming.request
        now = self.clock()
        headers = tuple(
            (name, value) for name in REPLAYED if (value := request.headers.get(name)) is not None
        )
        message = StoredMessage(
            id=0,
            recipient=recipient,
            sender=request.headers.get("From") or "",
            content_type=request.headers.get("Content-Type") or "text/plain",
            body=request.body,
            received=now,
            expires_at=now + self.config.store_seconds,
            headers=headers,
        )
        try:
            await self.storage.store_message(message, self.config.quota)
        except QuotaExceeded:
            incoming.respond(480, "Recipient's message store is full")
            return
        except Exception:
            log.exception("storing a MESSAGE failed")
            incoming.respond(500, "Message could not be stored")
            return
        incoming.respond(202)
        if self.on_stored is not None:
            self.on_stored(recipient)

    def registered(self, aor: str) -> None:
        """A device of ``aor`` registered: deliver what waits for it."""
        self._spawn(self.deliver(aor))

    async def deliver(self, aor: str) -> int:
        """Deliver stored messages of ``aor`` in order; returns how many went."""
        lock = self._delivering.setdefault(aor, asyncio.Lock())
        delivered = 0
        async with lock:
            pending = await self.storage.pending_messages(aor, self.clock())
            if not pending:
                return 0
            targets = targets_of(await self.storage.get_bindings(aor, self.clock()))
            for message in pending:
                if not targets or not await self._deliver_one(message, targets):
                    break
                await self.storage.delete_message(message.id)
                delivered += 1
        if not lock.locked():
            self._delivering.pop(aor, None)
        return delivered

    async def _deliver_one(self, message: StoredMessage, targets: list[Target]) -> bool:
        """Send to every device at once; delivered when one of them answers 2xx."""
        results = await asyncio.gather(
            *(self._send(message, target) for target in targets), return_exceptions=True
        )
        return any(isinstance(r, Response) and 200 <= r.status < 300 for r in results)

    async def _send(self, message: StoredMessage, target: Target) -> Response:
        try:
            sender = NameAddr.parse(message.sender)
            sender.params.remove("tag")  # a new request gets a new From tag (§8.1.1.3)
        except ParseError:
            sender = NameAddr.parse(f"<sip:{message.recipient}>")
        headers = [("Date", email.utils.formatdate(message.received, usegmt=True))]
        headers.extend(message.headers)
        headers.extend(("Route", route) for route in target.path)
        request = build_request(
            "MESSAGE",
            target.uri,
            from_=sender,
            to=f"<sip:{message.recipient}>",
            sent_by=self.endpoint.sent_by(target.peer.transport),
            ids=self.endpoint.stack.ids,
            headers=headers,
            body=message.body,
            content_type=message.content_type,
        )
        return await self.endpoint.request(request, target.peer)

    async def expire(self) -> int:
        return await self.storage.expire_messages(self.clock())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
