"""RFC 6665 §4.1 subscriber behaviour, against a ``SubscriptionTable`` notifier or hand-built
answers, in virtual time only.

The seed flow (/work/shared/seeds/000_2bd8726d56b64074.txt) opens: Chebychev's subscriber
object sends the SUBSCRIBE without Expires, Poisson's notifier answers 202 with Expires
3600, NOTIFY ``active;expires=3600`` with the closed PIDF, and 1800 s later NOTIFY
``active;expires=1800`` with the open one, one CSeq on; every message crosses as bytes.
Then: 200 and 202 alike (§8.3.1), 423 retry, 489, NOTIFY before the 2xx (§4.1.2.4),
forks (§4.1.4), Subscription-State and its reasons (§4.1.3), refresh (§4.1.2.2),
unsubscribe (§4.1.2.3), fetch, Timer N, and unknown NOTIFYs (481).
"""

from __future__ import annotations

import itertools

import pytest

from parley.sip.core.subscription import (
    PRESENCE,
    Authorization,
    EventPackage,
    LocalEndpoint,
    NotifierConfig,
    NotifyReceived,
    PackageRegistry,
    Reason,
    Subscriber,
    SubscriberConfig,
    SubscriberEvent,
    SubscriberState,
    SubscriptionAccepted,
    SubscriptionRejected,
    SubscriptionTable,
    SubscriptionTerminated,
    reject_notify,
)
from parley.sip.core.uac import SentBy
from parley.sip.dialog import DialogId, IdGenerator
from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request, Response, make_response, parse_message, parse_sip_uri

PIDF_CLOSED = b'<presence entity="sip:poisson@probability.org"><basic>closed</basic></presence>'
PIDF_OPEN = b'<presence entity="sip:poisson@probability.org"><basic>open</basic></presence>'
CPIM = "application/cpim-pidf+xml"
POISSON = "sip:poisson@probability.org"


class Counter:
    """A deterministic random source: successive numbers, never repeating."""

    def __init__(self, start: int) -> None:
        self._next = itertools.count(start << 40)

    def __call__(self, size: int) -> bytes:
        return next(self._next).to_bytes(size, "big")


def watcher(
    package: EventPackage = PRESENCE, *, event_id: str | None = None, **config: object
) -> Subscriber:
    """Chebychev's subscriber, as in the seed."""
    local = LocalEndpoint(
        SentBy("TCP", "lecturehall21.academy.ru", 5060),
        IdGenerator(Counter(3)),
        parse_sip_uri("sip:pafnuty@lecturehall21.academy.ru;transport=tcp"),
    )
    return Subscriber(
        package,
        POISSON,
        from_="P. L. Chebychev <sip:chebychev@academy.ru>",
        to=f"M. Poisson <{POISSON}>",
        local=local,
        config=SubscriberConfig(**config),  # type: ignore[arg-type]
        event_id=event_id,
    )


def notifier(
    seed: int = 7, *, rfc3265: bool = False, package: EventPackage = PRESENCE
) -> SubscriptionTable:
    local = LocalEndpoint(
        SentBy("TCP", "dist.probability.org", 5060),
        IdGenerator(Counter(seed)),
        parse_sip_uri(f"sip:s.possion{seed}@dist.probability.org;transport=tcp"),
    )
    return SubscriptionTable(PackageRegistry([package]), local, NotifierConfig(rfc3265))


def wire_request(message: Request) -> Request:
    parsed = parse_message(message.to_bytes())
    assert isinstance(parsed, Request)
    return parsed


def wire_response(message: Response) -> Response:
    parsed = parse_message(message.to_bytes())
    assert isinstance(parsed, Response)
    return parsed


def sent(sub: Subscriber) -> Request:
    out = sub.outgoing()
    assert len(out) == 1, out
    return wire_request(out[0])


def drain(sub: Subscriber) -> list[SubscriberEvent]:
    events = []
    while (event := sub.next_event()) is not None:
        events.append(event)
    return events


def accepted(
    request: Request, status: int = 200, *, expires: int = 600, tag: str = "n1"
) -> Response:
    """A notifier's 2xx to ``request``, built by hand."""
    extra = [("Contact", "<sip:notifier@192.0.2.9>"), ("Expires", str(expires))]
    return wire_response(make_response(request, status, to_tag=tag, extra=extra))


class Pair:
    """A subscriber and a notifier joined by a loss-free network carrying bytes."""

    def __init__(
        self,
        sub: Subscriber,
        table: SubscriptionTable,
        *,
        decision: Authorization = Authorization.ALLOW,
        document: bytes | None = PIDF_CLOSED,
    ) -> None:
        self.sub = sub
        self.table = table
        self.decision = decision
        self.document = document
        self.notifies: list[Request] = []
        self.subscribes: list[Request] = []

    def pump(self, now: float) -> None:
        progress = True
        while progress:
            progress = False
            for request in self.sub.outgoing():
                progress = True
                request = wire_request(request)
                self.subscribes.append(request)
                outcome = self.table.receive_subscribe(
                    request, now, decision=self.decision, document=self.document
                )
                self.sub.receive_response(wire_response(outcome.response), now)
            for notify in self.table.outgoing():
                progress = True
                notify = wire_request(notify)
                self.notifies.append(notify)
                answer = self.sub.receive_notify(notify, now)
                self.table.receive_notify_response(wire_response(answer))

    def advance(self, until: float) -> None:
        """Run both sides' deadlines up to ``until``, in order."""
        while True:
            deadlines = [
                d for d in (self.sub.next_deadline(), self.table.next_deadline()) if d is not None
            ]
            if not deadlines or min(deadlines) > until:
                return
            now = min(deadlines)
            self.sub.handle_timeout(now)
            self.table.handle_timeout(now)
            self.pump(now)


# -- the seed ------------------------------------------------------------------------------------


def test_the_seed_flow_between_subscriber_and_notifier() -> None:
    sub = watcher(send_expires=False)
    table = notifier(rfc3265=True)

    sub.subscribe(0.0)
    subscribe = sent(sub)
    assert subscribe.method == "SUBSCRIBE" and subscribe.request_uri == POISSON
    assert "Expires" not in subscribe.headers  # as the seed's SUBSCRIBE
    assert subscribe.headers.get("Event") == "presence"
    assert subscribe.from_.display_name == "P. L. Chebychev" and subscribe.from_.tag
    assert subscribe.to.tag is None and str(subscribe.to.uri) == POISSON
    assert [str(c.uri) for c in subscribe.contacts] == [
        "sip:pafnuty@lecturehall21.academy.ru;transport=tcp"
    ]
    assert sub.state is SubscriberState.SUBSCRIBING

    outcome = table.receive_subscribe(subscribe, 0.0, document=PIDF_CLOSED, content_type=CPIM)
    response = wire_response(outcome.response)
    assert (response.status, response.headers.get("Expires")) == (202, "3600")
    sub.receive_response(response, 0.0)
    [event] = drain(sub)
    assert isinstance(event, SubscriptionAccepted)
    assert (event.status, event.expires, event.refresh) == (202, 3600, False)
    dialog_id = event.dialog_id
    assert sub.state is SubscriberState.ACCEPTED  # no NOTIFY yet

    [first] = table.outgoing()
    answer = sub.receive_notify(wire_request(first), 0.0)
    assert answer.status == 200
    assert answer.to.tag == subscribe.from_.tag and answer.cseq == first.cseq
    table.receive_notify_response(wire_response(answer))
    [event] = drain(sub)
    assert isinstance(event, NotifyReceived) and event.dialog_id == dialog_id
    assert str(event.state) == "active;expires=3600"
    assert (event.content_type, event.body) == (CPIM, PIDF_CLOSED)
    assert sub.state is SubscriberState.ACTIVE
    assert sub.expires_at(dialog_id) == 3600.0

    # Poisson logs in at 1800 s.
    assert outcome.subscription is not None
    table.update(outcome.subscription.id, PIDF_OPEN, 1800.0, content_type=CPIM)
    [second] = table.outgoing()
    assert second.cseq.seq == first.cseq.seq + 1
    assert sub.receive_notify(wire_request(second), 1800.0).status == 200
    [event] = drain(sub)
    assert isinstance(event, NotifyReceived)
    assert str(event.state) == "active;expires=1800" and event.body == PIDF_OPEN
    assert sub.expires_at(dialog_id) == 3600.0

    # §4.1.2.4: Timer N closes the window for NOTIFYs of other forks...
    assert sub.next_deadline() == 32.0
    sub.handle_timeout(32.0)
    assert drain(sub) == [] and sub.outgoing() == []
    # ...and §4.1.2.2: the subscriber refreshes a minute before expiry, in the dialog.
    assert sub.next_deadline() == 3540.0
    sub.handle_timeout(3540.0)
    refresh = sent(sub)
    assert (refresh.cseq.seq, refresh.to.tag) == (subscribe.cseq.seq + 1, response.to.tag)
    assert refresh.request_uri == "sip:s.possion7@dist.probability.org;transport=tcp"
    outcome = table.receive_subscribe(refresh, 3540.0)
    sub.receive_response(wire_response(outcome.response), 3540.0)
    [notify] = table.outgoing()
    assert notify.headers.get("Subscription-State") == "active;expires=3600"
    assert notify.body == PIDF_OPEN
    sub.receive_notify(wire_request(notify), 3540.0)
    assert sub.expires_at(dialog_id) == 7140.0


def test_hours_of_refreshes_keep_the_subscription_alive() -> None:
    pair = Pair(watcher(expires=600), notifier())
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    pair.advance(3 * 3600.0)
    assert pair.sub.state is SubscriberState.ACTIVE and len(pair.table) == 1
    # Refreshed every 540 s: 20 refreshes after the initial SUBSCRIBE, each answered
    # with a NOTIFY, CSeqs rising on both sides.
    assert len(pair.subscribes) == 21 and len(pair.notifies) == 21
    assert [s.cseq.seq for s in pair.subscribes] == list(range(1, 22))
    assert [n.cseq.seq for n in pair.notifies] == sorted({n.cseq.seq for n in pair.notifies})


# -- the initial SUBSCRIBE and its answers (§4.1.2.1) ---------------------------------------------


def test_initial_subscribe_asks_for_the_package() -> None:
    sub = watcher()
    sub.subscribe(0.0)
    request = sent(sub)
    assert request.headers.get("Expires") == "3600"
    assert request.headers.get("Accept") == "application/pidf+xml, application/cpim-pidf+xml"
    assert request.top_via.transport == "TCP" and request.top_via.branch
    assert request.headers.get("Max-Forwards") == "70"
    assert sub.next_deadline() == 32.0  # Timer N
    with pytest.raises(LocalProtocolError):
        sub.subscribe(1.0)


def test_a_list_subscription_asks_for_eventlist() -> None:
    sub = watcher(resource_list=True, event_id="l1")
    sub.subscribe(0.0)
    request = sent(sub)
    assert request.headers.get("Supported") == "eventlist"
    assert request.headers.get("Event") == "presence;id=l1"
    assert request.headers.get("Accept") == (
        "multipart/related, application/rlmi+xml, application/pidf+xml, application/cpim-pidf+xml"
    )


@pytest.mark.parametrize("status", [200, 202])
def test_200_and_202_are_the_same_answer(status: int) -> None:
    sub = watcher(expires=600)
    sub.subscribe(0.0)
    request = sent(sub)
    sub.receive_response(accepted(request, status), 0.0)
    [event] = drain(sub)
    assert isinstance(event, SubscriptionAccepted) and event.status == status
    assert sub.state is SubscriberState.ACCEPTED
    assert sub.dialogs == [DialogId(request.call_id, request.from_.tag or "", "n1")]
    assert sub.next_deadline() == 32.0  # Timer N still waits for the NOTIFY


def test_423_is_retried_with_min_expires() -> None:
    sub = watcher(expires=60)
    sub.subscribe(0.0)
    first = sent(sub)
    too_brief = make_response(first, 423, to_tag="n1", extra=[("Min-Expires", "1800")])
    sub.receive_response(wire_response(too_brief), 0.0)
    retry = sent(sub)
    # RFC 3261 §8.1.3.5: same Call-ID, To, From; CSeq one higher.
    assert retry.call_id == first.call_id and retry.from_.tag == first.from_.tag
    assert retry.cseq.seq == first.cseq.seq + 1
    assert retry.headers.get("Expires") == "1800"
    assert drain(sub) == []
    # A 423 asking for no more than we asked is a failure, not a loop.
    sub.receive_response(wire_response(make_response(retry, 423, to_tag="n1")), 0.0)
    [event] = drain(sub)
    assert isinstance(event, SubscriptionRejected) and event.status == 423


def test_the_notifier_s_423_reaches_the_subscriber() -> None:
    pair = Pair(watcher(expires=30), notifier())
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    assert [s.headers.get("Expires") for s in pair.subscribes] == ["30", "60"]
    assert pair.sub.state is SubscriberState.ACTIVE


def test_489_rejects_the_subscription() -> None:
    pair = Pair(
        watcher(package=EventPackage("dialog", ("application/dialog-info+xml",))), notifier()
    )
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    [event] = drain(pair.sub)
    assert isinstance(event, SubscriptionRejected)
    assert (event.status, event.retry_after) == (489, None)
    assert pair.sub.state is SubscriberState.TERMINATED
    assert pair.sub.next_deadline() is None and pair.sub.retry_at is None
    # Over: a new attempt may start.
    pair.sub.subscribe(10.0)
    assert pair.sub.outgoing()


def test_a_rejection_reports_retry_after() -> None:
    sub = watcher()
    sub.subscribe(0.0)
    request = sent(sub)
    busy = make_response(request, 503, to_tag="n1", extra=[("Retry-After", "120 (maintenance)")])
    sub.receive_response(wire_response(busy), 0.0)
    [event] = drain(sub)
    assert isinstance(event, SubscriptionRejected) and event.retry_after == 120


# -- NOTIFY before the 2xx, and forks (§4.1.2.4, §4.1.4) -----------------------------------------


def test_a_notify_before_the_2xx_creates_the_dialog() -> None:
    sub = watcher()
    table = notifier()
    sub.subscribe(0.0)
    outcome = table.receive_subscribe(sent(sub), 0.0, document=PIDF_OPEN)
    [notify] = table.outgoing()
    assert sub.receive_notify(wire_request(notify), 0.0).status == 200
    assert sub.state is SubscriberState.ACTIVE and len(sub.dialogs) == 1
    sub.receive_response(wire_response(outcome.response), 0.1)
    events = drain(sub)
    assert [type(e) for e in events] == [NotifyReceived, SubscriptionAccepted]
    assert len(sub.dialogs) == 1 and sub.state is SubscriberState.ACTIVE


def test_forked_notifies_make_one_subscription_each() -> None:
    sub = watcher(expires=600)
    poisson, laplace = notifier(7), notifier(8)
    sub.subscribe(0.0)
    request = sent(sub)
    # A forking proxy hands the SUBSCRIBE to both; only one 2xx comes back.
    outcomes = [t.receive_subscribe(request, 0.0, document=PIDF_OPEN) for t in (poisson, laplace)]
    sub.receive_response(wire_response(outcomes[0].response), 0.0)
    for table in (poisson, laplace):
        [notify] = table.outgoing()
        answer = sub.receive_notify(wire_request(notify), 0.0)
        assert answer.status == 200
        table.receive_notify_response(wire_response(answer))
    assert len(sub.dialogs) == 2
    assert {d.remote_tag for d in sub.dialogs} == {outcome.response.to.tag for outcome in outcomes}
    # Each is refreshed in its own dialog.
    sub.handle_timeout(540.0)
    refreshes = [wire_request(r) for r in sub.outgoing()]
    assert sorted(r.to.tag or "" for r in refreshes) == sorted(
        d.remote_tag or "" for d in sub.dialogs
    )


def test_a_package_without_forking_refuses_other_forks_with_481() -> None:
    single = EventPackage("presence", PRESENCE.accept, allows_forking=False)
    sub = watcher(package=single)
    poisson, laplace = notifier(7, package=single), notifier(8, package=single)
    sub.subscribe(0.0)
    request = sent(sub)
    for table in (poisson, laplace):
        table.receive_subscribe(request, 0.0, document=PIDF_OPEN)
    [first] = poisson.outgoing()
    assert sub.receive_notify(wire_request(first), 0.0).status == 200
    [other] = laplace.outgoing()
    refusal = sub.receive_notify(wire_request(other), 0.0)
    assert refusal.status == 481
    # §4.2.2: the other notifier drops its subscription on that 481.
    assert laplace.receive_notify_response(wire_response(refusal)) is not None
    assert len(laplace) == 0 and len(sub.dialogs) == 1


def test_forks_after_timer_n_are_refused() -> None:
    sub = watcher()
    late = notifier(8)
    sub.subscribe(0.0)
    request = sent(sub)
    late.receive_subscribe(request, 0.0, document=PIDF_OPEN)
    sub.handle_timeout(32.0)
    [notify] = late.outgoing()
    assert sub.receive_notify(wire_request(notify), 33.0).status == 481


# -- Subscription-State (§4.1.3) -----------------------------------------------------------------


def test_pending_then_active() -> None:
    pair = Pair(watcher(), notifier(), decision=Authorization.PENDING)
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    assert pair.sub.state is SubscriberState.PENDING
    events = drain(pair.sub)
    assert isinstance(events[-1], NotifyReceived) and events[-1].body == b""
    [sub_id] = [s.id for s in pair.table]
    pair.table.authorize(sub_id, Authorization.ALLOW, 60.0, document=PIDF_OPEN)
    pair.pump(60.0)
    assert pair.sub.state is SubscriberState.ACTIVE
    [event] = drain(pair.sub)
    assert isinstance(event, NotifyReceived) and event.body == PIDF_OPEN


def test_a_shorter_expires_in_notify_moves_the_refresh() -> None:
    pair = Pair(watcher(expires=3600), notifier())
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    [dialog_id] = pair.sub.dialogs
    pair.advance(32.0)  # past Timer N
    [table_sub] = list(pair.table)
    table_sub.expires_at = 100.0  # the notifier shortened the subscription
    pair.table.update(table_sub.id, PIDF_OPEN, 10.0)
    pair.pump(10.0)
    assert pair.sub.expires_at(dialog_id) == 100.0
    assert pair.sub.next_deadline() == 55.0  # half-time: 90 s left, refresh 45 s before


def test_rejection_ends_without_retry() -> None:
    pair = Pair(watcher(), notifier())
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    drain(pair.sub)
    [table_sub] = list(pair.table)
    pair.table.authorize(table_sub.id, Authorization.DENY, 100.0)
    pair.pump(100.0)
    events = drain(pair.sub)
    assert isinstance(events[0], NotifyReceived) and events[0].state.reason == Reason.REJECTED
    terminated = events[1]
    assert isinstance(terminated, SubscriptionTerminated)
    assert (terminated.reason, terminated.by_notifier, terminated.retry_at) == (
        "rejected",
        True,
        None,
    )
    assert pair.sub.state is SubscriberState.TERMINATED
    assert pair.sub.next_deadline() is None and pair.sub.dialogs == []


def test_probation_is_retried_after_retry_after() -> None:
    pair = Pair(watcher(), notifier())
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    first_call = pair.subscribes[0].call_id
    [table_sub] = list(pair.table)
    pair.table.terminate(table_sub.id, Reason.PROBATION, 100.0, retry_after=30)
    pair.pump(100.0)
    terminated = drain(pair.sub)[-1]
    assert isinstance(terminated, SubscriptionTerminated)
    assert (terminated.reason, terminated.retry_after, terminated.retry_at) == (
        "probation",
        30,
        130.0,
    )
    assert pair.sub.state is SubscriberState.TERMINATED and pair.sub.next_deadline() == 130.0
    pair.advance(129.0)
    assert len(pair.subscribes) == 1
    pair.advance(130.0)
    # A new subscription: new Call-ID and From tag.
    assert len(pair.subscribes) == 2
    assert pair.subscribes[1].call_id != first_call
    assert pair.subscribes[1].from_.tag != pair.subscribes[0].from_.tag
    assert pair.sub.state is SubscriberState.ACTIVE and len(pair.table) == 1


def test_deactivated_is_retried_at_once() -> None:
    pair = Pair(watcher(), notifier())
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    [table_sub] = list(pair.table)
    pair.table.terminate(table_sub.id, Reason.DEACTIVATED, 100.0, retry_after=999)
    pair.pump(100.0)
    assert pair.sub.retry_at == 100.0
    pair.advance(100.0)
    assert pair.sub.state is SubscriberState.ACTIVE and len(pair.subscribes) == 2


def test_a_terminated_notify_before_any_dialog_creates_none() -> None:
    sub = watcher(auto_retry=False)
    sub.subscribe(0.0)
    request = sent(sub)
    notify = (
        f"NOTIFY sip:pafnuty@lecturehall21.academy.ru SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKt1\r\n"
        f"From: <{POISSON}>;tag=n9\r\nTo: {request.headers.get('From')}\r\n"
        f"Call-ID: {request.call_id}\r\nCSeq: 1 NOTIFY\r\nEvent: presence\r\n"
        f"Contact: <sip:n@192.0.2.9>\r\n"
        f"Subscription-State: terminated;reason=noresource\r\nContent-Length: 0\r\n\r\n"
    )
    assert sub.receive_notify(_req(notify), 0.0).status == 200
    assert sub.dialogs == [] and sub.state is SubscriberState.TERMINATED
    events = drain(sub)
    assert isinstance(events[-1], SubscriptionTerminated) and events[-1].reason == "noresource"
    # The 2xx that follows revives nothing.
    sub.receive_response(accepted(request, tag="n9"), 0.1)
    assert sub.dialogs == []


def _req(text: str) -> Request:
    parsed = parse_message(text.encode())
    assert isinstance(parsed, Request)
    return parsed


def test_notifies_that_are_not_ours_get_481_or_400() -> None:
    pair = Pair(watcher(), notifier())
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    notify = pair.notifies[0]
    stranger = _req(notify.to_bytes().decode().replace(notify.call_id, "other-call"))
    assert not pair.sub.matches(stranger)
    assert pair.sub.receive_notify(stranger, 1.0).status == 481
    assert reject_notify(stranger).status == 481
    text = notify.to_bytes().decode()
    wrong_id = _req(text.replace("Event: presence", "Event: presence;id=9"))
    assert pair.sub.receive_notify(wrong_id, 1.0).status == 481
    no_state = _req(text.replace("Subscription-State:", "X-State:"))
    assert pair.sub.receive_notify(no_state, 1.0).status == 400
    bad_state = _req(text.replace("active;expires=3600", "active;expires=soon"))
    assert pair.sub.receive_notify(bad_state, 1.0).status == 400
    # A replay of an old NOTIFY is out of CSeq order.
    assert pair.sub.receive_notify(notify, 1.0).status == 500


# -- refresh failures (§4.1.2.2) -----------------------------------------------------------------


def _active(expires: int = 600) -> tuple[Subscriber, Request]:
    sub = watcher(expires=expires)
    table = notifier()
    sub.subscribe(0.0)
    outcome = table.receive_subscribe(sent(sub), 0.0, document=PIDF_OPEN)
    sub.receive_response(wire_response(outcome.response), 0.0)
    [notify] = table.outgoing()
    sub.receive_notify(wire_request(notify), 0.0)
    drain(sub)
    sub.handle_timeout(540.0)
    return sub, sent(sub)


def test_481_to_a_refresh_ends_the_subscription_and_resubscribes() -> None:
    sub, refresh = _active()
    sub.receive_response(wire_response(make_response(refresh, 481)), 540.0)
    [event] = drain(sub)
    assert isinstance(event, SubscriptionTerminated)
    assert (event.by_notifier, event.reason, event.retry_at) == (False, None, 540.0)
    sub.handle_timeout(540.0)
    again = sent(sub)
    assert again.to.tag is None and again.call_id != refresh.call_id


def test_another_refresh_failure_keeps_the_subscription_until_expiry() -> None:
    sub, refresh = _active()
    [dialog_id] = sub.dialogs
    sub.receive_response(wire_response(make_response(refresh, 500)), 540.0)
    assert drain(sub) == [] and sub.state is SubscriberState.ACTIVE
    assert sub.next_deadline() == 600.0
    sub.handle_timeout(600.0)
    [event] = drain(sub)
    assert isinstance(event, SubscriptionTerminated)
    assert (event.dialog_id, event.reason, event.by_notifier) == (dialog_id, "timeout", False)
    assert event.retry_at == 600.0  # lapsed: subscribe again at once


def test_423_to_a_refresh_retries_in_the_dialog() -> None:
    sub, refresh = _active()
    too_brief = make_response(refresh, 423, extra=[("Min-Expires", "900")])
    sub.receive_response(wire_response(too_brief), 540.0)
    retry = sent(sub)
    assert retry.to.tag == refresh.to.tag and retry.cseq.seq == refresh.cseq.seq + 1
    assert retry.headers.get("Expires") == "900"


# -- unsubscribe and fetch (§4.1.2.3) -------------------------------------------------------------


def test_unsubscribe_ends_with_the_final_notify_and_no_retry() -> None:
    pair = Pair(watcher(), notifier())
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    drain(pair.sub)
    pair.sub.unsubscribe(100.0)
    pair.pump(100.0)
    assert pair.subscribes[-1].headers.get("Expires") == "0"
    events = drain(pair.sub)
    assert [type(e) for e in events] == [NotifyReceived, SubscriptionTerminated]
    assert str(events[0].state) == "terminated;reason=timeout"  # type: ignore[union-attr]
    terminated = events[1]
    assert isinstance(terminated, SubscriptionTerminated) and terminated.retry_at is None
    assert pair.sub.state is SubscriberState.TERMINATED and len(pair.table) == 0
    assert pair.sub.next_deadline() is None and pair.table.next_deadline() is None


def test_unsubscribe_before_the_2xx_unsubscribes_the_dialog_it_makes() -> None:
    sub = watcher()
    sub.subscribe(0.0)
    request = sent(sub)
    sub.unsubscribe(0.1)
    assert sub.outgoing() == []
    sub.receive_response(accepted(request), 0.2)
    unsubscribe = sent(sub)
    assert unsubscribe.to.tag == "n1" and unsubscribe.headers.get("Expires") == "0"


def test_without_a_final_notify_the_unsubscription_ends_after_timer_n() -> None:
    sub, _ = _active()
    sub.receive_response(accepted(_, 200), 540.0)  # the refresh succeeded
    drain(sub)
    sub.unsubscribe(550.0)
    sent(sub)
    assert sub.next_deadline() == 582.0
    sub.handle_timeout(582.0)
    [event] = drain(sub)
    assert isinstance(event, SubscriptionTerminated) and event.retry_at is None


def test_fetch_gets_the_state_once() -> None:
    pair = Pair(watcher(expires=0), notifier(), document=PIDF_OPEN)
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    assert pair.subscribes[0].headers.get("Expires") == "0"
    events = drain(pair.sub)
    assert [type(e) for e in events] == [
        SubscriptionAccepted,
        NotifyReceived,
        SubscriptionTerminated,
    ]
    assert events[1].body == PIDF_OPEN  # type: ignore[union-attr]
    assert events[2].retry_at is None  # type: ignore[union-attr]
    assert pair.sub.state is SubscriberState.TERMINATED and len(pair.table) == 0


# -- Timer N (§4.1.2.4) --------------------------------------------------------------------------


def test_a_2xx_without_notify_fails_at_timer_n() -> None:
    sub = watcher(retry_delay=90.0)
    sub.subscribe(0.0)
    sub.receive_response(accepted(sent(sub)), 0.5)
    drain(sub)
    sub.handle_timeout(31.9)
    assert drain(sub) == []
    sub.handle_timeout(32.0)
    [event] = drain(sub)
    assert isinstance(event, SubscriptionTerminated)
    assert (event.by_notifier, event.retry_at) == (False, 122.0)
    assert sub.state is SubscriberState.TERMINATED


def test_no_retry_when_auto_retry_is_off() -> None:
    pair = Pair(watcher(auto_retry=False), notifier())
    pair.sub.subscribe(0.0)
    pair.pump(0.0)
    [table_sub] = list(pair.table)
    pair.table.terminate(table_sub.id, Reason.DEACTIVATED, 10.0)
    pair.pump(10.0)
    assert pair.sub.retry_at is None and pair.sub.next_deadline() is None


def test_a_notify_for_a_subscription_we_ended_gets_481() -> None:
    sub = watcher()
    table = notifier()
    sub.subscribe(0.0)
    outcome = table.receive_subscribe(sent(sub), 0.0, document=PIDF_OPEN)
    sub.receive_response(wire_response(outcome.response), 0.0)
    [notify] = table.outgoing()
    sub.receive_notify(wire_request(notify), 0.0)
    sub.refresh(10.0)
    refresh = sent(sub)
    sub.receive_response(wire_response(make_response(refresh, 481)), 10.0)
    assert sub.dialogs == []
    # Still within Timer N, yet the ended dialog is not rebuilt by its notifier's NOTIFY.
    assert outcome.subscription is not None
    table.update(outcome.subscription.id, PIDF_CLOSED, 11.0)
    [late] = table.outgoing()
    refusal = sub.receive_notify(wire_request(late), 11.0)
    assert refusal.status == 481
    assert table.receive_notify_response(wire_response(refusal)) is outcome.subscription
