"""RFC 4475's messages that a registrar and proxy must answer, sent to ``parley serve`` over
UDP, each answered as the RFC (and its manifest) expects."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path

import pytest

from parley.apps.config import build_config
from parley.apps.server import start_server
from parley.sip.syntax import Response, parse_message

TORTURE = Path(__file__).resolve().parents[3].parent / "shared" / "torture"

# file -> (status, what the response must carry)
EXPECTED: dict[str, tuple[int, str | None]] = {
    "zeromf.dat": (483, None),  # a proxy must not forward Max-Forwards 0
    "bext01.dat": (420, "noProxiesSupportThis"),  # Proxy-Require is the proxy's business
    "unkscm.dat": (416, None),
    "novelsc.dat": (416, None),
    "unksm2.dat": (400, None),  # a registrar refuses a non-SIP To
    "regaut01.dat": (401, "WWW-Authenticate"),  # unknown scheme: challenge in one we know
    "escnull.dat": (401, "WWW-Authenticate"),
    "cparam01.dat": (401, "WWW-Authenticate"),
    "invut.dat": (404, None),  # proxied like any INVITE: nobody by that name here
    "inv2543.dat": (404, None),  # RFC 2543 INVITE handled all the same
    "badvers.dat": (505, None),
    "mismatch01.dat": (400, None),
    "multi01.dat": (400, None),
    "scalar02.dat": (400, None),
    "ltgtruri.dat": (400, None),
    "quotbal.dat": (400, None),
}

TOP_VIA = re.compile(
    rb"^((?:Via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*\d\.\d[ \t]*/[ \t]*\w+[ \t]+[^;\r\n,]+)", re.M | re.I
)


@pytest.mark.skipif(not TORTURE.exists(), reason="../shared/torture is absent")
async def test_server_answers_torture_messages(tmp_path: Path) -> None:
    assert set(EXPECTED) <= {e["file"] for e in json.loads((TORTURE / "manifest.json").read_text())}
    loop = asyncio.get_running_loop()
    got: dict[str, tuple[int, str | None] | None] = {}
    for name, (_, needle) in EXPECTED.items():
        config = build_config(
            {},
            {
                "domain": ["example.com"],
                "listen": ["udp:127.0.0.1:0"],
                "data-dir": str(tmp_path / name),
            },
        )
        server = await start_server(config)
        try:
            # rport, so that the answer comes back to this socket and nowhere else.
            data = TOP_VIA.sub(rb"\1;rport", (TORTURE / name).read_bytes(), count=1)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
                await loop.sock_sendto(sock, data, ("127.0.0.1", server.listeners[0].port))
                try:
                    reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
                except TimeoutError:
                    got[name] = None
                    continue
            response = parse_message(reply)
            assert isinstance(response, Response)
            carried = needle if needle is not None and needle.encode() in reply else None
            got[name] = (response.status, carried)
        finally:
            await server.close()
    assert got == EXPECTED
