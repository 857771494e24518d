"""The asyncio driver around ``SipStack``: the only code that sees both worlds.

After every input (a message from the transport, a request or response from the
application, a timer) it flushes the stack's outgoing messages to the transport, hands its
events to the application, and re-arms one ``loop.call_at`` for the stack's next deadline,
as aioquic's asyncio layer does. ``now`` is always ``loop.time()``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from parley.runtime.transports import (
    Listener,
    ListenSpec,
    OnConnection,
    TransportConfig,
    TransportError,
    TransportLayer,
)
from parley.sip.core.uac import SentBy
from parley.sip.core.uas import UasPolicy, check_request
from parley.sip.errors import LocalProtocolError
from parley.sip.stack import MessageDropped, SipStack, StackConfig
from parley.sip.syntax import Request, Response, make_response
from parley.sip.transaction.events import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionKey,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from parley.sip.transport.address import Peer
from parley.sip.transport.framing import FramingError

log = logging.getLogger(__name__)


class ServerRequest:
    """A request the application must answer, with the transaction it belongs to.

    ``to_tag`` is this UAS's tag for every response to it (§8.2.6.2); ``peer`` is where it
    came from (with ``conn_id`` on connection transports).
    """

    __slots__ = (
        "_endpoint",
        "answered",
        "cancels",
        "final_status",
        "held",
        "key",
        "peer",
        "request",
        "to_tag",
    )

    def __init__(self, endpoint: Endpoint, event: RequestReceived, to_tag: str) -> None:
        self._endpoint = endpoint
        self.request = event.request
        self.peer = event.peer
        self.key = event.key
        #: For a CANCEL: the INVITE server transaction it matches (§9.2), None if none.
        self.cancels = event.cancels
        self.to_tag = to_tag
        self.answered = False
        self.held = False
        #: The status of the final response sent, once there is one.
        self.final_status: int | None = None

    def respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        """Build the response per §8.2.6.2 and send it through the transaction."""
        extra = list(headers)
        if body and content_type is not None:
            extra.append(("Content-Type", content_type))
        response = make_response(
            self.request,
            status,
            reason,
            to_tag=None if status == 100 else self.to_tag,
            extra=extra,
            body=body,
        )
        self.send(response)
        return response

    def hold(self) -> None:
        """Say that the final response will come later, after the handler has returned
        (a proxy waiting for its branches): the endpoint will not answer 500 for it."""
        self.held = True

    def send(self, response: Response) -> None:
        if response.status >= 200:
            self.answered = True
            self.final_status = response.status
        self._endpoint.send_response(response, self.key)


RequestHandler = Callable[[ServerRequest], Awaitable[None] | None]
AckHandler = Callable[[Request, Peer], None]
StrayResponseHandler = Callable[[Response, Peer], None]


class BufferedRandom:
    """``os.urandom`` read 64 KiB at a time: tags, branches and Call-IDs take a few bytes
    each, thousands of times a second in a fan-out, and a system call apiece shows."""

    __slots__ = ("_buffer", "_offset")

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0

    def __call__(self, count: int) -> bytes:
        start = self._offset
        if start + count > len(self._buffer):
            self._buffer = os.urandom(max(65536, count))
            start = 0
        self._offset = start + count
        return self._buffer[start : start + count]


class Endpoint:
    """One SIP element on asyncio: transports, the stack, and an application handler.

    ``handler`` gets every new request (sync or async); a request it leaves unanswered gets
    500. With a ``policy``, the §8.2 UAS checks (405/501, 416, 420, 415) run first and the
    handler only sees requests that pass them; a proxy passes ``None``.
    """

    def __init__(
        self,
        handler: RequestHandler,
        *,
        policy: UasPolicy | None = None,
        stack: SipStack | None = None,
        transport_config: TransportConfig | None = None,
        server_ssl: Any = None,
        client_ssl: Any = None,
        tracer: Any = None,
        on_ack: AckHandler | None = None,
        on_stray_response: StrayResponseHandler | None = None,
        on_connection_closed: OnConnection | None = None,
    ) -> None:
        self.handler = handler
        self.policy = policy
        self.on_ack = on_ack
        self.on_stray_response = on_stray_response
        self.stack = stack or SipStack(BufferedRandom(), StackConfig())
        self.transports = TransportLayer(
            self._on_message,
            config=transport_config,
            server_ssl=server_ssl,
            client_ssl=client_ssl,
            on_stream_error=self._on_stream_error,
            on_connection_closed=on_connection_closed,
            tracer=tracer,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pending: dict[TransactionKey, Callable[[Response], None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flushing = False
        #: Sees every message from the transports first; True means it took the message
        #: (``parley serve --workers`` hands it to another process).
        self.intercept: Callable[[bytes, Peer, Listener], bool] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, specs: Sequence[ListenSpec]) -> list[Listener]:
        self._loop = asyncio.get_running_loop()
        return await self.transports.start(list(specs))

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        self._pending.clear()
        await self.transports.close()

    async def __aenter__(self) -> Endpoint:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return self.transports.listeners

    def sent_by(self, transport: str) -> SentBy:
        """Our Via sent-by for ``transport`` (§18.1.1): the first listener of that kind."""
        for listener in self.transports.listeners:
            if listener.transport == transport.lower():
                return SentBy(transport, listener.host, listener.port)
        raise TransportError(f"no {transport} listener")

    # -- the application's side ------------------------------------------------------------

    def start_request(
        self, request: Request, peer: Peer, on_response: Callable[[Response], None]
    ) -> TransactionKey:
        """Send ``request`` in a client transaction; ``on_response`` gets every response it
        passes up, provisional ones included, and the synthetic 408 or 503 of a timeout or
        transport failure (§8.1.3.1) as its final response."""
        key = self.stack.send_request(request, peer, self._now_loop().time())
        self._pending[key] = on_response
        self._flush()
        return key

    async def request(
        self,
        request: Request,
        peer: Peer,
        *,
        on_provisional: Callable[[Response], None] | None = None,
    ) -> Response:
        """Send ``request`` in a client transaction; return its final response, which is a
        synthetic 408 or 503 on timeout or transport failure (§8.1.3.1)."""
        future: asyncio.Future[Response] = self._now_loop().create_future()

        def on_response(response: Response) -> None:
            if response.status >= 200:
                if not future.done():
                    future.set_result(response)
            elif on_provisional is not None:
                on_provisional(response)

        key = self.start_request(request, peer, on_response)
        try:
            return await future
        finally:
            self._pending.pop(key, None)

    def abandon(self, key: TransactionKey) -> None:
        """Give up client transaction ``key`` (e.g. §9.1, 64*T1 after its CANCEL)."""
        self._pending.pop(key, None)
        try:
            self.stack.transactions.abandon(key, self._now_loop().time())
        except LocalProtocolError:
            return
        self._flush()

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        """Send outside any transaction: an ACK for a 2xx, or what a proxy forwards
        statelessly (a 2xx ACK, a stray response: §16.11, §18.1.2)."""
        self.stack.transactions.send_stateless(message, peer)
        self._flush()

    def send_response(self, response: Response, key: TransactionKey | None = None) -> None:
        self.stack.send_response(response, self._now_loop().time(), key=key)
        self._flush()

    # -- the transport's side --------------------------------------------------------------

    def _on_message(self, data: bytes, peer: Peer, local: Listener) -> None:
        if self.intercept is not None and self.intercept(data, peer, local):
            return
        self.receive(data, peer)

    def receive(self, data: bytes, peer: Peer) -> None:
        """A message that reached us another way than our own transports (handed over by
        the process that read it), as if it came from ``peer``."""
        self.stack.receive(data, peer, self._now_loop().time())
        self._flush()

    def _on_stream_error(self, error: FramingError, peer: Peer, local: Listener) -> bytes | None:
        # An unrecoverable framing error on a stream: answer if the head is readable, then
        # the transport closes the connection (RFC 4475 ncl, mcl01).
        if error.head is None:
            return None
        self.stack.receive(error.head + b"\r\n\r\n", peer, self._now_loop().time())
        out = [data for data, _ in self.stack.outgoing()]
        self._flush()
        return b"".join(out) or None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        # Answers already here come first: a retransmission for a request whose response
        # waits unread is wasted on both sides (see TransportLayer.read_pending_udp).
        self.transports.read_pending_udp()
        self.stack.handle_timeout(self._now_loop().time())
        self._flush()

    # -- the loop ----------------------------------------------------------------------

    def now(self) -> float:
        """The event loop's clock, which the stack's deadlines use."""
        return self._now_loop().time()

    def _now_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _flush(self) -> None:
        if self._flushing:
            return  # a handler answered synchronously inside a flush: the loop below sees it
        self._flushing = True
        try:
            while True:
                out = self.stack.outgoing()
                for data, peer in out:
                    self._transmit(data, peer)
                event = self.stack.next_event()
                if event is None and not out:
                    break
                if event is not None:
                    self._dispatch(event)
        finally:
            self._flushing = False
        self._arm()

    def _transmit(self, data: bytes, peer: Peer) -> None:
        try:
            self.transports.send_nowait(data, peer)
            return
        except TransportError:
            if peer.transport == "udp" or peer.transport in ("ws", "wss"):
                self.stack.transport_error(peer, self._now_loop().time())
                return
        # A stream peer with no open connection: connect in the background (§18.1.1).
        task = self._now_loop().create_task(self._transmit_connecting(data, peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _transmit_connecting(self, data: bytes, peer: Peer) -> None:
        try:
            await self.transports.send(data, peer)
        except (TransportError, OSError) as exc:
            log.info("cannot reach %s: %s", peer, exc)
            self.stack.transport_error(peer, self._now_loop().time())
            self._flush()

    def _arm(self) -> None:
        deadline = self.stack.next_deadline()
        if deadline is None or (self._timer_at is not None and self._timer_at <= deadline):
            # A timer armed at or before the next deadline is good enough: when it fires
            # early, handle_timeout finds nothing due and we re-arm then. Under load the
            # deadline moves with every message; re-arming each time costs more than that.
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._now_loop().call_at(deadline, self._on_timer)

    def _dispatch(self, event: object) -> None:
        if isinstance(event, RequestReceived):
            self._serve(event)
        elif isinstance(event, ResponseReceived):
            self._complete(event.key, event.response)
        elif isinstance(event, TransactionTimedOut | TransportFailed):
            if event.response is not None:
                self._complete(event.key, event.response)
        elif isinstance(event, AckReceived):
            if self.on_ack is not None:
                self.on_ack(event.request, event.peer)
        elif isinstance(event, TransactionTerminated):
            self._pending.pop(event.key, None)
        elif isinstance(event, StrayResponse):
            if self.on_stray_response is not None:
                self.on_stray_response(event.response, event.peer)
        elif isinstance(event, MessageDropped):
            log.info("dropped message from %s: %s", event.peer, event.reason)

    def _complete(self, key: TransactionKey, response: Response) -> None:
        # The callback stays until the transaction terminates: an INVITE's client
        # transaction passes up every 2xx (RFC 6026 Accepted), and a proxy forwards them all.
        callback = self._pending.get(key)
        if callback is None:
            return
        try:
            callback(response)
        except Exception:
            log.exception("response handler failed")

    def _serve(self, event: RequestReceived) -> None:
        incoming = ServerRequest(self, event, self.stack.ids.tag())
        if self.policy is not None:
            refusal = check_request(event.request, self.policy, incoming.to_tag)
            if refusal is not None:
                incoming.send(refusal)
                return
        try:
            result = self.handler(incoming)
        except Exception:
            log.exception("request handler failed")
            self._answer_failure(incoming)
            return
        if inspect.isawaitable(result):
            task = self._now_loop().create_task(self._serve_async(incoming, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif not incoming.answered and not incoming.held:
            self._answer_failure(incoming)

    async def _serve_async(self, incoming: ServerRequest, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception:
            log.exception("request handler failed")
            incoming.held = False
        if not incoming.answered and not incoming.held:
            self._answer_failure(incoming)

    def _answer_failure(self, incoming: ServerRequest) -> None:
        try:
            incoming.respond(500, "Server Internal Error")
        except Exception:  # the transaction may be gone already
            log.debug("could not answer 500", exc_info=True)
