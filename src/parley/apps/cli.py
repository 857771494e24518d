"""The ``parley`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from parley.runtime.transports import ListenSpec

TRANSPORTS = ("udp", "tcp", "tls", "ws")


def parse_listen(text: str) -> ListenSpec:
    """``udp:HOST:PORT`` (IPv6 hosts in brackets: ``tcp:[::1]:5060``)."""
    transport, sep, rest = text.partition(":")
    if not sep or transport not in TRANSPORTS:
        raise argparse.ArgumentTypeError(f"expected TRANSPORT:HOST:PORT with one of {TRANSPORTS}")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected TRANSPORT:HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return ListenSpec(transport, host, int(port))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="SIP presence and messaging")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument(
        "--listen",
        action="append",
        type=parse_listen,
        default=[],
        metavar="TRANSPORT:HOST:PORT",
        help="listen there (repeatable); when given, only what is given is opened",
    )
    serve.add_argument("--data-dir", type=Path, default=Path("parley-data"))
    serve.add_argument(
        "--trace", action="store_true", help="print every SIP message sent and received"
    )
    return parser


def run_async(coro: object) -> None:
    """Run on uvloop when it is installed, plain asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]
    else:
        uvloop.run(coro)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "serve":
        from parley.apps.server import ServerConfig, serve

        config = ServerConfig(listen=args.listen, data_dir=args.data_dir, trace=args.trace)
        try:
            run_async(serve(config))
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            print(f"parley: {exc}", file=sys.stderr)
            return 1
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
