"""Cut a TCP/TLS byte stream into SIP messages, sans I/O.

On a stream there are no datagram boundaries, so a message ends where its Content-Length
says it does (RFC 3261 §18.3).  Between messages a peer may also send keep-alives
(RFC 5626 §3.5.1, §4.4.1): a double CRLF "ping" that the receiving server answers with a
single CRLF "pong".  RFC 3261 §7.5 further requires ignoring CRLFs that precede a start-line.

:class:`StreamFramer` only looks at the bytes it is fed and hands back events:

* ``bytes``: one complete SIP message (head and body, leading CRLFs removed);
* :attr:`KeepAlive.PING`: a double CRLF arrived between messages, write ``b"\\r\\n"`` back;
* :attr:`KeepAlive.PONG`: a CRLF arrived on a flow whose keep-alives we send (only when the
  framer was built with ``pinging=True``);
* :class:`FramingError`: the stream cannot be framed any longer (bad or oversized
  Content-Length, oversized head); always the last event.  A stream has no way to find the
  next message boundary after such an error, so the connection must be closed after
  (optionally) answering with ``status_hint``.

The framer works the same whether bytes arrive whole, one at a time, or several messages per
chunk, and never holds more than ``max_head`` bytes of an unfinished head nor more than
``max_message`` bytes of an unfinished message.
"""

from __future__ import annotations

import enum
import re

from parley.sip.errors import LocalProtocolError, ParseError

__all__ = [
    "DEFAULT_MAX_HEAD",
    "DEFAULT_MAX_MESSAGE",
    "FrameEvent",
    "FramingError",
    "KeepAlive",
    "StreamFramer",
]

#: Largest accepted start-line plus headers (including the blank line), in bytes.
DEFAULT_MAX_HEAD = 32 * 1024
#: Largest accepted message, head plus body, in bytes.
DEFAULT_MAX_MESSAGE = 1024 * 1024

# The head ends at the first empty line.  RFC 3261 §7 mandates CRLF, but like most stacks
# (and RFC 3261 §7.5's "be liberal" spirit) we also accept a bare LF as line terminator.
_HEAD_END = re.compile(rb"\r?\n\r?\n")
# A header line folded onto the next one: CRLF followed by whitespace (RFC 3261 §7.3.1).
_FOLD = re.compile(rb"\r?\n[ \t]+")
_LINE_END = re.compile(rb"\r?\n")
# Longest possible _HEAD_END match minus one: how far back a new scan must restart so that a
# terminator split across two feeds is still found.
_HEAD_END_OVERLAP = 3
# Content-Length values are 1*DIGIT (RFC 3261 §20.14, §25.1); anything wider than this many
# significant digits is certainly beyond any sane max_message, so we stop converting there.
_MAX_LENGTH_DIGITS = 18


class KeepAlive(enum.Enum):
    """A keep-alive seen between messages (RFC 5626 §3.5.1)."""

    #: A double CRLF: the connection's owner is checking us, answer with a single CRLF.
    PING = "ping"
    #: A single CRLF answering one of our own pings (only reported with ``pinging=True``).
    PONG = "pong"


class FramingError(ParseError):
    """The stream broke framing rules; the connection cannot be resynchronised.

    ``status_hint`` is 400 for a malformed Content-Length, 413 when the announced body
    would exceed the message limit (RFC 3261 §21.4.11) and 513 when the head alone exceeds
    the head limit (RFC 3261 §21.5.11).  ``head`` holds the complete message head when it was
    received (so that a server can still build a response to a request from it), else None.
    """

    def __init__(self, reason: str, status_hint: int = 400, head: bytes | None = None) -> None:
        super().__init__(reason, status_hint)
        self.head = head


#: What :meth:`StreamFramer.feed` returns, in stream order.
FrameEvent = bytes | KeepAlive | FramingError


def _content_length(head: bytes) -> int:
    """Return the body length announced in ``head`` (0 when absent), or raise FramingError.

    RFC 3261 §18.3 makes Content-Length mandatory on streams; like most deployed stacks we
    read a missing one as 0 rather than stalling the connection, and leave it to the parser
    to decide whether that request deserves a 400.
    """
    unfolded = _FOLD.sub(b" ", head)
    found: int | None = None
    # The first line is the start-line; it cannot carry a header.
    for line in _LINE_END.split(unfolded)[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        # HCOLON allows whitespace before the colon (RFC 3261 §25.1); names are
        # case-insensitive and "l" is the compact form of Content-Length (§7.3.3, §20.14).
        if name.rstrip(b" \t").lower() not in (b"content-length", b"l"):
            continue
        text = value.strip(b" \t")
        if not text.isdigit():
            raise FramingError("Bad Content-Length", 400, head)
        significant = text.lstrip(b"0")
        if len(significant) > _MAX_LENGTH_DIGITS:
            raise FramingError("Content-Length too large", 413, head)
        length = int(significant or b"0")
        if found is not None and found != length:
            # Two different lengths leave no way to tell which bytes are body: the classic
            # request-smuggling ambiguity.  Identical repeats are harmless.
            raise FramingError("Conflicting Content-Length", 400, head)
        found = length
    return 0 if found is None else found


class StreamFramer:
    """Incremental splitter of one connection's inbound byte stream into SIP messages.

    ``pinging`` selects the keep-alive role (RFC 5626 §3.5.1): False (the default) for the
    side that *answers* pings, i.e. a server on a connection the peer opened; True for the
    side that *sends* pings, i.e. the client that opened the flow, where every CRLF between
    messages is a pong and must not be mistaken for a ping when two arrive back to back.
    """

    __slots__ = (
        "_body_length",
        "_buffer",
        "_crlfs",
        "_error",
        "_head_length",
        "_scan_from",
        "_started",
        "max_head",
        "max_message",
        "pinging",
    )

    def __init__(
        self,
        max_head: int = DEFAULT_MAX_HEAD,
        max_message: int = DEFAULT_MAX_MESSAGE,
        *,
        pinging: bool = False,
    ) -> None:
        if max_head <= 0 or max_message <= 0:
            raise ValueError("limits must be positive")
        self.max_head = max_head
        self.max_message = max_message
        self.pinging = pinging
        self._buffer = bytearray()
        # Where the next head-terminator search starts, so that feeding byte by byte stays
        # linear instead of rescanning the whole buffer each time.
        self._scan_from = 0
        # True once the first byte of a start-line has been seen.
        self._started = False
        # Length of the head of the message being received, once its end has been seen.
        self._head_length: int | None = None
        self._body_length = 0
        # CRLFs seen between messages since the last ping (server role only).
        self._crlfs = 0
        self._error: FramingError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for a message not yet complete."""
        return len(self._buffer)

    @property
    def at_boundary(self) -> bool:
        """True when no partial message is held (a close now loses nothing)."""
        return not self._started

    @property
    def error(self) -> FramingError | None:
        """The error that stopped this framer, if any."""
        return self._error

    def feed(self, data: bytes) -> list[FrameEvent]:
        """Consume ``data`` and return the events it completes, in order.

        A :class:`FramingError` is returned (not raised) as the last event so that messages
        completed earlier in the same chunk are not lost; after it, feeding again is a bug
        of the caller and raises :class:`~parley.sip.errors.LocalProtocolError`.
        """
        if self._error is not None:
            raise LocalProtocolError("StreamFramer fed after a framing error")
        self._buffer += data
        events: list[FrameEvent] = []
        try:
            while self._step(events):
                pass
        except FramingError as exc:
            self._fail(exc)
            events.append(exc)
        return events

    def _fail(self, exc: FramingError) -> None:
        self._error = exc
        # Nothing after the error can be framed; drop it so the limits keep holding.
        self._buffer.clear()

    def _step(self, events: list[FrameEvent]) -> bool:
        """Make one unit of progress; return False when more bytes are needed."""
        buf = self._buffer
        if self._head_length is None:
            if not self._started:
                self._started = self._skip_keepalives(events)
                if not self._started:
                    return False
            return self._find_head()
        total = self._head_length + self._body_length
        if len(buf) < total:
            return False
        events.append(bytes(buf[:total]))
        del buf[:total]
        self._head_length = None
        self._body_length = 0
        self._scan_from = 0
        self._started = False
        return True

    def _skip_keepalives(self, events: list[FrameEvent]) -> bool:
        """Consume CRLFs preceding a message; return True once a message has begun."""
        buf = self._buffer
        while buf:
            if buf.startswith(b"\r\n"):
                del buf[:2]
            elif buf[:1] == b"\n":
                del buf[:1]
            elif buf == b"\r":
                return False  # maybe half of a CRLF: wait for the LF
            else:
                # A start-line begins.  A lone CRLF before it was a pong or the RFC 3261
                # §7.5 leading CRLF; either way it is ignored.
                self._crlfs = 0
                return True
            if self.pinging:
                events.append(KeepAlive.PONG)
                continue
            self._crlfs += 1
            if self._crlfs == 2:
                # RFC 5626 §3.5.1: a double CRLF between messages is a ping, to be answered
                # at once with a single CRLF on the same connection.
                self._crlfs = 0
                events.append(KeepAlive.PING)
        return False

    def _find_head(self) -> bool:
        buf = self._buffer
        match = _HEAD_END.search(buf, self._scan_from)
        if match is None:
            if len(buf) > self.max_head:
                raise FramingError("Message Too Large", 513)
            self._scan_from = max(0, len(buf) - _HEAD_END_OVERLAP)
            return False
        head_length = match.end()
        if head_length > self.max_head:
            raise FramingError("Message Too Large", 513)
        head = bytes(buf[:head_length])
        body_length = _content_length(head)
        if body_length > self.max_message - head_length:
            raise FramingError("Request Entity Too Large", 413, head)
        self._head_length = head_length
        self._body_length = body_length
        return True
