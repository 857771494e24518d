"""The server's HTTP listener: SIP over WebSocket at ``/ws``, ``/metrics``, mounted services
(XCAP under ``/xcap-root``) and the web client's files at ``/``, on one aiohttp port.

``/ws`` is RFC 7118 on the HTTP port a browser already talks to: the upgrade must offer the
``sip`` subprotocol (§4.1), and each accepted WebSocket is handed to the
:class:`~parley.runtime.transports.TransportLayer` through
:meth:`~parley.runtime.transports.TransportLayer.adopt_websocket`, so it behaves exactly as a
connection on the layer's own ``ws`` listener: same ``Peer``/``conn_id``, same
``on_message``, responses and later requests back over it, close reported, limits applied.

``/metrics`` is the Prometheus text exposition format (version 0.0.4) of a small
:class:`MetricsRegistry`; services register counters and gauges on it, and
:func:`transport_metrics` exports the transport layer's totals.

This module knows nothing of XCAP: services mount their handlers under a path prefix
(``mounts``), which keeps the import layers flowing one way (runtime <- services).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from parley.runtime.transports import (
    Listener,
    TransportLayer,
    WebSocketClosed,
)

__all__ = [
    "METRICS_CONTENT_TYPE",
    "Collector",
    "Counter",
    "Gauge",
    "Handler",
    "HttpServer",
    "MetricFamily",
    "MetricsRegistry",
    "transport_metrics",
]

log = logging.getLogger(__name__)

#: An aiohttp request handler, as services mount them.
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: RFC 7118 §4.1: the WebSocket subprotocol registered for SIP.
WS_SUBPROTOCOL = "sip"
#: The Prometheus text exposition format, version 0.0.4.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NOT_BUILT = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Parley</title></head>
<body>
<h1>Parley</h1>
<p>The web client is not built: run <code>scripts/build-web</code> (Node.js 20 and npm)
in Parley's source tree, then reload. SIP over WebSocket is served at <code>/ws</code>,
XCAP at <code>/xcap-root/</code> and metrics at <code>/metrics</code>.</p>
</body>
</html>
"""

# -- metrics ---------------------------------------------------------------------------------

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One metric as exposed: ``kind`` is "counter" or "gauge"; each sample is its labels
    and its value."""

    name: str
    kind: str
    help: str
    samples: Sequence[tuple[Mapping[str, str], float]]


#: A callable computing metric families at scrape time (for values kept elsewhere).
Collector = Callable[[], Iterable[MetricFamily]]


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        if not _METRIC_NAME.match(name):
            raise ValueError(f"not a metric name: {name!r}")
        for label in labels:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"not a label name: {label!r}")
        self.name = name
        self.help = help
        self.labels = tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}

    def _key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, not {tuple(labels)}")
        return tuple(str(labels[name]) for name in self.labels)

    def value(self, **labels: str) -> float:
        """The current value for ``labels`` (0 if never touched)."""
        return self._values.get(self._key(labels), 0.0)

    def family(self) -> MetricFamily:
        samples = [
            (dict(zip(self.labels, key, strict=True)), value)
            for key, value in sorted(self._values.items())
        ]
        if not self.labels and not samples:
            samples = [({}, 0.0)]
        return MetricFamily(self.name, self.kind, self.help, samples)


class Counter(_Metric):
    """A value that only grows (requests served, connections opened)."""

    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only grows")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount


class Gauge(_Metric):
    """A value that goes up and down (connections open now, subscriptions)."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        self._values[self._key(labels)] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def dec(self, amount: float = 1.0, **labels: str) -> None:
        self.inc(-amount, **labels)


class MetricsRegistry:
    """The metrics ``/metrics`` exposes: counters and gauges registered by name, and
    collectors that compute families when scraped.

    Registering a name twice with the same kind and labels returns the first metric, so
    two instances of a service share it; anything else is a ValueError.
    """

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._collectors: list[Collector] = []

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        metric = self._register(Counter(name, help, labels))
        assert isinstance(metric, Counter)
        return metric

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        metric = self._register(Gauge(name, help, labels))
        assert isinstance(metric, Gauge)
        return metric

    def _register(self, metric: _Metric) -> _Metric:
        existing = self._metrics.get(metric.name)
        if existing is None:
            self._metrics[metric.name] = metric
            return metric
        if type(existing) is not type(metric) or existing.labels != metric.labels:
            raise ValueError(f"metric {metric.name} is already registered differently")
        return existing

    def add_collector(self, collector: Collector) -> None:
        """Call ``collector`` at every scrape; its families are exposed as they come."""
        self._collectors.append(collector)

    def remove_collector(self, collector: Collector) -> None:
        with contextlib.suppress(ValueError):
            self._collectors.remove(collector)

    def collect(self) -> list[MetricFamily]:
        families = [metric.family() for metric in self._metrics.values()]
        for collector in self._collectors:
            try:
                families.extend(collector())
            except Exception:
                log.exception("metrics collector %r failed", collector)
        return families

    def render(self) -> str:
        """Every metric in the Prometheus text format 0.0.4."""
        lines: list[str] = []
        seen: set[str] = set()
        for family in self.collect():
            if family.name in seen:
                continue  # one family per name, as the format requires
            seen.add(family.name)
            lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
            lines.append(f"# TYPE {family.name} {family.kind}")
            for labels, value in family.samples:
                lines.append(f"{family.name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_value(value: str) -> str:
    # The text format escapes backslash, double quote and line feed in label values.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    value = float(value)  # collectors may hand in ints (collections.Counter values)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def transport_metrics(layer: TransportLayer) -> Collector:
    """A collector exporting ``layer``'s totals (:class:`TransportStats`) and open
    connections, labelled by transport and, for messages, request or response."""

    def collect() -> Iterable[MetricFamily]:
        stats = layer.stats
        for name, help, counts in (
            ("parley_sip_messages_received_total", "SIP messages received", stats.received),
            ("parley_sip_messages_sent_total", "SIP messages sent", stats.sent),
        ):
            yield MetricFamily(
                name,
                "counter",
                help,
                [({"transport": t, "kind": k}, n) for (t, k), n in sorted(counts.items())],
            )
        for name, help, by_transport in (
            ("parley_sip_connections_opened_total", "Connections opened", stats.opened),
            ("parley_sip_connections_closed_total", "Connections closed", stats.closed),
            ("parley_sip_connections_refused_total", "Connections refused", stats.refused),
        ):
            yield MetricFamily(
                name,
                "counter",
                help,
                [({"transport": t}, n) for t, n in sorted(by_transport.items())],
            )
        yield MetricFamily(
            "parley_sip_connections",
            "gauge",
            "Connections open now",
            [({"transport": t}, n) for t, n in sorted(layer.open_connections().items())],
        )

    return collect


# -- WebSocket adapter -----------------------------------------------------------------------


class _AiohttpChannel:
    """:class:`~parley.runtime.transports.WebSocketChannel` over an aiohttp WebSocket."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws = ws
        self.transport = transport

    async def send(self, message: str | bytes) -> None:
        if self.ws.closed:
            raise WebSocketClosed()
        try:
            if isinstance(message, str):
                await self.ws.send_str(message)
            else:
                await self.ws.send_bytes(message)
        except (ConnectionError, RuntimeError) as exc:
            raise WebSocketClosed() from exc

    async def receive(self) -> bytes:
        message = await self.ws.receive()
        if message.type is WSMsgType.TEXT:
            data: str | bytes = message.data
            return data.encode("utf-8") if isinstance(data, str) else data
        if message.type is WSMsgType.BINARY:
            return bytes(message.data)
        # CLOSE, CLOSING, CLOSED, or ERROR (e.g. a message over max_msg_size, which aiohttp
        # answers with close code 1009 itself, RFC 6455 §7.4.1).
        raise WebSocketClosed()

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode("utf-8"))

    def abort(self) -> None:
        self.transport.abort()


def _offered_protocols(request: web.Request) -> list[str]:
    offered: list[str] = []
    for value in request.headers.getall("Sec-WebSocket-Protocol", []):
        offered.extend(item.strip() for item in value.split(",") if item.strip())
    return offered


# -- the server ------------------------------------------------------------------------------


class HttpServer:
    """One aiohttp listener with ``/ws``, ``/metrics``, ``mounts`` and static files.

    ``transports`` receives the WebSockets accepted at ``/ws`` (without it, ``/ws`` is
    404). ``metrics`` is exposed at ``/metrics`` (a fresh registry if None); the transport
    layer's totals and HTTP request counts are added to it. ``mounts`` maps a path prefix
    (``"/xcap-root"``) to a handler getting every request under it, any method.
    ``static_dir`` is served at ``/`` (``index.html`` for directories); when it is None or
    missing, ``/`` answers a short page saying the web client is not built. ``ssl`` makes
    it HTTPS, and ``/ws`` then WSS.

    Usage::

        server = HttpServer(transports=layer, mounts={"/xcap-root": xcap.handle})
        await server.start("127.0.0.1", 8080)
        ...
        await server.close()
    """

    def __init__(
        self,
        *,
        transports: TransportLayer | None = None,
        metrics: MetricsRegistry | None = None,
        mounts: Mapping[str, Handler] | None = None,
        static_dir: Path | None = None,
        ssl: ssl.SSLContext | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.transports = transports
        self.metrics = metrics if metrics is not None else MetricsRegistry()
        self.static_dir = static_dir
        self._mounts = dict(mounts or {})
        for prefix in self._mounts:
            if not prefix.startswith("/") or prefix.endswith("/") or prefix == "/":
                raise ValueError(f"mount prefix must look like /name, not {prefix!r}")
        self._ssl = ssl
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._listeners: list[Listener] = []
        self._channels: set[_AiohttpChannel] = set()
        self._requests = self.metrics.counter(
            "parley_http_requests_total", "HTTP requests answered", ("method", "code")
        )
        self._collector: Collector | None = None

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """Where ``/ws`` listens, as transport listeners ("ws", or "wss" with ``ssl``)."""
        return tuple(self._listeners)

    @property
    def port(self) -> int:
        """The bound port (useful after starting on port 0)."""
        if not self._listeners:
            raise RuntimeError("the HTTP server is not started")
        return self._listeners[0].port

    async def start(self, host: str, port: int) -> list[Listener]:
        """Bind ``host:port`` (0 picks a free port) and start serving."""
        if self._runner is not None:
            raise RuntimeError("the HTTP server is already started")
        app = web.Application(middlewares=[self._count])
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/metrics", self._metrics)
        for prefix, handler in self._mounts.items():
            app.router.add_route("*", prefix, handler)
            app.router.add_route("*", prefix + "/{tail:.*}", handler)
        # Registered last: aiohttp tries routes in order, so the catch-all comes after.
        app.router.add_get("/{path:.*}", self._static)
        app.on_shutdown.append(self._close_websockets)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=self._shutdown_timeout
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, ssl_context=self._ssl)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        transport = "wss" if self._ssl is not None else "ws"
        for address in runner.addresses:
            bound_host = str(address[0])
            if bound_host.startswith("::ffff:") and "." in bound_host:
                bound_host = bound_host[len("::ffff:") :]
            self._listeners.append(Listener(transport, bound_host, int(address[1])))
        if self.transports is not None:
            # Via and Record-Route may now name this port (RFC 7118 §5.2, RFC 3261 §16.6).
            for listener in self._listeners:
                self.transports.attach_listener(listener)
            self._collector = transport_metrics(self.transports)
            self.metrics.add_collector(self._collector)
        return list(self._listeners)

    async def close(self) -> None:
        """Close every WebSocket (going away, RFC 6455 §7.4.1) and stop listening."""
        runner, self._runner = self._runner, None
        if self.transports is not None:
            for listener in self._listeners:
                self.transports.detach_listener(listener)
        if self._collector is not None:
            self.metrics.remove_collector(self._collector)
            self._collector = None
        self._listeners.clear()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> HttpServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _close_websockets(self, app: web.Application) -> None:
        for channel in list(self._channels):
            with contextlib.suppress(Exception):
                await channel.close(1001, "server shutting down")

    # -- handlers --------------------------------------------------------------------------

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            method = request.method if request.method in _KNOWN_METHODS else "other"
            self._requests.inc(method=method, code=str(status))

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        layer = self.transports
        if layer is None:
            raise web.HTTPNotFound()
        ws = web.WebSocketResponse(
            protocols=(WS_SUBPROTOCOL,),
            # SIP messages are small and per-connection zlib state is not: save the memory.
            compress=False,
            max_msg_size=layer.config.max_message,
            heartbeat=layer.config.ws_ping_interval,
        )
        if not ws.can_prepare(request).ok:
            # A plain GET: RFC 6455 §4.2.2 wants an upgrade here.
            return web.Response(
                status=426, text="WebSocket upgrade required\n", headers={"Upgrade": "websocket"}
            )
        if WS_SUBPROTOCOL not in _offered_protocols(request):
            # RFC 7118 §4.1: refuse a client that does not offer "sip" rather than open a
            # WebSocket whose payload format was never agreed (as the layer's listener does).
            return web.Response(status=400, text="The sip WebSocket subprotocol is required\n")
        if not layer.accepting:
            layer.stats.refused[self._listener_for(request).transport] += 1
            return web.Response(status=503, text="Too many connections\n")
        transport = request.transport
        peername = transport.get_extra_info("peername") if transport is not None else None
        if transport is None or peername is None:
            raise web.HTTPBadRequest()
        await ws.prepare(request)
        channel = _AiohttpChannel(ws, transport)
        local = self._listener_for(request)
        host = str(peername[0])
        if host.startswith("::ffff:") and "." in host:
            host = host[len("::ffff:") :]
        self._channels.add(channel)
        try:
            await layer.adopt_websocket(channel, host, int(peername[1]), local)
        finally:
            self._channels.discard(channel)
        return ws

    def _listener_for(self, request: web.Request) -> Listener:
        sockname: Any = None
        if request.transport is not None:
            sockname = request.transport.get_extra_info("sockname")
        if sockname is not None:
            port = int(sockname[1])
            v6 = ":" in str(sockname[0]) and not str(sockname[0]).startswith("::ffff:")
            for listener in self._listeners:
                if listener.port == port and (":" in listener.host) == v6:
                    return listener
        return self._listeners[0]

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=self.metrics.render().encode("utf-8"),
            headers={"Content-Type": METRICS_CONTENT_TYPE},
        )

    async def _static(self, request: web.Request) -> web.StreamResponse:
        relative = request.match_info.get("path", "")
        root = self.static_dir
        if root is None or not root.is_dir():
            if relative in ("", "index.html"):
                return web.Response(text=_NOT_BUILT, content_type="text/html")
            raise web.HTTPNotFound()
        target = _resolve_under(root, relative)
        if target is None:
            raise web.HTTPNotFound()
        return web.FileResponse(target, headers={"X-Content-Type-Options": "nosniff"})


_KNOWN_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"})


def _resolve_under(root: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside ``root`` (``index.html`` for a directory), or
    None if there is none or the path would leave ``root`` (``..``, symlinks out)."""
    if "\x00" in relative:
        return None
    base = root.resolve()
    try:
        target = (base / relative.lstrip("/")).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not target.is_relative_to(base):
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None
