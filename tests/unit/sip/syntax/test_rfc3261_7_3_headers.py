"""RFC 3261 §7.3 header fields as a collection: lookups by any spelling, mutation the way
proxies do it (§16.6: prepend Via and Record-Route; §16.4/§18.1.2: pop the top value), and
the parsed views that must follow every change."""

from __future__ import annotations

import pytest
from syntax_vectors import parse_vector

from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.syntax import Headers, Request, canonical_name, parse_message


def test_lookups_accept_full_compact_and_any_case() -> None:
    headers = Headers([("v", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("X-Odd", "1"), ("x-odd", "2")])
    assert list(headers) == [
        ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"),
        ("X-Odd", "1"),
        ("x-odd", "2"),
    ]
    assert headers.get("VIA") == headers.get("v") == "SIP/2.0/UDP a;branch=z9hG4bK1"
    assert headers.get_all("X-ODD") == ["1", "2"] and headers.count("x-Odd") == 2
    assert "via" in headers and "V" in headers and "Route" not in headers and 3 not in headers
    assert headers.get("Route") is None and headers.get("Route", "none") == "none"
    assert headers.values("Route") == [] and headers.get_all("Route") == []
    assert len(headers) == 3
    assert canonical_name("cseq") == "CSeq" and canonical_name("X-Odd") == "X-Odd"
    assert canonical_name("l") == "Content-Length"
    assert headers.lines() == ["Via: SIP/2.0/UDP a;branch=z9hG4bK1", "X-Odd: 1", "x-odd: 2"]


def test_values_refuses_empty_list_elements() -> None:
    headers = Headers([("Supported", "timer,,100rel")])
    with pytest.raises(ParseError, match="empty element"):
        headers.values("Supported")


def test_prepend_puts_a_field_before_the_first_of_its_name() -> None:
    msg = parse_vector("syntax/multi_value.sip")
    h = msg.headers
    h.prepend("Via", "SIP/2.0/UDP proxy3.example.net;branch=z9hG4bK.new")
    names = [name for name, _ in h]
    assert names[:3] == ["Via", "Via", "Via"]
    assert msg.top_via.branch == "z9hG4bK.new"
    assert [v.branch for v in msg.vias][:2] == ["z9hG4bK.new", "z9hG4bK.mv3"]
    # A name not present yet goes on top of all fields.
    h.prepend("Record-Route", "<sip:p9.example.net;lr>")
    h.prepend("X-Top", "1")
    assert next(iter(h)) == ("X-Top", "1")


def test_pop_first_value_removes_one_element_of_a_line() -> None:
    msg = parse_vector("syntax/multi_value.sip")
    h = msg.headers
    assert msg.top_via.branch == "z9hG4bK.mv3"  # fills the cache
    popped = h.pop_first_value("Via")
    assert popped == "SIP/2.0/UDP proxy2.example.net:5060;branch=z9hG4bK.mv3"
    assert h.get_all("Via")[0] == "SIP/2.0/UDP proxy1.example.net;branch=z9hG4bK.mv2"
    assert msg.top_via.branch == "z9hG4bK.mv2"  # the cache followed
    assert h.pop_first_value("v") is not None
    assert h.count("Via") == 1 and msg.top_via.branch == "z9hG4bK.mv1"
    assert h.pop_first_value("Via") is not None
    assert "Via" not in h and h.pop_first_value("Via") is None
    with pytest.raises(ParseError, match="missing Via header"):
        msg.top_via  # noqa: B018


def test_set_replaces_every_field_in_place_of_the_first() -> None:
    msg = parse_vector("syntax/multi_value.sip")
    h = msg.headers
    before = [name for name, _ in h]
    assert msg.contacts[0].display_name == "Alice, at desk"
    h.set("Contact", "<sip:alice@new.example.com>")
    after = [name for name, _ in h]
    assert after.count("Contact") == 1 and after.index("Contact") == before.index("Contact")
    assert [str(c.uri) for c in msg.contacts] == ["sip:alice@new.example.com"]
    h.set("X-New", "v")
    assert list(h)[-1] == ("X-New", "v")


def test_remove_and_add() -> None:
    msg = parse_vector("syntax/multi_value.sip")
    h = msg.headers
    assert len(msg.routes) == 3
    h.remove("ROUTE")
    assert msg.routes == [] and "Route" not in h
    h.add("Route", "<sip:p7.example.net;lr>")
    assert [str(r.uri) for r in msg.routes] == ["sip:p7.example.net;lr"]
    assert list(h)[-1] == ("Route", "<sip:p7.example.net;lr>")


@pytest.mark.parametrize(
    ("field", "view", "new_value", "expected"),
    [
        ("From", "from_", '"New" <sip:new@example.com>;tag=n', "New"),
        ("To", "to", "<sip:to@example.com>;tag=t2", "t2"),
        ("CSeq", "cseq", "99 INVITE", 99),
        ("Content-Length", "content_length", "5", 5),
    ],
)
def test_every_cached_view_follows_a_change(
    field: str, view: str, new_value: str, expected: object
) -> None:
    msg = parse_vector("syntax/multi_value.sip")
    getattr(msg, view)  # fill the cache
    msg.headers.set(field, new_value)
    value = getattr(msg, view)
    got = {
        "from_": lambda: value.display_name,
        "to": lambda: value.tag,
        "cseq": lambda: value.seq,
        "content_length": lambda: value,
    }[view]()
    assert got == expected


def test_views_are_cached_until_their_field_changes() -> None:
    msg = parse_vector("syntax/multi_value.sip")
    assert msg.from_ is msg.from_ and msg.vias is msg.vias and msg.cseq is msg.cseq
    first, vias, mine = msg.from_, msg.vias, msg.headers.parsed("mine", lambda: [1])
    assert msg.headers.parsed("mine", lambda: [2]) is mine
    # A new Via (as a proxy adds) leaves From parsed; Via, and views of unknown origin, go.
    msg.headers.prepend("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK.p1")
    assert msg.from_ is first
    assert msg.vias is not vias and msg.vias[1:] == vias and msg.top_via.host == "proxy.example.com"
    assert msg.headers.parsed("mine", lambda: [2]) == [2]
    msg.headers.set("From", "<sip:carol@example.com>;tag=9")
    assert msg.from_ is not first and msg.from_.tag == "9"


def test_a_copy_may_share_the_parsed_views() -> None:
    msg = parse_vector("syntax/multi_value.sip")
    first = msg.from_
    assert msg.headers.copy()._parsed == {}
    shared = msg.headers.copy(keep_views=True)
    shared.prepend("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK.p1")
    assert shared._parsed["from"] is first and "via*" not in shared._parsed
    assert len(msg.vias) == len(shared.values("Via")) - 1


def test_serialising_follows_mutations() -> None:
    msg = parse_vector("syntax/name_addr.sip")
    assert isinstance(msg, Request)
    msg.headers.prepend("Via", "SIP/2.0/TCP edge.example.com;branch=z9hG4bK.edge")
    msg.headers.remove("Contact")
    msg.body = b"now with a body"
    msg.request_uri = "sip:elsewhere.example.com"
    wire = msg.to_bytes()
    assert wire.startswith(
        b"REGISTER sip:elsewhere.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP edge.example.com;branch=z9hG4bK.edge\r\n"
        b"Via: SIP/2.0/UDP ua.example.com:5060;branch=z9hG4bK.na1\r\n"
    )
    assert b"Contact" not in wire
    assert wire.endswith(b"Content-Length: 15\r\n\r\nnow with a body")
    again = parse_message(wire)
    assert isinstance(again, Request)
    assert str(again.uri) == "sip:elsewhere.example.com" and again.body == b"now with a body"


def test_request_uri_text_and_parsed_uri_stay_in_step() -> None:
    msg = parse_vector("syntax/name_addr.sip")
    assert isinstance(msg, Request)
    assert str(msg.uri) == "sip:registrar.example.com"
    msg.request_uri = "sip:other.example.com"
    assert str(msg.uri) == "sip:other.example.com"
    msg.uri = msg.to.uri
    assert msg.request_uri == "sip:user@example.com"


@pytest.mark.parametrize(
    ("name", "value"),
    [("Bad Name", "x"), ("", "x"), ("X:Y", "x"), ("X-Ok", "a\r\nVia: forged"), ("X-Ok", "a\nb")],
)
def test_local_mistakes_are_local_protocol_errors(name: str, value: str) -> None:
    # A caller's name that is no token, or a CR/LF that would forge a header line (§7.3.1).
    headers = Headers()
    for change in (headers.add, headers.prepend, headers.set):
        with pytest.raises(LocalProtocolError):
            change(name, value)
    with pytest.raises(LocalProtocolError):
        Headers([(name, value)])
    assert len(headers) == 0


def test_copy_is_independent() -> None:
    msg = parse_vector("syntax/multi_value.sip")
    copy = msg.headers.copy()
    copy.remove("Via")
    assert msg.headers.count("Via") == 2 and copy.count("Via") == 0
    assert repr(Headers([("To", "<sip:a@b>")])) == "Headers([('To', '<sip:a@b>')])"
