"""The subscriber's side of RFC 6665 (§4.1): one SUBSCRIBE and the subscriptions it makes.

A ``Subscriber`` sends the initial SUBSCRIBE, and then holds one subscription per notifier
that answered it: a forked SUBSCRIBE can be accepted by several, each NOTIFY with a new From
tag making a dialog of its own (§4.1.4). It refreshes each before expiry (§4.1.2.2),
retries a 423 with the Min-Expires asked for, unsubscribes (§4.1.2.3), reads
Subscription-State (§4.1.3) and, unless told not to, subscribes anew when a termination
reason allows it. 200 and 202 are the same answer to it (§8.3.1).

Sans-I/O like the rest of the core: requests to send queue in ``outgoing()``, what happened
queues in ``next_event()``, a NOTIFY is answered by the ``Response`` that ``receive_notify``
returns, and the runtime calls ``handle_timeout(now)`` at ``next_deadline()``. Bodies are
handed over untouched: parsing PIDF is for the payload codecs.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from parley.sip.core.subscription_headers import EventHeader, Reason, SubscriptionState
from parley.sip.core.subscription_notifier import LocalEndpoint
from parley.sip.core.subscription_package import EVENTLIST, EventPackage
from parley.sip.core.uac import build_request
from parley.sip.dialog import Dialog, DialogId, DialogState, DialogTable
from parley.sip.errors import LocalProtocolError, ParseError, RemoteProtocolError
from parley.sip.syntax import Request, Response, Uri, make_response, parse_uri
from parley.sip.syntax.abnf import parse_uint

# -- configuration and events --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriberConfig:
    """Subscriber policy.

    ``expires``: the duration to ask for (None: the package default; 0: a fetch).
    ``send_expires``: put Expires in SUBSCRIBEs (§3.1.1 SHOULD); without it the notifier
    applies the package default, as the seed's RFC 3265-era subscriber relied on. An
    unsubscription always carries ``Expires: 0``.
    ``refresh_margin``: refresh this many seconds before expiry, or at half-time for short
    subscriptions (§4.1.2.2 leaves the moment to the subscriber).
    ``timer_n``: §4.1.2.4's Timer N (64*T1): how long to await a NOTIFY after sending the
    SUBSCRIBE, and forks' NOTIFYs with it (§4.1.4).
    ``retry_delay``: seconds before subscribing anew after probation or giveup without
    retry-after, or after our own give-up (no NOTIFY in Timer N).
    ``auto_retry``: subscribe anew when a termination allows it (§4.1.3).
    ``accept``: the Accept to send (None: the package's types).
    ``resource_list``: ask for an RFC 4662 list (Supported: eventlist, multipart Accept).
    """

    expires: int | None = None
    send_expires: bool = True
    refresh_margin: float = 60.0
    timer_n: float = 32.0
    retry_delay: float = 60.0
    auto_retry: bool = True
    accept: tuple[str, ...] | None = None
    resource_list: bool = False


class SubscriberState(enum.Enum):
    """Where a subscription stands for its subscriber (pjsip-simple's evsub names)."""

    #: SUBSCRIBE sent, no dialog yet.
    SUBSCRIBING = "subscribing"
    #: A 2xx came, no NOTIFY yet (§4.1.2.4: the state is still unknown).
    ACCEPTED = "accepted"
    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


_RANK = {
    SubscriberState.ACTIVE: 3,
    SubscriberState.PENDING: 2,
    SubscriberState.ACCEPTED: 1,
    SubscriberState.SUBSCRIBING: 0,
    SubscriberState.TERMINATED: -1,
}


@dataclass(frozen=True, slots=True)
class SubscriptionAccepted:
    """A 2xx (200 or 202, §8.3.1) answered a SUBSCRIBE in dialog ``dialog_id``, granting
    ``expires`` seconds; ``refresh`` is True for a refresh."""

    dialog_id: DialogId
    status: int
    expires: int
    refresh: bool


@dataclass(frozen=True, slots=True)
class SubscriptionRejected:
    """The initial SUBSCRIBE failed with ``status`` (489: no such package, 403, 404...);
    ``retry_after`` is its Retry-After, if any."""

    status: int
    reason: str
    retry_after: int | None


@dataclass(frozen=True, slots=True)
class NotifyReceived:
    """A NOTIFY was accepted (and answered 200): the subscription ``state`` it reports and
    its body, untouched."""

    dialog_id: DialogId
    state: SubscriptionState
    content_type: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class SubscriptionTerminated:
    """One subscription ended. ``by_notifier``: a NOTIFY said terminated (``reason`` and
    ``retry_after`` are its parameters), else we ended it ourselves: a 481 to a refresh, an
    expiry without refresh (``reason`` ``timeout``), no NOTIFY within Timer N.
    ``retry_at`` is when this subscriber will subscribe anew on its own, or None."""

    dialog_id: DialogId
    reason: str | None
    retry_after: int | None
    by_notifier: bool
    retry_at: float | None


SubscriberEvent = (
    SubscriptionAccepted | SubscriptionRejected | NotifyReceived | SubscriptionTerminated
)


def retry_delay(reason: str | None, retry_after: int | None, *, default: float) -> float | None:
    """Seconds to wait before subscribing again after ``terminated;reason=...`` (§4.1.3),
    or None when the subscriber should not: rejected, noresource and invariant forbid it;
    deactivated and timeout allow it at once (retry-after has no meaning for them);
    probation and giveup ask to wait ``retry_after`` (``default`` when absent); with no
    reason or an unknown one, the client may retry, after ``retry_after`` if given."""
    if reason in (Reason.REJECTED, Reason.NORESOURCE, Reason.INVARIANT):
        return None
    if reason in (Reason.DEACTIVATED, Reason.TIMEOUT):
        return 0.0
    if reason in (Reason.PROBATION, Reason.GIVEUP):
        return default if retry_after is None else float(retry_after)
    return 0.0 if retry_after is None else float(retry_after)


class _Fork:
    """One subscription of the SUBSCRIBE: the dialog one notifier made (§4.1.4)."""

    __slots__ = (
        "dialog",
        "expires_at",
        "notified",
        "refresh_at",
        "refreshing",
        "state",
        "unsubscribing",
    )

    def __init__(self, dialog: Dialog, state: SubscriberState) -> None:
        self.dialog = dialog
        self.state = state
        self.expires_at: float | None = None
        self.refresh_at: float | None = None
        self.refreshing = False
        self.unsubscribing = False
        self.notified = False


# -- the subscriber --------------------------------------------------------------------------


class Subscriber:
    """The subscriptions one SUBSCRIBE to ``target`` for ``package`` creates.

    ``from_`` is our name-addr (a tag is added), ``to`` the To (default the target),
    ``local`` our Via/Contact/ids, ``event_id`` the Event ``id`` (§8.2.1). ``now`` is
    seconds on the caller's monotonic clock. Nothing is sent before ``subscribe(now)``.
    """

    __slots__ = (
        "_answered",
        "_await_until",
        "_awaiting",
        "_dialogs",
        "_ended",
        "_events",
        "_expires",
        "_forks",
        "_outgoing",
        "_request",
        "_retry_at",
        "_unsubscribed",
        "config",
        "event",
        "from_",
        "local",
        "package",
        "target",
        "to",
    )

    def __init__(
        self,
        package: EventPackage,
        target: Uri | str,
        *,
        from_: str,
        local: LocalEndpoint,
        to: str | None = None,
        config: SubscriberConfig | None = None,
        event_id: str | None = None,
    ) -> None:
        self.package = package
        self.target = parse_uri(target) if isinstance(target, str) else target
        self.from_ = from_
        self.to = to
        self.local = local
        self.config = config or SubscriberConfig()
        self.event = EventHeader.of_type(package.name, event_id)
        expires = self.config.expires
        self._expires = package.default_expires if expires is None else expires
        self._dialogs = DialogTable()
        self._forks: dict[DialogId, _Fork] = {}
        # Dialogs of the current attempt that already ended, so a late 2xx revives none.
        self._ended: set[DialogId] = set()
        self._request: Request | None = None
        self._answered = False
        self._awaiting = False
        self._await_until: float | None = None
        self._retry_at: float | None = None
        self._unsubscribed = False
        self._outgoing: list[Request] = []
        self._events: deque[SubscriberEvent] = deque()

    # -- reading -----------------------------------------------------------------------

    @property
    def state(self) -> SubscriberState:
        """The best state among the live subscriptions; SUBSCRIBING while the SUBSCRIBE
        awaits its first dialog, TERMINATED when nothing is alive (a retry may be due)."""
        if self._forks:
            return max((fork.state for fork in self._forks.values()), key=_RANK.__getitem__)
        return SubscriberState.SUBSCRIBING if self._awaiting else SubscriberState.TERMINATED

    @property
    def dialogs(self) -> list[DialogId]:
        """The dialog ids of the live subscriptions, one per notifier that answered."""
        return list(self._forks)

    def fork_state(self, dialog_id: DialogId) -> SubscriberState:
        fork = self._forks.get(dialog_id)
        return SubscriberState.TERMINATED if fork is None else fork.state

    def expires_at(self, dialog_id: DialogId) -> float | None:
        """When the subscription in ``dialog_id`` lapses unless refreshed."""
        fork = self._forks.get(dialog_id)
        return None if fork is None else fork.expires_at

    @property
    def retry_at(self) -> float | None:
        """When a new subscription will be attempted, if one is planned."""
        return self._retry_at

    def matches(self, request: Request) -> bool:
        """Whether a NOTIFY is ours to answer: its Call-ID and To tag are those of our
        SUBSCRIBE or of one of our dialogs (§4.4.1). The Event is checked on receipt."""
        if request.method != "NOTIFY":
            return False
        try:
            call_id, to_tag = request.call_id, request.to.tag
        except ParseError:
            return False
        for dialog_id in self._forks:
            if dialog_id.call_id == call_id and dialog_id.local_tag == to_tag:
                return True
        sent = self._request
        return sent is not None and sent.call_id == call_id and sent.from_.tag == to_tag

    # -- outputs -----------------------------------------------------------------------

    def outgoing(self) -> list[Request]:
        """Requests to send (SUBSCRIBEs), oldest first; the list is handed over and emptied."""
        out, self._outgoing = self._outgoing, []
        return out

    def next_event(self) -> SubscriberEvent | None:
        return self._events.popleft() if self._events else None

    def next_deadline(self) -> float | None:
        """The earliest of Timer N, refreshes, expiries and a planned retry."""
        deadlines: list[float] = []
        if self._await_until is not None:
            deadlines.append(self._await_until)
        for fork in self._forks.values():
            if fork.expires_at is not None:
                deadlines.append(fork.expires_at)
            if fork.refresh_at is not None and not (fork.refreshing or fork.unsubscribing):
                deadlines.append(fork.refresh_at)
        if self._retry_at is not None:
            deadlines.append(self._retry_at)
        return min(deadlines) if deadlines else None

    # -- the caller's inputs -----------------------------------------------------------

    def subscribe(self, now: float) -> None:
        """Send a new initial SUBSCRIBE (new Call-ID and From tag): the first one, or a
        fresh attempt once everything has ended. LocalProtocolError while some
        subscription of this subscriber is still alive or awaited."""
        if self._forks or self._awaiting:
            raise LocalProtocolError("this subscriber already has a subscription under way")
        self._unsubscribed = False
        self._retry_at = None
        self._send_initial(now, from_=self.from_, call_id=None, cseq=1)

    def refresh(self, now: float) -> None:
        """Refresh every live subscription now (§4.1.2.2), with the current Expires."""
        for fork in self._forks.values():
            if not fork.unsubscribing:
                self._send_in_dialog(fork, self._expires)
                fork.refreshing = True

    def unsubscribe(self, now: float) -> None:
        """End every subscription (§4.1.2.3): SUBSCRIBE with Expires 0 in each dialog; the
        final NOTIFYs end them. A dialog that appears later is unsubscribed as it comes.
        No retry follows."""
        self._unsubscribed = True
        self._retry_at = None
        for fork in self._forks.values():
            self._unsubscribe_fork(fork, now)

    # -- responses to our SUBSCRIBEs -----------------------------------------------------

    def receive_response(self, response: Response, now: float) -> None:
        """A response to one of our SUBSCRIBEs (including the synthetic 408/503 that
        §8.1.3.1 makes of timeouts and transport failures)."""
        if response.status < 200 or response.cseq.method != "SUBSCRIBE":
            return
        sent = self._request
        if (
            sent is not None
            and not self._answered
            and response.call_id == sent.call_id
            and response.cseq.seq == sent.cseq.seq
        ):
            self._answered = True
            self._initial_response(sent, response, now)
            return
        dialog_id = DialogId.of_response(response)
        fork = None if dialog_id is None else self._forks.get(dialog_id)
        if fork is not None:
            self._in_dialog_response(fork, response, now)

    def _initial_response(self, sent: Request, response: Response, now: float) -> None:
        status = response.status
        if 200 <= status < 300:
            # §8.3.1: 202 is the same as 200 to an RFC 6665 subscriber.
            expires = _expires_of(response, self._expires)
            dialog_id = DialogId.of_response(response)
            if dialog_id is None or dialog_id in self._ended:
                return  # that notifier's subscription already ended (a NOTIFY said so)
            fork = self._forks.get(dialog_id)
            if fork is None:
                if self._forks and not self.package.allows_forking:
                    return  # another notifier already holds the one subscription allowed
                try:
                    dialog = Dialog.uac(sent, response)
                except (RemoteProtocolError, LocalProtocolError):
                    return  # an unusable 2xx: the notifier's NOTIFY may still build it
                self._dialogs.add(dialog)
                fork = self._new_fork(dialog, SubscriberState.ACCEPTED, now)
            else:
                fork.dialog.receive_response(response)
            if not fork.notified and not fork.unsubscribing:
                # A NOTIFY's expires, when one came first, is the newer word (§4.1.3).
                self._set_expiry(fork, expires, now)
            self._events.append(SubscriptionAccepted(fork.dialog.id, status, expires, False))
            return
        if status == 423 and self._raise_expires(response):
            # §4.1.2.1 / RFC 3261 §8.1.3.5: retry with the Min-Expires asked for, same
            # Call-ID, To and From, CSeq one higher.
            self._send_initial(
                now, from_=str(sent.from_), call_id=sent.call_id, cseq=sent.cseq.seq + 1
            )
            return
        # A failure: no notifier accepted. Dialogs that NOTIFYs already built stand
        # (§4.4.1); no more are awaited.
        self._stop_awaiting()
        self._events.append(SubscriptionRejected(status, response.reason, _retry_after(response)))

    def _in_dialog_response(self, fork: _Fork, response: Response, now: float) -> None:
        status = response.status
        if 200 <= status < 300:
            fork.dialog.receive_response(response)
            fork.refreshing = False
            if fork.unsubscribing:
                return
            expires = _expires_of(response, self._expires)
            self._set_expiry(fork, expires, now)
            self._events.append(SubscriptionAccepted(fork.dialog.id, status, expires, True))
        elif status == 423 and not fork.unsubscribing and self._raise_expires(response):
            self._send_in_dialog(fork, self._expires)
        elif status == 481 or fork.unsubscribing:
            # §4.1.2.2: a 481 to a refresh means the subscription is gone. A failed
            # unsubscription ends it here all the same; the notifier will expire it.
            self._end_fork(fork, None, None, now, by_notifier=False)
        else:
            # §4.1.2.2: any other failure leaves the subscription valid until it expires.
            fork.refreshing = False
            fork.refresh_at = None

    def _raise_expires(self, response: Response) -> bool:
        """Adopt a 423's Min-Expires; False when it is missing, unreadable or no higher."""
        value = response.headers.get("Min-Expires")
        try:
            minimum = None if value is None else parse_uint(value, "Min-Expires")
        except ParseError:
            minimum = None
        if minimum is None or minimum <= self._expires:
            return False
        self._expires = minimum
        return True

    # -- NOTIFY --------------------------------------------------------------------------

    def receive_notify(self, request: Request, now: float) -> Response:
        """Process a NOTIFY and return its answer: 200, or 481 when it belongs to no
        subscription of ours (§4.1.3, §4.4.1), 400 without a usable Subscription-State
        or Event, 500 out of CSeq order (RFC 3261 §12.2.2)."""
        if not self.matches(request):
            return _answer(request, 481)
        try:
            event_text = request.headers.get("Event")
            state_text = request.headers.get("Subscription-State")
            if event_text is None or state_text is None:
                return _answer(request, 400, "Missing Event or Subscription-State")
            if not EventHeader.parse(event_text).matches(self.event):
                return _answer(request, 481)
            state = SubscriptionState.parse(state_text)
            dialog_id = DialogId(request.call_id, self._our_tag(request), request.from_.tag)
        except ParseError as exc:
            return _answer(request, exc.status_hint, exc.reason)
        fork = self._forks.get(dialog_id)
        if fork is None:
            if (
                not self._awaiting
                or dialog_id in self._ended
                or self._dialogs.match_notify(request) is None
            ):
                # §4.1.3: no such subscription (any more): 481 tells the notifier so.
                return _answer(request, 481)
            if self._forks and not self.package.allows_forking:
                # §4.1.4, §7.2.4: a package without forking keeps one subscription; the
                # 481 makes the other notifier drop its own (§4.2.2).
                return _answer(request, 481)
            if state.terminated:
                # §4.4.1: a terminated NOTIFY creates no dialog.
                self._events.append(
                    NotifyReceived(dialog_id, state, request.content_type, request.body)
                )
                self._after_termination(dialog_id, state.reason, state.retry_after, now, True)
                return _answer(request, 200)
            try:
                dialog = self._dialogs.create_subscriber_dialog(request)
            except RemoteProtocolError as exc:
                return _answer(request, exc.status_hint, exc.reason)
            fork = self._new_fork(dialog, SubscriberState.PENDING, now)
        else:
            try:
                fork.dialog.receive_request(request)
            except RemoteProtocolError as exc:
                return _answer(request, exc.status_hint, exc.reason)
        self._events.append(
            NotifyReceived(fork.dialog.id, state, request.content_type, request.body)
        )
        self._apply_state(fork, state, now)
        return _answer(request, 200)

    def _apply_state(self, fork: _Fork, state: SubscriptionState, now: float) -> None:
        """§4.1.3: act on Subscription-State."""
        fork.notified = True
        if state.terminated:
            self._end_fork(fork, state.reason, state.retry_after, now, by_notifier=True)
            return
        if state.active:
            fork.state = SubscriberState.ACTIVE
        elif state.pending:
            fork.state = SubscriberState.PENDING
        # An extension substate leaves our notion of the state alone.
        if state.expires is not None and not fork.unsubscribing:
            # §4.1.3: the notifier's expires is authoritative (it may shorten the life).
            self._set_expiry(fork, state.expires, now)

    @staticmethod
    def _our_tag(request: Request) -> str:
        tag = request.to.tag
        if tag is None:  # matches() has checked it is our tag
            raise LocalProtocolError("a NOTIFY without To tag cannot be ours")
        return tag

    # -- time ----------------------------------------------------------------------------

    def handle_timeout(self, now: float) -> None:
        """Act on every deadline at or before ``now``: Timer N, refreshes, expiries, and a
        planned new subscription."""
        if self._await_until is not None and self._await_until <= now:
            self._await_until = None
            self._stop_awaiting()
            for fork in list(self._forks.values()):
                if not fork.notified:
                    # §4.1.2.4: no NOTIFY within Timer N: the subscription failed.
                    self._end_fork(fork, None, None, now, by_notifier=False, failed=True)
        for fork in list(self._forks.values()):
            if fork.expires_at is not None and fork.expires_at <= now:
                # The subscription lapsed: not refreshed in time, or no final NOTIFY came
                # after an unsubscription.
                self._end_fork(fork, Reason.TIMEOUT, None, now, by_notifier=False)
            elif (
                fork.refresh_at is not None
                and fork.refresh_at <= now
                and not (fork.refreshing or fork.unsubscribing)
            ):
                self._send_in_dialog(fork, self._expires)
                fork.refreshing = True
        if self._retry_at is not None and self._retry_at <= now:
            self._retry_at = None
            if not (self._forks or self._awaiting or self._unsubscribed):
                self._send_initial(now, from_=self.from_, call_id=None, cseq=1)

    # -- internals -----------------------------------------------------------------------

    def _new_fork(self, dialog: Dialog, state: SubscriberState, now: float) -> _Fork:
        fork = _Fork(dialog, state)
        self._forks[dialog.id] = fork
        # Until a 2xx or NOTIFY says otherwise, what we asked for is our notion of the life.
        self._set_expiry(fork, self._expires, now)
        if self._unsubscribed:
            self._unsubscribe_fork(fork, now)
        return fork

    def _set_expiry(self, fork: _Fork, expires: int, now: float) -> None:
        if expires == 0:
            # A fetch, or an unsubscription: only the final NOTIFY is still to come.
            fork.expires_at = now + self.config.timer_n
            fork.refresh_at = None
            return
        fork.expires_at = now + expires
        fork.refresh_at = now + expires - min(expires / 2, self.config.refresh_margin)

    def _unsubscribe_fork(self, fork: _Fork, now: float) -> None:
        if fork.unsubscribing or fork.dialog.state is DialogState.TERMINATED:
            return
        fork.unsubscribing = True
        fork.refresh_at = None
        if self._expires != 0:  # a fetch already asked for Expires 0
            self._send_in_dialog(fork, 0)
        # §4.1.2.3: the final NOTIFY should follow; give up on it after Timer N.
        fork.expires_at = now + self.config.timer_n

    def _end_fork(
        self,
        fork: _Fork,
        reason: str | None,
        retry_after: int | None,
        now: float,
        *,
        by_notifier: bool,
        failed: bool = False,
    ) -> None:
        fork.state = SubscriberState.TERMINATED
        dialog = fork.dialog
        if dialog.state is not DialogState.TERMINATED:
            dialog.terminate()
        self._dialogs.remove(dialog.id)
        del self._forks[dialog.id]
        self._ended.add(dialog.id)
        self._after_termination(dialog.id, reason, retry_after, now, by_notifier, failed)

    def _after_termination(
        self,
        dialog_id: DialogId,
        reason: str | None,
        retry_after: int | None,
        now: float,
        by_notifier: bool,
        failed: bool = False,
    ) -> None:
        self._ended.add(dialog_id)
        retry_at: float | None = None
        if not self._forks:
            # The attempt is over with its last subscription: late forks get 481.
            self._stop_awaiting()
            done = self._unsubscribed or self._expires == 0
            if not done and self.config.auto_retry:
                if failed:
                    delay: float | None = self.config.retry_delay
                else:
                    delay = retry_delay(reason, retry_after, default=self.config.retry_delay)
                if delay is not None:
                    retry_at = self._retry_at = now + delay
        self._events.append(
            SubscriptionTerminated(dialog_id, reason, retry_after, by_notifier, retry_at)
        )

    def _stop_awaiting(self) -> None:
        if self._request is not None and self._awaiting:
            self._dialogs.remove_pending_subscription(self._request)
        self._awaiting = False
        if all(fork.notified for fork in self._forks.values()):
            self._await_until = None  # Timer N has nothing left to watch

    def _headers(self, expires: int) -> list[tuple[str, str]]:
        package = self.package
        accept = self.config.accept
        if accept is None:
            accept = package.accept
            if self.config.resource_list:
                root = () if package.list_root is None else (package.list_root,)
                accept = (*package.list_accept, *root, *package.accept)
        # §3.1.2: Event names the package (and id); §3.1.1: Expires the duration asked.
        headers = [("Event", str(self.event))]
        if self.config.send_expires or expires == 0:
            headers.append(("Expires", str(expires)))
        headers.append(("Accept", ", ".join(accept)))
        if self.config.resource_list:
            headers.append(("Supported", EVENTLIST))
        headers.extend(self.local.headers)
        return headers

    def _send_initial(self, now: float, *, from_: str, call_id: str | None, cseq: int) -> None:
        local = self.local
        request = build_request(
            "SUBSCRIBE",
            self.target,
            from_=from_,
            to=self.to,
            sent_by=local.sent_by,
            ids=local.ids,
            cseq=cseq,
            call_id=call_id,
            contact=f"<{local.contact}>",
            headers=self._headers(self._expires),
        )
        self._stop_awaiting()
        # §4.1.2.4, §4.1.4: NOTIFYs may come before the 2xx, and from several forks.
        self._dialogs.add_pending_subscription(request)
        if call_id is None:
            self._ended.clear()
        self._request = request
        self._answered = False
        self._awaiting = True
        self._await_until = now + self.config.timer_n
        self._outgoing.append(request)

    def _send_in_dialog(self, fork: _Fork, expires: int) -> None:
        sent_by = self.local.sent_by
        self._outgoing.append(
            fork.dialog.create_request(
                "SUBSCRIBE",
                branch=self.local.ids.branch(),
                sent_by=(sent_by.host, sent_by.port),
                transport=sent_by.transport,
                headers=self._headers(expires),
            )
        )

    def __repr__(self) -> str:
        return f"<Subscriber {self.event} {self.target} {self.state.value}>"


def _answer(request: Request, status: int, reason: str | None = None) -> Response:
    phrase = None if reason is None else "".join(c if c.isprintable() else "?" for c in reason)
    return make_response(request, status, phrase)


def _expires_of(response: Response, default: int) -> int:
    # §4.1.2.1: a 2xx MUST carry Expires; one that does not is taken to grant what we asked.
    try:
        value = response.expires
    except ParseError:
        return default
    return default if value is None else value


def _retry_after(response: Response) -> int | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return parse_uint(value.partition(";")[0].partition("(")[0], "Retry-After")
    except ParseError:
        return None


def reject_notify(request: Request) -> Response:
    """The answer to a NOTIFY that matches no subscriber: 481 (§4.1.3)."""
    return _answer(request, 481)


__all__ = [
    "NotifyReceived",
    "Subscriber",
    "SubscriberConfig",
    "SubscriberEvent",
    "SubscriberState",
    "SubscriptionAccepted",
    "SubscriptionRejected",
    "SubscriptionTerminated",
    "reject_notify",
    "retry_delay",
]
