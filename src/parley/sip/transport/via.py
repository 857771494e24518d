"""Transport-layer handling of Via (RFC 3261 §18.2.1, §18.2.2; RFC 3581 rport; RFC 7118 §5).

On receipt a server records where a request really came from in the top Via (``received``,
``rport``); responses then go back there, or over the very connection the request arrived
on, which is what makes NAT and browsers work.
"""

from __future__ import annotations

from parley.sip.syntax import Message, Request, Via
from parley.sip.syntax.uri import format_host
from parley.sip.transport.address import Peer

#: §18.1.1 / RFC 3261 §19.1.2: default ports per transport.
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}


def stamp_received(request: Request, peer: Peer) -> None:
    """§18.2.1: add ``received`` when sent-by is not the source address, and fill an empty
    ``rport`` with the source port (RFC 3581 §4). Changes the request's top Via in place."""
    via = request.top_via
    host = via.host[1:-1] if via.host.startswith("[") else via.host
    changed = False
    if host != peer.host:
        via.params.set("received", peer.host)
        changed = True
    if "rport" in via.params and via.params.get("rport") in (None, ""):
        via.params.set("rport", str(peer.port))
        changed = True
    if changed:
        request.headers.pop_first_value("Via")
        request.headers.prepend("Via", str(via))


def response_destination(message: Message, arrived_on: Peer | None) -> Peer:
    """Where a response to a request goes (§18.2.2, RFC 3581 §4), read from its top Via.

    On a reliable transport, back over the connection the request came in on (its
    ``conn_id``); the runtime falls back to a new connection to sent-by if that one closed.
    On UDP: to ``received`` (or sent-by), at the request's source port when ``rport`` was
    asked for, else at the sent-by port (``maddr`` is not honoured).
    """
    if arrived_on is not None and arrived_on.reliable:
        return arrived_on
    via = message.top_via
    transport = via.transport.lower()
    if arrived_on is not None:
        # received is always the source address (§18.2.1), so that is where it goes; a
        # hostname in sent-by is never looked up for an answer.
        # It goes back over the transport it came in on, whatever Via claims.
        rport = "rport" in via.params
        port = arrived_on.port if rport else via.port or DEFAULT_PORTS.get(transport, 5060)
        return Peer(arrived_on.transport, arrived_on.host, port)
    host = via.received or via.host
    if host.startswith("["):
        host = host[1:-1]
    port = via.rport or via.port or DEFAULT_PORTS.get(transport, 5060)
    return Peer(transport, host, port)


def make_via(transport: str, host: str, port: int, branch: str, *, rport: bool = True) -> Via:
    """A Via for a request we send: our sent-by, a branch, and ``rport`` (RFC 3581)."""
    via = Via(transport.upper(), format_host(host), port)
    via.params.set("branch", branch)
    if rport:
        via.params.set("rport", None)
    return via
