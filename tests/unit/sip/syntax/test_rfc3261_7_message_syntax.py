"""RFC 3261 §7 (message format), §7.3 (header fields), §18.3 (framing), §20.14
(Content-Length): parse_message on our own byte vectors, and serialise round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from syntax_vectors import VECTORS, parse_vector, semantic, vector

from parley.sip.errors import ParseError
from parley.sip.syntax import Request, Response, parse_message, validate_message


def request(name: str) -> Request:
    message = parse_vector(name)
    assert isinstance(message, Request)
    return message


def response(name: str) -> Response:
    message = parse_vector(name)
    assert isinstance(message, Response)
    return message


# -- §7.3.3 compact forms, case-insensitive names and tokens ---------------------------


def test_compact_forms_map_to_canonical_names() -> None:
    msg = request("syntax/compact_forms.sip")
    assert [name for name, _ in msg.headers] == [
        "Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Contact", "Event",
        "Allow-Events", "Supported", "Subject", "Content-Encoding", "Refer-To",
        "Referred-By", "Session-Expires", "Content-Type", "Content-Length",
    ]  # fmt: skip
    # Lookups take any spelling: full, compact, any case.
    for spelling in ("Call-ID", "call-id", "CALL-ID", "i", "I"):
        assert msg.headers.get(spelling) == "c0mpact-7@client.example.org"
    assert msg.headers.get("o") == msg.headers.get("Event") == "presence;id=4"
    assert msg.headers.values("u") == ["presence", "message-summary"]
    assert msg.headers.get("x") == "1800;refresher=uac"
    assert msg.headers.get("r") == "<sip:carol@example.net>"
    assert msg.headers.get("b") == "<sip:dave@example.net>"
    assert msg.headers.get("e") == "gzip"
    assert msg.headers.get("k") == "eventlist"
    assert msg.headers.get("s") == "compact names"


def test_case_insensitive_version_transport_and_parameter_names() -> None:
    msg = request("syntax/compact_forms.sip")
    # §7.1: "sip/2.0" is SIP/2.0; serialised in canonical case.
    assert msg.start_line() == "SUBSCRIBE sip:bob@example.net SIP/2.0"
    assert msg.max_forwards == 69  # "mAx-FoRwArDs"
    assert msg.cseq.seq == 41 and msg.cseq.method == "SUBSCRIBE"  # "CSEQ"
    via = msg.top_via
    assert via.transport == "UDP" and via.port == 5062
    # §7.3.1 / §25.1: parameter names compare case-insensitively.
    assert via.branch == "z9hG4bK.c0mpact1"
    assert "rport" in via.params and via.params.get("rport") is None
    assert msg.from_.tag == "a1"
    assert msg.from_.display_name == "Ada"
    assert msg.event == "presence"
    assert msg.content_type == "application/pidf+xml"
    validate_message(msg)


# -- §7.3.1 folding ------------------------------------------------------------------


def test_folded_lines_are_joined_with_one_space() -> None:
    msg = request("syntax/folding.sip")
    assert msg.headers.get_all("Via") == [
        "SIP/2.0/TCP pc33.atlanta.example.com ;branch=z9hG4bK.f0ld1 ;received=192.0.2.101",
        "SIP/2.0/UDP bigbox3.site3.example.com;branch=z9hG4bK.f0ld2, "
        "SIP/2.0/UDP 192.0.2.3:5070 ;branch=z9hG4bK.f0ld3",
    ]
    assert msg.max_forwards == 70
    assert msg.cseq.seq == 63104 and msg.cseq.method == "OPTIONS"
    # White space inside a line stays; the folds become single spaces.
    assert msg.headers.get("Subject") == "folded subject   text"
    assert msg.headers.get("X-Long-Unknown") == "first part second part"


def test_folded_values_parse_into_typed_views() -> None:
    msg = request("syntax/folding.sip")
    assert [(v.transport, v.host, v.port, v.branch) for v in msg.vias] == [
        ("TCP", "pc33.atlanta.example.com", None, "z9hG4bK.f0ld1"),
        ("UDP", "bigbox3.site3.example.com", None, "z9hG4bK.f0ld2"),
        ("UDP", "192.0.2.3", 5070, "z9hG4bK.f0ld3"),
    ]
    assert msg.top_via.received == "192.0.2.101"
    # The fold inside the quoted display name is LWS, read as one SP.
    assert msg.from_.display_name == "Alice Liddell"
    assert msg.from_.tag == "9fxced76sl"
    validate_message(msg)


def test_continuation_line_before_any_header_is_refused() -> None:
    data = b"OPTIONS sip:a@example.com SIP/2.0\r\n folded: too early\r\nCall-ID: x\r\n\r\n"
    with pytest.raises(ParseError, match="continuation line before any header"):
        parse_message(data)


# -- §7.3.1 comma-separated lists, order of fields -----------------------------------


def test_list_headers_split_across_and_within_lines() -> None:
    msg = request("syntax/multi_value.sip")
    assert [v.branch for v in msg.vias] == ["z9hG4bK.mv3", "z9hG4bK.mv2", "z9hG4bK.mv1"]
    assert msg.top_via.host == "proxy2.example.net" and msg.top_via.port == 5060
    assert [str(r.uri) for r in msg.routes] == [
        "sip:p3.example.net;lr",
        "sip:p4.example.net;lr",
        "sip:p5.example.net;lr",
    ]
    assert [str(r.uri) for r in msg.record_routes] == [
        "sip:p2.example.net;lr",
        "sip:p1.example.net;lr",
    ]
    assert msg.headers.values("Allow") == ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"]
    assert msg.headers.values("Supported") == ["timer", "100rel"]
    assert msg.headers.count("Allow") == 2


def test_quoted_commas_do_not_split_values() -> None:
    msg = request("syntax/multi_value.sip")
    assert msg.to.display_name == "Bob, the builder"
    contacts = msg.contacts
    assert [(c.display_name, str(c.uri), list(c.params)) for c in contacts] == [
        ("Alice, at desk", "sip:alice@pc33.atlanta.example.com", [("q", "0.7")]),
        (None, "sip:alice@mobile.example.com", [("q", "0.3")]),
        (None, "sip:alice@backup.example.com", [("expires", "60")]),
    ]


def test_non_list_headers_are_not_cut_at_commas() -> None:
    msg = request("syntax/multi_value.sip")
    # §20.17: Date holds a comma but is no list.
    assert msg.headers.values("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]


def test_unknown_headers_keep_their_order_and_text() -> None:
    msg = request("syntax/multi_value.sip")
    names = [name for name, _ in msg.headers]
    assert names.index("X-First") < names.index("Max-Forwards") < names.index("X-Second")
    assert msg.headers.get_all("x-first") == ["1", "2"]
    assert msg.headers.get("X-SECOND") == "a, b, c"
    assert names[-3:] == ["X-First", "Content-Type", "Content-Length"]
    wire = msg.to_bytes()
    assert wire.index(b"X-First: 1") < wire.index(b"X-Second: a, b, c") < wire.index(b"X-First: 2")


# -- §25.1 quoted strings ------------------------------------------------------------


def test_quoted_pairs_are_resolved_once() -> None:
    msg = request("syntax/quoted_strings.sip")
    assert msg.from_.display_name == 'Q. "Quote" \\ Master; <ceo>, esq.'
    assert msg.from_.tag == "qs-1"
    assert msg.to.display_name == "Zoë Ångström ✓"
    contact = msg.contacts[0]
    assert contact.display_name == ""
    # Quoted header parameter values keep their quotes (they round-trip as written).
    assert contact.params.get("+sip.instance") == (
        '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
    )
    assert contact.params.get("note") == '"a;b,c"'
    assert msg.content_type == "text/plain"
    assert msg.body == "héllo ✓!".encode()
    validate_message(msg)


def test_quoted_display_name_serialises_with_escapes() -> None:
    msg = request("syntax/quoted_strings.sip")
    assert (
        str(msg.from_) == '"Q. \\"Quote\\" \\\\ Master; <ceo>, esq." <sip:q@example.com>;tag=qs-1'
    )


def test_unterminated_quote_is_refused_when_read() -> None:
    data = vector("syntax/quoted_strings.sip").replace(
        b'To: "Zo\xc3\xab', b'To: Zo\xc3\xab"'
    )  # now: To: Zoë Ångström ✓" <sip:...>
    msg = parse_message(data)
    with pytest.raises(ParseError):
        msg.to  # noqa: B018
    data = vector("syntax/multi_value.sip").replace(b'"Bob, the builder"', b'"Bob, the builder')
    with pytest.raises(ParseError, match="unterminated quoted string"):
        parse_message(data).to  # noqa: B018


# -- Start lines (§7.1, §7.2) -------------------------------------------------------


def test_response_with_empty_reason_phrase() -> None:
    msg = response("syntax/response_empty_reason.sip")
    assert msg.status == 180 and msg.reason == ""
    assert msg.start_line() == "SIP/2.0 180 "
    assert msg.to_bytes().startswith(b"SIP/2.0 180 \r\n")
    validate_message(msg)


def test_response_with_utf8_reason_phrase() -> None:
    msg = response("syntax/response_utf8_reason.sip")
    assert msg.status == 200
    assert msg.reason == "Très bien ✓ — ça marche"
    assert msg.to_bytes().startswith("SIP/2.0 200 Très bien ✓ — ça marche\r\n".encode())


def test_reason_phrase_octets_that_are_not_utf8_survive_a_round_trip() -> None:
    data = vector("syntax/response_empty_reason.sip").replace(b"180 \r\n", b"180 Ring\xffing\r\n")
    msg = parse_message(data)
    assert isinstance(msg, Response)
    assert msg.to_bytes().startswith(b"SIP/2.0 180 Ring\xffing\r\n")


@pytest.mark.parametrize(
    ("start", "reason", "hint"),
    [
        (b"OPTIONS  sip:a@example.com SIP/2.0", "malformed Request-Line", 400),
        (b"OPTIONS sip:a@example.com SIP/2.0 ", "malformed Request-Line", 400),
        (b"OPTIONS sip:a@example.com", "malformed Request-Line", 400),
        (b"OPT@ONS sip:a@example.com SIP/2.0", "malformed method", 400),
        (b"OPTIONS <sip:a@example.com> SIP/2.0", "Request-URI enclosed in <>", 400),
        (b"OPTIONS sip:a@example.com SIP/3.0", "SIP version SIP/3.0 not supported", 505),
        (b"OPTIONS sip:a@example.com HTTP/1.1", "malformed SIP-Version", 400),
        (b"SIP/2.0 99 Too Low", "malformed status code", 400),
        (b"SIP/2.0 700 Too High", "malformed status code", 400),
        (b"SIP/2.0 2000 OK", "malformed status code", 400),
        (b"SIP/2.0 \xd9\xa2\xd9\xa0\xd9\xa0 OK", "malformed status code", 400),
        (b"SIP/1.0 200 OK", "SIP version SIP/1.0 not supported", 505),
    ],
)
def test_malformed_start_lines(start: bytes, reason: str, hint: int) -> None:
    data = start + b"\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(ParseError) as info:
        parse_message(data)
    assert info.value.reason == reason
    assert info.value.status_hint == hint


def test_leading_crlfs_are_ignored_and_bare_lf_is_tolerated() -> None:
    data = vector("syntax/bare_lf.sip")
    assert b"\r" not in data
    for variant in (data, b"\r\n\r\n" + data, b"\n" + data):
        msg = parse_message(variant)
        assert isinstance(msg, Request) and msg.method == "NOTIFY"
        assert msg.event == "presence"
        assert msg.headers.get("Subscription-State") == "terminated;reason=timeout"
        validate_message(msg)
        # Serialised with CRLF throughout.
        assert msg.to_bytes().count(b"\r\n") == len(msg.headers) + 2


def test_bare_cr_in_the_header_section_is_refused() -> None:
    data = b"OPTIONS sip:a@example.com SIP/2.0\r\nSubject: a\rb\r\nCall-ID: x\r\n\r\n"
    with pytest.raises(ParseError, match="bare CR"):
        parse_message(data)


def test_header_line_without_colon_is_refused() -> None:
    data = b"OPTIONS sip:a@example.com SIP/2.0\r\nCall-ID x\r\n\r\n"
    with pytest.raises(ParseError, match="header line without a colon"):
        parse_message(data)


# -- §18.3, §20.14 Content-Length ----------------------------------------------------


def test_without_content_length_a_datagram_body_is_the_rest() -> None:
    msg = request("syntax/cl_absent_datagram.sip")
    assert msg.content_length is None
    assert msg.body == b"no length: all of this\r\nis the body\r\n"
    # The serialiser adds the header a stream needs (§18.3), last.
    wire = msg.to_bytes()
    assert wire.endswith(b"Content-Length: 37\r\n\r\n" + msg.body)


def test_content_length_larger_than_the_data_is_400() -> None:
    with pytest.raises(ParseError) as info:
        parse_vector("syntax/cl_larger_than_data.sip")
    assert info.value.reason == "Content-Length larger than the body"
    assert info.value.status_hint == 400


def test_octets_beyond_content_length_are_ignored() -> None:
    msg = request("syntax/cl_extra_octets.sip")
    assert msg.body == b"hello" and msg.content_length == 5
    assert msg.to_bytes().endswith(b"\r\n\r\nhello")
    validate_message(msg)


def test_conflicting_content_lengths_are_a_framing_error() -> None:
    with pytest.raises(ParseError, match="conflicting Content-Length values"):
        parse_vector("syntax/cl_conflicting.sip")


def test_repeated_equal_content_lengths_frame_but_do_not_validate() -> None:
    msg = request("syntax/cl_repeated_equal.sip")
    assert msg.body == b"hello" and msg.content_length == 5
    with pytest.raises(ParseError, match="more than one Content-Length header"):
        validate_message(msg)
    # Serialising keeps one Content-Length, the right one.
    assert msg.to_bytes().count(b"Content-Length") == 1


@pytest.mark.parametrize("name", ["syntax/cl_negative.sip", "syntax/cl_not_a_number.sip"])
def test_content_length_that_is_not_a_number_is_refused(name: str) -> None:
    with pytest.raises(ParseError, match="Content-Length is not a number") as info:
        parse_vector(name)
    assert info.value.status_hint == 400


def test_huge_content_length_is_refused_without_overflow() -> None:
    data = vector("syntax/cl_extra_octets.sip").replace(b"Content-Length: 5", b"l: " + b"9" * 5000)
    with pytest.raises(ParseError, match="Content-Length is too large") as info:
        parse_message(data)
    assert info.value.__cause__ is None  # refused on purpose, not caught on the way


def test_message_without_empty_line_has_no_body() -> None:
    data = vector("syntax/response_empty_reason.sip").rstrip(b"\r\n")
    msg = parse_message(data)
    assert msg.body == b"" and msg.content_length == 0


# -- serialising: parse -> to_bytes -> parse ----------------------------------------

ROUND_TRIP = sorted(
    str(path.relative_to(VECTORS))
    for path in (*VECTORS.glob("syntax/*.sip"), *VECTORS.glob("seed/*.sip"))
    if not path.name.startswith(("cl_conflicting", "cl_larger", "cl_negative", "cl_not_a"))
)


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_round_trip_keeps_the_meaning_and_is_stable(name: str) -> None:
    first = parse_vector(name)
    wire = first.to_bytes()
    second = parse_message(wire)
    assert semantic(second) == semantic(first)
    assert second.content_length == len(first.body)
    assert second.to_bytes() == wire  # serialising is stable from the first time on


def test_round_trip_folds_nothing_and_uses_crlf() -> None:
    wire = request("syntax/folding.sip").to_bytes()
    head = wire.split(b"\r\n\r\n", 1)[0]
    assert b"\n " not in head and b"\n\t" not in head
    assert head.count(b"\n") == head.count(b"\r\n")


def test_vectors_are_byte_exact_crlf_files() -> None:
    # Guards the vectors themselves against an editor or checkout converting line ends.
    for path in Path(VECTORS).glob("*/*.sip"):
        data = path.read_bytes()
        if path.name == "bare_lf.sip":
            assert b"\r" not in data
        else:
            head = data.split(b"\r\n\r\n", 1)[0]
            assert head.count(b"\n") == head.count(b"\r\n"), path.name
