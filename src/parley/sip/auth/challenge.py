"""Syntax of Digest challenges and credentials, with no hashing in it.

Covers the ``WWW-Authenticate`` and ``Proxy-Authenticate`` header values (``challenge``, RFC
3261 §20.44, §20.28) and the ``Authorization`` and ``Proxy-Authorization`` header values
(``credentials``, RFC 3261 §20.7, §20.28), per the ABNF of RFC 3261 §25.1 as extended by RFC
7616 §3.3-§3.4 and RFC 8760 §2.

Parsing is liberal where real peers are sloppy and the meaning stays clear (quoted tokens,
unquoted values, empty list elements, any case of parameter names); serialising is strict and
always emits the RFC's form. Every malformed input raises :class:`ParseError`, never anything
else, so a UAS can answer 400 without a catch-all.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

from parley.sip.errors import LocalProtocolError, ParseError

#: The one auth-scheme SIP defines (RFC 3261 §22.1: "Basic" is deprecated, only Digest is used).
DIGEST = "Digest"

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")  (§25.1)
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# token68 (RFC 9110 §11.2): the only way to tell one after a scheme from a first auth-param is
# that nothing but an optional "=" padding, whitespace and then a comma or the end follows it.
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*[ \t]*(?=,|$)")
# After a comma, "name =" starts another auth-param of the same challenge; anything else is
# the auth-scheme of the next challenge (RFC 9110 §11.6.1 list of challenges).
_PARAM_START_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+[ \t]*=")
# A header line folded per RFC 3261 §7.3.1 is CRLF followed by whitespace: one SP in meaning.
_FOLD_RE = re.compile(r"\r\n(?=[ \t])")
_WSP = " \t"
_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True, slots=True)
class AuthParam:
    """An ``auth-param`` that this module has no field for (RFC 3261 §25.1), kept as received.

    ``name`` is lower-cased (parameter names are case-insensitive, RFC 7616 §3.3); ``value`` is
    the unescaped text. ``quoted`` says whether to send it as a quoted-string; a value that is
    not a token is always quoted.
    """

    name: str
    value: str
    quoted: bool = True


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """One Digest ``challenge`` (RFC 3261 §25.1 ``digest-cln``, RFC 7616 §3.3).

    ``algorithm`` is the token as sent, ``None`` when absent (which means MD5, RFC 7616 §3.3).
    ``qop`` holds the ``qop-options`` in the server's order; empty means an RFC 2069 style
    challenge without quality of protection.
    """

    realm: str
    nonce: str
    domain: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    userhash: bool = False
    params: tuple[AuthParam, ...] = ()


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """One Digest ``credentials`` value (RFC 3261 §25.1 ``digest-response``, RFC 7616 §3.4).

    ``qop`` is the single ``message-qop`` the client chose, ``None`` for RFC 2069 style
    credentials; ``nc`` is the ``nc-value`` exactly as sent (8 hex digits), because it is hashed
    as text. With ``userhash`` true, ``username`` is H(username ":" realm) (RFC 7616 §3.4.4).
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: str | None = None
    userhash: bool = False
    params: tuple[AuthParam, ...] = ()

    @property
    def nonce_count(self) -> int | None:
        """``nc`` as a number, for replay checks (RFC 7616 §3.4: hexadecimal count)."""
        return None if self.nc is None else int(self.nc, 16)


_CHALLENGE_NAMES = frozenset(
    {"realm", "domain", "nonce", "opaque", "stale", "algorithm", "qop", "userhash"}
)
_CREDENTIALS_NAMES = frozenset(
    {
        "username",
        "realm",
        "nonce",
        "uri",
        "response",
        "algorithm",
        "cnonce",
        "opaque",
        "qop",
        "nc",
        "userhash",
    }
)


# --------------------------------------------------------------------------------------------
# Scanning


@dataclass(frozen=True, slots=True)
class _Section:
    """One challenge or credentials inside a header value, before Digest semantics."""

    scheme: str
    token68: str | None
    params: tuple[AuthParam, ...]


class _Scanner:
    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _WSP:
            self.pos += 1
        return self.pos > start

    def token(self, what: str) -> str:
        match = _TOKEN_RE.match(self.text, self.pos)
        if match is None:
            raise ParseError(f"expected {what} at offset {self.pos}")
        self.pos = match.end()
        return match.group()

    def quoted_string(self) -> str:
        # quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE  (RFC 3261 §25.1)
        self.pos += 1  # the opening DQUOTE, checked by the caller
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\":
                # quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F); CR and LF are gone by now.
                if self.pos + 1 >= len(text):
                    break
                escaped = text[self.pos + 1]
                if ord(escaped) > 0x7F:
                    raise ParseError("quoted-pair escapes a non-ASCII character")
                out.append(escaped)
                self.pos += 2
                continue
            if not _is_qdtext(char):
                raise ParseError(f"character {ord(char):#x} not allowed in a quoted-string")
            out.append(char)
            self.pos += 1
        raise ParseError("unterminated quoted-string")

    def bare_value(self) -> str:
        # RFC 3261 wants a token here; peers also send unquoted nonces and URIs with "=", "/",
        # ":" and ";" in them, which still end unambiguously at whitespace or a comma.
        start = self.pos
        text = self.text
        while self.pos < len(text) and 0x21 <= ord(text[self.pos]) <= 0x7E:
            if text[self.pos] in ',"\\':
                break
            self.pos += 1
        if self.pos == start:
            raise ParseError(f"expected an auth-param value at offset {start}")
        return text[start : self.pos]

    def auth_param(self) -> AuthParam:
        # auth-param = auth-param-name EQUAL ( token / quoted-string )  (RFC 3261 §25.1)
        name = self.token("auth-param name").lower()
        self.skip_ws()
        if self.peek() != "=":
            raise ParseError(f"expected '=' after {name!r}")
        self.pos += 1
        self.skip_ws()
        if self.peek() == '"':
            return AuthParam(name, self.quoted_string(), quoted=True)
        value = self.bare_value()
        return AuthParam(name, value, quoted=not _is_token(value))


def _is_qdtext(char: str) -> bool:
    # qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII  (RFC 3261 §25.1)
    code = ord(char)
    if char in _WSP or code == 0x21 or 0x23 <= code <= 0x5B or 0x5D <= code <= 0x7E:
        return True
    # Lone surrogates are what undecodable bytes become; they are not UTF-8 text.
    return code > 0x7F and not 0xD800 <= code <= 0xDFFF


def _is_token(value: str) -> bool:
    return bool(value) and all(char in _TOKEN_CHARS for char in value)


def _unfold(value: str) -> str:
    unfolded = _FOLD_RE.sub("", value)
    if "\r" in unfolded or "\n" in unfolded:
        raise ParseError("CR or LF in a header value that is not a line fold")
    return unfolded


def _split_sections(value: str) -> list[_Section]:
    """Split a header value into its challenges or credentials (RFC 9110 §11.6.1 robustness).

    SIP sends one per header field (RFC 3261 §7.3.1 forbids combining these headers), but a
    peer or a proxy that joined lines must not make us misread the parameters.
    """
    scanner = _Scanner(_unfold(value))
    sections: list[_Section] = []
    scanner.skip_ws()
    while True:
        # Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
        while scanner.peek() == ",":
            scanner.pos += 1
            scanner.skip_ws()
        if scanner.at_end():
            break
        scheme = scanner.token("auth-scheme")
        token68: str | None = None
        params: list[AuthParam] = []
        if scanner.skip_ws():
            token68_match = _TOKEN68_RE.match(scanner.text, scanner.pos)
            if token68_match is not None:
                token68 = token68_match.group().rstrip(_WSP)
                scanner.pos = token68_match.end()
            elif not scanner.at_end() and scanner.peek() != ",":
                params.append(scanner.auth_param())
        elif not scanner.at_end() and scanner.peek() != ",":
            raise ParseError(f"expected whitespace after auth-scheme {scheme!r}")
        while True:
            scanner.skip_ws()
            if scanner.at_end():
                break
            if scanner.peek() != ",":
                raise ParseError(f"expected ',' between auth-params at offset {scanner.pos}")
            mark = scanner.pos
            while scanner.peek() == ",":
                scanner.pos += 1
                scanner.skip_ws()
            if scanner.at_end():
                break
            if _PARAM_START_RE.match(scanner.text, scanner.pos) is None:
                scanner.pos = mark  # the next challenge begins here
                break
            params.append(scanner.auth_param())
        sections.append(_Section(scheme, token68, tuple(params)))
    if not sections:
        raise ParseError("empty authentication header value")
    return sections


def _digest_params(
    section: _Section, known: frozenset[str]
) -> tuple[dict[str, str], list[AuthParam]]:
    if section.scheme.lower() != DIGEST.lower():
        raise ParseError(f"auth-scheme {section.scheme!r} is not Digest")
    if section.token68 is not None:
        raise ParseError("Digest takes auth-params, not a token68")
    values: dict[str, str] = {}
    extra: list[AuthParam] = []
    seen: set[str] = set()
    for param in section.params:
        # Each parameter name MUST only occur once per challenge (RFC 9110 §11.2).
        if param.name in seen:
            raise ParseError(f"duplicate auth-param {param.name!r}")
        seen.add(param.name)
        if param.name in known:
            values[param.name] = param.value
        else:
            extra.append(param)
    return values, extra


def _require(values: dict[str, str], name: str) -> str:
    value = values.get(name)
    if value is None:
        raise ParseError(f"Digest parameter {name!r} is missing")
    return value


def _token_or_none(values: dict[str, str], name: str) -> str | None:
    value = values.get(name)
    if value is not None and not _is_token(value):
        raise ParseError(f"Digest parameter {name!r} must be a token")
    return value


def _flag(values: dict[str, str], name: str) -> bool:
    # "If stale is FALSE, or anything other than TRUE ... " (RFC 7616 §3.3): case-insensitive,
    # and every other value means false. userhash follows the same rule.
    return values.get(name, "").lower() == "true"


# --------------------------------------------------------------------------------------------
# Challenges


def _challenge_from(section: _Section) -> DigestChallenge:
    values, extra = _digest_params(section, _CHALLENGE_NAMES)
    qop: tuple[str, ...] = ()
    if "qop" in values:
        # qop-options = "qop" EQUAL LDQUOT qop-value *("," qop-value) RDQUOT (RFC 3261 §25.1)
        qop = tuple(item.strip(_WSP) for item in values["qop"].split(","))
        qop = tuple(item for item in qop if item)
        if not all(_is_token(item) for item in qop):
            raise ParseError("qop-options must be a comma-separated list of tokens")
    return DigestChallenge(
        realm=_require(values, "realm"),
        nonce=_require(values, "nonce"),
        domain=tuple(values.get("domain", "").split()),
        opaque=values.get("opaque"),
        stale=_flag(values, "stale"),
        algorithm=_token_or_none(values, "algorithm"),
        qop=qop,
        userhash=_flag(values, "userhash"),
        params=tuple(extra),
    )


def parse_challenges(value: str) -> tuple[DigestChallenge, ...]:
    """All Digest challenges in a ``WWW-Authenticate``/``Proxy-Authenticate`` value, in order.

    Challenges of other schemes are checked for syntax and then left out: SIP defines only
    Digest (RFC 3261 §22.1). The result is empty when the value holds no Digest challenge.
    """
    return tuple(
        _challenge_from(section)
        for section in _split_sections(value)
        if section.scheme.lower() == DIGEST.lower()
    )


def parse_challenge(value: str) -> DigestChallenge:
    """The single Digest challenge of one ``WWW-Authenticate``/``Proxy-Authenticate`` value."""
    sections = _split_sections(value)
    if len(sections) != 1:
        raise ParseError("expected exactly one challenge in the header value")
    return _challenge_from(sections[0])


def serialize_challenge(challenge: DigestChallenge) -> str:
    """The header value for ``challenge``, in the form RFC 3261 §25.1 and RFC 7616 §3.3 give.

    Raises :class:`LocalProtocolError` for a value that cannot be written (CR or LF in a
    quoted-string, a non-token where a token is due, an extra param shadowing a known one).
    """
    parts = [_quoted("realm", challenge.realm)]
    if challenge.domain:
        for uri in challenge.domain:
            if not uri or any(char in _WSP for char in uri):
                raise LocalProtocolError(f"domain URI {uri!r} is empty or has whitespace")
        parts.append(_quoted("domain", " ".join(challenge.domain)))
    parts.append(_quoted("nonce", challenge.nonce))
    if challenge.opaque is not None:
        parts.append(_quoted("opaque", challenge.opaque))
    if challenge.stale:
        parts.append("stale=true")
    if challenge.algorithm is not None:
        parts.append(_bare("algorithm", challenge.algorithm))
    if challenge.qop:
        for item in challenge.qop:
            _check_token("qop", item)
        parts.append(_quoted("qop", ",".join(challenge.qop)))
    if challenge.userhash:
        parts.append("userhash=true")
    parts.extend(_extra(challenge.params, _CHALLENGE_NAMES))
    return f"{DIGEST} " + ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Credentials


def _credentials_from(section: _Section) -> DigestCredentials:
    values, extra = _digest_params(section, _CREDENTIALS_NAMES)
    response = _require(values, "response")
    # request-digest is hex (RFC 3261 §25.1 said 32LHEX; RFC 8760 §2.2 widens it to *LHEX for
    # longer hashes). Upper case is tolerated: it is compared case-insensitively.
    if not response or not all(char in _HEX for char in response):
        raise ParseError("Digest response must be hexadecimal")
    nc = values.get("nc")
    if nc is not None and (len(nc) != 8 or not all(char in _HEX for char in nc)):
        raise ParseError("nc must be 8 hexadecimal digits")
    qop = _token_or_none(values, "qop")
    cnonce = values.get("cnonce")
    if qop is not None and (cnonce is None or nc is None):
        # cnonce and nc MUST be sent when qop is (RFC 7616 §3.4).
        raise ParseError("Digest credentials with qop need cnonce and nc")
    return DigestCredentials(
        username=_require(values, "username"),
        realm=_require(values, "realm"),
        nonce=_require(values, "nonce"),
        uri=_require(values, "uri"),
        response=response,
        algorithm=_token_or_none(values, "algorithm"),
        cnonce=cnonce,
        opaque=values.get("opaque"),
        qop=qop,
        nc=nc,
        userhash=_flag(values, "userhash"),
        params=tuple(extra),
    )


def parse_credentials(value: str) -> DigestCredentials:
    """The Digest credentials of one ``Authorization``/``Proxy-Authorization`` value.

    A credentials header carries exactly one value (RFC 3261 §7.3.1 forbids joining them), so
    anything else is a :class:`ParseError`.
    """
    sections = _split_sections(value)
    if len(sections) != 1:
        raise ParseError("expected exactly one credentials in the header value")
    return _credentials_from(sections[0])


def serialize_credentials(credentials: DigestCredentials) -> str:
    """The header value for ``credentials`` (RFC 3261 §25.1 ``digest-response``)."""
    parts = [
        _quoted("username", credentials.username),
        _quoted("realm", credentials.realm),
        _quoted("nonce", credentials.nonce),
        _quoted("uri", credentials.uri),
        _quoted("response", credentials.response),
    ]
    if credentials.algorithm is not None:
        parts.append(_bare("algorithm", credentials.algorithm))
    if credentials.cnonce is not None:
        parts.append(_quoted("cnonce", credentials.cnonce))
    if credentials.opaque is not None:
        parts.append(_quoted("opaque", credentials.opaque))
    # message-qop and nonce-count are unquoted (RFC 3261 §25.1); quoting them breaks peers.
    if credentials.qop is not None:
        parts.append(_bare("qop", credentials.qop))
    if credentials.nc is not None:
        parts.append(_bare("nc", credentials.nc))
    if credentials.userhash:
        parts.append("userhash=true")
    parts.extend(_extra(credentials.params, _CREDENTIALS_NAMES))
    return f"{DIGEST} " + ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Writing


def quote(value: str) -> str:
    """``value`` as a quoted-string, escaping with quoted-pair (RFC 3261 §25.1)."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in "\r\n":
            raise LocalProtocolError("CR or LF cannot be sent inside a quoted-string")
        if 0xD800 <= code <= 0xDFFF:
            raise LocalProtocolError("a lone surrogate is not UTF-8 text")
        if char in '"\\' or (code < 0x20 and char != "\t") or code == 0x7F:
            out.append("\\")
        out.append(char)
    out.append('"')
    return "".join(out)


def _quoted(name: str, value: str) -> str:
    return f"{name}={quote(value)}"


def _check_token(name: str, value: str) -> None:
    if not _is_token(value):
        raise LocalProtocolError(f"{name} value {value!r} is not a token")


def _bare(name: str, value: str) -> str:
    _check_token(name, value)
    return f"{name}={value}"


def _extra(params: Iterable[AuthParam], known: frozenset[str]) -> list[str]:
    parts: list[str] = []
    seen: set[str] = set()
    for param in params:
        name = param.name.lower()
        _check_token("auth-param name", name)
        if name in known or name in seen:
            raise LocalProtocolError(f"auth-param {name!r} would appear twice")
        seen.add(name)
        if param.quoted or not _is_token(param.value):
            parts.append(_quoted(name, param.value))
        else:
            parts.append(f"{name}={param.value}")
    return parts
