"""RFC 3862 message/cpim: the RFC example byte for byte, lookups, building."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from payload_vectors import round_trip, vector

from parley.payloads import PayloadError, cpim
from parley.payloads.cpim import Address, CpimMessage, Header

FEATURES = "mid:MessageFeatures@id.foo.com"


def test_rfc3862_example() -> None:
    data = vector("rfc3862_example.cpim")
    message = cpim.parse(data)
    assert message.sender == Address("im:piglet@100akerwood.com", "MR SANDERS")
    assert message.recipients == (Address("im:eeyore@100akerwood.com", "Depressed Donkey"),)
    assert message.cc == ()
    assert message.datetime == datetime(2000, 12, 13, 13, 40, tzinfo=timezone(-timedelta(hours=8)))
    assert message.subject == "the weather will be fine today"
    assert message.subjects == (
        ("the weather will be fine today", None),
        ("beau temps prevu pour aujourd'hui", "fr"),
    )
    assert message.namespaces == {"MyFeatures": FEATURES}
    assert message.require == ("MyFeatures.VitalMessageOption",)
    assert message.values("VitalMessageOption", FEATURES) == ("Confirmation-requested",)
    assert message.value("myfeatures.wackymessageoption") == "Use-silly-font"
    assert message.values("From", cpim.BASE_NAMESPACE) == (
        "MR SANDERS <im:piglet@100akerwood.com>",
    )
    assert message.content_type == "text/xml; charset=utf-8"
    assert message.content_header("content-id") == "<1234567890@foo.com>"
    assert message.body == b"<body>\r\nHere is the text of my message.\r\n</body>\r\n"
    assert cpim.serialize(message) == data  # byte for byte
    round_trip(message, cpim.serialize, cpim.parse)


def test_prefixes_are_resolved_through_ns() -> None:
    message = cpim.parse(
        b"From: <im:a@x>\r\nNS: f <" + FEATURES.encode() + b">\r\n"
        b"f.VitalMessageOption: yes\r\nNS: <urn:default>\r\n\r\nContent-Type: text/plain\r\n\r\n"
    )
    assert message.values("VitalMessageOption", FEATURES) == ("yes",)
    assert message.values("VitalMessageOption", "urn:other") == ()
    assert message.namespaces == {"f": FEATURES, "": "urn:default"}


def test_build_a_message() -> None:
    when = datetime(2012, 2, 14, 5, 29, tzinfo=UTC)
    message = cpim.message(
        "P. L. Chebychev <sip:chebychev@academy.ru>",
        [Address("sip:poisson@probability.org", 'M. "Sim\u00e9on" Poisson')],
        b"Hi There!",
        cc=["sip:markov@academy.ru"],
        datetime=when,
        subject="seminar",
        namespaces={"x": "urn:x"},
        headers=[Header("x.Tag", "1")],
        content_headers=[("Content-Length", "9")],
    )
    data = round_trip(message, cpim.serialize, cpim.parse)
    assert data.startswith(
        b"From: P. L. Chebychev <sip:chebychev@academy.ru>\r\n"
        b'To: "M. \\"Sim\xc3\xa9on\\" Poisson" <sip:poisson@probability.org>\r\n'
        b"cc: <sip:markov@academy.ru>\r\n"
        b"DateTime: 2012-02-14T05:29:00Z\r\n"
        b"Subject: seminar\r\n"
        b"NS: x <urn:x>\r\n"
        b"x.Tag: 1\r\n\r\n"
        b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 9\r\n\r\nHi There!"
    )
    parsed = cpim.parse(data)
    assert parsed.recipients[0].display_name == 'M. "Sim\u00e9on" Poisson'
    assert parsed.datetime == when
    assert parsed.values("Tag", "urn:x") == ("1",)


def test_lf_line_ends_and_folding_are_accepted() -> None:
    message = cpim.parse(b"From: <im:a@x>\nSubject: long\n  subject\n\nContent-Type: a/b\n\nbody\n")
    assert message.subject == "long subject"
    assert message.body == b"body\n"


def test_a_message_without_content_headers() -> None:
    message = cpim.parse(b"From: <im:a@x>\r\n\r\n\r\nraw")
    assert message.content_headers == () and message.body == b"raw"
    assert message.content_type is None
    assert Address.parse("im:bare@x") == Address("im:bare@x")
    assert str(Address("im:bare@x")) == "<im:bare@x>"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"From: <im:a@x>\r\n", "empty line"),
        (b"From: <im:a@x>\r\n\r\n", "no encapsulated content"),
        (b"From: <im:a@x>\r\n\r\nContent-Type: a/b\r\n", "empty line"),
        (b"From <im:a@x>\r\n\r\nContent-Type: a/b\r\n\r\n", "malformed"),
        (b"From: <im:a@x>\r\n\r\nContent-Type a/b\r\n\r\n", "malformed"),
        (b"From: <<im:a@x>\r\n\r\n\r\n", "address"),
        (b"To: \r\n\r\n\r\n", "address"),
        (b"NS: not-a-namespace\r\n\r\n\r\n", "NS"),
        (b"DateTime: noon\r\n\r\n\r\n", "DateTime"),
        (b"Subject: \xff\r\n\r\n\r\n", "UTF-8"),
        (b"Bad Name: x\r\n\r\n\r\n", "malformed"),
    ],
)
def test_invalid_messages(data: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        cpim.parse(data)


def test_limits_and_serializer_checks() -> None:
    with pytest.raises(PayloadError, match="too large"):
        cpim.parse(vector("rfc3862_example.cpim"), max_bytes=10)
    with pytest.raises(ValueError, match="line break"):
        cpim.serialize(CpimMessage((Header("Subject", "a\r\nTo: <im:evil@x>"),), (), b""))
