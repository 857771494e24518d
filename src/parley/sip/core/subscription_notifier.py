"""One subscription as its notifier holds it (RFC 6665 §4.2), as a state table and deadlines.

States are the substates a NOTIFY reports (§4.1.3: pending, active, terminated); inputs are
the authorisation decisions of the caller's policy, the subscriber's SUBSCRIBEs, the clock
and the answers to our NOTIFYs. ``TRANSITIONS`` says, for each ``(state, input)``, which
NOTIFY goes out and the next state; a missing key is a caller error, as in h11's tables.

The subscription stores absolute deadlines (expiry, the end of the rate-limit interval),
never timer handles. It never reads a body: the package's state document is opaque bytes
that the caller hands in (``update``) and that NOTIFYs carry. ``SubscriptionTable`` holds
many of these and is the usual way to drive them.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from parley.sip.core.subscription_headers import EventHeader, Reason, SubscriptionState
from parley.sip.core.subscription_package import EVENTLIST, EventPackage, PackageRegistry
from parley.sip.core.uac import SentBy
from parley.sip.dialog import Dialog, DialogId, DialogState, IdGenerator
from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request, SipUri, parse_sip_uri, parse_uri


class Authorization(enum.Enum):
    """The caller's policy decision about a watcher (RFC 6665 §4.2.1.3, RFC 3856 §6.6)."""

    #: Authorised: the subscription is active and gets the real state.
    ALLOW = "allow"
    #: Refused: 403 before the subscription exists, ``terminated;reason=rejected`` after.
    DENY = "deny"
    #: Refused without telling (RFC 3856 §6.6 "polite blocking"): the watcher sees an active
    #: subscription, and the caller hands in a neutral document instead of the real one.
    POLITE_BLOCK = "polite-block"
    #: Not decided yet: the subscription is pending and its NOTIFYs carry no document.
    PENDING = "pending"


class NotifierState(enum.Enum):
    """§4.1.3's substates, as the notifier reports them in Subscription-State."""

    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


class NotifierInput(enum.Enum):
    """What moves a notifier's subscription."""

    AUTHORIZED = "authorisation: allow"
    BLOCKED = "authorisation: polite block"
    DEFERRED = "authorisation: pending"
    DENIED = "authorisation: deny"
    STATE_CHANGED = "the package's state changed"
    REFRESHED = "a refreshing SUBSCRIBE"
    UNSUBSCRIBED = "a SUBSCRIBE with Expires 0"
    EXPIRED = "the subscription's expiry"
    DEACTIVATED = "the notifier ends the subscription"
    NOTIFY_FAILED = "481 or 408 to a NOTIFY"


class NotifyAction(enum.Enum):
    """The NOTIFY a transition sends."""

    NONE = "no NOTIFY"
    #: §4.2.1.2: "immediately", whatever the rate limit (the SUBSCRIBE asked for it).
    NOW = "NOTIFY now"
    #: §7.2 / RFC 3856 §6.12: now, or at the end of the rate-limit interval, coalesced.
    RATED = "NOTIFY within the rate limit"
    #: A final ``terminated`` NOTIFY (§4.2.1.4, §4.2.2); the subscription ends.
    FINAL = "final NOTIFY"


_S = NotifierState
_I = NotifierInput
_A = NotifyAction

#: ``{(state, input): (NOTIFY sent, next state)}``; nothing leaves TERMINATED.
TRANSITIONS: Mapping[tuple[NotifierState, NotifierInput], tuple[NotifyAction, NotifierState]] = (
    MappingProxyType(
        {
            # RFC 6665 §4.2.1.3: a pending subscription becomes active once authorised, and
            # RFC 3856 §6.6 has polite blocking look active to the watcher. At once: the
            # rate limit is for changes of the resource's state; a friend request just
            # accepted must not wait out the interval that its pending NOTIFY started.
            (_S.PENDING, _I.AUTHORIZED): (_A.NOW, _S.ACTIVE),
            (_S.PENDING, _I.BLOCKED): (_A.NOW, _S.ACTIVE),
            (_S.PENDING, _I.DEFERRED): (_A.NONE, _S.PENDING),
            # §4.2.1.3 / §4.1.3: refusal after acceptance is terminated;reason=rejected.
            (_S.PENDING, _I.DENIED): (_A.FINAL, _S.TERMINATED),
            # RFC 3856 §6.6: a pending subscription is sent no presence document.
            (_S.PENDING, _I.STATE_CHANGED): (_A.NONE, _S.PENDING),
            # §4.2.1.4: every accepted refresh is followed by a NOTIFY.
            (_S.PENDING, _I.REFRESHED): (_A.NOW, _S.PENDING),
            (_S.PENDING, _I.UNSUBSCRIBED): (_A.FINAL, _S.TERMINATED),
            (_S.PENDING, _I.EXPIRED): (_A.FINAL, _S.TERMINATED),
            (_S.PENDING, _I.DEACTIVATED): (_A.FINAL, _S.TERMINATED),
            # §4.2.2: a 481 or 408 to a NOTIFY removes the subscription, with no NOTIFY.
            (_S.PENDING, _I.NOTIFY_FAILED): (_A.NONE, _S.TERMINATED),
            (_S.ACTIVE, _I.AUTHORIZED): (_A.RATED, _S.ACTIVE),
            (_S.ACTIVE, _I.BLOCKED): (_A.RATED, _S.ACTIVE),
            (_S.ACTIVE, _I.DEFERRED): (_A.RATED, _S.PENDING),
            (_S.ACTIVE, _I.DENIED): (_A.FINAL, _S.TERMINATED),
            (_S.ACTIVE, _I.STATE_CHANGED): (_A.RATED, _S.ACTIVE),
            (_S.ACTIVE, _I.REFRESHED): (_A.NOW, _S.ACTIVE),
            (_S.ACTIVE, _I.UNSUBSCRIBED): (_A.FINAL, _S.TERMINATED),
            (_S.ACTIVE, _I.EXPIRED): (_A.FINAL, _S.TERMINATED),
            (_S.ACTIVE, _I.DEACTIVATED): (_A.FINAL, _S.TERMINATED),
            (_S.ACTIVE, _I.NOTIFY_FAILED): (_A.NONE, _S.TERMINATED),
        }
    )
)

#: The decision -> the input it is to the state table.
DECISION_INPUTS: Mapping[Authorization, NotifierInput] = MappingProxyType(
    {
        Authorization.ALLOW: NotifierInput.AUTHORIZED,
        Authorization.POLITE_BLOCK: NotifierInput.BLOCKED,
        Authorization.PENDING: NotifierInput.DEFERRED,
        Authorization.DENY: NotifierInput.DENIED,
    }
)

#: §4.2.1.4: an expiry and an unsubscription both end with reason=timeout; §4.1.3: a
#: refusal after the fact is reason=rejected. DEACTIVATED carries the caller's reason.
FINAL_REASONS: Mapping[NotifierInput, str] = MappingProxyType(
    {
        NotifierInput.DENIED: Reason.REJECTED,
        NotifierInput.UNSUBSCRIBED: Reason.TIMEOUT,
        NotifierInput.EXPIRED: Reason.TIMEOUT,
    }
)


def move(state: NotifierState, event: NotifierInput) -> tuple[NotifyAction, NotifierState]:
    """``TRANSITIONS[(state, event)]``; LocalProtocolError for a missing key."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise LocalProtocolError(
            f"a {state.value} subscription cannot take: {event.value}"
        ) from None


@dataclass(frozen=True, slots=True)
class LocalEndpoint:
    """Who we are in the requests a subscription sends (NOTIFYs, or SUBSCRIBEs for a
    subscriber): our Via ``sent_by``, the identifier source for tags, Call-IDs and
    branches, our Contact (in 2xx to SUBSCRIBE and every NOTIFY and SUBSCRIBE, §4.2.1.1,
    §3.1, §3.2) and ``headers`` added to each request (Allow, User-Agent...)."""

    sent_by: SentBy
    ids: IdGenerator
    contact: SipUri
    headers: tuple[tuple[str, str], ...] = ()


def _remaining(deadline: float, now: float) -> int:
    # Whole seconds left, rounded down so the subscriber never believes in a longer life
    # than it has; the epsilon keeps 3600.0 - 1e-13 from reading as 3599.
    return max(0, int(deadline - now + 1e-6))


class NotifierSubscription:
    """A subscription at its notifier: the dialog it lives in, its package, state, expiry
    and the rate limiter of its NOTIFYs.

    ``now`` is seconds on the caller's monotonic clock; every deadline here is on it.
    ``document`` is the package's current state document for this watcher (opaque bytes,
    None until the caller gives one), ``version`` counts the documents sent so far, so the
    document being built now is number ``version`` (RFC 3858 and RFC 4662 number theirs).
    ``owed`` is a NOTIFY that fell due while no document was there yet: it goes out as
    soon as ``update`` brings one.

    Methods return the NOTIFY to send, if any; ``SubscriptionTable`` calls them and keeps
    its deadline heap in step, so callers holding a table go through the table.
    """

    __slots__ = (
        "_scheduled",
        "authorization",
        "content_type",
        "dialog",
        "document",
        "document_type",
        "event",
        "expires_at",
        "last_notify_at",
        "notify_due_at",
        "owed",
        "package",
        "resource",
        "resource_list",
        "state",
        "version",
    )

    def __init__(
        self,
        *,
        dialog: Dialog,
        package: EventPackage,
        event: EventHeader,
        content_type: str,
        state: NotifierState,
        authorization: Authorization,
        expires_at: float,
        resource: str,
        resource_list: bool = False,
        document: bytes | None = None,
        document_type: str | None = None,
        version: int = 0,
        last_notify_at: float | None = None,
        notify_due_at: float | None = None,
        owed: NotifyAction | None = None,
    ) -> None:
        self.dialog = dialog
        self.package = package
        # §8.2.1: NOTIFYs repeat the SUBSCRIBE's event type and id, nothing else.
        self.event = EventHeader(event.package, event.templates, event.id)
        self.content_type = content_type
        self.state = state
        self.authorization = authorization
        self.expires_at = expires_at
        self.resource = resource
        self.resource_list = resource_list
        self.document = document
        self.document_type = document_type
        self.version = version
        self.last_notify_at = last_notify_at
        self.notify_due_at = notify_due_at
        self.owed = owed
        self._scheduled: float | None = None

    @property
    def id(self) -> DialogId:
        """The dialog id, which keys the subscription in its table."""
        return self.dialog.id

    @property
    def blocked(self) -> bool:
        """True under polite blocking: the caller's documents must be neutral ones."""
        return self.authorization is Authorization.POLITE_BLOCK

    def remaining(self, now: float) -> int:
        """Whole seconds until expiry, as Subscription-State's ``expires`` reports them."""
        return _remaining(self.expires_at, now)

    def next_deadline(self) -> float | None:
        """The earliest of the expiry and a coalesced NOTIFY; None once terminated."""
        if self.state is NotifierState.TERMINATED:
            return None
        due = self.notify_due_at
        return self.expires_at if due is None or due > self.expires_at else due

    # -- inputs ------------------------------------------------------------------------

    def confirm(self, now: float, local: LocalEndpoint, *, fetch: bool) -> Request | None:
        """The NOTIFY that must follow the 2xx to the creating SUBSCRIBE (§4.2.1.2).

        For a fetch (Expires 0, §4.2.1.1) it is the final one, carrying the state if the
        subscription is active: held back (``owed``) until ``update`` gives a document.
        """
        if not fetch:
            return self._send_now(now, local)
        if self.state is NotifierState.ACTIVE and self.document is None:
            self.owed = NotifyAction.FINAL
            return None
        return self._fire(NotifierInput.UNSUBSCRIBED, now, local)

    def update(
        self,
        document: bytes,
        now: float,
        local: LocalEndpoint,
        *,
        content_type: str | None = None,
    ) -> Request | None:
        """The package's state for this watcher changed to ``document``.

        Within the package's ``min_notify_interval`` of the last NOTIFY, nothing is sent
        now: one NOTIFY goes out at the interval's end with whatever document is latest then
        (coalescing, never dropping the last state). ``content_type`` overrides the
        negotiated type for this document (a multipart boundary, RFC 4662).
        """
        self.document = document
        self.document_type = content_type
        if self.owed is NotifyAction.FINAL:
            return self._fire(NotifierInput.UNSUBSCRIBED, now, local)
        return self._fire(NotifierInput.STATE_CHANGED, now, local)

    def authorize(
        self,
        decision: Authorization,
        now: float,
        local: LocalEndpoint,
        *,
        document: bytes | None = None,
    ) -> Request | None:
        """A new authorisation decision (§4.2.1.3); ``document`` is the state to show from
        now on (a neutral one for POLITE_BLOCK)."""
        if document is not None:
            self.document = document
            self.document_type = None
        if decision is not Authorization.DENY:
            self.authorization = decision
        return self._fire(DECISION_INPUTS[decision], now, local)

    def refresh(self, expires: int, now: float, local: LocalEndpoint) -> Request | None:
        """An accepted refresh (§4.2.1.4): a new expiry, and a NOTIFY at once."""
        self.expires_at = now + expires
        return self._fire(NotifierInput.REFRESHED, now, local)

    def unsubscribe(self, now: float, local: LocalEndpoint) -> Request | None:
        """A SUBSCRIBE with Expires 0 (§4.1.2.3): the final NOTIFY, terminated;reason=timeout
        (§4.2.1.4), with the current state when active."""
        return self._fire(NotifierInput.UNSUBSCRIBED, now, local)

    def terminate(
        self,
        reason: str,
        now: float,
        local: LocalEndpoint,
        *,
        retry_after: int | None = None,
    ) -> Request | None:
        """The notifier ends the subscription (§4.2.2) with ``reason`` (a ``Reason``, or an
        extension token) and, for probation or giveup, ``retry_after`` seconds."""
        return self._fire(NotifierInput.DEACTIVATED, now, local, reason, retry_after)

    def notify_failed(self) -> None:
        """A 481 or 408 (Timer F, or a transport failure's) answered a NOTIFY (§4.2.2)."""
        self._fire(NotifierInput.NOTIFY_FAILED, 0.0, None)

    def handle_timeout(self, now: float, local: LocalEndpoint) -> Request | None:
        """Act on the deadlines that have passed: the expiry (final NOTIFY with reason
        timeout, §4.2.1.4), else the end of the rate-limit interval (the coalesced NOTIFY)."""
        if self.state is NotifierState.TERMINATED:
            return None
        if self.expires_at <= now:
            return self._fire(NotifierInput.EXPIRED, now, local)
        due = self.notify_due_at
        if due is not None and due <= now:
            self.notify_due_at = None
            return self._send_now(now, local)
        return None

    # -- the machine -------------------------------------------------------------------

    def _fire(
        self,
        event: NotifierInput,
        now: float,
        local: LocalEndpoint | None,
        reason: str | None = None,
        retry_after: int | None = None,
    ) -> Request | None:
        before = self.state
        action, after = move(before, event)
        self.state = after
        if action is NotifyAction.NONE or local is None:
            if after is NotifierState.TERMINATED:
                self._end()
            return None
        if action is NotifyAction.FINAL:
            final = FINAL_REASONS.get(event, reason)
            if final is None:
                raise LocalProtocolError("a terminated NOTIFY needs a reason here")
            # §4.2.1.4: an unsubscription (or fetch) may carry the state; others do not.
            with_state = event is NotifierInput.UNSUBSCRIBED and before is NotifierState.ACTIVE
            notify = self._build(
                now,
                local,
                SubscriptionState("terminated", reason=final, retry_after=retry_after),
                with_state,
            )
            self._end()
            return notify
        if action is NotifyAction.NOW:
            return self._send_now(now, local)
        return self._send_rated(now, local)

    def _send_rated(self, now: float, local: LocalEndpoint) -> Request | None:
        if self.owed is not None:
            # Already due, and waiting only for a document.
            return self._send_now(now, local)
        last = self.last_notify_at
        if last is not None and now < last + self.package.min_notify_interval:
            if self.notify_due_at is None:
                self.notify_due_at = last + self.package.min_notify_interval
            return None
        return self._send_now(now, local)

    def _send_now(self, now: float, local: LocalEndpoint) -> Request | None:
        active = self.state is NotifierState.ACTIVE
        if active and self.document is None:
            self.owed = NotifyAction.NOW
            self.notify_due_at = None
            return None
        self.owed = None
        state = SubscriptionState(self.state.value, expires=self.remaining(now))
        return self._build(now, local, state, active)

    def _build(
        self,
        now: float,
        local: LocalEndpoint,
        state: SubscriptionState,
        with_document: bool,
    ) -> Request:
        """A NOTIFY in the dialog (§4.2.2, §3.2): Event as subscribed, Subscription-State,
        the document and its type when ``with_document``; the dialog numbers it."""
        headers = [("Event", str(self.event)), ("Subscription-State", str(state))]
        if self.resource_list:
            # RFC 4662 §5: NOTIFYs of a list subscription require eventlist.
            headers.append(("Require", EVENTLIST))
        headers.extend(local.headers)
        body = b""
        if with_document and self.document is not None:
            body = self.document
            headers.append(("Content-Type", self.document_type or self.content_type))
            self.version += 1
        sent_by = local.sent_by
        notify = self.dialog.create_request(
            "NOTIFY",
            branch=local.ids.branch(),
            sent_by=(sent_by.host, sent_by.port),
            transport=sent_by.transport,
            headers=headers,
            body=body,
        )
        self.last_notify_at = now
        self.notify_due_at = None
        self.owed = None
        return notify

    def _end(self) -> None:
        self.notify_due_at = None
        self.owed = None
        if self.dialog.state is not DialogState.TERMINATED:
            self.dialog.terminate()

    # -- restart -----------------------------------------------------------------------

    def to_dict(self, now: float) -> dict[str, Any]:
        """JSON-ready state: the dialog (tags, route set, CSeqs, targets), the package by
        name, expiry and rate-limit deadlines relative to ``now``, the version counter and
        the latest document (base64), so that ``from_dict`` rebuilds it after a restart."""
        dialog = self.dialog
        return {
            "dialog": {
                "call_id": dialog.id.call_id,
                "local_tag": dialog.id.local_tag,
                "remote_tag": dialog.id.remote_tag,
                "local_uri": str(dialog.local_uri),
                "remote_uri": str(dialog.remote_uri),
                "remote_target": str(dialog.remote_target),
                "route_set": [str(uri) for uri in dialog.route_set],
                "local_seq": dialog.local_seq,
                "remote_seq": dialog.remote_seq,
                "secure": dialog.secure,
                "local_target": None if dialog.local_target is None else str(dialog.local_target),
            },
            "package": self.package.name,
            "event_id": self.event.id,
            "content_type": self.content_type,
            "state": self.state.value,
            "authorization": self.authorization.value,
            "resource": self.resource,
            "resource_list": self.resource_list,
            "expires_in": self.expires_at - now,
            "notify_due_in": None if self.notify_due_at is None else self.notify_due_at - now,
            "last_notify_ago": None if self.last_notify_at is None else now - self.last_notify_at,
            "version": self.version,
            "document": None
            if self.document is None
            else base64.b64encode(self.document).decode("ascii"),
            "document_type": self.document_type,
            "owed": None if self.owed is None else self.owed.name,
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        registry: PackageRegistry,
        now: float,
        *,
        elapsed: float = 0.0,
    ) -> NotifierSubscription:
        """Rebuild a subscription saved by ``to_dict``. ``now`` is the new clock's reading,
        ``elapsed`` the seconds that passed while it was down (deadlines move that much
        nearer). LocalProtocolError when its package is no longer registered."""
        package = registry.get(data["package"])
        if package is None:
            raise LocalProtocolError(f"event package {data['package']} is not registered")
        d = data["dialog"]
        local_target = d["local_target"]
        dialog = Dialog(
            dialog_id=DialogId(d["call_id"], d["local_tag"], d["remote_tag"]),
            state=DialogState.CONFIRMED,
            method="SUBSCRIBE",
            local_uri=parse_uri(d["local_uri"]),
            remote_uri=parse_uri(d["remote_uri"]),
            remote_target=parse_sip_uri(d["remote_target"]),
            route_set=[parse_sip_uri(uri) for uri in d["route_set"]],
            local_seq=d["local_seq"],
            remote_seq=d["remote_seq"],
            secure=d["secure"],
            local_target=None if local_target is None else parse_sip_uri(local_target),
        )
        due = data["notify_due_in"]
        ago = data["last_notify_ago"]
        document = data["document"]
        owed = data["owed"]
        return cls(
            dialog=dialog,
            package=package,
            event=EventHeader.of_type(package.name, data["event_id"]),
            content_type=data["content_type"],
            state=NotifierState(data["state"]),
            authorization=Authorization(data["authorization"]),
            expires_at=now + data["expires_in"] - elapsed,
            resource=data["resource"],
            resource_list=data["resource_list"],
            document=None if document is None else base64.b64decode(document),
            document_type=data["document_type"],
            version=data["version"],
            last_notify_at=None if ago is None else now - ago - elapsed,
            notify_due_at=None if due is None else now + due - elapsed,
            owed=None if owed is None else NotifyAction[owed],
        )

    def __repr__(self) -> str:
        return f"<NotifierSubscription {self.event} {self.state.value} {self.dialog.id}>"


__all__ = [
    "DECISION_INPUTS",
    "FINAL_REASONS",
    "TRANSITIONS",
    "Authorization",
    "LocalEndpoint",
    "NotifierInput",
    "NotifierState",
    "NotifierSubscription",
    "NotifyAction",
    "move",
]
