"""Shared by the examples: account options from the command line and PARLEY_PASSWORD."""

from __future__ import annotations

import argparse
import getpass
import os

from parley.client import Account


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--account", required=True, help="your address, user@domain")
    p.add_argument("--server", default="127.0.0.1:5060", help="HOST:PORT of the server")
    p.add_argument("--transport", choices=("udp", "tcp", "tls"), default="udp")
    return p


def account(args: argparse.Namespace) -> Account:
    """An Account for ``--account`` at ``--server``; the password from PARLEY_PASSWORD or
    a prompt."""
    password = os.environ.get("PARLEY_PASSWORD") or getpass.getpass("Password: ")
    host, _, port = args.server.rpartition(":")
    return Account(
        args.account, password, server=(host.strip("[]"), int(port)), transport=args.transport
    )
