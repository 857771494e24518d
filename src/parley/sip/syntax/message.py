"""SIP requests and responses (§7): parsing from bytes, serialising, and strict validation.

``parse_message`` does the cheap, always-needed work eagerly (start line, header split,
folding, Content-Length framing) and leaves header values unparsed until read: the typed
views (``top_via``, ``from_``, ``cseq``...) parse on first use. ``validate_message`` then
reads everything an element must judge before acting on a message.

Every function here is sans-I/O: bytes in, objects out. A remote peer's mistakes raise
ParseError (a RemoteProtocolError carrying ``status_hint``) and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import islice

from parley.sip.errors import ParseError
from parley.sip.syntax.abnf import (
    CALL_ID_RE,
    COMMON_METHODS,
    LWS,
    TOKEN,
    TOKEN_RE,
    parse_uint,
    split_outside,
)
from parley.sip.syntax.headers import (
    _EXACT_NAMES,
    _WIRE_NAMES,
    CANONICAL,
    SINGLE_HEADERS,
    Headers,
    learn_exact_name,
    wire_name,
)
from parley.sip.syntax.uri import SipUri, Uri, parse_uri
from parley.sip.syntax.values import CSeq, NameAddr, Via

SIP_VERSION = "SIP/2.0"

_new = object.__new__

#: §21: the default reason phrases Parley sends.
REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
    410: "Gone", 412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 429: "Too Many Requests",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}  # fmt: skip


class Message:
    """What requests and responses share: headers, body, and typed views of key headers.

    The typed views (``vias``, ``from_``, ``cseq``...) parse on first use and are cached until
    the headers change; a malformed value raises ParseError when read. Objects they return
    are views: changing one does not change the header text, so to edit a header, write it
    back with ``headers.set``/``prepend``/... (which also drops the cached views).
    """

    __slots__ = ("body", "headers")

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body

    # -- typed views -------------------------------------------------------------------

    # The views below read Headers' key -> first value map directly (the keys are the
    # lowercase canonical names): they run for every message, and get() would only add
    # the name -> key step.

    @property
    def top_via(self) -> Via:
        """The first Via element (§18.2.2 routes responses by it); ParseError if absent."""
        headers = self.headers
        cache = headers._parsed
        via: Via | None = cache.get("via0")
        if via is None:
            vias: list[Via] | None = cache.get("via*")
            if vias:
                return vias[0]
            first = headers._first
            value = (headers._first_values() if first is None else first).get("via")
            if value is None:
                raise ParseError("missing Via header")
            if "," in value:
                value = split_outside(value, ",")[0]
            via = cache["via0"] = Via.parse(value)
        return via

    @property
    def vias(self) -> list[Via]:
        cache = self.headers._parsed
        vias: list[Via] | None = cache.get("via*")
        if vias is None:
            vias = cache["via*"] = [Via.parse(v) for v in self.headers.values("Via")]
            if vias and "via0" in cache:
                # One object for the top Via, whichever view is asked first: a change made
                # to it in place (stamp_received) must be seen by both.
                vias[0] = cache["via0"]
        return vias

    @property
    def from_(self) -> NameAddr:
        headers = self.headers
        cache = headers._parsed
        value: NameAddr | None = cache.get("from")
        if value is None:
            first = headers._first
            text = (headers._first_values() if first is None else first).get("from")
            if text is None:
                raise ParseError("missing From header")
            value = cache["from"] = NameAddr.parse(text)
        return value

    @property
    def to(self) -> NameAddr:
        headers = self.headers
        cache = headers._parsed
        value: NameAddr | None = cache.get("to")
        if value is None:
            first = headers._first
            text = (headers._first_values() if first is None else first).get("to")
            if text is None:
                raise ParseError("missing To header")
            value = cache["to"] = NameAddr.parse(text)
        return value

    @property
    def call_id(self) -> str:
        headers = self.headers
        first = headers._first
        value = (headers._first_values() if first is None else first).get("call-id")
        if value is None:
            raise ParseError("missing Call-ID header")
        return value.strip(LWS)

    @property
    def cseq(self) -> CSeq:
        headers = self.headers
        cache = headers._parsed
        value: CSeq | None = cache.get("cseq")
        if value is None:
            first = headers._first
            text = (headers._first_values() if first is None else first).get("cseq")
            if text is None:
                raise ParseError("missing CSeq header")
            value = cache["cseq"] = CSeq.parse(text)
        return value

    @property
    def max_forwards(self) -> int | None:
        """None when absent, and for an overlarge value (RFC 4475 scalar02 allows that)."""
        value = self.headers.get("Max-Forwards")
        if value is None:
            return None
        number = parse_uint(value, "Max-Forwards", 2**32 - 1)
        return number if number <= 255 else None

    @property
    def content_length(self) -> int | None:
        """The Content-Length value, None when absent (then a datagram's body is the rest)."""
        cache = self.headers._parsed
        value: int | None = cache.get("clen")
        if value is None:
            text = self.headers.get("Content-Length")
            if text is None:
                return None
            value = cache["clen"] = parse_uint(text, "Content-Length")
        return value

    @property
    def content_type(self) -> str | None:
        """The media type, lowercased, without parameters (``application/pidf+xml``)."""
        value = self.headers.get("Content-Type")
        return None if value is None else value.partition(";")[0].strip(LWS).lower()

    @property
    def expires(self) -> int | None:
        """The Expires value in seconds; None when absent and when larger than 2**32-1, which
        RFC 4475 scalar02 lets a registrar treat as absent (the default then applies)."""
        value = self.headers.get("Expires")
        if value is None:
            return None
        try:
            return parse_uint(value, "Expires")
        except ParseError:
            if value.strip(LWS).isdigit() and value.isascii():
                return None
            raise

    @property
    def contacts(self) -> list[NameAddr]:
        """The Contact values; ParseError for ``*`` (see ``is_star_contact``)."""
        cache = self.headers._parsed
        value: list[NameAddr] | None = cache.get("contact*")
        if value is None:
            value = cache["contact*"] = [NameAddr.parse(v) for v in self.headers.values("Contact")]
        return value

    @property
    def is_star_contact(self) -> bool:
        """True for ``Contact: *`` (§10.2.2: remove every binding)."""
        values = self.headers.get_all("Contact")
        return len(values) == 1 and values[0].strip(LWS) == "*"

    @property
    def routes(self) -> list[NameAddr]:
        cache = self.headers._parsed
        value: list[NameAddr] | None = cache.get("route*")
        if value is None:
            value = cache["route*"] = [NameAddr.parse(v) for v in self.headers.values("Route")]
        return value

    @property
    def record_routes(self) -> list[NameAddr]:
        cache = self.headers._parsed
        value: list[NameAddr] | None = cache.get("rr*")
        if value is None:
            value = cache["rr*"] = [NameAddr.parse(v) for v in self.headers.values("Record-Route")]
        return value

    @property
    def event(self) -> str | None:
        """The event package of the Event header, lowercased, without parameters."""
        value = self.headers.get("Event")
        return None if value is None else value.partition(";")[0].strip(LWS).lower()

    # -- serialising -------------------------------------------------------------------

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The wire form: CRLF line ends, canonical header names, folding undone, and
        Content-Length set to the body's length (added last when the headers had none).

        A parsed message whose headers have not changed since, and whose header lines came
        in exactly this form, is written with the received header octets: the same bytes,
        without rebuilding them. Anything else (folded lines, compact or odd-cased names,
        LWS around values, a Content-Length of "007" or given twice, bare LF) is rebuilt as
        above, so folding is never passed on even though it is legal (§7.3.1).
        """
        body = self.body
        headers = self.headers
        raw = headers._raw
        if raw is not None and headers._raw_length == len(body):
            # Unchanged since parsing, and received in exactly the form written below (see
            # _parse): the received header lines are the answer. The start line is rebuilt
            # because method, URI, status and reason are plain attributes.
            start = self.start_line().encode("utf-8", "surrogateescape")
            return b"".join((start, b"\r\n", raw, body))
        lines = [self.start_line()]
        seen_length = False
        for key, name, value in headers._fields:
            if key == "content-length":
                if seen_length:
                    continue
                seen_length = True
                value = str(len(body))
            lines.append(f"{name}: {value}")
        if not seen_length:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("\r\n")
        # surrogateescape gives back the very octets that were not UTF-8 on receipt.
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


class Request(Message):
    """A request. ``uri`` is the parsed Request-URI; ``request_uri`` its text as written.

    The Request-URI is parsed on first read of ``uri``; setting either keeps both in step.
    """

    __slots__ = ("_request_uri", "_uri", "method")

    def __init__(
        self,
        method: str,
        uri: Uri | str,
        headers: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(headers, body)
        self.method = method
        if isinstance(uri, str):
            self._request_uri = uri
            self._uri: Uri | None = None
        else:
            self._request_uri = str(uri)
            self._uri = uri

    @property
    def request_uri(self) -> str:
        return self._request_uri

    @request_uri.setter
    def request_uri(self, value: str) -> None:
        self._request_uri = value
        self._uri = None

    @property
    def uri(self) -> Uri:
        uri = self._uri
        if uri is None:
            uri = self._uri = parse_uri(self._request_uri)
        return uri

    @uri.setter
    def uri(self, value: Uri) -> None:
        self._uri = value
        self._request_uri = str(value)

    def start_line(self) -> str:
        return f"{self.method} {self._request_uri} {SIP_VERSION}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self._request_uri}>"


class Response(Message):
    """A response: status code 100-699 and reason phrase (``""`` is a legal one, §7.2)."""

    __slots__ = ("reason", "status")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = REASON_PHRASES.get(status, "Unknown") if reason is None else reason

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


# -- parsing -------------------------------------------------------------------------

# §7.5 and §18.3: the header section ends at the first empty line. RFC 3261 demands CRLF;
# bare LF (RFC 5118's published files use it) is accepted as well, as the stream framer does.
_BLANK_LINE_RE = re.compile(rb"\r?\n\r?\n")
_LEADING_EOL = (b"\r", b"\n")
_LWS_CHARS = (" ", "\t")


def parse_message(data: bytes) -> Request | Response:
    """Parse one message from a datagram or from bytes a stream framer cut out.

    The body is ``Content-Length`` octets after the blank line; octets beyond it are ignored
    (§18.3, RFC 4475 dblreq). Without Content-Length the body is the rest of the data, as on
    UDP (RFC 4475 inv2543). Header values stay as written (folding undone) until a typed view
    reads them. Raises ParseError, with a status hint (400, or 505 for another SIP version),
    for anything malformed, and no other exception.
    """
    try:
        return _parse(data)
    except (ValueError, LookupError) as exc:
        # A net under the boundary: whatever slipped past the checks below is still the
        # peer's malformed input, to be answered with 400, never a crash of the stack.
        raise ParseError(f"malformed message ({type(exc).__name__})") from exc


def _parse(data: bytes) -> Request | Response:
    if data.startswith(_LEADING_EOL):
        # §7.5: CRLFs before the start line are ignored.
        data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    lines: list[str] | None = None
    crlf = False
    if end >= 0:
        text = data[:end].decode("utf-8", "surrogateescape")
        lines = text.split("\r\n")
        breaks = len(lines) - 1
        if text.count("\n") == breaks and text.count("\r") == breaks:
            # The usual case: every CR and LF of the header section is in a CRLF.
            rest = data[end + 4 :]
            crlf = True
        else:
            lines = None
    if lines is None:
        lines, rest = _split_lines(data)
    try:
        fields, first, canonical = _fields(lines)
    except _Folded:
        fields, first, canonical = _fields(_unfold(lines))
        canonical = False
    # Headers._from_parsed, inlined (hot path): keep the two in step.
    headers = _new(Headers)
    headers._fields = fields
    headers._first = first
    headers._index = None
    headers._parsed = {}
    headers._raw = None
    headers._raw_length = -1
    text_length = first.get("content-length")
    if text_length is None:
        body = rest
    else:
        if len(first) == len(fields):
            # No name repeats, so this is the only Content-Length.
            length = _content_length(text_length, (), len(rest))
        else:
            others = [f[2] for f in fields if f[0] == "content-length"][1:]
            length = _content_length(text_length, others, len(rest))
            canonical = canonical and not others
        headers._parsed["clen"] = length
        body = rest if length == len(rest) else rest[:length]
        if canonical and crlf and (text_length[0] != "0" or text_length == "0"):
            # The header lines are byte for byte what to_bytes() would write (canonical
            # names, ": ", no LWS to trim, one Content-Length written as str(length)): keep
            # them so that an unchanged message is written back without rebuilding them.
            headers._raw = data[data.find(b"\r\n") + 2 : end + 4]
            headers._raw_length = length
    start = lines[0]
    if start[:4].upper() == "SIP/":
        return _parse_status_line(start, headers, body)
    return _parse_request_line(start, headers, body)


def _split_lines(data: bytes) -> tuple[list[str], bytes]:
    """The header lines and the rest, for a message that is not plain CRLF."""
    m = _BLANK_LINE_RE.search(data)
    if m is None:
        # No empty line: all of it is the header section (RFC 4475 baddn ends so).
        head, rest = data.rstrip(b"\r\n"), b""
    else:
        head, rest = data[: m.start()], data[m.end() :]
    text = head.decode("utf-8", "surrogateescape").replace("\r\n", "\n")
    if "\r" in text:
        # §7: lines end in CRLF; a lone CR inside the header section is malformed.
        raise ParseError("bare CR in the header section")
    return text.split("\n"), rest


class _Folded(Exception):
    """A continuation line turned up: the header lines need unfolding first."""


def _fields(
    lines: list[str],
) -> tuple[list[tuple[str, str, str]], dict[str, str], bool]:
    """``(key, name, value)`` per header line, the key -> first value map, and whether every
    line was already written as ``to_bytes`` writes it (``Name: value``)."""
    fields: list[tuple[str, str, str]] = []
    first: dict[str, str] = {}
    exact = _EXACT_NAMES
    canonical = True
    append = fields.append
    for line in islice(lines, 1, None):
        # Fast path: split at the first ": " and find the part before it among the names
        # written exactly as serialised; a hit means the line needs no other check.
        name, sep, value = line.partition(": ")
        found = exact.get(name)
        if found is None or not sep:  # no ": " at all: "Via" alone is no header line
            found, value = _slow_field(line)
            canonical = False
        else:
            stripped = value.strip(LWS)
            # CPython's strip() gives back the very object when there is nothing to strip;
            # elsewhere the identity test merely fails and costs the raw-bytes fast path.
            if stripped is not value:
                value = stripped
                canonical = False
        key = found[0]
        append((key, found[1], value))
        if key not in first:
            first[key] = value
    return fields, first, canonical


def _slow_field(line: str) -> tuple[tuple[str, str], str]:
    """``((key, spelling), value)`` of a line the fast path of ``_fields`` did not take:
    compact or odd-cased names, LWS around the colon, unknown names, continuation lines."""
    name, colon, value = line.partition(":")
    found = _WIRE_NAMES.get(name)
    if found is None or not colon:
        if line[:1] in _LWS_CHARS:
            raise _Folded
        if not colon:
            raise ParseError("header line without a colon")
        found = wire_name(name)
    learn_exact_name(name, found)
    return found, value.strip(LWS)


def _unfold(lines: list[str]) -> list[str]:
    """§7.3.1: a line starting with white space continues the previous header line; the
    line break and the white space around it count as one SP."""
    out = [lines[0]]
    pieces: list[str] = []  # of the field being continued; joined once (no quadratic copies)
    for line in lines[1:]:
        if line[:1] in _LWS_CHARS:
            if len(out) == 1:
                raise ParseError("continuation line before any header")
            if not pieces:
                pieces.append(out[-1].rstrip(LWS))
            piece = line.strip(LWS)
            if piece:
                pieces.append(piece)
        else:
            if pieces:
                out[-1] = " ".join(pieces)
                pieces = []
            out.append(line)
    if pieces:
        out[-1] = " ".join(pieces)
    return out


def _content_length(text: str, others: Sequence[str], available: int) -> int:
    """§18.3 framing of a message handed over whole (a datagram, or a framed stream chunk)."""
    if text.isdigit() and text.isascii() and len(text) < 10:
        length = int(text)  # the usual value, which parse_uint would only re-check
    else:
        length = parse_uint(text, "Content-Length")
    for other in others:
        if parse_uint(other, "Content-Length") != length:
            # RFC 4475 mcl01: conflicting lengths are a framing error.
            raise ParseError("conflicting Content-Length values")
    if length > available:
        # §18.3, RFC 4475 clerr: a body shorter than Content-Length is an error (400).
        raise ParseError("Content-Length larger than the body")
    return length


def _parse_request_line(line: str, headers: Headers, body: bytes) -> Request:
    # §7.1: exactly one SP between the three parts (RFC 4475 lwsruri, lwsstart, trws).
    parts = line.split(" ")
    if len(parts) != 3 or "" in parts:
        raise ParseError("malformed Request-Line")
    method, uri, version = parts
    if method not in COMMON_METHODS and TOKEN_RE.fullmatch(method) is None:
        raise ParseError("malformed method")
    if version != SIP_VERSION:
        _check_version(version)
    if uri[0] == "<":
        # RFC 4475 ltgtruri: the Request-URI is never enclosed in <>.
        raise ParseError("Request-URI enclosed in <>")
    request = _new(Request)
    request.headers = headers
    request.body = body
    request.method = method
    request._request_uri = uri
    request._uri = None
    return request


def _parse_status_line(line: str, headers: Headers, body: bytes) -> Response:
    # §7.2: Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; the phrase may be
    # empty (RFC 4475 noreason) and hold UTF-8 (unreason). A missing last SP is tolerated.
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version != SIP_VERSION:
        _check_version(version)
    if len(code) != 3 or not code.isdigit() or not code.isascii() or not "100" <= code <= "699":
        # RFC 4475 bigcode: 4294967301 is no status code; the response is dropped.
        raise ParseError("malformed status code")
    return Response(int(code), reason, headers, body)


def _check_version(version: str) -> None:
    # §7.1: SIP-Version is case-insensitive; another version earns 505 (RFC 4475 badvers).
    if version.upper() != SIP_VERSION:
        if version.upper().startswith("SIP/"):
            raise ParseError(f"SIP version {version[:16]} not supported", 505)
        raise ParseError("malformed SIP-Version")


# -- validation ----------------------------------------------------------------------

_REQUIRED = ("To", "From", "Call-ID", "CSeq", "Via")
#: Lookup keys of the headers we know: their names are tokens by construction.
_KNOWN_KEYS = frozenset(name.lower() for name in CANONICAL.values())
# §20.15: media-type = m-type SLASH m-subtype *(SEMI m-parameter)
_MEDIA_TYPE_RE = re.compile(rf"{TOKEN}[ \t]*/[ \t]*{TOKEN}[ \t]*(?:;.*)?", re.DOTALL)
#: Headers whose elements are option-tags (§19.2, §20.29, §20.32, §20.37, §20.40).
_OPTION_TAG_HEADERS = ("Require", "Proxy-Require", "Supported", "Unsupported")


def validate_message(
    message: Request | Response, known_methods: frozenset[str] | None = None
) -> None:
    """Check everything an element must refuse before acting on the message (§8.2, §16.3).

    Raises ParseError with the status hint to answer a request with. Responses that fail are
    dropped by the caller. Headers the element does not use (Date, unknown ones) are not
    judged, as RFC 4475's baddate allows. With ``known_methods``, a request whose method is
    not among them is refused with 501 first (RFC 4475 mismatch02 prefers 501 to 400).
    """
    try:
        _validate(message, known_methods)
    except (ValueError, LookupError) as exc:
        raise ParseError(f"malformed message ({type(exc).__name__})") from exc


def _validate(message: Request | Response, known_methods: frozenset[str] | None) -> None:
    if (
        known_methods is not None
        and isinstance(message, Request)
        and message.method not in known_methods
    ):
        raise ParseError(f"method {message.method} not implemented", 501)
    h = message.headers
    index = h._lookup()
    for name in _REQUIRED:
        if name.lower() not in index:
            # RFC 4475 insuf: a request without Call-ID, From or To earns 400.
            raise ParseError(f"missing {name} header")
    # In the order the fields came, so that the first fault found is the same every time.
    for key, found in index.items():
        if len(found) > 1 and key in SINGLE_HEADERS:
            # §7.3.1, RFC 4475 multi01: a header that is no list appears at most once.
            raise ParseError(f"more than one {CANONICAL.get(key, key)} header")
        if key not in _KNOWN_KEYS and TOKEN_RE.fullmatch(key) is None:
            # §7.3.1: field-name = token.
            raise ParseError("malformed header name")
    if CALL_ID_RE.fullmatch(message.call_id) is None:
        raise ParseError("malformed Call-ID")
    message.vias  # noqa: B018  (parsing is the check)
    for name_addr in (message.from_, message.to):
        name_addr.uri  # noqa: B018  (NameAddr parses its URI lazily)
    if not message.is_star_contact:
        for name_addr in message.contacts:
            name_addr.uri  # noqa: B018
    for name_addr in message.routes + message.record_routes:
        name_addr.uri  # noqa: B018
    cseq = message.cseq
    message.max_forwards  # noqa: B018
    message.expires  # noqa: B018
    content_type = h.get("Content-Type")
    if content_type is not None and _MEDIA_TYPE_RE.fullmatch(content_type) is None:
        raise ParseError("malformed Content-Type")
    event = message.event
    if event is not None and TOKEN_RE.fullmatch(event) is None:
        raise ParseError("malformed Event")
    for name in _OPTION_TAG_HEADERS:
        for tag in h.values(name):
            if tag and TOKEN_RE.fullmatch(tag) is None:
                raise ParseError(f"malformed option-tag in {name}")
    if isinstance(message, Request):
        uri = message.uri
        if isinstance(uri, SipUri) and uri.headers:
            # RFC 4475 escruri: headers in a Request-URI are not to be acted on.
            raise ParseError("Request-URI with embedded headers")
        if cseq.method != message.method:
            # §8.1.1.5, RFC 4475 mismatch01.
            raise ParseError("CSeq method does not match the request method")


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Response:
    """A response to ``request`` per §8.2.6.2: Via, From, To, Call-ID, CSeq copied as written.

    ``to_tag`` is added to To when the request had none (every response but 100 Trying
    needs one from a UAS). Record-Route is copied for dialog-creating 2xx by the dialog layer.
    The request need not be valid: a header it lacks is left out, and a To that does not
    parse is copied without a tag, so that a 400 can still answer it (RFC 4475 insuf,
    quotbal). ``extra`` fields are appended; a bad name or a CR/LF in a value raises
    LocalProtocolError.
    """
    h = request.headers
    fields: list[tuple[str, str, str]] = [("via", "Via", v) for v in h.get_all("Via")]
    value = h.get("From")
    if value is not None:
        fields.append(("from", "From", value))
    value = h.get("To")
    if value is not None:
        if to_tag is not None:
            try:
                has_tag = request.to.tag is not None
            except ParseError:
                has_tag = True  # no tag can be added to a value that does not parse
            if not has_tag:
                value = f"{value};tag={to_tag}"
        fields.append(("to", "To", value))
    for key, name in (("call-id", "Call-ID"), ("cseq", "CSeq")):
        value = h.get(name)
        if value is not None:
            fields.append((key, name, value))
    headers = Headers._from_parsed(fields)
    if extra:
        for name, value in extra:
            headers.add(name, value)
    return Response(status, reason, headers, body)
