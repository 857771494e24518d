"""Serialising a message whose header section is already canonical reuses its bytes; any
change must drop them, and non-canonical input must still be rebuilt (§7.3)."""

from __future__ import annotations

import pytest

from parley.sip.errors import ParseError
from parley.sip.syntax import Request, parse_message

CANONICAL = (
    b"MESSAGE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@example.com>;tag=a\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: c1\r\n"
    b"CSeq: 1 MESSAGE\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"hello"
)


def test_canonical_message_serialises_to_its_own_bytes() -> None:
    assert parse_message(CANONICAL).to_bytes() == CANONICAL


def test_a_header_change_is_serialised() -> None:
    message = parse_message(CANONICAL)
    message.headers.set("Max-Forwards", "69")
    assert b"Max-Forwards: 69\r\n" in message.to_bytes()
    message.headers.prepend("Via", "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK2")
    assert message.to_bytes().count(b"Via: ") == 2


def test_a_new_body_gets_its_own_length() -> None:
    message = parse_message(CANONICAL)
    message.body = b"a longer body"
    data = message.to_bytes()
    assert b"Content-Length: 13\r\n" in data and data.endswith(b"a longer body")


def test_a_new_request_uri_is_serialised() -> None:
    message = parse_message(CANONICAL)
    assert isinstance(message, Request)
    message.request_uri = "sip:bob@192.0.2.7:5060"
    assert message.to_bytes().startswith(b"MESSAGE sip:bob@192.0.2.7:5060 SIP/2.0\r\n")


def test_compact_and_folded_input_is_rebuilt_in_canonical_form() -> None:
    odd = CANONICAL.replace(b"Content-Length: 5", b"l:   5").replace(
        b"Max-Forwards: 70", b"Max-Forwards:\r\n 70"
    )
    data = parse_message(odd).to_bytes()
    assert b"Content-Length: 5\r\n" in data and b"Max-Forwards: 70\r\n" in data
    assert parse_message(data).to_bytes() == data


def test_a_header_line_without_a_colon_is_refused() -> None:
    with pytest.raises(ParseError):
        parse_message(
            CANONICAL.replace(b"Max-Forwards: 70\r\n", b"Via SIP/2.0/TCP h;branch=z9hG4bKx\r\n")
        )


def test_lazy_params_edits_show_in_str() -> None:
    message = parse_message(CANONICAL)
    via = message.top_via
    via.params.set("received", "198.51.100.1")
    assert "received=198.51.100.1" in str(via)
    from_ = message.from_
    from_.params.set("tag", "changed")
    assert str(from_).endswith(";tag=changed")
