"""Parsed forms of the header values every SIP element reads: Via, name-addr, CSeq.

Each type parses from the text of one list element and serialises back with ``str()``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from parley.sip.errors import ParseError
from parley.sip.syntax.abnf import (
    COMMON_METHODS,
    HOSTNAME,
    LWS,
    PARAMS_TAIL,
    QUOTED_CONTENT,
    TOKEN,
    TOKENS_RE,
    find_quote_end,
    parse_uint,
    quote,
    unquote,
    unquote_content,
)
from parley.sip.syntax.params import Params
from parley.sip.syntax.uri import (
    SipUri,
    Uri,
    _parse_hostport,
    format_host,
    parse_uri,
    valid_ipv6,
)

#: §8.1.1.7: branches of RFC 3261 elements start with this cookie.
MAGIC_COOKIE = "z9hG4bK"

# §20.16: CSeq = 1*DIGIT LWS Method (LWS, not any Unicode space as str.split() takes).
_CSEQ_RE = re.compile(rf"[ \t]*([0-9]+)[ \t]+({TOKEN})[ \t]*")

# §20.42: via-parm = sent-protocol LWS sent-by *( SEMI via-params ). One regex takes the
# usual shape (single SP, no other LWS before the parameters) in one pass; whatever it
# refuses goes through the step-by-step parser, which also takes the LWS that may surround
# each "/" (RFC 4475 wsinv) and, through COLON = SWS ":" SWS, the ":" of sent-by, and says
# precisely what is wrong.
_VIA_RE = re.compile(
    rf"({TOKEN})/({TOKEN})/({TOKEN}) ({HOSTNAME}|\[[0-9A-Fa-f:.]+\])(?::([0-9]{{1,5}}))?"
    rf"{PARAMS_TAIL}",
    re.DOTALL,
)
_SENT_PROTOCOL_RE = re.compile(
    rf"[ \t]*({TOKEN})[ \t]*/[ \t]*({TOKEN})[ \t]*/[ \t]*({TOKEN})[ \t]+"
    r"([^ \t]+(?:[ \t]*:[ \t]*[^ \t]*)?)[ \t]*"
)
# §20.10: name-addr = [ display-name ] LAQUOT addr-spec RAQUOT, then *( SEMI param ).
# The URI between "<" and ">" is parsed when first read; here it only must not hold what
# never stands in a URI.
_NAME_ADDR_RE = re.compile(
    rf"[ \t]*(?:{QUOTED_CONTENT}[ \t]*|({TOKEN}(?:[ \t]+{TOKEN})*)[ \t]*)?"
    rf"<([^<>\x00-\x20\x7f\"]+)>[ \t]*{PARAMS_TAIL}",
    re.DOTALL,
)


_new = object.__new__
_set_frozen = object.__setattr__


class Via:
    """One Via element (§20.42): ``SIP/2.0/UDP host:port;branch=...``.

    ``host`` is kept as written (IPv6 references with brackets), ``transport`` uppercased,
    ``params`` as written. Parse with ``Via.parse``; ``str()`` gives the wire form back.
    Compares, prints and is built like the dataclass it was (``Via(transport, host, port,
    params, protocol)``); it is a plain class so that ``params`` can be made on first use.
    """

    # When _params is None the parameters are the single one in _pname/_pvalue (or none):
    # the usual ";branch=..." is then read without building a Params at all.
    __slots__ = ("_params", "_pname", "_pvalue", "host", "port", "protocol", "transport")
    __match_args__ = ("transport", "host", "port", "params", "protocol")

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: Params | None = None,
        protocol: str = "SIP/2.0",
    ) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self._params: Params | None = Params() if params is None else params
        self._pname: str | None = None
        self._pvalue: str | None = None
        self.protocol = protocol

    @property
    def params(self) -> Params:
        params = self._params
        if params is None:
            name = self._pname
            params = self._params = Params._adopt([] if name is None else [(name, self._pvalue)])
        return params

    @params.setter
    def params(self, value: Params) -> None:
        self._params = value

    def _param(self, lname: str) -> str | None:
        """The value of parameter ``lname`` (lowercase), as ``params.get`` gives it."""
        params = self._params
        if params is not None:
            return params.get(lname)
        name = self._pname
        if name is None or (name != lname and name.lower() != lname):
            return None
        return self._pvalue

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one via-parm; raises ParseError if it is malformed."""
        m = _VIA_RE.fullmatch(text)
        if m is None:
            return cls._parse_slowly(text)
        name, version, transport, host, port, pname, pvalue, ptext = m.groups()
        if host[0] == "[" and not valid_ipv6(host[1:-1]):
            raise ParseError(f"malformed IPv6 reference {host[:64]!r}")
        number = None
        if port is not None:
            number = int(port)
            if number > 65535:
                raise ParseError("malformed port")
        # Built field by field: this is the hot path, and __init__ would make a Params.
        self: Via = _new(cls)
        self.transport = transport.upper()
        self.host = host
        self.port = number
        self.protocol = "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name}/{version}"
        # Several parameters are parsed now, so that whatever can fail fails in parse().
        self._params = None if ptext is None else Params.parse(ptext)
        self._pname = pname
        self._pvalue = pvalue
        return self

    @classmethod
    def _parse_slowly(cls, text: str) -> Via:
        # Neither sent-protocol nor sent-by may hold ";", so the first one starts the params.
        head, semi, rest = text.partition(";")
        m = _SENT_PROTOCOL_RE.fullmatch(head)
        if m is None:
            raise ParseError("malformed Via sent-protocol or sent-by")
        name, version, transport, sent_by = m.groups()
        if " " in sent_by or "\t" in sent_by:
            sent_by = sent_by.replace(" ", "").replace("\t", "")
        host, port = _parse_hostport(sent_by)
        params = Params.parse_generic(rest) if semi else Params()
        return cls(transport.upper(), host, port, params, f"{name}/{version}")

    @property
    def branch(self) -> str | None:
        return self._param("branch")

    @property
    def received(self) -> str | None:
        return self._param("received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value (RFC 3581), None when absent, empty or not a port number."""
        value = self._param("rport")
        if value and value.isdigit() and value.isascii() and len(value) <= 5:
            return int(value)
        return None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host, self.port

    @property
    def rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie and something after it (§17.2.3);
        a bare cookie (RFC 4475 badbranch) falls back to RFC 2543 matching."""
        branch = self.branch
        return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > 7

    def _astuple(self) -> tuple[str, str, int | None, Params, str]:
        return (self.transport, self.host, self.port, self.params, self.protocol)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Via)
        return self._astuple() == other._astuple()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        return (
            f"Via(transport={self.transport!r}, host={self.host!r}, port={self.port!r}, "
            f"params={self.params!r}, protocol={self.protocol!r})"
        )

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{self.params}"


_new_name_addr = object.__new__


class NameAddr:
    """A From, To, Contact, Route or Record-Route value: optional display name, URI, params.

    ``params`` are the header parameters (``;tag=``, ``;expires=``), never the URI's own: in
    ``<sip:a@b;lr>;tag=1`` the URI has ``lr`` and the header ``tag`` (§20.10, RFC 4475
    cparam01/cparam02). ``display_name`` is unquoted (quoted-pairs resolved).

    ``parse`` checks the structure and the header parameters; the URI inside is parsed on
    first read of ``uri`` (most messages only need the tag), so a malformed URI raises
    ParseError there. ``validate_message`` reads every one. ``str()`` always puts the URI in
    ``<>`` so that its parameters never turn into header parameters.
    """

    # As in Via: with _params None, the parameters are the one in _pname/_pvalue, or none.
    __slots__ = ("_params", "_pname", "_pvalue", "_uri", "_uri_text", "display_name")

    def __init__(
        self, uri: Uri, display_name: str | None = None, params: Params | None = None
    ) -> None:
        self._uri: Uri | None = uri
        self._uri_text = ""
        self.display_name = display_name
        self._params: Params | None = Params() if params is None else params
        self._pname: str | None = None
        self._pvalue: str | None = None

    @property
    def params(self) -> Params:
        """The header parameters (``;tag=``), not the URI's own."""
        params = self._params
        if params is None:
            name = self._pname
            params = self._params = Params._adopt([] if name is None else [(name, self._pvalue)])
        return params

    @params.setter
    def params(self, value: Params) -> None:
        self._params = value

    @property
    def uri(self) -> Uri:
        """The parsed URI; raises ParseError if the text between ``<>`` is not a URI."""
        uri = self._uri
        if uri is None:
            uri = self._uri = parse_uri(self._uri_text)
        return uri

    @uri.setter
    def uri(self, value: Uri) -> None:
        self._uri = value

    @classmethod
    def parse(cls, text: str, *, allow_star: bool = False) -> NameAddr:
        """Parse a name-addr (``"Bob" <sip:b@x>;tag=1``) or addr-spec (``sip:b@x;tag=1``).

        ``allow_star`` is accepted for callers that pass it; a Contact of ``*`` (§10.2.2) is
        not a NameAddr and is recognised by ``Message.is_star_contact``.
        """
        m = _NAME_ADDR_RE.fullmatch(text)
        if m is not None:
            quoted, tokens, uri_text, pname, pvalue, ptext = m.groups()
            # Built field by field: __init__ wants a parsed URI, and this is the hot path.
            self = _new_name_addr(cls)
            self._uri = None
            self._uri_text = uri_text
            self.display_name = tokens if quoted is None else unquote_content(quoted)
            # Several parameters are parsed now, so that whatever can fail fails in parse().
            self._params = None if ptext is None else Params.parse(ptext)
            self._pname = pname
            self._pvalue = pvalue
            return self
        return cls._parse_slowly(text.strip(LWS))

    @classmethod
    def _parse_slowly(cls, text: str) -> NameAddr:
        # The step-by-step reading: addr-specs, and precise reasons for what is malformed.
        if text.startswith('"'):
            end = find_quote_end(text, 0)
            display: str | None = unquote(text[: end + 1])
            rest = text[end + 1 :].lstrip(LWS)
            if not rest.startswith("<"):
                raise ParseError("quoted display name without <URI>")
            return cls._bracketed(rest, display)
        lt = text.find("<")
        if lt >= 0:
            display = None
            if lt:
                name = text[:lt].rstrip(LWS)
                # RFC 4475 lwsdisp: no LWS between the tokens and "<" is accepted; baddn:
                # unquoted non-token characters are not.
                if TOKENS_RE.fullmatch(name) is None:
                    raise ParseError("display name with characters that need quotes")
                display = name
            return cls._bracketed(text[lt:], display)
        # addr-spec: every ";" after the URI starts a header parameter (§20.10).
        uri_text, semi, rest = text.partition(";")
        uri_text = uri_text.rstrip(LWS)
        # §20: an addr-spec holding "," "?" or ";" (or LWS) must be in <> (RFC 4475
        # regbadct); the URI is parsed at once since nothing else marks where it ends.
        if any(c in uri_text for c in " \t,?"):
            raise ParseError("addr-spec with characters that need <>")
        uri = parse_uri(uri_text)
        return cls(uri, None, Params.parse_generic(rest) if semi else Params())

    @classmethod
    def _bracketed(cls, text: str, display: str | None) -> NameAddr:
        gt = text.find(">")
        if gt < 0:
            raise ParseError("unterminated <URI>")
        rest = text[gt + 1 :].lstrip(LWS)
        if not rest:
            params = Params()
        elif rest[0] == ";":
            params = Params.parse_generic(rest[1:])
        else:
            raise ParseError("junk after <URI>")
        # RFC 4475 badaspec: white space inside <> is refused, not guessed around.
        return cls(parse_uri(text[1:gt]), display, params)

    @property
    def tag(self) -> str | None:
        params = self._params
        if params is not None:
            return params.get("tag")
        name = self._pname
        if name is None or (name != "tag" and name.lower() != "tag"):
            return None
        return self._pvalue

    @property
    def sip_uri(self) -> SipUri:
        """The URI, which must be ``sip:``/``sips:`` (416 otherwise)."""
        uri = self.uri
        if not isinstance(uri, SipUri):
            raise ParseError(f"unsupported URI scheme {uri.scheme!r}", 416)
        return uri

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return (
            self.display_name == other.display_name
            and self.params == other.params
            and self.uri == other.uri
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaced

    def __str__(self) -> str:
        display = "" if self.display_name is None else quote(self.display_name) + " "
        uri = self._uri_text if self._uri is None else str(self._uri)
        return f"{display}<{uri}>{self.params}"

    def __repr__(self) -> str:
        uri = repr(self._uri_text) if self._uri is None else repr(self._uri)
        return f"NameAddr(uri={uri}, display_name={self.display_name!r}, params={self.params!r})"


@dataclass(frozen=True, slots=True)
class CSeq:
    """§20.16: a sequence number below 2**31 and the request's method."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse ``1*DIGIT LWS Method``; raises ParseError if malformed or too large."""
        number, _, method = text.partition(" ")
        if (
            method in COMMON_METHODS
            and number.isdigit()
            and number.isascii()
            and len(number) < 10  # so below 2**31 as §8.1.1.5 demands
        ):
            # What the frozen dataclass's __init__ does, minus its overhead (hot path).
            self: CSeq = _new(cls)
            _set_frozen(self, "seq", int(number))
            _set_frozen(self, "method", method)
            return self
        m = _CSEQ_RE.fullmatch(text)
        if m is None:
            raise ParseError("malformed CSeq")
        # §8.1.1.5: the number MUST be less than 2**31 (RFC 4475 scalar02).
        return cls(parse_uint(m.group(1), "CSeq number", 2**31 - 1), m.group(2))

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_star_or_contacts(values: list[str]) -> list[NameAddr] | None:
    """The Contact values of a REGISTER: None for ``*`` (§10.2.2), else the parsed list."""
    if len(values) == 1 and values[0].strip(LWS) == "*":
        return None
    if any(v.strip(LWS) == "*" for v in values):
        raise ParseError("Contact * mixed with other contacts")
    return [NameAddr.parse(v) for v in values]


@functools.lru_cache(maxsize=4096)
def is_ip_literal(host: str) -> bool:
    """True for an IPv4 address, an IPv6 address or an IPv6 reference (RFC 5118 §4.5)."""
    bare = host[1:-1] if host.startswith("[") else host
    if "%" in bare:
        return False  # ipaddress takes an RFC 4007 zone; SIP addresses have none
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return False
    return True


__all__ = ["MAGIC_COOKIE", "CSeq", "NameAddr", "Via", "format_host", "is_ip_literal"]
