"""WorkerChannel: the length-prefixed frames between ``parley serve --workers`` processes,
over a real Unix stream socket pair."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from parley.runtime.worker_channel import MAX_FRAME, WorkerChannel
from parley.sip.transport.address import Peer

WAIT = 5.0

SIP = (
    b"MESSAGE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@example.com>;tag=1928301774\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 1 MESSAGE\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Length: 256\r\n"
    b"\r\n" + bytes(range(256))
)


@dataclass
class Inbox:
    """What one end received, with an event per arrival."""

    messages: list[tuple[bytes, Peer]] = field(default_factory=list)
    controls: list[tuple[str, str]] = field(default_factory=list)
    closed_calls: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def on_message(self, data: bytes, peer: Peer) -> None:
        self.messages.append((data, peer))
        self.arrived.set()

    def on_control(self, name: str, value: str) -> None:
        self.controls.append((name, value))
        self.arrived.set()

    def on_closed(self) -> None:
        self.closed_calls += 1
        self.arrived.set()

    def received(self) -> int:
        return len(self.messages) + len(self.controls)

    async def wait_for_frames(self, count: int) -> None:
        async def wait() -> None:
            while self.received() < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(wait(), WAIT)


@dataclass
class Link:
    left: WorkerChannel
    right: WorkerChannel
    left_inbox: Inbox
    right_inbox: Inbox


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    left_inbox, right_inbox = Inbox(), Inbox()
    left = await WorkerChannel.connect(
        a, left_inbox.on_message, left_inbox.on_control, left_inbox.on_closed
    )
    right = await WorkerChannel.connect(
        b, right_inbox.on_message, right_inbox.on_control, right_inbox.on_closed
    )
    yield Link(left, right, left_inbox, right_inbox)
    left.close()
    right.close()
    await asyncio.wait_for(asyncio.gather(left.closed, right.closed), WAIT)


PEERS = [
    Peer("udp", "192.0.2.1", 5060),
    Peer("udp", "127.0.0.1", 1, 0),
    Peer("tcp", "198.51.100.7", 65535, 2**63 + 12345),
    Peer("tls", "::1", 5061, 2**64 - 1),
    Peer("ws", "2001:db8::5:6:7", 443, 42),
    Peer("udp", "fe80::1%eth0", 5060),
]


async def test_message_frames_keep_data_and_peer(link: Link) -> None:
    for peer in PEERS:
        assert link.left.send_message(SIP, peer)
    await link.right_inbox.wait_for_frames(len(PEERS))
    assert link.right_inbox.messages == [(SIP, peer) for peer in PEERS]
    assert link.right_inbox.controls == []
    # Peer is frozen data: conn_id came through exactly, 64 bits of it.
    assert link.right_inbox.messages[2][1].conn_id == 2**63 + 12345
    assert link.right_inbox.messages[3][1].conn_id == 2**64 - 1


async def test_both_directions_and_odd_payloads(link: Link) -> None:
    payloads = [b"", b"\x00", b"\r\n\r\n", bytes(range(256)) * 200, SIP]
    peer = Peer("tcp", "::1", 5070, 99)
    for data in payloads:
        assert link.right.send_message(data, peer)
    assert link.left.send_message(b"SIP/2.0 200 OK\r\n\r\n", Peer("udp", "10.0.0.1", 5060))
    await link.left_inbox.wait_for_frames(len(payloads))
    await link.right_inbox.wait_for_frames(1)
    assert link.left_inbox.messages == [(data, peer) for data in payloads]
    assert link.right_inbox.messages == [(b"SIP/2.0 200 OK\r\n\r\n", Peer("udp", "10.0.0.1", 5060))]


async def test_control_frames(link: Link) -> None:
    controls = [
        ("ready", ""),
        ("forget", "*"),
        ("forget", "alice@example.com\nbob@example.com\ncarol@example.com"),
        ("closed", "18446744073709551615"),
        ("stored", "zoë@example.com"),
        ("note", "a value\r\nwith line ends\n\nand = signs"),
    ]
    for name, value in controls:
        assert link.left.send_control(name, value)
    assert link.left.send_control("bare")  # value defaults to empty
    await link.right_inbox.wait_for_frames(len(controls) + 1)
    assert link.right_inbox.controls == [*controls, ("bare", "")]
    assert link.right_inbox.messages == []


async def test_messages_and_controls_keep_their_order(link: Link) -> None:
    peer = Peer("udp", "192.0.2.9", 5060)
    order: list[str] = []
    link.right.on_message = lambda data, _peer: order.append(data.decode())
    link.right.on_control = lambda name, value: order.append(f"{name}={value}")
    expected = []
    for n in range(100):
        if n % 7 == 0:
            assert link.left.send_control("forget", str(n))
            expected.append(f"forget={n}")
        else:
            assert link.left.send_message(str(n).encode(), peer)
            expected.append(str(n))

    async def all_arrived() -> None:
        while len(order) < len(expected):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(all_arrived(), WAIT)
    assert order == expected


async def _frame_stream(write: Callable[[WorkerChannel], None]) -> bytes:
    """The bytes a real channel writes when ``write`` sends on it: read raw from the other
    socket of the pair until the channel closes."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    sender = await WorkerChannel.connect(ours, lambda d, p: None, lambda n, v: None)
    write(sender)
    sender.close()
    await asyncio.wait_for(sender.closed, WAIT)
    theirs.setblocking(False)
    loop = asyncio.get_running_loop()
    chunks = []
    while chunk := await asyncio.wait_for(loop.sock_recv(theirs, 65536), WAIT):
        chunks.append(chunk)
    theirs.close()
    return b"".join(chunks)


async def test_frames_split_into_single_bytes_are_put_back_together() -> None:
    peer_a = Peer("udp", "192.0.2.1", 5060)
    peer_b = Peer("tcp", "2001:db8::1", 5060, 7)

    def write(sender: WorkerChannel) -> None:
        assert sender.send_message(SIP, peer_a)
        assert sender.send_control("forget", "alice@example.com\nbob@example.com")
        assert sender.send_message(b"", peer_b)
        assert sender.send_control("ready")

    stream = await _frame_stream(write)
    inbox = Inbox()
    channel = WorkerChannel(inbox.on_message, inbox.on_control, inbox.on_closed)
    for at in range(len(stream)):
        channel.data_received(stream[at : at + 1])
    assert inbox.messages == [(SIP, peer_a), (b"", peer_b)]
    assert inbox.controls == [("forget", "alice@example.com\nbob@example.com"), ("ready", "")]
    # Every split into two pieces gives the same frames.
    for cut in range(0, len(stream), 37):
        again = Inbox()
        channel = WorkerChannel(again.on_message, again.on_control)
        channel.data_received(stream[:cut])
        channel.data_received(stream[cut:])
        assert again.messages == inbox.messages
        assert again.controls == inbox.controls


async def test_a_frame_whose_callback_fails_does_not_stop_the_next() -> None:
    peer = Peer("udp", "192.0.2.1", 5060)

    def write(sender: WorkerChannel) -> None:
        assert sender.send_message(b"first", peer)
        assert sender.send_message(b"second", peer)

    stream = await _frame_stream(write)
    got: list[bytes] = []

    def on_message(data: bytes, _peer: Peer) -> None:
        got.append(data)
        if data == b"first":
            raise RuntimeError("boom")

    channel = WorkerChannel(on_message, lambda n, v: None)
    channel.data_received(stream)
    assert got == [b"first", b"second"]


async def test_a_frame_over_max_frame_closes_the_channel() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    inbox = Inbox()
    channel = await WorkerChannel.connect(ours, inbox.on_message, inbox.on_control, inbox.on_closed)
    try:
        theirs.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(theirs, struct.pack("!I", MAX_FRAME + 1) + b"C" + b"x" * 64)
        await asyncio.wait_for(channel.closed, WAIT)
        assert not channel.is_open
        assert inbox.closed_calls == 1
        assert inbox.received() == 0
        assert not channel.send_control("ready")
        # The other end sees the link go.
        assert await asyncio.wait_for(loop.sock_recv(theirs, 16), WAIT) == b""
    finally:
        theirs.close()
        channel.close()


async def test_a_frame_of_exactly_max_frame_is_accepted() -> None:
    inbox = Inbox()
    channel = WorkerChannel(inbox.on_message, inbox.on_control)
    frame = b"C" + b"big\0" + b"v" * (MAX_FRAME - 5)
    assert len(frame) == MAX_FRAME
    channel.data_received(struct.pack("!I", len(frame)) + frame)
    assert inbox.controls == [("big", "v" * (MAX_FRAME - 5))]


async def test_the_other_end_closing_resolves_closed_and_calls_on_closed(link: Link) -> None:
    assert link.left.is_open and link.right.is_open
    assert not link.right.closed.done()
    link.left.close()
    assert not link.left.send_control("late")  # closing: nothing more goes out
    assert not link.left.send_message(b"late", Peer("udp", "192.0.2.1", 5060))
    await asyncio.wait_for(link.right.closed, WAIT)
    await asyncio.wait_for(link.left.closed, WAIT)
    assert link.right_inbox.closed_calls == 1
    assert link.left_inbox.closed_calls == 1
    assert not link.right.is_open
    assert not link.right.send_control("ready")
    assert not link.right.send_message(SIP, Peer("tcp", "::1", 5060, 3))
    assert link.right_inbox.received() == 0


async def test_frames_sent_before_close_still_arrive(link: Link) -> None:
    peer = Peer("udp", "192.0.2.1", 5060)
    for n in range(50):
        assert link.left.send_message(b"%d" % n, peer)
    assert link.left.send_control("stored", "bob@example.com")
    link.left.close()
    await asyncio.wait_for(link.right.closed, WAIT)
    assert [data for data, _ in link.right_inbox.messages] == [b"%d" % n for n in range(50)]
    assert link.right_inbox.controls == [("stored", "bob@example.com")]


async def test_a_socket_closed_underneath_ends_the_channel() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    inbox = Inbox()
    channel = await WorkerChannel.connect(ours, inbox.on_message, inbox.on_control, inbox.on_closed)
    theirs.close()  # the other process died
    await asyncio.wait_for(channel.closed, WAIT)
    assert inbox.closed_calls == 1
    assert not channel.is_open
    assert not channel.send_message(SIP, Peer("udp", "192.0.2.1", 5060))
