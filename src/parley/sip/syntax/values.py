"""Parsed forms of the header values every SIP element reads: Via, name-addr, CSeq.

Each type parses from the text of one list element and serialises back with ``str()``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from parley.sip.errors import ParseError
from parley.sip.syntax.abnf import (
    LWS,
    TOKEN_RE,
    TOKENS_RE,
    find_quote_end,
    parse_uint,
    quote,
    split_outside,
    unquote,
)
from parley.sip.syntax.params import Params
from parley.sip.syntax.uri import SipUri, Uri, _parse_hostport, format_host, parse_uri

#: §8.1.1.7: branches of RFC 3261 elements start with this cookie.
MAGIC_COOKIE = "z9hG4bK"

# sent-protocol LWS sent-by; LWS may surround each "/" (RFC 4475 wsinv).
_VIA_RE = re.compile(r"([^/ \t]+)[ \t]*/[ \t]*([^/ \t]+)[ \t]*/[ \t]*([^ \t;]+)[ \t]+([^ \t;]+)[ \t]*")


@dataclass(slots=True)
class Via:
    """One Via element (§20.42): ``SIP/2.0/UDP host:port;branch=...``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=Params)
    protocol: str = "SIP/2.0"

    @classmethod
    def parse(cls, text: str) -> Via:
        head, semi, rest = text.partition(";") if '"' not in text else _split_first_param(text)
        m = _VIA_RE.fullmatch(head.strip(LWS))
        if m is None:
            raise ParseError("malformed Via")
        name, version, transport, sent_by = m.groups()
        if TOKEN_RE.fullmatch(name) is None or TOKEN_RE.fullmatch(version) is None:
            raise ParseError("malformed Via protocol")
        if TOKEN_RE.fullmatch(transport) is None:
            raise ParseError("malformed Via transport")
        host, port = _parse_hostport(sent_by)
        params = Params.parse(rest) if semi else Params()
        return cls(transport.upper(), host, port, params, f"{name}/{version}")

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        value = self.params.get("rport")
        return int(value) if value and value.isdigit() else None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host, self.port

    @property
    def rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie and something after it (§17.2.3);
        a bare cookie (RFC 4475 badbranch) falls back to RFC 2543 matching."""
        branch = self.branch
        return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > 7

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{self.params}"


def _split_first_param(text: str) -> tuple[str, str, str]:
    parts = split_outside(text, ";")
    if len(parts) == 1:
        return parts[0], "", ""
    return parts[0], ";", ";".join(parts[1:])


@dataclass(slots=True)
class NameAddr:
    """A From, To, Contact, Route or Record-Route value: optional display name, URI, params.

    ``bracketed`` records whether the URI was in ``<>``; serialising always brackets it when
    the URI has parameters or headers, so that they never turn into header parameters.
    """

    uri: Uri
    display_name: str | None = None
    params: Params = field(default_factory=Params)

    @classmethod
    def parse(cls, text: str, *, allow_star: bool = False) -> NameAddr:
        text = text.strip(LWS)
        display: str | None = None
        if text.startswith('"'):
            end = find_quote_end(text, 0)
            display = unquote(text[: end + 1])
            rest = text[end + 1 :].lstrip(LWS)
            if not rest.startswith("<"):
                raise ParseError("quoted display name without <URI>")
            return cls._bracketed(rest, display)
        lt = text.find("<")
        if lt >= 0:
            name = text[:lt].strip(LWS)
            if name:
                # RFC 4475 lwsdisp: no LWS between the tokens and "<" is accepted; baddn:
                # unquoted non-token characters are not.
                if TOKENS_RE.fullmatch(name) is None:
                    raise ParseError("display name with characters that need quotes")
                display = name
            return cls._bracketed(text[lt:], display)
        # addr-spec: every ";" after the URI starts a header parameter (§20.10).
        uri_text, semi, rest = text.partition(";")
        uri_text = uri_text.rstrip(LWS)
        if any(c in uri_text for c in " \t,?"):
            raise ParseError("addr-spec with characters that need <>")
        return cls(parse_uri(uri_text), None, Params.parse(rest) if semi else Params())

    @classmethod
    def _bracketed(cls, text: str, display: str | None) -> NameAddr:
        gt = text.find(">")
        if gt < 0:
            raise ParseError("unterminated <URI>")
        # RFC 4475 badaspec: white space inside <> is refused, not guessed around.
        uri = parse_uri(text[1:gt])
        rest = text[gt + 1 :].strip(LWS)
        params = Params()
        if rest:
            if not rest.startswith(";"):
                raise ParseError("junk after <URI>")
            params = Params.parse(rest[1:])
        return cls(uri, display, params)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def sip_uri(self) -> SipUri:
        """The URI, which must be ``sip:``/``sips:`` (416 otherwise)."""
        if not isinstance(self.uri, SipUri):
            raise ParseError(f"unsupported URI scheme {self.uri.scheme!r}", 416)
        return self.uri

    def __str__(self) -> str:
        display = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{display}<{self.uri}>{self.params}"


@dataclass(frozen=True, slots=True)
class CSeq:
    """§20.16: a sequence number below 2**31 and the request's method."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2:
            raise ParseError("malformed CSeq")
        # §8.1.1.5: the number MUST be less than 2**31 (RFC 4475 scalar02).
        seq = parse_uint(parts[0], "CSeq number", 2**31 - 1)
        if TOKEN_RE.fullmatch(parts[1]) is None:
            raise ParseError("malformed CSeq method")
        return cls(seq, parts[1])

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_star_or_contacts(values: list[str]) -> list[NameAddr] | None:
    """The Contact values of a REGISTER: None for ``*`` (§10.2.2), else the parsed list."""
    if len(values) == 1 and values[0].strip(LWS) == "*":
        return None
    if any(v.strip(LWS) == "*" for v in values):
        raise ParseError("Contact * mixed with other contacts")
    return [NameAddr.parse(v) for v in values]


def is_ip_literal(host: str) -> bool:
    bare = host[1:-1] if host.startswith("[") else host
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return False
    return True


__all__ = ["MAGIC_COOKIE", "CSeq", "NameAddr", "Via", "format_host", "is_ip_literal"]
