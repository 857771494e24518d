"""RFC 6665 §4.2 notifier behaviour through ``SubscriptionTable``, in virtual time.

The seed flow (/work/shared/seeds/000_2bd8726d56b64074.txt) runs first: Chebychev's
SUBSCRIBE without Expires gets 202 (RFC 3265 mode) with Expires 3600, the first NOTIFY says
``active;expires=3600`` with the closed PIDF, and after Poisson comes online 1800 s later the
second NOTIFY, one CSeq on, says ``active;expires=1800`` with the open one. The seed's
rendering lost the colon after ``Via``; the SUBSCRIBE below repairs exactly that.

Then the rest of §4.2: 489, 423, 406, 421, 403, 400; expiry and unsubscription (both end in
``terminated;reason=timeout``, §4.2.1.4); refresh; fetch; the RFC 3856 §6.12 rate limit
with coalescing; 481/408 to a NOTIFY (§4.2.2); authorisation changes; polite blocking;
restart; and the deadline heap with many subscriptions. Bodies are opaque bytes here.
"""

from __future__ import annotations

import itertools
import json

import pytest

from parley.sip.core.subscription import (
    PRESENCE,
    PRESENCE_WINFO,
    TRANSITIONS,
    Authorization,
    EventPackage,
    LocalEndpoint,
    NotifierConfig,
    NotifierInput,
    NotifierState,
    NotifyAction,
    PackageRegistry,
    Reason,
    SubscribeOutcome,
    SubscriptionState,
    SubscriptionTable,
)
from parley.sip.core.subscription_notifier import move
from parley.sip.core.uac import SentBy
from parley.sip.dialog import DialogId, IdGenerator
from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request, Response, make_response, parse_message, parse_sip_uri

PIDF_CLOSED = b'<presence entity="sip:poisson@probability.org"><basic>closed</basic></presence>'
PIDF_OPEN = b'<presence entity="sip:poisson@probability.org"><basic>open</basic></presence>'
NEUTRAL = b'<presence entity="sip:poisson@probability.org"/>'
CPIM = "application/cpim-pidf+xml"

SEED_SUBSCRIBE = """\
SUBSCRIBE sip:poisson@probability.org SIP/2.0
Via: SIP/2.0/TCP lecturehall21.academy.ru:5060;branch=z9hG4bK348471123
Max-Forwards: 70
To: M. Poisson <sip:poisson@probability.org>
From: P. L. Chebychev <sip:chebychev@academy.ru>;tag=21171
Call-ID: 58dkfj34924lk34452k592520
CSeq: 3412 SUBSCRIBE
Allow-Events: presence
Allow: ACK, INVITE, CANCEL, BYE, NOTIFY, SUBSCRIBE, MESSAGE
Contact: <sip:pafnuty@lecturehall21.academy.ru;transport=tcp>
Event: presence
Content-Length: 0
"""


class Counter:
    """A deterministic random source: successive numbers, never repeating."""

    def __init__(self, start: int) -> None:
        self._next = itertools.count(start << 40)

    def __call__(self, size: int) -> bytes:
        return next(self._next).to_bytes(size, "big")


def notifier(
    *, rfc3265: bool = False, packages: tuple[EventPackage, ...] = (PRESENCE, PRESENCE_WINFO)
) -> SubscriptionTable:
    local = LocalEndpoint(
        SentBy("TCP", "dist.probability.org", 5060),
        IdGenerator(Counter(7)),
        parse_sip_uri("sip:s.possion@dist.probability.org;transport=tcp"),
        headers=(("Allow", "ACK, INVITE, CANCEL, BYE, NOTIFY, SUBSCRIBE, MESSAGE"),),
    )
    return SubscriptionTable(PackageRegistry(packages), local, NotifierConfig(rfc3265))


def wire(message: Request | Response) -> Request | Response:
    """What the peer parses from the bytes we would send."""
    return parse_message(message.to_bytes())


def received(text: str) -> Request:
    message = parse_message(text.replace("\n", "\r\n").encode() + b"\r\n")
    assert isinstance(message, Request)
    return message


_calls = itertools.count(1)


def subscribe(
    *,
    event: str | None = "presence",
    expires: int | None = None,
    accept: str | None = None,
    extra: str = "",
    call_id: str | None = None,
    to_tag: str | None = None,
    cseq: int = 1,
    contact: str | None = "<sip:watcher@192.0.2.1:5070>",
    uri: str = "sip:poisson@probability.org",
) -> Request:
    lines = [
        f"SUBSCRIBE {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKw{next(_calls)}",
        "Max-Forwards: 70",
        "From: <sip:watcher@example.com>;tag=w1",
        f"To: <{uri}>" + ("" if to_tag is None else f";tag={to_tag}"),
        f"Call-ID: {call_id or f'call{next(_calls)}@192.0.2.1'}",
        f"CSeq: {cseq} SUBSCRIBE",
    ]
    if contact is not None:
        lines.append(f"Contact: {contact}")
    if event is not None:
        lines.append(f"Event: {event}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if accept is not None:
        lines.append(f"Accept: {accept}")
    lines.extend(line for line in extra.splitlines() if line)
    lines.append("Content-Length: 0\n")
    return received("\n".join(lines))


def in_dialog(outcome: SubscribeOutcome, *, cseq: int, expires: int | None, **kw: str) -> Request:
    """A SUBSCRIBE inside the dialog ``outcome`` created (the subscriber's refresh)."""
    first = outcome.response
    call_id = first.call_id
    return subscribe(call_id=call_id, to_tag=first.to.tag, cseq=cseq, expires=expires, **kw)


def _id(outcome: SubscribeOutcome) -> DialogId:
    assert outcome.subscription is not None
    return outcome.subscription.id


def only(table: SubscriptionTable) -> Request:
    sent = table.outgoing()
    assert len(sent) == 1, sent
    notify = wire(sent[0])
    assert isinstance(notify, Request) and notify.method == "NOTIFY"
    return notify


def state_of(notify: Request) -> SubscriptionState:
    value = notify.headers.get("Subscription-State")
    assert value is not None
    return SubscriptionState.parse(value)


def answer(notify: Request, status: int = 200) -> Response:
    response = wire(make_response(notify, status))
    assert isinstance(response, Response)
    return response


# -- the seed -------------------------------------------------------------------------------------


def test_the_seed_flow_at_the_notifier() -> None:
    table = notifier(rfc3265=True)
    request = received(SEED_SUBSCRIBE)
    outcome = table.receive_subscribe(request, 0.0, document=PIDF_CLOSED, content_type=CPIM)

    response = wire(outcome.response)
    assert isinstance(response, Response)
    # RFC 3265 §3.1.6.1: 202 Accepted; no Expires asked, so the package's hour (RFC 3856 §6.4).
    assert (response.status, response.reason) == (202, "Accepted")
    assert response.headers.get("Expires") == "3600"
    assert response.to.tag is not None and response.from_.tag == "21171"
    assert response.cseq.seq == 3412
    assert [str(c.uri) for c in response.contacts] == [
        "sip:s.possion@dist.probability.org;transport=tcp"
    ]
    assert response.headers.get("Allow-Events") == "presence, presence.winfo"
    sub = outcome.subscription
    assert sub is not None and outcome.created and not outcome.needs_document
    assert sub.id == DialogId("58dkfj34924lk34452k592520", response.to.tag, "21171")
    assert sub.resource == "poisson@probability.org"

    first = only(table)
    assert first.request_uri == "sip:pafnuty@lecturehall21.academy.ru;transport=tcp"
    assert (first.from_.tag, first.to.tag) == (response.to.tag, "21171")
    assert first.call_id == "58dkfj34924lk34452k592520"
    assert first.headers.get("Event") == "presence"
    assert first.headers.get("Subscription-State") == "active;expires=3600"
    assert first.headers.get("Content-Type") == CPIM
    assert first.body == PIDF_CLOSED
    assert first.top_via.transport == "TCP" and first.top_via.host == "dist.probability.org"
    assert [str(c.uri) for c in first.contacts] == [
        "sip:s.possion@dist.probability.org;transport=tcp"
    ]
    assert first.headers.get("Allow") == "ACK, INVITE, CANCEL, BYE, NOTIFY, SUBSCRIBE, MESSAGE"
    assert table.receive_notify_response(answer(first)) is None

    # Poisson comes online half an hour later.
    assert table.update(sub.id, PIDF_OPEN, 1800.0, content_type=CPIM)
    second = only(table)
    assert second.cseq.seq == first.cseq.seq + 1
    assert second.headers.get("Subscription-State") == "active;expires=1800"
    assert second.body == PIDF_OPEN
    assert sub.version == 2
    assert table.next_deadline() == 3600.0


def test_rfc6665_mode_answers_200() -> None:
    table = notifier()
    outcome = table.receive_subscribe(received(SEED_SUBSCRIBE), 0.0, document=PIDF_CLOSED)
    assert outcome.response.status == 200
    notify = only(table)
    # No Accept: the package default type, PIDF (RFC 3856 §6.7).
    assert notify.headers.get("Content-Type") == "application/pidf+xml"


# -- refusing a SUBSCRIBE (§4.2.1.1) ---------------------------------------------------------------


@pytest.mark.parametrize("event", [None, "dialog", "presence.winfo.x"])
def test_missing_or_unknown_event_is_489_with_allow_events(event: str | None) -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(event=event), 0.0)
    assert outcome.response.status == 489 and outcome.subscription is None
    assert outcome.response.headers.get("Allow-Events") == "presence, presence.winfo"
    assert outcome.response.to.tag is not None
    assert len(table) == 0 and table.outgoing() == []


def test_malformed_event_is_400() -> None:
    outcome = notifier().receive_subscribe(subscribe(event="pres ence"), 0.0)
    assert outcome.response.status == 400


def test_too_brief_expires_is_423_with_min_expires() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(expires=30), 0.0)
    assert outcome.response.status == 423
    assert outcome.response.headers.get("Min-Expires") == "60"
    assert len(table) == 0


def test_long_expires_is_shortened_never_lengthened() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(expires=10**6), 0.0, document=PIDF_OPEN)
    assert outcome.response.headers.get("Expires") == "86400"
    assert state_of(only(table)).expires == 86400
    outcome = table.receive_subscribe(subscribe(expires=120), 0.0, document=PIDF_OPEN)
    assert outcome.response.headers.get("Expires") == "120"


def test_nothing_acceptable_is_406_with_accept() -> None:
    outcome = notifier().receive_subscribe(subscribe(accept="text/plain"), 0.0)
    assert outcome.response.status == 406
    assert outcome.response.headers.get("Accept") == (
        "application/pidf+xml, application/cpim-pidf+xml"
    )


def test_cpim_pidf_when_asked_only_for_it() -> None:
    table = notifier()
    table.receive_subscribe(subscribe(accept=CPIM), 0.0, document=PIDF_OPEN)
    assert only(table).headers.get("Content-Type") == CPIM
    table.receive_subscribe(
        subscribe(accept=f"{CPIM}, application/pidf+xml"), 0.0, document=PIDF_OPEN
    )
    assert only(table).headers.get("Content-Type") == "application/pidf+xml"


def test_deny_before_acceptance_is_403() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, decision=Authorization.DENY)
    assert outcome.response.status == 403 and len(table) == 0


def test_subscribe_without_contact_is_400() -> None:
    outcome = notifier().receive_subscribe(subscribe(contact=None), 0.0)
    assert outcome.response.status == 400


def test_unknown_dialog_is_481() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(to_tag="nosuch", expires=3600), 0.0)
    assert outcome.response.status == 481


def test_only_subscribes_are_taken() -> None:
    with pytest.raises(LocalProtocolError):
        notifier().receive_subscribe(
            received(SEED_SUBSCRIBE.replace("SUBSCRIBE s", "OPTIONS s")), 0
        )


# -- resource lists (RFC 4662 §5) -----------------------------------------------------------------


def test_a_list_needs_eventlist_support() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, resource_list=True)
    assert outcome.response.status == 421
    assert outcome.response.headers.get("Require") == "eventlist"


def test_a_list_subscription_negotiates_multipart_and_requires_eventlist() -> None:
    table = notifier()
    request = subscribe(
        accept="multipart/related, application/rlmi+xml, application/pidf+xml",
        extra="Supported: eventlist",
    )
    outcome = table.receive_subscribe(request, 0.0, resource_list=True, resource="buddies@x")
    assert outcome.response.status == 200
    assert outcome.response.headers.get("Require") == "eventlist"
    sub = outcome.subscription
    assert sub is not None and sub.content_type == "multipart/related"
    assert outcome.needs_document and table.outgoing() == []
    # The caller's multipart body carries its own boundary, so it gives the full type.
    full = 'multipart/related;type="application/rlmi+xml";boundary=b1'
    table.update(sub.id, b"--b1--", 0.0, content_type=full)
    notify = only(table)
    assert notify.headers.get("Require") == "eventlist"
    assert notify.headers.get("Content-Type") == full
    assert [s.id for s in table.watchers("buddies@x", "presence")] == [sub.id]


# -- expiry, unsubscription, refresh, fetch (§4.2.1.4) -------------------------------------------


def test_expiry_sends_terminated_reason_timeout_at_the_deadline() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(expires=600), 100.0, document=PIDF_OPEN)
    sub = outcome.subscription
    assert sub is not None
    only(table)
    assert table.next_deadline() == 700.0
    table.handle_timeout(699.999)
    assert table.outgoing() == [] and len(table) == 1
    table.handle_timeout(700.0)
    final = only(table)
    assert final.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert final.body == b"" and "Content-Type" not in final.headers
    assert len(table) == 0 and table.next_deadline() is None
    assert sub.state is NotifierState.TERMINATED
    assert table.watchers("poisson@probability.org", "presence") == []
    # The dialog is gone with it: a late refresh finds nothing.
    late = table.receive_subscribe(in_dialog(outcome, cseq=2, expires=600), 701.0)
    assert late.response.status == 481


def test_unsubscribe_sends_final_notify_with_state_and_removes() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, document=PIDF_CLOSED)
    first = only(table)
    table.update(_id(outcome), PIDF_OPEN, 100.0)
    only(table)
    unsubscribed = table.receive_subscribe(in_dialog(outcome, cseq=2, expires=0), 200.0)
    assert unsubscribed.response.status == 200
    assert unsubscribed.response.headers.get("Expires") == "0"
    final = only(table)
    # §4.2.1.4: treated like an expiry, terminated;reason=timeout; the state may ride along.
    assert final.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert final.body == PIDF_OPEN
    assert final.cseq.seq == first.cseq.seq + 2
    assert len(table) == 0 and table.next_deadline() is None
    again = table.receive_subscribe(in_dialog(outcome, cseq=3, expires=0), 201.0)
    assert again.response.status == 481


def test_refresh_sets_a_new_expiry_and_notifies_at_once() -> None:
    table = notifier(rfc3265=True)
    outcome = table.receive_subscribe(subscribe(expires=600), 0.0, document=PIDF_OPEN)
    only(table)
    # Within the 5 s rate-limit window, yet §4.2.1.4 asks for the NOTIFY now.
    refreshed = table.receive_subscribe(in_dialog(outcome, cseq=2, expires=900), 2.0)
    assert refreshed.response.status == 202
    assert refreshed.response.headers.get("Expires") == "900"
    assert refreshed.subscription is outcome.subscription and not refreshed.created
    notify = only(table)
    assert notify.headers.get("Subscription-State") == "active;expires=900"
    assert notify.body == PIDF_OPEN
    assert table.next_deadline() == 902.0
    # No Expires in a refresh: the package default.
    table.receive_subscribe(in_dialog(outcome, cseq=3, expires=None), 10.0)
    assert state_of(only(table)).expires == 3600


def test_too_brief_refresh_is_423_and_keeps_the_subscription() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(expires=600), 0.0, document=PIDF_OPEN)
    only(table)
    refused = table.receive_subscribe(in_dialog(outcome, cseq=2, expires=5), 10.0)
    assert refused.response.status == 423
    assert refused.response.headers.get("Min-Expires") == "60"
    assert table.outgoing() == [] and table.next_deadline() == 600.0


def test_refresh_out_of_cseq_order_is_500() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(cseq=5), 0.0, document=PIDF_OPEN)
    only(table)
    stale = table.receive_subscribe(in_dialog(outcome, cseq=5, expires=600), 1.0)
    assert stale.response.status == 500


def test_refresh_for_another_event_in_the_dialog_is_481() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, document=PIDF_OPEN)
    only(table)
    other = table.receive_subscribe(
        in_dialog(outcome, cseq=2, expires=600, event="presence;id=2"), 1.0
    )
    assert other.response.status == 481
    unknown = table.receive_subscribe(in_dialog(outcome, cseq=3, expires=600, event="x"), 1.0)
    assert unknown.response.status == 489


def test_a_refresh_with_a_new_contact_retargets_the_notifies() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, document=PIDF_OPEN)
    only(table)
    table.receive_subscribe(
        in_dialog(outcome, cseq=2, expires=600, contact="<sip:watcher@198.51.100.9>"), 1.0
    )
    assert only(table).request_uri == "sip:watcher@198.51.100.9"


def test_fetch_gets_one_final_notify_with_the_state() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(expires=0), 0.0, document=PIDF_OPEN)
    assert outcome.response.status == 200
    assert outcome.response.headers.get("Expires") == "0"
    final = only(table)
    assert final.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert final.body == PIDF_OPEN
    assert len(table) == 0


def test_fetch_waits_for_the_callers_document() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(expires=0), 0.0)
    assert outcome.needs_document and table.outgoing() == []
    assert table.next_deadline() == 32.0  # NotifierConfig.fetch_grace
    table.update(_id(outcome), PIDF_CLOSED, 0.5)
    final = only(table)
    assert state_of(final).terminated and final.body == PIDF_CLOSED
    assert len(table) == 0


def test_a_pending_fetch_is_answered_without_state() -> None:
    table = notifier()
    table.receive_subscribe(subscribe(expires=0), 0.0, decision=Authorization.PENDING)
    final = only(table)
    assert final.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert final.body == b""


# -- rate limiting (RFC 3856 §6.12) -------------------------------------------------------------


def test_changes_within_the_interval_coalesce_into_one_notify_at_its_end() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, document=b"v0")
    first = only(table)
    sub_id = _id(outcome)
    for at, document in ((1.0, b"v1"), (2.5, b"v2"), (4.0, b"v3")):
        table.update(sub_id, document, at)
        assert table.outgoing() == []
    assert table.next_deadline() == 5.0
    table.handle_timeout(4.999)
    assert table.outgoing() == []
    table.handle_timeout(5.0)
    coalesced = only(table)
    # One NOTIFY, with the last state, numbered right after the first.
    assert coalesced.body == b"v3"
    assert coalesced.cseq.seq == first.cseq.seq + 1
    assert coalesced.headers.get("Subscription-State") == "active;expires=3595"
    assert table.next_deadline() == 3600.0
    # After a quiet interval a change goes out at once...
    table.update(sub_id, b"v4", 11.0)
    assert only(table).body == b"v4"
    # ...and the next one waits for 16 s.
    table.update(sub_id, b"v5", 12.0)
    assert table.outgoing() == [] and table.next_deadline() == 16.0


def test_a_package_without_a_rate_limit_notifies_every_change() -> None:
    fast = EventPackage("dialog", ("application/dialog-info+xml",))
    table = notifier(packages=(fast,))
    outcome = table.receive_subscribe(subscribe(event="dialog"), 0.0, document=b"a")
    only(table)
    table.update(_id(outcome), b"b", 0.0)
    table.update(_id(outcome), b"c", 0.0)
    assert [n.body for n in table.outgoing()] == [b"b", b"c"]


def test_expiry_during_the_interval_ends_the_subscription() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(expires=60), 0.0, document=b"v0")
    only(table)
    table.update(_id(outcome), b"v1", 57.0)
    assert only(table).body == b"v1"
    table.update(_id(outcome), b"v2", 59.0)  # would wait until 62, after the expiry
    assert table.next_deadline() == 60.0
    table.handle_timeout(60.0)
    final = only(table)
    assert state_of(final).reason == Reason.TIMEOUT and len(table) == 0


# -- responses to NOTIFY (§4.2.2) -----------------------------------------------------------------


@pytest.mark.parametrize("status", [481, 408])
def test_481_or_408_to_a_notify_removes_the_subscription(status: int) -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, document=PIDF_OPEN)
    notify = only(table)
    removed = table.receive_notify_response(answer(notify, status))
    assert removed is outcome.subscription and removed is not None
    assert removed.state is NotifierState.TERMINATED
    assert len(table) == 0 and table.next_deadline() is None
    assert table.outgoing() == []  # no NOTIFY follows a dead subscriber
    assert not table.update(_id(outcome), PIDF_CLOSED, 1.0)


@pytest.mark.parametrize("status", [200, 202, 500, 503])
def test_other_answers_keep_the_subscription(status: int) -> None:
    table = notifier()
    table.receive_subscribe(subscribe(), 0.0, document=PIDF_OPEN)
    assert table.receive_notify_response(answer(only(table), status)) is None
    assert len(table) == 1


def test_a_transport_failure_removes_the_subscription() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, document=PIDF_OPEN)
    only(table)
    assert table.notify_failed(_id(outcome)) is outcome.subscription
    assert len(table) == 0 and table.notify_failed(_id(outcome)) is None


def test_a_2xx_to_notify_with_a_new_contact_retargets() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, document=b"a")
    notify = only(table)
    ok = make_response(notify, 200, extra=[("Contact", "<sip:moved@192.0.2.44>")])
    table.receive_notify_response(ok)
    table.update(_id(outcome), b"b", 10.0)
    assert only(table).request_uri == "sip:moved@192.0.2.44"


# -- authorisation (§4.2.1.3, RFC 3856 §6.6) ------------------------------------------------------


def test_pending_gets_no_document_then_active_on_allow() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, decision=Authorization.PENDING)
    pending = only(table)
    assert pending.headers.get("Subscription-State") == "pending;expires=3600"
    assert pending.body == b"" and "Content-Type" not in pending.headers
    # State changes while pending are kept, never sent.
    table.update(_id(outcome), PIDF_CLOSED, 1.0)
    assert table.outgoing() == []
    table.authorize(_id(outcome), Authorization.ALLOW, 30.0)
    active = only(table)
    assert active.headers.get("Subscription-State") == "active;expires=3570"
    assert active.body == PIDF_CLOSED


def test_allow_within_the_interval_notifies_at_once() -> None:
    # The friend request accepted a second after the pending NOTIFY: the watcher sees the
    # status now (issue 4: "takes effect at once"), not at the end of the interval.
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, decision=Authorization.PENDING)
    only(table)
    table.authorize(_id(outcome), Authorization.ALLOW, 1.0, document=PIDF_OPEN)
    assert state_of(active := only(table)).active and active.body == PIDF_OPEN
    # The rate limit counts from this NOTIFY for the changes that follow.
    table.update(_id(outcome), PIDF_CLOSED, 2.0)
    assert table.outgoing() == [] and table.next_deadline() == 6.0


def test_allow_without_a_document_waits_for_one() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, decision=Authorization.PENDING)
    only(table)
    table.authorize(_id(outcome), Authorization.ALLOW, 10.0)
    assert table.outgoing() == []
    sub = table.get(_id(outcome))
    assert sub is not None and sub.owed is NotifyAction.NOW
    table.update(_id(outcome), PIDF_OPEN, 10.5)  # owed, so not held by the rate limit
    assert only(table).body == PIDF_OPEN


def test_pending_then_deny_is_terminated_reason_rejected() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, decision=Authorization.PENDING)
    only(table)
    table.authorize(_id(outcome), Authorization.DENY, 2.0)
    final = only(table)  # final NOTIFYs are not rate-limited
    assert final.headers.get("Subscription-State") == "terminated;reason=rejected"
    assert final.body == b""
    assert len(table) == 0


def test_active_then_deny_is_terminated_reason_rejected() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, document=PIDF_OPEN)
    only(table)
    table.authorize(_id(outcome), Authorization.DENY, 100.0)
    assert state_of(only(table)).reason == Reason.REJECTED


def test_polite_block_keeps_the_watcher_active_with_a_neutral_document() -> None:
    table = notifier()
    outcome = table.receive_subscribe(
        subscribe(), 0.0, decision=Authorization.POLITE_BLOCK, document=NEUTRAL
    )
    # Nothing tells the watcher it is blocked: 2xx, active, a document.
    assert outcome.response.status == 200
    sub = outcome.subscription
    assert sub is not None and sub.blocked
    notify = only(table)
    assert notify.headers.get("Subscription-State") == "active;expires=3600"
    assert notify.body == NEUTRAL
    # Later the presentity allows the watcher: the real state flows.
    table.authorize(sub.id, Authorization.ALLOW, 60.0, document=PIDF_OPEN)
    assert not sub.blocked
    assert only(table).body == PIDF_OPEN


def test_notifier_deactivation_with_retry_after() -> None:
    table = notifier()
    outcome = table.receive_subscribe(subscribe(), 0.0, document=PIDF_OPEN)
    only(table)
    table.terminate(_id(outcome), Reason.PROBATION, 50.0, retry_after=120)
    final = only(table)
    assert final.headers.get("Subscription-State") == "terminated;reason=probation;retry-after=120"
    assert len(table) == 0
    assert not table.terminate(_id(outcome), Reason.DEACTIVATED, 51.0)


# -- the state table (h11/h2 style) ---------------------------------------------------------------


@pytest.mark.parametrize("state", list(NotifierState))
@pytest.mark.parametrize("event", list(NotifierInput))
def test_every_state_input_pair_transitions_or_raises(
    state: NotifierState, event: NotifierInput
) -> None:
    if state is NotifierState.TERMINATED:
        with pytest.raises(LocalProtocolError):
            move(state, event)
        return
    action, after = move(state, event)
    assert (action, after) == TRANSITIONS[(state, event)]
    # Whatever ends a subscription says so in a final NOTIFY, except the subscriber's death.
    if after is NotifierState.TERMINATED:
        expected = NotifyAction.NONE if event is NotifierInput.NOTIFY_FAILED else NotifyAction.FINAL
        assert action is expected


# -- restart -------------------------------------------------------------------------------------


def test_state_survives_a_restart() -> None:
    table = notifier()
    request = subscribe(
        expires=3600,
        extra="Record-Route: <sip:p1.example.com;lr>\nRecord-Route: <sip:p2.example.com;lr>",
    )
    outcome = table.receive_subscribe(request, 1000.0, document=b"v0")
    assert outcome.response.headers.get_all("Record-Route") == [
        "<sip:p1.example.com;lr>",
        "<sip:p2.example.com;lr>",
    ]
    first = only(table)
    assert first.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    table.update(_id(outcome), b"v1", 1002.0)  # held back by the rate limit until 1005
    saved = json.loads(json.dumps(table.to_dicts(1003.0)))

    # A new process: a new clock, 10 s of downtime.
    fresh = notifier()
    fresh.restore(saved, 50.0, elapsed=10.0)
    assert len(fresh) == 1
    sub = fresh.get(_id(outcome))
    assert sub is not None and sub.state is NotifierState.ACTIVE
    assert sub.version == 1 and sub.document == b"v1"
    # The coalesced NOTIFY was due 2 s after the save, so it is 8 s overdue now.
    assert fresh.next_deadline() == pytest.approx(42.0)
    fresh.handle_timeout(50.0)
    resumed = only(fresh)
    assert resumed.cseq.seq == first.cseq.seq + 1
    assert resumed.body == b"v1"
    assert resumed.headers.get_all("Route") == first.headers.get_all("Route")
    assert (resumed.call_id, resumed.from_.tag, resumed.to.tag) == (
        first.call_id,
        first.from_.tag,
        first.to.tag,
    )
    assert resumed.request_uri == first.request_uri
    # 3600 - 3 s before the save - 10 s down = 3587 s left.
    assert resumed.headers.get("Subscription-State") == "active;expires=3587"
    # The dialog's remote CSeq came along: a stale refresh is still refused, a good one taken.
    stale = fresh.receive_subscribe(in_dialog(outcome, cseq=1, expires=600), 51.0)
    assert stale.response.status == 500
    good = fresh.receive_subscribe(in_dialog(outcome, cseq=2, expires=600), 52.0)
    assert good.response.status == 200


def test_restore_needs_the_package() -> None:
    table = notifier()
    table.receive_subscribe(subscribe(event="presence.winfo"), 0.0, document=b"w")
    saved = table.to_dicts(0.0)
    with pytest.raises(LocalProtocolError):
        notifier(packages=(PRESENCE,)).restore(saved, 0.0)


def test_a_subscription_that_expired_while_down_ends_at_once() -> None:
    table = notifier()
    table.receive_subscribe(subscribe(expires=600), 0.0, document=b"v")
    only(table)
    fresh = notifier()
    fresh.restore(table.to_dicts(500.0), 0.0, elapsed=200.0)
    assert fresh.next_deadline() == pytest.approx(-100.0)
    fresh.handle_timeout(0.0)
    assert state_of(only(fresh)).reason == Reason.TIMEOUT and len(fresh) == 0


# -- many subscriptions, one heap ----------------------------------------------------------------


def test_next_deadline_across_many_subscriptions() -> None:
    table = notifier()
    ids = []
    for n in range(2000):
        expires = 60 + (n * 7919) % 3600  # a permutation-ish spread of deadlines
        outcome = table.receive_subscribe(
            subscribe(expires=expires, uri=f"sip:user{n % 50}@probability.org"),
            0.0,
            document=b"x",
        )
        ids.append(_id(outcome))
    assert len(table.outgoing()) == 2000
    assert table.next_deadline() == 60.0
    assert len(table.watchers("user7@probability.org", "presence")) == 40
    # Refresh half of them: their old heap entries go stale and are skipped.
    for n, sub_id in enumerate(ids[::2]):
        sub = table.get(sub_id)
        assert sub is not None
        call_id, to_tag = sub_id.call_id, sub_id.local_tag
        table.receive_subscribe(
            subscribe(call_id=call_id, to_tag=to_tag, cseq=2, expires=7200), 1.0 + n * 1e-6
        )
    table.outgoing()
    seen = []
    now = 0.0
    while (deadline := table.next_deadline()) is not None:
        assert deadline >= now
        now = deadline
        table.handle_timeout(now)
        seen.extend(table.outgoing())
    assert len(seen) == 2000 and len(table) == 0
    assert all(state_of(n).reason == Reason.TIMEOUT for n in seen)


def test_contact_of_the_transport_the_subscribe_came_over() -> None:
    # A TCP-only subscriber must be told a TCP address for its refreshes (seen with pjsua2).
    table = notifier()
    tcp = parse_sip_uri("sip:192.0.2.9:5070;transport=tcp")
    outcome = table.receive_subscribe(subscribe(), 0.0, document=PIDF_CLOSED, contact=tcp)
    assert outcome.response.headers.get("Contact") == f"<{tcp}>"
    assert only(table).headers.get("Contact") == f"<{tcp}>"
    refresh = subscribe(to_tag=_id(outcome).local_tag, call_id=_id(outcome).call_id, cseq=2)
    assert table.receive_subscribe(refresh, 1.0).response.headers.get("Contact") == f"<{tcp}>"
