"""Two asyncio endpoints talk over real loopback sockets on every transport (§18)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path

import pytest
import websockets

from parley.apps.ua import MessageApp, make_endpoint
from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.tls import client_context, dev_certificate, server_context
from parley.runtime.transports import ListenSpec
from parley.sip.core.uac import build_request
from parley.sip.syntax import Response, parse_message
from parley.sip.transport.address import Peer

TORTURE = Path(__file__).resolve().parents[2].parent / "shared" / "torture"


async def start_server(tmp_path: Path, transport: str) -> tuple[Endpoint, MessageApp, Peer]:
    app = MessageApp()
    server = make_endpoint(app, tmp_path)
    [listener] = await server.start([ListenSpec(transport, "127.0.0.1", 0)])
    return server, app, Peer(transport, "127.0.0.1", listener.port)


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_options_and_message_between_endpoints(transport: str, tmp_path: Path) -> None:
    server, app, target = await start_server(tmp_path, transport)
    cert, key = dev_certificate(tmp_path / "tls")

    def unexpected(incoming: ServerRequest) -> None:
        incoming.respond(403)

    client = Endpoint(
        unexpected,
        client_ssl=client_context(verify=True, cafile=str(cert)),
        server_ssl=server_context(cert, key),
    )
    await client.start([ListenSpec(transport, "127.0.0.1", 0)])
    try:
        sent_by = client.sent_by(transport)
        uri = f"sip:bob@127.0.0.1:{target.port};transport={transport}"
        options = build_request(
            "OPTIONS", uri, from_="<sip:alice@127.0.0.1>", sent_by=sent_by, ids=client.stack.ids
        )
        response = await asyncio.wait_for(client.request(options, target), 10)
        assert response.status == 200
        assert "MESSAGE" in response.headers.values("Allow")
        message = build_request(
            "MESSAGE", uri, from_="<sip:alice@127.0.0.1>", sent_by=sent_by, ids=client.stack.ids,
            body="Hi There! ☺".encode(), content_type="text/plain;charset=UTF-8",
        )  # fmt: skip
        response = await asyncio.wait_for(client.request(message, target), 10)
        assert response.status == 200
        received = app.received.get_nowait()
        assert received.request.body == "Hi There! ☺".encode()
        # RFC 3428 §7: a MESSAGE of a type the UAS does not accept gets 415 with Accept.
        odd = build_request(
            "MESSAGE", uri, from_="<sip:alice@127.0.0.1>", sent_by=sent_by, ids=client.stack.ids,
            body=b"\x00\x01", content_type="application/octet-stream",
        )  # fmt: skip
        response = await asyncio.wait_for(client.request(odd, target), 10)
        assert response.status == 415
        assert "text/plain" in response.headers.values("Accept")
    finally:
        await client.close()
        await server.close()


async def test_unreachable_peer_gives_a_synthetic_503(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = Endpoint(lambda incoming: None)
    await client.start([ListenSpec("tcp", "127.0.0.1", 0)])
    try:
        options = build_request(
            "OPTIONS", f"sip:nobody@127.0.0.1:{closed_port};transport=tcp",
            from_="<sip:alice@127.0.0.1>", sent_by=client.sent_by("tcp"), ids=client.stack.ids,
        )  # fmt: skip
        response = await asyncio.wait_for(
            client.request(options, Peer("tcp", "127.0.0.1", closed_port)), 10
        )
        assert response.status == 503  # §8.1.3.1: a transport error reads as 503
    finally:
        await client.close()


async def test_websocket_client_gets_answers(tmp_path: Path) -> None:
    """RFC 7118: a browser-like client speaks SIP over a WebSocket with subprotocol sip."""
    server, app, target = await start_server(tmp_path, "ws")
    try:
        async with websockets.connect(
            f"ws://127.0.0.1:{target.port}/", subprotocols=[websockets.Subprotocol("sip")]
        ) as ws:
            request = (
                f"MESSAGE sip:bob@127.0.0.1:{target.port};transport=ws SIP/2.0\r\n"
                "Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws1;rport\r\n"
                "From: <sip:alice@127.0.0.1>;tag=ws1\r\nTo: <sip:bob@127.0.0.1>\r\n"
                "Call-ID: ws-call-1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
                "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
            )
            await ws.send(request)
            reply = await asyncio.wait_for(ws.recv(), 10)
        response = parse_message(reply.encode() if isinstance(reply, str) else reply)
        assert isinstance(response, Response) and response.status == 200
        # §18.2.1: the .invalid sent-by of a browser gets received= and rport=.
        assert response.top_via.received == "127.0.0.1"
        assert app.received.get_nowait().request.body == b"hello"
    finally:
        await server.close()


# What the endpoint answers to each RFC 4475 message it must answer (None: no answer).
TORTURE_ANSWERS = {
    "badvers.dat": 505,
    "mismatch01.dat": 400,
    "insuf.dat": 400,  # no Call-ID, From or To: "ideally respond 400", with what is there
    "multi01.dat": 400,
    "unkscm.dat": 416,
    "novelsc.dat": 416,
    "bext01.dat": 420,
    "invut.dat": 405,  # INVITE is not accepted by this endpoint (a UAS answers 405 first)
    "regaut01.dat": 405,  # a non-registrar endpoint answers REGISTER with 405
    "scalar02.dat": 400,
    "quotbal.dat": 400,
    "ltgtruri.dat": 400,
    "lwsruri.dat": 400,
    "escruri.dat": 400,
    "esc02.dat": 501,  # RE%47IST%45R is an unknown method
    "intmeth.dat": 501,
    "test.dat": None,  # no Via to answer to
}


TOP_VIA = re.compile(
    rb"^((?:Via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*\d\.\d[ \t]*/[ \t]*\w+[ \t]+[^;\r\n,]+)", re.M | re.I
)


def ask_for_rport(data: bytes) -> bytes:
    return TOP_VIA.sub(rb"\1;rport", data, count=1)


@pytest.mark.skipif(not TORTURE.exists(), reason="../shared/torture is absent")
async def test_torture_messages_get_the_rfc_answers_over_udp(tmp_path: Path) -> None:
    manifest = {e["file"]: e for e in json.loads((TORTURE / "manifest.json").read_text())}
    loop = asyncio.get_running_loop()
    got: dict[str, int | None] = {}
    for name in TORTURE_ANSWERS:
        assert name in manifest
        # The answer goes to the source address (received), at the sent-by port unless
        # rport asks for the source port: add rport so that it comes back to us.
        data = ask_for_rport((TORTURE / name).read_bytes())
        # A server and a socket per message: several torture messages share a branch and
        # sent-by, which would rightly make the next one a retransmission of the last.
        server, _, target = await start_server(tmp_path, "udp")
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
                await loop.sock_sendto(sock, data, ("127.0.0.1", target.port))
                try:
                    reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), 0.5)
                except TimeoutError:
                    got[name] = None
                else:
                    got[name] = parse_message(reply).status  # type: ignore[union-attr]
        finally:
            await server.close()
    assert got == TORTURE_ANSWERS
