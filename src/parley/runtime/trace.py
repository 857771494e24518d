"""Human-readable message traces for ``--trace``, in the spirit of sngrep/ngrep output."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parley.runtime.transports import Listener
    from parley.sip.transport.address import Peer

__all__ = ["format_trace"]


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_trace(
    direction: str,
    transport: str,
    local: Listener,
    peer: Peer,
    data: bytes,
    *,
    when: datetime.datetime | None = None,
) -> str:
    """Render one traced message.

    The first line reads ``<time> <local> -> <peer>`` for "send" and ``<local> <- <peer>``
    for "recv", with the transport and connection; the message text follows, decoded
    leniently since a broken message is exactly what one wants to see in a trace.
    """
    stamp = (when or datetime.datetime.now()).strftime("%H:%M:%S.%f")[:-3]
    arrow = "->" if direction == "send" else "<-"
    conn = f" conn={peer.conn_id}" if peer.conn_id else ""
    text = data.decode("utf-8", errors="replace")
    # Normalise line ends so the trace reads the same whatever the terminal.
    body = text.replace("\r\n", "\n").rstrip("\n")
    header = (
        f"{stamp} {transport.upper()} {_hostport(local.host, local.port)} {arrow} "
        f"{_hostport(peer.host, peer.port)}{conn} ({len(data)} bytes)"
    )
    return f"{header}\n{body}\n"
