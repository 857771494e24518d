"""The resource list server's sans-I/O parts (RFC 4662): the list URI convention, the
buddies of a resource-lists document (RFC 4826), the ``multipart/related`` bodies with RLMI
(full state, then partial state, versions counting NOTIFYs) and the list subscriptions'
table, driven with a fake clock through its rate limit (changes coalesced, none dropped).
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from parley.client.rls import read_buddy_list
from parley.payloads import multipart, resourcelists, rlmi
from parley.payloads.resourcelists import DisplayName, Entry, ResourceLists
from parley.payloads.rlmi import InstanceState
from parley.services.presence.rls_state import (
    Buddy,
    ListView,
    ResourceView,
    buddies,
    list_aor,
    list_owner,
)
from parley.services.presence.rls_table import ResourceListTable
from parley.sip.core.subscription import (
    PRESENCE,
    LocalEndpoint,
    NotifierConfig,
    PackageRegistry,
    SubscribeOutcome,
    SubscriptionState,
    SubscriptionTable,
)
from parley.sip.core.uac import SentBy
from parley.sip.dialog import IdGenerator
from parley.sip.syntax import Request, Response, make_response, parse_message, parse_sip_uri

BOB = ResourceView(
    "sip:bob@example.com",
    "Bob",
    InstanceState.ACTIVE,
    document=b"<presence>bob closed</presence>",
    content_type="application/pidf+xml",
    presentity="bob@example.com",
)
CAROL = ResourceView(
    "sip:carol@example.com", None, InstanceState.PENDING, presentity="carol@example.com"
)
DAVE = ResourceView("sip:dave@elsewhere.org", None, InstanceState.PENDING)
INTERVAL = 5.0


def opened(view: ResourceView, text: bytes) -> ResourceView:
    return replace(view, state=InstanceState.ACTIVE, document=text, content_type=BOB.content_type)


def read(content_type: str, body: bytes) -> tuple[rlmi.List, multipart.Related]:
    related = multipart.parse(content_type, body)
    # RFC 4662 §5: the RLMI document is the root, named by start and type, and first.
    assert related.type == rlmi.CONTENT_TYPE
    assert related.root is related.parts[0] and related.start == related.parts[0].content_id
    return rlmi.parse(related.root.body), related


def part_of(document: rlmi.List, related: multipart.Related, uri: str) -> bytes | None:
    resource = document.resource(uri)
    assert resource is not None
    cid = resource.instances[0].cid
    if cid is None:
        return None
    part = related.part(cid)
    assert part is not None
    return part.body


# -- the list URI and its resources -----------------------------------------------------------


def test_list_uri_convention() -> None:
    assert list_aor("alice@example.com") == "alice+buddies@example.com"
    assert list_owner("alice+buddies@example.com") == "alice@example.com"
    assert list_owner("alice@example.com") is None
    assert list_owner("+buddies@example.com") is None


def test_buddies_flatten_every_list_once_in_order() -> None:
    lists = ResourceLists(
        (
            resourcelists.List(
                "friends",
                items=(
                    Entry("sip:bob@example.com", DisplayName("Bob")),
                    resourcelists.List("work", items=(Entry("sip:carol@example.com"),)),
                ),
            ),
            resourcelists.List("family", items=(Entry("sip:bob@example.com"),)),
        )
    )
    assert buddies(lists) == (
        Buddy("sip:bob@example.com", "Bob"),
        Buddy("sip:carol@example.com", None),
    )
    assert buddies(None) == ()


# -- bodies ------------------------------------------------------------------------------------


def test_full_state_lists_every_resource_with_documents_only_where_allowed() -> None:
    view = ListView("sip:alice+buddies@example.com", "example.com", "s1")
    assert view.replace([BOB, CAROL, DAVE])
    document, related = read(*view.render(0))
    assert (document.uri, document.version, document.full_state) == (
        "sip:alice+buddies@example.com",
        0,
        True,
    )
    assert [r.uri for r in document.resources] == [BOB.uri, CAROL.uri, DAVE.uri]
    bob = document.resource(BOB.uri)
    assert bob is not None and bob.names == (rlmi.Name("Bob"),)
    assert part_of(document, related, BOB.uri) == BOB.document
    # Pending: no part at all (RFC 3856 §6.6).
    assert part_of(document, related, CAROL.uri) is None
    assert len(related.parts) == 2


def test_partial_state_carries_what_changed_since_the_last_sent() -> None:
    view = ListView("sip:alice+buddies@example.com", "example.com", "s1")
    view.replace([BOB, CAROL, DAVE])
    view.sent()
    assert not view.pending_change
    assert not view.update(BOB)  # the same view is no change
    assert view.update(replace(BOB, document=b"<presence>bob open</presence>"))
    document, related = read(*view.render(1))
    assert (document.version, document.full_state) == (1, False)
    assert [r.uri for r in document.resources] == [BOB.uri]
    # Not sent yet (rate limit): Carol's change joins Bob's in the next body.
    assert view.update(opened(CAROL, b"<presence>carol</presence>"))
    document, related = read(*view.render(1))
    assert [r.uri for r in document.resources] == [BOB.uri, CAROL.uri]
    assert part_of(document, related, BOB.uri) == b"<presence>bob open</presence>"
    view.sent()
    terminated = replace(DAVE, state=InstanceState.TERMINATED, reason="rejected")
    assert view.update(terminated)
    document, _ = read(*view.render(2))
    (dave,) = document.resources
    assert (dave.instances[0].state, dave.instances[0].reason) == (
        InstanceState.TERMINATED,
        "rejected",
    )


def test_membership_change_is_full_state() -> None:
    view = ListView("sip:alice+buddies@example.com", "example.com", "s1")
    view.replace([BOB, CAROL])
    view.sent()
    assert not view.replace([BOB, CAROL])
    assert view.replace([BOB])
    document, _ = read(*view.render(1))
    assert document.full_state and [r.uri for r in document.resources] == [BOB.uri]


def test_content_ids_differ_between_versions() -> None:
    view = ListView("sip:alice+buddies@example.com", "example.com", "s1")
    view.replace([BOB])
    first = multipart.parse(*view.render(0))
    second = multipart.parse(*view.render(1))
    assert {p.content_id for p in first.parts}.isdisjoint(p.content_id for p in second.parts)


# -- the table of list subscriptions -------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self._next = itertools.count(1 << 40)

    def __call__(self, size: int) -> bytes:
        return next(self._next).to_bytes(size, "big")


def lists() -> ResourceListTable:
    local = LocalEndpoint(
        SentBy("UDP", "192.0.2.10", 5060),
        IdGenerator(Counter()),
        parse_sip_uri("sip:192.0.2.10:5060"),
    )
    package = replace(PRESENCE, min_notify_interval=INTERVAL, min_expires=1)
    return ResourceListTable(SubscriptionTable(PackageRegistry([package]), local, NotifierConfig()))


_calls = itertools.count(1)
ACCEPT = "multipart/related, application/rlmi+xml, application/pidf+xml"


def subscribe(
    *,
    expires: int = 600,
    supported: bool = True,
    accept: str = ACCEPT,
    to_tag: str | None = None,
    call_id: str | None = None,
    cseq: int = 1,
) -> Request:
    uri = "sip:alice+buddies@example.com"
    lines = [
        f"SUBSCRIBE {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKr{next(_calls)}",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=a1",
        f"To: <{uri}>" + ("" if to_tag is None else f";tag={to_tag}"),
        f"Call-ID: {call_id or f'list{next(_calls)}@192.0.2.1'}",
        f"CSeq: {cseq} SUBSCRIBE",
        "Contact: <sip:alice@192.0.2.1:5070>",
        "Event: presence",
        f"Expires: {expires}",
        f"Accept: {accept}",
    ]
    if supported:
        lines.append("Supported: eventlist")
    message = parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def in_dialog(outcome: SubscribeOutcome, *, cseq: int, expires: int) -> Request:
    response = outcome.response
    return subscribe(call_id=response.call_id, to_tag=response.to.tag, cseq=cseq, expires=expires)


def start(
    table: ResourceListTable, *, expires: int = 600, supported: bool = True
) -> SubscribeOutcome:
    return table.receive_subscribe(
        subscribe(expires=expires, supported=supported),
        0.0,
        owner="alice@example.com",
        resource="alice+buddies@example.com",
        views=[BOB, CAROL],
        part_type="application/pidf+xml",
        salt="s1",
    )


def sent(table: ResourceListTable) -> list[tuple[SubscriptionState, rlmi.List | None]]:
    out = []
    for _, notify in table.outgoing():
        wire = parse_message(notify.to_bytes())
        assert isinstance(wire, Request) and "eventlist" in wire.headers.values("Require")
        state = SubscriptionState.parse(wire.headers.get("Subscription-State") or "")
        content_type = wire.headers.get("Content-Type")
        document = None if content_type is None else read(content_type, wire.body)[0]
        out.append((state, document))
    return out


def test_list_subscription_needs_eventlist_and_rlmi() -> None:
    table = lists()
    without = start(table, supported=False)
    assert without.response.status == 421
    assert without.response.headers.get("Require") == "eventlist"
    refused = table.receive_subscribe(
        subscribe(accept="application/pidf+xml"),
        0.0,
        owner="alice@example.com",
        resource="alice+buddies@example.com",
        views=[],
        part_type="application/pidf+xml",
        salt="s1",
    )
    assert refused.response.status == 406
    assert table.outgoing() == []


def test_rate_limited_changes_are_coalesced_into_one_partial_notify() -> None:
    table = lists()
    outcome = start(table)
    assert outcome.response.status == 200
    assert outcome.subscription is not None
    dialog_id = outcome.subscription.id
    assert dialog_id in table
    ((state, first),) = sent(table)
    assert state.active and first is not None and (first.version, first.full_state) == (0, True)
    assert table.showing("bob@example.com") == [dialog_id]
    assert table.owned_by("alice@example.com") == [dialog_id]

    # Two changes within the rate-limit interval: nothing now, one NOTIFY at its end.
    assert table.update(dialog_id, replace(BOB, document=b"<presence>1</presence>"), 1.0)
    assert table.update(dialog_id, opened(CAROL, b"<presence>carol</presence>"), 2.0)
    assert table.update(dialog_id, replace(BOB, document=b"<presence>2</presence>"), 3.0)
    assert sent(table) == []
    assert table.next_deadline() == INTERVAL
    table.handle_timeout(INTERVAL)
    ((_, partial),) = sent(table)
    assert partial is not None and (partial.version, partial.full_state) == (1, False)
    assert [r.uri for r in partial.resources] == [BOB.uri, CAROL.uri]

    # The next change starts a new partial state, with the next version.
    table.update(dialog_id, replace(CAROL, presentity="carol@example.com"), 20.0)
    ((_, later),) = sent(table)
    assert (
        later is not None and later.version == 2 and [r.uri for r in later.resources] == [CAROL.uri]
    )

    # A refresh is answered with full state; Expires 0 with the final NOTIFY, full state.
    refresh = table.receive_in_dialog(in_dialog(outcome, cseq=2, expires=600), 30.0)
    assert refresh.response.status == 200
    ((_, refreshed),) = sent(table)
    assert refreshed is not None and (refreshed.version, refreshed.full_state) == (3, True)
    table.receive_in_dialog(in_dialog(outcome, cseq=3, expires=0), 40.0)
    ((final_state, final),) = sent(table)
    assert (final_state.state, final_state.reason) == ("terminated", "timeout")
    assert final is not None and (final.version, final.full_state) == (4, True)
    assert dialog_id not in table and table.showing("bob@example.com") == []


def test_list_change_reindexes_and_expiry_ends_without_body() -> None:
    table = lists()
    outcome = start(table, expires=60)
    assert outcome.subscription is not None
    dialog_id = outcome.subscription.id
    sent(table)
    dave_local = replace(DAVE, uri="sip:dave@example.com", presentity="dave@example.com")
    assert table.replace(dialog_id, [BOB, dave_local], 10.0)
    ((_, changed),) = sent(table)
    assert changed is not None and changed.full_state
    assert table.showing("carol@example.com") == []
    assert table.showing("dave@example.com") == [dialog_id]
    table.handle_timeout(60.0)
    ((state, body),) = sent(table)
    assert (state.state, state.reason, body) == ("terminated", "timeout", None)
    assert not table.concerns("alice@example.com") and not table.concerns("bob@example.com")


@pytest.mark.parametrize("status", [481, 408])
def test_a_failed_notify_forgets_the_subscription(status: int) -> None:
    table = lists()
    outcome = start(table)
    assert outcome.subscription is not None
    ((_, notify),) = table.outgoing()
    response = parse_message(make_response(notify, status).to_bytes())
    assert isinstance(response, Response)
    assert table.receive_notify_response(response)
    assert outcome.subscription.id not in table


# -- the SDK's reader of these bodies (parley.client.rls) ----------------------------------------


def test_sdk_reader_merges_partial_state_and_spots_gaps() -> None:
    active = SubscriptionState("active", expires=600)
    view = ListView("sip:alice+buddies@example.com", "example.com", "s1")
    view.replace([BOB, CAROL])
    first = read_buddy_list(active, *view.render(0), None)
    assert first is not None and first.full_state
    assert [(b.uri, b.state) for b in first.buddies] == [
        (BOB.uri, "active"),
        (CAROL.uri, "pending"),
    ]
    view.sent()
    view.update(opened(CAROL, b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:c"/>'))
    body = view.render(1)
    second = read_buddy_list(active, *body, first)
    assert second is not None and second.changed == (CAROL.uri,) and not second.out_of_sync
    carol = second.buddy(CAROL.uri)
    assert carol is not None and carol.state == "active" and carol.presence is not None
    assert second.buddy(BOB.uri) == first.buddy(BOB.uri)
    # The same version again (a retransmission) is not news.
    assert read_buddy_list(active, *body, second) is None
    # A partial NOTIFY lost: version 3 after 1.
    view.sent()
    view.update(replace(BOB, state=InstanceState.TERMINATED, reason="rejected", document=None))
    gapped = read_buddy_list(active, *view.render(3), second)
    assert gapped is not None and gapped.out_of_sync
    bob = gapped.buddy(BOB.uri)
    assert bob is not None and (bob.state, bob.reason, bob.basic) == (
        "terminated",
        "rejected",
        None,
    )
