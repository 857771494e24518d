"""RFC 4475 (SIP torture tests) and RFC 5118 (IPv6 torture tests) against the syntax layer.

The corpus is not copied into the project: it is read from ``../shared/torture`` (its
``manifest.json`` says what each RFC expects), and the module skips when it is absent.
``DECISIONS`` records, per file, what Parley does and why: a ``valid`` message parses,
validates and round-trips; an ``invalid`` one raises ParseError with a precise reason and the
status a server answers with (a response is dropped); a ``semantic`` one is syntax the
layers above judge, and the tests at the end pin down what the syntax layer hands them.

The RFC 5118 files use bare LF: they are sent as CRLF, the two section 4.10 files get the
empty line ending their header section, and the three whose printed Content-Length is wrong
(4.6, 4.8, 4.9, see the corpus README) get it recomputed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from parley.sip.errors import ParseError
from parley.sip.syntax import (
    AbsoluteUri,
    Message,
    NameAddr,
    Request,
    Response,
    SipUri,
    parse_message,
    parse_uri,
    uri_equal,
    validate_message,
)

TORTURE = Path(__file__).resolve().parents[2].parent / "shared" / "torture"
KNOWN_METHODS = frozenset(
    "INVITE ACK BYE CANCEL OPTIONS REGISTER SUBSCRIBE NOTIFY PUBLISH MESSAGE REFER INFO "
    "UPDATE PRACK".split()
)


def _manifest() -> dict[str, dict[str, Any]]:
    path = TORTURE / "manifest.json"
    if not path.is_file():
        return {}
    return {entry["file"]: entry for entry in json.loads(path.read_text(encoding="utf-8"))}


MANIFEST = _manifest()
pytestmark = pytest.mark.skipif(not MANIFEST, reason=f"no torture corpus at {TORTURE}")


@dataclass(frozen=True)
class Decision:
    """What Parley does with one file: ``accept`` (parse, validate, round-trip), or refuse
    at ``parse`` (framing, start line) or at ``validate`` with ``reason`` and ``hint``."""

    outcome: str
    why: str
    reason: str = ""
    hint: int = 400


def accept(why: str) -> Decision:
    return Decision("accept", why)


def at_parse(reason: str, why: str, hint: int = 400) -> Decision:
    return Decision("parse", why, reason, hint)


def at_validate(reason: str, why: str, hint: int = 400) -> Decision:
    return Decision("validate", why, reason, hint)


# The RFC 5118 §4.6, §4.8, §4.9 files print Content-Length values that do not match their
# bodies: printed -> recomputed for the CRLF body.
LENGTH_FIXES = {
    "rfc5118-ipv6-in-sdp.dat": (268, 251),
    "rfc5118-mult-ip-in-sdp.dat": (181, 189),
    "rfc5118-ipv4-mapped-ipv6.dat": (236, 245),
}

DECISIONS: dict[str, Decision] = {
    # -- RFC 4475 §3.1.1: valid messages -----------------------------------------------
    "wsinv.dat": accept("folding, LWS around : ; / and =, compact forms, escaped quotes"),
    "intmeth.dat": accept("odd but legal tokens; a UAS answers 501 (known_methods)"),
    "esc01.dat": accept("escapes are kept as written and resolved once on comparison"),
    "escnull.dat": accept("%00 stays a character: two distinct Contact URIs"),
    "esc02.dat": accept("RE%47IST%45R is an unknown method, C%6Fntact an unknown header"),
    "lwsdisp.dat": accept("no LWS between display-name token and '<' is tolerated"),
    "longreq.dat": accept("long values are only long"),
    "dblreq.dat": accept("Content-Length 0 frames the REGISTER; trailing octets ignored"),
    "semiuri.dat": accept("';' belongs to the Request-URI's user part"),
    "transports.dat": accept("unknown transport tokens are kept"),
    "mpart01.dat": accept("binary body framed by Content-Length"),
    "unreason.dat": accept("UTF-8 Reason-Phrase"),
    "noreason.dat": accept("empty Reason-Phrase"),
    # -- RFC 4475 §3.1.2: invalid messages ---------------------------------------------
    "badinv01.dat": at_validate("empty element in a comma-separated header", "';;,;,,' in Via"),
    "clerr.dat": at_parse("Content-Length larger than the body", "§18.3 on a datagram: 400"),
    "ncl.dat": at_parse("Content-Length is not a number", "-999 is no 1*DIGIT"),
    "scalar02.dat": at_validate("CSeq number is too large", "§8.1.1.5: CSeq below 2**31"),
    "scalarlg.dat": at_validate("CSeq number is too large", "a response: the caller drops it"),
    "quotbal.dat": at_validate("unterminated quoted string", "no closing quote is guessed"),
    "ltgtruri.dat": at_parse("Request-URI enclosed in <>", "§7.1 Request-URI is bare"),
    "lwsruri.dat": at_parse("malformed Request-Line", "§7.1: single SP separators"),
    "lwsstart.dat": at_parse("malformed Request-Line", "§7.1: single SP separators"),
    "trws.dat": at_parse("malformed Request-Line", "§7.1: no trailing SP"),
    "escruri.dat": at_validate(
        "Request-URI with embedded headers", "the escaped headers are refused, not acted on"
    ),
    "baddate.dat": accept("Date (EST) is not used by the syntax layer: ignored as allowed"),
    "regbadct.dat": at_validate(
        "addr-spec with characters that need <>", "§20: '?' in an addr-spec needs <>"
    ),
    "badaspec.dat": at_validate(
        "white space, control or delimiter character inside a URI", "spaces inside <>"
    ),
    "baddn.dat": at_validate(
        "display name with characters that need quotes", "',' in an unquoted display name"
    ),
    "badvers.dat": at_parse("SIP version SIP/7.0 not supported", "§21.5.6: 505", 505),
    "mismatch01.dat": at_validate(
        "CSeq method does not match the request method", "OPTIONS with CSeq INVITE"
    ),
    "mismatch02.dat": at_validate(
        "method NEWMETHOD not implemented", "501 preferred to 400 (known_methods given)", 501
    ),
    "bigcode.dat": at_parse("malformed status code", "4294967301: the response is dropped"),
    "test.dat": at_parse("header line without a colon", "'Foobar roobar'; never a crash"),
    # -- RFC 4475 §3.2, §3.3: semantic tests -------------------------------------------
    "badbranch.dat": accept("a bare cookie: rfc3261_branch is False (RFC 2543 matching)"),
    "insuf.dat": at_validate("missing To header", "no Call-ID, From or To: 400"),
    "unkscm.dat": accept("Request-URI is an AbsoluteUri: the core answers 416"),
    "novelsc.dat": accept("Request-URI is an AbsoluteUri: the core answers 416 or 404"),
    "unksm2.dat": accept("To/From/Contact are AbsoluteUris: a registrar answers 400"),
    "bext01.dat": accept("Require/Proxy-Require values reach the core, which answers 420"),
    "invut.dat": accept("content_type is unknown to the UAS, which answers 415"),
    "regaut01.dat": accept("Authorization is kept whole and forwarded as written"),
    "multi01.dat": at_validate(
        "more than one Max-Forwards header", "single-value headers repeated: the first one"
    ),
    "mcl01.dat": at_parse("conflicting Content-Length values", "a framing error"),
    "bcast.dat": accept("a 255.255.255.255 Via is syntax; dropping it is routing's job"),
    "zeromf.dat": accept("max_forwards 0: a proxy answers 483"),
    "cparam01.dat": accept("unknownparam is a header (contact) parameter"),
    "cparam02.dat": accept("unknownparam is a URI parameter inside <>"),
    "regescrt.dat": accept("the escaped Route stays in the Contact URI's headers"),
    "sdp01.dat": accept("Accept without application/sdp: the UAS answers 406"),
    # -- RFC 4475 §3.4 ------------------------------------------------------------------
    "inv2543.dat": accept("RFC 2543: no branch, tags, Content-Length or Max-Forwards"),
    # -- RFC 5118 ------------------------------------------------------------------------
    "rfc5118-ipv6-good.dat": accept("IPv6 references in Request-URI, Via, Contact"),
    "rfc5118-ipv6-bad.dat": at_validate(
        "IPv6 address without [ ] (RFC 5118 §4.2)", "§4.2: brackets are mandatory"
    ),
    "rfc5118-port-ambiguous.dat": accept("host [2001:db8::10:5070], no port (§4.3)"),
    "rfc5118-port-unambiguous.dat": accept("host [2001:db8::10], port 5070"),
    "rfc5118-via-received-param-with-delim.dat": accept("received=[...] tolerated (§4.5)"),
    "rfc5118-via-received-param-no-delim.dat": accept("received=2001:db8::9:255 (§4.5)"),
    "rfc5118-ipv6-in-sdp.dat": accept("SDP addresses are body octets"),
    "rfc5118-mult-ip-in-header.dat": accept("Via list mixing IPv4 and IPv6"),
    "rfc5118-mult-ip-in-sdp.dat": accept("SDP addresses are body octets"),
    "rfc5118-ipv4-mapped-ipv6.dat": accept("IPv4-mapped IPv6 references"),
    "rfc5118-ipv6-bug-abnf-3-colons.dat": at_validate(
        "malformed IPv6 reference '[2001:db8:::192.0.2.1]'",
        "§4.10 allows a robust parse; Parley refuses rather than guess the address",
    ),
    "rfc5118-ipv6-correct-abnf-2-colons.dat": accept("[2001:db8::192.0.2.1] (§4.10)"),
}

NAMES = sorted(MANIFEST)


def wire_bytes(name: str) -> bytes:
    """The file as a peer would send it (see the module docstring for the RFC 5118 fixes)."""
    raw = (TORTURE / name).read_bytes()
    entry = MANIFEST[name]
    assert hashlib.sha256(raw).hexdigest() == entry["sha256"], f"{name} differs from manifest"
    if entry["line_endings"] != "LF":
        return raw
    data = raw.replace(b"\n", b"\r\n")
    if b"\r\n\r\n" not in data:
        data += b"\r\n"
    fix = LENGTH_FIXES.get(name)
    if fix is not None:
        printed, recomputed = fix
        head, body = data.split(b"\r\n\r\n", 1)
        assert len(body) == recomputed
        head, count = re.subn(
            rb"(?im)^(content-length|l)([ \t]*:[ \t]*)" + str(printed).encode() + rb"[ \t]*$",
            rb"\g<1>\g<2>" + str(recomputed).encode(),
            head,
        )
        assert count == 1
        data = head + b"\r\n\r\n" + body
    return data


def torture(name: str) -> Request | Response:
    return parse_message(wire_bytes(name))


# -- the table covers the corpus ---------------------------------------------------------


def test_every_corpus_file_has_a_decision() -> None:
    assert sorted(DECISIONS) == NAMES


def test_decisions_agree_with_the_manifest_kinds() -> None:
    for name, decision in DECISIONS.items():
        kind = MANIFEST[name]["kind"]
        if kind == "valid":
            assert decision.outcome == "accept", name
        elif kind == "invalid" and decision.outcome == "accept":
            # Only where the RFC lets an element ignore the fault.
            assert name == "baddate.dat", name


def test_length_fixes_are_the_three_the_readme_names() -> None:
    for name in LENGTH_FIXES:
        assert MANIFEST[name]["section"] in ("4.6", "4.8", "4.9")
        data = wire_bytes(name)
        message = parse_message(data)
        assert message.content_length == len(data.split(b"\r\n\r\n", 1)[1])


# -- valid and invalid --------------------------------------------------------------------


def semantic(message: Message) -> tuple[Any, ...]:
    headers = [(n, v) for n, v in message.headers if n != "Content-Length"]
    contacts = "*" if message.is_star_contact else [str(c) for c in message.contacts]
    return (
        message.start_line(),
        headers,
        message.body,
        [str(v) for v in message.vias],
        str(message.from_),
        str(message.to),
        message.call_id,
        message.cseq,
        message.max_forwards,
        contacts,
        [str(r) for r in message.routes + message.record_routes],
    )


@pytest.mark.parametrize("name", [n for n in NAMES if DECISIONS[n].outcome == "accept"])
def test_accepted_messages_parse_validate_and_round_trip(name: str) -> None:
    message = torture(name)
    validate_message(message)
    wire = message.to_bytes()
    again = parse_message(wire)
    validate_message(again)
    assert semantic(again) == semantic(message)
    assert again.to_bytes() == wire


@pytest.mark.parametrize("name", [n for n in NAMES if DECISIONS[n].outcome != "accept"])
def test_refused_messages_raise_a_precise_parse_error(name: str) -> None:
    decision = DECISIONS[name]
    with pytest.raises(ParseError) as info:
        message = torture(name)
        assert decision.outcome == "validate", f"{name} parsed but should not have"
        validate_message(message, known_methods=KNOWN_METHODS)
    assert info.value.reason == decision.reason
    assert info.value.status_hint == decision.hint
    assert info.value.__cause__ is None, "refused on purpose, not a crash caught on the way"


@pytest.mark.parametrize("name", ["bigcode.dat", "scalarlg.dat"])
def test_malformed_responses_are_refused(name: str) -> None:
    # RFC 4475 §3.1.2.19, §3.1.2.5: the receiver drops them; whichever step refuses, the
    # message never reaches a transaction.
    data = wire_bytes(name)
    assert data.startswith(b"SIP/2.0 ")
    with pytest.raises(ParseError):
        validate_message(parse_message(data))


def test_mismatch02_is_400_without_a_method_list() -> None:
    with pytest.raises(ParseError) as info:
        validate_message(torture("mismatch02.dat"))
    assert info.value.status_hint == 400


# -- what the syntax layer hands the layers above -------------------------------------


def sip(value: NameAddr | Request) -> SipUri:
    uri = value.uri
    assert isinstance(uri, SipUri)
    return uri


def test_wsinv_values() -> None:
    msg = torture("wsinv.dat")
    assert msg.to.tag == "1918181833n" and msg.from_.tag == "98asjd8"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.max_forwards == 68 and msg.cseq.seq == 9
    assert [v.branch for v in msg.vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    # Forwarded unchanged by a proxy.
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert b"UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n" in msg.to_bytes()
    contact = msg.contacts[0]
    assert contact.display_name == 'Quoted string ""'
    assert list(contact.params) == [("newparam", "newvalue"), ("secondparam", None), ("q", "0.33")]
    assert list(sip(msg.routes[0]).params) == [
        ("lr", None), ("unknownwith", "value"), ("unknown-no-value", None)
    ]  # fmt: skip
    assert len(msg.body) == 150


def test_intmeth_is_501_for_an_endpoint() -> None:
    msg = torture("intmeth.dat")
    assert isinstance(msg, Request)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.params.get("fromparam''~+*_!.-%") == '"работающий"'
    with pytest.raises(ParseError) as info:
        validate_message(msg, known_methods=KNOWN_METHODS)
    assert info.value.status_hint == 501


def test_esc01_unescapes_once() -> None:
    msg = torture("esc01.dat")
    assert isinstance(msg, Request)
    assert sip(msg).user_unescaped == "sips:user@example.com"
    assert sip(msg.to).user_unescaped == "user"
    assert sip(msg.from_).user_unescaped == "I have spaces"
    contact = sip(msg.contacts[0])
    assert contact.user_unescaped == "caller"
    assert str(contact) == "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"
    assert uri_equal(contact, parse_uri("sip:caller@host5.example.net;lr;name=value%2541"))
    assert not uri_equal(contact, parse_uri("sip:caller@host5.example.net;lr;name=valueA"))


def test_escnull_binds_two_distinct_contacts() -> None:
    msg = torture("escnull.dat")
    first, second = (sip(c) for c in msg.contacts)
    assert (first.user_unescaped, second.user_unescaped) == ("\x00", "\x00\x00")
    assert first.aor != second.aor and not uri_equal(first, second)
    assert sip(msg.to).user_unescaped == "null-\x00-null"


def test_esc02_method_and_headers_are_not_unescaped() -> None:
    msg = torture("esc02.dat")
    assert isinstance(msg, Request) and msg.method == "RE%47IST%45R"
    assert msg.to.display_name == "%Z%45"
    assert [str(c.uri) for c in msg.contacts] == [
        "sip:alias1@host1.example.com",
        "sip:alias3@host3.example.com",
    ]
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    with pytest.raises(ParseError) as info:
        validate_message(msg, known_methods=KNOWN_METHODS)
    assert info.value.status_hint == 501


def test_lwsdisp_semiuri_transports_longreq() -> None:
    assert torture("lwsdisp.dat").from_.display_name == "caller"
    semiuri = torture("semiuri.dat")
    assert isinstance(semiuri, Request)
    assert sip(semiuri).user_unescaped == "user;par=u@example.net"
    assert list(sip(semiuri).params) == []
    transports = torture("transports.dat")
    assert [v.transport for v in transports.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    longreq = torture("longreq.dat")
    assert len(longreq.to.display_name or "") > 90 and len(longreq.from_.tag or "") > 100
    # 34 Via elements on 21 lines, "Via :" and "v:" among them; sip33 is the top one.
    assert len(longreq.vias) == 34 and longreq.top_via.host == "sip33.example.com"
    assert longreq.vias[-1].received == "192.0.2.5"


def test_dblreq_ignores_the_trailing_octets() -> None:
    data = wire_bytes("dblreq.dat")
    msg = parse_message(data)
    assert isinstance(msg, Request) and msg.method == "REGISTER"
    assert msg.body == b"" and msg.content_length == 0
    assert b"INVITE" in data and b"INVITE" not in msg.to_bytes()


def test_mpart01_body_keeps_binary_octets() -> None:
    msg = torture("mpart01.dat")
    assert msg.content_length == len(msg.body) and b"\x00" in msg.body
    assert msg.content_type == "multipart/mixed"


def test_response_reason_phrases() -> None:
    unreason = torture("unreason.dat")
    assert isinstance(unreason, Response)
    assert unreason.reason.startswith("= 2**3 * 5**2 но сто девяносто девять")
    noreason = torture("noreason.dat")
    assert isinstance(noreason, Response) and (noreason.status, noreason.reason) == (100, "")


def test_inv2543_rfc2543_compatibility() -> None:
    msg = torture("inv2543.dat")
    assert msg.top_via.branch is None and not msg.top_via.rfc3261_branch
    assert msg.from_.tag is None and msg.to.tag is None
    assert msg.max_forwards is None and msg.content_length is None
    assert msg.body.startswith(b"v=0\r\n")  # the rest of the datagram


def test_badbranch_falls_back_to_rfc2543_matching() -> None:
    via = torture("badbranch.dat").top_via
    assert via.branch == "z9hG4bK" and not via.rfc3261_branch


def test_unkscm_and_novelsc_request_uris_are_absolute_uris() -> None:
    for name, scheme in (("unkscm.dat", "nobodyknowsthisscheme"), ("novelsc.dat", "soap.beep")):
        msg = torture(name)
        assert isinstance(msg, Request)
        assert isinstance(msg.uri, AbsoluteUri) and msg.uri.scheme == scheme
        assert isinstance(msg.to.uri, SipUri)  # never routed on (RFC 4475 §3.3.2)


def test_unksm2_addresses_of_other_schemes() -> None:
    msg = torture("unksm2.dat")
    assert msg.to.uri == AbsoluteUri("isbn", "2983792873")
    assert msg.from_.uri == AbsoluteUri("http", "//www.example.com")
    assert msg.contacts[0].uri == AbsoluteUri("name", "John_Smith")
    with pytest.raises(ParseError) as info:
        msg.to.sip_uri  # noqa: B018  (a registrar needs a SIP AOR)
    assert info.value.status_hint == 416


def test_bext01_option_tags() -> None:
    msg = torture("bext01.dat")
    assert msg.headers.values("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert msg.headers.values("Proxy-Require") == [
        "noProxiesSupportThis",
        "norDoAnyProxiesSupportThis",
    ]


def test_invut_sdp01_regaut01() -> None:
    assert torture("invut.dat").content_type == "application/unknownformat"
    assert torture("sdp01.dat").headers.values("Accept") == ["text/nobodyKnowsThis"]
    regaut = torture("regaut01.dat")
    assert regaut.headers.values("Authorization") == ["NoOneKnowsThisScheme opaque-data=here"]


def test_bcast_via_is_exposed_for_routing() -> None:
    msg = torture("bcast.dat")
    assert [v.host for v in msg.vias] == ["192.0.2.198", "255.255.255.255"]


def test_zeromf_max_forwards_zero() -> None:
    assert torture("zeromf.dat").max_forwards == 0


def test_cparam01_contact_param_is_not_a_uri_param() -> None:
    contact = torture("cparam01.dat").contacts[0]
    assert list(sip(contact).params) == []
    assert list(contact.params) == [("unknownparam", None)]
    assert str(contact) == "<sip:+19725552222@gw1.example.net>;unknownparam"


def test_cparam02_uri_param_is_not_a_contact_param() -> None:
    contact = torture("cparam02.dat").contacts[0]
    assert list(sip(contact).params) == [("unknownparam", None)]
    assert list(contact.params) == []
    assert str(contact) == "<sip:+19725552222@gw1.example.net;unknownparam>"


def test_regescrt_keeps_the_escaped_route() -> None:
    contact = sip(torture("regescrt.dat").contacts[0])
    assert contact.headers == (("Route", "%3Csip:sip.example.com%3E"),)
    assert str(contact) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def test_rfc5118_addresses() -> None:
    good = torture("rfc5118-ipv6-good.dat")
    assert isinstance(good, Request)
    assert sip(good).host == "[2001:db8::10]"
    assert good.top_via.host.startswith("[2001:db8::")
    ambiguous = torture("rfc5118-port-ambiguous.dat")
    assert isinstance(ambiguous, Request)
    assert (sip(ambiguous).host, sip(ambiguous).port) == ("[2001:db8::10:5070]", None)
    unambiguous = torture("rfc5118-port-unambiguous.dat")
    assert isinstance(unambiguous, Request)
    assert (sip(unambiguous).host, sip(unambiguous).port) == ("[2001:db8::10]", 5070)
    assert torture("rfc5118-via-received-param-with-delim.dat").top_via.received == (
        "[2001:db8::9:255]"
    )
    assert torture("rfc5118-via-received-param-no-delim.dat").top_via.received == (
        "2001:db8::9:255"
    )
    mapped = torture("rfc5118-ipv4-mapped-ipv6.dat")
    assert mapped.top_via.port is not None and "::ffff:" in mapped.top_via.host.lower()
    assert len(torture("rfc5118-mult-ip-in-header.dat").vias) >= 2
    two = torture("rfc5118-ipv6-correct-abnf-2-colons.dat")
    assert isinstance(two, Request) and sip(two).host == "[2001:db8::192.0.2.1]"
