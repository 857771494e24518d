"""The client side of the ``parley`` command: act as a user (``send`` today)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from parley.client import Account

EXIT_OK = 0
EXIT_FAILED = 1  # the server or the recipient refused
EXIT_UNREACHABLE = 3  # no answer from the server
EXIT_AUTH = 4  # wrong password or unknown account


def add_account_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", required=True, help="your address, user@domain")
    parser.add_argument(
        "--server", default=None, help="HOST:PORT (default: the account's domain:5060)"
    )
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def password() -> str:
    """PARLEY_PASSWORD, else a prompt (never echoed)."""
    from_env = os.environ.get("PARLEY_PASSWORD")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise ValueError("no password: set PARLEY_PASSWORD or run in a terminal")
    return getpass.getpass("Password: ")


def account_from(args: argparse.Namespace) -> Account:
    domain = args.account.partition("@")[2]
    server = args.server or f"{domain}:5060"
    host, sep, port = server.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--server {server!r}: expected HOST:PORT")
    return Account(
        args.account, password(), server=(host.strip("[]"), int(port)), transport=args.transport
    )


def report(args: argparse.Namespace, ok: bool, fields: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps({"ok": ok, **fields}))
    else:
        print(text, file=sys.stdout if ok else sys.stderr)


async def send(args: argparse.Namespace) -> int:
    """``parley send bob@example.com "hello"``: exit 0 once delivered or stored."""
    async with account_from(args) as account:
        registered = await account.register()
        status = {"status": registered.status, "reason": registered.reason}
        said = f"{registered.status} {registered.reason}"
        if registered.status in (401, 403, 407):
            report(args, False, status, f"parley: sign-in refused (wrong password?): {said}")
            return EXIT_AUTH
        if registered.status in (408, 503):
            report(args, False, status, f"parley: server unreachable: {said}")
            return EXIT_UNREACHABLE
        result = await account.send_message(args.to, args.text)
        await account.unregister()
    fields = {"status": result.status, "reason": result.reason, "to": args.to}
    if result.delivered:
        report(args, True, {**fields, "outcome": "delivered"}, f"delivered to {args.to}")
        return EXIT_OK
    if result.stored:
        text = f"{args.to} is offline: stored for delivery"
        report(args, True, {**fields, "outcome": "stored"}, text)
        return EXIT_OK
    if result.status == 404:
        text = f"parley: no such user: {args.to}"
    elif result.status in (408, 503):
        text = f"parley: could not reach {args.to}: {result.status} {result.reason}"
        report(args, False, {**fields, "outcome": "failed"}, text)
        return EXIT_UNREACHABLE
    else:
        text = f"parley: not delivered: {result.status} {result.reason}"
    report(args, False, {**fields, "outcome": "failed"}, text)
    return EXIT_FAILED
