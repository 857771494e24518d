"""The ``parley`` commands that act as a user: ``watch``, ``status WORD``, ``buddies``,
``requests``, ``login``/``logout`` (``send`` is :mod:`parley.apps.client_commands`).

Each module adds its parsers (:func:`add_parsers`) and runs its commands; :func:`run`
turns what can go wrong into one line on stderr (and, with ``--json``, an object on
stdout) and the exit codes of :mod:`parley.apps.client_commands`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable

from parley.apps.client_commands import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    CommandError,
    add_account_options,
)
from parley.apps.commands import login, presence, xcap
from parley.client.credentials import CredentialsError
from parley.client.xcap import XcapAuthError, XcapError, XcapUnreachable

Command = Callable[[argparse.Namespace], Awaitable[int]]


def account_parent() -> argparse.ArgumentParser:
    """A parent parser with the account options, for ``parents=[...]``."""
    parent = argparse.ArgumentParser(add_help=False)
    add_account_options(parent)
    return parent


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``watch``, ``buddies``, ``requests``, ``login`` and ``logout`` to ``sub``
    (``status WORD`` shares the server's ``status`` parser: see
    :func:`parley.apps.commands.presence.add_status_arguments`)."""
    parent = account_parent()
    presence.add_watch_parser(sub, parent)
    xcap.add_parsers(sub, parent)
    login.add_parsers(sub, parent)


async def run(args: argparse.Namespace, command: Command) -> int:
    """Run ``command``; failures become a message and an exit code."""
    try:
        return await command(args)
    except CommandError as exc:
        return fail(args, str(exc), exc.code)
    except CredentialsError as exc:
        return fail(args, str(exc), EXIT_AUTH)
    except XcapAuthError as exc:
        return fail(args, str(exc), EXIT_AUTH)
    except XcapUnreachable as exc:
        return fail(args, str(exc), EXIT_UNREACHABLE)
    except XcapError as exc:
        return fail(args, str(exc), EXIT_FAILED)


def fail(args: argparse.Namespace, message: str, code: int) -> int:
    print(f"parley: {message}", file=sys.stderr, flush=True)
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": message, "exit": code}), flush=True)
    return code
