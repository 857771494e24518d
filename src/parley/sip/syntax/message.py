"""SIP requests and responses (§7): parsing from bytes, serialising, and strict validation.

``parse_message`` does the cheap, always-needed work eagerly (start line, header split,
Content-Length framing) and leaves header values unparsed until read. ``validate_request``
and ``validate_response`` then check what an element must reject before acting on a message.
"""

from __future__ import annotations

from parley.sip.errors import ParseError
from parley.sip.syntax.abnf import CALL_ID_RE, LWS, TOKEN_RE, parse_uint
from parley.sip.syntax.headers import CANONICAL, SINGLE_HEADERS, Headers
from parley.sip.syntax.uri import SipUri, Uri, parse_uri
from parley.sip.syntax.values import CSeq, NameAddr, Via

SIP_VERSION = "SIP/2.0"

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
    the headers change; a malformed value raises ParseError when read.
    """

    __slots__ = ("body", "headers")

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body

    # -- typed views -------------------------------------------------------------------

    @property
    def top_via(self) -> Via:
        h = self.headers
        return h.parsed("via0", lambda: Via.parse(_first_element(h.get("Via"), "Via")))

    @property
    def vias(self) -> list[Via]:
        h = self.headers
        return h.parsed("via*", lambda: [Via.parse(v) for v in h.values("Via")])

    @property
    def from_(self) -> NameAddr:
        h = self.headers
        return h.parsed("from", lambda: NameAddr.parse(_required(h.get("From"), "From")))

    @property
    def to(self) -> NameAddr:
        h = self.headers
        return h.parsed("to", lambda: NameAddr.parse(_required(h.get("To"), "To")))

    @property
    def call_id(self) -> str:
        return _required(self.headers.get("Call-ID"), "Call-ID").strip(LWS)

    @property
    def cseq(self) -> CSeq:
        h = self.headers
        return h.parsed("cseq", lambda: CSeq.parse(_required(h.get("CSeq"), "CSeq")))

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
        value = self.headers.get("Content-Length")
        return None if value is None else parse_uint(value, "Content-Length")

    @property
    def content_type(self) -> str | None:
        """The media type, lowercased, without parameters (``application/pidf+xml``)."""
        value = self.headers.get("Content-Type")
        return None if value is None else value.partition(";")[0].strip(LWS).lower()

    @property
    def expires(self) -> int | None:
        value = self.headers.get("Expires")
        return None if value is None else parse_uint(value, "Expires")

    @property
    def contacts(self) -> list[NameAddr]:
        h = self.headers
        return h.parsed("contact*", lambda: [NameAddr.parse(v) for v in h.values("Contact")])

    @property
    def routes(self) -> list[NameAddr]:
        h = self.headers
        return h.parsed("route*", lambda: [NameAddr.parse(v) for v in h.values("Route")])

    @property
    def record_routes(self) -> list[NameAddr]:
        h = self.headers
        return h.parsed(
            "rr*", lambda: [NameAddr.parse(v) for v in h.values("Record-Route")]
        )

    @property
    def event(self) -> str | None:
        """The event package of the Event header, lowercased, without parameters."""
        value = self.headers.get("Event")
        return None if value is None else value.partition(";")[0].strip(LWS).lower()

    # -- serialising -------------------------------------------------------------------

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The wire form, with Content-Length set to the body's length."""
        length = str(len(self.body))
        lines = [self.start_line()]
        seen_length = False
        for key, name, value in self.headers._fields:
            if key == "content-length":
                if seen_length:
                    continue
                seen_length = True
                value = length
            lines.append(f"{name}: {value}")
        if not seen_length:
            lines.append(f"Content-Length: {length}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


class Request(Message):
    """A request. ``uri`` is the parsed Request-URI; ``request_uri`` its text as written."""

    __slots__ = ("_uri", "method", "request_uri")

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
            self.request_uri = uri
            self._uri: Uri | None = None
        else:
            self.request_uri = str(uri)
            self._uri = uri

    @property
    def uri(self) -> Uri:
        uri = self._uri
        if uri is None:
            uri = self._uri = parse_uri(self.request_uri)
        return uri

    @uri.setter
    def uri(self, value: Uri) -> None:
        self._uri = value
        self.request_uri = str(value)

    def start_line(self) -> str:
        return f"{self.method} {self.request_uri} {SIP_VERSION}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.request_uri}>"


class Response(Message):
    """A response: status code 100-699 and reason phrase."""

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


def _required(value: str | None, name: str) -> str:
    if value is None:
        raise ParseError(f"missing {name} header")
    return value


def _first_element(value: str | None, name: str) -> str:
    value = _required(value, name)
    if "," not in value:
        return value
    from parley.sip.syntax.abnf import split_outside

    return split_outside(value, ",")[0]


# -- parsing -------------------------------------------------------------------------


def parse_message(data: bytes) -> Request | Response:
    """Parse one message from a datagram or from bytes a stream framer cut out.

    The body is ``Content-Length`` octets after the blank line; octets beyond it are ignored
    (§18.3, RFC 4475 dblreq). Without Content-Length the body is the rest of the data, as on
    UDP (RFC 4475 inv2543). Raises ParseError, with a status hint, for anything malformed.
    """
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head_bytes, rest = data[:end], data[end + 4 :]
    else:
        end = data.find(b"\n\n")
        if end >= 0:
            head_bytes, rest = data[:end], data[end + 2 :]
        else:
            # No blank line: all of it is the header section (RFC 4475 baddn ends so).
            head_bytes, rest = data.rstrip(b"\r\n"), b""
    text = head_bytes.decode("utf-8", "surrogateescape")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    # §7.5: CRLFs before the start line are ignored.
    lines = text.lstrip("\r\n").split("\n")
    start = lines[0]
    fields: list[tuple[str, str, str]] = []
    lengths: list[str] = []
    canonical = CANONICAL
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in LWS:
            # §7.3.1: a line starting with white space continues the previous field.
            if not fields:
                raise ParseError("continuation line before any header")
            key, name, value = fields[-1]
            fields[-1] = (key, name, f"{value} {line.strip(LWS)}".strip(LWS))
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ParseError("header line without a colon")
        name = name.rstrip(LWS)
        lname = name.lower()
        canon = canonical.get(lname)
        if canon is None:
            key = lname
        else:
            name = canon
            key = canon.lower()
        value = value.strip(LWS)
        if key == "content-length":
            lengths.append(value)
        fields.append((key, name, value))
    if lengths:
        body = rest[: _content_length(lengths, len(rest))]
    else:
        body = rest
    headers = Headers._from_parsed(fields)
    if start.startswith("SIP/"):
        return _parse_status_line(start, headers, body)
    return _parse_request_line(start, headers, body)


def _content_length(values: list[str], available: int) -> int:
    if len(values) > 1 and len({v.strip(LWS) for v in values}) > 1:
        # RFC 4475 mcl01: conflicting lengths are a framing error.
        raise ParseError("conflicting Content-Length values")
    length = parse_uint(values[0], "Content-Length")
    if length > available:
        # RFC 4475 clerr: on UDP a body shorter than Content-Length gets 400.
        raise ParseError("Content-Length larger than the body")
    return length


def _parse_request_line(line: str, headers: Headers, body: bytes) -> Request:
    # §7.1: exactly one SP between the three parts (RFC 4475 lwsruri, lwsstart, trws).
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise ParseError("malformed Request-Line")
    method, uri, version = parts
    if TOKEN_RE.fullmatch(method) is None:
        raise ParseError("malformed method")
    _check_version(version)
    if uri.startswith("<"):
        raise ParseError("Request-URI enclosed in <>")
    return Request(method, uri, headers, body)


def _parse_status_line(line: str, headers: Headers, body: bytes) -> Response:
    parts = line.split(" ", 2)
    if len(parts) < 3:
        if len(parts) == 2:
            parts.append("")
        else:
            raise ParseError("malformed Status-Line")
    version, code, reason = parts
    _check_version(version)
    if len(code) != 3 or not code.isdigit() or not code.isascii() or not "100" <= code <= "699":
        raise ParseError("malformed status code")
    return Response(int(code), reason, headers, body)


def _check_version(version: str) -> None:
    if version.upper() != SIP_VERSION:
        if version.upper().startswith("SIP/"):
            raise ParseError(f"SIP version {version} not supported", 505)
        raise ParseError("malformed SIP-Version")


# -- validation ----------------------------------------------------------------------


def validate_message(
    message: Request | Response, known_methods: frozenset[str] | None = None
) -> None:
    """Check everything an element must refuse before acting on the message (§8.2, §16.3).

    Raises ParseError with the status hint to answer a request with. Responses that fail are
    dropped by the caller. Headers the element does not use (Date, unknown ones) are not
    judged, as RFC 4475's baddate allows. With ``known_methods``, a request whose method is
    not among them is refused with 501 first (RFC 4475 mismatch02 prefers 501 to 400).
    """
    if (
        known_methods is not None
        and isinstance(message, Request)
        and message.method not in known_methods
    ):
        raise ParseError(f"method {message.method} not implemented", 501)
    h = message.headers
    for name in ("To", "From", "Call-ID", "CSeq", "Via"):
        if name not in h:
            raise ParseError(f"missing {name} header")
    index = h._lookup()
    for key in SINGLE_HEADERS:
        found = index.get(key)
        if found is not None and len(found) > 1:
            raise ParseError(f"more than one {CANONICAL.get(key, key)} header")
    for name in index:
        if TOKEN_RE.fullmatch(name) is None:
            raise ParseError("malformed header name")
    if CALL_ID_RE.fullmatch(message.call_id) is None:
        raise ParseError("malformed Call-ID")
    message.vias  # noqa: B018  (parsing is the check)
    message.from_  # noqa: B018
    message.to  # noqa: B018
    message.contacts if "Contact" not in h or h.get("Contact", "").strip(LWS) != "*" else None
    message.routes  # noqa: B018
    message.record_routes  # noqa: B018
    cseq = message.cseq
    message.max_forwards  # noqa: B018
    if "Expires" in h:
        message.expires  # noqa: B018
    if isinstance(message, Request):
        uri = message.uri
        if isinstance(uri, SipUri) and uri.headers:
            # RFC 4475 escruri: headers in a Request-URI are not to be acted on.
            raise ParseError("Request-URI with embedded headers")
        if cseq.method != message.method:
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
    """A response to ``request`` per §8.2.6.2: Via, From, To, Call-ID, CSeq copied.

    ``to_tag`` is added to To when the request had none (every response but 100 Trying
    needs one from a UAS). Record-Route is copied for dialog-creating 2xx by the dialog layer.
    """
    h = request.headers
    fields: list[tuple[str, str]] = [("Via", v) for v in h.get_all("Via")]
    fields.append(("From", _required(h.get("From"), "From")))
    to = _required(h.get("To"), "To")
    if to_tag is not None and request.to.tag is None:
        to = f"{to};tag={to_tag}"
    fields.append(("To", to))
    fields.append(("Call-ID", _required(h.get("Call-ID"), "Call-ID")))
    fields.append(("CSeq", _required(h.get("CSeq"), "CSeq")))
    if extra:
        fields.extend(extra)
    return Response(status, reason, Headers(fields), body)
