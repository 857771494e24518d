"""The HTTP port over real loopback sockets: SIP over WebSocket at /ws (RFC 7118) adopted by
the TransportLayer, /metrics in the Prometheus text format, mounted handlers and static
files.

Clients are the ``websockets`` library (a browser stand-in offering subprotocol "sip") and
aiohttp's client. Only outcomes are asserted; every wait has a generous bound.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol
from yarl import URL

from parley.apps.ua import MessageApp
from parley.runtime.endpoint import Endpoint
from parley.runtime.http import METRICS_CONTENT_TYPE, HttpServer, MetricsRegistry
from parley.runtime.transports import Listener, TransportConfig
from parley.sip.core.uac import build_request
from parley.sip.syntax import Request, Response, make_response, parse_message
from parley.sip.transport.address import Peer

WAIT = 5.0
SIP = [Subprotocol("sip")]


@dataclass
class Closed:
    peers: asyncio.Queue[Peer] = field(default_factory=asyncio.Queue)

    def __call__(self, peer: Peer, local: Listener) -> None:
        self.peers.put_nowait(peer)

    async def next(self) -> Peer:
        return await asyncio.wait_for(self.peers.get(), WAIT)


@dataclass
class Running:
    endpoint: Endpoint
    app: MessageApp
    http: HttpServer
    closed: Closed

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http.port}/ws"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http.port}"


Factory = Callable[..., Any]


@pytest.fixture
async def make_server() -> AsyncIterator[Factory]:
    """An Endpoint answering OPTIONS/MESSAGE (MessageApp) with no listeners of its own,
    reached only through the HTTP server's /ws."""
    started: list[Running] = []

    async def make(
        config: TransportConfig | None = None,
        *,
        static_dir: Path | None = None,
        metrics: MetricsRegistry | None = None,
        mounts: dict[str, Any] | None = None,
    ) -> Running:
        app = MessageApp()
        closed = Closed()
        endpoint = Endpoint(app.handle, transport_config=config, on_connection_closed=closed)
        await endpoint.start([])
        http = HttpServer(
            transports=endpoint.transports, metrics=metrics, static_dir=static_dir, mounts=mounts
        )
        await http.start("127.0.0.1", 0)
        running = Running(endpoint, app, http, closed)
        started.append(running)
        return running

    yield make
    for running in started:
        await running.http.close()
        await running.endpoint.close()


def options(port: int, branch: str = "z9hG4bKws1") -> str:
    return (
        f"OPTIONS sip:bob@127.0.0.1:{port};transport=ws SIP/2.0\r\n"
        f"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch={branch};rport\r\n"
        "From: <sip:alice@127.0.0.1>;tag=ws1\r\nTo: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: ws-{branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    )


def message(port: int) -> str:
    return (
        f"MESSAGE sip:bob@127.0.0.1:{port};transport=ws SIP/2.0\r\n"
        "Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws2;rport\r\n"
        "From: <sip:alice@127.0.0.1>;tag=ws2\r\nTo: <sip:bob@127.0.0.1>\r\n"
        "Call-ID: ws-call-2\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
        "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    )


async def receive(ws: ClientConnection) -> Request | Response:
    data = await asyncio.wait_for(ws.recv(), WAIT)
    parsed = parse_message(data.encode() if isinstance(data, str) else data)
    assert isinstance(parsed, Request | Response)
    return parsed


# -- lifecycle and static files --------------------------------------------------------------


async def test_starts_on_an_ephemeral_port_and_stops(make_server: Factory) -> None:
    running = await make_server()
    http = running.http
    assert http.port > 0
    [listener] = http.listeners
    assert listener == Listener("ws", "127.0.0.1", http.port)
    # The /ws port is one of the endpoint's addresses: Via sent-by can name it.
    assert listener in running.endpoint.listeners
    assert running.endpoint.sent_by("ws").port == http.port
    base = running.base
    async with aiohttp.ClientSession() as session, session.get(base + "/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "web client is not built" in await response.text()
    await http.close()
    assert listener not in running.endpoint.listeners
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(base + "/"):
                pass


async def test_static_directory_is_served_at_the_root(make_server: Factory, tmp_path: Path) -> None:
    site = tmp_path / "web"
    (site / "js").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>chat</title>")
    (site / "js" / "app.js").write_text("console.log('hi')")
    (tmp_path / "secret.txt").write_text("not for the web")
    running = await make_server(static_dir=site)
    async with aiohttp.ClientSession() as session:
        async with session.get(running.base + "/") as response:
            assert response.status == 200
            assert await response.text() == "<!doctype html><title>chat</title>"
        async with session.get(running.base + "/js/app.js") as response:
            assert response.status == 200
            assert await response.text() == "console.log('hi')"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        async with session.get(running.base + "/missing.js") as response:
            assert response.status == 404
        for escape in ("/../secret.txt", "/%2e%2e/secret.txt", "/js/..%2f..%2fsecret.txt"):
            url = URL(running.base + escape, encoded=True)
            async with session.get(url) as response:
                assert response.status == 404, escape


async def test_mounted_handler_gets_everything_under_its_prefix(make_server: Factory) -> None:
    seen: list[tuple[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append((request.method, request.path))
        return web.Response(text="mounted")

    running = await make_server(mounts={"/xcap-root": handler})
    async with aiohttp.ClientSession() as session:
        for method, path in (
            ("GET", "/xcap-root/a/b"),
            ("PUT", "/xcap-root/x"),
            ("DELETE", "/xcap-root"),
        ):
            async with session.request(method, running.base + path) as response:
                assert response.status == 200 and await response.text() == "mounted"
    assert seen == [("GET", "/xcap-root/a/b"), ("PUT", "/xcap-root/x"), ("DELETE", "/xcap-root")]


# -- SIP over WebSocket (RFC 7118) -------------------------------------------------------------


async def test_sip_over_websocket_at_ws_reaches_the_transport_layer(
    make_server: Factory,
) -> None:
    running = await make_server()
    endpoint = running.endpoint
    async with ws_connect(running.ws_url, subprotocols=SIP) as ws:
        assert ws.subprotocol == "sip"
        # RFC 7118 §5.1: one WS message, one SIP message; the answer comes back over it.
        await ws.send(options(running.http.port))
        response = await receive(ws)
        assert isinstance(response, Response) and response.status == 200
        assert "MESSAGE" in response.headers.values("Allow")
        # RFC 3261 §18.2.1 / RFC 7118 §5.2: the .invalid sent-by gets received= and rport=.
        assert response.top_via.received == "127.0.0.1"

        await ws.send(message(running.http.port).encode())  # binary frames carry SIP too
        response = await receive(ws)
        assert isinstance(response, Response) and response.status == 200
        incoming = await asyncio.wait_for(running.app.received.get(), WAIT)
        peer = incoming.peer
        assert peer.transport == "ws" and peer.conn_id > 0 and peer.host == "127.0.0.1"
        assert endpoint.transports.connection(peer.conn_id) is not None

        # A later request from the server goes back over the same WebSocket (RFC 7118 §5.3).
        request = build_request(
            "MESSAGE", "sip:alice@df7jal23ls0d.invalid;transport=ws",
            from_="<sip:bob@127.0.0.1>", sent_by=endpoint.sent_by("ws"), ids=endpoint.stack.ids,
            body=b"hi back", content_type="text/plain",
        )  # fmt: skip
        answer = asyncio.ensure_future(endpoint.request(request, peer))
        arrived = await receive(ws)
        assert isinstance(arrived, Request) and arrived.body == b"hi back"
        assert arrived.top_via.port == running.http.port
        await ws.send(bytes(make_response(arrived, 200, to_tag="browser")).decode())
        final = await asyncio.wait_for(answer, WAIT)
        assert final.status == 200

        # CRLF keep-alives (RFC 5626 §3.5.1) are answered, not delivered.
        await ws.send("\r\n\r\n")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "\r\n"
    # The connection's end is reported like any WS connection's.
    assert await running.closed.next() == peer
    assert endpoint.transports.connection(peer.conn_id) is None


async def test_websocket_without_the_sip_subprotocol_is_refused(make_server: Factory) -> None:
    running = await make_server()
    for offer in (None, [Subprotocol("chat")]):
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(running.ws_url, subprotocols=offer):
                pass
        assert info.value.response.status_code == 400
    async with aiohttp.ClientSession() as session, session.get(running.base + "/ws") as response:
        assert response.status == 426  # not an upgrade at all
    assert not running.endpoint.transports.connections


async def test_websocket_oversize_message_closes_the_connection(make_server: Factory) -> None:
    running = await make_server(TransportConfig(max_message=1024))
    async with ws_connect(running.ws_url, subprotocols=SIP) as ws:
        await ws.send(options(running.http.port) + "x" * 4096)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), WAIT)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009  # message too big
    await running.closed.next()
    assert running.app.received.empty()


async def test_websocket_connection_cap(make_server: Factory) -> None:
    running = await make_server(TransportConfig(max_connections=1))
    async with ws_connect(running.ws_url, subprotocols=SIP) as ws:
        await ws.send(options(running.http.port))
        await receive(ws)
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(running.ws_url, subprotocols=SIP):
                pass
        assert info.value.response.status_code == 503
    await running.closed.next()
    # The slot is free again once the first connection is gone.
    async with ws_connect(running.ws_url, subprotocols=SIP) as ws:
        await ws.send(options(running.http.port, branch="z9hG4bKws9"))
        assert isinstance(await receive(ws), Response)


async def test_websocket_idle_timeout(make_server: Factory) -> None:
    running = await make_server(TransportConfig(idle_timeout=0.2))
    async with ws_connect(running.ws_url, subprotocols=SIP) as ws:
        # Nothing is sent: the idle timeout ends the connection from the server's side.
        await running.closed.next()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)


async def test_closing_the_server_closes_its_websockets(make_server: Factory) -> None:
    running = await make_server()
    async with ws_connect(running.ws_url, subprotocols=SIP) as ws:
        await ws.send(options(running.http.port))
        await receive(ws)
        await running.http.close()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
    await running.closed.next()


# -- /metrics ----------------------------------------------------------------------------------

_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? \S+$'
)


async def test_metrics_in_the_prometheus_text_format(make_server: Factory) -> None:
    registry = MetricsRegistry()
    # What a service does: register its own metrics on the shared registry.
    subscriptions = registry.gauge("parley_test_subscriptions", "Subscriptions", ("event",))
    subscriptions.set(3, event="presence")
    odd = registry.counter("parley_test_odd_total", "Label values\nescaped", ("value",))
    odd.inc(value='a "quoted" \\ line\nbreak')
    running = await make_server(metrics=registry)
    async with ws_connect(running.ws_url, subprotocols=SIP) as ws:
        await ws.send(options(running.http.port))
        await receive(ws)
        async with (
            aiohttp.ClientSession() as session,
            session.get(running.base + "/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"] == METRICS_CONTENT_TYPE
            text = await response.text()
    lines = text.splitlines()
    assert text.endswith("\n")
    families: dict[str, str] = {}
    for line in lines:
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in families
            families[name] = kind
        elif not line.startswith("# HELP "):
            assert _SAMPLE.match(line), line
    assert families["parley_sip_messages_received_total"] == "counter"
    assert families["parley_sip_connections"] == "gauge"
    assert families["parley_http_requests_total"] == "counter"
    assert families["parley_test_subscriptions"] == "gauge"
    assert 'parley_sip_messages_received_total{transport="ws",kind="request"} 1' in lines
    assert 'parley_sip_messages_sent_total{transport="ws",kind="response"} 1' in lines
    assert 'parley_sip_connections_opened_total{transport="ws"} 1' in lines
    assert 'parley_sip_connections{transport="ws"} 1' in lines
    assert 'parley_test_subscriptions{event="presence"} 3' in lines
    assert 'parley_test_odd_total{value="a \\"quoted\\" \\\\ line\\nbreak"} 1' in lines
    assert "# HELP parley_test_odd_total Label values\\nescaped" in lines


def test_registry_refuses_conflicting_metrics() -> None:
    registry = MetricsRegistry()
    first = registry.counter("parley_x_total", "x", ("a",))
    assert registry.counter("parley_x_total", "x", ("a",)) is first
    with pytest.raises(ValueError):
        registry.gauge("parley_x_total", "x", ("a",))
    with pytest.raises(ValueError):
        registry.counter("bad name", "x")
    with pytest.raises(ValueError):
        first.inc(-1, a="1")
    with pytest.raises(ValueError):
        first.inc(b="1")
