"""``parley chat``: sign in, then run the chat window until Ctrl+Q."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from parley.apps.client_commands import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    CommandError,
    add_account_options,
    client_settings,
    password,
)

from .history import History, default_history_dir
from .session import SessionError, connect
from .status import OWN_STATUS_BY_KEY, OWN_STATUSES


def add_chat_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``chat`` to the ``parley`` command's ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "chat",
        help="terminal chat client: buddies, presence, chat tabs",
        description="Chat in the terminal: buddy list with live presence, friend requests, "
        "chat tabs with history, typing and delivery state. Ctrl+Q quits.",
    )
    add_account_options(parser, json_output=False)
    parser.add_argument(
        "--status",
        choices=[s.key for s in OWN_STATUSES],
        default="available",
        help="status to sign in with (default available)",
    )
    parser.add_argument("--note", default=None, help="note to sign in with")
    parser.add_argument(
        "--history-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"where conversations are kept (default {default_history_dir()})",
    )
    parser.add_argument(
        "--local-buddies",
        type=Path,
        default=None,
        metavar="FILE",
        help="keep the buddy list in FILE instead of the server's XCAP",
    )
    return parser


def run_chat(args: argparse.Namespace) -> int:
    """``parley chat``: the exit code (0 after a normal quit)."""
    try:
        return asyncio.run(chat(args))
    except CommandError as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return exc.code


async def chat(args: argparse.Namespace) -> int:
    from .app import ChatApp

    settings = client_settings(args)
    session = await connect(
        settings.account,
        password(settings.account),
        server=settings.server,
        transport=settings.transport,
        xcap=settings.xcap,
        buddies_file=args.local_buddies,
        tls_ca=settings.tls_ca,
    )
    status = OWN_STATUS_BY_KEY[args.status]
    try:
        try:
            await session.sign_in(status, args.note)
        except SessionError as exc:
            code = EXIT_FAILED
            if exc.status in (401, 403, 407):
                code = EXIT_AUTH
            elif exc.status in (408, 503):
                code = EXIT_UNREACHABLE
            raise CommandError(str(exc), code) from None
        history = History(args.history_dir or default_history_dir(), settings.account)
        await ChatApp(session, history, status=status, note=args.note).run_async()
    finally:
        await session.close()
    return EXIT_OK
