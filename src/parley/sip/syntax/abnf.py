"""Character classes and small scanners from RFC 3261 §25, shared by the syntax modules.

The scanners walk a header value once, honouring quoted strings (with backslash escapes) and
``<...>`` brackets, so that a ``,`` or ``;`` inside either never splits a value.
"""

from __future__ import annotations

import re

from parley.sip.errors import ParseError

# §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
TOKEN_RE = re.compile(TOKEN)
# §25.1: word adds ( ) < > : \ " / [ ] ? { } to token (used by Call-ID).
WORD_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+")
CALL_ID_RE = re.compile(
    r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+)?"
)
# Display names written without quotes are a sequence of tokens separated by LWS.
TOKENS_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*")
DIGITS_RE = re.compile(r"[0-9]+")
# §25.1: generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string.
# A host adds ":" "[" "]" to the token characters (IPv6 references, RFC 5118 §4.5). The
# quoted-string allows quoted-pairs; its content is checked no further.
_GEN_VALUE = r"(?:[A-Za-z0-9\-.!%*_+`'~:\[\]]+|\"(?:[^\"\\]|\\.)*\")"
_GENERIC_PARAM = rf"[ \t]*{TOKEN}[ \t]*(?:=[ \t]*{_GEN_VALUE}?[ \t]*)?"
#: The text after the first ";" of a header value: one or more generic-params. A ";name="
#: with an empty value is tolerated (it round-trips as written).
GENERIC_PARAMS = rf"{_GENERIC_PARAM}(?:;{_GENERIC_PARAM})*"
GENERIC_PARAMS_RE = re.compile(GENERIC_PARAMS, re.DOTALL)
#: ``*( SEMI generic-param )`` at the end of a header value, as three groups: the name and
#: value of a lone parameter (the usual ``;tag=...``), else the text of several.
PARAMS_TAIL = rf"(?:;[ \t]*({TOKEN})[ \t]*(?:=[ \t]*({_GEN_VALUE})[ \t]*)?|;({GENERIC_PARAMS}))?"
# §25.1: display-name = *(token LWS) / quoted-string, the quoted-string's content captured.
QUOTED_CONTENT = r'"((?:[^"\\]|\\.)*)"'
# §25.1 hostname / IPv4address (the latter also matches the former's rule).
HOSTNAME = (
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.?"
)

LWS = " \t"

#: Methods every element sees (RFC 3261, 3262, 3265, 3311, 3428, 3515, 3903, 6086): a name
#: found here needs no §25.1 token check.
COMMON_METHODS = frozenset(
    "INVITE ACK BYE CANCEL OPTIONS REGISTER SUBSCRIBE NOTIFY PUBLISH MESSAGE REFER INFO "
    "UPDATE PRACK".split()
)


def is_token(text: str) -> bool:
    return TOKEN_RE.fullmatch(text) is not None


def find_quote_end(text: str, start: int) -> int:
    """Index of the ``"`` closing the quoted string that opens at ``text[start]``.

    §25.1: quoted-pair = "\\" (%x00-09 / %x0B-0C / %x0E-7F); an escaped quote does not close.
    """
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i
        i += 1
    raise ParseError("unterminated quoted string")


def unquote(text: str) -> str:
    """The content of a quoted string without its quotes, quoted-pairs resolved."""
    return unquote_content(text[1:-1])


def unquote_content(inner: str) -> str:
    """The content between a quoted string's quotes with its quoted-pairs resolved."""
    if "\\" not in inner:
        return inner
    out: list[str] = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and i + 1 < len(inner):
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def quote(text: str) -> str:
    """A quoted string for ``text``, escaping ``"`` and ``\\`` as quoted-pairs."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_outside(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` where it stands outside quotes and angle brackets.

    The pieces are not stripped. Raises ParseError on an unterminated quote or bracket.
    """
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = find_quote_end(text, i) + 1
            continue
        if c == "<":
            close = text.find(">", i)
            if close < 0:
                raise ParseError("unterminated '<'")
            i = close + 1
            continue
        if c == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def split_list(text: str) -> list[str]:
    """The elements of a comma-separated header value (§7.3.1), stripped.

    Empty elements (``a,,b``) are malformed: badinv01 of RFC 4475 is rejected for them.
    """
    parts = split_outside(text, ",")
    out = [p.strip(LWS) for p in parts]
    if len(out) > 1 and not all(out):
        raise ParseError("empty element in a comma-separated header")
    return out


def parse_uint(text: str, what: str, limit: int = 2**32 - 1) -> int:
    """A non-negative decimal number no larger than ``limit`` (leading zeros allowed).

    Raises ParseError when ``text`` is not ``1*DIGIT`` or the value exceeds ``limit``.
    """
    text = text.strip(LWS)
    # isdigit() alone admits "²" and other non-ASCII digits that int() refuses or misreads.
    if not text.isdigit() or not text.isascii():
        raise ParseError(f"{what} is not a number")
    # A long digit string is refused before int(): CPython caps str->int conversions at
    # 4300 digits with a ValueError, and RFC 4475 scalar02 sends such values on purpose.
    if len(text) > 19 and len(text.lstrip("0")) > len(str(limit)):
        raise ParseError(f"{what} is too large")
    value = int(text)
    if value > limit:
        raise ParseError(f"{what} is too large")
    return value
