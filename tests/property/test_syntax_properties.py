"""Properties of the syntax layer (RFC 3261 §7, §19, §20, §25), checked with hypothesis.

1. No input makes ``parse_message``/``validate_message`` (or a typed view) raise anything but
   ParseError, and every ParseError is raised on purpose (none wraps a caught crash).
2. Generated well-formed messages, spelled in any of the ways the RFC allows (compact
   names, any case, LWS, folding), parse to the values they were built from, and
   serialising round-trips stably.
3. Mutations of valid messages (RFC 4475's valid files and our seed vectors) raise only
   ParseError.

Example counts are bounded so that the module runs in seconds on a shared 2-core machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from parley.sip.errors import ParseError
from parley.sip.syntax import (
    Message,
    NameAddr,
    Request,
    Response,
    SipUri,
    Via,
    parse_message,
    parse_uri,
    validate_message,
)

ROOT = Path(__file__).resolve().parents[2]
TORTURE = ROOT.parent / "shared" / "torture"
FAST = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


def _valid_samples() -> list[bytes]:
    samples = [path.read_bytes() for path in sorted((ROOT / "tests/vectors").glob("*/*.sip"))]
    manifest = TORTURE / "manifest.json"
    if manifest.is_file():
        for entry in json.loads(manifest.read_text(encoding="utf-8")):
            if entry["kind"] == "valid" and entry["line_endings"] == "CRLF":
                samples.append((TORTURE / entry["file"]).read_bytes())
    return samples


SAMPLES = _valid_samples()


def read_everything(message: Request | Response) -> None:
    """Every typed view and the serialiser, as the layers above would use them."""
    for view in (
        lambda: message.top_via,
        lambda: message.vias,
        lambda: message.from_.uri,
        lambda: message.to.uri,
        lambda: message.call_id,
        lambda: message.cseq,
        lambda: message.max_forwards,
        lambda: message.content_length,
        lambda: message.expires,
        lambda: [c.uri for c in message.contacts],
        lambda: [r.uri for r in message.routes + message.record_routes],
        lambda: message.uri if isinstance(message, Request) else None,
    ):
        try:
            view()
        except ParseError as exc:
            assert exc.__cause__ is None, f"a crash caught on the way: {exc.__cause__!r}"
    message.to_bytes()


def only_parse_errors(data: bytes) -> None:
    try:
        message = parse_message(data)
    except ParseError as exc:
        assert exc.__cause__ is None, f"a crash caught on the way: {exc.__cause__!r}"
        return
    try:
        validate_message(message, known_methods=frozenset({"INVITE", "MESSAGE"}))
    except ParseError as exc:
        assert exc.__cause__ is None, f"a crash caught on the way: {exc.__cause__!r}"
    read_everything(message)
    # Whatever parses serialises to something that parses again, to the same fields.
    again = parse_message(message.to_bytes())
    assert again.start_line() == message.start_line()
    assert [f for f in again.headers if f[0] != "Content-Length"] == [
        f for f in message.headers if f[0] != "Content-Length"
    ]
    assert again.body == message.body


# -- 1. arbitrary input ----------------------------------------------------------------


@FAST
@given(st.binary(max_size=600))
@example(b"\r\n\r\n")
@example(b"SIP/2.0 200 OK\r\nl: " + b"9" * 5000 + b"\r\n\r\n")
@example(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP [fe80::1%eth0]\r\n\r\n")
@example(b"INVITE sip:a@b SIP/2.0\r\nCSeq: \xd9\xa1 INVITE\r\n\r\n")
def test_arbitrary_bytes_raise_only_parse_errors(data: bytes) -> None:
    only_parse_errors(data)


# SIP-looking text: real header names in any spelling, values made of the characters the
# grammar gives meaning to, folding, and Content-Length values of every kind.
_NAMES = st.sampled_from(
    "Via v From f To t Call-ID i CSeq Max-Forwards Contact m Route Record-Route "
    "Content-Length l Content-Type c Expires Event o Require X-Odd Date".split()
)
_VALUE_CHARS = st.sampled_from([*"abz09 \t;,=<>\"\\:@%[]/.?&*+-_~'", "é", "\x00", "✓"])
_VALUES = st.one_of(
    st.text(_VALUE_CHARS, max_size=40),
    st.sampled_from(
        [
            "SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
            "SIP / 2.0 / TCP [2001:db8::1] : 5060 ; rport",
            '"A \\" B" <sip:a@example.com;lr>;tag=1',
            "sip:a@example.com;tag=2",
            "<sips:b:pw@[::1]:5061;transport=tls?h=v>",
            "1 INVITE",
            "0009 MESSAGE",
            "-1",
            "4294967296",
            "*",
        ]
    ),
)
_START = st.sampled_from(
    [
        "INVITE sip:a@example.com SIP/2.0",
        "MESSAGE sips:%61@[2001:db8::1]:5061;lr SIP/2.0",
        "OPTIONS tel:+1-555 sip/2.0",
        "SIP/2.0 200 OK",
        "SIP/2.0 180 ",
        "SIP/2.0 999 Nine",
        "SIP/7.0 200 OK",
        "NOTIFY <sip:x> SIP/2.0",
        "",
    ]
)


@st.composite
def sip_like(draw: st.DrawFn) -> bytes:
    lines = [draw(_START)]
    for _ in range(draw(st.integers(0, 12))):
        name = draw(_NAMES)
        if draw(st.booleans()):
            name = name.upper() if draw(st.booleans()) else name.lower()
        value = draw(_VALUES)
        sep = draw(st.sampled_from([": ", ":", " : ", "\t:\t"]))
        line = f"{name}{sep}{value}"
        if draw(st.integers(0, 5)) == 0:  # fold somewhere
            cut = draw(st.integers(0, len(line)))
            line = line[:cut] + draw(st.sampled_from(["\r\n ", "\r\n\t", "\n "])) + line[cut:]
        lines.append(line)
    eol = draw(st.sampled_from(["\r\n", "\n", "\r\n"]))
    body = draw(st.binary(max_size=30))
    head = eol.join(lines).encode("utf-8", "surrogatepass")
    return head + eol.encode() * draw(st.integers(0, 2)) + body


@FAST
@given(sip_like())
def test_sip_like_text_raises_only_parse_errors(data: bytes) -> None:
    only_parse_errors(data)


@FAST
@given(st.text(max_size=80))
def test_header_value_parsers_raise_only_parse_errors(text: str) -> None:
    for parse in (parse_uri, NameAddr.parse, Via.parse):
        try:
            value = parse(text)
            if isinstance(value, NameAddr):
                value.uri  # noqa: B018
        except ParseError as exc:
            assert exc.__cause__ is None


# -- 2. generated well-formed messages ------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_TOKEN_CHARS = _ALNUM + "ABCXYZ-.!%*_+`'~"
_tokens = st.text(_TOKEN_CHARS, min_size=1, max_size=12)
_labels = st.text(_ALNUM, min_size=1, max_size=8)
_hosts = st.one_of(
    st.lists(_labels, min_size=1, max_size=3).map(".".join),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.sampled_from(["[2001:db8::1]", "[::ffff:192.0.2.1]", "[2001:DB8:0:0:8:800:200C:417A]"]),
)
_ports = st.one_of(st.none(), st.integers(1, 65535))
_user_chars = _ALNUM + "-_.!~*'()&=+$,;?/"
_users = st.one_of(
    st.none(),
    st.text(_user_chars, min_size=1, max_size=10),
    st.sampled_from(["%61lice", "null-%00", "sp%20ace"]),
)
_uri_params = st.lists(
    st.tuples(st.sampled_from(["lr", "transport", "user", "maddr", "x-p"]),
              st.one_of(st.none(), st.text(_ALNUM, min_size=1, max_size=6))),
    max_size=3,
)  # fmt: skip


@st.composite
def sip_uris(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["sip", "sips", "SIP"]))
    user = draw(_users)
    host = draw(_hosts)
    port = draw(_ports)
    text = f"{scheme}:{'' if user is None else user + '@'}{host}"
    text += "" if port is None else f":{port}"
    for name, value in draw(_uri_params):
        text += f";{name}" if value is None else f";{name}={value}"
    if draw(st.integers(0, 4)) == 0:
        text += "?Subject=x%20y&Priority=urgent"
    return text


_display = st.one_of(
    st.none(),
    st.lists(_tokens, min_size=1, max_size=3).map(" ".join).map(lambda d: ("token", d)),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12).map(
        lambda d: ("quoted", d)
    ),
)


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def name_addrs(draw: st.DrawFn, tag: bool) -> tuple[str, dict[str, Any]]:
    uri = draw(st.one_of(sip_uris(), st.sampled_from(["tel:+1-201-555-0123", "im:a@b.example"])))
    display = draw(_display)
    params = [("tag", draw(_tokens))] if tag else []
    params += draw(st.lists(st.tuples(st.sampled_from(["q", "expires", "x"]),
                                      st.one_of(st.none(), _tokens)), max_size=2))  # fmt: skip
    lws = draw(st.sampled_from(["", " ", " \t "]))
    text = "" if display is None else (display[1] if display[0] == "token" else quoted(display[1]))
    text += (" " if display and display[0] == "token" else lws) + f"<{uri}>"
    for name, value in params:
        text += f"{lws};{lws}{name}" + ("" if value is None else f"{lws}={lws}{value}")
    expect = {
        "display": None if display is None else display[1],
        "uri": uri,
        "params": params,
    }
    return text, expect


@st.composite
def vias(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    transport = draw(st.sampled_from(["UDP", "tcp", "TLS", "WSS", "SCTP"]))
    host, port = draw(_hosts), draw(_ports)
    branch = "z9hG4bK" + draw(_tokens)
    sp = draw(st.sampled_from(["", " ", "  "]))  # LWS around "/" and ":" (RFC 4475 wsinv)
    text = f"SIP{sp}/{sp}2.0{sp}/{sp}{transport} {host}"
    text += "" if port is None else f"{sp}:{sp}{port}"
    text += f"{sp};{sp}branch{sp}={sp}{branch}"
    if draw(st.booleans()):
        text += ";rport"
    return text, {"transport": transport.upper(), "host": host, "port": port, "branch": branch}


_COMPACT = {"Via": "v", "From": "f", "To": "t", "Call-ID": "i", "Contact": "m",
            "Content-Length": "l", "Content-Type": "c"}  # fmt: skip


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    method = draw(st.sampled_from(["INVITE", "MESSAGE", "NOTIFY", "X-NEW.method"]))
    is_request = draw(st.booleans())
    via_list = draw(st.lists(vias(), min_size=1, max_size=3))
    from_text, from_expect = draw(name_addrs(tag=True))
    to_text, to_expect = draw(name_addrs(tag=draw(st.booleans())))
    contact_list = draw(st.lists(name_addrs(tag=False), max_size=2))
    call_id = draw(_tokens) + draw(st.sampled_from(["", "@" + "host.example"]))
    seq = draw(st.integers(0, 2**31 - 1))
    body = draw(st.binary(max_size=40))
    fields: list[tuple[str, str]] = []
    # Several Via elements on one line or on several lines (§7.3.1).
    if draw(st.booleans()):
        fields.append(("Via", ", ".join(v for v, _ in via_list)))
    else:
        fields += [("Via", v) for v, _ in via_list]
    fields += [("From", from_text), ("To", to_text), ("Call-ID", call_id)]
    fields.append(("CSeq", f"{seq} {method}"))
    fields.append(("Max-Forwards", str(draw(st.integers(0, 255)))))
    if contact_list:
        fields.append(("Contact", ", ".join(c for c, _ in contact_list)))
    unknown = draw(st.lists(st.tuples(st.sampled_from(["X-A", "X-B", "Zz"]),
                                      st.text(_TOKEN_CHARS + " ,;=", max_size=15)),
                            max_size=3))  # fmt: skip
    fields += unknown
    if body:
        fields.append(("Content-Type", "application/octet-stream"))
    if body or draw(st.booleans()):
        fields.append(("Content-Length", str(len(body))))
    # Any order of fields, but Via lines keep theirs (the top Via is the first one).
    order = list(draw(st.permutations(range(len(fields)))))
    via_slots = [k for k, i in enumerate(order) if fields[i][0] == "Via"]
    for slot, i in zip(via_slots, sorted(order[k] for k in via_slots), strict=True):
        order[slot] = i
    lines = []
    unknown_expect = []
    for i in order:
        name, value = fields[i]
        style = draw(st.integers(0, 3))
        if style == 1 and name in _COMPACT:
            name = _COMPACT[name]
        elif style == 2:
            name = name.lower()
        sep = draw(st.sampled_from([": ", ":", " :  ", ":\t"]))
        value = value.strip(" \t")
        if fields[i] in unknown:
            unknown_expect.append((name, value))  # unknown names stay as written
        if draw(st.integers(0, 4)) == 0 and " " in value and "  " not in value:
            cut = value.index(" ")  # fold at a lone space: it reads back as that space
            value = value[:cut] + "\r\n " + value[cut + 1 :]
        lines.append(f"{name}{sep}{value}")
    if is_request:
        start = f"{method} sip:target@example.com SIP/2.0"
    else:
        reason = draw(st.text(st.characters(blacklist_characters="\r\n"), max_size=10))
        start = f"SIP/2.0 {draw(st.integers(100, 699))} {reason}"
    data = ("\r\n".join([start, *lines]) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body
    expect = {
        "vias": [v for _, v in via_list],
        "from": from_expect,
        "to": to_expect,
        "contacts": [c for _, c in contact_list],
        "call_id": call_id,
        "seq": seq,
        "method": method,
        "body": body,
        "unknown": unknown_expect,
    }
    return data, expect


def check_name_addr(value: NameAddr, expect: dict[str, Any]) -> None:
    assert value.display_name == expect["display"]
    assert list(value.params) == expect["params"]
    uri = value.uri
    if isinstance(uri, SipUri):
        assert uri == parse_uri(expect["uri"])
    else:
        assert str(uri) == expect["uri"]


def semantic(message: Message) -> tuple[Any, ...]:
    return (
        message.start_line(),
        [f for f in message.headers if f[0] != "Content-Length"],
        message.body,
        [str(v) for v in message.vias],
        str(message.from_),
        str(message.to),
        [str(c) for c in message.contacts],
        message.cseq,
    )


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_well_formed_messages_parse_to_their_values_and_round_trip(
    generated: tuple[bytes, dict[str, Any]],
) -> None:
    data, expect = generated
    message = parse_message(data)
    validate_message(message)
    assert [(v.transport, v.host, v.port, v.branch) for v in message.vias] == [
        (v["transport"], v["host"], v["port"], v["branch"]) for v in expect["vias"]
    ]
    check_name_addr(message.from_, expect["from"])
    check_name_addr(message.to, expect["to"])
    assert len(message.contacts) == len(expect["contacts"])
    for contact, contact_expect in zip(message.contacts, expect["contacts"], strict=True):
        check_name_addr(contact, contact_expect)
    assert message.call_id == expect["call_id"]
    assert (message.cseq.seq, message.cseq.method) == (expect["seq"], expect["method"])
    assert message.body == expect["body"]
    assert [f for f in message.headers if f[0].lower() in ("x-a", "x-b", "zz")] == expect["unknown"]
    wire = message.to_bytes()
    again = parse_message(wire)
    validate_message(again)
    assert semantic(again) == semantic(message)
    assert again.to_bytes() == wire


@FAST
@given(vias())
def test_lws_in_a_via_does_not_change_its_meaning(generated: tuple[str, dict[str, Any]]) -> None:
    text, _ = generated
    tight = Via.parse(text)
    assert Via.parse(str(tight)) == tight
    spaced = Via.parse(text.replace("/", " / ").replace(";", " ; "))
    assert (spaced.transport, spaced.host, spaced.port, list(spaced.params)) == (
        tight.transport,
        tight.host,
        tight.port,
        list(tight.params),
    )


@FAST
@given(sip_uris(), st.lists(st.tuples(_tokens, st.one_of(st.none(), _tokens)), max_size=3))
def test_name_addr_and_addr_spec_forms_agree(
    uri: str, params: list[tuple[str, str | None]]
) -> None:
    parsed_uri = parse_uri(uri)
    assert isinstance(parsed_uri, SipUri)
    tail = "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)
    bracketed = NameAddr.parse(f"<{uri}>{tail}")
    assert bracketed.uri == parsed_uri and list(bracketed.params) == params
    if not any(c in uri for c in ",;?"):
        # §20: only a URI without "," ";" "?" may go without <>; then every ";" starts a
        # header parameter (§20.10), and the value is the same.
        assert NameAddr.parse(f"{uri}{tail}") == bracketed


# -- 3. mutations of valid messages ---------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from(b'\r\n \t:;,<>"\\%[]@=/0\x00\xff'))
        elif kind == "insert":
            data[at:at] = draw(
                st.sampled_from([b"\r\n", b"\r\n ", b",", b";", b'"', b"%", b"\xc3"])
            )
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_valid_messages_raise_only_parse_errors(data: bytes) -> None:
    only_parse_errors(data)
