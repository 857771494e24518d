"""TransportLayer over real loopback sockets: UDP, TCP, TLS and WebSocket, IPv4 and IPv6.

Only outcomes are asserted (what arrived, over which connection, what got closed), never
how long anything took; every wait has a generous bound so a broken build fails instead of
hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from parley.runtime.tls import client_context, dev_certificate, server_context
from parley.runtime.trace import format_trace
from parley.runtime.transports import (
    Listener,
    ListenSpec,
    TransportConfig,
    TransportError,
    TransportLayer,
)
from parley.sip.transport.address import Peer
from parley.sip.transport.framing import FramingError

WAIT = 5.0
#: RFC 7118 §4.1: what a SIP WebSocket client offers in Sec-WebSocket-Protocol.
SIP = [Subprotocol("sip")]


def _has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HOSTS = [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback (::1)")),
]


def sip(method: str = "MESSAGE", body: bytes = b"hi", extra: bytes = b"") -> bytes:
    return (
        f"{method} sip:bob@example.com SIP/2.0\r\n".encode()
        + b"Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKx\r\n"
        + b"CSeq: 1 "
        + method.encode()
        + b"\r\n"
        + extra
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def response(body: bytes = b"") -> bytes:
    return b"SIP/2.0 200 OK\r\nCSeq: 1 MESSAGE\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass
class Recorder:
    """Collects what a TransportLayer reports through its callbacks."""

    messages: asyncio.Queue[tuple[bytes, Peer, Listener]] = field(default_factory=asyncio.Queue)
    opened: asyncio.Queue[Peer] = field(default_factory=asyncio.Queue)
    closed: asyncio.Queue[Peer] = field(default_factory=asyncio.Queue)
    errors: list[FramingError] = field(default_factory=list)
    traces: list[tuple[str, str, Listener, Peer, bytes]] = field(default_factory=list)
    error_reply: bytes | None = None

    def on_message(self, data: bytes, peer: Peer, local: Listener) -> None:
        self.messages.put_nowait((data, peer, local))

    def on_opened(self, peer: Peer, local: Listener) -> None:
        self.opened.put_nowait(peer)

    def on_closed(self, peer: Peer, local: Listener) -> None:
        self.closed.put_nowait(peer)

    def on_stream_error(self, error: FramingError, peer: Peer, local: Listener) -> bytes | None:
        self.errors.append(error)
        return self.error_reply

    def tracer(
        self, direction: str, transport: str, local: Listener, peer: Peer, data: bytes
    ) -> None:
        self.traces.append((direction, transport, local, peer, data))

    async def message(self) -> tuple[bytes, Peer, Listener]:
        return await asyncio.wait_for(self.messages.get(), WAIT)

    async def next_opened(self) -> Peer:
        return await asyncio.wait_for(self.opened.get(), WAIT)

    async def next_closed(self) -> Peer:
        return await asyncio.wait_for(self.closed.get(), WAIT)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return dev_certificate(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def trusting(certs: tuple[Path, Path]) -> ssl.SSLContext:
    return client_context(verify=True, cafile=certs[0])


LayerFactory = Callable[..., Any]


@pytest.fixture
async def make_layer(
    certs: tuple[Path, Path], trusting: ssl.SSLContext
) -> AsyncIterator[Callable[..., Any]]:
    layers: list[TransportLayer] = []

    async def make(
        specs: list[ListenSpec], config: TransportConfig | None = None
    ) -> tuple[TransportLayer, Recorder, list[Listener]]:
        rec = Recorder()
        layer = TransportLayer(
            rec.on_message,
            config=config,
            server_ssl=server_context(*certs),
            client_ssl=trusting,
            on_connection_opened=rec.on_opened,
            on_connection_closed=rec.on_closed,
            on_stream_error=rec.on_stream_error,
            tracer=rec.tracer,
        )
        layers.append(layer)
        listeners = await layer.start(specs)
        return layer, rec, listeners

    yield make
    for layer in layers:
        await layer.close()


async def read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), WAIT)


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes; a reset counts as closed too."""
    try:
        return await asyncio.wait_for(reader.read(), WAIT)
    except ConnectionError:
        return b""


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


# -- UDP -----------------------------------------------------------------------------------


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait((data, addr))


async def udp_client(host: str) -> tuple[asyncio.DatagramTransport, _Datagrams]:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return await loop.create_datagram_endpoint(_Datagrams, local_addr=(host, 0), family=family)


@pytest.mark.parametrize("host", HOSTS)
async def test_udp_roundtrip(make_layer: LayerFactory, host: str) -> None:
    layer, rec, [listener] = await make_layer([ListenSpec("udp", host, 0)])
    assert listener.transport == "udp" and listener.host == host and listener.port > 0
    client, proto = await udp_client(host)
    try:
        client.sendto(sip(), (host, listener.port))
        data, peer, local = await rec.message()
        assert data == sip()
        assert peer == Peer("udp", host, client.get_extra_info("sockname")[1])
        assert peer.conn_id == 0
        assert local == listener
        assert await layer.send(response(), peer) == peer
        got, addr = await asyncio.wait_for(proto.queue.get(), WAIT)
        assert got == response()
        assert addr[1] == listener.port
    finally:
        client.close()


async def test_waiting_datagrams_are_read_on_demand(make_layer: LayerFactory) -> None:
    # What the endpoint does before its timers fire: answers that already arrived are
    # handled first, without waiting for the event loop's next poll.
    layer, rec, [listener] = await make_layer([ListenSpec("udp", "127.0.0.1", 0)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for n in range(3):
            client.sendto(sip(body=b"n%d" % n), ("127.0.0.1", listener.port))
        for _ in range(200):  # the kernel queues them at once on loopback; be patient
            if select.select([layer._udp_readers[0][0]], [], [], 0.01)[0]:
                break
        time.sleep(0.05)
        # No await in between: only read_pending_udp can have read them.
        assert layer.read_pending_udp() == 3
        assert [rec.messages.get_nowait()[0] for _ in range(3)] == [
            sip(body=b"n%d" % n) for n in range(3)
        ]
        assert layer.read_pending_udp() == 0


async def test_udp_oversize_datagram_is_dropped(make_layer: LayerFactory) -> None:
    config = TransportConfig(max_udp_message=1000)
    layer, rec, [listener] = await make_layer([ListenSpec("udp", "127.0.0.1", 0)], config)
    client, _ = await udp_client("127.0.0.1")
    try:
        client.sendto(sip(body=b"x" * 2000), ("127.0.0.1", listener.port))
        client.sendto(b"\r\n\r\n", ("127.0.0.1", listener.port))  # keep-alive, not SIP
        client.sendto(sip(), ("127.0.0.1", listener.port))
        data, _, _ = await rec.message()
        assert data == sip()
        assert rec.messages.empty()
        with pytest.raises(TransportError):
            await layer.send(b"x" * 1001, Peer("udp", "127.0.0.1", 9))
    finally:
        client.close()


async def test_udp_send_needs_a_listener_of_the_family(make_layer: LayerFactory) -> None:
    layer, _, _ = await make_layer([ListenSpec("udp", "127.0.0.1", 0)])
    with pytest.raises(TransportError):
        layer.send_nowait(sip(), Peer("udp", "2001:db8::1", 5060))


# -- TCP / TLS -----------------------------------------------------------------------------


async def open_stream(
    transport: str, host: str, port: int, tls: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=tls if transport == "tls" else None), WAIT
    )


@pytest.mark.parametrize("transport", ["tcp", "tls"])
@pytest.mark.parametrize("host", HOSTS)
async def test_stream_roundtrip_reuses_inbound_connection(
    make_layer: LayerFactory, trusting: ssl.SSLContext, transport: str, host: str
) -> None:
    layer, rec, [listener] = await make_layer([ListenSpec(transport, host, 0)])
    reader, writer = await open_stream(transport, host, listener.port, trusting)
    try:
        # Two messages in one write, a third split in two writes, with a leading CRLF.
        writer.write(sip() + b"\r\n" + sip("OPTIONS", b""))
        writer.write(sip(body=b"split")[:20])
        await writer.drain()
        writer.write(sip(body=b"split")[20:])
        first, peer, local = await rec.message()
        second, peer2, _ = await rec.message()
        third, peer3, _ = await rec.message()
        assert (first, second, third) == (sip(), sip("OPTIONS", b""), sip(body=b"split"))
        assert peer == peer2 == peer3
        assert peer.transport == transport and peer.host == host and peer.conn_id > 0
        assert peer.port == writer.get_extra_info("sockname")[1]
        assert local == listener
        assert await rec.next_opened() == peer

        # RFC 3261 §18.2.2: the response goes back over the same connection, whether the
        # stack names it by conn_id or only by address.
        assert await layer.send(response(), peer) == peer
        assert await read_exactly(reader, len(response())) == response()
        by_address = Peer(transport, peer.host, peer.port)
        assert layer.send_nowait(response(b"again"), by_address) == peer
        assert await read_exactly(reader, len(response(b"again"))) == response(b"again")
        assert layer.connections == [peer]
    finally:
        await close_writer(writer)
    assert await rec.next_closed() == peer
    assert layer.connection(peer.conn_id) is None
    with pytest.raises(TransportError):
        await layer.send(response(), peer, connect=False)


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_crlf_ping_gets_pong(
    make_layer: LayerFactory, trusting: ssl.SSLContext, transport: str
) -> None:
    _, rec, [listener] = await make_layer([ListenSpec(transport, "127.0.0.1", 0)])
    reader, writer = await open_stream(transport, "127.0.0.1", listener.port, trusting)
    try:
        writer.write(b"\r\n\r\n")
        assert await read_exactly(reader, 2) == b"\r\n"
        # A lone CRLF (a pong) is not answered, and messages still flow afterwards.
        writer.write(b"\r\n" + sip())
        data, _, _ = await rec.message()
        assert data == sip()
        writer.write(b"\r\n\r\n")
        assert await read_exactly(reader, 2) == b"\r\n"
    finally:
        await close_writer(writer)


@pytest.mark.parametrize("transport", ["tcp", "tls"])
@pytest.mark.parametrize("host", HOSTS)
async def test_outbound_connection_and_reply_over_it(
    make_layer: LayerFactory, transport: str, host: str
) -> None:
    server, server_rec, [listener] = await make_layer([ListenSpec(transport, host, 0)])
    client, client_rec, _ = await make_layer([])
    target = Peer(transport, host, listener.port)

    used = await client.send(sip(), target)
    assert used.conn_id > 0 and (used.host, used.port) == (host, listener.port)
    data, inbound, _ = await server_rec.message()
    assert data == sip()

    # The server answers over the connection the client opened...
    await server.send(response(), inbound)
    data, peer, local = await client_rec.message()
    assert data == response()
    assert peer == used
    assert local.transport == transport and local.port == inbound.port
    # ...and the client's next request reuses it rather than opening another one.
    assert await client.send(sip("OPTIONS", b""), target) == used
    data, again, _ = await server_rec.message()
    assert again == inbound
    assert len(client.connections) == 1 and len(server.connections) == 1

    # A pong from the server on the client's flow is not treated as a message or a ping.
    server.send_nowait(b"\r\n", inbound)
    server.send_nowait(b"\r\n", inbound)
    await server.send(response(b"after pongs"), inbound)
    data, _, _ = await client_rec.message()
    assert data == response(b"after pongs")

    client.close_connection(used.conn_id)
    assert await client_rec.next_closed() == used
    assert await server_rec.next_closed() == inbound


async def test_connect_failure_is_a_transport_error(make_layer: LayerFactory) -> None:
    layer, _, _ = await make_layer([])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        with pytest.raises(TransportError):
            await layer.send(sip(), Peer("tcp", "127.0.0.1", port))
    with pytest.raises(TransportError):
        layer.send_nowait(sip(), Peer("tcp", "127.0.0.1", port))


async def test_tls_client_rejects_untrusted_server(make_layer: LayerFactory) -> None:
    _, _, [listener] = await make_layer([ListenSpec("tls", "127.0.0.1", 0)])
    rec = Recorder()
    # The system trust store does not know the development certificate.
    strict = TransportLayer(rec.on_message, client_ssl=client_context(verify=True))
    try:
        with pytest.raises(TransportError):
            await strict.send(sip(), Peer("tls", "127.0.0.1", listener.port))
        assert strict.connections == []
    finally:
        await strict.close()


async def test_stream_body_too_large_answers_then_closes(make_layer: LayerFactory) -> None:
    config = TransportConfig(max_head=1024, max_message=2048)
    _layer, rec, [listener] = await make_layer([ListenSpec("tcp", "127.0.0.1", 0)], config)
    rec.error_reply = response(b"too large")
    reader, writer = await open_stream("tcp", "127.0.0.1", listener.port, None)
    try:
        writer.write(sip() + sip(body=b"x" * 5000))
        data, peer, _ = await rec.message()
        assert data == sip()
        # The stack gets the head to build its answer from; the answer is written, then
        # the connection closed since the stream cannot be resynchronised.
        assert await read_eof(reader) == response(b"too large")
        assert await rec.next_closed() == peer
        [error] = rec.errors
        assert error.status_hint == 413
        assert error.head is not None and error.head.startswith(b"MESSAGE ")
    finally:
        await close_writer(writer)


async def test_stream_bad_content_length_closes(make_layer: LayerFactory) -> None:
    _layer, rec, [listener] = await make_layer([ListenSpec("tcp", "127.0.0.1", 0)])
    reader, writer = await open_stream("tcp", "127.0.0.1", listener.port, None)
    try:
        writer.write(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\n")
        assert await read_eof(reader) == b""
        await rec.next_closed()
        assert [e.status_hint for e in rec.errors] == [400]
        assert rec.messages.empty()
    finally:
        await close_writer(writer)


async def test_connection_cap_refuses_extra_connections(make_layer: LayerFactory) -> None:
    config = TransportConfig(max_connections=1)
    layer, rec, [listener] = await make_layer([ListenSpec("tcp", "127.0.0.1", 0)], config)
    _r1, w1 = await open_stream("tcp", "127.0.0.1", listener.port, None)
    try:
        first = await rec.next_opened()
        r2, w2 = await open_stream("tcp", "127.0.0.1", listener.port, None)
        try:
            w2.write(sip())
            assert await read_eof(r2) == b""
        finally:
            await close_writer(w2)
        # The first connection is unaffected, and outbound connects are refused too.
        w1.write(sip())
        _, peer, _ = await rec.message()
        assert peer == first
        assert rec.opened.empty()
        with pytest.raises(TransportError):
            await layer.send(sip(), Peer("tcp", "127.0.0.1", listener.port))
    finally:
        await close_writer(w1)


async def test_idle_connection_is_closed(make_layer: LayerFactory) -> None:
    config = TransportConfig(idle_timeout=0.2)
    _, rec, [listener] = await make_layer([ListenSpec("tcp", "127.0.0.1", 0)], config)
    reader, writer = await open_stream("tcp", "127.0.0.1", listener.port, None)
    try:
        writer.write(sip())
        _, peer, _ = await rec.message()
        assert await rec.next_closed() == peer
        assert await read_eof(reader) == b""
    finally:
        await close_writer(writer)


async def test_peer_that_does_not_read_is_disconnected(make_layer: LayerFactory) -> None:
    config = TransportConfig(max_write_buffer=64 * 1024)
    layer, rec, [listener] = await make_layer([ListenSpec("tcp", "127.0.0.1", 0)], config)
    _reader, writer = await open_stream("tcp", "127.0.0.1", listener.port, None)
    try:
        writer.write(sip())
        _, peer, _ = await rec.message()
        big = response(b"x" * 60_000)
        with pytest.raises(TransportError):
            # Kernel buffers absorb some megabytes first; the bound is hit long before 1000.
            for _ in range(1000):
                layer.send_nowait(big, peer)
        assert await rec.next_closed() == peer
    finally:
        await close_writer(writer)


# -- WebSocket -----------------------------------------------------------------------------


def ws_uri(transport: str, host: str, port: int) -> str:
    return f"{transport}://{url_host(host)}:{port}/"


@pytest.mark.parametrize("transport", ["ws", "wss"])
@pytest.mark.parametrize("host", HOSTS)
async def test_websocket_roundtrip(
    make_layer: LayerFactory, trusting: ssl.SSLContext, transport: str, host: str
) -> None:
    layer, rec, [listener] = await make_layer([ListenSpec(transport, host, 0)])
    tls = trusting if transport == "wss" else None
    async with ws_connect(ws_uri(transport, host, listener.port), subprotocols=SIP, ssl=tls) as ws:
        assert ws.subprotocol == "sip"
        # RFC 7118 §5.1: text and binary messages both carry one SIP message each.
        await ws.send(sip().decode())
        await ws.send(sip("OPTIONS", b""))
        first, peer, local = await rec.message()
        second, peer2, _ = await rec.message()
        assert (first, second) == (sip(), sip("OPTIONS", b""))
        assert peer == peer2
        assert peer.transport == transport and peer.conn_id > 0 and peer.host == host
        assert local == listener
        assert await rec.next_opened() == peer

        assert await layer.send(response(), peer) == peer
        reply = await asyncio.wait_for(ws.recv(), WAIT)
        assert reply == response().decode()  # valid UTF-8 goes out as a text frame

        # CRLF keep-alive as web clients send it: answered, not delivered.
        await ws.send("\r\n\r\n")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "\r\n"
        assert rec.messages.empty()

        # There is no outbound WebSocket: without the connection, sending fails.
        with pytest.raises(TransportError):
            await layer.send(response(), Peer(transport, host, 1))
    assert await rec.next_closed() == peer


async def test_websocket_without_sip_subprotocol_is_rejected(make_layer: LayerFactory) -> None:
    # Decision (RFC 7118 §4.1): a client that does not offer "sip" gets HTTP 400 instead
    # of a WebSocket whose payload format was never agreed.
    _, rec, [listener] = await make_layer([ListenSpec("ws", "127.0.0.1", 0)])
    uri = ws_uri("ws", "127.0.0.1", listener.port)
    for offer in (None, [Subprotocol("chat")]):
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(uri, subprotocols=offer):
                pass
        assert info.value.response.status_code == 400
    assert rec.opened.empty()


async def test_websocket_oversize_message_closes(make_layer: LayerFactory) -> None:
    config = TransportConfig(max_message=1024)
    _, rec, [listener] = await make_layer([ListenSpec("ws", "127.0.0.1", 0)], config)
    async with ws_connect(ws_uri("ws", "127.0.0.1", listener.port), subprotocols=SIP) as ws:
        peer = await rec.next_opened()
        await ws.send(sip(body=b"x" * 4096))
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), WAIT)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009  # message too big
    assert await rec.next_closed() == peer
    assert rec.messages.empty()


async def test_websocket_connection_cap(make_layer: LayerFactory) -> None:
    config = TransportConfig(max_connections=1)
    _, rec, [listener] = await make_layer([ListenSpec("ws", "127.0.0.1", 0)], config)
    uri = ws_uri("ws", "127.0.0.1", listener.port)
    async with ws_connect(uri, subprotocols=SIP):
        await rec.next_opened()
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(uri, subprotocols=SIP):
                pass
        assert info.value.response.status_code == 503


async def test_websocket_idle_timeout(make_layer: LayerFactory) -> None:
    config = TransportConfig(idle_timeout=0.2)
    _, rec, [listener] = await make_layer([ListenSpec("ws", "127.0.0.1", 0)], config)
    async with ws_connect(ws_uri("ws", "127.0.0.1", listener.port), subprotocols=SIP) as ws:
        peer = await rec.next_opened()
        assert await rec.next_closed() == peer
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)


# -- layer-wide ----------------------------------------------------------------------------


async def test_start_reports_every_listener(make_layer: LayerFactory) -> None:
    specs = [ListenSpec(t, "127.0.0.1", 0) for t in ("udp", "tcp", "tls", "ws", "wss")]
    layer, _, listeners = await make_layer(specs)
    assert [x.transport for x in listeners] == ["udp", "tcp", "tls", "ws", "wss"]
    assert all(x.port > 0 and x.host == "127.0.0.1" for x in listeners)
    assert layer.listeners == tuple(listeners)


async def test_tls_listener_needs_a_server_context() -> None:
    layer = TransportLayer(lambda *_: None)
    with pytest.raises(ValueError):
        await layer.start([ListenSpec("tls", "127.0.0.1", 0)])
    with pytest.raises(ValueError):
        await layer.start([ListenSpec("sctp", "127.0.0.1", 0)])
    await layer.close()


async def test_close_closes_connections(make_layer: LayerFactory) -> None:
    layer, rec, [listener] = await make_layer([ListenSpec("tcp", "127.0.0.1", 0)])
    reader, writer = await open_stream("tcp", "127.0.0.1", listener.port, None)
    try:
        peer = await rec.next_opened()
        await layer.close()
        assert await rec.next_closed() == peer
        assert await read_eof(reader) == b""
    finally:
        await close_writer(writer)


async def test_tracer_sees_both_directions(make_layer: LayerFactory) -> None:
    layer, rec, [listener] = await make_layer([ListenSpec("tcp", "127.0.0.1", 0)])
    reader, writer = await open_stream("tcp", "127.0.0.1", listener.port, None)
    try:
        writer.write(sip())
        _, peer, _ = await rec.message()
        await layer.send(response(), peer)
        await read_exactly(reader, len(response()))
    finally:
        await close_writer(writer)
    assert [(d, t, p, data) for d, t, _, p, data in rec.traces] == [
        ("recv", "tcp", peer, sip()),
        ("send", "tcp", peer, response()),
    ]
    direction, transport, local, tpeer, data = rec.traces[1]
    text = format_trace(direction, transport, local, tpeer, data)
    assert f"TCP 127.0.0.1:{listener.port} -> 127.0.0.1:{peer.port}" in text
    assert "SIP/2.0 200 OK\nCSeq: 1 MESSAGE" in text
    incoming = format_trace(*rec.traces[0])
    assert " <- " in incoming and "MESSAGE sip:bob@example.com SIP/2.0" in incoming


def test_dev_certificate_is_reused(tmp_path: Path) -> None:
    cert, key = dev_certificate(tmp_path)
    before = cert.read_bytes(), key.read_bytes()
    assert dev_certificate(tmp_path) == (cert, key)
    assert (cert.read_bytes(), key.read_bytes()) == before
    assert key.stat().st_mode & 0o077 == 0
