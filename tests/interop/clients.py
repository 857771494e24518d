"""Shared helpers for the interop tests that drive real SIP clients against Parley.

* :func:`parley_server` runs a fresh in-process Parley server on ephemeral loopback ports
  with the users alice, bob and carol (password ``<user>-password``) in domain
  :data:`DOMAIN`; :func:`sdk_account` makes a Parley SDK account for it and
  :func:`wait_for_binding` waits (bounded) until a user's registration is in storage.
* :class:`ClientProcess` runs a client as a subprocess: commands go to its stdin, and its
  stdout (ANSI colours stripped) is read into a transcript that :meth:`ClientProcess.expect`
  searches with regular expressions, bounded by :data:`WAIT`.
* :func:`baresip`, :func:`linphonec` and :func:`pjsua2` start one client registered as a
  user of the server, over UDP or TCP, optionally publishing and watching presence
  (baresip's presence.so, linphone's ``publish=1``, pjsua2's ``publishEnabled`` and its
  ``status``/``subscribe``/``unsubscribe`` commands with ``buddy`` events).  PJSIP's
  Python binding runs in a subprocess too: this file is its driver when run as a script
  (``python clients.py pjsua2 CONFIG``), taking JSON commands on stdin and printing JSON
  events on stdout.
* For presence, :func:`parley_server` takes the ``presence-policy``, the presence agent's
  timings and ``notifier-202``; :func:`wait_for_publications` waits for what the server
  holds and :func:`next_change` for an SDK watch's next matching change.

Every client is told to use only 127.0.0.1, and every request it sends goes to the server
through an outbound proxy (a Route) given by address, so no client resolves the domain in
DNS; baresip's own resolver is pointed at loopback as well.  Each subprocess is ended (quit
command, then SIGKILL after a bounded wait) when its context manager exits.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import importlib.util
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from conftest import require_tool

DOMAIN = "example.com"
USERS = ("alice", "bob", "carol")
#: Upper bound of every wait for a client's event; only a wedged run ever waits this long.
WAIT = 30.0
#: How long a client gets to quit on its own before it is killed.
QUIT_WAIT = 10.0

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Client processes started and not yet reaped: killed at exit should a test be cut short
#: (pytest-timeout) before its context managers could end them.
_LIVE: set[asyncio.subprocess.Process] = set()


@atexit.register
def _kill_leftovers() -> None:
    for process in _LIVE:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


def password_of(user: str) -> str:
    return f"{user}-password"


# -- the server ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def parley_server(
    data_dir: Path,
    digest_algorithms: Sequence[str] | None = None,
    *,
    presence_policy: str | None = None,
    presence_timings: Any = None,
    notifier_202: bool = False,
) -> AsyncIterator[Any]:
    """A fresh Parley server on ephemeral UDP and TCP loopback ports, users created.

    ``presence_policy`` is the server's ``presence-policy`` (``ask`` when None);
    ``presence_timings`` a ``PresenceConfig`` with the presence agent's timings (the
    server's defaults when None, RFC 3856's 5 s between NOTIFYs among them);
    ``notifier_202`` the server's ``notifier-202`` (SUBSCRIBE answered 202, as RFC 3265).
    """
    from parley.apps.config import build_config
    from parley.apps.server import start_server
    from parley.apps.users import add_user

    flags: dict[str, Any] = {
        "domain": [DOMAIN],
        "listen": ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
        "data-dir": str(data_dir),
    }
    if digest_algorithms is not None:
        flags["digest-algorithms"] = ",".join(digest_algorithms)
    if presence_policy is not None:
        flags["presence-policy"] = presence_policy
    if notifier_202:
        flags["notifier-202"] = True
    server = await start_server(build_config({}, flags), presence=presence_timings)
    try:
        for user in USERS:
            await add_user(server.storage, f"{user}@{DOMAIN}", password_of(user))
        yield server
    finally:
        await server.close()


def port_of(server: Any, transport: str) -> int:
    return int(next(item.port for item in server.listeners if item.transport == transport))


def proxy_uri(server: Any, transport: str) -> str:
    """The server as an outbound proxy (a loose-routing Route), by address."""
    return f"sip:127.0.0.1:{port_of(server, transport)};transport={transport};lr"


def sdk_account(server: Any, user: str, transport: str = "udp") -> Any:
    from parley.client import Account

    return Account(
        f"{user}@{DOMAIN}",
        password_of(user),
        server=("127.0.0.1", port_of(server, transport)),
        transport=transport,
    )


async def wait_for_binding(server: Any, aor: str, wait: float = WAIT) -> Any:
    """The (single) live binding of ``aor`` once the registrar has stored it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        bindings = await server.storage.get_bindings(aor, time.time())
        if bindings:
            assert len(bindings) == 1, bindings
            return bindings[0]
        if loop.time() > deadline:
            raise AssertionError(f"no binding of {aor} was stored within {wait} s")
        await asyncio.sleep(0.05)


async def wait_for_no_binding(server: Any, aor: str, wait: float = WAIT) -> None:
    """Return once ``aor`` has no live binding left (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while bindings := await server.storage.get_bindings(aor, time.time()):
        if loop.time() > deadline:
            raise AssertionError(f"{aor} still has bindings after {wait} s: {bindings}")
        await asyncio.sleep(0.05)


async def wait_for_publications(server: Any, aor: str, count: int = 1) -> list[Any]:
    """``aor``'s live presence publications (RFC 3903) once there are at least ``count``
    of them (bounded; 0 waits until there are none)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        found = await server.storage.get_publications(aor, "presence", time.time())
        if len(found) >= count if count else not found:
            return list(found)
        if loop.time() > deadline:
            raise AssertionError(f"{aor} has {len(found)} publications, not {count}: {found}")
        await asyncio.sleep(0.05)


async def next_change(watch: Any, predicate: Callable[[Any], bool], wait: float = WAIT) -> Any:
    """The first change an SDK ``Watch`` yields that satisfies ``predicate`` (bounded);
    those before it are skipped (NOTIFYs may be coalesced, RFC 3856 §6.12)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    seen: list[Any] = []
    while True:
        left = deadline - loop.time()
        try:
            if left <= 0:
                raise TimeoutError
            change = await watch.next(timeout=left)
        except (TimeoutError, StopAsyncIteration):
            raise AssertionError(f"no matching change within {wait} s; saw {seen}") from None
        seen.append(change)
        if predicate(change):
            return change


# -- a client subprocess -----------------------------------------------------------------------


class ClientProcess:
    """A client run as a subprocess, driven on stdin, its stdout kept as a transcript."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        quit_command: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.env = env
        self.quit_command = quit_command
        self.transcript = ""
        self._raw = ""
        self._cursor = 0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        _LIVE.add(self._process)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            chunk = await self._process.stdout.read(65536)
            self._raw += decoder.decode(chunk, final=not chunk)
            # Colours are stripped from the whole text: a chunk may end inside one.
            self.transcript = _ANSI.sub("", self._raw)
            self._changed.set()
            if not chunk:
                break

    async def send(self, line: str) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(line.encode() + b"\n")
        await self._process.stdin.drain()

    async def expect(
        self, pattern: str | re.Pattern[str], wait: float = WAIT, *, since: int | None = None
    ) -> re.Match[str]:
        """The first match of ``pattern`` in the output after the previous match (bounded).

        With ``since`` (a transcript offset) the search starts there instead, and the
        position of the previous match is left as it was: for replies to a query, or for
        lines that may come before or after events still to be expected.
        """
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            self._changed.clear()
            found = regex.search(self.transcript, self._cursor if since is None else since)
            if found is not None:
                if since is None:
                    self._cursor = found.end()
                return found
            await self._more_output(deadline, f"{pattern!r}")

    async def _more_output(self, deadline: float, what: str) -> None:
        """Wait until the client prints more; fail if it exited or ``deadline`` passed."""
        done = self._reader is None or self._reader.done()
        left = deadline - asyncio.get_running_loop().time()
        if done or left <= 0:
            why = "exited" if done else "printed nothing matching in time"
            raise AssertionError(f"{self.name} {why}: looked for {what} in:\n{self.tail()}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), left)

    def tail(self, chars: int = 6000) -> str:
        return self.transcript[-chars:]

    async def close(self) -> None:
        """Quit politely, then kill; always reaps the process."""
        process = self._process
        if process is None:
            return
        try:
            if process.returncode is None and self.quit_command is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    await self.send(self.quit_command)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), QUIT_WAIT)
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await process.wait()
            _LIVE.discard(process)
            if process.stdin is not None:
                process.stdin.close()
            if self._reader is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(self._reader, QUIT_WAIT)


@contextlib.asynccontextmanager
async def running(client: ClientProcess) -> AsyncIterator[ClientProcess]:
    try:
        await client.start()
        yield client
    finally:
        await client.close()


# -- baresip -----------------------------------------------------------------------------------

BARESIP_CONFIG = """\
poll_method\t\tepoll
sip_listen\t\t127.0.0.1:0
net_interface\t\t127.0.0.1
dns_server\t\t127.0.0.1:53
module_path\t\t/usr/lib/baresip/modules
module\t\t\tstdio.so
module_tmp\t\taccount.so
module_app\t\tcontact.so
module_app\t\tmenu.so
"""


class Baresip(ClientProcess):
    """baresip with one account; ``/message`` goes to the current contact (``peer``)."""

    async def expect_registered(self) -> None:
        # From the start, leaving the position of the previous match: messages stored for
        # the user may be printed right after the 200.
        await self.expect(r"\b200 OK\b.*\[\d+ bindings?\]", since=0)
        await self.expect(r"useragent registered successfully", since=0)

    async def send_message(self, text: str) -> None:
        await self.send(f"/message {text}")

    async def expect_message(self, sender: str, text: str) -> None:
        # menu.so prints an incoming MESSAGE as: <From URI>: "<body>"
        await self.expect(re.escape(f'{sender}: "{text}"'))

    async def expect_contact_status(self, uri: str, status: str) -> None:
        """Wait (bounded) until ``/contacts`` lists ``uri`` with presence ``status``
        (baresip 1.0 says ``Unknown``, ``Online``, ``Busy`` or ``Offline``). Asked again
        and again: baresip prints a change by itself only when the old status was known."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        line = re.compile(rf"^>?\s*(\w+)\s+{re.escape(f'<{uri}>')}\s*$", re.M)
        while True:
            start = len(self.transcript)
            await self.send("/contacts")
            found = await self.expect(line, since=start)
            if found.group(1) == status:
                return
            if loop.time() > deadline:
                raise AssertionError(f"baresip shows {uri} {found.group(1)}, not {status}")
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def baresip(
    workdir: Path,
    server: Any,
    user: str,
    transport: str,
    peer: str,
    expires: int = 600,
    *,
    presence: bool = False,
    pubint: int = 0,
) -> AsyncIterator[Baresip]:
    """baresip registering as ``user`` over ``transport`` for ``expires`` seconds; its one
    contact is ``peer``.

    With ``presence`` its presence.so module is loaded and ``peer`` is marked
    ``;presence=p2p``, the only value that makes baresip 1.0 subscribe to a contact (the
    SUBSCRIBE still goes through the outbound proxy, the server); with ``pubint`` it also
    PUBLISHes its own status for that many seconds (account parameter ``pubint``).
    """
    binary = require_tool("baresip")
    config = workdir / "baresip"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config").write_text(
        BARESIP_CONFIG + ("module_app\t\tpresence.so\n" if presence else "")
    )
    (config / "accounts").write_text(
        f"<sip:{user}@{DOMAIN};transport={transport}>;auth_pass={password_of(user)}"
        f';outbound="{proxy_uri(server, transport).removesuffix(";lr")}";regint={expires}'
        + (f";pubint={pubint}" if pubint else "")
        + "\n"
    )
    (config / "contacts").write_text(f"<sip:{peer}>" + (";presence=p2p" if presence else "") + "\n")
    client = Baresip(
        "baresip", [binary, "-4", "-f", str(config)], cwd=workdir, quit_command="/quit"
    )
    async with running(client):
        await client.expect(r"baresip is ready")
        yield client


# -- linphonec ---------------------------------------------------------------------------------


class Linphonec(ClientProcess):
    """linphonec (liblinphone 5) with one proxy config."""

    async def expect_registered(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            start = len(self.transcript)
            await self.send("status register")
            found = await self.expect(
                r"(registered, identity=\S+|unregistered|registered=-?\d+)", since=start
            )
            if found.group(1).startswith("registered, "):
                return
            if loop.time() > deadline:
                raise AssertionError(f"linphonec did not register:\n{self.tail()}")
            await asyncio.sleep(0.2)

    async def send_message(self, to: str, text: str) -> None:
        await self.send(f"chat sip:{to} {text}")

    async def expect_message(self, sender: str, text: str) -> None:
        await self.expect(re.escape(f"Message received from sip:{sender}: {text}"))


@contextlib.asynccontextmanager
async def linphonec(
    workdir: Path,
    server: Any,
    user: str,
    transport: str,
    expires: int = 600,
    *,
    publish: bool = False,
) -> AsyncIterator[Linphonec]:
    """linphonec registering as ``user`` over ``transport`` for ``expires`` seconds (its log:
    ``workdir/linphone.log``); with ``publish`` its proxy config PUBLISHes its presence
    (``publish=1``)."""
    binary = require_tool("linphonec")
    home = workdir / "linphone-home"
    # liblinphone keeps its chat database there and crashes on a chat when it cannot.
    (home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
    rc = workdir / "linphonerc"
    ports = {"udp": 0, "tcp": 0}
    ports[transport] = -1  # -1: a random port, 0: transport off
    proxy = proxy_uri(server, transport)
    rc.write_text(
        f"""\
[sip]
sip_port={ports["udp"]}
sip_tcp_port={ports["tcp"]}
sip_tls_port=0
bind_address=127.0.0.1
default_proxy=0

[net]
ipv6=0
stun_server=

[proxy_0]
reg_proxy=<{proxy.removesuffix(";lr")}>
reg_route=<{proxy}>
reg_identity=sip:{user}@{DOMAIN}
reg_expires={expires}
reg_sendregister=1
publish={int(publish)}

[auth_info_0]
username={user}
passwd={password_of(user)}
realm={DOMAIN}
domain={DOMAIN}
"""
    )
    env = {**os.environ, "HOME": str(home)}
    client = Linphonec(
        "linphonec",
        [binary, "-c", str(rc), "-d", "6", "-l", str(workdir / "linphone.log")],
        cwd=workdir,
        env=env,
        quit_command="quit",
    )
    async with running(client):
        await client.expect(r"linphonec> ")
        yield client


# -- pjsua2 ------------------------------------------------------------------------------------


_EVENT = re.compile(r"^EVENT (\{.*\})$", re.M)


class Pjsua2(ClientProcess):
    """This file's pjsua2 driver: JSON commands in, JSON events out (one per line)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._taken: set[int] = set()

    async def command(self, **fields: Any) -> None:
        await self.send(json.dumps(fields))

    async def event(self, kind: str, **match: Any) -> dict[str, Any]:
        """The first event of ``kind`` with fields ``match`` not yet returned (bounded);
        events are taken in any order, so one that comes early is not lost."""
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            self._changed.clear()
            for index, found in enumerate(_EVENT.finditer(self.transcript)):
                event: dict[str, Any] = json.loads(found.group(1))
                if event.get("event") == "error":
                    raise AssertionError(f"pjsua2 driver: {event}\n{self.tail()}")
                if index in self._taken or event.get("event") != kind:
                    continue
                if all(event.get(key) == value for key, value in match.items()):
                    self._taken.add(index)
                    return event
            await self._more_output(deadline, f"event {kind} {match}")


@contextlib.asynccontextmanager
async def pjsua2(
    workdir: Path,
    server: Any,
    user: str,
    transport: str,
    expires: int = 600,
    *,
    publish: bool = False,
) -> AsyncIterator[Pjsua2]:
    """A pjsua2 account for ``user`` over ``transport``, registering at once for ``expires``
    seconds; with ``publish`` its online status goes out by PUBLISH (RFC 3903) rather than
    only to the watchers who subscribe to it directly."""
    if importlib.util.find_spec("pjsua2") is None:
        import pytest

        pytest.skip("pjsua2 is not installed (pip install -e '.[interop]' installs it)")
    config = {
        "transport": transport,
        "id": f"sip:{user}@{DOMAIN}",
        "registrar": f"sip:{DOMAIN}",
        "proxy": proxy_uri(server, transport),
        "user": user,
        "password": password_of(user),
        "expires": expires,
        "publish": publish,
        "log": str(workdir / "pjsua2.log"),
    }
    client = Pjsua2(
        "pjsua2",
        [sys.executable, "-u", __file__, "pjsua2", json.dumps(config)],
        cwd=workdir,
        quit_command=json.dumps({"cmd": "quit"}),
    )
    async with running(client):
        await client.event("ready")
        yield client


def _pjsua2_driver(config: dict[str, Any]) -> int:
    """Run pjsua2 in this process; its own worker threads off, polled from this loop."""
    import select

    import pjsua2 as pj

    def emit(event: str, **fields: Any) -> None:
        print("EVENT " + json.dumps({"event": event, **fields}), flush=True)

    statuses = {
        pj.PJSUA_BUDDY_STATUS_ONLINE: "online",
        pj.PJSUA_BUDDY_STATUS_OFFLINE: "offline",
        pj.PJSUA_BUDDY_STATUS_UNKNOWN: "unknown",
    }
    activities = {
        "away": pj.PJRPID_ACTIVITY_AWAY,
        "busy": pj.PJRPID_ACTIVITY_BUSY,
        "unknown": pj.PJRPID_ACTIVITY_UNKNOWN,
    }
    activity_names = {value: name for name, value in activities.items()}

    class Buddy(pj.Buddy):  # type: ignore[misc]
        """A buddy that reports each presence change as a ``buddy`` event: its basic status
        (online/offline/unknown), RPID activity, note, and subscription state."""

        def onBuddyState(self) -> None:
            info = self.getInfo()
            status = info.presStatus
            emit(
                "buddy",
                uri=info.uri,
                status=statuses.get(status.status, str(status.status)),
                status_text=status.statusText,
                activity=activity_names.get(status.activity, str(status.activity)),
                note=status.note,
                sub_state=info.subStateName,
                term_code=info.subTermCode,
                term_reason=info.subTermReason,
                contact=info.contact,
            )

    class Account(pj.Account):  # type: ignore[misc]
        def onRegState(self, prm: Any) -> None:
            info = self.getInfo()
            emit("reg", code=prm.code, reason=prm.reason, active=info.regIsActive)

        def onInstantMessage(self, prm: Any) -> None:
            emit(
                "im",
                sender=prm.fromUri,
                to=prm.toUri,
                content_type=prm.contentType,
                body=prm.msgBody,
            )

        def onInstantMessageStatus(self, prm: Any) -> None:
            emit("im_status", to=prm.toUri, code=prm.code, reason=prm.reason, body=prm.msgBody)

    endpoint = pj.Endpoint()
    endpoint.libCreate()
    ep_config = pj.EpConfig()
    ep_config.uaConfig.threadCnt = 0
    ep_config.uaConfig.mainThreadOnly = True
    ep_config.uaConfig.userAgent = "pjsua2-interop"
    ep_config.logConfig.level = 5
    ep_config.logConfig.consoleLevel = 0
    ep_config.logConfig.filename = config["log"]
    ep_config.medConfig.noVad = True
    endpoint.libInit(ep_config)
    endpoint.audDevManager().setNullDev()
    transport_config = pj.TransportConfig()
    transport_config.port = 0
    transport_config.boundAddress = "127.0.0.1"
    transport_config.publicAddress = "127.0.0.1"
    kind = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}[config["transport"]]
    endpoint.transportCreate(kind, transport_config)
    endpoint.libStart()

    account_config = pj.AccountConfig()
    account_config.idUri = config["id"]
    account_config.regConfig.registrarUri = config["registrar"]
    account_config.regConfig.timeoutSec = config["expires"]
    account_config.sipConfig.proxies.append(config["proxy"])
    account_config.sipConfig.authCreds.append(
        pj.AuthCredInfo("digest", "*", config["user"], 0, config["password"])
    )
    account_config.presConfig.publishEnabled = config["publish"]
    account_config.natConfig.iceEnabled = False
    account_config.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    account_config.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    account = Account()
    account.create(account_config)
    buddies: dict[str, Any] = {}
    emit("ready")

    pending = b""
    running = True
    while running:
        endpoint.libHandleEvents(20)
        readable, _, _ = select.select([0], [], [], 0)
        if not readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            break
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if not line.strip():
                continue
            command = json.loads(line)
            try:
                if command["cmd"] == "quit":
                    running = False
                elif command["cmd"] == "status":
                    # Account.setOnlineStatus: PUBLISH when publishing is on, and NOTIFY
                    # to whoever subscribed to this account directly.
                    presence = pj.PresenceStatus()
                    online = command.get("online", True)
                    presence.status = (
                        pj.PJSUA_BUDDY_STATUS_ONLINE if online else pj.PJSUA_BUDDY_STATUS_OFFLINE
                    )
                    presence.activity = activities[command.get("activity") or "unknown"]
                    presence.note = command.get("note") or ""
                    account.setOnlineStatus(presence)
                    emit("status_set", online=online)
                elif command["cmd"] == "subscribe":
                    uri = command["to"]
                    watched = buddies.get(uri)
                    if watched is None:
                        buddy_config = pj.BuddyConfig()
                        buddy_config.uri = uri
                        buddy_config.subscribe = True
                        watched = buddies[uri] = Buddy()
                        watched.create(account, buddy_config)
                    else:
                        watched.subscribePresence(True)
                    emit("subscribing", to=uri)
                elif command["cmd"] == "unsubscribe":
                    buddies[command["to"]].subscribePresence(False)
                    emit("unsubscribing", to=command["to"])
                elif command["cmd"] == "send":
                    uri = command["to"]
                    buddy = buddies.get(uri)
                    if buddy is None:
                        buddy_config = pj.BuddyConfig()
                        buddy_config.uri = uri
                        buddy_config.subscribe = False
                        buddy = buddies[uri] = Buddy()
                        buddy.create(account, buddy_config)
                    param = pj.SendInstantMessageParam()
                    param.content = command["text"]
                    buddy.sendInstantMessage(param)
                    emit("sent", to=uri)
            except pj.Error as exc:
                emit("error", command=command, reason=exc.info())
    buddies.clear()
    account.shutdown()  # unregisters
    endpoint.libDestroy()
    emit("bye")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "pjsua2":
        sys.exit(_pjsua2_driver(json.loads(sys.argv[2])))
    print("usage: clients.py pjsua2 JSON-CONFIG", file=sys.stderr)
    sys.exit(2)
