"""asyncio listeners and connections for SIP over UDP, TCP, TLS, WS and WSS.

This is the imperative shell around :mod:`parley.sip.transport`: it owns the sockets and
hands every inbound SIP message, as raw bytes, to a single ``on_message`` callback together
with the :class:`~parley.sip.transport.address.Peer` it came from and the
:class:`Listener` it arrived on.  It knows nothing of SIP beyond framing and keep-alives.

Connection-oriented transports give each connection a ``conn_id`` carried in the Peer, so
that responses go back over the connection the request came in on (RFC 3261 §18.2.2) and
requests to a client behind NAT reuse its flow (RFC 5626 §5.3).  ``send`` reuses a
connection by ``conn_id``, then by remote address, and only then opens a new TCP/TLS one
(RFC 3261 §18.1.1).  WebSocket connections are accepted only: browsers connect to us
(RFC 7118 §5); there is no outbound WS.  Besides its own ``ws``/``wss`` listeners, the
layer adopts WebSockets another server upgraded (the HTTP port's ``/ws``, see
:mod:`parley.runtime.http`) through :meth:`TransportLayer.adopt_websocket`.

Limits guard the server against misbehaving peers: a datagram size cap, stream framing
limits (:class:`~parley.sip.transport.framing.StreamFramer`), a connection cap, an idle
timeout, and a bounded write buffer beyond which a peer that does not read is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import ssl
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from parley.runtime.tls import client_context
from parley.sip.transport.address import TRANSPORTS, Peer
from parley.sip.transport.framing import (
    DEFAULT_MAX_HEAD,
    DEFAULT_MAX_MESSAGE,
    FramingError,
    KeepAlive,
    StreamFramer,
)

__all__ = [
    "ListenSpec",
    "Listener",
    "OnConnection",
    "OnMessage",
    "OnStreamError",
    "Tracer",
    "TransportConfig",
    "TransportError",
    "TransportLayer",
    "TransportStats",
    "WebSocketChannel",
    "WebSocketClosed",
]

log = logging.getLogger(__name__)

#: RFC 7118 §4.1/§7: the WebSocket subprotocol name registered for SIP.
WS_SUBPROTOCOL = Subprotocol("sip")
# RFC 5626 §3.5.1 keep-alives.
_PING = b"\r\n\r\n"
_PONG = b"\r\n"
_STREAM_TRANSPORTS = frozenset({"tcp", "tls"})
_WS_TRANSPORTS = frozenset({"ws", "wss"})


@dataclass(frozen=True, slots=True)
class ListenSpec:
    """Where to listen: ``transport`` in udp/tcp/tls/ws/wss, a literal IP ``host``, and a
    ``port`` (0 picks an ephemeral one; :meth:`TransportLayer.start` reports it)."""

    transport: str
    host: str
    port: int = 0


@dataclass(frozen=True, slots=True)
class Listener:
    """A local transport address: a bound listening socket, or for connections we opened
    ourselves, the local end of that connection."""

    transport: str
    host: str
    port: int

    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Limits and timeouts; every duration is in seconds, every size in bytes."""

    #: Datagrams larger than this are dropped unread (RFC 3261 §18.1.1 caps UDP at 65535).
    max_udp_message: int = 65535
    #: Stream framing limits (TCP/TLS), see StreamFramer; ``max_message`` also caps WS messages.
    max_head: int = DEFAULT_MAX_HEAD
    max_message: int = DEFAULT_MAX_MESSAGE
    #: Connections (inbound and outbound, all transports) beyond this are refused.
    max_connections: int = 1024
    #: Close a connection that carried nothing in either direction for this long.  Longer
    #: than a usual REGISTER refresh so that clients without keep-alives keep their flow.
    idle_timeout: float | None = 3600.0
    connect_timeout: float = 10.0
    handshake_timeout: float = 10.0
    #: How long a send may wait for the peer to drain our writes before we give up on it.
    write_timeout: float = 10.0
    #: Bytes we queue for one peer before deciding it does not read and disconnecting it.
    max_write_buffer: int = 4 * 1024 * 1024
    #: WebSocket-level pings that detect dead browsers (None disables them).
    ws_ping_interval: float | None = 20.0
    read_chunk: int = 64 * 1024
    #: SO_RCVBUF asked for on UDP sockets (0 keeps the system default).
    udp_receive_buffer: int = 16 * 1024 * 1024


class TransportError(Exception):
    """A message could not be sent (no route, connection failed or closed, too large)."""


class WebSocketClosed(Exception):
    """Raised by a :class:`WebSocketChannel` once its WebSocket is closed."""


class WebSocketChannel(Protocol):
    """An accepted WebSocket (RFC 7118), whichever HTTP server accepted it.

    The layer runs its own listeners on the ``websockets`` library; an HTTP server sharing
    a port with other resources (``/ws`` beside XCAP and ``/metrics``) hands its upgraded
    connections over through :meth:`TransportLayer.adopt_websocket` behind this interface.
    """

    async def send(self, message: str | bytes) -> None:
        """Send one WS message (text for ``str``); raise WebSocketClosed once closed."""
        ...

    async def receive(self) -> bytes:
        """The next data message, text or binary, as bytes; raise WebSocketClosed at the
        end. Must be safe to cancel (the idle timeout cancels it)."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with a WebSocket status code (RFC 6455 §7.4)."""
        ...

    def abort(self) -> None:
        """Drop the underlying connection at once."""
        ...


def message_kind(data: bytes) -> str:
    """``"response"`` if ``data`` starts as a SIP status line does (RFC 3261 §7.2), else
    ``"request"``."""
    return "response" if data.startswith(b"SIP/") else "request"


@dataclass(slots=True)
class TransportStats:
    """Running totals for monitoring, read at scrape time (``/metrics``).

    Keys are transport names ("udp", "tcp", "tls", "ws", "wss"); message counters are keyed
    by ``(transport, kind)`` with kind "request" or "response" (the first bytes tell, no
    parsing). Every counter only grows; open connections are
    :meth:`TransportLayer.open_connections`.
    """

    received: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    opened: Counter[str] = field(default_factory=Counter)
    closed: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)


#: ``on_message(data, peer, local)``: one complete inbound SIP message.
OnMessage = Callable[[bytes, Peer, Listener], None]
#: ``on_connection_opened(peer, local)`` / ``on_connection_closed(peer, local)``.
OnConnection = Callable[[Peer, Listener], None]
#: ``on_stream_error(error, peer, local) -> reply``: bytes to write before the connection
#: is closed (e.g. a 400/413/513 response built from ``error.head``), or None.
OnStreamError = Callable[[FramingError, Peer, Listener], bytes | None]
#: ``tracer(direction, transport, local, peer, data)`` with direction "recv" or "send".
Tracer = Callable[[str, str, Listener, Peer, bytes], None]


def _host(address: Any) -> str:
    host = str(address[0])
    # A v4-mapped IPv6 address names an IPv4 peer; Peer wants the plain dotted form.
    if host.startswith("::ffff:") and "." in host:
        host = host[len("::ffff:") :]
    return host


def _is_ipv6(host: str) -> bool:
    return ":" in host


#: Linux's SO_RCVBUFFORCE, which the socket module does not name.
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform == "linux" else None)


def _grow_receive_buffer(sock: Any, size: int) -> None:
    """Room for bursts on a UDP socket: the default (~200 KB, a few hundred datagrams)
    overflows during a garbage collection pause at a few thousand requests per second, or
    when the 200 OKs to a fan-out of 10,000 NOTIFYs come back while we still send; each
    datagram lost costs a retransmission 500 ms later. SO_RCVBUFFORCE (allowed to root)
    goes beyond net.core.rmem_max, to which SO_RCVBUF is capped."""
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
            return
        except OSError:
            continue


def _pick_listener(listeners: Sequence[Listener], sockname: Any) -> Listener:
    """The listener, among one server's sockets, that accepted a connection on ``sockname``."""
    host, port = _host(sockname), int(sockname[1])
    for listener in listeners:
        if listener.port == port and _is_ipv6(listener.host) == _is_ipv6(host):
            return listener
    return listeners[0]


class _Connection:
    """State shared by stream and WebSocket connections."""

    def __init__(
        self,
        layer: TransportLayer,
        conn_id: int,
        peer: Peer,
        local: Listener,
        *,
        outbound: bool,
    ) -> None:
        self.layer = layer
        self.conn_id = conn_id
        self.peer = peer
        self.local = local
        self.outbound = outbound
        self.closing = False
        self.last_activity = asyncio.get_running_loop().time()

    def touch(self) -> None:
        self.last_activity = asyncio.get_running_loop().time()

    def idle_remaining(self) -> float | None:
        """Seconds left before the idle timeout (None when there is none)."""
        idle = self.layer.config.idle_timeout
        if idle is None:
            return None
        return self.last_activity + idle - asyncio.get_running_loop().time()

    def write_nowait(self, data: bytes) -> None:
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class _StreamConnection(_Connection):
    """A TCP or TLS connection driven by a StreamFramer."""

    def __init__(
        self,
        layer: TransportLayer,
        conn_id: int,
        peer: Peer,
        local: Listener,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        outbound: bool,
    ) -> None:
        super().__init__(layer, conn_id, peer, local, outbound=outbound)
        self.reader = reader
        self.writer = writer
        config = layer.config
        # On a connection we opened we are the RFC 5626 flow client: CRLFs that come back
        # are pongs, never pings to answer.
        self.framer = StreamFramer(config.max_head, config.max_message, pinging=outbound)

    def write_nowait(self, data: bytes) -> None:
        if self.closing or self.writer.is_closing():
            raise TransportError(f"connection {self.conn_id} is closed")
        self.writer.write(data)
        self.touch()
        buffered = self.writer.transport.get_write_buffer_size()
        if buffered > self.layer.config.max_write_buffer:
            # The peer stopped reading; holding more for it would let one client exhaust
            # our memory, and SIP over a stream cannot skip messages, so drop the flow.
            log.warning("%s: %d bytes unread, disconnecting", self.peer.hostport(), buffered)
            self.abort()
            raise TransportError(f"connection {self.conn_id}: peer is not reading")

    async def write(self, data: bytes) -> None:
        self.write_nowait(data)
        try:
            async with asyncio.timeout(self.layer.config.write_timeout):
                await self.writer.drain()
        except TimeoutError:
            self.abort()
            raise TransportError(f"connection {self.conn_id}: write timed out") from None
        except (ConnectionError, OSError) as exc:
            self.abort()
            raise TransportError(f"connection {self.conn_id}: {exc}") from exc

    def abort(self) -> None:
        self.closing = True
        self.writer.transport.abort()


class _WsConnection(_Connection):
    """A WebSocket connection (RFC 7118): one WS message carries one SIP message."""

    def __init__(
        self,
        layer: TransportLayer,
        conn_id: int,
        peer: Peer,
        local: Listener,
        channel: WebSocketChannel,
    ) -> None:
        super().__init__(layer, conn_id, peer, local, outbound=False)
        self.channel = channel
        # Sending a WS message is a coroutine; a queue drained by one task keeps the order of
        # messages sent synchronously and bounds what a slow browser can make us hold.
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.queued = 0
        self.sender = asyncio.get_running_loop().create_task(self._send_loop())

    def write_nowait(self, data: bytes) -> None:
        if self.closing:
            raise TransportError(f"connection {self.conn_id} is closed")
        if self.queued + len(data) > self.layer.config.max_write_buffer:
            log.warning("%s: WebSocket peer is not reading, disconnecting", self.peer.hostport())
            self.abort()
            raise TransportError(f"connection {self.conn_id}: peer is not reading")
        self.queued += len(data)
        self.queue.put_nowait(data)
        self.touch()

    async def write(self, data: bytes) -> None:
        self.write_nowait(data)

    async def _send_loop(self) -> None:
        while True:
            data = await self.queue.get()
            # RFC 7118 §5.1: text or binary frames both carry SIP; text is what browser
            # JavaScript handles best, so use it whenever the message is valid UTF-8.
            payload: str | bytes
            try:
                payload = data.decode("utf-8")
            except UnicodeDecodeError:
                payload = data
            try:
                async with asyncio.timeout(self.layer.config.write_timeout):
                    await self.channel.send(payload)
            except TimeoutError:
                log.warning("%s: WebSocket write timed out", self.peer.hostport())
                self.abort()
                return
            except WebSocketClosed:
                return
            finally:
                self.queued -= len(data)

    def abort(self) -> None:
        self.closing = True
        self.channel.abort()


class _WebsocketsChannel:
    """:class:`WebSocketChannel` over a connection accepted by the ``websockets`` library."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws

    async def send(self, message: str | bytes) -> None:
        try:
            await self.ws.send(message)
        except ConnectionClosed as exc:
            raise WebSocketClosed() from exc

    async def receive(self) -> bytes:
        try:
            # decode=False: bytes for text and binary frames alike.
            return await self.ws.recv(decode=False)
        except ConnectionClosed as exc:
            raise WebSocketClosed() from exc

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)

    def abort(self) -> None:
        self.ws.transport.abort()


class TransportLayer:
    """All listening sockets and connections of one SIP endpoint.

    Usage::

        layer = TransportLayer(on_message, server_ssl=server_context(cert, key))
        listeners = await layer.start([ListenSpec("udp", "127.0.0.1", 5060), ...])
        peer = await layer.send(data, peer)
        await layer.close()

    Callbacks run synchronously on the event loop and must not block; an exception from
    one is logged and does not affect the connection.
    """

    def __init__(
        self,
        on_message: OnMessage,
        *,
        config: TransportConfig | None = None,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        on_connection_opened: OnConnection | None = None,
        on_connection_closed: OnConnection | None = None,
        on_stream_error: OnStreamError | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.config = config or TransportConfig()
        self.on_message = on_message
        self.on_connection_opened = on_connection_opened
        self.on_connection_closed = on_connection_closed
        self.on_stream_error = on_stream_error
        self.tracer = tracer
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._listeners: list[Listener] = []
        self._udp: dict[Listener, _DatagramSender] = {}
        # A second handle on each UDP socket, to read what is waiting on demand
        # (read_pending_udp), with the protocol that handles it.
        self._udp_readers: list[tuple[socket.socket, _UdpProtocol]] = []
        self._servers: list[asyncio.Server] = []
        self._ws_servers: list[WsServer] = []
        self._ids = itertools.count(1)
        self._connections: dict[int, _Connection] = {}
        # (transport, host, port) -> conn_id, for reuse by remote address (RFC 3261 §18.1.1).
        self._by_address: dict[tuple[str, str, int], int] = {}
        self._connecting: dict[tuple[str, str, int], asyncio.Task[_StreamConnection]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        #: Totals for monitoring (``/metrics``).
        self.stats = TransportStats()
        #: In a worker process (``parley serve --workers``): sends over connections, which
        #: the first process holds; False when it could not.
        self.remote_sender: Callable[[bytes, Peer], bool] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The bound listening addresses, with actual ports."""
        return tuple(self._listeners)

    async def start(self, specs: Sequence[ListenSpec]) -> list[Listener]:
        """Bind every spec and return the resulting listeners (ephemeral ports resolved).

        If one spec fails to bind, the ones already bound are closed and the error raised.
        """
        bound: list[Listener] = []
        try:
            for spec in specs:
                bound.extend(await self._listen(spec))
        except BaseException:
            await self.close()
            raise
        return bound

    async def _listen(self, spec: ListenSpec) -> list[Listener]:
        transport = spec.transport.lower()
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {spec.transport!r}")
        if transport in ("tls", "wss") and self._server_ssl is None:
            raise ValueError(f"{transport} listener needs server_ssl")
        if transport == "udp":
            listeners = [await self._listen_udp(spec)]
        elif transport in _STREAM_TRANSPORTS:
            listeners = await self._listen_stream(transport, spec)
        else:
            listeners = await self._listen_ws(transport, spec)
        self._listeners.extend(listeners)
        return listeners

    async def _listen_udp(self, spec: ListenSpec) -> Listener:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if _is_ipv6(spec.host) else socket.AF_INET
        holder: list[Listener] = []
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self, holder),
            local_addr=(spec.host, spec.port),
            family=family,
        )
        sock = transport.get_extra_info("socket")
        if sock is not None:
            if self.config.udp_receive_buffer:
                _grow_receive_buffer(sock, self.config.udp_receive_buffer)
            reader = socket.socket(family, socket.SOCK_DGRAM, fileno=os.dup(sock.fileno()))
            reader.setblocking(False)
            self._udp_readers.append((reader, protocol))
        sockname = transport.get_extra_info("sockname")
        listener = Listener("udp", _host(sockname), int(sockname[1]))
        holder.append(listener)
        self._udp[listener] = transport
        return listener

    async def _listen_stream(self, transport: str, spec: ListenSpec) -> list[Listener]:
        listeners: list[Listener] = []

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            local = _pick_listener(listeners, writer.get_extra_info("sockname"))
            await self._serve_stream(reader, writer, local)

        server = await asyncio.start_server(
            accepted,
            spec.host,
            spec.port,
            ssl=self._server_ssl if transport == "tls" else None,
            ssl_handshake_timeout=self.config.handshake_timeout if transport == "tls" else None,
            limit=self.config.read_chunk,
        )
        self._servers.append(server)
        for sock in server.sockets:
            sockname = sock.getsockname()
            listeners.append(Listener(transport, _host(sockname), int(sockname[1])))
        return listeners

    async def _listen_ws(self, transport: str, spec: ListenSpec) -> list[Listener]:
        listeners: list[Listener] = []

        async def handler(ws: ServerConnection) -> None:
            local = _pick_listener(listeners, ws.local_address)
            await self._serve_ws(ws, local)

        server = await serve(
            handler,
            spec.host,
            spec.port,
            # RFC 7118 §4.1: the handshake negotiates the "sip" subprotocol.  A client that
            # does not offer it gets an HTTP 400 from the websockets default selection
            # rather than a subprotocol-less connection that would speak who knows what.
            subprotocols=[WS_SUBPROTOCOL],
            # SIP messages are small and per-connection zlib state is not: save the memory.
            compression=None,
            process_request=self._ws_admit,
            max_size=self.config.max_message,
            open_timeout=self.config.handshake_timeout,
            ping_interval=self.config.ws_ping_interval,
            ssl=self._server_ssl if transport == "wss" else None,
        )
        self._ws_servers.append(server)
        for sock in server.sockets:
            sockname = sock.getsockname()
            listeners.append(Listener(transport, _host(sockname), int(sockname[1])))
        return listeners

    async def close(self) -> None:
        """Stop listening and close every connection (no close callbacks are skipped)."""
        self._closed = True
        for server in self._servers:
            server.close()
        for ws_server in self._ws_servers:
            ws_server.close()
        for task in list(self._connecting.values()):
            task.cancel()
        for conn in list(self._connections.values()):
            conn.abort()
        for udp in self._udp.values():
            udp.close()
        for reader, _ in self._udp_readers:
            reader.close()
        self._udp_readers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        for ws_server in self._ws_servers:
            await ws_server.wait_closed()
        self._servers.clear()
        self._ws_servers.clear()
        self._udp.clear()
        self._listeners.clear()

    async def __aenter__(self) -> TransportLayer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- connections ---------------------------------------------------------------------

    @property
    def connections(self) -> list[Peer]:
        """The peers of all open connections."""
        return [conn.peer for conn in self._connections.values()]

    def open_connections(self) -> Counter[str]:
        """How many connections are open now, per transport."""
        return Counter(conn.peer.transport for conn in self._connections.values())

    def connection(self, conn_id: int) -> tuple[Peer, Listener] | None:
        """``(peer, local)`` of an open connection, or None once it closed."""
        conn = self._connections.get(conn_id)
        return None if conn is None else (conn.peer, conn.local)

    def close_connection(self, conn_id: int) -> None:
        """Drop one connection now; its on_connection_closed callback follows."""
        conn = self._connections.get(conn_id)
        if conn is not None:
            conn.abort()

    def _full(self) -> bool:
        return len(self._connections) >= self.config.max_connections

    def _register(self, conn: _Connection) -> None:
        self._connections[conn.conn_id] = conn
        self.stats.opened[conn.peer.transport] += 1
        peer = conn.peer
        self._by_address[(peer.transport, peer.host, peer.port)] = conn.conn_id
        self._call(self.on_connection_opened, conn.peer, conn.local)

    def _unregister(self, conn: _Connection) -> None:
        if self._connections.pop(conn.conn_id, None) is None:
            return
        conn.closing = True
        self.stats.closed[conn.peer.transport] += 1
        key = (conn.peer.transport, conn.peer.host, conn.peer.port)
        if self._by_address.get(key) == conn.conn_id:
            del self._by_address[key]
        self._call(self.on_connection_closed, conn.peer, conn.local)

    def _call(self, callback: Callable[..., Any] | None, *args: Any) -> Any:
        if callback is None:
            return None
        try:
            return callback(*args)
        except Exception:
            log.exception("transport callback %r failed", callback)
            return None

    def _deliver(self, data: bytes, peer: Peer, local: Listener) -> None:
        self.stats.received[(peer.transport, message_kind(data))] += 1
        if self.tracer is not None:
            self._call(self.tracer, "recv", peer.transport, local, peer, data)
        self._call(self.on_message, data, peer, local)

    def _trace_send(self, data: bytes, peer: Peer, local: Listener) -> None:
        # Every successful send passes here, so it is also where sends are counted.
        self.stats.sent[(peer.transport, message_kind(data))] += 1
        if self.tracer is not None:
            self._call(self.tracer, "send", peer.transport, local, peer, data)

    def udp_sockets(self) -> list[tuple[Listener, socket.socket]]:
        """Each UDP listener with a handle on its socket, for a worker process to send
        from (see :meth:`adopt_udp_socket`)."""
        readers = {protocol.holder[0]: sock for sock, protocol in self._udp_readers}
        return [(listener, readers[listener]) for listener in self._udp if listener in readers]

    def add_remote_listener(self, listener: Listener) -> None:
        """A listener of the process holding the connections (see ``remote_sender``): our
        Via and Record-Route name it for its transport."""
        self._listeners.append(listener)

    def adopt_udp_socket(self, sock: socket.socket) -> Listener:
        """Send from ``sock``, a UDP socket another process reads (``parley serve
        --workers``): it becomes a listener for ``sent_by`` and for sending, never read
        here. Our requests and responses then leave from the address clients know."""
        sock.setblocking(False)
        sockname = sock.getsockname()
        listener = Listener("udp", _host(sockname), int(sockname[1]))
        self._udp[listener] = _SendOnlyUdp(sock)
        self._listeners.append(listener)
        return listener

    def read_pending_udp(self, limit: int = 16384) -> int:
        """Handle the datagrams already waiting on our UDP sockets (at most ``limit``),
        now rather than at the event loop's next poll; returns how many.

        The loop runs due timers before it polls the sockets: after a long stretch of work
        (a fan-out of 10,000 NOTIFYs) the retransmission timers of the first requests
        would fire while their answers sit unread in the socket (RFC 3261 §17.1.2.2,
        Timer E). The endpoint reads first, then lets the timers run.
        """
        handled = 0
        for reader, protocol in list(self._udp_readers):
            while handled < limit:
                try:
                    data, addr = reader.recvfrom(self.config.max_udp_message + 1)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    protocol.error_received(exc)
                    break
                handled += 1
                protocol.datagram_received(data, addr)
        return handled

    # -- TCP / TLS -----------------------------------------------------------------------

    async def _serve_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, local: Listener
    ) -> None:
        if self._closed or self._full():
            log.warning("refusing %s connection: limit reached", local.transport)
            self.stats.refused[local.transport] += 1
            writer.transport.abort()
            return
        peername = writer.get_extra_info("peername")
        peer = Peer(local.transport, _host(peername), int(peername[1]), next(self._ids))
        conn = _StreamConnection(self, peer.conn_id, peer, local, reader, writer, outbound=False)
        self._register(conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._read_stream(conn)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _read_stream(self, conn: _StreamConnection) -> None:
        try:
            while True:
                remaining = conn.idle_remaining()
                if remaining is not None and remaining <= 0:
                    log.info("%s: idle, closing", conn.peer.hostport())
                    break
                try:
                    async with asyncio.timeout(remaining):
                        data = await conn.reader.read(self.config.read_chunk)
                except TimeoutError:
                    continue  # re-check: a write may have refreshed the activity time
                if not data:
                    break
                conn.touch()
                if not await self._process_stream(conn, data):
                    break
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            log.debug("%s: %s", conn.peer.hostport(), exc)
        finally:
            self._unregister(conn)
            conn.closing = True
            conn.writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.config.write_timeout):
                    await conn.writer.wait_closed()

    async def _process_stream(self, conn: _StreamConnection, data: bytes) -> bool:
        """Handle the events ``data`` completes; return False when the connection must end."""
        for event in conn.framer.feed(data):
            if isinstance(event, bytes):
                self._deliver(event, conn.peer, conn.local)
            elif event is KeepAlive.PING:
                # RFC 5626 §3.5.1: answer a ping with a pong, immediately, on this connection.
                with contextlib.suppress(TransportError):
                    conn.write_nowait(_PONG)
            elif isinstance(event, FramingError):
                await self._stream_failed(conn, event)
                return False
            # KeepAlive.PONG answers our own ping; nothing to do until outbound keep-alive
            # timers (RFC 5626 §4.4.1) are wired to it.
        return True

    async def _stream_failed(self, conn: _StreamConnection, error: FramingError) -> None:
        # After a framing error the message boundaries are lost for good (RFC 3261 §18.3),
        # so the connection is closed, optionally after one last response.
        log.warning("%s: %s (%d)", conn.peer.hostport(), error.reason, error.status_hint)
        reply = self._call(self.on_stream_error, error, conn.peer, conn.local)
        if isinstance(reply, bytes) and reply:
            with contextlib.suppress(TransportError):
                await conn.write(reply)
                self._trace_send(reply, conn.peer, conn.local)

    async def _connect(
        self, transport: str, host: str, port: int, server_name: str | None
    ) -> _StreamConnection:
        key = (transport, host, port)
        pending = self._connecting.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(
                self._open(transport, host, port, server_name)
            )
            self._connecting[key] = pending

            def forget(task: asyncio.Task[_StreamConnection]) -> None:
                self._connecting.pop(key, None)
                # Mark a failure as seen even if every waiter was cancelled meanwhile.
                if not task.cancelled():
                    task.exception()

            pending.add_done_callback(forget)
        # Shield: one caller giving up must not abort the connect others wait for.
        return await asyncio.shield(pending)

    async def _open(
        self, transport: str, host: str, port: int, server_name: str | None
    ) -> _StreamConnection:
        if self._closed:
            raise TransportError("transport layer is closed")
        if self._full():
            raise TransportError("connection limit reached")
        tls: ssl.SSLContext | None = None
        if transport == "tls":
            tls = self._client_ssl or client_context(verify=True)
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=tls,
                    server_hostname=(server_name or host) if tls is not None else None,
                    ssl_handshake_timeout=self.config.handshake_timeout if tls else None,
                    limit=self.config.read_chunk,
                )
        except TimeoutError:
            raise TransportError(f"connect to {transport}:{host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(f"connect to {transport}:{host}:{port}: {exc}") from exc
        if self._closed or self._full():
            writer.transport.abort()
            raise TransportError("connection limit reached")
        sockname = writer.get_extra_info("sockname")
        local = Listener(transport, _host(sockname), int(sockname[1]))
        # Index under the address we were asked for, which is what later sends will name.
        peer = Peer(transport, host, port, next(self._ids))
        conn = _StreamConnection(self, peer.conn_id, peer, local, reader, writer, outbound=True)
        self._register(conn)
        task = asyncio.get_running_loop().create_task(self._read_stream(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return conn

    # -- WebSocket -----------------------------------------------------------------------

    def _ws_admit(self, ws: ServerConnection, request: Request) -> Response | None:
        # Refuse before upgrading, with an HTTP status a browser can report.
        if not self.accepting:
            self.stats.refused["ws"] += 1
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Too many connections\n")
        return None

    async def _serve_ws(self, ws: ServerConnection, local: Listener) -> None:
        remote = ws.remote_address
        await self.adopt_websocket(_WebsocketsChannel(ws), _host(remote), int(remote[1]), local)

    @property
    def accepting(self) -> bool:
        """Whether a new inbound connection would be taken (open, and under the cap).

        An HTTP server checks this before upgrading to WebSocket, to refuse with 503 as the
        layer's own WS listeners do.
        """
        return not self._closed and not self._full()

    async def adopt_websocket(
        self, channel: WebSocketChannel, host: str, port: int, local: Listener
    ) -> None:
        """Serve a WebSocket some other server accepted with the "sip" subprotocol
        (RFC 7118 §4.1), as if one of our own ``ws``/``wss`` listeners had: it gets a
        ``conn_id``, its messages reach ``on_message`` with ``Peer(local.transport, host,
        port, conn_id)``, responses and later requests go back over it, and its end is
        reported to ``on_connection_closed``. ``host``/``port`` are the remote address,
        ``local`` the listener it arrived on (see :meth:`attach_listener`). Returns when the
        connection ends; the limits (message size aside, which the accepting server
        enforces), idle timeout and write buffer bound of :class:`TransportConfig` apply.
        """
        if not self.accepting:
            # Lost the race against another handshake after the admission check.
            self.stats.refused[local.transport] += 1
            with contextlib.suppress(Exception):
                await channel.close(1013, "try again later")
            return
        peer = Peer(local.transport, host, port, next(self._ids))
        conn = _WsConnection(self, peer.conn_id, peer, local, channel)
        self._register(conn)
        try:
            while True:
                remaining = conn.idle_remaining()
                if remaining is not None and remaining <= 0:
                    log.info("%s: idle, closing", peer.hostport())
                    break
                try:
                    async with asyncio.timeout(remaining):
                        data = await channel.receive()
                except TimeoutError:
                    continue
                conn.touch()
                if not data.strip(b"\r\n"):
                    # Not SIP: a CRLF keep-alive as web clients send over WS.  Answer a
                    # double CRLF like on TCP (RFC 5626 §3.5.1) and ignore the rest.
                    if data == _PING:
                        with contextlib.suppress(TransportError):
                            conn.write_nowait(_PONG)
                    continue
                self._deliver(data, peer, local)
        except WebSocketClosed:
            pass
        finally:
            self._unregister(conn)
            conn.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn.sender
            # After an idle timeout, end the WebSocket too, not only our record of it
            # (a no-op once the peer closed or the connection was aborted).
            with contextlib.suppress(Exception):
                await channel.close(1000, "")

    def attach_listener(self, listener: Listener) -> None:
        """Count ``listener``, served by another server (an HTTP server's ``/ws``), among
        ours: Via sent-by and Record-Route can then name it, and the proxy knows it for
        one of our addresses (RFC 3261 §16.4)."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def detach_listener(self, listener: Listener) -> None:
        """Undo :meth:`attach_listener` when that server stops."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # -- sending -------------------------------------------------------------------------

    def _find(self, peer: Peer) -> _Connection | None:
        if peer.conn_id:
            conn = self._connections.get(peer.conn_id)
            if conn is not None and conn.peer.transport == peer.transport and not conn.closing:
                return conn
        conn_id = self._by_address.get((peer.transport, peer.host, peer.port))
        if conn_id is not None:
            conn = self._connections.get(conn_id)
            if conn is not None and not conn.closing:
                return conn
        return None

    def send_nowait(self, data: bytes, peer: Peer, *, local: Listener | None = None) -> Peer:
        """Send without waiting, over UDP or an existing connection; return the Peer used.

        Raises TransportError when that would need a new connection (use :meth:`send`) or
        when the peer has too much unread data queued already.
        """
        transport = peer.transport.lower()
        if transport == "udp":
            return self._send_udp(data, peer, local)
        if self.remote_sender is not None:
            return self._send_remote(data, peer)
        conn = self._find(peer)
        if conn is None:
            raise TransportError(f"no connection to {transport}:{peer.hostport()}")
        conn.write_nowait(data)
        self._trace_send(data, conn.peer, conn.local)
        return conn.peer

    async def send(
        self,
        data: bytes,
        peer: Peer,
        *,
        local: Listener | None = None,
        server_name: str | None = None,
        connect: bool = True,
    ) -> Peer:
        """Send one message to ``peer`` and return the Peer actually used (with conn_id).

        Stream connections are chosen by ``peer.conn_id`` first, then by remote address;
        failing both, and if ``connect`` is true, a TCP/TLS connection is opened
        (``server_name`` overrides the TLS name to verify, default ``peer.host``).
        ``connect=False`` suits RFC 5626 flows, where a vanished connection must fail the
        request (430) instead of reaching the client some other way.  ``local`` selects the
        UDP socket to send from.  Awaits the peer draining the write buffer, within
        ``write_timeout``.
        """
        transport = peer.transport.lower()
        if transport == "udp":
            return self._send_udp(data, peer, local)
        if self.remote_sender is not None:
            return self._send_remote(data, peer)
        conn = self._find(peer)
        if conn is None:
            if not connect or transport not in _STREAM_TRANSPORTS:
                raise TransportError(f"no connection to {transport}:{peer.hostport()}")
            conn = await self._connect(transport, peer.host, peer.port, server_name)
        await conn.write(data)
        self._trace_send(data, conn.peer, conn.local)
        return conn.peer

    def _send_remote(self, data: bytes, peer: Peer) -> Peer:
        assert self.remote_sender is not None
        if not self.remote_sender(data, peer):
            raise TransportError(f"cannot hand over a message for {peer.hostport()}")
        for listener in self._listeners:
            if listener.transport == peer.transport:
                self._trace_send(data, peer, listener)
                break
        return peer

    # -- UDP -----------------------------------------------------------------------------

    def _send_udp(self, data: bytes, peer: Peer, local: Listener | None) -> Peer:
        if len(data) > self.config.max_udp_message:
            # RFC 3261 §18.1.1 wants large requests on a congestion-controlled transport;
            # choosing one is the stack's business, refusing is ours.
            raise TransportError(f"{len(data)} bytes is too large for UDP")
        udp = self._udp_for(peer.host, local)
        if udp is None:
            raise TransportError(f"no UDP listener to reach {peer.hostport()}")
        listener, endpoint = udp
        try:
            endpoint.sendto(data, (peer.host, peer.port))
        except OSError as exc:
            raise TransportError(f"UDP send to {peer.hostport()}: {exc}") from exc
        self._trace_send(data, peer, listener)
        return peer

    def _udp_for(
        self, host: str, local: Listener | None
    ) -> tuple[Listener, _DatagramSender] | None:
        if local is not None and local in self._udp:
            return local, self._udp[local]
        v6 = _is_ipv6(host)
        for listener, endpoint in self._udp.items():
            if _is_ipv6(listener.host) == v6 and not endpoint.is_closing():
                return listener, endpoint
        return None


class _DatagramSender(Protocol):
    """What ``_send_udp`` needs of a UDP socket: an asyncio datagram transport, or a
    socket another process reads."""

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...

    def is_closing(self) -> bool: ...

    def close(self) -> None: ...


class _SendOnlyUdp:
    """A UDP socket we only send from; a full send buffer drops the datagram, as the
    network may (the transaction layer retransmits)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            log.debug("UDP send buffer full: dropped %d bytes to %s", len(data), addr)

    def is_closing(self) -> bool:
        return self.sock.fileno() < 0

    def close(self) -> None:
        self.sock.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, layer: TransportLayer, holder: list[Listener]) -> None:
        self.layer = layer
        # Filled in once the socket is bound and its port known.
        self.holder = holder

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if not self.holder:
            return
        local = self.holder[0]
        if len(data) > self.layer.config.max_udp_message:
            log.debug("dropping %d-byte datagram from %s", len(data), addr)
            return
        if not data.strip(b"\r\n"):
            # CRLF keep-alives some clients send over UDP to keep NAT bindings; not SIP.
            return
        peer = Peer("udp", _host(addr), int(addr[1]))
        self.layer._deliver(data, peer, local)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable...) for earlier sends; the transaction layer's
        # timers handle the loss, so just note it.
        log.debug("UDP error: %s", exc)
