"""SIPp (Debian sip-tester) sends OPTIONS and MESSAGE to a Parley endpoint over UDP and TCP.

The endpoint runs in this process on a loopback port; SIPp is the real third-party UAC.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from conftest import require_tool

from parley.apps.ua import MessageApp, make_endpoint
from parley.runtime.transports import ListenSpec

pytestmark = pytest.mark.interop

SCENARIO = Path(__file__).parent / "scenarios" / "options_message_uac.xml"
CALLS = 5


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("transport", "sipp_mode"), [("udp", "u1"), ("tcp", "t1")])
async def test_sipp_options_and_message(transport: str, sipp_mode: str, tmp_path: Path) -> None:
    sipp = require_tool("sipp")
    app = MessageApp()
    endpoint = make_endpoint(app, tmp_path)
    [listener] = await endpoint.start([ListenSpec(transport, "127.0.0.1", 0)])
    sipp_port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
    try:
        process = await asyncio.create_subprocess_exec(
            sipp,
            f"127.0.0.1:{listener.port}",
            "-sf", str(SCENARIO),
            "-t", sipp_mode,
            "-i", "127.0.0.1",
            "-p", str(sipp_port),
            "-s", "bob",
            "-m", str(CALLS),
            "-r", "50",
            "-timeout", "20s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        await endpoint.close()
    text = output.decode(errors="replace")
    errors = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_errors.log"))
    assert process.returncode == 0, f"SIPp failed:\n{text[-3000:]}\n{errors[-3000:]}"
    # Every good MESSAGE reached the application with its body intact.
    bodies = []
    while not app.received.empty():
        bodies.append(app.received.get_nowait().request.body)
    assert bodies == [b"Hi There!\r\n"] * CALLS
