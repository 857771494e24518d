"""CPU per relayed MESSAGE inside one Parley process, without sockets or SIPp.

A server is started as ``parley serve`` starts it (SQLite in a temporary directory, UDP
listener on 127.0.0.1), bob gets a UDP binding, and then, for each round, MESSAGEs from a
foreign sender (no challenge, as in load_bench.py) are fed to the endpoint as if they had
been read from the socket; what the server sends is captured instead of written, and the
forwarded request is answered 200 the same way. So one relay = request in, forward out,
200 in, 200 out, all of Parley's own work except the two recvfrom and two sendto calls.

    python benchmarks/relay_bench.py                 # 5 rounds of 20,000 relays
    python benchmarks/relay_bench.py --profile out   # cProfile of the last round to out.pstats

Figures are microseconds of wall time per relay on an otherwise idle loop (best round);
compare runs of the same machine only (docs/benchmarks.md section 5).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import sys
import tempfile
import time
from pathlib import Path

from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.apps.users import add_user
from parley.services.storage import Binding
from parley.sip.transport.address import Peer

DOMAIN = "example.com"
BOB = Peer("udp", "127.0.0.1", 40000)
ALICE = Peer("udp", "127.0.0.1", 40001)


def message(n: int, port: int) -> bytes:
    body = b"Hello, this is a benchmark message."
    return (
        f"MESSAGE sip:bob@{DOMAIN} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{ALICE.port};branch=z9hG4bK-bench-{n};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:alice@elsewhere.test>;tag=a{n}\r\n"
        f"To: <sip:bob@{DOMAIN}>\r\n"
        f"Call-ID: bench-{n}@127.0.0.1\r\n"
        "CSeq: 1 MESSAGE\r\n"
        "Content-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def ok_for(request: bytes) -> bytes:
    """bob's 200 OK: the request's Via, From, To (with a tag), Call-ID and CSeq."""
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    keep = [
        line
        for line in head
        if line.split(b":", 1)[0].lower() in (b"via", b"from", b"call-id", b"cseq")
    ]
    to = next(line for line in head if line.lower().startswith(b"to:"))
    return b"\r\n".join(
        [b"SIP/2.0 200 OK", *keep, to + b";tag=bob", b"Content-Length: 0", b"", b""]
    )


async def setup(workdir: Path) -> Server:
    config = build_config(
        {},
        {"domain": [DOMAIN], "listen": ["udp:127.0.0.1:0"], "data-dir": str(workdir / "data")},
    )
    server = await start_server(config)
    await add_user(server.storage, f"bob@{DOMAIN}", "bob-password")
    await server.storage.put_binding(
        Binding(
            aor=f"bob@{DOMAIN}",
            contact=f"sip:bob@{BOB.host}:{BOB.port}",
            expires_at=time.time() + 3600,
            source=f"udp:{BOB.host}:{BOB.port}",
        )
    )
    return server


async def relay_round(server: Server, start: int, count: int) -> float:
    endpoint = server.endpoint
    listener = server.listeners[0]
    sent: list[tuple[bytes, Peer]] = []

    def capture(data: bytes, peer: Peer, *, local: object = None) -> Peer:
        sent.append((data, peer))
        return peer

    endpoint.transports.send_nowait = capture  # type: ignore[method-assign]
    deliver = endpoint._on_message
    began = time.perf_counter()
    for n in range(start, start + count):
        deliver(message(n, listener.port), ALICE, listener)
        await asyncio.sleep(0)  # the proxy's handler is a task
        for data, peer in sent:
            if peer == BOB and data.startswith(b"MESSAGE"):
                deliver(ok_for(data), BOB, listener)
        sent.clear()
    return (time.perf_counter() - began) / count * 1e6


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = await setup(Path(tmp))
        try:
            await relay_round(server, 0, 2000)  # warm-up: caches, first allocations
            gc.collect()
            gc.freeze()
            results = []
            for round_number in range(args.rounds):
                start = (round_number + 1) * args.count
                if args.profile and round_number == args.rounds - 1:
                    profiler = cProfile.Profile()
                    profiler.enable()
                    us = await relay_round(server, start, args.count)
                    profiler.disable()
                    profiler.dump_stats(f"{args.profile}.pstats")
                else:
                    us = await relay_round(server, start, args.count)
                results.append(us)
                print(f"round {round_number + 1}: {us:6.1f} us per relay", flush=True)
            print(f"best: {min(results):.1f} us per relay ({1e6 / min(results):,.0f} relays/s)")
        finally:
            await server.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=20_000, help="relays per round")
    parser.add_argument("--profile", metavar="PREFIX", help="cProfile the last round")
    return parser.parse_args(argv)


if __name__ == "__main__":
    gc.set_threshold(100_000, 50, 100)  # as `parley serve`
    args = parse_args(sys.argv[1:])
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args))
    else:
        uvloop.run(main(args))
