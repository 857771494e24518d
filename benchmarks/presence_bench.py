#!/usr/bin/env python3
"""Presence fan-out benchmark: Parley against Kamailio's presence server, over UDP.

Run from the repository root (Kamailio from Debian: ``kamailio``,
``kamailio-presence-modules``, ``kamailio-xml-modules``, ``kamailio-sqlite-modules``; they
are installed with apt-get when absent)::

    python benchmarks/presence_bench.py --quick     # a couple of minutes, rough numbers
    python benchmarks/presence_bench.py             # 1k/5k/10k fan-out, 100,000 subscriptions
    python benchmarks/presence_bench.py --server parley --profile

Everything runs on 127.0.0.1, on free ports, in a temporary directory, and stops by itself.

What is measured, for each server
---------------------------------
1. **Fan-out latency**: watchers subscribe to one presentity (1,000, then 5,000, then 10,000
   in all); the presentity PUBLISHes a change; the time from sending that PUBLISH to the
   arrival of the LAST NOTIFY carrying it, median of ``--reps`` PUBLISHes per size. Every
   NOTIFY is answered 200 and counted; a size is valid only if every watcher got it.
2. **NOTIFY throughput**: with ``--subscriptions`` watchers spread over ``--presentities``
   presentities, every presentity PUBLISHes once, in a closed loop of ``--window``
   presentities in flight; NOTIFYs carrying those changes / (last NOTIFY - first PUBLISH).
   Median of ``--bursts`` bursts.
3. **Memory per subscription**: the server's memory after those subscriptions minus before
   them, over their number (Parley: RSS of its one process; Kamailio: PSS summed over its
   processes, which share memory, and the RSS sum for reference).

Watchers are ``--workers`` processes, each with one UDP socket and its share of the
subscriptions. They answer every NOTIFY 200 at once (a reply copied from the request's
Via/From/To/Call-ID/CSeq) and read the arrival time of each datagram from the kernel
(SO_TIMESTAMPNS), so a watcher that is busy does not add to the measured time. A NOTIFY is
told apart by a marker in the published document's ``<note>``; retransmissions (a CSeq
already seen in that dialog) are counted apart, once.

Parley sends at most one NOTIFY per watcher per 5 s (RFC 3856 §6.12; ``parley serve`` has
no setting for it): the benchmark waits ``--quiet-gap`` (5.5 s) after the last NOTIFY of a
round, and after subscribing, before it PUBLISHes again. Parley challenges PUBLISH (407,
MD5 digest): the clock starts when the authenticated PUBLISH is sent.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import re
import selectors
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import load_bench as lb  # noqa: E402  (a sibling script, not a package)

HOST = lb.HOST
DOMAIN = lb.DOMAIN
WATCHER_DOMAIN = "watchers.test"
KAMAILIO_PACKAGES = (
    "kamailio",
    "kamailio-presence-modules",
    "kamailio-xml-modules",
    "kamailio-sqlite-modules",
)
KAMAILIO_SQL = Path("/usr/share/kamailio/db_sqlite/presence-create.sql")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SOCKET_BUFFER = 32 * 1024 * 1024
MARKER = re.compile(rb"bench-m(\d+)")
FAN_PRESENTITY = "fan"
#: subscriptions made before the memory baseline, so that code and pools are warm
WARM_UP = 200


# -- watchers: worker processes that subscribe and answer NOTIFYs ----------------------


def _header_lines(head: bytes) -> list[bytes]:
    """The lines of a request a 200 copies (RFC 3261 §8.2.6.2), full or compact names."""
    keep = []
    for line in head.split(b"\r\n")[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq"):
            keep.append(line)
    return keep


def _header(head: bytes, *names: bytes) -> bytes:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in names:
            return value.strip()
    return b""


@dataclass
class _Dialog:
    presentity: str
    branch: str
    sent: float = 0.0
    tries: int = 0
    status: int = 0
    #: CSeq of the last NOTIFY received in this subscription (0: none yet)
    notify_cseq: int = 0


@dataclass
class _MarkStats:
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0


class WatcherWorker:
    """One watcher process: a UDP socket, its subscriptions, and what it received."""

    def __init__(self, index: int, conn: Connection, run_id: str) -> None:
        self.index = index
        self.conn = conn
        self.run_id = run_id
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
                break
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.server: tuple[str, int] = (HOST, 0)
        self.dialogs: dict[int, _Dialog] = {}
        self.marks: dict[int, _MarkStats] = {}
        self.counters: Counter[str] = Counter()
        #: watcher numbers still to subscribe, and those sent but not answered
        self.queue: list[int] = []
        self.outstanding: set[int] = set()
        self.window = 50
        self.failures: Counter[int] = Counter()

    def call_id(self, n: int) -> str:
        return f"w{n}-{self.run_id}@{HOST}"

    def subscribe_bytes(self, n: int) -> bytes:
        d = self.dialogs[n]
        return (
            f"SUBSCRIBE sip:{d.presentity}@{DOMAIN} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={d.branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:w{n}@{WATCHER_DOMAIN}>;tag=t{n}\r\n"
            f"To: <sip:{d.presentity}@{DOMAIN}>\r\n"
            f"Call-ID: {self.call_id(n)}\r\n"
            "CSeq: 1 SUBSCRIBE\r\n"
            f"Contact: <sip:w{n}@{HOST}:{self.port}>\r\n"
            "Event: presence\r\nAccept: application/pidf+xml\r\nExpires: 3600\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    def send_subscribe(self, n: int) -> None:
        d = self.dialogs[n]
        d.sent = time.monotonic()
        d.tries += 1
        with contextlib.suppress(BlockingIOError):
            self.sock.sendto(self.subscribe_bytes(n), self.server)

    # -- receiving ------------------------------------------------------------------------

    def drain(self) -> None:
        # Bounded, so that commands from the benchmark are read even under a NOTIFY flood.
        for _ in range(2000):
            try:
                data, ancillary, _flags, source = self.sock.recvmsg(65535, 64)
            except (BlockingIOError, InterruptedError):
                return
            stamp = time.time_ns()
            for level, kind, cdata in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    stamp = sec * 1_000_000_000 + nsec
            if data.startswith(b"SIP/2.0 "):
                self.on_response(data)
            elif data.startswith(b"NOTIFY "):
                self.on_notify(data, source, stamp)
            else:
                self.counters["other requests"] += 1

    def on_response(self, data: bytes) -> None:
        head = data.split(b"\r\n\r\n", 1)[0]
        try:
            status = int(data[8:11])
            n = int(_header(head, b"call-id", b"i").split(b"-", 1)[0][1:])
        except ValueError:
            return
        d = self.dialogs.get(n)
        if d is None or status < 200 or d.status:
            return
        d.status = status
        self.outstanding.discard(n)
        if status >= 300:
            self.failures[status] += 1

    def on_notify(self, data: bytes, source: tuple[str, int], stamp: int) -> None:
        head, _, body = data.partition(b"\r\n\r\n")
        reply = b"\r\n".join([b"SIP/2.0 200 OK", *_header_lines(head), b"Content-Length: 0"])
        with contextlib.suppress(BlockingIOError):
            self.sock.sendto(reply + b"\r\n\r\n", source)
        self.counters["notify datagrams"] += 1
        try:
            n = int(_header(head, b"call-id", b"i").split(b"-", 1)[0][1:])
            cseq = int(_header(head, b"cseq").split()[0])
        except (ValueError, IndexError):
            self.counters["unparsed notify"] += 1
            return
        d = self.dialogs.get(n)
        if d is None:
            self.counters["notify for unknown dialog"] += 1
            return
        if cseq <= d.notify_cseq:
            self.counters["retransmitted notify"] += 1
            return
        initial = d.notify_cseq == 0
        d.notify_cseq = cseq
        if b"terminated" in _header(head, b"subscription-state"):
            self.counters["terminated notify"] += 1
        if initial:
            self.counters["initial notify"] += 1
            return
        match = MARKER.search(body)
        if match is None:
            self.counters["notify without marker"] += 1
            return
        stats = self.marks.setdefault(int(match[1]), _MarkStats())
        stats.count += 1
        stats.first_ns = stamp if not stats.first_ns else min(stats.first_ns, stamp)
        stats.last_ns = max(stats.last_ns, stamp)

    # -- commands -------------------------------------------------------------------------

    def command(self, message: tuple[Any, ...]) -> bool:
        """Handle one command from the benchmark; False to stop."""
        name = message[0]
        if name == "subscribe":
            _, port, jobs, window = message
            self.server = (HOST, port)
            self.window = window
            self.failures = Counter()
            for n, presentity in jobs:
                self.dialogs[n] = _Dialog(presentity, f"z9hG4bK-s{n}-{self.run_id}")
                self.queue.append(n)
            self.queue.reverse()
        elif name == "marks":
            wanted = message[1]
            self.conn.send(
                {m: (s.count, s.first_ns, s.last_ns) for m, s in self.marks.items() if m in wanted}
            )
        elif name == "state":
            initial = sum(1 for d in self.dialogs.values() if d.notify_cseq)
            answered = sum(1 for d in self.dialogs.values() if 200 <= d.status < 300)
            self.conn.send(
                {
                    "pending": len(self.queue) + len(self.outstanding),
                    "answered": answered,
                    "with_notify": initial,
                    "failures": dict(self.failures),
                    "counters": dict(self.counters),
                    "port": self.port,
                }
            )
        elif name == "stop":
            return False
        return True

    def pump_subscriptions(self) -> None:
        now = time.monotonic()
        for n in list(self.outstanding):
            d = self.dialogs[n]
            if now - d.sent > 1.0:
                if d.tries >= 10:
                    self.outstanding.discard(n)
                    self.failures[408] += 1
                else:
                    self.counters["subscribe retransmissions"] += 1
                    self.send_subscribe(n)
        while self.queue and len(self.outstanding) < self.window:
            n = self.queue.pop()
            self.outstanding.add(n)
            self.send_subscribe(n)

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ, "sock")
        selector.register(self.conn, selectors.EVENT_READ, "conn")
        self.conn.send(self.port)
        while True:
            for key, _ in selector.select(timeout=0.5):
                if key.data == "sock":
                    self.drain()
                elif self.conn.poll() and not self.command(self.conn.recv()):
                    return
            if self.queue or self.outstanding:
                self.pump_subscriptions()


def _watcher_main(index: int, conn: Connection, run_id: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    WatcherWorker(index, conn, run_id).run()


class Watchers:
    """``count`` watcher processes; watcher number n lives in process n % count."""

    def __init__(self, count: int, run_id: str) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conns: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        for i in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_watcher_main, args=(i, child, run_id), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        self.ports = [c.recv() for c in self.conns]
        self.next_watcher = 0

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def ask(self, message: tuple[Any, ...]) -> list[Any]:
        for conn in self.conns:
            conn.send(message)
        return [conn.recv() for conn in self.conns]

    def subscribe(
        self, port: int, presentities: Sequence[str], count: int, timeout: float
    ) -> dict[str, Any]:
        """``count`` new watchers, watcher k of them to ``presentities[k % len]``; waits
        until each got its final response and its first NOTIFY (or ``timeout``)."""
        jobs: list[list[tuple[int, str]]] = [[] for _ in self.conns]
        for k in range(count):
            n = self.next_watcher + k
            jobs[n % len(self.conns)].append((n, presentities[k % len(presentities)]))
        self.next_watcher += count
        states = self.ask(("state",))
        before = sum(s["with_notify"] for s in states)
        answered_before = sum(s["answered"] for s in states)
        started = time.monotonic()
        for conn, share in zip(self.conns, jobs, strict=True):
            conn.send(("subscribe", port, share, 50))
        deadline = started + timeout
        while True:
            time.sleep(0.5)
            states = self.ask(("state",))
            pending = sum(s["pending"] for s in states)
            with_notify = sum(s["with_notify"] for s in states)
            if (not pending and with_notify >= self.next_watcher) or time.monotonic() > deadline:
                break
            if not pending and time.monotonic() - started > 10 and with_notify < self.next_watcher:
                # Every SUBSCRIBE answered; give the last initial NOTIFYs a few seconds.
                deadline = min(deadline, time.monotonic() + 10)
        elapsed = time.monotonic() - started
        failures: Counter[int] = Counter()
        for s in states:
            failures.update({int(k): v for k, v in s["failures"].items()})
        return {
            "seconds": round(elapsed, 2),
            "answered_2xx": sum(s["answered"] for s in states) - answered_before,
            "with_initial_notify": with_notify - before,
            "failures": dict(failures),
            "rate": round(count / elapsed, 1) if elapsed else None,
        }

    def marks(self, wanted: set[int]) -> dict[int, tuple[int, int, int]]:
        total: dict[int, tuple[int, int, int]] = {}
        for part in self.ask(("marks", wanted)):
            for m, (count, first, last) in part.items():
                c0, f0, l0 = total.get(m, (0, 0, 0))
                total[m] = (c0 + count, min(f0, first) if f0 else first, max(l0, last))
        return total

    def counters(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for s in self.ask(("state",)):
            total.update(s["counters"])
        return total

    def stop(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError, BrokenPipeError):
                conn.send(("stop",))
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


# -- the presentity: PUBLISH, with digest for Parley -----------------------------------


def _digest_authorization(challenge: str, user: str, password: str, uri: str) -> str:
    """``Proxy-Authorization`` for an MD5 challenge (RFC 2617 / 7616), qop=auth if offered."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.split(" ", 1)[1]))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"PUBLISH:{uri}".encode()).hexdigest()
    fields = f'username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm=MD5'
    if "auth" in params.get("qop", "").split(","):
        cnonce = os.urandom(8).hex()
        response = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
        fields += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
    else:
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    if "opaque" in params:
        fields += f', opaque="{params["opaque"]}"'
    return f'Digest {fields}, response="{response}"'


def pidf_body(presentity: str, marker: int) -> bytes:
    status = "open" if marker % 2 else "closed"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
        f'entity="sip:{presentity}@{DOMAIN}">\r\n'
        f'<tuple id="bench"><status><basic>{status}</basic></status>'
        f"<note>bench-m{marker}</note></tuple>\r\n</presence>\r\n"
    ).encode()


@dataclass
class _Publication:
    presentity: str
    marker: int
    branch: str = ""
    cseq: int = 1
    authorization: str = ""
    data: bytes = b""
    #: when the first attempt of this request was sent (monotonic)
    first_sent: float = 0.0
    sent_ns: int = 0
    sent: float = 0.0
    tries: int = 0
    status: int = 0


class Publisher:
    """Sends PUBLISHes for presentities over one UDP socket and keeps their ETags."""

    def __init__(self, port: int, passwords: dict[str, str]) -> None:
        self.server = (HOST, port)
        self.passwords = passwords
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.etags: dict[str, str] = {}
        #: PUBLISHes that got no final response within 64*T1, or an error response
        self.unanswered = 0
        self.cseqs: Counter[str] = Counter()
        self.serial = 0

    def _request(self, p: _Publication) -> bytes:
        self.serial += 1
        self.cseqs[p.presentity] += 1
        p.cseq = self.cseqs[p.presentity]
        p.branch = f"z9hG4bK-p{self.serial}-{os.getpid()}"
        body = pidf_body(p.presentity, p.marker)
        lines = [
            f"PUBLISH sip:{p.presentity}@{DOMAIN} SIP/2.0",
            f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={p.branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{p.presentity}@{DOMAIN}>;tag=pub-{p.presentity}",
            f"To: <sip:{p.presentity}@{DOMAIN}>",
            f"Call-ID: publish-{p.presentity}-{os.getpid()}@{HOST}",
            f"CSeq: {p.cseq} PUBLISH",
            "Event: presence",
            "Expires: 3600",
            "Content-Type: application/pidf+xml",
        ]
        if p.presentity in self.etags:
            lines.append(f"SIP-If-Match: {self.etags[p.presentity]}")
        if p.authorization:
            lines.append(f"Proxy-Authorization: {p.authorization}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _send(self, p: _Publication) -> None:
        p.tries = 1
        p.sent = time.monotonic()
        p.data = self._request(p)
        p.first_sent = time.monotonic()
        p.sent_ns = time.time_ns()
        self.sock.sendto(p.data, self.server)

    def publish(self, items: Sequence[tuple[str, int]]) -> dict[int, int]:
        """PUBLISH each (presentity, marker), all in flight at once; the time (ns, wall
        clock) each final PUBLISH was sent, by marker. Retransmits as RFC 3261 §17.1.2 says
        (T1 doubling up to T2); one still unanswered after 64*T1 is counted in
        ``unanswered``, not fatal: its NOTIFYs, if the server took it, still count."""
        pubs = {p.branch: p for p in (self._start(name, m) for name, m in items)}
        while any(not p.status for p in pubs.values()):
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                data = b""
            now = time.monotonic()
            for p in list(pubs.values()):
                if p.status:
                    continue
                if now - p.first_sent > 32.0:
                    p.status = 408
                    self.unanswered += 1
                elif now - p.sent > min(0.5 * 2 ** (p.tries - 1), 4.0):
                    self.sock.sendto(p.data, self.server)  # a retransmission
                    p.sent = now
                    p.tries += 1
            if not data.startswith(b"SIP/2.0 "):
                continue
            head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
            status = int(head[8:11])
            branch = re.search(r"branch=([^;\s,]+)", head)
            p_or_none = pubs.get(branch[1]) if branch else None
            if p_or_none is None or p_or_none.status or status < 200:
                continue
            p = p_or_none
            if status == 407 and not p.authorization:
                challenges = re.findall(r"(?im)^proxy-authenticate:\s*(.*)$", head)
                md5 = [c for c in challenges if "sha-256" not in c.lower()] or challenges
                name = p.presentity
                p.authorization = _digest_authorization(
                    md5[0].strip(), name, self.passwords[name], f"sip:{name}@{DOMAIN}"
                )
                del pubs[p.branch]
                self._send(p)
                pubs[p.branch] = p
                continue
            if status == 412 and p.presentity in self.etags:
                # The publication is gone (expired, or a fresh server): publish anew.
                del self.etags[p.presentity]
                del pubs[p.branch]
                p.authorization = ""
                self._send(p)
                pubs[p.branch] = p
                continue
            p.status = status
            if status >= 300:
                print(f"    PUBLISH for {p.presentity}: {head.splitlines()[0]}", flush=True)
                self.unanswered += 1
            etag = re.search(r"(?im)^sip-etag:\s*(\S+)", head)
            if etag:
                self.etags[p.presentity] = etag[1]
        return {p.marker: p.sent_ns for p in pubs.values()}

    def _start(self, presentity: str, marker: int) -> _Publication:
        p = _Publication(presentity, marker)
        self._send(p)
        return p

    def close(self) -> None:
        self.sock.close()


# -- servers ---------------------------------------------------------------------------


class ParleyPresence(lb.Server):
    name = "parley"

    def __init__(
        self, workdir: Path, accounts: list[lb.Account], source: Path | None = None
    ) -> None:
        super().__init__(workdir, accounts)
        #: run Parley from this ``src`` directory (PYTHONPATH) instead of the installed one
        self.source = source

    def start(self) -> None:
        cli = lb.PARLEY_CLI
        env = dict(os.environ)
        if self.source is not None:
            env["PYTHONPATH"] = str(self.source.resolve())
            self.info["source"] = str(self.source)
        data = lb.import_accounts(self.workdir, self.accounts, env)
        self.port = lb.free_port()
        command = [
            *cli, "serve", "--domain", DOMAIN, "--listen", f"udp:{HOST}:{self.port}",
            "--presence-policy", "open", "--digest-algorithms", "MD5", "--data-dir", str(data),
        ]  # fmt: skip
        self.info["command"] = " ".join(command)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        if not lb.wait_udp_ready(self.port):
            raise RuntimeError(f"Parley did not answer OPTIONS:\n{self.log_tail()}")
        maps = Path(f"/proc/{self.proc.pid}/maps").read_text()
        self.info["event_loop"] = "uvloop" if "uvloop" in maps else "asyncio"
        from importlib.metadata import version

        self.info["version"] = version("parley")


class KamailioPresence(lb.Server):
    name = "kamailio"

    def __init__(
        self, workdir: Path, accounts: list[lb.Account], subs_db_mode: int, db_update_period: int
    ) -> None:
        super().__init__(workdir, accounts)
        self.subs_db_mode = subs_db_mode
        self.db_update_period = db_update_period
        #: (presentity, watcher number): rows put in the watchers table before the start
        self.authorized: list[tuple[str, int]] = []
        self.ctl = workdir / "kamailio-ctl.sock"
        self.maxbuffer = 262144

    def shm_used_kb(self) -> int | None:
        """Shared memory in use (``core.shmmem`` real_used): live data, where PSS only
        grows (pages once touched stay resident)."""
        try:
            out = subprocess.run(
                ["kamcmd", "-s", f"unix:{self.ctl}", "core.shmmem"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = re.search(r"real_used:\s*(\d+)", out)
        return int(found[1]) // 1024 if found else None

    def start(self) -> None:
        binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        db = self.workdir / "presence.sqlite"
        db.unlink(missing_ok=True)
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.execute(
                "CREATE TABLE version (id INTEGER PRIMARY KEY, table_name VARCHAR(32) NOT NULL,"
                " table_version INTEGER DEFAULT 0 NOT NULL,"
                " CONSTRAINT version_table_name_idx UNIQUE (table_name))"
            )
            conn.executescript(KAMAILIO_SQL.read_text())
            conn.commit()
            # WAL (kept in the file): readers and the writer do not lock each other out.
            conn.execute("PRAGMA journal_mode=WAL")
            # Each watcher's authorization, stored as Kamailio stores it (status 1: active),
            # so that new SUBSCRIBEs only read SQLite (see kamailio/presence.cfg for why).
            now = int(time.time())
            conn.executemany(
                "INSERT INTO watchers (presentity_uri, watcher_username, watcher_domain, event,"
                " status, inserted_time) VALUES (?, ?, ?, 'presence', 1, ?)",
                [(f"sip:{p}@{DOMAIN}", f"w{n}", WATCHER_DOMAIN, now) for p, n in self.authorized],
            )
            conn.commit()
        self.port = lb.free_port()
        config = (
            (HERE / "kamailio" / "presence.cfg")
            .read_text()
            .replace("@@PORT@@", str(self.port))
            .replace("@@DOMAIN@@", DOMAIN)
            .replace("@@DB@@", str(db))
            .replace("@@SUBS_DB_MODE@@", str(self.subs_db_mode))
            .replace("@@DB_UPDATE_PERIOD@@", str(self.db_update_period))
            .replace("@@CTL@@", str(self.ctl))
            .replace("@@MAXBUFFER@@", str(self.maxbuffer))
        )
        cfg = self.workdir / "kamailio-presence.cfg"
        cfg.write_text(config)
        command = [binary, "-DD", "-E", "-n", "2", "-m", "4096", "-M", "16", "-f", str(cfg)]
        self.info["command"] = " ".join(command)
        self.info["subs_db_mode"] = self.subs_db_mode
        self.info["db_update_period"] = self.db_update_period
        self.info["maxbuffer"] = self.maxbuffer
        version = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
        self.info["version"] = version.stdout.splitlines()[0] if version.stdout else "?"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir,
            )  # fmt: skip
        if not lb.wait_udp_ready(self.port):
            raise RuntimeError(f"Kamailio did not answer OPTIONS:\n{self.log_tail()}")
        time.sleep(0.3)

    def pids(self) -> list[int]:
        return [] if self.proc is None else lb.process_tree(self.proc.pid)


def ensure_kamailio() -> None:
    """apt-get install the Kamailio packages that are missing (benchmarks are not run by CI,
    so the benchmark installs what it drives)."""
    missing = [
        pkg
        for pkg in KAMAILIO_PACKAGES
        if subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True
        ).stdout.split()[-1:]
        != ["installed"]
    ]
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", *missing],
        check=True, env=env, timeout=1200,
    )  # fmt: skip


# -- measurements ----------------------------------------------------------------------


@dataclass
class Round:
    """One PUBLISH burst: markers sent, NOTIFYs expected and received, and times."""

    watchers: int
    publishes: int
    expected: int
    received: int = 0
    #: first PUBLISH sent to last NOTIFY received, ms
    last_ms: float | None = None
    #: first PUBLISH sent to first NOTIFY received, ms
    first_ms: float | None = None
    notifies_per_second: float | None = None
    complete: bool = False
    #: PUBLISHes of the round that got no final response in 32 s (Timer F)
    unanswered_publishes: int = 0


@dataclass
class ServerRun:
    server: str
    info: dict[str, Any] = field(default_factory=dict)
    fanout: dict[int, list[Round]] = field(default_factory=dict)
    throughput: list[Round] = field(default_factory=list)
    subscribe: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    error: str = ""


class Bench:
    """One server, its watchers and its publisher, and the marker counter."""

    def __init__(self, server: lb.Server, args: argparse.Namespace, run_id: str) -> None:
        self.server = server
        self.args = args
        self.watchers = Watchers(args.workers, run_id)
        passwords = {a.user: a.password for a in server.accounts}
        self.publisher = Publisher(server.port, passwords)
        self.marker = 0

    def close(self) -> None:
        self.watchers.stop()
        self.publisher.close()

    def subscribe(self, presentities: Sequence[str], count: int) -> dict[str, Any]:
        result = self.watchers.subscribe(
            self.server.port, presentities, count, timeout=max(120.0, count / 50)
        )
        if result["with_initial_notify"] < count:
            print(f"    subscriptions incomplete: {result}", flush=True)
        return result

    def burst(
        self, presentities: Sequence[str], watchers: int, *, gap: bool = True, window: int = 0
    ) -> Round:
        """Every presentity PUBLISHes once; wait for the NOTIFYs (``watchers`` in all, the
        same number per presentity). ``window`` 0: all PUBLISHes at once; otherwise at most
        ``window`` presentities whose NOTIFYs are not all in, the next PUBLISH as soon as
        one's are (a closed loop, so the server is kept busy but never flooded)."""
        items = []
        for name in presentities:
            self.marker += 1
            items.append((name, self.marker))
        wanted = {m for _, m in items}
        per_presentity = watchers // len(items)
        rnd = Round(watchers=watchers, publishes=len(items), expected=watchers)
        unanswered = self.publisher.unanswered
        pending = list(items)
        inflight: set[int] = set()
        sent: dict[int, int] = {}
        deadline = time.monotonic() + 60 + watchers / 200
        last_progress, received = time.monotonic(), -1
        marks: dict[int, tuple[int, int, int]] = {}
        while time.monotonic() < deadline:
            room = len(pending) if window <= 0 else window - len(inflight)
            if pending and room > 0:
                batch, pending = pending[:room], pending[room:]
                sent.update(self.publisher.publish(batch))
                inflight.update(m for _, m in batch)
            time.sleep(0.1 if window <= 0 else 0.02)
            marks = self.watchers.marks(wanted)
            total = sum(c for c, _, _ in marks.values())
            if total >= watchers:
                break
            inflight = {m for m in inflight if marks.get(m, (0, 0, 0))[0] < per_presentity}
            if total != received:
                received, last_progress = total, time.monotonic()
            elif time.monotonic() - last_progress > 15:
                break  # nothing new for 15 s: some NOTIFYs are not coming
        rnd.unanswered_publishes = self.publisher.unanswered - unanswered
        rnd.received = sum(c for c, _, _ in marks.values())
        rnd.complete = rnd.received == watchers
        if marks and sent:
            start_ns = min(sent.values())
            last = max(t for _, _, t in marks.values())
            first = min(t for _, t, _ in marks.values() if t)
            rnd.last_ms = (last - start_ns) / 1e6
            rnd.first_ms = (first - start_ns) / 1e6
            if rnd.last_ms > 0:
                rnd.notifies_per_second = rnd.received / (rnd.last_ms / 1000)
        if gap:
            # Parley sends at most one NOTIFY per watcher per 5 s: let that pass.
            time.sleep(self.args.quiet_gap)
        return rnd


def profile_start(server: lb.Server, raw: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy")
    if spy is None:
        return None
    return subprocess.Popen(
        [spy, "record", "--pid", str(server.pids()[0]), "--rate", "200", "--native",
         "--format", "raw", "-o", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def profile_stop(spy: subprocess.Popen[bytes], raw: Path) -> str:
    """Stop py-spy (it writes its file on SIGINT); an error message, or "" if it wrote."""
    spy.send_signal(signal.SIGINT)
    try:
        _, err = spy.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        spy.kill()
        _, err = spy.communicate()
    if not raw.exists():
        return f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}"
    return ""


def run_fanout(bench: Bench, run: ServerRun, sizes: Sequence[int], reps: int) -> None:
    """Watchers of one presentity, growing through ``sizes``; ``reps`` PUBLISHes each."""
    subscribed = 0
    for size in sizes:
        info = bench.subscribe([FAN_PRESENTITY], size - subscribed)
        subscribed = size
        print(
            f"  fan-out: {size:,} watchers subscribed ({info['rate']}/s"
            f", {info['with_initial_notify']:,} initial NOTIFYs, failures {info['failures']})",
            flush=True,
        )
        time.sleep(bench.args.quiet_gap)
        rounds = run.fanout.setdefault(size, [])
        for _ in range(reps):
            rnd = bench.burst([FAN_PRESENTITY], size)
            rounds.append(rnd)
            print(
                f"    PUBLISH -> last NOTIFY {fmt_ms(rnd.last_ms)} ms (first {fmt_ms(rnd.first_ms)}"
                f" ms), {rnd.received:,}/{size:,} NOTIFYs",
                flush=True,
            )
    if bench.args.profile and bench.server.name == "parley":
        # py-spy samples only while a fan-out runs (not the quiet gaps); one collapsed-stack
        # file per PUBLISH, concatenated (summarize_stacks adds up repeated stacks).
        raw = bench.server.workdir / "parley-presence-profile.txt"
        profiled, parts = [], []
        for i in range(bench.args.profile):
            part = raw.with_suffix(f".{i}.txt")
            spy = profile_start(bench.server, part)
            if spy is None:
                run.profile = {"error": "py-spy is not installed (pip install py-spy)"}
                return
            time.sleep(1.0)  # py-spy attached
            profiled.append(bench.burst([FAN_PRESENTITY], subscribed, gap=False))
            error = profile_stop(spy, part)
            if error:
                run.profile = {"error": error}
                return
            parts.append(part.read_text())
            time.sleep(bench.args.quiet_gap)
        raw.write_text("".join(parts))
        run.profile = {"raw_file": str(raw), **lb.summarize_stacks(raw, bench.args.profile_top)}
        run.profile["rounds"] = [r.__dict__ for r in profiled]
        print_profile(run.profile, subscribed)


def run_load(bench: Bench, run: ServerRun, total: int, presentities: int, bursts: int) -> None:
    """``total`` subscriptions over ``presentities``: memory, then NOTIFY throughput."""
    names = [f"p{i:04d}" for i in range(presentities)]
    # A few subscriptions first so that code and pools are warm before the baseline.
    bench.subscribe(["warm"], WARM_UP)
    lb.wait_idle(bench.server.pids(), timeout=30)
    before = memory_of(bench.server)
    run.subscribe = bench.subscribe(names, total)
    lb.wait_idle(bench.server.pids(), timeout=60)
    # The transactions of the first NOTIFYs are kept a while after their 200 (Parley's
    # Timer K, Kamailio's wait timer: 5 s): let them go so that only subscriptions remain.
    time.sleep(bench.args.quiet_gap + 1)
    after = memory_of(bench.server)
    count = run.subscribe["with_initial_notify"]

    def per_sub(key: str) -> int | None:
        return round((after[key] - before[key]) * 1024 / count) if count else None

    run.memory = {
        "subscriptions": count,
        "before_kb": before,
        "after_kb": after,
        "rss_bytes_per_sub": per_sub("rss"),
        "pss_bytes_per_sub": per_sub("pss"),
        "shm_used_bytes_per_sub": per_sub("shm_used") if "shm_used" in after else None,
    }
    print(
        f"  {count:,} subscriptions in {run.subscribe['seconds']} s ({run.subscribe['rate']}/s);"
        f" RSS {before['rss'] / 1024:.0f} -> {after['rss'] / 1024:.0f} MB,"
        f" PSS {before['pss'] / 1024:.0f} -> {after['pss'] / 1024:.0f} MB:"
        f" {run.memory['rss_bytes_per_sub']} B (RSS), {run.memory['pss_bytes_per_sub']} B (PSS)"
        " per subscription"
        + (
            f"; shm in use {before['shm_used'] / 1024:.0f} -> {after['shm_used'] / 1024:.0f} MB:"
            f" {run.memory['shm_used_bytes_per_sub']} B"
            if "shm_used" in after
            else ""
        ),
        flush=True,
    )
    time.sleep(bench.args.quiet_gap)
    for _ in range(bursts):
        rnd = bench.burst(names, total, window=bench.args.window)
        run.throughput.append(rnd)
        print(
            f"    {len(names)} PUBLISHes -> {rnd.received:,}/{total:,} NOTIFYs in"
            f" {fmt_ms(rnd.last_ms)} ms: {rnd.notifies_per_second or 0:,.0f} NOTIFY/s",
            flush=True,
        )


def memory_of(server: lb.Server) -> dict[str, int]:
    pids = server.pids()
    memory = {"rss": sum(lb.rss_kb(p) for p in pids), "pss": sum(lb.pss_kb(p) for p in pids)}
    if isinstance(server, KamailioPresence):
        memory["shm_used"] = server.shm_used_kb() or 0
    return memory


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def print_profile(profile: dict[str, Any], watchers: int) -> None:
    print(f"\n  Profile of Parley during the {watchers:,}-watcher fan-out (py-spy, 200 Hz)")
    if "error" in profile:
        print("  " + profile["error"])
        return
    print(f"  {profile['samples']} samples; cyclic GC {profile['gc_percent']}%")
    lb.print_profile_tables(profile)
    print()


# -- main ------------------------------------------------------------------------------


def make_server(name: str, workdir: Path, args: argparse.Namespace) -> lb.Server:
    workdir.mkdir(parents=True, exist_ok=True)
    accounts = [lb.Account(FAN_PRESENTITY, "fan-secret"), lb.Account("warm", "warm-secret")]
    accounts += [lb.Account(f"p{i:04d}", f"pw-{i:04d}") for i in range(args.presentities)]
    if name == "parley":
        return ParleyPresence(workdir, accounts, args.parley_src)
    return KamailioPresence(workdir, accounts, args.subs_db_mode, args.db_update_period)


def watcher_plan(phase: str, args: argparse.Namespace) -> list[tuple[str, int]]:
    """(presentity, watcher number) of every subscription a phase will make, in the order
    :meth:`Watchers.subscribe` numbers them."""
    if phase == "fanout":
        return [(FAN_PRESENTITY, n) for n in range(max(args.sizes))]
    plan = [("warm", n) for n in range(WARM_UP)]
    plan += [(f"p{k % args.presentities:04d}", WARM_UP + k) for k in range(args.subscriptions)]
    return plan


def run_phase(run: ServerRun, phase: str, args: argparse.Namespace, workdir: Path) -> None:
    """One phase (``fanout`` or ``load``) on a fresh server of ``run.server``."""
    name = run.server
    server = make_server(name, workdir / f"{name}-{phase}", args)
    if isinstance(server, KamailioPresence):
        server.authorized = watcher_plan(phase, args)
        server.maxbuffer = args.kamailio_maxbuffer
    bench: Bench | None = None
    try:
        server.start()
        run.info = server.info
        print(f"{name} ({phase}): {server.info.get('version')} on {HOST}:{server.port}")
        bench = Bench(server, args, f"{name[0]}{phase[0]}{os.getpid()}")
        drops_before = lb.udp_drops(server.port)
        if phase == "fanout":
            run_fanout(bench, run, args.sizes, args.reps)
        else:
            run_load(bench, run, args.subscriptions, args.presentities, args.bursts)
        counters = bench.watchers.counters()
        # Datagrams the kernel dropped at the server's socket (its receive buffer full).
        counters["server socket drops"] = lb.udp_drops(server.port) - drops_before
        for key, value in counters.items():
            run.counters[f"{phase}: {key}"] = value
        print(f"  watcher counters ({phase}): {dict(counters)}", flush=True)
        if not server.alive():
            run.error += f"{name} died during {phase}: {server.log_tail(5)}; "
    except RuntimeError as exc:
        run.error += f"{phase}: {exc}; "
        print(f"  {name} {phase}: {exc}", flush=True)
    finally:
        if bench is not None:
            bench.close()
        server.stop()


def summary(runs: dict[str, ServerRun]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(what: str, values: dict[str, float | None], unit: str, note: str = "") -> None:
        parley, kamailio = values.get("parley"), values.get("kamailio")
        ratio = parley / kamailio if parley is not None and kamailio else None
        rows.append(
            {
                "what": what, "unit": unit, "parley": parley, "kamailio": kamailio,
                "ratio_parley_to_kamailio": round(ratio, 2) if ratio is not None else None,
                "note": note,
            }
        )  # fmt: skip

    sizes = sorted({s for r in runs.values() for s in r.fanout})
    for size in sizes:
        values, notes = {}, []
        for name, run in runs.items():
            rounds = run.fanout.get(size, [])
            complete = [r for r in rounds if r.complete]
            values[name] = median([r.last_ms for r in complete])
            notes.append(
                f"{name} {len(complete)}/{len(rounds)} complete: "
                + ", ".join(fmt_ms(r.last_ms) for r in rounds)
            )
        add(f"PUBLISH -> last NOTIFY, {size:,} watchers", values, "ms", "; ".join(notes))
    if any(r.throughput for r in runs.values()):
        values, notes = {}, []
        for name, run in runs.items():
            complete = [r for r in run.throughput if r.complete]
            values[name] = median([r.notifies_per_second for r in complete])
            notes.append(
                f"{name} {len(complete)}/{len(run.throughput)} complete: "
                + ", ".join(f"{r.notifies_per_second or 0:,.0f}" for r in run.throughput)
            )
        add("NOTIFY throughput", values, "NOTIFY/s", "; ".join(notes))
        for key, label in (
            ("rss_bytes_per_sub", "RSS"),
            ("pss_bytes_per_sub", "PSS"),
            ("shm_used_bytes_per_sub", "Kamailio shm in use"),
        ):
            values = {n: r.memory.get(key) for n, r in runs.items() if r.memory}
            count = {n: r.memory.get("subscriptions") for n, r in runs.items() if r.memory}
            add(f"memory per subscription ({label})", values, "bytes", f"subscriptions {count}")
    print("\nSummary (lower is better for ms and bytes, higher for NOTIFY/s)")
    print(f"{'what':<42} {'unit':<9} {'Parley':>12} {'Kamailio':>12} {'P/K':>7}")
    for row in rows:
        p, k, ratio = row["parley"], row["kamailio"], row["ratio_parley_to_kamailio"]
        print(
            f"{row['what']:<42} {row['unit']:<9}"
            f" {'-' if p is None else f'{p:,.1f}':>12} {'-' if k is None else f'{k:,.1f}':>12}"
            f" {'-' if ratio is None else f'{ratio:.2f}':>7}"
        )
        if row["note"]:
            print(f"    {row['note']}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--server", action="append", choices=("parley", "kamailio"), help="repeatable; default both"
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repetition")
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None,
        help="watchers of the one presentity, growing (1000,5000,10000)",
    )  # fmt: skip
    parser.add_argument("--reps", type=int, default=None, help="PUBLISHes per size (3)")
    parser.add_argument(
        "--subscriptions", type=int, default=None,
        help="subscriptions for memory and throughput (100000; 0 skips that phase)",
    )  # fmt: skip
    parser.add_argument(
        "--presentities", type=int, default=100, help="presentities they watch (100)"
    )
    parser.add_argument("--bursts", type=int, default=None, help="throughput bursts (3)")
    parser.add_argument("--workers", type=int, default=4, help="watcher processes (4)")
    parser.add_argument(
        "--window", type=int, default=4,
        help="throughput: presentities whose NOTIFYs may be in flight at once (4; 0: all)",
    )  # fmt: skip
    parser.add_argument(
        "--quiet-gap", type=float, default=5.5,
        help="seconds after the last NOTIFY before the next PUBLISH (Parley's 5 s limit)",
    )  # fmt: skip
    parser.add_argument(
        "--subs-db-mode", type=int, default=2, choices=(0, 1, 2),
        help="Kamailio presence subs_db_mode (2: write-back to SQLite)",
    )  # fmt: skip
    parser.add_argument(
        "--db-update-period", type=int, default=100,
        help="Kamailio presence db_update_period, s (100, its default)",
    )  # fmt: skip
    parser.add_argument(
        "--kamailio-maxbuffer", type=int, default=262144, metavar="BYTES",
        help="Kamailio's maxbuffer: its UDP receive buffer is probed up to this (262144)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", nargs="?", const=3,
        help="py-spy Parley during N extra PUBLISHes at the largest fan-out (3)",
    )  # fmt: skip
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument(
        "--parley-src", type=Path, default=None, metavar="DIR",
        help="run Parley from this src directory (e.g. a `git archive` of a commit)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="write all results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    arg_list = list(argv if argv is not None else sys.argv[1:])
    args = parser.parse_args(arg_list)
    args.sizes = args.sizes or ([200, 1000] if args.quick else [1000, 5000, 10000])
    args.reps = args.reps or (1 if args.quick else 3)
    args.bursts = args.bursts or (1 if args.quick else 3)
    if args.subscriptions is None:
        args.subscriptions = 10_000 if args.quick else 100_000
    servers = args.server or ["parley", "kamailio"]
    if "kamailio" in servers:
        ensure_kamailio()

    try:
        info = lb.machine_info()
    except OSError:  # no SIPp, which load_bench reports on; this benchmark does not need it
        info = {"date": "?", "cpu_model": "?", "cpus": os.cpu_count(), "kernel": "?"}
        info["python"] = sys.version.split()[0]
    print(f"Presence fan-out benchmark  {info['date']}")
    print(
        f"{info['cpu_model']}, {info['cpus']} CPUs, Linux {info['kernel']},"
        f" Python {info['python']}; load average before {os.getloadavg()[0]:.2f}"
    )
    print(
        f"fan-out sizes {args.sizes}, {args.reps} PUBLISHes each; {args.subscriptions:,}"
        f" subscriptions over {args.presentities} presentities, {args.bursts} bursts;"
        f" {args.workers} watcher processes\n",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="parley-presence-"))
    started = time.monotonic()
    try:
        # Phase by phase, the servers in turn, so that each ratio compares runs minutes
        # apart on a machine whose load may change.
        runs = {name: ServerRun(name) for name in servers}
        for phase in ("fanout", "load") if args.subscriptions else ("fanout",):
            for name in servers:
                run_phase(runs[name], phase, args, workdir)
        rows = summary(runs)
        print(
            f"\ntotal time {time.monotonic() - started:.0f} s; work directory {workdir}"
            + ("" if args.keep else " (removed)")
        )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "machine": info,
                        "command": " ".join(["benchmarks/presence_bench.py", *arg_list]),
                        "summary": rows,
                        "runs": {
                            n: {
                                "info": r.info, "subscribe": r.subscribe, "memory": r.memory,
                                "counters": r.counters, "error": r.error, "profile": r.profile,
                                "fanout": {s: [x.__dict__ for x in v] for s, v in r.fanout.items()},
                                "throughput": [x.__dict__ for x in r.throughput],
                            }
                            for n, r in runs.items()
                        },
                    },
                    indent=2,
                )
            )  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
