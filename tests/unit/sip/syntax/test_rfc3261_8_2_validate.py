"""RFC 3261 §8.2 (UAS checks) and §16.3 (proxy checks) as far as syntax decides them:
validate_message raises ParseError carrying the status a request is answered with."""

from __future__ import annotations

import pytest
from syntax_vectors import parse_vector, vector

from parley.sip.errors import ParseError
from parley.sip.syntax import Request, Response, parse_message, validate_message

KNOWN = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE"})


def edited(name: str, old: bytes, new: bytes) -> Request | Response:
    data = vector(name)
    assert old in data
    return parse_message(data.replace(old, new, 1))


def refusal(message: Request | Response, **kwargs: frozenset[str]) -> ParseError:
    with pytest.raises(ParseError) as info:
        validate_message(message, **kwargs)
    assert info.value.__cause__ is None, "a deliberate refusal, not a caught crash"
    return info.value


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"Call-ID: na-77@ua.example.com\r\n", b"", "missing Call-ID header"),
        (b"CSeq: 9 REGISTER\r\n", b"", "missing CSeq header"),
        (b"Via: SIP/2.0/UDP ua.example.com:5060;branch=z9hG4bK.na1\r\n", b"", "missing Via header"),
        (b"CSeq: 9 REGISTER", b"CSeq: 9 INVITE", "CSeq method does not match the request method"),
        (b"CSeq: 9 REGISTER", b"CSeq: 9 REGISTER\r\nCSeq: 10 REGISTER",
         "more than one CSeq header"),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nMax-Forwards: 69",
         "more than one Max-Forwards header"),
        (b"Max-Forwards: 70", b"Max-Forwards: seventy", "Max-Forwards is not a number"),
        (b"Call-ID: na-77@ua.example.com", b"Call-ID: a b", "malformed Call-ID"),
        (b"Call-ID: na-77@ua.example.com", b"Call-ID: a@b@c", "malformed Call-ID"),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nX Bad Name: 1", "malformed header name"),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nX-\xc3\xa9: 1", "malformed header name"),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\n: empty name", "malformed header name"),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nContent-Type: text", "malformed Content-Type"),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nEvent: pres ence", "malformed Event"),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nRequire: a b, c",
         "malformed option-tag in Require"),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nExpires: soon", "Expires is not a number"),
        (b"REGISTER sip:registrar.example.com SIP/2.0",
         b"REGISTER sip:registrar.example.com?Route=%3Csip:x%3E SIP/2.0",
         "Request-URI with embedded headers"),
        (b"REGISTER sip:registrar.example.com SIP/2.0", b"REGISTER sip:reg istrar SIP/2.0",
         "malformed Request-Line"),
        (b"REGISTER sip:registrar.example.com SIP/2.0", b"REGISTER sip:[::1 SIP/2.0",
         "unterminated IPv6 reference"),
        (b"<sip:user@ua.example.com;transport=tcp;lr>", b"<sip:user@ua example.com>",
         "white space, control or delimiter character inside a URI"),
        (b"Joe User <sip:user@example.com;user=ip>", b"Joe User <sip:user@exa_mple.com>",
         "malformed host 'exa_mple.com'"),
    ],
)  # fmt: skip
def test_requests_refused_with_400(old: bytes, new: bytes, reason: str) -> None:
    try:
        message = edited("syntax/name_addr.sip", old, new)
    except ParseError as exc:  # some edits are already refused while framing
        assert exc.reason == reason
        return
    error = refusal(message)
    assert (error.reason, error.status_hint) == (reason, 400)


def test_unknown_method_is_501_before_anything_else() -> None:
    # RFC 4475 mismatch02: NEWMETHOD with CSeq INVITE: 501 preferred to 400.
    message = edited("syntax/name_addr.sip", b"REGISTER sip:", b"NEWMETHOD sip:")
    error = refusal(message, known_methods=KNOWN)
    assert error.status_hint == 501 and error.reason == "method NEWMETHOD not implemented"
    error = refusal(message)  # without a method list the mismatch is what is wrong
    assert error.status_hint == 400


def test_valid_vectors_validate() -> None:
    for name in ("syntax/compact_forms.sip", "syntax/multi_value.sip", "syntax/uris.sip"):
        validate_message(parse_vector(name))
    validate_message(parse_vector("syntax/name_addr.sip"), known_methods=KNOWN)


def test_contact_star_is_accepted_alone() -> None:
    message = edited(
        "syntax/name_addr.sip",
        b"Contact: <sip:user@ua.example.com;transport=tcp;lr>;expires=3600;q=0.5\r\n"
        b"Contact: sip:user@ua2.example.com;transport=udp;expires=60\r\n"
        b'Contact: Bare Name<sip:user@ua3.example.com>;methods="INVITE,MESSAGE"\r\n',
        b"Contact: *\r\nExpires: 0\r\n",
    )
    assert message.is_star_contact
    validate_message(message)
    mixed = edited("syntax/name_addr.sip", b"Contact: sip:user@ua2", b"Contact: *, sip:user@ua2")
    assert not mixed.is_star_contact
    refusal(mixed)


def test_overlarge_max_forwards_and_expires_read_as_absent() -> None:
    # RFC 4475 scalar02: such values may be treated as absent (Expires then defaults).
    message = edited(
        "syntax/name_addr.sip",
        b"Max-Forwards: 70",
        b"Max-Forwards: 300\r\nExpires: " + b"1" * 40,
    )
    assert message.max_forwards is None and message.expires is None
    validate_message(message)
    assert edited("syntax/name_addr.sip", b"Max-Forwards: 70", b"Expires: 0600").expires == 600


def test_responses_validate_without_method_checks() -> None:
    message = parse_vector("syntax/response_utf8_reason.sip")
    validate_message(message, known_methods=frozenset({"INVITE"}))
    broken = edited("syntax/response_utf8_reason.sip", b"CSeq: 7 MESSAGE", b"CSeq: 99999999999 X")
    assert refusal(broken).reason == "CSeq number is too large"
