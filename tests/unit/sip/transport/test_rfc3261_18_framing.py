"""StreamFramer: RFC 3261 §18.3 stream framing, §7.5 leading CRLFs, RFC 5626 §3.5.1 keep-alives.

Every scenario is fed three ways, as h11's tests do: in one chunk, one byte at a time, and
split at every possible point into two chunks.  The events must not depend on the split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.transport.framing import (
    FrameEvent,
    FramingError,
    KeepAlive,
    StreamFramer,
)

INVITE = (
    b"MESSAGE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP client.example.com:5060;branch=z9hG4bK776asdhds\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"From: <sip:alice@example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 1 MESSAGE\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"hello"
)
OK = b"SIP/2.0 200 OK\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"


def message(headers: bytes, body: bytes = b"") -> bytes:
    return b"MESSAGE sip:bob@example.com SIP/2.0\r\n" + headers + b"\r\n" + body


def whole(data: bytes) -> Iterator[bytes]:
    yield data


def bytewise(data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]


Chunker = Callable[[bytes], Iterator[bytes]]
CHUNKERS: list[Chunker] = [whole, bytewise]


def run(data: bytes, chunker: Chunker, framer: StreamFramer | None = None) -> list[FrameEvent]:
    framer = framer or StreamFramer()
    events: list[FrameEvent] = []
    for chunk in chunker(data):
        events += framer.feed(chunk)
        if events and isinstance(events[-1], FramingError):
            break
    return events


def all_splits(data: bytes, make: Callable[[], StreamFramer] = StreamFramer) -> None:
    """Assert that splitting ``data`` anywhere in two chunks gives the whole-chunk events."""
    expected = run(data, whole, make())
    for cut in range(len(data) + 1):
        framer = make()
        got = framer.feed(data[:cut])
        if not (got and isinstance(got[-1], FramingError)):
            got += framer.feed(data[cut:])
        assert _comparable(got) == _comparable(expected), cut


def _comparable(events: list[FrameEvent]) -> list[object]:
    return [(type(e).__name__, e.status_hint) if isinstance(e, FramingError) else e for e in events]


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_single_message(chunker: Chunker) -> None:
    assert run(INVITE, chunker) == [INVITE]


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_several_messages_in_one_stream(chunker: Chunker) -> None:
    assert run(INVITE + OK + INVITE, chunker) == [INVITE, OK, INVITE]


def test_several_messages_any_split() -> None:
    all_splits(INVITE + OK + b"\r\n\r\n" + INVITE)


def test_message_without_body() -> None:
    assert StreamFramer().feed(OK) == [OK]


def test_partial_message_waits() -> None:
    framer = StreamFramer()
    assert framer.feed(INVITE[:-1]) == []
    assert not framer.at_boundary
    assert framer.feed(INVITE[-1:]) == [INVITE]
    assert framer.at_boundary
    assert framer.buffered == 0


# -- RFC 3261 §7.5 / RFC 5626 §3.5.1 -------------------------------------------------------


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_leading_crlf_is_skipped(chunker: Chunker) -> None:
    assert run(b"\r\n" + INVITE, chunker) == [INVITE]


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_double_crlf_between_messages_is_a_ping(chunker: Chunker) -> None:
    assert run(INVITE + b"\r\n\r\n" + OK, chunker) == [INVITE, KeepAlive.PING, OK]


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_ping_alone(chunker: Chunker) -> None:
    assert run(b"\r\n\r\n", chunker) == [KeepAlive.PING]


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_repeated_pings(chunker: Chunker) -> None:
    assert run(b"\r\n\r\n" * 3, chunker) == [KeepAlive.PING] * 3


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_ping_then_leading_crlf_then_message(chunker: Chunker) -> None:
    assert run(b"\r\n\r\n\r\n" + OK, chunker) == [KeepAlive.PING, OK]


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_lone_pong_is_ignored(chunker: Chunker) -> None:
    framer = StreamFramer()
    assert run(b"\r\n", chunker, framer) == []
    assert framer.at_boundary
    assert framer.feed(OK) == [OK]


def test_pings_spread_over_feeds() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n") == []
    assert framer.feed(b"\r") == []
    assert framer.feed(b"\n") == [KeepAlive.PING]


def test_crlf_inside_body_is_not_a_keepalive() -> None:
    body = b"\r\n\r\n\r\n"
    data = message(b"Content-Length: 6\r\n", body)
    for chunker in CHUNKERS:
        assert run(data, chunker) == [data]


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_pinging_side_reports_every_crlf_as_pong(chunker: Chunker) -> None:
    # RFC 5626 §4.4.1: the flow's client sends pings; two pongs in a row are not a ping.
    framer = StreamFramer(pinging=True)
    assert run(b"\r\n\r\n" + OK, chunker, framer) == [KeepAlive.PONG, KeepAlive.PONG, OK]


def test_keepalives_any_split() -> None:
    all_splits(b"\r\n\r\n" + OK + b"\r\n" + INVITE + b"\r\n\r\n")
    all_splits(b"\r\n" + OK + b"\r\n\r\n", lambda: StreamFramer(pinging=True))


# -- Content-Length forms ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: 4\r\n",
        b"content-length:4\r\n",
        b"CONTENT-LENGTH :   4  \r\n",
        b"l: 4\r\n",
        b"L:4\r\n",
        b"Content-Length:\r\n 4\r\n",  # folded (RFC 3261 §7.3.1)
        b"Content-Length:\r\n\t4\r\n",
        b"Content-Length: 0004\r\n",
        b"Content-Length: 4\r\nContent-Length: 4\r\n",  # identical repeat is harmless
        b"Content-Type: text/plain\r\nl: 4\r\nSubject: l: 9\r\n",
    ],
)
@pytest.mark.parametrize("chunker", CHUNKERS)
def test_content_length_spellings(header: bytes, chunker: Chunker) -> None:
    data = message(b"To: <sip:bob@example.com>\r\n" + header, b"body")
    assert run(data + OK, chunker) == [data, OK]


def test_missing_content_length_means_empty_body() -> None:
    # RFC 3261 §18.3 requires it on streams; absent, we frame with an empty body.
    data = message(b"To: <sip:bob@example.com>\r\n")
    assert StreamFramer().feed(data + OK) == [data, OK]


def test_bare_lf_line_ends_are_tolerated() -> None:
    data = b"SIP/2.0 200 OK\nl: 2\n\nhi"
    for chunker in CHUNKERS:
        assert run(data + OK, chunker) == [data, OK]


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: -1\r\n",
        b"Content-Length: abc\r\n",
        b"Content-Length: 1.5\r\n",
        b"Content-Length: 4 4\r\n",
        b"Content-Length: 4,4\r\n",
        b"Content-Length: +4\r\n",
        b"Content-Length:\r\n",
        b"Content-Length: 4\r\nl: 5\r\n",  # conflicting
    ],
)
@pytest.mark.parametrize("chunker", CHUNKERS)
def test_bad_content_length_is_a_400(header: bytes, chunker: Chunker) -> None:
    data = message(header, b"body")
    events = run(data, chunker)
    assert len(events) == 1
    error = events[0]
    assert isinstance(error, FramingError)
    assert isinstance(error, ParseError)
    assert error.status_hint == 400
    # The head is handed back so that a server can still answer the request.
    assert error.head is not None
    assert error.head.startswith(b"MESSAGE sip:bob@example.com SIP/2.0\r\n")


def test_messages_before_an_error_are_kept() -> None:
    bad = message(b"Content-Length: x\r\n")
    events = StreamFramer().feed(OK + bad + OK)
    assert events[0] == OK
    assert isinstance(events[1], FramingError)
    assert len(events) == 2


def test_feeding_after_an_error_is_a_local_error() -> None:
    framer = StreamFramer()
    [error] = framer.feed(message(b"Content-Length: -3\r\n"))
    assert framer.error is error
    assert framer.buffered == 0
    with pytest.raises(LocalProtocolError):
        framer.feed(OK)


# -- limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_body_over_limit_is_a_413(chunker: Chunker) -> None:
    framer = StreamFramer(max_head=1024, max_message=200)
    data = message(b"Content-Length: 500\r\n", b"x" * 500)
    events = run(data, chunker, framer)
    assert len(events) == 1
    assert isinstance(events[0], FramingError)
    assert events[0].status_hint == 413
    # Refused as soon as the head announced it: the body was never buffered.
    assert framer.buffered == 0


def test_huge_content_length_is_a_413() -> None:
    [error] = StreamFramer().feed(message(b"Content-Length: " + b"9" * 5000 + b"\r\n"))
    assert isinstance(error, FramingError)
    assert error.status_hint == 413


def test_message_exactly_at_limit_passes() -> None:
    data = message(b"Content-Length: 10\r\n", b"0123456789")
    framer = StreamFramer(max_head=len(data) - 10, max_message=len(data))
    assert framer.feed(data) == [data]
    framer = StreamFramer(max_head=len(data) - 10, max_message=len(data) - 1)
    [error] = framer.feed(data)
    assert isinstance(error, FramingError)
    assert error.status_hint == 413


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_head_over_limit_is_refused(chunker: Chunker) -> None:
    framer = StreamFramer(max_head=256, max_message=4096)
    data = message(b"Subject: " + b"x" * 1000 + b"\r\nContent-Length: 0\r\n")
    events = run(data, chunker, framer)
    assert len(events) == 1
    assert isinstance(events[0], FramingError)
    assert events[0].status_hint == 513
    assert framer.buffered == 0


def test_unterminated_head_never_exceeds_limit() -> None:
    framer = StreamFramer(max_head=100, max_message=1000)
    for _ in range(100):
        events = framer.feed(b"a")
        assert events == []
        assert framer.buffered <= 100
    [error] = framer.feed(b"a")
    assert isinstance(error, FramingError)
    assert framer.buffered == 0


def test_head_limit_with_terminator_split() -> None:
    data = message(b"Content-Length: 0\r\n")
    all_splits(data + data, lambda: StreamFramer(max_head=len(data), max_message=len(data)))
    all_splits(data, lambda: StreamFramer(max_head=len(data) - 1, max_message=len(data)))


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        StreamFramer(max_head=0)


def test_large_body_byte_by_byte_is_linear_enough() -> None:
    body = b"x" * 200_000
    data = message(b"Content-Length: 200000\r\n", body)
    framer = StreamFramer()
    events: list[FrameEvent] = []
    for chunk in bytewise(data):
        events += framer.feed(chunk)
    assert events == [data]
