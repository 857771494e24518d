"""RFC 3261 §19.1 SIP and SIPS URIs (components, escaping, §19.1.4 comparison), other
absolute URIs (tel:, im:), and RFC 5118 IPv6 references."""

from __future__ import annotations

import pytest
from syntax_vectors import parse_vector

from parley.sip.errors import ParseError
from parley.sip.syntax import (
    AbsoluteUri,
    Params,
    Request,
    SipUri,
    format_host,
    parse_sip_uri,
    parse_uri,
    uri_equal,
)


def sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


# -- components ----------------------------------------------------------------------


def test_all_components_of_a_sips_uri() -> None:
    uri = sip(
        "sips:bob:s3cret@[2001:DB8:0:0::10]:5071;transport=tls;x=%2541"
        "?Subject=hi%20there&Priority=urgent"
    )
    assert uri.scheme == "sips" and uri.secure
    assert (uri.user, uri.password) == ("bob", "s3cret")
    assert uri.host == "[2001:DB8:0:0::10]" and uri.host_bare == "2001:db8:0:0::10"
    assert uri.port == 5071
    assert list(uri.params) == [("transport", "tls"), ("x", "%2541")]
    assert uri.transport == "tls"
    assert uri.headers == (("Subject", "hi%20there"), ("Priority", "urgent"))
    assert uri.hostport() == "[2001:DB8:0:0::10]:5071"
    # Stored as written: serialising gives the same text back.
    assert str(uri) == (
        "sips:bob:s3cret@[2001:DB8:0:0::10]:5071;transport=tls;x=%2541"
        "?Subject=hi%20there&Priority=urgent"
    )


def test_request_uri_from_a_vector() -> None:
    msg = parse_vector("syntax/uris.sip")
    assert isinstance(msg, Request)
    uri = msg.uri
    assert isinstance(uri, SipUri)
    # §19.1.1: user-unreserved includes ";", so "day=tue" belongs to the user part here.
    assert uri.user == "%61lice;day=tue" and uri.user_unescaped == "alice;day=tue"
    assert uri.port == 5061
    assert list(uri.params) == [("transport", "tls"), ("maddr", "192.0.2.9")]


def test_scheme_is_case_insensitive() -> None:
    uri = sip("SIP:Bob@Example.COM")
    assert uri.scheme == "sip"
    assert uri.aor == "Bob@example.com"  # the user part keeps its case (§19.1.4)


def test_tel_and_other_schemes_stay_opaque() -> None:
    tel = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert tel == AbsoluteUri("tel", "+1-201-555-0123;phone-context=example.com")
    assert str(tel) == "tel:+1-201-555-0123;phone-context=example.com"
    assert parse_uri("IM:bob@example.com") == AbsoluteUri("im", "bob@example.com")
    assert parse_uri("pres:ada@example.org").scheme == "pres"
    with pytest.raises(ParseError) as info:
        parse_sip_uri("tel:+1-201-555-0123")
    assert info.value.status_hint == 416


def test_message_uris_of_several_schemes() -> None:
    msg = parse_vector("syntax/uris.sip")
    assert msg.from_.uri == AbsoluteUri("tel", "+1-201-555-0123;phone-context=example.com")
    assert msg.from_.tag == "u1"
    with pytest.raises(ParseError) as info:
        msg.from_.sip_uri  # noqa: B018
    assert info.value.status_hint == 416
    assert msg.headers.get("Reply-To") == "<im:bob@example.com>"
    assert str(msg.routes[0].uri) == "sip:[2001:db8::1];lr"
    assert msg.top_via.host == "[2001:db8::9]" and msg.top_via.port == 5061
    assert msg.top_via.received == "[2001:db8::9]"


# -- §19.1.2 escaping ----------------------------------------------------------------


def test_escapes_are_resolved_once() -> None:
    uri = sip("sip:%61l%69ce@example.com;x=%2541")
    assert uri.user == "%61l%69ce"  # as written
    assert uri.user_unescaped == "alice"
    # %25 is "%": "%2541" unescapes to "%41", never further to "A" (RFC 4475 esc01).
    assert uri_equal(uri, sip("sip:alice@example.com;x=%25%34%31"))
    assert not uri_equal(uri, sip("sip:alice@example.com;x=A"))
    assert not uri_equal(uri, sip("sip:alice@example.com;x=%41"))


def test_escaped_nul_does_not_shorten_the_user() -> None:
    one, two = sip("sip:%00@example.com"), sip("sip:%00%00@example.com")
    assert one.user_unescaped == "\x00" and two.user_unescaped == "\x00\x00"
    assert not uri_equal(one, two)
    assert one.aor != two.aor


@pytest.mark.parametrize(
    "text",
    [
        "sip:a%4@example.com",  # half an escape
        "sip:a%zz@example.com",
        "sip:a b@example.com",
        "sip:a@example.com;x=a%2",
        "sip:@example.com",  # empty user part
        "sip:a@example.com;=1",
        "sip:a@example.com;x=",  # pvalue = 1*paramchar
        "sip:a@example.com?",
        "sip:a@example.com?x",  # header without "="
        "sip:a@exa_mple.com",
        "sip:a@-example.com",
        "sip:a@example..com",
        "sip:a@example.com:",
        "sip:a@example.com:65536",
        "sip:a@example.com:" + "9" * 5000,  # refused before int() could choke
        "sip:a@example.com:\uff15\uff10\uff16\uff10",  # fullwidth "5060" is not DIGIT
        "sip:",
        "sip:a@",
        "<sip:a@example.com>",
        "sip:a@example.com\x00",
        "nocolon",
        "1sip:a@example.com",
    ],
)
def test_malformed_sip_uris(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_uri(text)
    assert info.value.__cause__ is None


def test_white_space_inside_a_uri_is_refused() -> None:
    # RFC 4475 lwsruri and badaspec: not guessed around.
    for text in ("sip:a@example.com ", " sip:a@example.com", "sip:a@exa mple.com"):
        with pytest.raises(ParseError, match="white space"):
            parse_uri(text)


# -- RFC 5118 IPv6 references ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "[2001:db8::10]", None),
        ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070),
        ("sip:alice@[::ffff:192.0.2.1]:5060", "[::ffff:192.0.2.1]", 5060),
        ("sip:[2001:db8::192.0.2.1]", "[2001:db8::192.0.2.1]", None),
        ("sip:[::1]", "[::1]", None),
    ],
)
def test_ipv6_references(text: str, host: str, port: int | None) -> None:
    uri = sip(text)
    assert (uri.host, uri.port) == (host, port)
    assert str(uri) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sip:2001:db8::10", "IPv6 address without [ ] (RFC 5118 §4.2)"),
        ("sip:[2001:db8:::192.0.2.1]", "malformed IPv6 reference '[2001:db8:::192.0.2.1]'"),
        ("sip:[2001:db8::10", "unterminated IPv6 reference"),
        ("sip:[2001:db8::10]5060", "junk after an IPv6 reference"),
        ("sip:[fe80::1%25eth0]", "malformed IPv6 reference '[fe80::1%25eth0]'"),
        ("sip:[192.0.2.1]", "malformed IPv6 reference '[192.0.2.1]'"),
    ],
)
def test_malformed_ipv6_references(text: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_uri(text)
    assert info.value.reason == reason


def test_format_host_brackets_ipv6_only() -> None:
    assert format_host("2001:db8::1") == "[2001:db8::1]"
    assert format_host("[2001:db8::1]") == "[2001:db8::1]"
    assert format_host("192.0.2.1") == "192.0.2.1"
    assert format_host("example.com") == "example.com"


# -- §19.1.4 comparison ------------------------------------------------------------

EQUAL = [
    # The RFC's own pairs of equivalent URIs, and RFC 5118 §4.1 spellings of one address.
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
    ("sip:[2001:db8::1]:5060", "sip:[2001:DB8:0:0:0:0:0:1]:5060"),
    # Parameter names are unescaped too (RFC 4475 esc01 spells "lr" %6C%72).
    ("sip:a@example.com;%6C%72;n%61me=v", "sip:a@example.com;lr;name=v"),
]  # fmt: skip
NOT_EQUAL = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:alice@example.com", "sips:alice@example.com"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:[2001:db8::1]", "sip:[2001:db8::2]"),
    ("sip:a@example.com;n%61me=x", "sip:a@example.com;name=y"),
    ("sip:a@example.com;%74ransport=tcp", "sip:a@example.com"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equivalent_uris(a: str, b: str) -> None:
    assert uri_equal(parse_uri(a), parse_uri(b))
    assert uri_equal(parse_uri(b), parse_uri(a))


@pytest.mark.parametrize(("a", "b"), NOT_EQUAL)
def test_different_uris(a: str, b: str) -> None:
    assert not uri_equal(parse_uri(a), parse_uri(b))
    assert not uri_equal(parse_uri(b), parse_uri(a))


def test_other_schemes_compare_by_text_case_insensitively() -> None:
    assert uri_equal(parse_uri("tel:+1-201-555-0123"), parse_uri("TEL:+1-201-555-0123"))
    assert not uri_equal(parse_uri("tel:+1-201-555-0123"), parse_uri("sip:+12015550123@x.com"))


def test_derived_uris() -> None:
    uri = sip("sip:bob@biloxi.com;transport=tcp?subject=x")
    assert str(uri.without(params=True, headers=True)) == "sip:bob@biloxi.com"
    assert str(uri.with_params(transport="udp", lr=None)) == (
        "sip:bob@biloxi.com;transport=udp;lr?subject=x"
    )
    assert uri.params == Params([("transport", "tcp")])  # unchanged: SipUri is frozen


def test_a_uri_text_parsed_again_gives_the_same_frozen_object() -> None:
    # From, To and Request-URI repeat in every request of a conversation: a URI is parsed
    # once per text. Sharing is safe because a URI and its params are not changed in place.
    first = parse_uri("sip:alice@example.com;transport=tcp")
    assert parse_uri("sip:alice@example.com;transport=tcp") is first
    assert parse_uri("sip:alice@example.com") is not first
    with pytest.raises(ParseError):
        parse_uri("sip:alice@exa mple.com")  # failures are not cached as results
    with pytest.raises(ParseError):
        parse_uri("sip:alice@exa mple.com")
