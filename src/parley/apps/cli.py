"""The ``parley`` command: ``serve``, ``user`` to manage accounts, ``status`` of a server;
and as a user: ``send``, ``watch``, ``status WORD``, ``buddies``, ``requests``, ``login``
(:mod:`parley.apps.client_commands`, :mod:`parley.apps.commands`)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from parley.apps import client_commands, commands
from parley.apps.client_commands import add_account_options
from parley.apps.commands import login, xcap
from parley.apps.commands import presence as presence_commands
from parley.apps.config import ConfigError, ServerConfig, build_config, load_file
from parley.apps.tui.command import add_chat_parser, run_chat

T = TypeVar("T")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML file with the same keys as the flags")
    parser.add_argument("--data-dir", default=None, help="where data lives (default parley-data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="SIP presence and messaging")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _add_common(serve)
    serve.add_argument(
        "--domain", action="append", default=[], help="a domain we serve (repeatable)"
    )
    serve.add_argument(
        "--listen", action="append", default=[], metavar="TRANSPORT:HOST:PORT",
        help="udp|tcp|tls|ws listener (repeatable); when any --listen or --http is given, "
        "only what is given is opened",
    )  # fmt: skip
    serve.add_argument("--http", default=None, metavar="HOST:PORT", help="HTTP listener")
    serve.add_argument(
        "--route", action="append", default=[], metavar="DOMAIN=HOST:PORT[;transport=tcp]",
        help="static next hop for a foreign domain (repeatable)",
    )  # fmt: skip
    serve.add_argument("--digest-algorithms", default=None, help="e.g. SHA-256,MD5")
    serve.add_argument("--trace", action="store_true", help="print every SIP message on the wire")
    serve.add_argument(
        "--presence-policy", choices=("ask", "open"), default=None,
        help="ask: watchers need the presentity's consent (default); open: anyone may watch",
    )  # fmt: skip
    serve.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="processes (default 1); the ones beyond the first relay MESSAGEs over UDP",
    )  # fmt: skip
    serve.add_argument(
        "--notifier-202", action="store_true",
        help="answer SUBSCRIBE with 202 Accepted as RFC 3265 notifiers did (default 200)",
    )  # fmt: skip

    status = sub.add_parser(
        "status",
        help='publish your status (status away "in a meeting"); without WORD: '
        "registrations and stored messages of a server",
    )
    _add_common(status)
    status.add_argument("--json", action="store_true", help="one JSON object")
    presence_commands.add_status_arguments(status)
    add_account_options(status, json_output=False)

    sender = sub.add_parser("send", help="send an instant message")
    add_account_options(sender)
    sender.add_argument("to", help="recipient, user@domain")
    sender.add_argument("text", help="the message")
    commands.add_parsers(sub)
    add_chat_parser(sub)  # the terminal chat client (Textual, imported when it runs)

    user = sub.add_parser("user", help="manage accounts (works while the server runs)")
    user_sub = user.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("add", "create an account"),
        ("passwd", "change a password"),
        ("delete", "delete an account"),
    ):
        action = user_sub.add_parser(name, help=help_text)
        _add_common(action)
        action.add_argument("aor", help="user@domain")
        if name != "delete":
            action.add_argument("--password", help="(default: PARLEY_PASSWORD, else a prompt)")
    listing = user_sub.add_parser("list", help="list accounts")
    _add_common(listing)
    listing.add_argument("--domain", default=None)
    importing = user_sub.add_parser("import", help="create accounts from a CSV of aor,password")
    _add_common(importing)
    importing.add_argument("file", type=Path)
    return parser


def server_config(args: argparse.Namespace) -> ServerConfig:
    file_values = load_file(args.config) if args.config else {}
    flags: dict[str, Any] = {"data-dir": args.data_dir}
    if args.command == "serve":
        flags.update(
            {
                "domain": args.domain,
                "listen": args.listen,
                "http": args.http,
                "route": args.route,
                "digest-algorithms": args.digest_algorithms,
                "trace": args.trace,
                "presence-policy": args.presence_policy,
                "notifier-202": args.notifier_202,
                "workers": args.workers,
            }
        )
    return build_config(file_values, flags)


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run on uvloop when it is installed, plain asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(factory())
    result: T = uvloop.run(factory())
    return result


def _password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    from_env = os.environ.get("PARLEY_PASSWORD")
    if from_env:
        return from_env
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the passwords differ")
    return first


async def _user_command(args: argparse.Namespace, config: ServerConfig) -> int:
    from parley.apps import users
    from parley.services.storage.sqlite import SqliteStorage

    config.data_dir.mkdir(parents=True, exist_ok=True)
    async with SqliteStorage(config.database) as storage:
        if args.action == "add":
            await users.add_user(storage, args.aor, _password(args))
            print(f"added {args.aor}")
        elif args.action == "passwd":
            await users.set_password(storage, args.aor, _password(args))
            print(f"password of {args.aor} changed")
        elif args.action == "delete":
            await users.delete_user(storage, args.aor)
            print(f"deleted {args.aor}")
        elif args.action == "list":
            for account in await users.list_users(storage, args.domain):
                print(account.aor)
        elif args.action == "import":
            count = await users.import_users(storage, args.file)
            print(f"imported {count} accounts")
    return 0


async def _status_command(args: argparse.Namespace, config: ServerConfig) -> int:
    import json
    import time

    from parley.services.storage.sqlite import SqliteStorage

    if not config.database.exists():
        print(f"parley: no data in {config.data_dir}", file=sys.stderr)
        return 1
    async with SqliteStorage(config.database) as storage:
        now = time.time()
        bindings = await storage.all_bindings(now)
        accounts = await storage.list_accounts()
        stored = await storage.count_messages()
        subscriptions = await storage.load_subscriptions(now)
    if args.json:
        print(
            json.dumps(
                {
                    "accounts": len(accounts),
                    "registrations": [
                        {"aor": b.aor, "contact": b.contact, "expires": int(b.expires_at - now)}
                        for b in bindings
                    ],
                    "subscriptions": [
                        {
                            "watcher": r.watcher,
                            "presentity": r.presentity,
                            "event": r.event,
                            "expires": int(r.expires_at - now),
                        }
                        for r in subscriptions
                    ],
                    "stored_messages": stored,
                }
            )
        )
        return 0
    print(f"accounts: {len(accounts)}")
    print(f"registrations: {len(bindings)}")
    for b in bindings:
        via = f" via {b.flow}" if b.flow else ""
        print(f"  {b.aor}  {b.contact}  expires in {int(b.expires_at - now)} s{via}")
    print(f"subscriptions: {len(subscriptions)}")
    for r in subscriptions:
        print(
            f"  {r.watcher} -> {r.presentity} ({r.event}), expires in {int(r.expires_at - now)} s"
        )
    print(f"stored messages: {stored}")
    return 0


def _client_command(args: argparse.Namespace) -> commands.Command | None:
    """The coroutine function of a command that acts as a user, or None."""
    if args.command == "status":
        return presence_commands.publish_status if args.word is not None else None
    table: dict[str, commands.Command] = {
        "send": client_commands.send,
        "watch": presence_commands.watch,
        "buddies": xcap.buddies,
        "requests": xcap.requests,
        "login": login.login,
        "logout": login.logout,
    }
    return table.get(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "chat":
            return run_chat(args)  # runs its own event loop, Textual's
        client_command = _client_command(args)
        if client_command is not None:
            return run_async(lambda: commands.run(args, client_command))
        config = server_config(args)
        if args.command == "serve":
            import gc

            from parley.apps.server import serve

            # While starting (restoring state makes many objects); once serving, cycles are
            # collected on a timer instead (parley.apps.collector).
            gc.set_threshold(100_000, 50, 100)
            run_async(lambda: serve(config))
            return 0
        if args.command == "user":
            return run_async(lambda: _user_command(args, config))
        if args.command == "status":
            return run_async(lambda: _status_command(args, config))
    except KeyboardInterrupt:
        return 130
    except (ConfigError, ValueError, LookupError) as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
