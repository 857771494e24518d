#!/usr/bin/env python3
"""SIPp load benchmark: Parley against Kamailio, MESSAGE relay and REGISTER with digest.

Run from the repository root (SIPp and Kamailio from Debian: ``sip-tester``, ``kamailio``,
``kamailio-sqlite-modules``)::

    python benchmarks/load_bench.py --quick      # about two minutes, rough numbers, no soak
    python benchmarks/load_bench.py              # full run, about 14 minutes (mostly soaks)
    python benchmarks/load_bench.py --soak-tries 1              # about 9 minutes
    python benchmarks/load_bench.py --server parley --test message-udp --profile 10

Everything runs on 127.0.0.1, on free ports, in a temporary directory, and stops by itself.

What is measured
----------------
* ``message-udp`` / ``message-tcp``: a SIPp UAC (``sipp/message_uac.xml``) sends MESSAGE to
  ``sip:bob-udp@DOMAIN`` (``bob-tcp``) through the server, which looks the user up in its
  location service and relays the MESSAGE, statefully, to a second SIPp that registered as it
  (``sipp/bob_register.xml``, with digest authentication, its MESSAGEs answered 200 by the
  out-of-call scenario ``sipp/bob_answer.xml``); one "call" is one MESSAGE transaction
  answered 200 by bob through the server. The sender's From is of a foreign domain, so
  neither server challenges it. Over TCP, both SIPps keep one connection each and the server
  relays to bob over the connection bob registered on.
* ``register-udp`` / ``register-tcp``: a SIPp UAC (``sipp/register_uac.xml``) registers
  ``--users`` accounts in turn: REGISTER, 401 with a fresh nonce, REGISTER with MD5 digest
  credentials (qop=auth), 200. One call is one registration (two transactions).
* ``register-noauth``: the same without authentication (``sipp/register_noauth_uac.xml``),
  for Kamailio only (a reference figure: Parley always authenticates REGISTER).

How a rate is found
-------------------
For each server and test, SIPp runs steps of ``--step-seconds`` at a fixed call rate, from
``--start-rate`` doubling until a step fails, then ``--refine`` bisection steps between the
last pass and the first failure. A step passes when every planned call succeeded, SIPp
reached the rate (the step took at most 10 % longer than planned), UDP retransmissions
stayed under ``--max-retrans-pct`` percent of the calls (no retransmission storm), and no
second of the step had a mean response time over ``--max-response-ms`` (a queue that grows,
which over TCP shows in nothing else until calls time out). The ramp's figure is the highest
passing step. Then a *soak* step runs that rate for ``--soak`` seconds (34) on a fresh server:
longer than Timer J (64*T1 = 32 s), for which a UDP server transaction of a non-INVITE
request stays after its final response, so that the server carries its steady-state amount of
transaction state. If the soak fails, another runs at two thirds of the rate (up to
``--soak-tries`` soaks). The "sustained rate" reported is the highest rate that passed a soak
(the ramp's figure with ``--soak 0``, the default of ``--quick``). Before each ramp an
unrecorded warm-up step runs; between steps the benchmark waits until the server is idle
again. Every ramp and every soak gets a fresh server.

During each step the server's CPU (utime+stime from /proc/PID/stat, in % of one core, so
up to 200 % on 2 cores) and memory (VmRSS from /proc/PID/status, and the PSS from
/proc/PID/smaps_rollup; both summed over Kamailio's processes, where PSS is the comparable
figure since they share memory) are sampled, and so is the CPU of both SIPps: all of them
share the machine's cores. UDP datagrams dropped by the kernel at each socket are counted
from /proc/net/udp.

Servers
-------
* Parley: ``python -m parley.apps.cli serve`` (one process, uvloop), MD5 digest only (what
  SIPp can answer), SQLite storage under the work directory, accounts imported from a CSV.
* Kamailio: ``kamailio -DD -E -n 2`` with ``sipp/kamailio.cfg``: registrar + usrloc in memory,
  auth_db on a SQLite subscriber table (plaintext passwords), tm relaying; ``tcp_children=2``.

``--profile SECONDS`` attaches py-spy (``pip install py-spy``) to Parley for that long during
an extra MESSAGE/UDP step at ``--profile-rate`` (default: 70 % of the sustained UDP rate) on
a fresh Parley and prints where the time goes. ``--json FILE`` writes every step.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import ipaddress
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "sipp"
HOST = "127.0.0.1"
DOMAIN = "bench.test"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
ALL_TESTS = ("message-udp", "message-tcp", "register-udp", "register-tcp", "register-noauth")
DEFAULT_TESTS = ("message-udp", "message-tcp", "register-udp")
#: First step of a ramp, calls/s, by server and kind of test: each about a sixteenth of what
#: the server reached when this was written, so that the doubling takes four or five steps.
START_RATES = {
    ("parley", "message"): 250,
    ("parley", "register"): 125,
    ("kamailio", "message"): 1000,
    ("kamailio", "register"): 2000,
}

assert ipaddress.ip_address(HOST) in ipaddress.ip_network("127.0.0.0/8")


# -- processes and /proc ---------------------------------------------------------------


def free_port() -> int:
    """A port free for both UDP and TCP on HOST (the servers listen on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def cpu_ticks(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped for the UDP sockets bound to ``port`` (receive buffer
    full), from the last column of /proc/net/udp."""
    total = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 12 and int(fields[1].rpartition(":")[2], 16) == port:
                total += int(fields[-1])
    return total


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class Sampler:
    """Samples CPU ticks and RSS of groups of processes every ``interval`` seconds in a
    thread; ``cpu_percent`` gives CPU % of one core over a window, ``peak_rss`` the peak."""

    def __init__(self, groups: dict[str, list[int]], interval: float = 0.25) -> None:
        self.groups = groups
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ticks: dict[int, int] = {}  # last value seen per pid (a process may exit)
        self.samples: dict[str, list[tuple[float, int]]] = {name: [] for name in groups}
        self.peak_rss: Counter[str] = Counter()
        self.peak_pss: Counter[str] = Counter()

    def sample(self) -> None:
        now = time.monotonic()
        for name, pids in self.groups.items():
            for pid in pids:
                ticks = cpu_ticks(pid)
                if ticks is not None:
                    self._ticks[pid] = ticks
            self.samples[name].append((now, sum(self._ticks.get(p, 0) for p in pids)))
            rss = sum(rss_kb(p) for p in pids)
            self.peak_rss[name] = max(self.peak_rss[name], rss)
            if name == "server":
                self.peak_pss[name] = max(self.peak_pss[name], sum(pss_kb(p) for p in pids))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> Sampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def cpu_percent(self, name: str, window: float | None = None) -> float:
        """CPU % of one core from the first sample to the last one within ``window`` s."""
        samples = self.samples.get(name) or []
        if len(samples) < 2:
            return 0.0
        t0, c0 = samples[0]
        t1, c1 = samples[-1]
        if window is not None:
            t1, c1 = next(
                (s for s in reversed(samples) if s[0] <= t0 + window + self.interval / 2),
                samples[-1],
            )
        return 100.0 * (c1 - c0) / CLK_TCK / (t1 - t0) if t1 > t0 else 0.0


def stop_process(
    proc: subprocess.Popen[Any] | None, pids: Sequence[int] = (), grace: float = 5.0
) -> None:
    """SIGTERM the process we started, then SIGKILL it and ``pids`` (its children, by id)
    if they are still there after ``grace`` seconds."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(grace)
    for pid in pids:
        if pid != proc.pid and cpu_ticks(pid) is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def wait_udp_ready(port: int, timeout: float = 15.0) -> bool:
    """Send OPTIONS until the server answers anything."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(0.3)
        local = sock.getsockname()[1]
        n = 0
        while time.monotonic() < deadline:
            n += 1
            request = (
                f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{local};branch=z9hG4bKprobe{n}{os.getpid()}\r\n"
                f"From: <sip:probe@{DOMAIN}>;tag=p{n}\r\nTo: <sip:{HOST}:{port}>\r\n"
                f"Call-ID: probe{n}-{os.getpid()}@{HOST}\r\nCSeq: {n} OPTIONS\r\n"
                "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
            sock.sendto(request.encode(), (HOST, port))
            try:
                if sock.recv(65535).startswith(b"SIP/2.0 "):
                    return True
            except (TimeoutError, ConnectionRefusedError):
                time.sleep(0.2)
    return False


def wait_idle(pids: list[int], threshold: float = 10.0, timeout: float = 20.0) -> float:
    """Wait until ``pids`` use under ``threshold`` % CPU over half a second; the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        c0 = sum(t for t in (cpu_ticks(p) for p in pids) if t is not None)
        time.sleep(0.5)
        c1 = sum(t for t in (cpu_ticks(p) for p in pids) if t is not None)
        if 100.0 * (c1 - c0) / CLK_TCK / 0.5 < threshold:
            break
    return time.monotonic() - start


# -- servers ---------------------------------------------------------------------------


@dataclass
class Account:
    user: str
    password: str


#: One receiving user per MESSAGE ramp. Parley keeps a MESSAGE that its recipient's device
#: did not answer in time (408: store-and-forward, answered 202) and delivers it when that
#: user next registers; separate recipients keep such a backlog from one ramp out of the next.
RECIPIENTS = ("bob-udp", "bob-tcp", "bob-profile")


def make_accounts(count: int) -> list[Account]:
    """The recipients, then ``count`` users for the REGISTER test."""
    accounts = [Account(name, f"{name}-secret") for name in RECIPIENTS]
    accounts.extend(Account(f"u{i:05d}", f"pw-{i:05d}") for i in range(count))
    return accounts


def write_sipp_users(path: Path, accounts: list[Account]) -> None:
    """SIPp injection file; field 2 carries the whole [authentication] keyword, since SIPp
    expands a keyword brought in by [field2] but not [field0] nested inside a keyword."""
    with path.open("w") as f:
        f.write("SEQUENTIAL\n")
        for a in accounts[len(RECIPIENTS) :]:
            f.write(
                f"{a.user};{a.password};[authentication username={a.user} password={a.password}]\n"
            )


class Server:
    name = ""
    auth = True

    def __init__(self, workdir: Path, accounts: list[Account]) -> None:
        self.workdir = workdir
        self.accounts = accounts
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "server.log"
        self.info: dict[str, Any] = {}

    def pids(self) -> list[int]:
        return [] if self.proc is None else [self.proc.pid]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        pids = process_tree(self.proc.pid) if self.alive() and self.proc else []
        stop_process(self.proc, pids)
        self.proc = None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


PARLEY_CLI = [sys.executable, "-m", "parley.apps.cli"]


def import_accounts(
    workdir: Path, accounts: list[Account], env: dict[str, str] | None = None
) -> Path:
    """Parley's data directory under ``workdir``, with ``accounts`` imported (``parley user
    import``, as an operator would); returns it."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    users_csv = workdir / "accounts.csv"
    with users_csv.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["aor", "password"])
        for a in accounts:
            writer.writerow([f"{a.user}@{DOMAIN}", a.password])
    subprocess.run(
        [*PARLEY_CLI, "user", "import", str(users_csv), "--data-dir", str(data)],
        check=True, capture_output=True, timeout=120, env=env,
    )  # fmt: skip
    return data


class ParleyServer(Server):
    name = "parley"

    def __init__(
        self,
        workdir: Path,
        accounts: list[Account],
        *,
        gc_threshold: int | None = None,
        workers: int = 1,
    ) -> None:
        super().__init__(workdir, accounts)
        self.gc_threshold = gc_threshold
        self.workers = workers

    def start(self) -> None:
        data = import_accounts(self.workdir, self.accounts)
        self.port = free_port()
        serve = PARLEY_CLI
        if self.gc_threshold is not None:
            # An experiment, not Parley's configuration: the same CLI with the cyclic
            # garbage collector's first threshold raised (default 700).
            serve = [
                sys.executable, "-c",
                f"import gc, sys; gc.set_threshold({self.gc_threshold}, 10, 10); "
                "from parley.apps.cli import main; sys.exit(main(sys.argv[1:]))",
            ]  # fmt: skip
            self.info["gc_threshold"] = self.gc_threshold
        command = [
            *serve, "serve", "--domain", DOMAIN,
            "--listen", f"udp:{HOST}:{self.port}", "--listen", f"tcp:{HOST}:{self.port}",
            "--digest-algorithms", "MD5", "--data-dir", str(data),
            "--workers", str(self.workers),
        ]  # fmt: skip
        self.info["command"] = " ".join(command)
        self.info["workers"] = self.workers
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        if not wait_udp_ready(self.port):
            raise RuntimeError(f"Parley did not answer OPTIONS:\n{self.log_tail()}")
        maps = Path(f"/proc/{self.proc.pid}/maps").read_text()
        self.info["event_loop"] = "uvloop" if "uvloop" in maps else "asyncio"
        from importlib.metadata import version

        self.info["version"] = version("parley")
        self.info["uvloop"] = version("uvloop") if "uvloop" in maps else None

    def pids(self) -> list[int]:
        # The worker processes of --workers are children of the first.
        return [] if self.proc is None else process_tree(self.proc.pid)


class KamailioServer(Server):
    name = "kamailio"

    def __init__(self, workdir: Path, accounts: list[Account], *, auth: bool = True) -> None:
        super().__init__(workdir, accounts)
        self.auth = auth
        if not auth:
            self.name = "kamailio-noauth"

    def start(self) -> None:
        binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        db = self.workdir / "kamailio.sqlite"
        db.unlink(missing_ok=True)
        with contextlib.closing(sqlite3.connect(db)) as conn:
            # The tables as kamdbctl creates them (version 7 of subscriber), trimmed to what
            # auth_db reads; plaintext passwords with calculate_ha1=yes.
            conn.executescript(
                """
                CREATE TABLE version (id INTEGER PRIMARY KEY, table_name VARCHAR(32) NOT NULL,
                  table_version INTEGER DEFAULT 0 NOT NULL,
                  CONSTRAINT version_table_name_idx UNIQUE (table_name));
                INSERT INTO version (table_name, table_version) VALUES ('subscriber', 7);
                CREATE TABLE subscriber (id INTEGER PRIMARY KEY NOT NULL,
                  username VARCHAR(64) DEFAULT '' NOT NULL, domain VARCHAR(64) DEFAULT '' NOT NULL,
                  password VARCHAR(64) DEFAULT '' NOT NULL, ha1 VARCHAR(128) DEFAULT '' NOT NULL,
                  ha1b VARCHAR(128) DEFAULT '' NOT NULL,
                  CONSTRAINT subscriber_account_idx UNIQUE (username, domain));
                CREATE INDEX subscriber_username_idx ON subscriber (username);
                """
            )
            conn.executemany(
                "INSERT INTO subscriber (username, domain, password) VALUES (?, ?, ?)",
                [(a.user, DOMAIN, a.password) for a in self.accounts],
            )
            conn.commit()
        self.port = free_port()
        template = (SCENARIOS / "kamailio.cfg").read_text()
        config = (
            template.replace("@@PORT@@", str(self.port))
            .replace("@@DOMAIN@@", DOMAIN)
            .replace("@@DB@@", str(db))
            .replace("@@AUTH_DEFINE@@", "#!define WITH_AUTH" if self.auth else "# no WITH_AUTH")
        )
        cfg = self.workdir / "kamailio.cfg"
        cfg.write_text(config)
        # -m: shared memory (MB) for transactions and usrloc; 64 MB runs out above a few
        # thousand MESSAGE/s, since tm keeps each transaction 5 s after its final response.
        command = [binary, "-DD", "-E", "-n", "2", "-m", "1024", "-M", "16", "-f", str(cfg)]
        self.info["command"] = " ".join(command)
        version = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
        self.info["version"] = version.stdout.splitlines()[0] if version.stdout else "?"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir,
            )  # fmt: skip
        if not wait_udp_ready(self.port):
            raise RuntimeError(f"Kamailio did not answer OPTIONS:\n{self.log_tail()}")
        time.sleep(0.3)

    def pids(self) -> list[int]:
        return [] if self.proc is None else process_tree(self.proc.pid)


# -- SIPp ------------------------------------------------------------------------------


SIPP_MODE = {"udp": "u1", "tcp": "t1"}
SIPP_BUFFER = 4 * 1024 * 1024


def sipp_base(server: Server, scenario: str, transport: str, port: int) -> list[str]:
    return [
        shutil.which("sipp") or "/usr/bin/sipp",
        f"{HOST}:{server.port}",
        "-sf", str(SCENARIOS / scenario),
        "-t", SIPP_MODE[transport],
        "-i", HOST,
        "-p", str(port),
        "-key", "domain", DOMAIN,
        "-auth_uri", DOMAIN,
        "-nostdin",
        "-default_behaviors", "-bye",  # an aborted call sends nothing more
        # Big socket buffers (up to net.core.rmem_max) so that SIPp is not where datagrams
        # are dropped; the servers keep their own defaults.
        "-buff_size", str(SIPP_BUFFER),
    ]  # fmt: skip


class Bob:
    """The receiving agent: one SIPp that REGISTERs as ``user`` (one of RECIPIENTS) and
    answers MESSAGE with 200."""

    def __init__(self, server: Server, transport: str, workdir: Path, user: str) -> None:
        self.server = server
        self.transport = transport
        self.workdir = workdir
        self.user = user
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        bob = next(a for a in self.server.accounts if a.user == self.user)
        self.port = free_port()
        command = [
            *sipp_base(self.server, "bob_register.xml", self.transport, self.port),
            "-oocsf", str(SCENARIOS / "bob_answer.xml"),
            "-s", bob.user, "-au", bob.user, "-ap", bob.password,
            "-m", "1", "-max_recv_loops", "10000",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, cwd=self.workdir, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Ready when a few MESSAGEs get through (before bob is registered they get 404, or
        # 202 from Parley's store, which then delivers them once bob registers).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if self.proc.poll() is not None:
                raise RuntimeError(f"bob's SIPp exited with {self.proc.returncode}")
            step = run_sipp_step(
                self.server, "message", self.transport, 50, 0.2, self.workdir, "probe",
                recipient=self.user,
            )  # fmt: skip
            if step.successful == step.planned:
                return
        raise RuntimeError(f"bob never became reachable through {self.server.name}")

    def pids(self) -> list[int]:
        return [] if self.proc is None else [self.proc.pid]

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class Step:
    server: str
    test: str
    rate: int
    seconds: float
    planned: int
    created: int = 0
    successful: int = 0
    failed: int = 0
    retransmissions: int = 0
    elapsed: float = 0.0
    achieved_rate: float = 0.0
    response_ms: float | None = None
    #: the highest mean response time of any one second of the step
    worst_second_ms: float | None = None
    server_cpu: float = 0.0
    server_rss_mb: float = 0.0
    server_pss_mb: float | None = None
    uac_cpu: float = 0.0
    #: UDP datagrams dropped by the kernel (receive buffer full) at the server's, the
    #: sending SIPp's and bob's sockets during the step
    drops: dict[str, int] = field(default_factory=dict)
    bob_cpu: float | None = None
    passed: bool = False
    why: str = ""
    last_error: str = ""


def parse_stat_csv(path: Path) -> list[dict[str, str]]:
    """The rows of SIPp's -trace_stat file (one a second with -fd 1, then a final one) as
    dicts; (P) counters are for the period since the row before, (C) ones cumulative."""
    try:
        rows = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []
    header = rows[0].rstrip(";").split(";") if rows else []
    return [dict(zip(header, row.rstrip(";").split(";"), strict=False)) for row in rows[1:]]


def _hms(text: str) -> float:
    """SIPp's HH:MM:SS:micro elapsed time in seconds."""
    parts = text.split(":")
    if len(parts) != 4:
        return 0.0
    h, m, s, us = (int(p) for p in parts)
    return h * 3600 + m * 60 + s + us / 1e6


def _ms(text: str) -> float | None:
    parts = text.split(":")
    if len(parts) != 4:
        return None
    return _hms(text) * 1000.0


def run_sipp_step(
    server: Server,
    kind: str,
    transport: str,
    rate: int,
    seconds: float,
    workdir: Path,
    label: str,
    *,
    monitor: dict[str, list[int]] | None = None,
    users_file: Path | None = None,
    recipient: str = "",
    bob_port: int = 0,
) -> Step:
    """One step: SIPp at ``rate`` calls/s for ``seconds``; reads SIPp's final statistics."""
    planned = max(1, round(rate * seconds))
    scenario = {
        "message": "message_uac.xml",
        "register": "register_uac.xml",
        "register-noauth": "register_noauth_uac.xml",
    }[kind]
    stem = workdir / f"{label}-{server.name}-{kind}-{transport}-{rate}"
    stat_file = stem.with_suffix(".csv")
    screen_file = stem.with_suffix(".screen")
    for p in (stat_file, screen_file):
        p.unlink(missing_ok=True)
    command = [
        *sipp_base(server, scenario, transport, uac_port := free_port()),
        "-s", recipient or "nobody",
        "-r", str(rate), "-m", str(planned),
        # At most one second's worth of calls in flight: a server that falls further behind
        # slows SIPp down, and the step fails on its rate.
        "-l", str(max(50, rate)),
        "-recv_timeout", "5000",
        "-timeout", f"{int(seconds + 12)}s",
        "-max_recv_loops", "10000", "-max_sched_loops", "10000",
        "-trace_stat", "-stf", str(stat_file), "-fd", "1",
        "-trace_screen", "-screen_file", str(screen_file),
    ]  # fmt: skip
    if kind.startswith("register"):
        command += ["-inf", str(users_file)]
    step = Step(server.name, f"{kind}-{transport}", rate, seconds, planned)
    groups = dict(monitor or {})
    proc = subprocess.Popen(
        command, cwd=workdir, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    groups["uac"] = [proc.pid]
    ports = {"server": server.port, "uac": uac_port, "bob": bob_port} if transport == "udp" else {}
    ports = {k: v for k, v in ports.items() if v}
    drops_before = {k: udp_drops(v) for k, v in ports.items()}
    with Sampler(groups) as sampler:
        try:
            _, err = proc.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            stop_process(proc)
            _, err = proc.communicate()
    step.drops = {k: udp_drops(v) - drops_before[k] for k, v in ports.items()}
    rows = parse_stat_csv(stat_file)
    stats = rows[-1] if rows else {}

    def num(key: str) -> int:
        try:
            return int(float(stats.get(key, "0") or 0))
        except ValueError:
            return 0

    step.created = num("OutgoingCall(C)")
    step.successful = num("SuccessfulCall(C)")
    step.failed = num("FailedCall(C)")
    step.retransmissions = num("Retransmissions(C)")
    step.elapsed = _hms(stats.get("ElapsedTime(C)", ""))
    step.achieved_rate = step.successful / step.elapsed if step.elapsed else 0.0
    step.response_ms = _ms(stats.get("ResponseTime1(C)", ""))
    periodic = [
        ms for row in rows
        if int(row.get("SuccessfulCall(P)", "0") or 0) > 0
        and (ms := _ms(row.get("ResponseTime1(P)", ""))) is not None
    ]  # fmt: skip
    step.worst_second_ms = max(periodic, default=None)
    # CPU over the sending window only: after it, a server that fell behind may idle
    # while SIPp waits for timeouts.
    step.uac_cpu = sampler.cpu_percent("uac", seconds)
    if "server" in groups:
        step.server_cpu = sampler.cpu_percent("server", seconds)
        step.server_rss_mb = sampler.peak_rss["server"] / 1024
        if sampler.peak_pss.get("server"):
            step.server_pss_mb = sampler.peak_pss["server"] / 1024
    if "bob" in groups:
        step.bob_cpu = sampler.cpu_percent("bob", seconds)
    try:
        screen = screen_file.read_text(errors="replace")
        errors = re.findall(r"Last Error: (.*)", screen)
        step.last_error = errors[-1].strip() if errors else ""
    except OSError:
        pass
    if not stats:
        step.why = (
            f"no SIPp statistics (exit {proc.returncode}): {err.decode(errors='replace')[-300:]}"
        )
    return step


def judge(step: Step, max_retrans_pct: float, max_response_ms: float) -> None:
    reasons = []
    if step.failed:
        reasons.append(f"{step.failed} failed")
    if step.successful < step.planned:
        reasons.append(f"{step.planned - step.successful} of {step.planned} not completed")
    if step.elapsed > step.seconds * 1.10 + 0.5:
        reasons.append(f"rate not reached ({step.achieved_rate:,.0f}/s)")
    if step.retransmissions > step.planned * max_retrans_pct / 100:
        reasons.append(f"{step.retransmissions} retransmissions")
    if step.worst_second_ms is not None and step.worst_second_ms > max_response_ms:
        reasons.append(f"response time {step.worst_second_ms:.0f} ms in one second")
    if step.uac_cpu > 90 and reasons:
        reasons.append(f"SIPp UAC at {step.uac_cpu:.0f}% CPU")
    if step.bob_cpu is not None and step.bob_cpu > 90 and reasons:
        reasons.append(f"SIPp bob at {step.bob_cpu:.0f}% CPU")
    step.passed = not reasons and not step.why
    step.why = step.why or "; ".join(reasons)


def nice(rate: float) -> int:
    """Round to two significant digits (1234 -> 1200)."""
    if rate < 100:
        return max(1, round(rate))
    digits = len(str(int(rate))) - 2
    return int(round(rate / 10**digits) * 10**digits)


@dataclass
class Ramp:
    server: str
    test: str
    #: the highest passing step of the ramp
    sustained: int | None = None
    first_failure: int | None = None
    steps: list[Step] = field(default_factory=list)
    #: the long steps on a fresh server that confirm (or not) the ramp's figure
    soak: list[Step] = field(default_factory=list)
    #: the highest rate that passed a soak step (None without --soak or if none passed)
    confirmed: int | None = None
    note: str = ""


def kind_of(test: str) -> tuple[str, str]:
    """(scenario kind, transport) of a test name."""
    if test == "register-noauth":
        return "register-noauth", "udp"
    kind, _, transport = test.rpartition("-")
    return kind, transport


@contextlib.contextmanager
def rig(
    server: Server, test: str, workdir: Path
) -> Iterator[tuple[Bob | None, dict[str, list[int]]]]:
    """bob registered (for MESSAGE tests) and the processes to monitor, for one test."""
    kind, transport = kind_of(test)
    bob: Bob | None = None
    try:
        monitor = {"server": server.pids()}
        if kind == "message":
            bob = Bob(server, transport, workdir, f"bob-{transport}")
            bob.start()
            monitor["bob"] = bob.pids()
        yield bob, monitor
    finally:
        if bob is not None:
            bob.stop()


def measured_step(
    server: Server,
    test: str,
    rate: int,
    seconds: float,
    args: argparse.Namespace,
    workdir: Path,
    users_file: Path,
    bob: Bob | None,
    monitor: dict[str, list[int]],
    label: str,
) -> Step:
    kind, transport = kind_of(test)
    wait_idle(monitor["server"])
    step = run_sipp_step(
        server, kind, transport, rate, seconds, workdir, label,
        monitor=monitor, users_file=users_file, recipient=bob.user if bob else "",
        bob_port=bob.port if bob else 0,
    )  # fmt: skip
    judge(step, args.max_retrans_pct, args.max_response_ms)
    if not server.alive():
        step.passed = False
        step.why = f"server died: {server.log_tail(5)}"
    print_step(step, label)
    return step


def run_ramp(
    server: Server, test: str, args: argparse.Namespace, workdir: Path, users_file: Path
) -> Ramp:
    kind, transport = kind_of(test)
    ramp = Ramp(server.name, test)
    with rig(server, test, workdir) as (bob, monitor):
        family = "parley" if server.name == "parley" else "kamailio"
        start = (
            args.start_rate or START_RATES[(family, "message" if kind == "message" else "register")]
        )
        warm = run_sipp_step(
            server, kind, transport, max(1, start // 2), min(2.0, args.step_seconds), workdir,
            "warmup", users_file=users_file, recipient=bob.user if bob else "",
            bob_port=bob.port if bob else 0,
        )  # fmt: skip
        if warm.failed or warm.successful < warm.planned:
            ramp.note = f"warm-up step failed: {warm.last_error or warm.why}"
        rate, passed, failed = start, None, None

        def step_at(rate: int) -> bool:
            step = measured_step(
                server, test, rate, args.step_seconds, args, workdir, users_file, bob, monitor,
                "step",
            )  # fmt: skip
            ramp.steps.append(step)
            return step.passed

        while rate <= args.max_rate:
            if step_at(rate):
                passed = rate
                rate *= 2
            else:
                failed = rate
                break
            if not server.alive():
                break
        for _ in range(args.refine):
            if failed is None or not server.alive():
                break
            low = passed or 0
            mid = nice((low + failed) / 2)
            if mid in (low, failed) or mid <= 0:
                break
            if step_at(mid):
                passed = mid
            else:
                failed = mid
        ramp.sustained = passed
        ramp.first_failure = failed
        if failed is None:
            ramp.note = (
                ramp.note + "; " if ramp.note else ""
            ) + f"passed up to --max-rate {args.max_rate}"
    return ramp


def run_soak(
    server: Server, test: str, rate: int, args: argparse.Namespace, workdir: Path, users_file: Path
) -> Step:
    """One long step at ``rate`` on a fresh server: longer than Timer J (64*T1 = 32 s), the
    time a UDP server transaction of a non-INVITE request lives after its final response,
    so that the server carries its steady-state amount of transaction state."""
    with rig(server, test, workdir) as (bob, monitor):
        return measured_step(
            server, test, rate, args.soak, args, workdir, users_file, bob, monitor, "soak"
        )


def print_step(step: Step, label: str = "step") -> None:
    mark = "pass" if step.passed else "FAIL"
    rtt = (
        "      -"
        if step.worst_second_ms is None
        else ("     <1" if step.worst_second_ms < 1 else f"{step.worst_second_ms:7.0f}")
    )
    bob = f"{step.bob_cpu:4.0f}%" if step.bob_cpu is not None else "    -"
    drops = ",".join(f"{k} {v}" for k, v in step.drops.items() if v)
    drops = f" drops: {drops}" if drops else ""
    print(
        f"  {label:<5} {step.server:<15} {step.test:<16} {step.rate:>7,}/s"
        f"  ok {step.successful:>7,}/{step.planned:<7,}"
        f" fail {step.failed:>5,} retr {step.retransmissions:>6,} worst-s {rtt} ms"
        f"  cpu {step.server_cpu:5.0f}%  pss {step.server_pss_mb or 0:6.0f} MB"
        f"  uac {step.uac_cpu:4.0f}% bob {bob}  {mark} {step.why}{drops}",
        flush=True,
    )


# -- profile ---------------------------------------------------------------------------


def profile_parley(
    server: Server, rate: int, seconds: float, workdir: Path, top: int
) -> dict[str, Any]:
    """py-spy on Parley during a MESSAGE/UDP step at ``rate``: where the time goes."""
    spy = shutil.which("py-spy")
    if spy is None:
        return {"error": "py-spy is not installed (pip install py-spy)"}
    bob = Bob(server, "udp", workdir, "bob-profile")
    bob.start()
    raw = workdir / "parley-profile.txt"
    try:
        wait_idle(server.pids())
        result: list[Step] = []

        def load() -> None:
            result.append(
                run_sipp_step(
                    server, "message", "udp", rate, seconds + 4, workdir, "profile",
                    monitor={"server": server.pids(), "bob": bob.pids()}, recipient="bob-profile",
                    bob_port=bob.port,
                )
            )  # fmt: skip

        sipp = threading.Thread(target=load)
        sipp.start()
        time.sleep(2)
        spy_run = subprocess.run(
            # Blocking sampling (py-spy pauses Parley 200 times a second to read a
            # consistent stack), with the C frames of uvloop, CPython and libc.
            [spy, "record", "--pid", str(server.pids()[0]), "--duration", str(int(seconds)),
             "--rate", "200", "--native", "--format", "raw", "-o", str(raw)],
            capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
        sipp.join()
    finally:
        bob.stop()
    step = result[0] if result else None
    if step is not None:
        judge(step, 100.0, 1e9)
    out: dict[str, Any] = {
        "rate": rate,
        "seconds": seconds,
        "step": asdict(step) if step else None,
        "py_spy": spy_run.stderr.strip().splitlines()[-2:] if spy_run.stderr else [],
        "raw_file": str(raw),
    }
    if not raw.exists():
        out["error"] = f"py-spy wrote nothing: {spy_run.stderr[-500:]}"
        return out
    out.update(summarize_stacks(raw, top))
    return out


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frame_key(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame)
    if not m:
        return frame, ""
    return m["func"], m["file"]


def _is_python(key: tuple[str, str]) -> bool:
    return key[1].endswith(".py") or key[1].startswith("<")


def _area(file: str) -> str:
    if file.startswith("parley/"):
        parts = file.split("/")
        return (
            "/".join(parts[:3])
            if parts[1] in ("sip", "runtime", "services")
            else "/".join(parts[:2])
        )
    if file == "asyncio/runners.py":
        return "event loop itself (uvloop/libuv C code under Runner.run)"
    top = file.split("/")[0]
    return {"asyncio": "asyncio (stdlib)", "aiosqlite": "aiosqlite"}.get(
        top, "other stdlib / libraries"
    )


_GC = ("gc_collect_main", "gc_collect_with_callback", "gc_collect_generations")


def summarize_stacks(raw: Path, top: int) -> dict[str, Any]:
    """From py-spy's raw output (collapsed stacks, with --native C frames interleaved):
    self samples per innermost Python function and per leaf frame (C included), inclusive
    samples per Parley function, self samples per package area, and the share of samples
    inside the cyclic garbage collector."""
    py_self: Counter[tuple[str, str]] = Counter()
    leaf_self: Counter[tuple[str, str]] = Counter()
    incl: Counter[tuple[str, str]] = Counter()
    area: Counter[str] = Counter()
    gc = 0
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_key(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        leaf_self[frames[-1]] += count
        python = [f for f in frames if _is_python(f)]
        innermost = python[-1] if python else frames[-1]
        py_self[innermost] += count
        if any(f[0] in _GC for f in frames):
            gc += count
            area["CPython cyclic garbage collector"] += count
        else:
            area[_area(innermost[1])] += count
        for key in set(frames):
            if key[1].startswith("parley/"):
                incl[key] += count

    def rows(counter: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
        return [
            {"function": f, "file": file, "samples": n, "percent": round(100 * n / total, 1)}
            for (f, file), n in counter.most_common(top)
        ]

    return {
        "samples": total,
        "gc_percent": round(100 * gc / total, 1) if total else 0.0,
        "self_python": rows(py_self),
        "self_leaf": rows(leaf_self),
        "inclusive": rows(incl),
        "areas": [
            {"area": a, "samples": n, "percent": round(100 * n / total, 1)}
            for a, n in area.most_common()
        ]
        if total
        else [],
    }


def print_profile(profile: dict[str, Any]) -> None:
    print(
        f"\nProfile of Parley (py-spy, {profile.get('seconds')} s,"
        f" MESSAGE/UDP at {profile.get('rate')}/s)"
    )
    if "error" in profile:
        print("  " + profile["error"])
        return
    step = profile.get("step") or {}
    print(
        f"  {profile['samples']} samples; step: {step.get('successful')}/{step.get('planned')} ok,"
        f" server CPU {step.get('server_cpu', 0):.0f}%"
    )
    print(f"  in the cyclic garbage collector: {profile['gc_percent']}%")
    print_profile_tables(profile)


def print_profile_tables(profile: dict[str, Any]) -> None:
    """The tables of a py-spy summary: top functions three ways, then self time by area
    (presence_bench.py prints its profiles with this too)."""
    for title, key in (
        ("self time, innermost Python function", "self_python"),
        ("self time, leaf frame (C included)", "self_leaf"),
        ("inclusive time, Parley functions", "inclusive"),
    ):
        print(f"  top by {title}:")
        for row in profile[key]:
            print(f"    {row['percent']:5.1f}%  {row['function']}  ({row['file']})")
    print("  self time by area:")
    for row in profile["areas"]:
        print(f"    {row['percent']:5.1f}%  {row['area']}")


# -- main ------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    sipp_v = subprocess.run(
        [shutil.which("sipp") or "sipp", "-v"], capture_output=True, text=True, timeout=10
    )
    sipp_line = next((s.strip() for s in sipp_v.stdout.splitlines() if "SIPp" in s), "?")
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sipp": sipp_line,
        "loadavg_before": os.getloadavg(),
    }


def final_rate(ramp: Ramp, soaked: bool) -> int | None:
    """The figure reported: the soak-confirmed rate with --soak, else the ramp's."""
    return ramp.confirmed if soaked else ramp.sustained


def print_summary(ramps: list[Ramp], soaked: bool) -> list[dict[str, Any]]:
    by: dict[tuple[str, str], Ramp] = {(r.server, r.test): r for r in ramps}
    tests = list(dict.fromkeys(r.test for r in ramps))
    print(
        "\nSustained rate: highest step with every call answered, the rate reached, no"
        " retransmission storm, response time bounded"
        + ("; confirmed by a soak step on a fresh server" if soaked else " (ramp only, no soak)")
    )
    print(
        f"{'test':<16} {'server':<16} {'ramp':>8} {'1st fail':>9} {'soak':>8} {'CPU%':>6}"
        f" {'RSS MB':>7} {'PSS MB':>7} {'resp ms':>8} {'vs Kamailio':>12}  note"
    )
    summary = []
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for test in tests:
        for server in ("parley", "kamailio", "kamailio-noauth"):
            ramp = by.get((server, test))
            if ramp is None:
                continue
            rate = final_rate(ramp, soaked)
            # CPU and memory of the step that gave the figure (the soak step if there was one).
            best = next((s for s in ramp.soak if s.passed), None) if soaked else None
            best = best or next(
                (s for s in ramp.steps if s.passed and s.rate == ramp.sustained), None
            )
            kam = by.get(("kamailio", test))
            kam_rate = final_rate(kam, soaked) if kam else None
            ratio = None
            if server == "parley" and kam_rate and rate is not None:
                ratio = rate / kam_rate
            soak_text = ", ".join(f"{s.rate:,} {'pass' if s.passed else 'FAIL'}" for s in ramp.soak)
            row = {
                "test": test,
                "server": server,
                "sustained": rate,
                "ramp_sustained": ramp.sustained,
                "first_failure": ramp.first_failure,
                "soak": soak_text,
                "cpu_percent": round(best.server_cpu, 1) if best else None,
                "rss_mb": round(best.server_rss_mb, 1) if best else None,
                "pss_mb": round(best.server_pss_mb, 1) if best and best.server_pss_mb else None,
                "response_ms": round(best.response_ms, 2)
                if best and best.response_ms is not None
                else None,
                "uac_cpu": round(best.uac_cpu, 1) if best else None,
                "bob_cpu": round(best.bob_cpu, 1) if best and best.bob_cpu is not None else None,
                "ratio_to_kamailio": round(ratio, 3) if ratio is not None else None,
                "note": ramp.note,
            }
            summary.append(row)
            print(
                f"{test:<16} {server:<16} {fmt(ramp.sustained, ',d'):>8}"
                f" {fmt(ramp.first_failure, ',d'):>9} {fmt(rate if soaked else None, ',d'):>8}"
                f" {fmt(row['cpu_percent'], '.0f'):>6}"
                f" {fmt(row['rss_mb'], '.0f'):>7} {fmt(row['pss_mb'], '.0f'):>7}"
                f" {fmt(row['response_ms'], '.1f'):>8} {fmt(ratio, '.3f'):>12}"
                f"  {ramp.note}{' soak: ' + soak_text if soak_text else ''}"
            )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short steps, no refinement")
    parser.add_argument(
        "--server", action="append", choices=("parley", "kamailio"), help="repeatable; default both"
    )
    parser.add_argument(
        "--test",
        action="append",
        choices=ALL_TESTS,
        help=f"repeatable; default {', '.join(DEFAULT_TESTS)}",
    )
    parser.add_argument(
        "--step-seconds", type=float, default=None, help="seconds per step (4; 2 with --quick)"
    )
    parser.add_argument(
        "--start-rate",
        type=int,
        default=None,
        help="first step, calls/s (Parley 250 MESSAGE, 125 REGISTER; Kamailio 1000, 2000)",
    )
    parser.add_argument(
        "--max-rate", type=int, default=64000, help="stop doubling above this (64000)"
    )
    parser.add_argument(
        "--refine",
        type=int,
        default=None,
        help="bisection steps after the first failure (2; 0 with --quick)",
    )
    parser.add_argument(
        "--max-retrans-pct",
        type=float,
        default=1.0,
        help="retransmissions allowed, %% of calls (1)",
    )
    parser.add_argument(
        "--max-response-ms",
        type=float,
        default=200.0,
        help="highest mean response time of any second of a step (200)",
    )
    parser.add_argument(
        "--users", type=int, default=1000, help="accounts registered in turn by the REGISTER test"
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0,
        metavar="SECONDS",
        help="py-spy Parley under MESSAGE/UDP load",
    )
    parser.add_argument(
        "--profile-rate",
        type=int,
        default=None,
        help="calls/s while profiling (70%% of the sustained UDP rate)",
    )
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument(
        "--soak", type=float, default=None, metavar="SECONDS",
        help="confirm each ramp's figure on a fresh server for this long (34; 0 with --quick)",
    )  # fmt: skip
    parser.add_argument(
        "--soak-tries",
        type=int,
        default=3,
        help="soak steps per test, each at 2/3 of the rate before (3)",
    )
    parser.add_argument("--json", type=Path, help="write all results to this file")
    parser.add_argument(
        "--parley-gc-threshold", type=int, default=None, metavar="N",
        help="experiment: run Parley with gc.set_threshold(N, 10, 10) (default 700, 10, 10)",
    )  # fmt: skip
    parser.add_argument(
        "--parley-workers", type=int, default=1, metavar="N",
        help="run `parley serve --workers N` (1; Kamailio runs 2 UDP workers)",
    )  # fmt: skip
    parser.add_argument(
        "--tmpfs", action="store_true",
        help="work directory (so Parley's SQLite file) on /dev/shm: fsync costs nothing",
    )  # fmt: skip
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, SIPp files)"
    )
    arg_list = list(argv if argv is not None else sys.argv[1:])
    args = parser.parse_args(arg_list)
    args.step_seconds = args.step_seconds or (2.0 if args.quick else 4.0)
    args.soak = args.soak if args.soak is not None else (0.0 if args.quick else 34.0)
    args.refine = args.refine if args.refine is not None else (0 if args.quick else 2)
    servers = args.server or ["parley", "kamailio"]
    tests = args.test or list(DEFAULT_TESTS)
    for tool in ("sipp",) + (("kamailio",) if "kamailio" in servers else ()):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            print(f"load_bench: {tool} is not installed", file=sys.stderr)
            return 2

    info = machine_info()
    print(f"SIPp load benchmark  {info['date']}")
    print(
        f"{info['cpu_model']}, {info['cpus']} CPUs, Linux {info['kernel']},"
        f" Python {info['python']}, {info['sipp']}"
    )
    print(
        f"steps of {args.step_seconds:g} s, {args.refine} refinement steps, soak {args.soak:g} s,"
        " retransmissions allowed"
        f" {args.max_retrans_pct:g}%, response time allowed {args.max_response_ms:g} ms"
        " (mean of any second)"
    )
    print("CPU% is of one core (200% = both cores); SIPp (UAC and bob) runs on the same cores.\n")

    workdir = Path(tempfile.mkdtemp(prefix="parley-load-", dir="/dev/shm" if args.tmpfs else None))
    accounts = make_accounts(args.users)
    users_file = workdir / "sipp-users.csv"
    write_sipp_users(users_file, accounts)
    ramps: list[Ramp] = []
    servers_info: dict[str, Any] = {}
    profile: dict[str, Any] | None = None
    started = time.monotonic()
    try:
        # A fresh server (and data directory) for every test, so that no test inherits
        # another's backlog: transaction state kept for 32 s, stored messages, a grown heap.
        jobs: list[tuple[str, str]] = []
        for name in servers:
            for test in tests:
                if test == "register-noauth":
                    if name == "kamailio":
                        jobs.append(("kamailio-noauth", test))
                else:
                    jobs.append((name, test))
        if "parley" in servers and args.profile:
            jobs.append(("parley", "profile"))

        def make_server(name: str, workdir_of: Path) -> Server:
            workdir_of.mkdir(parents=True, exist_ok=True)
            if name == "parley":
                return ParleyServer(
                    workdir_of,
                    accounts,
                    gc_threshold=args.parley_gc_threshold,
                    workers=args.parley_workers,
                )
            return KamailioServer(workdir_of, accounts, auth=name == "kamailio")

        for name, test in jobs:
            server = make_server(name, workdir / f"{name}-{test}")
            try:
                server.start()
                servers_info.setdefault(server.name, server.info)
                print(
                    f"{server.name} {test}: {server.info.get('version')} on {HOST}:{server.port}"
                    + (f" ({server.info['event_loop']})" if "event_loop" in server.info else ""),
                    flush=True,
                )
                if test == "profile":
                    udp = next(
                        (r for r in ramps if r.server == "parley" and r.test == "message-udp"), None
                    )
                    base = (udp.confirmed or udp.sustained) if udp else None
                    rate = args.profile_rate or nice(0.7 * (base or 500))
                    profile = profile_parley(
                        server, rate, args.profile, server.workdir, args.profile_top
                    )
                    print_profile(profile)
                    continue
                try:
                    ramp = run_ramp(server, test, args, server.workdir, users_file)
                except RuntimeError as exc:
                    ramp = Ramp(server.name, test, note=str(exc))
                    print(f"  {server.name} {test}: {exc}")
                ramps.append(ramp)
            except RuntimeError as exc:
                print(f"  {name} {test}: {exc}")
                ramps.append(Ramp(name, test, note=str(exc)))
                continue
            finally:
                server.stop()
            # Soak: the ramp's figure for --soak seconds on a fresh server; on failure, the
            # next try is at two thirds of the rate (at most --soak-tries steps).
            rate = ramp.sustained
            for attempt in range(args.soak_tries if args.soak else 0):
                if not rate:
                    break
                server = make_server(name, workdir / f"{name}-{test}-soak{attempt}")
                try:
                    server.start()
                    step = run_soak(server, test, rate, args, server.workdir, users_file)
                except RuntimeError as exc:
                    print(f"  {name} {test} soak: {exc}")
                    break
                finally:
                    server.stop()
                ramp.soak.append(step)
                if step.passed:
                    ramp.confirmed = rate
                    break
                rate = nice(rate * 2 / 3)
        summary = print_summary(ramps, bool(args.soak))
        print(
            f"\ntotal time {time.monotonic() - started:.0f} s; work directory {workdir}"
            + ("" if args.keep else " (removed)")
        )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "machine": info,
                        "command": " ".join(["benchmarks/load_bench.py", *arg_list]),
                        "settings": {
                            "step_seconds": args.step_seconds, "refine": args.refine,
                            "soak_seconds": args.soak, "soak_tries": args.soak_tries,
                            "max_retrans_pct": args.max_retrans_pct, "users": args.users,
                            "max_response_ms": args.max_response_ms, "tmpfs": args.tmpfs,
                            "parley_gc_threshold": args.parley_gc_threshold,
                            "parley_workers": args.parley_workers,
                        },
                        "servers": servers_info,
                        "summary": summary,
                        "ramps": [
                            {**asdict(r), "steps": [asdict(s) for s in r.steps]} for r in ramps
                        ],
                        "profile": profile,
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
