"""``parley serve``: registrar, proxy, presence agent and message store in one process.

The app dispatches each request to a service: REGISTER to the registrar, SUBSCRIBE and
PUBLISH for our users to the presence agent (RFC 3856 §3: the presence agent of a domain
receives the SUBSCRIBEs for its users), everything else to the proxy, MESSAGE through the
message store's admission checks first. Registration changes feed presence (a user whose
clients never PUBLISH is open while registered). State lives in SQLite under the data
directory, behind the storage interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from parley.apps.collector import collect_periodically
from parley.apps.config import ServerConfig
from parley.apps.web import STATIC_DIR
from parley.apps.workers import WorkerPool
from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.http import HttpServer
from parley.runtime.resolver import SipResolver, parse_routes
from parley.runtime.tls import dev_certificate, server_context
from parley.runtime.trace import format_trace
from parley.runtime.transports import Listener
from parley.services.auth import DigestAuthenticator
from parley.services.messaging import MessageService, MessagingConfig
from parley.services.presence import Policy, PresenceConfig, PresenceService
from parley.services.proxy import ProxyService
from parley.services.registrar import Registrar
from parley.services.storage import Binding
from parley.services.storage.sqlite import SqliteStorage
from parley.services.xcap import XcapHooks, start_http
from parley.sip.errors import ParseError
from parley.sip.transport.address import Peer

log = logging.getLogger(__name__)


def load_secret(data_dir: Path) -> bytes:
    """The nonce-signing key, kept across restarts so that clients holding a nonce get
    ``stale=true`` rather than a fresh 401 after a restart."""
    path = data_dir / "secret"
    try:
        secret = path.read_bytes()
        if len(secret) >= 32:
            return secret
    except FileNotFoundError:
        pass
    secret = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return secret


@dataclass
class Server:
    """The running server's parts, for tests and for ``serve``."""

    config: ServerConfig
    storage: SqliteStorage
    endpoint: Endpoint
    registrar: Registrar
    proxy: ProxyService
    messaging: MessageService
    presence: PresenceService
    listeners: list[Listener]
    tasks: list[asyncio.Task[Any]]
    http: HttpServer | None = None
    workers: WorkerPool | None = None

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.workers is not None:
            await self.workers.close()
        # Presence first: it saves every subscription and then takes no more input (a
        # SUBSCRIBE arriving meanwhile gets 503), so closing connections, which drops their
        # bindings, no longer changes anyone's presence.
        await self.presence.close()
        if self.http is not None:
            await self.http.close()
        await self.endpoint.close()
        await self.storage.close()


class ServerApp:
    """Dispatches requests to the services."""

    def __init__(self) -> None:
        self.registrar: Registrar | None = None
        self.proxy: ProxyService | None = None
        self.messaging: MessageService | None = None
        self.presence: PresenceService | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def handle(self, incoming: ServerRequest) -> Awaitable[None] | None:
        assert self.registrar is not None and self.proxy is not None
        assert self.messaging is not None and self.presence is not None
        request = incoming.request
        method = request.method
        if method == "REGISTER" and self.proxy.is_local_domain(request.uri):
            return self._register(incoming)
        if method == "MESSAGE" and not self.messaging.admit(incoming):
            return None
        if method in ("SUBSCRIBE", "PUBLISH") and self.presence.accepts(request):
            return self.presence.handle(incoming)
        return self.proxy.handle(incoming)

    def bindings_dropped(self, bindings: Iterable[Binding]) -> None:
        """Bindings ended (a closed connection, expiry): their users may now be offline."""
        if self.presence is not None:
            self.presence.registrations_changed(b.aor for b in bindings)

    async def _register(self, incoming: ServerRequest) -> None:
        assert self.registrar is not None and self.messaging is not None
        await self.registrar.handle(incoming)
        if incoming.final_status != 200:
            return
        try:
            changes = bool(incoming.request.headers.values("Contact"))
            adds = incoming.request.contacts and (incoming.request.expires != 0)
            aor = self.proxy.aor_of(incoming.request.to.uri) if self.proxy else None
        except ParseError:
            return
        if changes and aor is not None and self.presence is not None:
            # Registration is presence for clients that never PUBLISH (issue 4).
            self.presence.registrations_changed([aor])
        if adds and aor is not None:
            # Store-and-forward: a device came online, hand it what waited (RFC 3428 §7).
            self.messaging.registered(aor)


def tracer() -> Any:
    """``--trace``: every SIP message on stdout, sngrep-style."""

    def trace(*args: Any) -> None:
        sys.stdout.write(format_trace(*args))
        sys.stdout.flush()

    return trace


def messaging_config(config: ServerConfig) -> MessagingConfig:
    return MessagingConfig(
        max_body=config.message_max_bytes,
        store_seconds=config.message_store_days * 86400.0,
        quota=config.message_quota,
    )


def presence_config(config: ServerConfig, base: PresenceConfig | None = None) -> PresenceConfig:
    """The presence agent's configuration: ``base`` (timings; tests inject short ones) with
    the server's ``presence-policy`` and ``notifier-202`` settings."""
    return replace(
        base or PresenceConfig(),
        policy=Policy(config.presence_policy),
        notifier_202=config.notifier_202,
    )


async def start_server(config: ServerConfig, *, presence: PresenceConfig | None = None) -> Server:
    """Open storage, listeners and services; the caller runs until it wants to stop.

    ``presence`` gives the presence agent's timings (rate limit, expiries); its policy and
    202 switch come from ``config``.
    """
    config.data_dir.mkdir(parents=True, exist_ok=True)
    storage = SqliteStorage(config.database)
    await storage.open()
    await _drop_dead_flows(storage)
    cert, key = dev_certificate(config.data_dir / "tls")
    app = ServerApp()
    auth = DigestAuthenticator(
        storage, algorithms=tuple(config.digest_algorithms), secret=load_secret(config.data_dir)
    )
    registrar = Registrar(storage, auth, config.domains)

    def connection_closed(peer: Peer, local: Listener) -> None:
        proxy.contacts.forget_connection(peer.conn_id)
        if workers is not None:
            workers.connection_closed(peer)
        presence_service.connection_closed(peer)
        task = asyncio.get_running_loop().create_task(_drop_flow(peer))
        app._tasks.add(task)
        task.add_done_callback(app._tasks.discard)

    async def _drop_flow(peer: Peer) -> None:
        # RFC 5626 §7: the bindings riding the connection end with it, and so does the
        # presence they gave their user.
        app.bindings_dropped(await registrar.on_connection_closed(peer))

    endpoint = Endpoint(
        app.handle,
        server_ssl=server_context(cert, key),
        tracer=tracer() if config.trace else None,
        on_connection_closed=connection_closed,
    )
    resolver = SipResolver(static_routes=parse_routes(config.routes))
    messaging = MessageService(
        endpoint,
        storage,
        messaging_config(config),
    )
    proxy = ProxyService(endpoint, storage, auth, config.domains, resolver, store=messaging.store)
    endpoint.on_ack = proxy.forward_ack
    presence_service = PresenceService(
        endpoint, storage, proxy, auth, presence_config(config, presence)
    )
    app.registrar, app.proxy, app.messaging = registrar, proxy, messaging
    app.presence = presence_service
    http: HttpServer | None = None
    workers: WorkerPool | None = None
    try:
        listeners = await endpoint.start(config.listen_specs())
        http_address = config.http_address()
        if http_address is not None:
            # SIP over WebSocket at /ws, XCAP, /metrics: started before any traffic, since
            # the proxy learns our own addresses from the listeners on first use.
            http = await start_http(
                *http_address,
                transports=endpoint.transports,
                storage=storage,
                realm_for=auth.realm_for,
                xcap_hooks=XcapHooks(on_update=presence_service.document_updated),
                static_dir=STATIC_DIR,
                algorithms=tuple(config.digest_algorithms),
                secret=load_secret(config.data_dir),
                throttle=auth.throttle,
            )
            listeners = [*listeners, *http.listeners]
        await presence_service.start()
        if config.workers > 1:
            workers = WorkerPool(config, endpoint, proxy, storage, messaging, auth.throttle)
            await workers.start()
    except BaseException:
        if workers is not None:
            await workers.close()
        if http is not None:
            await http.close()
        await endpoint.close()
        await storage.close()
        raise
    tasks = [
        asyncio.get_running_loop().create_task(_expire_bindings(registrar, app)),
        asyncio.get_running_loop().create_task(_expire_messages(messaging)),
    ]
    return Server(
        config=config,
        storage=storage,
        endpoint=endpoint,
        registrar=registrar,
        proxy=proxy,
        messaging=messaging,
        presence=presence_service,
        listeners=listeners,
        tasks=tasks,
        http=http,
        workers=workers,
    )


async def _drop_dead_flows(storage: SqliteStorage) -> None:
    """Bindings made over a connection of a previous run cannot be reached any more: the
    connection is gone with the process (RFC 5626 §5.3: the flow is the binding's route).
    UDP bindings stay; they survive a restart."""
    for binding in await storage.all_bindings(time.time()):
        if binding.flow:
            await storage.remove_binding(binding.aor, binding.key)


async def _expire_bindings(registrar: Registrar, app: ServerApp, interval: float = 30.0) -> None:
    """``Registrar.run_expiry``, telling presence whose bindings expired."""
    while True:
        try:
            app.bindings_dropped(await registrar.expire())
        except Exception:
            log.exception("binding expiry failed")
        await asyncio.sleep(interval)


async def _expire_messages(messaging: MessageService, interval: float = 60.0) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await messaging.expire()
        except Exception:
            log.exception("message expiry failed")


async def serve(config: ServerConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or cancellation)."""
    server = await start_server(config)
    # What start-up made lives as long as the server; after it, cycles are collected on
    # a timer instead of by allocation counts (see parley.apps.collector).
    collector = asyncio.get_running_loop().create_task(collect_periodically())
    domains = ", ".join(config.domains)
    print(f"parley: serving {domains}; data in {config.data_dir}", flush=True)
    for listener in server.listeners:
        print(f"parley: listening on {listener.transport}:{listener.hostport()}", flush=True)
    print(
        f"parley: add a user with: parley user add alice@{config.domains[0]} "
        f"--data-dir {config.data_dir}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        collector.cancel()
        await server.close()
