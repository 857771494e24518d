"""RFC 6665 §8.2 header fields (Event, Allow-Events, Subscription-State, grammar of §8.4),
§7 event packages as registered data, and the Accept negotiation a notifier does with them
(RFC 3261 §20.1, RFC 3856 §6.7, RFC 4662 §5)."""

from __future__ import annotations

import pytest

from parley.sip.core.subscription import (
    PRESENCE,
    PRESENCE_WINFO,
    EventHeader,
    EventPackage,
    PackageRegistry,
    Reason,
    SubscriptionState,
    SubState,
    format_allow_events,
    parse_allow_events,
    retry_delay,
)
from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.syntax import parse_message

# -- Event (§8.2.1) ---------------------------------------------------------------------------


def test_event_with_package_only() -> None:
    event = EventHeader.parse("presence")
    assert (event.package, event.templates, event.id, event.params) == ("presence", (), None, ())
    assert event.event_type == "presence" and event.template is None
    assert str(event) == "presence"


def test_event_with_template_id_and_other_params() -> None:
    event = EventHeader.parse(" presence.winfo ; id=ab7 ;foo=bar;flag")
    assert event.package == "presence"
    assert event.templates == ("winfo",) and event.template == "winfo"
    assert event.event_type == "presence.winfo"
    assert event.id == "ab7"
    assert event.params == (("foo", "bar"), ("flag", None))
    assert str(event) == "presence.winfo;id=ab7;foo=bar;flag"
    assert EventHeader.parse(str(event)) == event


def test_event_of_type_builds_the_value_to_send() -> None:
    assert str(EventHeader.of_type("presence.winfo", "x1")) == "presence.winfo;id=x1"
    assert EventHeader.of_type("presence") == EventHeader("presence")


@pytest.mark.parametrize(
    "text", ["", "pres ence", ".winfo", "presence.", "presence..winfo", "presence;id=", 'a;id="x"']
)
def test_malformed_events_are_refused(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        EventHeader.parse(text)
    assert caught.value.status_hint == 400


def test_event_matching_compares_type_and_id_only() -> None:
    # §8.2.1: byte-by-byte type and id; other parameters do not count; no id only matches
    # no id.
    base = EventHeader.parse("presence;id=1")
    assert base.matches(EventHeader.parse("presence;id=1;foo=bar"))
    assert not base.matches(EventHeader.parse("presence"))
    assert not base.matches(EventHeader.parse("presence;id=2"))
    assert not base.matches(EventHeader.parse("Presence;id=1"))
    assert not EventHeader.parse("presence").matches(EventHeader.parse("presence.winfo"))


def test_event_compact_form_reaches_the_parser() -> None:
    # §7.3.3 / §8.2.1: "o" is Event's compact form; the header layer expands it.
    message = parse_message(
        b"NOTIFY sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1"
        b"\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 NOTIFY\r\no: presence;id=9\r\n"
        b"u: presence, dialog\r\nContent-Length: 0\r\n\r\n"
    )
    value = message.headers.get("Event")
    assert value is not None and EventHeader.parse(value).id == "9"
    assert parse_allow_events(message.headers.get_all("Allow-Events")) == ("presence", "dialog")


# -- Allow-Events (§8.2.2) ----------------------------------------------------------------------


def test_allow_events_lists_event_types_across_lines() -> None:
    assert parse_allow_events(["presence, presence.winfo", "dialog"]) == (
        "presence",
        "presence.winfo",
        "dialog",
    )
    assert format_allow_events(["presence", "presence.winfo"]) == "presence, presence.winfo"


def test_allow_events_refuses_parameters_and_junk() -> None:
    with pytest.raises(ParseError):
        parse_allow_events(["presence;id=1"])
    with pytest.raises(ParseError):
        parse_allow_events(["presence,,dialog"])


# -- Subscription-State (§8.2.3) ----------------------------------------------------------------


def test_active_and_pending_carry_expires() -> None:
    active = SubscriptionState.parse("active;expires=3600")
    assert active.active and not active.pending and not active.terminated
    assert active.state == SubState.ACTIVE and active.expires == 3600
    assert str(active) == "active;expires=3600"
    pending = SubscriptionState.parse("Pending ; expires = 60")
    assert pending.pending and pending.expires == 60
    assert str(pending) == "pending;expires=60"


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_of_the_rfc_parses(reason: Reason) -> None:
    state = SubscriptionState.parse(f"terminated;reason={reason.value}")
    assert state.terminated and state.reason == reason
    assert str(state) == f"terminated;reason={reason.value}"


def test_terminated_with_retry_after_and_unknown_params() -> None:
    state = SubscriptionState.parse("terminated;reason=probation;retry-after=120;x=y")
    assert (state.reason, state.retry_after, state.params) == ("probation", 120, (("x", "y"),))
    assert str(state) == "terminated;reason=probation;retry-after=120;x=y"
    assert SubscriptionState.parse(str(state)) == state


def test_extension_substates_and_reasons_are_kept() -> None:
    state = SubscriptionState.parse("waiting;reason=Moved-Away")
    assert state.state == "waiting" and state.reason == "moved-away"
    assert not (state.active or state.pending or state.terminated)


def test_built_values_serialise() -> None:
    assert str(SubscriptionState(SubState.TERMINATED, reason=Reason.TIMEOUT)) == (
        "terminated;reason=timeout"
    )
    assert str(SubscriptionState("active", expires=0)) == "active;expires=0"


@pytest.mark.parametrize(
    "text", ["", "active;expires=soon", "active;expires=-1", 'terminated;reason="x"', "a b"]
)
def test_malformed_subscription_states_are_refused(text: str) -> None:
    with pytest.raises(ParseError):
        SubscriptionState.parse(text)


# -- §4.1.3: what a termination reason allows the subscriber -------------------------------------


@pytest.mark.parametrize(
    ("reason", "retry_after", "expected"),
    [
        (Reason.DEACTIVATED, 99, 0.0),  # at once; retry-after has no semantics
        (Reason.TIMEOUT, None, 0.0),
        (Reason.PROBATION, 30, 30.0),
        (Reason.PROBATION, None, 60.0),  # "at some later time": the configured default
        (Reason.GIVEUP, 45, 45.0),
        (Reason.REJECTED, None, None),
        (Reason.NORESOURCE, 10, None),
        (Reason.INVARIANT, None, None),
        (None, None, 0.0),
        (None, 20, 20.0),
        ("moved", 5, 5.0),
    ],
)
def test_retry_delay_follows_the_reason(
    reason: str | None, retry_after: int | None, expected: float | None
) -> None:
    assert retry_delay(reason, retry_after, default=60.0) == expected


# -- §7 event packages --------------------------------------------------------------------------


def test_presence_package_data() -> None:
    # RFC 3856: PIDF first, an hour by default, 5 s between notifications.
    assert PRESENCE.name == "presence"
    assert PRESENCE.accept[0] == "application/pidf+xml"
    assert PRESENCE.default_expires == 3600
    assert PRESENCE.min_notify_interval == 5.0
    assert PRESENCE_WINFO.accept == ("application/watcherinfo+xml",)


def test_package_registration_is_checked() -> None:
    with pytest.raises(LocalProtocolError):
        EventPackage("pres ence", ("text/plain",))
    with pytest.raises(LocalProtocolError):
        EventPackage("x", ())
    with pytest.raises(LocalProtocolError):
        EventPackage("x", ("text/plain",), default_expires=10, min_expires=60)
    registry = PackageRegistry([PRESENCE, PRESENCE_WINFO])
    with pytest.raises(LocalProtocolError):
        registry.register(PRESENCE)
    assert registry.get("presence") is PRESENCE and "presence.winfo" in registry
    assert registry.get("Presence") is None and len(registry) == 2
    assert registry.allow_events() == "presence, presence.winfo"
    assert [p.name for p in registry] == ["presence", "presence.winfo"]


def test_grant_expires_shortens_but_never_lengthens() -> None:
    package = EventPackage("x", ("a/b",), default_expires=600, min_expires=60, max_expires=7200)
    assert package.grant_expires(None) == 600
    assert package.grant_expires(0) == 0
    assert package.grant_expires(100) == 100
    assert package.grant_expires(10**9) == 7200


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/pidf+xml"),  # no Accept: the package's default
        (["application/pidf+xml"], "application/pidf+xml"),
        (["application/cpim-pidf+xml"], "application/cpim-pidf+xml"),  # asks only for it
        (["application/cpim-pidf+xml", "application/pidf+xml"], "application/pidf+xml"),
        (["application/cpim-pidf+xml", "application/pidf+xml;q=0.5"], "application/cpim-pidf+xml"),
        (["Application/PIDF+XML"], "application/pidf+xml"),
        (["application/*"], "application/pidf+xml"),
        (["*/*"], "application/pidf+xml"),
        (["application/*;q=0.1", "application/cpim-pidf+xml"], "application/cpim-pidf+xml"),
        (["application/pidf+xml;q=0", "*/*"], "application/cpim-pidf+xml"),
        (["text/plain"], None),
        ([""], None),  # RFC 3261 §20.1: an empty Accept accepts nothing
        (["application/pidf+xml;q=2"], None),  # an unreadable element accepts nothing
    ],
)
def test_accept_negotiation(accept: list[str] | None, expected: str | None) -> None:
    assert PRESENCE.negotiate(accept) == expected


def test_accept_negotiation_for_resource_lists() -> None:
    # RFC 4662 §5: multipart/related with an RLMI root, which the Accept must allow too.
    rls_accept = ["multipart/related", "application/rlmi+xml", "application/pidf+xml"]
    assert PRESENCE.negotiate(rls_accept, resource_list=True) == "multipart/related"
    assert PRESENCE.negotiate(None, resource_list=True) == "multipart/related"
    assert PRESENCE.negotiate(["multipart/related"], resource_list=True) is None
    assert PRESENCE.negotiate(["application/pidf+xml"], resource_list=True) is None
    assert PRESENCE_WINFO.negotiate(None, resource_list=True) is None
