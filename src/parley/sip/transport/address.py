"""Where a message came from or goes to, as the core sees it (no sockets here)."""

from __future__ import annotations

from dataclasses import dataclass

#: Transports Parley speaks; the names are the lowercase forms of the Via transport tokens.
TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
#: Transports on which SIP messages ride a reliable, ordered byte stream or message stream.
RELIABLE = frozenset({"tcp", "tls", "ws", "wss"})


@dataclass(frozen=True, slots=True)
class Peer:
    """A remote transport address.

    ``host`` is a literal IP address (IPv6 without brackets); ``conn_id`` names the
    connection a message arrived on for connection-oriented transports (0 for UDP), so that
    responses and later requests can go back over it (RFC 3261 §18.2.2, RFC 5626).
    """

    transport: str
    host: str
    port: int
    conn_id: int = 0

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE

    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
