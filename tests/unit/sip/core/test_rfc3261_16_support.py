"""Builders shared by the RFC 3261 §16 proxy tests (no tests here).

The proxy under test listens on 192.0.2.10:5060 (UDP and TCP) and is also called
``proxy.example.com``; Alice is at 198.51.100.7, the branches go to 203.0.113.x. Nothing here
opens a socket or reads a clock.
"""

from __future__ import annotations

import itertools

from parley.sip.core.proxy import LocalAddresses, ResponseContext
from parley.sip.core.uac import SentBy
from parley.sip.syntax import Headers, Request, Response, make_response, parse_message
from parley.sip.transaction.events import Role, TransactionKey

PROXY_UDP = SentBy("UDP", "192.0.2.10", 5060)
PROXY_TCP = SentBy("TCP", "192.0.2.10", 5060)
LOCAL = LocalAddresses.of([PROXY_UDP, PROXY_TCP], aliases=["proxy.example.com"])
RECORD_ROUTE = "sip:proxy.example.com"
ALICE_VIA = "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKalice1;received=198.51.100.7;rport=40000"

_branches = itertools.count(1)


def fresh_branch() -> str:
    """A branch with the magic cookie, as ``IdGenerator.branch()`` would give."""
    return f"z9hG4bK{next(_branches):024x}"


def incoming(
    method: str = "INVITE",
    uri: str = "sip:bob@biloxi.example.com",
    *,
    via: str = ALICE_VIA,
    to_tag: str | None = None,
    max_forwards: str | None = "70",
    routes: tuple[str, ...] = (),
    extra: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> Request:
    """A request as it reaches the proxy from Alice (after the stack stamped its Via)."""
    to = "Bob <sip:bob@biloxi.example.com>" + (f";tag={to_tag}" if to_tag else "")
    fields = [("Via", via)]
    if max_forwards is not None:
        fields.append(("Max-Forwards", max_forwards))
    fields += [("Route", route) for route in routes]
    fields += [
        ("To", to),
        ("From", "Alice <sip:alice@atlanta.example.com>;tag=1928301774"),
        ("Call-ID", "a84b4c76e66710@pc33.atlanta.example.com"),
        ("CSeq", f"314159 {method}"),
        ("Contact", "<sip:alice@198.51.100.7:5060>"),
        *extra,
    ]
    return Request(method, uri, Headers(fields), body)


def wire(text: str) -> Request:
    """A request from its wire form, lines joined with CRLF (RFC 4475 style vectors)."""
    data = text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n"
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def answer(
    forwarded: Request,
    status: int,
    *,
    to_tag: str | None = "uas1",
    extra: list[tuple[str, str]] | None = None,
) -> Response:
    """What the next hop answers to the request we forwarded (§8.2.6)."""
    return make_response(forwarded, status, to_tag=None if status == 100 else to_tag, extra=extra)


def client_key(branch: str, method: str = "INVITE") -> TransactionKey:
    return TransactionKey(Role.CLIENT, method, branch)


def context(request: Request | None = None, **kwargs: float) -> ResponseContext:
    return ResponseContext(request or incoming(), to_tag="proxytag", **kwargs)
