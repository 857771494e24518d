"""One extra process of ``parley serve --workers N``: a MESSAGE relay (see
:mod:`parley.apps.workers`).

Started by the first process as ``python -m parley.apps.relay_worker SETTINGS FDS``: the
JSON settings of :func:`parley.apps.workers.worker_settings`, then the file descriptors it
passed, the link to it first and the UDP listeners' sockets after. The worker reads only
the link; it sends from the shared UDP sockets, so clients see one server address, and
through the first process over its connections (TCP, TLS, WebSocket); it marks its
branches so that the first process hands the responses back. It ends when the
link does (the first process closed it, or died).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import socket
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from parley.apps.collector import collect_periodically
from parley.apps.config import ServerConfig
from parley.apps.server import load_secret, messaging_config, tracer
from parley.apps.workers import branch_prefix, parse_throttle_value, throttle_value
from parley.runtime.endpoint import BufferedRandom, Endpoint, ServerRequest
from parley.runtime.resolver import SipResolver, parse_routes
from parley.runtime.transports import Listener
from parley.runtime.worker_channel import WorkerChannel
from parley.services.auth import DigestAuthenticator
from parley.services.messaging import MessageService
from parley.services.proxy import ProxyService
from parley.services.storage.sqlite import SqliteStorage
from parley.sip.stack import SipStack, StackConfig

log = logging.getLogger(__name__)


async def run_worker(
    settings: dict[str, Any], link: socket.socket, udp: list[socket.socket]
) -> None:
    worker = int(settings["worker"])
    config = ServerConfig(**settings["config"])
    config.data_dir = Path(config.data_dir)
    storage = SqliteStorage(config.database)
    await storage.open()
    auth = DigestAuthenticator(
        storage, algorithms=tuple(config.digest_algorithms), secret=load_secret(config.data_dir)
    )
    messaging: MessageService | None = None
    proxy: ProxyService | None = None

    def handle(incoming: ServerRequest) -> Awaitable[None] | None:
        assert messaging is not None and proxy is not None
        if incoming.request.method == "MESSAGE" and not messaging.admit(incoming):
            return None
        return proxy.handle(incoming)

    stack = SipStack(BufferedRandom(), StackConfig(branch_prefix=branch_prefix(worker)))
    endpoint = Endpoint(handle, stack=stack, tracer=tracer() if config.trace else None)
    await endpoint.start([])
    for sock in udp:
        endpoint.transports.adopt_udp_socket(sock)
    for transport, host, port in settings["listeners"]:
        endpoint.transports.add_remote_listener(Listener(transport, host, int(port)))
    messaging = MessageService(endpoint, storage, messaging_config(config))
    resolver = SipResolver(static_routes=parse_routes(config.routes))
    proxy = ProxyService(endpoint, storage, auth, config.domains, resolver, store=messaging.store)
    endpoint.on_ack = proxy.forward_ack

    def on_control(name: str, value: str) -> None:
        if name == "forget":
            storage.forget_cached_bindings(None if value == "*" else value.split("\n"))
        elif name == "closed":
            proxy.contacts.forget_connection(int(value))
        elif name == "throttle":
            auth.throttle.apply(*parse_throttle_value(value))
        else:
            log.warning("worker %d: unknown control %r", worker, name)

    channel = await WorkerChannel.connect(link, endpoint.receive, on_control)
    # Connections are the first process's: what goes over one goes through it.
    endpoint.transports.remote_sender = channel.send_message

    def stored(recipient: str) -> None:
        channel.send_control("stored", recipient)

    messaging.on_stored = stored

    def throttle_recorded(kind: str, ip: str, user: str | None) -> None:
        channel.send_control("throttle", throttle_value(kind, ip, user))

    auth.throttle.on_record = throttle_recorded
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, channel.close)
    collector = loop.create_task(collect_periodically())  # as `parley serve`
    channel.send_control("ready")
    try:
        await channel.closed
    finally:
        collector.cancel()
        await endpoint.close()
        await storage.close()


def main(argv: list[str]) -> int:
    settings = json.loads(argv[0])
    fds = [int(fd) for fd in argv[1].split(",")]
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Ctrl-C reaches the whole process group; the first process decides when we end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    link = socket.socket(fileno=fds[0])
    udp = [socket.socket(fileno=fd) for fd in fds[1:]]
    gc.set_threshold(100_000, 50, 100)  # while starting, as `parley serve`
    from parley.apps.cli import run_async

    run_async(lambda: run_worker(settings, link, udp))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
