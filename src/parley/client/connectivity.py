"""Keeping an account online: registration refresh, keep-alives, and recovery.

* The registration is refreshed before it expires (RFC 3261 §10.2.4): a minute early, or at
  half-time for short ones.
* On TCP and TLS the flow is kept alive with RFC 5626 §4.4.1 CRLF pings (a double CRLF every
  ``keepalive_interval`` seconds, with some jitter); a ping that cannot be written means the
  connection is gone.
* When the server's connection closes, a refresh fails with 408 or 503 (no answer, no
  route), or a ping cannot be sent, the account is recovered: REGISTER again after an
  exponential backoff (capped, with jitter, so that a restarted server is not hit by every
  client at once), then publish its status again and refresh every watch (a watch the
  server lost is subscribed anew), so the Watch iterators go on as if nothing happened.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parley.runtime.transports import Listener, TransportError
from parley.sip.errors import ParseError
from parley.sip.syntax import Response
from parley.sip.transport.address import Peer

if TYPE_CHECKING:
    from parley.client.account import Account

log = logging.getLogger(__name__)

#: RFC 5626 §4.4.1: a CRLF ping is a double CRLF; the pong a single one.
PING = b"\r\n\r\n"
#: RFC 5626 §4.4.1: a flow over TCP or TLS is pinged every 95 to 120 seconds.
KEEPALIVE_INTERVAL = 120.0
#: Statuses that say the server could not be reached, rather than refused us (§8.1.3.1).
UNREACHABLE = frozenset({408, 503})


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Backoff between registration attempts after a loss: ``initial`` seconds, times
    ``multiplier`` per failure, at most ``maximum``; each delay is drawn uniformly from
    ``[(1 - jitter) * d, d]`` (RFC 5626 §4.5 asks for randomised, capped backoff)."""

    initial: float = 1.0
    maximum: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The successive waits, endlessly."""
        draw = rng or random.Random()
        delay = self.initial
        while True:
            yield draw.uniform((1.0 - self.jitter) * delay, delay)
            delay = min(self.maximum, delay * self.multiplier)


class ConnectionState(enum.Enum):
    """Where an account stands with its server."""

    OFFLINE = "offline"
    REGISTERED = "registered"
    #: The connection or the registration was lost; registering again with backoff.
    RECONNECTING = "reconnecting"


def granted_expires(response: Response, contact: str, asked: int) -> int:
    """The registration time a 2xx to REGISTER granted our ``contact`` (§10.2.4: the
    Contact's expires parameter, else Expires, else what we asked for)."""
    try:
        for value in response.contacts:
            if str(value.uri) == contact.strip("<>"):
                expires = value.params.get("expires")
                if expires is not None and expires.isdigit():
                    return int(expires)
        granted = response.expires
    except ParseError:
        granted = None
    return asked if granted is None else granted


class Connectivity:
    """The timers and the recovery loop of one account (see the module's docstring)."""

    def __init__(
        self,
        account: Account,
        *,
        keepalive_interval: float | None,
        reconnect: ReconnectPolicy,
    ) -> None:
        self.account = account
        self.keepalive_interval = keepalive_interval
        self.reconnect = reconnect
        self.state = ConnectionState.OFFLINE
        #: Called with each new state (e.g. a UI showing "reconnecting...").
        self.listeners: list[Callable[[ConnectionState], None]] = []
        #: How many times the account has recovered (re-registered after a loss).
        self.recoveries = 0
        self._expires = 0
        self._refresh: asyncio.TimerHandle | None = None
        self._keepalive: asyncio.TimerHandle | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random()
        self._closed = False

    # -- inputs from the account ---------------------------------------------------------

    def registered(self, response: Response, asked: int) -> None:
        """A REGISTER of ours got its final ``response``."""
        if self._closed:
            return
        if 200 <= response.status < 300:
            expires = granted_expires(response, self.account.contact, asked)
            self._expires = expires
            self._schedule_refresh(expires)
            if expires > 0:
                self._set_state(ConnectionState.REGISTERED)
                self._schedule_keepalive()
            else:
                self._stop_timers()
                self._set_state(ConnectionState.OFFLINE)
        elif response.status in UNREACHABLE and self.state is ConnectionState.REGISTERED:
            self.lost(f"REGISTER: {response.status} {response.reason}")

    def connection_closed(self, peer: Peer, local: Listener) -> None:
        """A connection of the account's endpoint closed: ours to the server is lost."""
        server = self.account.server
        if server is None or self._closed:
            return
        if (peer.transport, peer.host, peer.port) == (server.transport, server.host, server.port):
            self.lost(f"connection to {peer.hostport()} closed")

    def lost(self, why: str) -> None:
        """Start recovering (once: a recovery under way goes on)."""
        if self._closed or self.state is ConnectionState.OFFLINE:
            return
        if self._recovery is not None and not self._recovery.done():
            return
        log.info("%s: lost the server (%s), reconnecting", self.account.aor, why)
        self._stop_timers()
        self._set_state(ConnectionState.RECONNECTING)
        self._recovery = asyncio.get_running_loop().create_task(self._recover())

    # -- recovery ------------------------------------------------------------------------

    async def _recover(self) -> None:
        account = self.account
        for delay in self.reconnect.delays(self._rng):
            await asyncio.sleep(delay)
            if self._closed:
                return
            try:
                response = await account.register()
            except (OSError, TransportError) as exc:
                log.info("%s: REGISTER failed: %s", account.aor, exc)
                continue
            if 200 <= response.status < 300:
                break
            log.info("%s: REGISTER: %d %s", account.aor, response.status, response.reason)
        self.recoveries += 1
        # The server may have lost our publication and subscriptions, or kept them (Parley
        # saves them): publishing and refreshing handles both (412 -> publish anew; 481 ->
        # subscribe anew).
        await account.resume_presence()

    # -- timers ----------------------------------------------------------------------------

    def _schedule_refresh(self, expires: int) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        if expires <= 0:
            return
        delay = max(0.1, expires - min(expires / 2, 60.0))
        self._refresh = asyncio.get_running_loop().call_later(delay, self._refresh_due)

    def _refresh_due(self) -> None:
        self._refresh = None
        self._spawn(self._refresh_registration())

    async def _refresh_registration(self) -> None:
        # register() reports its response back here (registered()), which re-arms the
        # refresh or starts the recovery.
        await self.account.register(self._expires or None)

    def _schedule_keepalive(self) -> None:
        account = self.account
        if (
            self.keepalive_interval is None
            or account.server is None
            or account.server.transport not in ("tcp", "tls")
        ):
            return
        if self._keepalive is not None:
            self._keepalive.cancel()
        # RFC 5626 §4.4.1: a random time between 80% and 100% of the interval.
        delay = self._rng.uniform(0.8, 1.0) * self.keepalive_interval
        self._keepalive = asyncio.get_running_loop().call_later(delay, self._ping)

    def _ping(self) -> None:
        self._keepalive = None
        server = self.account.server
        if server is None or self._closed:
            return
        try:
            self.account.endpoint.transports.send_nowait(PING, server)
        except TransportError as exc:
            self.lost(f"keep-alive: {exc}")
            return
        self._schedule_keepalive()

    def _stop_timers(self) -> None:
        for timer in (self._refresh, self._keepalive):
            if timer is not None:
                timer.cancel()
        self._refresh = self._keepalive = None

    def _set_state(self, state: ConnectionState) -> None:
        if state is self.state:
            return
        self.state = state
        for listener in list(self.listeners):
            try:
                listener(state)
            except Exception:
                log.exception("connection listener failed")

    def _spawn(self, work: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await work
            except (OSError, TransportError) as exc:
                log.info("%s: %s", self.account.aor, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closed = True
        self._stop_timers()
        tasks = [t for t in (self._recovery, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._set_state(ConnectionState.OFFLINE)


__all__ = [
    "KEEPALIVE_INTERVAL",
    "PING",
    "ConnectionState",
    "Connectivity",
    "ReconnectPolicy",
    "granted_expires",
]
