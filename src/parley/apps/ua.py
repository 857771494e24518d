"""A minimal user agent: answers OPTIONS (§11) and accepts MESSAGE (RFC 3428).

It is what a Parley client endpoint does at the very least, and what the transport and
interop tests talk to when no registrar or proxy is involved.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.tls import dev_certificate, server_context
from parley.runtime.trace import format_trace
from parley.sip.core.uas import UasPolicy

ALLOW = frozenset({"OPTIONS", "MESSAGE", "ACK", "CANCEL"})
TEXT_TYPES = frozenset({"text/plain", "message/cpim", "application/im-iscomposing+xml"})


class MessageApp:
    """Answers OPTIONS and MESSAGE; received MESSAGEs wait in ``received``."""

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


def make_endpoint(app: MessageApp, data_dir: Path, *, trace: bool = False) -> Endpoint:
    """An endpoint running ``app`` with the §8.2 UAS checks and a dev TLS certificate."""
    cert, key = dev_certificate(data_dir / "tls")
    tracer = None
    if trace:

        def tracer(*args: Any) -> None:
            sys.stdout.write(format_trace(*args))

    policy = UasPolicy(allow=ALLOW, accept={"MESSAGE": TEXT_TYPES})
    return Endpoint(app.handle, policy=policy, server_ssl=server_context(cert, key), tracer=tracer)
