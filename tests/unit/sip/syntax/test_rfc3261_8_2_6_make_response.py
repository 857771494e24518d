"""RFC 3261 §8.2.6: a UAS response copies Via, From, To, Call-ID and CSeq from the request
and adds a To tag; it must be possible even for a request too broken to act on."""

from __future__ import annotations

import pytest
from syntax_vectors import parse_vector, vector

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import REASON_PHRASES, Request, Response, make_response, parse_message


def request(name: str) -> Request:
    message = parse_vector(name)
    assert isinstance(message, Request)
    return message


def test_copies_the_dialog_fields_as_written() -> None:
    req = request("syntax/multi_value.sip")
    resp = make_response(req, 486, to_tag="uas-1", extra=[("Retry-After", "30")])
    assert resp.status == 486 and resp.reason == "Busy Here"
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")  # same lines, same order
    assert resp.headers.get("From") == req.headers.get("From")
    assert resp.headers.get("Call-ID") == req.headers.get("Call-ID")
    assert resp.headers.get("CSeq") == req.headers.get("CSeq")
    assert resp.to.tag == "uas-1" and resp.to.display_name == "Bob, the builder"
    assert resp.headers.get("Retry-After") == "30"
    assert "Contact" not in resp.headers and "Route" not in resp.headers
    wire = resp.to_bytes()
    assert wire.startswith(b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP proxy2.example.net:5060")
    assert wire.endswith(b"Retry-After: 30\r\nContent-Length: 0\r\n\r\n")
    again = parse_message(wire)
    assert isinstance(again, Response) and again.to.tag == "uas-1"


def test_existing_to_tag_is_kept() -> None:
    req = request("syntax/name_addr.sip")  # To already carries a tag
    resp = make_response(req, 200, to_tag="other")
    assert resp.headers.get("To") == "sip:user@example.com;tag=ignored-in-request"
    assert make_response(request("syntax/multi_value.sip"), 100).to.tag is None


def test_reason_and_body() -> None:
    req = request("syntax/quoted_strings.sip")
    resp = make_response(req, 202, "Accepted Eventually", body=b"ok")
    assert resp.reason == "Accepted Eventually" and resp.body == b"ok"
    assert resp.to_bytes().endswith(b"Content-Length: 2\r\n\r\nok")
    assert Response(299).reason == "Unknown" and Response(100).reason == REASON_PHRASES[100]


def test_a_request_missing_headers_still_gets_an_answer() -> None:
    # RFC 4475 insuf: no Call-ID, From or To; the 400 carries what there is.
    data = vector("syntax/name_addr.sip")
    for line in (b"To: sip:user@example.com;tag=ignored-in-request\r\n",
                 b"From: Joe User <sip:user@example.com;user=ip>;tag=na-77\r\n",
                 b"Call-ID: na-77@ua.example.com\r\n"):  # fmt: skip
        data = data.replace(line, b"")
    req = parse_message(data)
    assert isinstance(req, Request)
    resp = make_response(req, 400, "Missing Call-ID, From, To", to_tag="t")
    assert [name for name, _ in resp.headers] == ["Via", "CSeq"]
    assert parse_message(resp.to_bytes()).headers.get("CSeq") == "9 REGISTER"


def test_a_to_that_does_not_parse_is_copied_without_a_tag() -> None:
    # RFC 4475 quotbal: the request is answered 400; its To is copied as it came.
    data = vector("syntax/multi_value.sip").replace(b'"Bob, the builder"', b'"Bob, the builder')
    req = parse_message(data)
    assert isinstance(req, Request)
    resp = make_response(req, 400, to_tag="t")
    assert resp.headers.get("To") == '"Bob, the builder <sip:bob@biloxi.example.com>'


def test_bad_extra_fields_are_local_errors() -> None:
    req = request("syntax/multi_value.sip")
    with pytest.raises(LocalProtocolError):
        make_response(req, 200, extra=[("Warning", "399 x\r\nVia: forged")])
