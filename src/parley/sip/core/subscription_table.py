"""The notifier's subscriptions (RFC 6665 §4.2), keyed by dialog id, with one deadline heap.

``SubscriptionTable`` is what a presence agent drives: SUBSCRIBEs go in
(``receive_subscribe``), the answer comes back, NOTIFYs queue in ``outgoing()``, and the
runtime re-arms one timer for ``next_deadline()`` and calls ``handle_timeout(now)`` when it
fires. No subscription owns a timer: each has at most one live entry in a heap ordered by
deadline, and entries made stale by a later change are skipped when they surface, so
100,000 subscriptions cost 100,000 heap entries, not 100,000 timers.

Validation of a new SUBSCRIBE follows RFC 6665 §4.2.1.1 in this order: Event (489 with
Allow-Events when missing or unknown, §8.2.1), Expires (423 with Min-Expires when too brief),
the ``eventlist`` extension for lists (421, RFC 4662 §5), Accept (406), authorisation (403),
Contact (400, via the dialog).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from parley.sip.core.subscription_headers import EventHeader
from parley.sip.core.subscription_notifier import (
    Authorization,
    LocalEndpoint,
    NotifierState,
    NotifierSubscription,
)
from parley.sip.core.subscription_package import EVENTLIST, EventPackage, PackageRegistry
from parley.sip.dialog import Dialog, DialogId
from parley.sip.errors import LocalProtocolError, ParseError, RemoteProtocolError
from parley.sip.syntax import Request, Response, SipUri, make_response


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """Notifier policy.

    ``rfc3265_accepted``: answer accepted SUBSCRIBEs with 202 as RFC 3265 notifiers did
    (RFC 3265 §3.1.6.1 allowed 202 whenever the notifier would not reveal its authorisation
    decision), instead of RFC 6665's 200 (§8.3.1 deprecates 202; subscribers treat both
    alike). ``fetch_grace``: seconds a fetch (Expires 0) waits for the caller's document
    before its final NOTIFY goes without one.
    """

    rfc3265_accepted: bool = False
    fetch_grace: float = 32.0


@dataclass(frozen=True, slots=True)
class SubscribeOutcome:
    """What a SUBSCRIBE led to: ``response`` to send back now (before any NOTIFY it
    caused, which is in ``outgoing()``), the ``subscription`` it created or refreshed (None
    when refused or unknown), and ``created`` for a new one."""

    response: Response
    subscription: NotifierSubscription | None = None
    created: bool = False

    @property
    def needs_document(self) -> bool:
        """True when a NOTIFY waits for the caller's state document (``update``)."""
        sub = self.subscription
        return sub is not None and sub.owed is not None


def _event_of(request: Request) -> EventHeader | None:
    value = request.headers.get("Event")
    return None if value is None else EventHeader.parse(value)


def _resource_of(request: Request) -> str:
    uri = request.uri
    return uri.aor if isinstance(uri, SipUri) else str(uri)


class SubscriptionTable:
    """Every subscription one notifier holds, by dialog id, and the resource index a
    presence agent needs to notify all watchers of one presentity.

    ``registry``: the event packages served. ``local``: our Via, ids and Contact.
    ``now`` is seconds on the caller's monotonic clock throughout.
    """

    __slots__ = (
        "_by_resource",
        "_counter",
        "_heap",
        "_outgoing",
        "_subscriptions",
        "config",
        "local",
        "registry",
    )

    def __init__(
        self,
        registry: PackageRegistry,
        local: LocalEndpoint,
        config: NotifierConfig | None = None,
    ) -> None:
        self.registry = registry
        self.local = local
        self.config = config or NotifierConfig()
        self._subscriptions: dict[DialogId, NotifierSubscription] = {}
        self._by_resource: dict[tuple[str, str], dict[DialogId, None]] = {}
        self._heap: list[tuple[float, int, NotifierSubscription]] = []
        self._counter = itertools.count()
        self._outgoing: list[tuple[DialogId, Request]] = []

    # -- lookups -----------------------------------------------------------------------

    def get(self, dialog_id: DialogId) -> NotifierSubscription | None:
        return self._subscriptions.get(dialog_id)

    def __len__(self) -> int:
        return len(self._subscriptions)

    def __iter__(self) -> Iterator[NotifierSubscription]:
        return iter(list(self._subscriptions.values()))

    def __contains__(self, dialog_id: object) -> bool:
        return dialog_id in self._subscriptions

    def watchers(self, resource: str, event_type: str) -> list[NotifierSubscription]:
        """The live subscriptions to ``resource`` (an AOR such as ``poisson@probability.org``
        unless the caller named resources itself) for ``event_type``."""
        ids = self._by_resource.get((event_type, resource), {})
        return [self._subscriptions[i] for i in ids]

    # -- SUBSCRIBE ---------------------------------------------------------------------

    def receive_subscribe(
        self,
        request: Request,
        now: float,
        *,
        decision: Authorization = Authorization.ALLOW,
        document: bytes | None = None,
        content_type: str | None = None,
        resource: str | None = None,
        resource_list: bool = False,
        over_tls: bool = False,
        contact: SipUri | None = None,
    ) -> SubscribeOutcome:
        """Answer a SUBSCRIBE: create a subscription (no To tag), or refresh or end the one
        its dialog holds (§4.2.1.4); unknown dialogs get 481.

        For a new subscription, ``decision`` is the caller's authorisation of the watcher,
        ``document`` (of ``content_type``, default the negotiated type) the state to send
        if already known, ``resource`` what it watches (default the Request-URI's AOR), and
        ``resource_list`` says the resource is an RFC 4662 list. Refreshes ignore them.
        ``over_tls``: the request arrived over TLS; ``contact``: our Contact for this
        dialog (default ``local.contact``), the address on the transport it arrived over,
        where the subscriber will send its refreshes. Never raises for the peer's mistakes.
        """
        if request.method != "SUBSCRIBE":
            raise LocalProtocolError(f"a {request.method} is not a SUBSCRIBE")
        try:
            to_tag = request.to.tag
        except ParseError as exc:
            return self._refuse(request, exc.status_hint, exc.reason)
        if to_tag is None:
            try:
                return self._create(
                    request,
                    now,
                    decision=decision,
                    document=document,
                    content_type=content_type,
                    resource=resource,
                    resource_list=resource_list,
                    over_tls=over_tls,
                    contact=contact,
                )
            except RemoteProtocolError as exc:
                return self._refuse(request, exc.status_hint, exc.reason)
        try:
            return self._in_dialog(request, now)
        except RemoteProtocolError as exc:
            return self._refuse(request, exc.status_hint, exc.reason)

    def _create(
        self,
        request: Request,
        now: float,
        *,
        decision: Authorization,
        document: bytes | None,
        content_type: str | None,
        resource: str | None,
        resource_list: bool,
        over_tls: bool,
        contact: SipUri | None,
    ) -> SubscribeOutcome:
        event = _event_of(request)
        package = None if event is None else self.registry.get(event.event_type)
        if event is None or package is None:
            # §8.2.1 / §4.2.1.1: an unknown or missing package is 489, with what we do have.
            return self._refuse(request, 489, extra=[self._allow_events()])
        requested = request.expires
        if requested is not None and 0 < requested < package.min_expires:
            # §4.2.1.1: too brief -> 423 (Interval Too Brief) with Min-Expires.
            return self._refuse(request, 423, extra=[("Min-Expires", str(package.min_expires))])
        if resource_list and EVENTLIST not in _option_tags(request, "Supported"):
            # RFC 4662 §5: a list is served only to subscribers that support eventlist.
            return self._refuse(request, 421, extra=[("Require", EVENTLIST)])
        accept = request.headers.values("Accept") if "Accept" in request.headers else None
        negotiated = package.negotiate(accept, resource_list=resource_list)
        if negotiated is None:
            offered = package.list_accept if resource_list else package.accept
            return self._refuse(request, 406, extra=[("Accept", ", ".join(offered))])
        if decision is Authorization.DENY:
            # §4.2.1.3: not authorised -> 403 (polite blocking is the private way out).
            return self._refuse(request, 403)
        local_tag = self.local.ids.tag()
        target = self.local.contact if contact is None else contact
        dialog = Dialog.uas(request, local_tag, over_tls=over_tls, local_target=target)
        expires = package.grant_expires(requested)
        fetch = expires == 0
        sub = NotifierSubscription(
            dialog=dialog,
            package=package,
            event=event,
            content_type=negotiated,
            state=(
                NotifierState.PENDING if decision is Authorization.PENDING else NotifierState.ACTIVE
            ),
            authorization=decision,
            expires_at=now + (self.config.fetch_grace if fetch else expires),
            resource=_resource_of(request) if resource is None else resource,
            resource_list=resource_list,
            document=document,
            document_type=content_type,
        )
        if sub.id in self._subscriptions:
            raise LocalProtocolError(f"dialog {sub.id} already holds a subscription")
        extra = [
            ("Contact", f"<{target}>"),
            # §4.2.1.1: a 2xx to SUBSCRIBE MUST carry Expires, at most what was asked.
            ("Expires", str(expires)),
            self._allow_events(),
        ]
        # RFC 3261 §12.1.1: a dialog-creating response copies the Record-Route values.
        extra.extend(("Record-Route", value) for value in request.headers.get_all("Record-Route"))
        if resource_list:
            extra.append(("Require", EVENTLIST))
        response = make_response(request, self._accepted_status, to_tag=local_tag, extra=extra)
        self._add(sub)
        self._settle(sub, sub.confirm(now, self.local, fetch=fetch))
        return SubscribeOutcome(response, sub, created=True)

    def _in_dialog(self, request: Request, now: float) -> SubscribeOutcome:
        dialog_id = DialogId.of_request(request)
        sub = None if dialog_id is None else self._subscriptions.get(dialog_id)
        if sub is None:
            # §4.1.2.2 / §12.2.2: no such subscription (or it already ended).
            return self._refuse(request, 481)
        event = _event_of(request)
        if event is None or event.event_type not in self.registry:
            return self._refuse(request, 489, extra=[self._allow_events()])
        if not event.matches(sub.event):
            # §4.5.2 deprecates new subscriptions inside existing dialogs; there is no
            # subscription of this event in the dialog to refresh.
            return self._refuse(request, 481)
        # §12.2.2: the CSeq must rise (500 otherwise); a new Contact is the new target.
        sub.dialog.receive_request(request)
        package = sub.package
        requested = request.expires
        if requested is not None and 0 < requested < package.min_expires:
            return self._refuse(request, 423, extra=[("Min-Expires", str(package.min_expires))])
        expires = package.grant_expires(requested)
        # The dialog's own Contact: the address on the transport it was set up over.
        target = sub.dialog.local_target or self.local.contact
        extra = [("Contact", f"<{target}>"), ("Expires", str(expires))]
        if sub.resource_list:
            extra.append(("Require", EVENTLIST))
        response = make_response(request, self._accepted_status, extra=extra)
        if expires == 0:
            notify = sub.unsubscribe(now, self.local)
        else:
            notify = sub.refresh(expires, now, self.local)
        self._settle(sub, notify)
        return SubscribeOutcome(response, sub)

    @property
    def _accepted_status(self) -> int:
        return 202 if self.config.rfc3265_accepted else 200

    def _allow_events(self) -> tuple[str, str]:
        return ("Allow-Events", self.registry.allow_events())

    def _refuse(
        self,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        extra: list[tuple[str, str]] | None = None,
    ) -> SubscribeOutcome:
        phrase = None if reason is None else "".join(c if c.isprintable() else "?" for c in reason)
        return SubscribeOutcome(
            make_response(request, status, phrase, to_tag=self.local.ids.tag(), extra=extra)
        )

    # -- the caller's inputs -----------------------------------------------------------

    def update(
        self,
        dialog_id: DialogId,
        document: bytes,
        now: float,
        *,
        content_type: str | None = None,
    ) -> bool:
        """New state ``document`` for one subscription (see ``NotifierSubscription.update``:
        rate-limited and coalesced). False when no such subscription exists any more."""
        sub = self._subscriptions.get(dialog_id)
        if sub is None:
            return False
        self._settle(sub, sub.update(document, now, self.local, content_type=content_type))
        return True

    def authorize(
        self,
        dialog_id: DialogId,
        decision: Authorization,
        now: float,
        *,
        document: bytes | None = None,
    ) -> bool:
        """A new authorisation decision (pending -> active on ALLOW, terminated;reason=
        rejected on DENY). False when no such subscription exists any more."""
        sub = self._subscriptions.get(dialog_id)
        if sub is None:
            return False
        self._settle(sub, sub.authorize(decision, now, self.local, document=document))
        return True

    def terminate(
        self,
        dialog_id: DialogId,
        reason: str,
        now: float,
        *,
        retry_after: int | None = None,
    ) -> bool:
        """End a subscription with a final NOTIFY ``terminated;reason=...`` (deactivated,
        probation, noresource...). False when no such subscription exists any more."""
        sub = self._subscriptions.get(dialog_id)
        if sub is None:
            return False
        self._settle(sub, sub.terminate(reason, now, self.local, retry_after=retry_after))
        return True

    def receive_notify_response(self, response: Response) -> NotifierSubscription | None:
        """A response to one of our NOTIFYs; returns the subscription it removed, if any.

        §4.2.2: a 481, or a 408 (Timer F fired, §8.1.3.1), removes the subscription without
        another NOTIFY. A 2xx may carry a new Contact, the subscriber's new target (NOTIFY
        is a target refresh request, §3.2). Other failures leave the subscription be.
        """
        if response.cseq.method != "NOTIFY":
            return None
        dialog_id = DialogId.of_response(response)
        sub = None if dialog_id is None else self._subscriptions.get(dialog_id)
        if sub is None:
            return None
        if response.status in (408, 481):
            sub.notify_failed()
            self._remove(sub)
            return sub
        if 200 <= response.status < 300:
            sub.dialog.receive_response(response)
        return None

    def notify_failed(self, dialog_id: DialogId) -> NotifierSubscription | None:
        """A NOTIFY could not be sent at all (a transport error, §4.2.2): remove the
        subscription as a 408 would. Returns it, or None if it was not held."""
        sub = self._subscriptions.get(dialog_id)
        if sub is None:
            return None
        sub.notify_failed()
        self._remove(sub)
        return sub

    # -- time --------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest deadline of any subscription, or None when none has one."""
        heap = self._heap
        while heap:
            deadline, _, sub = heap[0]
            if sub._scheduled == deadline and sub.id in self._subscriptions:
                return deadline
            heapq.heappop(heap)
        return None

    def handle_timeout(self, now: float) -> None:
        """Act on every deadline at or before ``now``: expiries (final NOTIFYs) and the
        NOTIFYs that rate limiting held back. The NOTIFYs queue in ``outgoing()``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, sub = heapq.heappop(heap)
            if sub._scheduled != deadline or sub.id not in self._subscriptions:
                continue  # stale: the subscription moved its deadline or is gone
            sub._scheduled = None
            self._settle(sub, sub.handle_timeout(now, self.local))

    def outgoing(self) -> list[Request]:
        """The NOTIFYs to send, oldest first; the list is handed over and emptied."""
        return [notify for _, notify in self.outgoing_by_dialog()]

    def outgoing_by_dialog(self) -> list[tuple[DialogId, Request]]:
        """:meth:`outgoing`, each NOTIFY with its dialog's id (a notifier sending to
        thousands of watchers need not read them back from the NOTIFYs)."""
        out, self._outgoing = self._outgoing, []
        return out

    # -- restart -----------------------------------------------------------------------

    def to_dicts(self, now: float) -> list[dict[str, Any]]:
        """Every subscription as JSON-ready data (``NotifierSubscription.to_dict``)."""
        return [sub.to_dict(now) for sub in self._subscriptions.values()]

    def restore(
        self, records: Iterable[Mapping[str, Any]], now: float, *, elapsed: float = 0.0
    ) -> None:
        """Take back subscriptions saved by ``to_dicts`` (``elapsed``: seconds the notifier
        was down). Those whose expiry passed meanwhile end at the next ``handle_timeout``."""
        for record in records:
            sub = NotifierSubscription.from_dict(record, self.registry, now, elapsed=elapsed)
            if sub.id in self._subscriptions:
                raise LocalProtocolError(f"dialog {sub.id} already holds a subscription")
            self._add(sub)
            self._reschedule(sub)

    # -- bookkeeping -------------------------------------------------------------------

    def _add(self, sub: NotifierSubscription) -> None:
        self._subscriptions[sub.id] = sub
        key = (sub.package.name, sub.resource)
        self._by_resource.setdefault(key, {})[sub.id] = None

    def _remove(self, sub: NotifierSubscription) -> None:
        self._subscriptions.pop(sub.id, None)
        sub._scheduled = None
        key = (sub.package.name, sub.resource)
        ids = self._by_resource.get(key)
        if ids is not None:
            ids.pop(sub.id, None)
            if not ids:
                del self._by_resource[key]

    def _settle(self, sub: NotifierSubscription, notify: Request | None) -> None:
        """Queue what a subscription sent, then drop it if it ended or re-file its
        deadline."""
        if notify is not None:
            self._outgoing.append((sub.id, notify))
        if sub.state is NotifierState.TERMINATED:
            self._remove(sub)
        else:
            self._reschedule(sub)

    def _reschedule(self, sub: NotifierSubscription) -> None:
        deadline = sub.next_deadline()
        if deadline == sub._scheduled:
            return
        sub._scheduled = deadline
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._counter), sub))
            if len(self._heap) > 2 * len(self._subscriptions) + 64:
                self._compact()

    def _compact(self) -> None:
        """Drop stale heap entries so that frequent changes cannot grow the heap."""
        self._heap = [
            entry
            for entry in self._heap
            if entry[2]._scheduled == entry[0] and entry[2].id in self._subscriptions
        ]
        heapq.heapify(self._heap)


def _option_tags(request: Request, name: str) -> set[str]:
    return {tag.lower() for tag in request.headers.values(name) if tag}


def package_of(registry: PackageRegistry, request: Request) -> EventPackage | None:
    """The registered package a request's Event names; None when absent or unknown.
    Raises ParseError for a malformed Event."""
    event = _event_of(request)
    return None if event is None else registry.get(event.event_type)


__all__ = ["NotifierConfig", "SubscribeOutcome", "SubscriptionTable", "package_of"]
