"""``parley serve``: the SIP element a user starts with one command.

Today it is an endpoint that answers OPTIONS (capabilities, §11) and accepts MESSAGE
(RFC 3428) on every transport; the registrar, proxy and presence agent build on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from parley.apps.config import ServerConfig
from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.tls import dev_certificate, server_context
from parley.runtime.trace import format_trace
from parley.runtime.transports import Listener
from parley.sip.core.uas import UasPolicy

log = logging.getLogger(__name__)

ALLOW = frozenset({"OPTIONS", "MESSAGE", "ACK", "CANCEL"})
TEXT_TYPES = frozenset({"text/plain", "message/cpim", "application/im-iscomposing+xml"})


class MessageApp:
    """Answers OPTIONS and MESSAGE; what every Parley element does at the very least."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[ServerRequest] = asyncio.Queue()

    def handle(self, incoming: ServerRequest) -> None:
        method = incoming.request.method
        if method == "OPTIONS":
            # §11.2: the answer lists what we can do, as a 200.
            incoming.respond(
                200,
                headers=[
                    ("Allow", ", ".join(sorted(ALLOW))),
                    ("Accept", ", ".join(sorted(TEXT_TYPES))),
                    ("Accept-Encoding", "identity"),
                    ("Supported", ""),
                ],
            )
        elif method == "MESSAGE":
            incoming.respond(200)
            self.received.put_nowait(incoming)
        elif method == "CANCEL":
            # §9.2: nothing here is ever pending long enough to cancel.
            incoming.respond(481)
        else:
            incoming.respond(405, headers=[("Allow", ", ".join(sorted(ALLOW)))])


def make_endpoint(config: ServerConfig, app: MessageApp) -> Endpoint:
    cert, key = dev_certificate(config.data_dir / "tls")
    tracer = None
    if config.trace:

        def tracer(*args: object) -> None:
            sys.stdout.write(format_trace(*args))  # type: ignore[arg-type]
            sys.stdout.flush()

    policy = UasPolicy(allow=ALLOW, accept={"MESSAGE": TEXT_TYPES})
    return Endpoint(app.handle, policy=policy, server_ssl=server_context(cert, key), tracer=tracer)


async def serve(config: ServerConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or cancellation)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = MessageApp()
    endpoint = make_endpoint(config, app)
    listeners: list[Listener] = await endpoint.start(config.listen_specs())
    for listener in listeners:
        print(f"parley: listening on {listener.transport}:{listener.hostport()}", flush=True)
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
        await endpoint.close()
