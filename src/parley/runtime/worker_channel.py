"""The private link between ``parley serve``'s processes (``--workers N``).

The first process reads the sockets. A datagram it leaves to another worker goes over this
link with the address it came from; notes about state the workers cache (``forget`` these
bindings) and their answers (``stored`` a message) go as control frames. One Unix stream
socket pair per worker, every frame prefixed by its length: Unix datagram sockets would
keep message boundaries by themselves, but Linux queues only ``net.unix.max_dgram_qlen``
of them (often 10), far too few for a burst.

Frames: ``M`` + transport + host + port + connection id + a SIP message (received from
that peer when the first process sends it, to be sent to it when a worker does); ``C`` +
name + NUL + value.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from typing import cast

from parley.sip.transport.address import Peer

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
_ADDRESS = struct.Struct("!HQ")  # port, conn_id
_MESSAGE = 0x4D  # "M"
_CONTROL = 0x43  # "C"
#: A frame longer than this means the stream is corrupt (a SIP datagram is under 64 KiB).
MAX_FRAME = 1 << 20
#: Bytes queued for a worker that does not read before frames are dropped, as a full
#: socket buffer drops datagrams (the sender retransmits).
MAX_BACKLOG = 16 * 1024 * 1024

OnMessage = Callable[[bytes, Peer], None]
OnControl = Callable[[str, str], None]


class WorkerChannel(asyncio.Protocol):
    """One end of the link: send frames, and get the other end's through the callbacks."""

    def __init__(
        self,
        on_message: OnMessage,
        on_control: OnControl,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_control = on_control
        self.on_closed = on_closed
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(
        cls,
        sock: socket.socket,
        on_message: OnMessage,
        on_control: OnControl,
        on_closed: Callable[[], None] | None = None,
    ) -> WorkerChannel:
        loop = asyncio.get_running_loop()
        _, channel = await loop.connect_accepted_socket(
            lambda: cls(on_message, on_control, on_closed), sock
        )
        return channel

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    # -- sending -------------------------------------------------------------------------

    def send_message(self, data: bytes, peer: Peer) -> bool:
        """Hand over ``data`` with ``peer`` (where it came from, or where it is to go);
        False if it was not sent (the link is closed, or the other end is too far
        behind)."""
        transport = peer.transport.encode()
        host = peer.host.encode()
        head = bytes((_MESSAGE, len(transport))) + transport + bytes((len(host),)) + host
        return self._send(head + _ADDRESS.pack(peer.port, peer.conn_id) + data)

    def send_control(self, name: str, value: str = "") -> bool:
        return self._send(bytes((_CONTROL,)) + f"{name}\0{value}".encode())

    def _send(self, frame: bytes) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        if transport.get_write_buffer_size() > MAX_BACKLOG:
            log.warning("worker link backlog over %d bytes: frame dropped", MAX_BACKLOG)
            return False
        transport.write(_LENGTH.pack(len(frame)) + frame)
        return True

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they have its methods.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset = 0
        end = len(buffer)
        while end - offset >= 4:
            (length,) = _LENGTH.unpack_from(buffer, offset)
            if length > MAX_FRAME:
                log.error("worker link: %d-byte frame, closing", length)
                self.close()
                return
            if end - offset - 4 < length:
                break
            frame = bytes(buffer[offset + 4 : offset + 4 + length])
            offset += 4 + length
            try:
                self._dispatch(frame)
            except Exception:
                log.exception("worker link: frame not handled")
        del buffer[:offset]

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_closed is not None:
            self.on_closed()

    def _dispatch(self, frame: bytes) -> None:
        kind = frame[0]
        if kind == _MESSAGE:
            at = 2 + frame[1]
            transport = frame[2:at].decode()
            host_end = at + 1 + frame[at]
            host = frame[at + 1 : host_end].decode()
            port, conn_id = _ADDRESS.unpack_from(frame, host_end)
            data = frame[host_end + _ADDRESS.size :]
            self.on_message(data, Peer(transport, host, port, conn_id))
        elif kind == _CONTROL:
            name, _, value = frame[1:].decode().partition("\0")
            self.on_control(name, value)
        else:
            log.error("worker link: unknown frame kind %d", kind)
