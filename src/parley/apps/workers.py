"""``parley serve --workers N``: relaying MESSAGEs on more than one core.

One Python process saturates one core at a few thousand relayed MESSAGEs a second
(docs/benchmarks.md). The first process stays the whole server: it reads every socket and
keeps everything stateful (registrar, presence, connections, deliveries from the store).
The ``N - 1`` others (:mod:`parley.apps.relay_worker`) only proxy MESSAGEs to local users,
the bulk of an IM server's traffic, which needs no state beyond the transaction and the
bindings (read from the shared SQLite file, cached, forgotten when the first process
writes them). A worker sends from the shared UDP sockets, so clients see one address,
and over connections through the first process; a MESSAGE it has to store is committed
by the worker, which then tells the first process (a device may have registered
meanwhile).

Which process handles a datagram is decided from its bytes and the configuration only,
before parsing (:func:`worker_for`): a MESSAGE for a local user goes to the worker its
Call-ID hashes to, or its nonce when it carries credentials, so that retransmissions, the
request resent with credentials and every use of a nonce (replay checks are per process)
meet the same transaction state; a response goes to the worker named in its top Via
branch. Everything else stays here. Failed passwords are counted in every process (the
``throttle`` control), so spreading guesses over the workers gains nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import sys
import zlib
from collections.abc import Callable, Iterable

from parley.apps.config import ServerConfig
from parley.runtime.endpoint import Endpoint
from parley.runtime.transports import Listener, TransportError
from parley.runtime.worker_channel import WorkerChannel
from parley.services.messaging import MessageService
from parley.services.proxy import ProxyService
from parley.services.storage.sqlite import SqliteStorage
from parley.services.throttle import Throttle
from parley.sip.errors import ParseError
from parley.sip.syntax import parse_uri
from parley.sip.transport.address import Peer

log = logging.getLogger(__name__)

_ROUTE = re.compile(rb"\r\nroute[ \t]*:", re.IGNORECASE)
_CALL_ID = re.compile(rb"\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_NONCE = re.compile(
    # The nonce parameter, not cnonce: preceded by white space or a comma.
    rb"\r\n(?:proxy-)?authorization[ \t]*:[^\r\n]*?[ \t,]nonce[ \t]*=[ \t]*\"([^\"\r\n]*)\"",
    re.IGNORECASE,
)
_BRANCH = b"branch=z9hG4bK"
#: The ``ServerConfig`` fields a worker process is given.
WORKER_CONFIG_FIELDS = (
    "domains", "data_dir", "routes", "digest_algorithms", "trace",
    "message_max_bytes", "message_store_days", "message_quota",
)  # fmt: skip
#: Seconds before a worker that exited is started again.
RESTART_DELAY = 1.0


def branch_prefix(worker: int) -> str:
    """What worker ``worker`` (1 or more) puts after the magic cookie of its branches."""
    return f"W{worker}-"


def worker_for(data: bytes, count: int, relayable: Callable[[bytes], bool]) -> int:
    """Which of ``count`` processes handles the SIP message ``data`` (0 is the first).

    ``relayable`` says whether a Request-URI (bytes) names a local user; it must depend on
    the configuration only, so that a retransmission goes where its request went. Anything
    unclear stays with process 0, which can handle everything.
    """
    if data.startswith(b"SIP/"):
        at = data.find(_BRANCH)
        start = at + len(_BRANCH)
        if at < 0 or data[start : start + 1] != b"W":
            return 0
        end = data.find(b"-", start + 1, start + 8)
        digits = data[start + 1 : end]
        if end < 0 or not digits.isdigit():
            return 0
        worker = int(digits)
        return worker if worker < count else 0
    if not data.startswith(b"MESSAGE "):
        return 0
    head_end = data.find(b"\r\n\r\n")
    uri_end = data.find(b" ", 8, 8 + 1024)
    if head_end < 0 or uri_end < 0 or _ROUTE.search(data, 0, head_end):
        return 0
    if not relayable(data[8:uri_end]):
        return 0
    found = _NONCE.search(data, 0, head_end) or _CALL_ID.search(data, 0, head_end)
    if found is None:
        return 0
    return zlib.crc32(found.group(1)) % count


def throttle_value(kind: str, ip: str, user: str | None) -> str:
    """A ``Throttle`` record as the value of a ``throttle`` control frame."""
    return f"{kind}\n{ip}\n{user or ''}"


def parse_throttle_value(value: str) -> tuple[str, str, str | None]:
    kind, ip, user = value.split("\n", 2)
    return kind, ip, user or None


def worker_settings(config: ServerConfig, worker: int, listeners: Iterable[Listener]) -> str:
    """What a worker process needs, as JSON on its command line: the configuration's
    fields that concern relaying, and the first process's ``listeners``, whose connections
    the worker sends over."""
    return json.dumps(
        {
            "worker": worker,
            "listeners": [
                [item.transport, item.host, item.port]
                for item in listeners
                if item.transport != "udp"
            ],
            "config": {name: getattr(config, name) for name in WORKER_CONFIG_FIELDS},
        },
        default=str,  # the data directory's Path
    )


class WorkerPool:
    """The worker processes of the first one: started, restarted, fed and told."""

    def __init__(
        self,
        config: ServerConfig,
        endpoint: Endpoint,
        proxy: ProxyService,
        storage: SqliteStorage,
        messaging: MessageService,
        throttle: Throttle,
    ) -> None:
        self.config = config
        self.throttle = throttle
        self.count = config.workers
        self.endpoint = endpoint
        self.proxy = proxy
        self.storage = storage
        self.messaging = messaging
        #: The link to each worker once it said it is ready (index 0 is us: always None).
        self._ready: list[WorkerChannel | None] = [None] * self.count
        self._supervisors: list[asyncio.Task[None]] = []
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._udp: list[tuple[Listener, socket.socket]] = []
        #: Request-URI -> whether it names a user of ours.
        self._local: dict[bytes, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self) -> None:
        self._udp = self.endpoint.transports.udp_sockets()
        if not self._udp:
            log.warning("--workers: no UDP listener, the workers would have nothing to do")
            return
        loop = asyncio.get_running_loop()
        started: list[asyncio.Future[None]] = []
        for worker in range(1, self.count):
            ready: asyncio.Future[None] = loop.create_future()
            started.append(ready)
            self._supervisors.append(loop.create_task(self._supervise(worker, ready)))
        self.endpoint.intercept = self.intercept
        self.storage.on_bindings_written = self.bindings_written
        self.throttle.on_record = self.throttle_recorded
        # Serve at once; each worker takes its share once it is up.
        await asyncio.wait(started, timeout=30.0)

    async def close(self) -> None:
        self._closing = True
        self.endpoint.intercept = None
        self.storage.on_bindings_written = None
        self.throttle.on_record = None
        for channel in self._ready:
            if channel is not None:
                channel.close()  # the worker ends when its link does
        for process in list(self._processes.values()):
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in self._supervisors:
            task.cancel()
        await asyncio.gather(*self._supervisors, return_exceptions=True)

    @property
    def ready_workers(self) -> int:
        """Workers up and taking their share, this process included."""
        return 1 + sum(channel is not None for channel in self._ready)

    # -- the first process's side ------------------------------------------------------------

    def intercept(self, data: bytes, peer: Peer, local: Listener) -> bool:
        """``Endpoint.intercept``: hand ``data`` over if another worker is to handle it."""
        worker = worker_for(data, self.count, self._relayable)
        channel = self._ready[worker] if worker else None
        if channel is None:
            return False
        # A full link drops the datagram (its sender retransmits, to the same worker);
        # a closed one means the worker is gone: handle it here.
        return channel.send_message(data, peer) or channel.is_open

    def bindings_written(self, aors: list[str] | None) -> None:
        """``SqliteStorage.on_bindings_written``: tell the workers to forget theirs."""
        self._broadcast("forget", "*" if aors is None else "\n".join(aors))

    def throttle_recorded(self, kind: str, ip: str, user: str | None) -> None:
        """``Throttle.on_record``: a failed (or good) password counts in every process,
        so that spreading guesses over the workers gains an attacker nothing."""
        self._broadcast("throttle", throttle_value(kind, ip, user))

    def _broadcast(self, name: str, value: str, *, skip: int = 0) -> None:
        for worker, channel in enumerate(self._ready):
            if channel is not None and worker != skip:
                channel.send_control(name, value)

    def _relayable(self, uri: bytes) -> bool:
        # Only what the configuration says may decide: a retransmission must go where the
        # request went, whatever changed in between (a registration, the binding cache).
        # So a MESSAGE for an offline user goes to a worker too, which stores it and tells
        # us (``stored``), and one for a device on a connection is sent through us.
        local = self._local.get(uri)
        if local is None:
            try:
                local = self.proxy.aor_of(parse_uri(uri.decode())) is not None
            except (ParseError, UnicodeDecodeError):
                local = False
            if len(self._local) >= 10_000:
                self._local.clear()
            self._local[uri] = local
        return local

    def connection_closed(self, peer: Peer) -> None:
        """Workers remember flows (``ProxyService.contacts``): this one is gone."""
        self._broadcast("closed", str(peer.conn_id))

    def _send_for_worker(self, data: bytes, peer: Peer) -> None:
        """A worker's message for a connection of ours (its requests and responses)."""
        transports = self.endpoint.transports
        try:
            transports.send_nowait(data, peer)
        except TransportError:
            # Not writable now, or no connection (yet): as the endpoint does, wait for it.
            task = asyncio.get_running_loop().create_task(self._send_later(data, peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_later(self, data: bytes, peer: Peer) -> None:
        try:
            await self.endpoint.transports.send(data, peer)
        except (TransportError, OSError) as exc:
            # The worker's transaction times out and answers for it (408, or the
            # store-and-forward of a MESSAGE).
            log.info("cannot send a worker's message to %s: %s", peer, exc)

    def _on_control(self, worker: int, name: str, value: str) -> None:
        if name == "throttle":
            self.throttle.apply(*parse_throttle_value(value))
            self._broadcast(name, value, skip=worker)
        elif name == "stored":
            # A worker stored a MESSAGE for a user who went offline meanwhile; should a
            # device have registered while it did, hand it over now rather than at the
            # next registration.
            self.messaging.registered(value)
        else:
            log.warning("worker %d sent an unknown control %r", worker, name)

    # -- processes ---------------------------------------------------------------------------

    async def _supervise(self, worker: int, started: asyncio.Future[None]) -> None:
        while not self._closing:
            try:
                await self._run_worker(worker, started)
            except Exception:
                log.exception("worker %d failed to start", worker)
            self._ready[worker] = None
            if not started.done():
                started.set_result(None)
            if self._closing:
                return
            log.warning("worker %d ended; starting it again in %.0f s", worker, RESTART_DELAY)
            await asyncio.sleep(RESTART_DELAY)

    async def _run_worker(self, worker: int, started: asyncio.Future[None]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fds = [theirs.fileno(), *(sock.fileno() for _, sock in self._udp)]
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "parley.apps.relay_worker",
                worker_settings(self.config, worker, self.endpoint.listeners),
                ",".join(str(fd) for fd in fds),
                pass_fds=fds,
            )
        finally:
            theirs.close()
        self._processes[worker] = process
        try:

            def on_control(name: str, value: str) -> None:
                if name == "ready":
                    self._ready[worker] = channel
                    if not started.done():
                        started.set_result(None)
                else:
                    self._on_control(worker, name, value)

            channel = await WorkerChannel.connect(ours, self._send_for_worker, on_control)
            await process.wait()
            channel.close()
        finally:
            self._processes.pop(worker, None)
            self._ready[worker] = None
