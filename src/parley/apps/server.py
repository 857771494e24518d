"""``parley serve``: registrar, proxy and message store in one process.

The app dispatches each request to a service: REGISTER to the registrar, everything else
to the proxy, MESSAGE through the message store's admission checks first. State lives in
SQLite under the data directory, behind the storage interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.apps.config import ServerConfig
from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.resolver import SipResolver, parse_routes
from parley.runtime.tls import dev_certificate, server_context
from parley.runtime.trace import format_trace
from parley.runtime.transports import Listener
from parley.services.auth import DigestAuthenticator
from parley.services.messaging import MessageService, MessagingConfig
from parley.services.proxy import ProxyService
from parley.services.registrar import Registrar
from parley.services.storage.sqlite import SqliteStorage
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
    listeners: list[Listener]
    tasks: list[asyncio.Task[Any]]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.endpoint.close()
        await self.storage.close()


class ServerApp:
    """Dispatches requests to the services."""

    def __init__(self) -> None:
        self.registrar: Registrar | None = None
        self.proxy: ProxyService | None = None
        self.messaging: MessageService | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def handle(self, incoming: ServerRequest) -> Awaitable[None] | None:
        assert self.registrar is not None and self.proxy is not None
        assert self.messaging is not None
        method = incoming.request.method
        if method == "REGISTER" and self.proxy.is_local_domain(incoming.request.uri):
            return self._register(incoming)
        if method == "MESSAGE" and not self.messaging.admit(incoming):
            return None
        return self.proxy.handle(incoming)

    async def _register(self, incoming: ServerRequest) -> None:
        assert self.registrar is not None and self.messaging is not None
        await self.registrar.handle(incoming)
        if incoming.final_status != 200:
            return
        try:
            adds = incoming.request.contacts and (incoming.request.expires != 0)
            aor = self.proxy.aor_of(incoming.request.to.uri) if self.proxy else None
        except ParseError:
            return
        if adds and aor is not None:
            # Store-and-forward: a device came online, hand it what waited (RFC 3428 §7).
            self.messaging.registered(aor)


def _tracer() -> Any:
    def trace(*args: Any) -> None:
        sys.stdout.write(format_trace(*args))
        sys.stdout.flush()

    return trace


async def start_server(config: ServerConfig) -> Server:
    """Open storage, listeners and services; the caller runs until it wants to stop."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    storage = SqliteStorage(config.database)
    await storage.open()
    cert, key = dev_certificate(config.data_dir / "tls")
    app = ServerApp()
    auth = DigestAuthenticator(
        storage, algorithms=tuple(config.digest_algorithms), secret=load_secret(config.data_dir)
    )
    registrar = Registrar(storage, auth, config.domains)

    def connection_closed(peer: Peer, local: Listener) -> None:
        proxy.contacts.forget_connection(peer.conn_id)
        task = asyncio.get_running_loop().create_task(registrar.on_connection_closed(peer))
        app._tasks.add(task)
        task.add_done_callback(app._tasks.discard)

    endpoint = Endpoint(
        app.handle,
        server_ssl=server_context(cert, key),
        tracer=_tracer() if config.trace else None,
        on_connection_closed=connection_closed,
    )
    resolver = SipResolver(static_routes=parse_routes(config.routes))
    messaging = MessageService(
        endpoint,
        storage,
        MessagingConfig(
            max_body=config.message_max_bytes,
            store_seconds=config.message_store_days * 86400.0,
            quota=config.message_quota,
        ),
    )
    proxy = ProxyService(endpoint, storage, auth, config.domains, resolver, store=messaging.store)
    endpoint.on_ack = proxy.forward_ack
    app.registrar, app.proxy, app.messaging = registrar, proxy, messaging
    try:
        listeners = await endpoint.start(config.listen_specs())
    except BaseException:
        await storage.close()
        raise
    tasks = [
        asyncio.get_running_loop().create_task(registrar.run_expiry()),
        asyncio.get_running_loop().create_task(_expire_messages(messaging)),
    ]
    return Server(config, storage, endpoint, registrar, proxy, messaging, listeners, tasks)


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
        await server.close()
