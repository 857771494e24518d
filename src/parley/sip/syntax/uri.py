"""URIs of SIP messages: ``sip:``/``sips:`` (RFC 3261 §19.1), IPv6 references (RFC 5118), and
any other absolute URI (``tel:``, ``im:``, ``pres:``...) kept opaque.

Components are stored as written, escapes included, so serialising gives back the same text;
the ``*_unescaped`` helpers and ``uri_equal`` apply §19.1.4's comparison rules.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from urllib.parse import unquote_to_bytes

from parley.sip.errors import ParseError
from parley.sip.syntax.abnf import HOSTNAME
from parley.sip.syntax.params import Params

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# §25.1 hostname / IPv4address; an IPv6reference is checked with ipaddress.
_HOSTNAME_RE = re.compile(HOSTNAME)
# user = 1*( unreserved / escaped / user-unreserved ); password likewise plus & = + $ ,
_USER_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+")
_PASSWORD_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*")
# paramchar = param-unreserved / unreserved / escaped
_PARAM_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+")
_HEADER_RE = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|%[0-9A-Fa-f]{2})*")
# No URI (RFC 3986 §2, §19.1.1) holds white space, controls or the delimiters of name-addr.
_FORBIDDEN_RE = re.compile(r"[\x00-\x20\x7f<>\"]")
# RFC 5118 §4.1: an IPv6reference holds hex digits, ":" and a dotted IPv4 tail, nothing else
# (ipaddress would also accept an RFC 4007 "%zone", which RFC 3261 does not).
_IPV6_CHARS_RE = re.compile(r"[0-9A-Fa-f:.]+")


def unescape(text: str) -> str:
    """Resolve ``%HH`` escapes once; an escaped NUL stays a character (RFC 4475 escnull)."""
    if "%" not in text:
        return text
    # Encode first with surrogateescape: unquote_to_bytes would encode a str strictly and
    # fail on the lone surrogates that undecodable octets of a message become.
    raw = unquote_to_bytes(text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI.

    ``host`` is kept as written, IPv6 references with their brackets (``[2001:db8::1]``);
    ``port`` is None when absent. ``params`` and ``headers`` keep their order and escapes.
    """

    scheme: str
    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = field(default_factory=Params)
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unescape(self.user)

    @property
    def host_bare(self) -> str:
        """The host without IPv6 brackets, lowercased: what a resolver or socket takes."""
        host = self.host[1:-1] if self.host.startswith("[") else self.host
        return host.lower()

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return None if value is None else value.lower()

    @property
    def aor(self) -> str:
        """``user@host`` (or ``host``), unescaped and case-folded the way registrars key it."""
        host = self.host.lower()
        return host if self.user is None else f"{self.user_unescaped}@{host}"

    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, **changes: str | None) -> SipUri:
        params = self.params.copy()
        for name, value in changes.items():
            params.set(name, value)
        return replace(self, params=params)

    def without(self, *, params: bool = False, headers: bool = False) -> SipUri:
        """A copy stripped of its parameters and/or headers (e.g. to store an AOR)."""
        return replace(
            self,
            params=Params() if params else self.params,
            headers=() if headers else self.headers,
        )

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(str(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers))
        return "".join(out)


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any other URI scheme (``tel:``, ``im:``, ``pres:``, ``http:``...), kept as written."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri = SipUri | AbsoluteUri


#: Recently parsed URIs by text. The same few URIs come back in every request of a
#: conversation (From, To, Request-URI, Contact), and parsing one costs more than the rest
#: of reading its header. Cleared when full rather than kept in LRU order: cheaper, and
#: a miss only costs a parse.
_PARSED: dict[str, Uri] = {}
_PARSED_MAX = 4096


def parse_uri(text: str) -> Uri:
    """Parse an absolute URI; ``sip``/``sips`` ones are parsed fully and strictly.

    Raises ParseError for malformed text, including white space anywhere inside the URI.
    The result may be shared with other callers: URIs are frozen, and their ``params``
    must not be changed in place either (copy them, as ``SipUri.without`` does).
    """
    uri = _PARSED.get(text)
    if uri is None:
        uri = _parse_uri(text)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[text] = uri
    return uri


def _parse_uri(text: str) -> Uri:
    if _FORBIDDEN_RE.search(text) is not None:
        # RFC 4475 lwsruri/badaspec: LWS inside a URI is refused, not guessed around.
        raise ParseError("white space, control or delimiter character inside a URI")
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME_RE.fullmatch(scheme) is None:
        raise ParseError(f"not a URI: {text[:64]!r}")
    lscheme = scheme.lower()
    if lscheme not in ("sip", "sips"):
        if not rest:
            raise ParseError("empty URI")
        return AbsoluteUri(lscheme, rest)
    return _parse_sip(lscheme, rest)


def parse_sip_uri(text: str) -> SipUri:
    """Like ``parse_uri`` but insists on ``sip:``/``sips:`` (416 otherwise)."""
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        raise ParseError(f"unsupported URI scheme {uri.scheme!r}", 416)
    return uri


def _parse_sip(scheme: str, rest: str) -> SipUri:
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, pw = userinfo.partition(":")
        if _USER_RE.fullmatch(user) is None:
            raise ParseError("malformed user part in a SIP URI")
        if colon:
            if _PASSWORD_RE.fullmatch(pw) is None:
                raise ParseError("malformed password in a SIP URI")
            password = pw
    rest, qmark, header_text = rest.partition("?")
    hostport, semi, param_text = rest.partition(";")
    host, port = _parse_hostport(hostport)
    params = Params.parse(param_text) if semi else Params()
    for name, value in params:
        if _PARAM_RE.fullmatch(name) is None or (
            value is not None and _PARAM_RE.fullmatch(value) is None
        ):
            raise ParseError("malformed URI parameter")
    headers: tuple[tuple[str, str], ...] = ()
    if qmark:
        pairs = []
        for piece in header_text.split("&"):
            hname, eq, hvalue = piece.partition("=")
            if (
                not hname
                or not eq
                or _HEADER_RE.fullmatch(hname) is None
                or _HEADER_RE.fullmatch(hvalue) is None
            ):
                raise ParseError("malformed URI header")
            pairs.append((hname, hvalue))
        headers = tuple(pairs)
    return SipUri(scheme, host, user, password, port, params, headers)


def _parse_hostport(text: str) -> tuple[str, int | None]:
    port_text: str | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ParseError("unterminated IPv6 reference")
        host = text[: close + 1]
        after = text[close + 1 :]
        if after:
            if not after.startswith(":"):
                raise ParseError("junk after an IPv6 reference")
            port_text = after[1:]
        if not valid_ipv6(host[1:-1]):
            # RFC 5118 §4.10: "2001:db8:::192.0.2.1" passes RFC 3261's loose ABNF but is
            # no address; we refuse it rather than guess.
            raise ParseError(f"malformed IPv6 reference {host[:64]!r}")
    else:
        host, colon, port_part = text.partition(":")
        if colon:
            if ":" in port_part:
                # RFC 5118 §4.2: an IPv6 address in a URI or Via must be in brackets.
                raise ParseError("IPv6 address without [ ] (RFC 5118 §4.2)")
            port_text = port_part
        if _HOSTNAME_RE.fullmatch(host) is None:
            raise ParseError(f"malformed host {host[:64]!r}")
    port: int | None = None
    if port_text is not None:
        # §25.1 port = 1*DIGIT; the length check keeps int() away from huge digit strings.
        if (
            not port_text.isdigit()
            or not port_text.isascii()
            or len(port_text) > 5
            or int(port_text) > 65535
        ):
            raise ParseError("malformed port")
        port = int(port_text)
    return host, port


def valid_ipv6(text: str) -> bool:
    """True for the text of an IPv6 address as RFC 5118 allows it between ``[`` and ``]``."""
    if _IPV6_CHARS_RE.fullmatch(text) is None:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def format_host(host: str) -> str:
    """A literal IP or hostname as it stands in a URI or Via: IPv6 gets brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def uri_equal(a: Uri, b: Uri) -> bool:
    """§19.1.4 URI comparison (sip/sips); other schemes compare case-insensitively by text."""
    if isinstance(a, AbsoluteUri) or isinstance(b, AbsoluteUri):
        return str(a).lower() == str(b).lower()
    if a.scheme != b.scheme or a.port != b.port or not _same_host(a.host, b.host):
        return False
    if a.user_unescaped != b.user_unescaped:
        return False
    if (None if a.password is None else unescape(a.password)) != (
        None if b.password is None else unescape(b.password)
    ):
        return False
    # Parameters that appear in both must match; user, ttl, method, maddr and transport must
    # match when present in either.
    # Names as well as values are compared unescaped (RFC 4475 esc01 writes "lr" as %6C%72).
    pa = {unescape(k).lower(): (None if v is None else unescape(v).lower()) for k, v in a.params}
    pb = {unescape(k).lower(): (None if v is None else unescape(v).lower()) for k, v in b.params}
    for name in pa.keys() & pb.keys():
        if pa[name] != pb[name]:
            return False
    for name in ("user", "ttl", "method", "maddr", "transport"):
        if (name in pa) != (name in pb):
            return False
    ha = {unescape(k).lower(): unescape(v) for k, v in a.headers}
    hb = {unescape(k).lower(): unescape(v) for k, v in b.headers}
    return ha == hb


def _same_host(a: str, b: str) -> bool:
    """§19.1.4: hosts compare case-insensitively; two IPv6 references compare as the
    addresses they spell, so ``[2001:db8::1]`` equals ``[2001:DB8:0:0::1]``."""
    if a.lower() == b.lower():
        return True
    if a.startswith("[") and b.startswith("[") and valid_ipv6(a[1:-1]) and valid_ipv6(b[1:-1]):
        return ipaddress.IPv6Address(a[1:-1]) == ipaddress.IPv6Address(b[1:-1])
    return False
