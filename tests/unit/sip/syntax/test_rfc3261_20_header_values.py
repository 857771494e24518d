"""RFC 3261 §20 header values every element reads: name-addr vs addr-spec (§20.10, §20.20,
§20.39), Via (§20.42), CSeq (§20.16), generic parameters (§25.1)."""

from __future__ import annotations

import pytest
from syntax_vectors import parse_vector

from parley.sip.errors import ParseError
from parley.sip.syntax import AbsoluteUri, CSeq, NameAddr, Params, SipUri, Via, parse_uri

# -- name-addr and addr-spec ---------------------------------------------------------


def test_parameters_after_brackets_belong_to_the_header() -> None:
    msg = parse_vector("syntax/name_addr.sip")
    first = msg.contacts[0]
    assert isinstance(first.uri, SipUri)
    assert list(first.uri.params) == [("transport", "tcp"), ("lr", None)]
    assert list(first.params) == [("expires", "3600"), ("q", "0.5")]


def test_parameters_of_an_addr_spec_belong_to_the_header() -> None:
    # §20.10: without <>, every ";" after the URI starts a header parameter.
    msg = parse_vector("syntax/name_addr.sip")
    second = msg.contacts[1]
    assert str(second.uri) == "sip:user@ua2.example.com"
    assert list(second.params) == [("transport", "udp"), ("expires", "60")]
    assert msg.to.tag == "ignored-in-request" and str(msg.to.uri) == "sip:user@example.com"


def test_unquoted_display_name_and_uri_params_in_from() -> None:
    msg = parse_vector("syntax/name_addr.sip")
    assert msg.from_.display_name == "Joe User"
    assert isinstance(msg.from_.uri, SipUri) and msg.from_.uri.params.get("user") == "ip"
    assert msg.from_.tag == "na-77"
    third = msg.contacts[2]  # "Bare Name<sip:...>": no LWS before "<" (RFC 4475 lwsdisp)
    assert third.display_name == "Bare Name"
    assert third.params.get("methods") == '"INVITE,MESSAGE"'


def test_serialising_brackets_the_uri_so_params_stay_where_they_were() -> None:
    addr_spec = NameAddr.parse("sip:user@ua2.example.com;transport=udp;expires=60")
    assert str(addr_spec) == "<sip:user@ua2.example.com>;transport=udp;expires=60"
    again = NameAddr.parse(str(addr_spec))
    assert again == addr_spec
    built = NameAddr(parse_uri("sip:a@b.example;lr"), 'Dr "A"', Params([("tag", "9")]))
    assert str(built) == '"Dr \\"A\\"" <sip:a@b.example;lr>;tag=9'
    assert NameAddr.parse(str(built)) == built


def test_the_uri_inside_brackets_is_parsed_when_first_read() -> None:
    value = NameAddr.parse("<sip:a@exa_mple.com>;tag=1")  # "_" is no hostname character
    assert value.tag == "1"
    with pytest.raises(ParseError, match="malformed host"):
        value.uri  # noqa: B018
    value.uri = parse_uri("sip:a@example.com")
    assert str(value) == "<sip:a@example.com>;tag=1"


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        ("<sip:a@example.com>", None, "sip:a@example.com", []),
        ('  "A B"   <sip:a@example.com>  ;  tag = x  ', "A B", "sip:a@example.com", [("tag", "x")]),
        ("A  B<sip:a@example.com>;lr", "A  B", "sip:a@example.com", [("lr", None)]),
        ('"" <tel:+1-555>', "", "tel:+1-555", []),
        ('"\\\\" <sip:a@example.com>', "\\", "sip:a@example.com", []),
        ("sip:a@example.com", None, "sip:a@example.com", []),
        ("sip:a@example.com ; tag=x", None, "sip:a@example.com", [("tag", "x")]),
        ("<sip:a@[2001:db8::1]:5060>;received=[2001:db8::1]", None,
         "sip:a@[2001:db8::1]:5060", [("received", "[2001:db8::1]")]),
        ("<sip:a@example.com>;a=\"x\\\"y\";b", None, "sip:a@example.com",
         [("a", '"x\\"y"'), ("b", None)]),
    ],
)  # fmt: skip
def test_name_addr_shapes(text: str, display: str | None, uri: str, params: list[object]) -> None:
    value = NameAddr.parse(text)
    assert value.display_name == display
    assert str(value.uri) == uri
    assert list(value.params) == params


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"Mr. J. User <sip:j.user@example.com>', "unterminated quoted string"),
        ("Bell, Alexander <sip:a@example.com>", "display name with characters that need quotes"),
        ("< sip:a@example.com >", "white space, control or delimiter character inside a URI"),
        ("sip:user@example.com?Route=%3Csip:sip.example.com%3E",
         "addr-spec with characters that need <>"),
        ("<sip:a@example.com>;;", "malformed header parameters"),
        ("<sip:a@example.com>;ta g=1", "malformed header parameters"),
        ("<sip:a@example.com>;tag=a b", "malformed header parameters"),
        ("<sip:a@example.com>;tag=\"open", "malformed header parameters"),
        ("<sip:a@example.com> junk", "junk after <URI>"),
        ('"A" sip:a@example.com', "quoted display name without <URI>"),
        ("<sip:a@example.com", "unterminated <URI>"),
        ("<sip:a@example.com>, <sip:b@example.com>", "junk after <URI>"),
        ("", "not a URI: ''"),
    ],
)  # fmt: skip
def test_malformed_name_addrs(text: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        NameAddr.parse(text).uri  # noqa: B018
    assert info.value.reason == reason


def test_name_addr_equality_compares_parsed_parts() -> None:
    assert NameAddr.parse("<sip:a@example.com>;tag=1") == NameAddr.parse("sip:a@example.com;tag=1")
    assert NameAddr.parse("<sip:a@example.com>;tag=1") != NameAddr.parse("<sip:a@example.com>")
    assert NameAddr.parse("<sip:a@example.com>") != "sip:a@example.com"


def test_sip_uri_of_name_addr_insists_on_sip() -> None:
    assert NameAddr.parse("<sips:a@example.com>").sip_uri.secure
    with pytest.raises(ParseError) as info:
        NameAddr.parse("<tel:+1-555>").sip_uri  # noqa: B018
    assert info.value.status_hint == 416
    assert NameAddr.parse("<tel:+1-555>").uri == AbsoluteUri("tel", "+1-555")


# -- Via ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "transport", "host", "port", "params"),
    [
        ("SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds", "UDP", "pc33.example.com",
         None, [("branch", "z9hG4bK776asdhds")]),
        ("SIP / 2.0 / tcp   host.example.com : 5070 ; branch = z9hG4bKx ; rport", "TCP",
         "host.example.com", 5070, [("branch", "z9hG4bKx"), ("rport", None)]),
        ("SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bK1;received=2001:db8::9:255", "TLS",
         "[2001:db8::9]", 5061, [("branch", "z9hG4bK1"), ("received", "2001:db8::9:255")]),
        ("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKa;rport=5060;received=192.0.2.4",
         "WSS", "df7jal23ls0d.invalid", None,
         [("branch", "z9hG4bKa"), ("rport", "5060"), ("received", "192.0.2.4")]),
        ("SIP/2.0/UDP 192.0.2.1:5060", "UDP", "192.0.2.1", 5060, []),
        ("SIP/2.0/SCTP h.example.com;x=\"a;b\"", "SCTP", "h.example.com", None,
         [("x", '"a;b"')]),
    ],
)  # fmt: skip
def test_via_shapes(
    text: str, transport: str, host: str, port: int | None, params: list[object]
) -> None:
    via = Via.parse(text)
    assert (via.transport, via.host, via.port, list(via.params)) == (transport, host, port, params)
    assert Via.parse(str(via)) == via


def test_via_helpers() -> None:
    via = Via.parse("SIP/2.0/UDP h.example.com;branch=z9hG4bKabc;rport=5062;received=192.0.2.9")
    assert via.branch == "z9hG4bKabc" and via.rfc3261_branch
    assert via.rport == 5062 and via.received == "192.0.2.9"
    assert via.sent_by == ("h.example.com", None)
    assert str(via) == "SIP/2.0/UDP h.example.com;branch=z9hG4bKabc;rport=5062;received=192.0.2.9"
    # RFC 4475 badbranch: a bare cookie is no RFC 3261 branch.
    assert not Via.parse("SIP/2.0/UDP h.example.com;branch=z9hG4bK").rfc3261_branch
    # RFC 3581: an rport that is not a port number is as good as none.
    assert Via.parse("SIP/2.0/UDP h;rport").rport is None
    assert Via.parse("SIP/2.0/UDP h;rport=123456").rport is None
    assert Via("UDP", "h", params=Params([("rport", "²")])).rport is None  # isdigit() but no port


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("SIP/2.0/UDP", "malformed Via sent-protocol or sent-by"),
        ("SIP/2.0 h.example.com", "malformed Via sent-protocol or sent-by"),
        ("SIP/2.0/UDP h.example.com;;", "malformed header parameters"),
        ("SIP/2.0/UDP 192.0.2.15;;,;,,", "malformed header parameters"),
        ("SIP/2.0/UDP h.example.com:99999", "malformed port"),
        ("SIP/2.0/UDP h.example.com:" + "9" * 5000, "malformed port"),
        ("SIP/2.0/UDP 2001:db8::1", "IPv6 address without [ ] (RFC 5118 §4.2)"),
        ("SIP/2.0/UDP [2001:db8:::1]", "malformed IPv6 reference '[2001:db8:::1]'"),
        ("SIP/2.0/UDP exa_mple.com", "malformed host 'exa_mple.com'"),
    ],
)
def test_malformed_vias(text: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        Via.parse(text)
    assert info.value.reason == reason


# -- CSeq --------------------------------------------------------------------------


def test_cseq() -> None:
    assert CSeq.parse("0009 INVITE") == CSeq(9, "INVITE")
    assert CSeq.parse(" 8\tRE%47IST%45R ") == CSeq(8, "RE%47IST%45R")  # an unknown token
    assert CSeq.parse(f"{2**31 - 1} ACK").seq == 2**31 - 1
    assert str(CSeq(1026, "NOTIFY")) == "1026 NOTIFY"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"{2**31} INVITE", "CSeq number is too large"),  # §8.1.1.5
        ("36893488147419103232 REGISTER", "CSeq number is too large"),  # RFC 4475 scalar02
        ("9" * 5000 + " INVITE", "CSeq number is too large"),
        ("1\u00a0INVITE", "malformed CSeq"),  # NBSP is not LWS
        ("\u0661 INVITE", "malformed CSeq"),  # an Arabic-Indic digit is not DIGIT
        ("1 INVITE x", "malformed CSeq"),
        ("INVITE", "malformed CSeq"),
        ("-1 INVITE", "malformed CSeq"),
    ],
)
def test_malformed_cseq(text: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        CSeq.parse(text)
    assert info.value.reason == reason
    assert info.value.__cause__ is None


# -- generic parameters -----------------------------------------------------------


def test_params_are_ordered_case_insensitive_and_kept_as_written() -> None:
    params = Params.parse_generic(" Tag = 1 ; lr ; Q=0.5;empty=")
    assert list(params) == [("Tag", "1"), ("lr", None), ("Q", "0.5"), ("empty", "")]
    assert params.get("tag") == "1" and params.get("TAG") == "1" and params.get("q") == "0.5"
    assert "LR" in params and "x" not in params and 1 not in params
    assert params.get("missing", "default") == "default"
    assert str(params) == ";Tag=1;lr;Q=0.5;empty="
    params.set("TAG", "2")
    params.set("new", None)
    params.remove("lr")
    assert list(params) == [("Tag", "2"), ("Q", "0.5"), ("empty", ""), ("new", None)]
    copy = params.copy()
    copy.set("Q", "1")
    assert params.get("q") == "0.5" and len(params) == 4 and bool(params)
    assert not Params()


def test_param_equality_and_hash_follow_the_items() -> None:
    a, b = Params.parse("a=1;b"), Params([("a", "1"), ("b", None)])
    assert a == b and hash(a) == hash(b)
    assert a != Params.parse("b;a=1")
    assert repr(a) == "Params([('a', '1'), ('b', None)])"
