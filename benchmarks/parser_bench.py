#!/usr/bin/env python3
"""SIP parser micro-benchmark: Parley against the Python peers sippy, sipmessage and pyVoIP.

Run from the repository root (after ``pip install -e '.[bench]'``)::

    python benchmarks/parser_bench.py            # full run, well under a minute on 2 cores
    python benchmarks/parser_bench.py --quick    # a few seconds, numbers are rough

What one "message" costs
------------------------
Every implementation gets an *adapter*: a function that takes the raw bytes of one message,
parses them with the library's own public API, reads what a proxy needs (top Via branch,
From tag, To tag, Call-ID, CSeq number and method, Event header or None, Content-Length or
None, body bytes) and serializes the parsed message back to bytes with the library's own
serializer. The adapter returns those nine values plus the serialized bytes. Timing covers
exactly that call, nothing else.

Correctness before speed
------------------------
Before anything is timed, each adapter runs once on every message of a set and its nine
values are compared with the truth for that message; the serialized bytes are then read back
by the reference extractor (below) and must yield the same values (a serializer may add a
Content-Length that the input lacked, as long as it equals the body length). A message on
which the adapter raises is counted as "fails", one with a wrong value as "incorrect". Only a
set on which the adapter is right for every message gets a throughput figure and a ratio to
Parley; for a set with failures the figure shown (marked ``*``) is measured on the subset of
messages it got right, which is not comparable with the other rows, and its ratio (also marked
``*``) is against Parley timed on that same subset.

Where the truth comes from
--------------------------
* NOTIFY and MESSAGE sets: the messages are written in this file (``build_notify`` and
  ``build_message``) and their truth is written by hand next to them.
* Torture set: the ``kind: valid`` messages of ``../shared/torture`` (RFC 4475 and RFC 5118,
  see its README and manifest.json), read at run time. Their truth is derived once per message
  by ``reference_extract`` in this file: a small, strict extractor written for this benchmark
  only from RFC 3261's grammar (header folding, compact forms v f t i l o, case-insensitive
  names and parameter names, LWS around ':' ';' '=' '/', quoted display names with
  quoted-pairs, name-addr vs addr-spec parameters, Content-Length framing), sharing no code with
  Parley or any peer. The extractor is checked at start-up against hand-written truth for the
  NOTIFY, the MESSAGE and six torture messages read by eye from the RFC files
  (``HAND_TRUTH_TORTURE``); the benchmark refuses to run if they disagree.
* The RFC 5118 files use bare LF and print Content-Length values that do not match their
  bodies (see the corpus README). As wire bytes they are converted LF -> CRLF, given the missing
  empty line where the header section is not terminated (section 4.10), and their
  Content-Length is rewritten to the CRLF body length. The changed files are listed in the
  output.

Implementations
---------------
* ``parley``      parley.sip.syntax.parse_message (skipped with a message if not importable).
* ``sippy``       sippy.SipRequest / sippy.SipResponse on ``bytes.decode()`` (UTF-8, as
                  sippy's own SipTransactionManager does), ``str(msg).encode()`` to serialize.
* ``sipmessage``  sipmessage.Message.parse, typed accessors, ``bytes(msg)``.
* ``pyVoIP``      pyVoIP.SIP.SIPMessage. pyVoIP has no serializer and keeps no raw body: the
                  adapter returns ``msg.raw`` (the input, unchanged) as its "serialization" and
                  takes the body with the same ``split(b"\\r\\n\\r\\n")`` pyVoIP itself does, so
                  its figures flatter it.
* ``ceiling``     a naive ``bytes.split`` into a dict, about 30 lines. NOT a peer and NOT a
                  parser: no folding, no compact forms, no validation. It is an upper bound for
                  pure-Python work on these messages, shown so that other figures have a scale.

Timing: ``time.perf_counter`` around N passes over the set, best of R rounds, with the garbage
collector disabled during a round (as ``timeit`` does). N is calibrated so that one round takes
about ``--round-time`` seconds.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TORTURE_DIR = REPO_ROOT.parent / "shared" / "torture"


# --------------------------------------------------------------------------------------------
# What an adapter returns
# --------------------------------------------------------------------------------------------


class Extract(NamedTuple):
    """The nine values a proxy reads from a message."""

    branch: str | None
    from_tag: str | None
    to_tag: str | None
    call_id: str
    cseq_seq: int
    cseq_method: str
    event: str | None
    content_length: int | None
    body: bytes


# An adapter returns the nine Extract values followed by the serialized bytes.
Result = tuple[Any, ...]
Adapter = Callable[[bytes], Result]
FIELDS = Extract._fields


# --------------------------------------------------------------------------------------------
# The reference extractor (truth for the torture set)
# --------------------------------------------------------------------------------------------


class RefParseError(ValueError):
    """The reference extractor rejected a message."""


_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "l": "content-length",
    "o": "event",
    "m": "contact",
    "c": "content-type",
    "s": "subject",
    "k": "supported",
    "e": "content-encoding",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "y": "identity",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
}
_FOLD = re.compile(rb"\r\n[ \t]+")
_REQUEST_LINE = re.compile(rb"(" + _TOKEN.encode() + rb") ([^ \r\n]+) SIP/2\.0\Z", re.I)
_STATUS_LINE = re.compile(rb"SIP/2\.0 ([1-9][0-9]{2}) [^\r\n]*\Z", re.I)
_HEADER_LINE = re.compile(rb"(" + _TOKEN.encode() + rb")[ \t]*:(.*)\Z", re.S)
_VIA_PARM = re.compile(
    r"SIP\s*/\s*2\.0\s*/\s*(" + _TOKEN + r")\s+"  # protocol and transport
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)"  # host
    r"(?:\s*:\s*[0-9]+)?"  # port
    r"\s*(.*)\Z",
    re.S | re.I,
)
_PARAM = re.compile(
    r"\s*(" + _TOKEN + r")"
    r"(?:\s*=\s*(" + _TOKEN + r"|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+|\"(?:[^\"\\]|\\.)*\"))?\s*\Z",
    re.S,
)
_CSEQ = re.compile(r"([0-9]+)\s+(" + _TOKEN + r")\Z")
_WORDISH = re.compile(r"[^\s]+\Z")
_DIGITS = re.compile(r"[0-9]+\Z")


def _split_outside_quotes(value: str, sep: str) -> list[str]:
    """Split at ``sep`` where it is not inside a quoted-string (honouring quoted-pairs)."""
    parts: list[str] = []
    start = 0
    in_quotes = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if in_quotes:
            if ch == "\\":
                i += 1  # quoted-pair: skip the escaped character
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == sep:
            parts.append(value[start:i])
            start = i + 1
        i += 1
    if in_quotes:
        raise RefParseError("unterminated quoted-string")
    parts.append(value[start:])
    return parts


def _params(text: str) -> dict[str, str | None]:
    """Parse ``*( SEMI param )`` into a dict keyed by lower-cased name; reject duplicates."""
    text = text.strip()
    if not text:
        return {}
    if not text.startswith(";"):
        raise RefParseError(f"junk before parameters: {text[:40]!r}")
    out: dict[str, str | None] = {}
    for piece in _split_outside_quotes(text, ";")[1:]:
        m = _PARAM.match(piece)
        if m is None:
            raise RefParseError(f"bad parameter: {piece[:40]!r}")
        name = m.group(1).lower()
        if name in out:
            raise RefParseError(f"duplicate parameter {name!r}")
        out[name] = m.group(2)
    return out


def _address_tag(value: str) -> str | None:
    """The tag of a From/To value, name-addr or addr-spec form."""
    v = value.strip()
    i = 0
    if v.startswith('"'):  # quoted display name; may contain '<', ';', ',' and quoted-pairs
        i = 1
        while True:
            if i >= len(v):
                raise RefParseError("unterminated display name")
            if v[i] == "\\":
                i += 2
                continue
            if v[i] == '"':
                i += 1
                break
            i += 1
        rest = v[i:].lstrip()
        if not rest.startswith("<"):
            raise RefParseError("quoted display name not followed by '<'")
    lt = v.find("<", i)
    if lt != -1:
        gt = v.find(">", lt)
        if gt == -1:
            raise RefParseError("'<' without '>'")
        params = v[gt + 1 :]
    else:
        # addr-spec: RFC 3261 section 20 says a URI with ';' must be in brackets, so the
        # first ';' starts the header parameters.
        semi = v.find(";")
        params = "" if semi == -1 else v[semi:]
        if " " in (v if semi == -1 else v[:semi]).strip():
            raise RefParseError("whitespace inside addr-spec")
    return _params(params).get("tag")


def reference_extract(data: bytes) -> Extract:
    """Strict RFC 3261 extraction of the nine proxy values; raises RefParseError."""
    end = data.find(b"\r\n\r\n")
    if end == -1:
        raise RefParseError("no CRLF CRLF after the header section")
    head, rest = data[:end], data[end + 4 :]
    if b"\r" in head.replace(b"\r\n", b"") or b"\n" in head.replace(b"\r\n", b""):
        raise RefParseError("bare CR or LF in the header section")
    lines = _FOLD.sub(b" ", head).split(b"\r\n")
    if not (_REQUEST_LINE.match(lines[0]) or _STATUS_LINE.match(lines[0])):
        raise RefParseError(f"bad start line {lines[0][:60]!r}")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        m = _HEADER_LINE.match(line)
        if m is None:
            raise RefParseError(f"bad header line {line[:60]!r}")
        name = m.group(1).decode("ascii").lower()
        name = _COMPACT.get(name, name)
        headers.setdefault(name, []).append(m.group(2).decode("utf-8").strip(" \t"))

    def one(name: str, required: bool) -> str | None:
        values = headers.get(name, [])
        if len(values) > 1:
            raise RefParseError(f"{name} appears {len(values)} times")
        if not values:
            if required:
                raise RefParseError(f"{name} missing")
            return None
        return values[0]

    vias = headers.get("via")
    if not vias:
        raise RefParseError("via missing")
    top = _split_outside_quotes(vias[0], ",")[0]
    vm = _VIA_PARM.match(top.strip())
    if vm is None:
        raise RefParseError(f"bad Via {top[:60]!r}")
    branch = _params(vm.group(3)).get("branch")

    from_v = one("from", True)
    to_v = one("to", True)
    call_id = one("call-id", True)
    cseq_v = one("cseq", True)
    assert from_v is not None and to_v is not None and call_id is not None and cseq_v is not None
    if not _WORDISH.match(call_id):
        raise RefParseError(f"bad Call-ID {call_id!r}")
    cm = _CSEQ.match(cseq_v)
    if cm is None:
        raise RefParseError(f"bad CSeq {cseq_v!r}")
    cl_v = one("content-length", False)
    content_length: int | None = None
    if cl_v is not None:
        if not _DIGITS.match(cl_v):
            raise RefParseError(f"bad Content-Length {cl_v!r}")
        content_length = int(cl_v)
        if len(rest) < content_length:
            raise RefParseError(f"body shorter ({len(rest)}) than Content-Length")
        body = rest[:content_length]
    else:
        body = rest  # datagram semantics: the rest of the packet is the body
    return Extract(
        branch=branch,
        from_tag=_address_tag(from_v),
        to_tag=_address_tag(to_v),
        call_id=call_id,
        cseq_seq=int(cm.group(1)),
        cseq_method=cm.group(2),
        event=one("event", False),
        content_length=content_length,
        body=body,
    )


# --------------------------------------------------------------------------------------------
# Message sets
# --------------------------------------------------------------------------------------------


@dataclass
class Message:
    name: str
    data: bytes
    truth: Extract


@dataclass
class MessageSet:
    key: str
    title: str
    messages: list[Message]
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None


def _crlf_message(start_and_headers: list[str], body: bytes) -> bytes:
    head = "\r\n".join([*start_and_headers, f"Content-Length: {len(body)}"])
    return head.encode("ascii") + b"\r\n\r\n" + body


NOTIFY_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
    b'<presence xmlns="urn:ietf:params:xml:ns:pidf"\r\n'
    b'    entity="pres:poisson@probability.org">\r\n'
    b'  <tuple id="t8m3r2">\r\n'
    b"    <status>\r\n"
    b"      <basic>closed</basic>\r\n"
    b"    </status>\r\n"
    b"  </tuple>\r\n"
    b"</presence>\r\n"
)


def build_notify() -> Message:
    """The seed's presence NOTIFY, poisson -> chebychev, over TCP."""
    data = _crlf_message(
        [
            "NOTIFY sip:chebychev@academy.ru SIP/2.0",
            "Via: SIP/2.0/TCP dist.probability.org:5060;branch=z9hG4bK4321",
            "To: <sip:chebychev@academy.ru>;tag=21171",
            "From: <sip:poisson@probability.org>;tag=25140",
            "Call-ID: 58dkfj34924lk34452k592520",
            "CSeq: 1026 NOTIFY",
            "Max-Forwards: 70",
            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, SUBSCRIBE, NOTIFY, MESSAGE",
            "Allow-Events: presence",
            "Contact: <sip:poisson@dist.probability.org;transport=tcp>",
            "Subscription-State: active;expires=3600",
            "Event: presence",
            "Content-Type: application/cpim-pidf+xml",
        ],
        NOTIFY_BODY,
    )
    truth = Extract(
        branch="z9hG4bK4321",
        from_tag="25140",
        to_tag="21171",
        call_id="58dkfj34924lk34452k592520",
        cseq_seq=1026,
        cseq_method="NOTIFY",
        event="presence",
        content_length=len(NOTIFY_BODY),
        body=NOTIFY_BODY,
    )
    return Message("notify", data, truth)


MESSAGE_BODY = b"Hi There!"


def build_message() -> Message:
    """A pager-mode MESSAGE with a text/plain body, outside any dialog (no To tag)."""
    data = _crlf_message(
        [
            "MESSAGE sip:chebychev@academy.ru SIP/2.0",
            "Via: SIP/2.0/TCP laptop.probability.org:5060;branch=z9hG4bK2a7c91",
            "Max-Forwards: 70",
            "From: <sip:poisson@probability.org>;tag=8817",
            "To: <sip:chebychev@academy.ru>",
            "Call-ID: m4q7xw02@laptop.probability.org",
            "CSeq: 5 MESSAGE",
            "Content-Type: text/plain",
        ],
        MESSAGE_BODY,
    )
    truth = Extract(
        branch="z9hG4bK2a7c91",
        from_tag="8817",
        to_tag=None,
        call_id="m4q7xw02@laptop.probability.org",
        cseq_seq=5,
        cseq_method="MESSAGE",
        event=None,
        content_length=len(MESSAGE_BODY),
        body=MESSAGE_BODY,
    )
    return Message("message", data, truth)


# Truth read by eye from the RFC 4475 files, used only to check the reference extractor.
# Bodies are given by length (the value) and are checked to be the bytes after the blank line.
# fmt: off
HAND_TRUTH_TORTURE: dict[str, tuple[Any, ...]] = {
    # 3.1.1.1: folding everywhere, LWS around ':', compact v/m/s, CSeq 0009; the top Via is
    # the first Via *line* (folded over three lines), not the later compact 'v'.
    "wsinv.dat": ("390skdjuw", "98asjd8", "1918181833n", "wsinv.ndaksdj@192.0.2.1",
                  9, "INVITE", None, 150, 150),
    # 3.1.1.2: odd but legal token characters in method, branch, tag, Call-ID.
    "intmeth.dat": ("z9hG4bK-.!%66*_+`'~", "_token~1'+`*%!-.", None,
                    "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
                    139122385, "!interesting-Method0123456789_*+`.%indeed'~", None, 0, 0),
    # 3.1.1.3: compact i / C / l, no To tag.
    "esc01.dat": ("z9hG4bKkdjuw", "938", None, "esc01.239409asdfakjkn23onasd0-3234",
                  234234, "INVITE", None, 150, 150),
    # 3.1.1.8: a UDP datagram holding a REGISTER (Content-Length 0) and trailing octets.
    "dblreq.dat": ("z9hG4bKkdjuw23492", "43251j3j324", None,
                   "dblreq.0ha0isndaksdj99sdfafnl3lk233412", 8, "REGISTER", None, 0, 0),
    # 3.1.1.13: response with an empty reason phrase.
    "noreason.dat": ("z9hG4bK2398ndaoe", "39ansfi3", "902jndnke3",
                     "noreason.asndj203insdf99223ndf", 35, "INVITE", None, 0, 0),
    # 3.4.1: RFC 2543 syntax: no branch, no tags, no Content-Length (body = rest of datagram).
    "inv2543.dat": (None, None, None, "inv2543.1717@ift.client.example.com",
                    56, "INVITE", None, None, 105),
}
# fmt: on


def _wire_bytes_5118(raw: bytes) -> tuple[bytes, str | None]:
    """LF -> CRLF, terminate the header section if needed, fix Content-Length."""
    if b"\r" in raw:
        return raw, None
    data = raw.replace(b"\n", b"\r\n")
    changes = ["LF->CRLF"]
    if b"\r\n\r\n" not in data:
        data += b"\r\n"
        changes.append("added the empty line ending the headers")
    end = data.index(b"\r\n\r\n")
    head, body = data[:end], data[end + 4 :]
    m = re.search(rb"(?im)^(content-length|l)([ \t]*:[ \t]*)([0-9]+)[ \t]*$", head)
    if m is not None and int(m.group(3)) != len(body):
        changes.append(f"Content-Length {int(m.group(3))}->{len(body)}")
        head = head[: m.start(3)] + str(len(body)).encode() + head[m.end(3) :]
    return head + b"\r\n\r\n" + body, ", ".join(changes)


def load_torture(folder: Path) -> MessageSet:
    mset = MessageSet("torture", "torture (RFC 4475/5118 valid)", [])
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        mset.skipped = f"no torture corpus at {folder} (manifest.json missing)"
        return mset
    entries = json.loads(manifest.read_text())
    for entry in entries:
        if entry.get("kind") != "valid":
            continue
        fname = entry["file"]
        raw = (folder / fname).read_bytes()
        data, change = _wire_bytes_5118(raw)
        if change:
            mset.notes.append(f"{fname}: {change}")
        try:
            truth = reference_extract(data)
        except RefParseError as exc:
            mset.notes.append(f"{fname}: skipped, the reference extractor rejects it ({exc})")
            continue
        hand = HAND_TRUTH_TORTURE.get(fname)
        if hand is not None:
            *values, body_len = hand
            expect = Extract._make([*values, truth.body])
            if truth != expect or len(truth.body) != body_len:
                raise SystemExit(
                    f"reference extractor disagrees with the hand truth on {fname}:\n"
                    f"  reference: {truth[:8]} body={len(truth.body)}\n"
                    f"  hand:      {tuple(values)} body={body_len}"
                )
        mset.messages.append(Message(fname.removesuffix(".dat"), data, truth))
    if not mset.messages:
        mset.skipped = "no valid messages in the torture corpus"
    return mset


def build_sets(torture_dir: Path) -> list[MessageSet]:
    notify, message = build_notify(), build_message()
    for msg in (notify, message):  # the reference must agree with the hand-written truth
        ref = reference_extract(msg.data)
        if ref != msg.truth:
            raise SystemExit(f"reference extractor disagrees with the hand truth on {msg.name}")
    return [
        MessageSet("notify", "NOTIFY (presence, PIDF)", [notify]),
        MessageSet("message", "MESSAGE (text/plain)", [message]),
        load_torture(torture_dir),
    ]


# --------------------------------------------------------------------------------------------
# Adapters
# --------------------------------------------------------------------------------------------


@dataclass
class Impl:
    key: str
    label: str
    adapter: Adapter | None
    version: str
    role: str = "peer"  # "subject", "peer" or "ceiling"
    skipped: str | None = None


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def make_parley() -> Impl:
    try:
        try:
            from parley.sip.syntax import parse_message
        except ImportError:
            # Not installed (pip install -e .): fall back to the source tree.
            src = str(REPO_ROOT / "src")
            if src not in sys.path:
                sys.path.insert(0, src)
            for mod in [m for m in sys.modules if m == "parley" or m.startswith("parley.")]:
                del sys.modules[mod]
            from parley.sip.syntax import parse_message
    except Exception as exc:  # ImportError, or a half-written module
        return Impl(
            "parley",
            "Parley",
            None,
            "-",
            "subject",
            skipped=f"parley.sip.syntax.parse_message not importable ({type(exc).__name__}: {exc})",
        )

    def parley_adapter(data: bytes) -> Result:
        msg = parse_message(data)
        cseq = msg.cseq
        return (
            msg.top_via.branch,
            msg.from_.tag,
            msg.to.tag,
            msg.call_id,
            cseq.seq,
            cseq.method,
            msg.headers.get("Event"),
            msg.content_length,
            msg.body,
            msg.to_bytes(),
        )

    return Impl("parley", "Parley", parley_adapter, _version("parley"), "subject")


def make_sippy() -> Impl:
    try:
        from sippy.SipRequest import SipRequest  # type: ignore[import-untyped]
        from sippy.SipResponse import SipResponse  # type: ignore[import-untyped]
    except Exception as exc:
        return Impl("sippy", "sippy", None, "-", skipped=f"not installed ({exc})")

    def sippy_adapter(data: bytes) -> Result:
        # sippy works on str: its SipTransactionManager does data.decode() (strict UTF-8) and
        # picks the class by the "SIP/2.0 " prefix; we do the same.
        text = data.decode()
        msg = SipResponse(text) if text.startswith("SIP/2.0 ") else SipRequest(text)
        cseq, method = msg.getHFBody("cseq").getCSeq()
        events = msg.getHFs("event")
        # sippy strips Content-Length out of the header list into a name-mangled private
        # attribute; it has no public accessor for the received value.
        cl_hf = msg._SipMsg__content_length
        body = msg.getBody()
        return (
            msg.getHFBody("via").getBranch(),
            msg.getHFBody("from").getTag(),
            msg.getHFBody("to").getTag(),
            str(msg.getHFBody("call-id")),
            cseq,
            method,
            str(events[0].getBody()) if events else None,
            None if cl_hf is None else cl_hf.getBody().getNum(),
            b"" if body is None else str(body).encode(),
            str(msg).encode(),
        )

    return Impl("sippy", "sippy", sippy_adapter, _version("sippy"))


def make_sipmessage() -> Impl:
    try:
        from sipmessage import Address, Message, Via
    except Exception as exc:
        return Impl("sipmessage", "sipmessage", None, "-", skipped=f"not installed ({exc})")

    def sipmessage_adapter(data: bytes) -> Result:
        msg = Message.parse(data)
        headers = msg.headers
        # msg.via would parse every Via of the message; a proxy needs only the top one, so
        # parse the first Via header field value (public API: Via.parse_many).
        top_via = Via.parse_many(headers.getlist("Via")[0])[0]
        cseq = msg.cseq
        return (
            top_via.parameters.get("branch"),
            Address.parse(headers["From"]).parameters.get("tag"),
            Address.parse(headers["To"]).parameters.get("tag"),
            msg.call_id,
            cseq.sequence,
            cseq.method,
            headers.get("Event"),
            msg.content_length,
            msg.body,
            bytes(msg),
        )

    return Impl("sipmessage", "sipmessage", sipmessage_adapter, _version("sipmessage"))


def make_pyvoip() -> Impl:
    try:
        # pyVoIP.SIP cannot be imported first (circular import with pyVoIP.VoIP, which then
        # fails with AttributeError); importing pyVoIP.VoIP first works.
        import pyVoIP.VoIP  # noqa: F401
        from pyVoIP.SIP import SIPMessage
    except Exception as exc:
        return Impl("pyvoip", "pyVoIP", None, "-", skipped=f"not installed ({exc})")

    def pyvoip_adapter(data: bytes) -> Result:
        msg = SIPMessage(data)
        h = msg.headers
        cseq = h["CSeq"]
        # pyVoIP keeps only a parsed-SDP dict as body and has no serializer: take the body as
        # pyVoIP's own parse() splits it, and hand back the raw input as the "serialization".
        return (
            h["Via"][0].get("branch"),
            h["From"]["tag"] or None,  # pyVoIP reports a missing tag as ""
            h["To"]["tag"] or None,
            h["Call-ID"],
            int(cseq["check"]),
            cseq["method"],
            h.get("Event"),
            h.get("Content-Length"),
            data.split(b"\r\n\r\n")[1],
            msg.raw,
        )

    return Impl("pyvoip", "pyVoIP", pyvoip_adapter, _version("pyVoIP"))


def ceiling_adapter(data: bytes) -> Result:
    """Naive bytes.split into a dict: a speed ceiling, wrong on folding and compact forms."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    pairs = []
    first: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip(), value.strip()
        pairs.append((name, value))
        first.setdefault(name.lower(), value)

    def param(value: bytes, key: bytes) -> str | None:
        parts = value.split(key, 1)
        return parts[1].split(b";", 1)[0].split(b",", 1)[0].decode() if len(parts) == 2 else None

    seq, method = first[b"cseq"].split(None, 1)
    event = first.get(b"event")
    clen = first.get(b"content-length")
    length = None if clen is None else int(clen)
    body = rest if length is None else rest[:length]
    wire = b"".join(
        [lines[0], b"\r\n", *[n + b": " + v + b"\r\n" for n, v in pairs], b"\r\n", body]
    )
    return (
        param(first[b"via"], b";branch="),
        param(first[b"from"], b";tag="),
        param(first[b"to"], b";tag="),
        first[b"call-id"].decode(),
        int(seq),
        method.decode(),
        None if event is None else event.decode(),
        length,
        body,
        wire,
    )


def make_ceiling() -> Impl:
    return Impl("ceiling", "ceiling (naive split)", ceiling_adapter, "-", "ceiling")


IMPL_FACTORIES: dict[str, Callable[[], Impl]] = {
    "parley": make_parley,
    "sippy": make_sippy,
    "sipmessage": make_sipmessage,
    "pyvoip": make_pyvoip,
    "ceiling": make_ceiling,
}


# --------------------------------------------------------------------------------------------
# Correctness
# --------------------------------------------------------------------------------------------


def _short(value: Any, limit: int = 48) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_message(adapter: Adapter, msg: Message) -> tuple[str, str | None]:
    """Return ("ok" | "incorrect" | "fails", detail)."""
    try:
        result = adapter(msg.data)
    except Exception as exc:
        return "fails", f"{type(exc).__name__}: {_short(str(exc), 90)}"
    if len(result) != len(FIELDS) + 1:
        return "incorrect", f"adapter returned {len(result)} values"
    got = Extract(*result[: len(FIELDS)])
    diffs = [
        f"{name}: got {_short(g)} want {_short(w)}"
        for name, g, w in zip(FIELDS, got, msg.truth, strict=True)
        if g != w or type(g) is not type(w)
    ]
    if diffs:
        return "incorrect", "; ".join(diffs)
    wire = result[-1]
    if not isinstance(wire, bytes):
        return "incorrect", f"serialized to {type(wire).__name__}, not bytes"
    try:
        again = reference_extract(wire)
    except RefParseError as exc:
        return "incorrect", f"serialized bytes do not parse: {exc}"
    truth = msg.truth
    rt_diffs = [
        name
        for name, a, w in zip(FIELDS, again, truth, strict=True)
        if a != w and not (name == "content_length" and w is None and a == len(truth.body))
    ]
    if rt_diffs:
        return "incorrect", "round trip changed " + ", ".join(rt_diffs)
    return "ok", None


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def _one_round(adapter: Adapter, payloads: Sequence[bytes], n: int) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            for data in payloads:
                adapter(data)
        return time.perf_counter() - t0
    finally:
        if gc_was_enabled:
            gc.enable()


def measure(adapter: Adapter, payloads: Sequence[bytes], round_time: float, rounds: int) -> float:
    """Messages per second: best of ``rounds`` rounds of about ``round_time`` seconds."""
    n = 1
    while True:  # calibrate
        elapsed = _one_round(adapter, payloads, n)
        if elapsed >= round_time / 4 or n >= 1 << 24:
            break
        n *= 4 if elapsed < round_time / 40 else 2
    n = max(1, math.ceil(n * round_time / max(elapsed, 1e-9)))
    best = min(_one_round(adapter, payloads, n) for _ in range(rounds))
    return n * len(payloads) / best


@dataclass
class Cell:
    status: str  # ok, incorrect, fails, skipped
    ok: int = 0
    total: int = 0
    rate: float | None = None  # messages/s
    partial: bool = False
    details: list[str] = field(default_factory=list)
    good: list[bytes] = field(default_factory=list, repr=False)
    parley_same_subset: float | None = None  # Parley's rate on ``good`` when partial


def evaluate(impl: Impl, mset: MessageSet, round_time: float, rounds: int) -> Cell:
    if impl.adapter is None or mset.skipped:
        return Cell("skipped")
    results = [(m, *check_message(impl.adapter, m)) for m in mset.messages]
    good = [m for m, status, _ in results if status == "ok"]
    n_fail = sum(1 for _, s, _ in results if s == "fails")
    n_bad = sum(1 for _, s, _ in results if s == "incorrect")
    status = "fails" if n_fail else "incorrect" if n_bad else "ok"
    cell = Cell(status, len(good), len(results))
    cell.details = [f"{m.name}: {s}: {d}" for m, s, d in results if s != "ok"]
    if good:
        cell.good = [m.data for m in good]
        cell.rate = measure(impl.adapter, cell.good, round_time, rounds)
        cell.partial = len(good) != len(results)
    return cell


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def print_report(
    impls: list[Impl],
    sets: list[MessageSet],
    cells: dict[tuple[str, str], Cell],
    args: argparse.Namespace,
) -> None:
    print()
    print(f"SIP parser benchmark  {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.system()} {platform.machine()}, {_cpu_model()}, {os.cpu_count()} CPUs"
    )
    print(f"best of {args.rounds} rounds of ~{args.round_time:g} s each, gc off during rounds")
    print("versions: " + ", ".join(f"{i.label}={i.version}" for i in impls))
    for impl in impls:
        if impl.skipped:
            print(f"SKIPPED {impl.label}: {impl.skipped}")
    for mset in sets:
        if mset.skipped:
            print(f"SKIPPED set {mset.key}: {mset.skipped}")
    print()

    name_w = max(len("implementation"), *(len(i.label) for i in impls)) + 2
    header = (
        f"{'set':<10} {'implementation':<{name_w}} {'msgs/s':>12}  {'correctness':<18} vs Parley"
    )
    print(header)
    print("-" * len(header))
    for mset in sets:
        if mset.skipped:
            continue
        parley = cells.get(("parley", mset.key))
        base = parley.rate if parley and parley.status == "ok" else None
        for impl in impls:
            cell = cells[(impl.key, mset.key)]
            if cell.status == "skipped":
                rate, corr, ratio = "-", "skipped", "-"
            else:
                corr = (
                    "ok"
                    if cell.status == "ok"
                    else f"{cell.status} {cell.total - cell.ok}/{cell.total}"
                )
                if cell.rate is None:
                    rate = "-"
                else:
                    rate = f"{cell.rate:,.0f}" + ("*" if cell.partial else " ")
                if cell.status == "ok" and base and cell.rate:
                    ratio = f"{cell.rate / base:.2f}x"
                elif cell.partial and cell.rate and cell.parley_same_subset:
                    ratio = f"{cell.rate / cell.parley_same_subset:.2f}x*"
                else:
                    ratio = "-" if base or impl.key == "parley" else "n/a"
            print(f"{mset.key:<10} {impl.label:<{name_w}} {rate:>13} {corr:<18} {ratio}")
        print()
    print("* measured only on the messages this implementation got right, so not comparable with")
    print("  the other rows; its ratio is against Parley timed on that same subset of messages.")
    print("ceiling = naive bytes.split into a dict: an upper bound for speed, not a peer;")
    print("          it ignores folding and compact forms and validates nothing.")
    print("pyVoIP has no serializer: its adapter returns the input bytes unchanged.")
    print("set sizes: " + ", ".join(f"{s.key}={len(s.messages)}" for s in sets if not s.skipped))

    notes = [n for s in sets for n in s.notes]
    if notes:
        print("\nTorture corpus adjustments (RFC 5118 files are LF; see the corpus README.md):")
        for n in notes:
            print(f"  {n}")
    details = [(impl, mset, cells[(impl.key, mset.key)]) for mset in sets for impl in impls]
    details = [d for d in details if d[2].details]
    if details:
        print("\nCorrectness details (per message: the exception, or every wrong value):")
        for impl, mset, cell in details:
            print(f"  {impl.label} / {mset.key}:")
            shown = cell.details if args.verbose else cell.details[:6]
            for line in shown:
                print(f"    {line[:160]}")
            if len(cell.details) > len(shown):
                print(f"    ... {len(cell.details) - len(shown)} more (use --verbose)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short rounds (3 x 0.03 s): a smoke run, numbers are rough",
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per measurement (5)")
    parser.add_argument(
        "--round-time", type=float, default=None, help="target seconds per round (0.25)"
    )
    parser.add_argument(
        "--impl",
        action="append",
        choices=sorted(IMPL_FACTORIES),
        help="only these implementations (repeatable); default all",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        choices=["notify", "message", "torture"],
        help="only these message sets (repeatable); default all",
    )
    parser.add_argument(
        "--torture-dir",
        type=Path,
        default=DEFAULT_TORTURE_DIR,
        help=f"torture corpus folder (default {DEFAULT_TORTURE_DIR})",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--verbose", action="store_true", help="list every correctness problem")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.round_time = args.round_time or (0.03 if args.quick else 0.25)

    sets = build_sets(args.torture_dir)
    if args.sets:
        sets = [s for s in sets if s.key in args.sets]
    keys = args.impl or list(IMPL_FACTORIES)
    if "parley" not in keys:
        keys = ["parley", *keys]  # always load it so ratios have a base
    impls = [IMPL_FACTORIES[k]() for k in IMPL_FACTORIES if k in keys]

    cells: dict[tuple[str, str], Cell] = {}
    t0 = time.perf_counter()
    for mset in sets:
        for impl in impls:
            if args.impl and impl.key not in args.impl and impl.key != "parley":
                cells[(impl.key, mset.key)] = Cell("skipped")
                continue
            cell = evaluate(impl, mset, args.round_time, args.rounds)
            cells[(impl.key, mset.key)] = cell
            parley = next((i for i in impls if i.key == "parley"), None)
            parley_cell = cells.get(("parley", mset.key))
            if (
                cell.partial
                and parley is not None
                and parley.adapter is not None
                and parley_cell is not None
                and parley_cell.status == "ok"
            ):
                cell.parley_same_subset = measure(
                    parley.adapter, cell.good, args.round_time, args.rounds
                )
            if sys.stderr.isatty():
                print(
                    f"  measured {impl.label:<22} on {mset.key:<8} "
                    f"({time.perf_counter() - t0:5.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    print_report(impls, sets, cells, args)

    if args.json:
        out = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "cpu": _cpu_model(),
            "cpus": os.cpu_count(),
            "rounds": args.rounds,
            "round_time": args.round_time,
            "versions": {i.key: i.version for i in impls},
            "skipped": {i.key: i.skipped for i in impls if i.skipped},
            "results": [
                {
                    "impl": ik,
                    "set": sk,
                    "status": c.status,
                    "ok": c.ok,
                    "total": c.total,
                    "msgs_per_s": c.rate,
                    "partial": c.partial,
                    "parley_msgs_per_s_same_subset": c.parley_same_subset,
                    "details": c.details,
                }
                for (ik, sk), c in cells.items()
            ],
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
