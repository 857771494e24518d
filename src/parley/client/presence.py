"""Presence for an SDK :class:`~parley.client.account.Account`: publish one's status, watch
other people's, and see who watches (and who asks to: friend requests).

::

    await account.publish_status(open=True, activity="away", note="in a meeting")
    async for change in account.watch("bob@example.com"):
        print(change.aor, change.basic, change.activities, change.note, change.contact)
    async for info in account.watchers():
        print("asking to watch me:", info.pending)

Publishing is RFC 3903: the first PUBLISH carries the PIDF document (RFC 3863, with RPID
activities and note, RFC 4480), the server's SIP-ETag is kept, and the publication is
refreshed with SIP-If-Match before it expires; a 412 (the server lost it) publishes the
document again. Watching uses the sans-I/O RFC 6665 ``Subscriber``, driven here the way
``runtime/driver`` drives the stack: after every input its SUBSCRIBEs are sent, its events
read, and one timer armed for ``next_deadline()``. NOTIFYs reach it through the account's
``event_hooks`` and are answered with what ``Subscriber.receive_notify`` says (200, or 481).

Digest authentication of the initial SUBSCRIBE (RFC 3261 §22): the Subscriber knows nothing
of it, so when a SUBSCRIBE is challenged the next attempt carries the credentials through
``LocalEndpoint.headers`` (the headers the Subscriber adds to its requests), for that one
request; in-dialog refreshes go unchallenged (a Parley presence agent authenticates the
dialog's creation only).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from parley.payloads import pidf, rpid, watcherinfo
from parley.payloads.errors import PayloadError
from parley.payloads.extensions import Note
from parley.runtime.endpoint import ServerRequest
from parley.sip.core.subscription import (
    PRESENCE,
    PRESENCE_WINFO,
    EventPackage,
    LocalEndpoint,
    NotifyReceived,
    Subscriber,
    SubscriberConfig,
    SubscriberEvent,
    SubscriberState,
    SubscriptionAccepted,
    SubscriptionRejected,
    SubscriptionState,
    SubscriptionTerminated,
)
from parley.sip.errors import ParseError
from parley.sip.syntax import Request, Response, parse_sip_uri

if TYPE_CHECKING:
    from parley.client.account import Account

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How many challenges in a row one SUBSCRIBE attempt answers before giving up.
MAX_CHALLENGES = 3
#: Failures of an initial SUBSCRIBE that say "not reachable now" (§8.1.3.1), retried with
#: backoff from RETRY_INITIAL up to RETRY_MAX seconds rather than ending the watch.
TRANSIENT = frozenset({408, 503})
RETRY_INITIAL = 0.5
RETRY_MAX = 30.0


# -- what the application sees -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """One NOTIFY of a watched presentity, read.

    ``basic`` is ``"open"``, ``"closed"``, or None when the NOTIFY carried no document (a
    pending subscription: the presentity has not allowed us yet, RFC 3856 §6.6).
    ``activities`` are RPID activities (``"away"``, ``"busy"``...), ``note`` the first
    note (person, then open tuples, other tuples, the document), ``contact`` the contact of the
    best open tuple (where to send a MESSAGE). ``state`` is the Subscription-State
    (``active``, ``pending``, ``terminated`` with ``reason``). ``document`` is the whole
    parsed document (all tuples, persons, devices), None without one.
    """

    aor: str
    basic: str | None
    activities: tuple[str, ...] = ()
    note: str | None = None
    contact: str | None = None
    state: str = "active"
    reason: str | None = None
    content_type: str | None = None
    document: pidf.Presence | None = None

    @property
    def open(self) -> bool:
        return self.basic == pidf.Basic.OPEN

    @classmethod
    def of(
        cls,
        aor: str,
        state: SubscriptionState,
        content_type: str | None,
        body: bytes,
    ) -> PresenceChange:
        """Read a NOTIFY's Subscription-State and body."""
        media = None if content_type is None else content_type.split(";", 1)[0].strip().lower()
        document: pidf.Presence | None = None
        if body and media in (pidf.CONTENT_TYPE, pidf.CPIM_PIDF_CONTENT_TYPE):
            try:
                document = pidf.parse(body)
            except PayloadError as exc:
                log.info("unreadable presence document from %s: %s", aor, exc)
        if document is None:
            return cls(aor, None, state=state.state, reason=state.reason, content_type=media)
        open_tuples = sorted(
            (t for t in document.tuples if t.basic is pidf.Basic.OPEN),
            key=lambda t: -(t.contact.priority or 1.0) if t.contact else 0.0,
        )
        if open_tuples:
            basic: str | None = pidf.Basic.OPEN.value
        elif document.tuples:
            basic = pidf.Basic.CLOSED.value
        else:
            basic = None
        activities: list[str] = []
        for element in (*document.persons, *document.tuples):
            found = element.activities
            if found is not None:
                activities.extend(v for v in found.values if v not in activities)
        notes = [n.text for p in document.persons for n in p.notes]
        notes += [n.text for t in open_tuples for n in t.notes]
        notes += [n.text for t in document.tuples if t not in open_tuples for n in t.notes]
        notes += [n.text for n in document.notes]
        contact = next((t.contact.uri for t in open_tuples if t.contact is not None), None)
        return cls(
            aor,
            basic,
            tuple(activities),
            notes[0] if notes else None,
            contact,
            state.state,
            state.reason,
            media,
            document,
        )


@dataclass(frozen=True, slots=True)
class WatcherEntry:
    """One watcher of ours (RFC 3858 §5.4): its URI and subscription ``status``
    (``pending``: asking to watch, ``active``, ``waiting``: asked while we were away,
    ``terminated``) and the ``event`` that put it there."""

    uri: str
    status: str
    event: str
    id: str


@dataclass(frozen=True, slots=True)
class WatcherChange:
    """Who watches us now (one watcher-info NOTIFY, RFC 3857), and the subscription's
    ``state``. ``requests`` are the friend requests: pending and waiting watchers."""

    watchers: tuple[WatcherEntry, ...]
    state: str = "active"
    reason: str | None = None

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(w.uri for w in self.watchers if w.status == "pending")

    @property
    def requests(self) -> tuple[str, ...]:
        return tuple(w.uri for w in self.watchers if w.status in ("pending", "waiting"))

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(w.uri for w in self.watchers if w.status == "active")


# -- one subscription ------------------------------------------------------------------------

Reader = Callable[[SubscriptionState, str | None, bytes, T | None], T | None]


class Watch(Generic[T]):
    """One subscription (a ``Subscriber``) and the changes its NOTIFYs bring, as an async
    iterator. Iteration ends when the subscription ends for good (unsubscribed, refused,
    or terminated with a reason that forbids a retry, RFC 6665 §4.1.3); while it lasts,
    the Subscriber refreshes it and subscribes anew when the notifier allows.

    ``changes`` queues them; :meth:`close` unsubscribes (RFC 6665 §4.1.2.3).
    """

    def __init__(
        self,
        client: PresenceClient,
        package: EventPackage,
        target: str,
        read: Reader[T],
        config: SubscriberConfig,
    ) -> None:
        account = client.account
        self.client = client
        self.target = target
        self._read = read
        contact = parse_sip_uri(account.contact.strip("<>"))
        self._local = LocalEndpoint(
            account.sent_by,
            account.endpoint.stack.ids,
            contact,
            (("Allow", account.allow),),
        )
        self.subscriber = Subscriber(
            package,
            account.target_uri(target),
            from_=account.address,
            local=self._local,
            config=config,
        )
        self.changes: asyncio.Queue[T | None] = asyncio.Queue()
        self.last: T | None = None
        self.status: int | None = None
        self._challenge: Response | None = None
        self._challenges = 0
        self._timer: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._failures = 0
        self._done = asyncio.Event()
        self._pumping = False

    # -- the application's side ------------------------------------------------------------

    def __aiter__(self) -> Watch[T]:
        return self

    async def __anext__(self) -> T:
        if self._done.is_set() and self.changes.empty():
            raise StopAsyncIteration
        item = await self.changes.get()
        if item is None:
            self.changes.put_nowait(None)  # later calls end too
            raise StopAsyncIteration
        return item

    async def next(self, timeout: float = 10.0) -> T:
        """The next change, waiting at most ``timeout`` seconds (TimeoutError)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def __aenter__(self) -> Watch[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def state(self) -> SubscriberState:
        return self.subscriber.state

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def refresh(self) -> None:
        """Refresh the subscription now (RFC 6665 §4.1.2.2); a NOTIFY with the current
        state follows."""
        self.subscriber.refresh(self._now())
        self._pump()

    def resume(self) -> None:
        """After the account recovered from a lost connection or a server restart: refresh
        the subscription (a 481 makes the Subscriber subscribe anew), or subscribe again if
        none is alive and none is under way. Iteration goes on as before."""
        if self._done.is_set():
            return
        self._cancel_retry()
        state = self.subscriber.state
        if state is SubscriberState.SUBSCRIBING:
            return
        if state is SubscriberState.TERMINATED:
            self.subscriber.subscribe(self._now())
        else:
            self.subscriber.refresh(self._now())
        self._pump()

    async def close(self, timeout: float = 5.0) -> None:
        """Unsubscribe (Expires 0) and wait, at most ``timeout`` seconds, for the final
        NOTIFY."""
        if not self._done.is_set():
            self.subscriber.unsubscribe(self._now())
            self._pump()
            if self.subscriber.state is SubscriberState.TERMINATED and not self.subscriber.dialogs:
                self._finish()
            try:
                await asyncio.wait_for(self._done.wait(), timeout)
            except TimeoutError:
                self._finish()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._cancel_retry()
        self.client._forget(self)

    # -- the driver ------------------------------------------------------------------------

    def start(self) -> None:
        self.subscriber.subscribe(self._now())
        self._pump()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _pump(self) -> None:
        """Send what the Subscriber queued, act on its events, re-arm the timer."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while True:
                out = self.subscriber.outgoing()
                for request in out:
                    self._send(request)
                event = self.subscriber.next_event()
                if event is None and not out:
                    break
                if event is not None:
                    self._on_event(event)
        finally:
            self._pumping = False
        self._arm()

    def _send(self, request: Request) -> None:
        account = self.client.account
        # Every request goes to the account's server (an outbound proxy, RFC 3261 §8.1.2)
        # when it has one; a peer-to-peer account sends to the target itself.
        account.endpoint.start_request(request, account.next_hop(request), self._on_response)

    def _on_response(self, response: Response) -> None:
        if response.status < 200:
            return
        if response.status in (401, 407):
            self._challenge = response
        self.subscriber.receive_response(response, self._now())
        self._pump()

    def _on_event(self, event: SubscriberEvent) -> None:
        if isinstance(event, SubscriptionAccepted):
            self._challenges = 0
            self._failures = 0
            self.status = event.status
            if self.subscriber.local is not self._local:
                self.subscriber.local = self._local  # credentials were for one request
        elif isinstance(event, SubscriptionRejected):
            self.status = event.status
            if event.status in (401, 407) and self._authenticate():
                return
            if event.status in TRANSIENT and self.subscriber.config.auto_retry:
                # No answer or no route (§8.1.3.1): the server is down or restarting; try
                # again with backoff (the account's recovery may resume us sooner).
                self._retry_later()
                return
            state = SubscriptionState("terminated", reason=str(event.status))
            self._deliver(self._read(state, None, b"", self.last))
            self._finish()
        elif isinstance(event, NotifyReceived):
            self._deliver(self._read(event.state, event.content_type, event.body, self.last))
        elif (
            isinstance(event, SubscriptionTerminated)
            and event.retry_at is None
            and self.subscriber.state is SubscriberState.TERMINATED
        ):
            # The last subscription ended and no new attempt is planned (§4.1.3).
            self._finish()

    def _authenticate(self) -> bool:
        """Subscribe anew with credentials for the challenge just received (§22.2: the
        retry carries them; here it is a new SUBSCRIBE, which §8.1.3.5 allows)."""
        challenge, self._challenge = self._challenge, None
        self._challenges += 1
        if challenge is None or self._challenges > MAX_CHALLENGES:
            return False
        credentials = self.client.account.authorization_for(
            challenge, "SUBSCRIBE", str(self.subscriber.target)
        )
        if not credentials:
            return False
        self.subscriber.local = replace(self._local, headers=(*self._local.headers, *credentials))
        self.subscriber.subscribe(self._now())
        return True

    def _retry_later(self) -> None:
        self._cancel_retry()
        delay = min(RETRY_MAX, RETRY_INITIAL * 2**self._failures)
        self._failures += 1
        delay *= random.uniform(0.5, 1.0)
        self._retry = asyncio.get_running_loop().call_later(delay, self._retry_due)

    def _retry_due(self) -> None:
        self._retry = None
        if not self._done.is_set() and self.subscriber.state is SubscriberState.TERMINATED:
            self.subscriber.subscribe(self._now())
            self._pump()

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _deliver(self, item: T | None) -> None:
        if item is not None:
            self.last = item
            self.changes.put_nowait(item)

    def _finish(self) -> None:
        if not self._done.is_set():
            self._done.set()
            self.changes.put_nowait(None)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.subscriber.next_deadline()
        if deadline is not None and not self._done.is_set():
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        # Refreshes (§4.1.2.2), expiries, Timer N (§4.1.2.4), retries (§4.1.3).
        self.subscriber.handle_timeout(self._now())
        self._pump()

    def on_notify(self, incoming: ServerRequest) -> bool:
        """Answer a NOTIFY if it is ours (§4.4.1 matching); False otherwise."""
        request = incoming.request
        if not self.subscriber.matches(request):
            return False
        incoming.send(self.subscriber.receive_notify(request, self._now()))
        self._pump()
        return True


# -- reading NOTIFY bodies ------------------------------------------------------------------------


def presence_reader(aor: str) -> Reader[PresenceChange]:
    def read(
        state: SubscriptionState,
        content_type: str | None,
        body: bytes,
        last: PresenceChange | None,
    ) -> PresenceChange:
        return PresenceChange.of(aor, state, content_type, body)

    return read


def watchers_reader(
    state: SubscriptionState,
    content_type: str | None,
    body: bytes,
    last: WatcherChange | None,
) -> WatcherChange | None:
    """Full state replaces what we knew, partial state is merged by watcher id (RFC 3858
    §4.4); terminated watchers leave the list."""
    known = {w.id: w for w in (last.watchers if last is not None else ())}
    if body:
        try:
            info = watcherinfo.parse(body)
        except PayloadError as exc:
            log.info("unreadable watcherinfo: %s", exc)
            return None
        if info.state is watcherinfo.State.FULL:
            known = {}
        for watcher_list in info.watcher_lists:
            for w in watcher_list.watchers:
                known[w.id] = WatcherEntry(w.uri, w.status.value, w.event.value, w.id)
        known = {k: w for k, w in known.items() if w.status != "terminated"}
    return WatcherChange(tuple(known.values()), state.state, state.reason)


# -- the account's presence --------------------------------------------------------------------


def _stable_id(prefix: str, *parts: str) -> str:
    # RFC 3863 §4.1.2: a tuple keeps its id across documents; one per device here.
    return prefix + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]


def device_presence(
    aor: str,
    contact: str,
    open: bool = True,
    activities: Iterable[str] = (),
    note: str | None = None,
    *,
    contact_when_closed: bool = True,
) -> pidf.Presence:
    """One device's presence: a tuple (basic status and the device's Contact, where it is
    reached, as in the seed's second NOTIFY) and, with activities or a note, a person
    carrying them as RPID (RFC 4480 §3.2). Ids are stable per AOR and Contact."""
    values = tuple(dict.fromkeys(activities))
    persons: tuple[pidf.Person, ...] = ()
    if values or note is not None:
        extensions = (rpid.Activities(values),) if values else ()
        notes = (Note(note),) if note is not None else ()
        persons = (pidf.Person(_stable_id("p", aor), notes, extensions=extensions),)
    service = pidf.Tuple(
        _stable_id("t", aor, contact),
        pidf.Status(pidf.Basic.OPEN if open else pidf.Basic.CLOSED),
        pidf.Contact(contact) if open or contact_when_closed else None,
    )
    return pidf.Presence(f"sip:{aor}", (service,), persons)


class PresenceClient:
    """The presence side of ``account``: one publication (this device's status) and any
    number of watches."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.etag: str | None = None
        self.expires: int | None = None
        self.document: bytes | None = None
        self._watches: list[Watch[Any]] = []
        self._refresh: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        account.event_hooks.append(self._on_request)

    # -- PUBLISH (RFC 3903) ------------------------------------------------------------------

    def status_document(
        self,
        open: bool = True,
        activities: Iterable[str] = (),
        note: str | None = None,
    ) -> bytes:
        """This device's PIDF (:func:`device_presence`)."""
        contact = self.account.contact.strip("<>")
        return pidf.serialize(device_presence(self.account.aor, contact, open, activities, note))

    async def publish_status(
        self,
        open: bool = True,
        activity: str | None = None,
        note: str | None = None,
        *,
        activities: Iterable[str] = (),
        expires: int | None = None,
    ) -> Response:
        """Publish this device's status: ``open`` or closed, an RPID ``activity`` (or
        several) and a ``note``. The first call creates the publication, later ones modify
        it (SIP-If-Match, RFC 3903 §4.4); it is refreshed before it expires."""
        values = [*([activity] if activity else []), *activities]
        document = self.status_document(open, values, note)
        return await self.publish(document, expires=expires)

    async def publish(self, document: bytes, *, expires: int | None = None) -> Response:
        """PUBLISH ``document`` (application/pidf+xml); returns the final response."""
        async with self._lock:
            self.document = document
            return await self._publish(document, expires)

    async def unpublish(self) -> Response | None:
        """Remove the publication (RFC 3903 §4.5: Expires 0 with SIP-If-Match)."""
        async with self._lock:
            self._cancel_refresh()
            if self.etag is None:
                return None
            response = await self._request([("SIP-If-Match", self.etag), ("Expires", "0")])
            self.etag = self.document = None
            return response

    async def _publish(self, document: bytes | None, expires: int | None) -> Response:
        seconds = self.expires if expires is None else expires
        for _ in range(3):
            headers: list[tuple[str, str]] = []
            if self.etag is not None:
                headers.append(("SIP-If-Match", self.etag))
            if seconds is not None:
                headers.append(("Expires", str(seconds)))
            response = await self._request(headers, document)
            if response.status == 412 and self.etag is not None:
                # §4.4/§6: the server has no such publication (expired, or restarted
                # without it): publish the whole state anew.
                self.etag = None
                document = self.document
                if document is None:
                    return response
                continue
            if response.status == 423:
                minimum = response.headers.get("Min-Expires")
                if minimum is not None and minimum.strip().isdigit():
                    seconds = int(minimum.strip())
                    continue
            break
        if 200 <= response.status < 300:
            self.etag = response.headers.get("SIP-ETag") or self.etag
            try:
                granted = response.expires
            except ParseError:
                granted = None
            self.expires = granted if granted is not None else seconds
            self._schedule_refresh()
        return response

    async def _request(
        self, headers: list[tuple[str, str]], document: bytes | None = None
    ) -> Response:
        return await self.account.request(
            "PUBLISH",
            f"sip:{self.account.aor}",
            headers=[("Event", "presence"), *headers],
            body=document or b"",
            content_type=pidf.CONTENT_TYPE if document else None,
        )

    def _schedule_refresh(self) -> None:
        self._cancel_refresh()
        if not self.expires:
            return
        # Refresh well before expiry: a minute early, or at half-time for short ones.
        delay = max(0.1, self.expires - min(self.expires / 2, 60.0))
        self._refresh = asyncio.get_running_loop().call_later(delay, self._start_refresh)

    def _cancel_refresh(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None

    def _start_refresh(self) -> None:
        self._refresh = None

        async def refresh() -> None:
            async with self._lock:
                if self.etag is not None:
                    # §4.3: a refresh carries SIP-If-Match and no body.
                    await self._publish(None, None)

        task = asyncio.get_running_loop().create_task(refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- SUBSCRIBE (RFC 6665, RFC 3856, RFC 3857) ---------------------------------------------

    def watch(
        self,
        aor: str,
        *,
        accept: Iterable[str] | None = None,
        expires: int | None = None,
        auto_retry: bool = True,
        send_expires: bool = True,
    ) -> Watch[PresenceChange]:
        """Subscribe to ``aor``'s presence (an AOR, or a ``sip:`` URI). ``accept`` the body
        types to ask for (default: PIDF, then the seed's CPIM-PIDF); ``expires`` the
        duration to ask for; ``send_expires=False`` leaves Expires out, as the seed's
        SUBSCRIBE does (the notifier's default applies)."""
        config = SubscriberConfig(
            expires=expires,
            send_expires=send_expires,
            accept=None if accept is None else tuple(accept),
            auto_retry=auto_retry,
        )
        watch = Watch(self, PRESENCE, aor, presence_reader(aor), config)
        self._watches.append(watch)
        watch.start()
        return watch

    def watchers(self, *, expires: int | None = None) -> Watch[WatcherChange]:
        """Subscribe to our own watcher information (``presence.winfo``, RFC 3857): who
        watches us and who asks to (pending: friend requests)."""
        config = SubscriberConfig(expires=expires)
        watch: Watch[WatcherChange] = Watch(
            self, PRESENCE_WINFO, self.account.aor, watchers_reader, config
        )
        self._watches.append(watch)
        watch.start()
        return watch

    async def resume(self) -> None:
        """After a recovery: publish our document again (a 412 publishes it anew) and
        resume every watch (``Watch.resume``)."""
        if self.document is not None:
            try:
                await self.publish(self.document, expires=self.expires)
            except OSError as exc:
                log.info("re-publishing failed: %s", exc)
        for watch in list(self._watches):
            watch.resume()

    def _forget(self, watch: Watch[Any]) -> None:
        if watch in self._watches:
            self._watches.remove(watch)

    def _on_request(self, incoming: ServerRequest) -> bool:
        if incoming.request.method != "NOTIFY":
            return False
        return any(watch.on_notify(incoming) for watch in list(self._watches))

    async def close(self) -> None:
        """Unsubscribe everything and remove the publication (bounded waits)."""
        for watch in list(self._watches):
            await watch.close(timeout=2.0)
        try:
            await asyncio.wait_for(self.unpublish(), 5.0)
        except (TimeoutError, OSError):
            pass
        self._cancel_refresh()
        for task in list(self._tasks):
            task.cancel()
        if self._on_request in self.account.event_hooks:
            self.account.event_hooks.remove(self._on_request)


__all__ = [
    "PresenceChange",
    "PresenceClient",
    "Watch",
    "WatcherChange",
    "WatcherEntry",
]
