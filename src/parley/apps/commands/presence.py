"""``parley watch`` (follow people's presence) and ``parley status WORD [NOTE]`` (publish
one's own).

``watch`` prints one line per presence change, ``bob@example.com open away in a meeting``
(the address, ``open`` or ``closed``, then RPID activities and the note when present;
``pending`` while bob has not accepted us), or one JSON object per line with ``--json``,
until Ctrl-C or ``--count`` lines. ``status`` publishes (RFC 3903) and keeps the
publication refreshed until Ctrl-C, which withdraws it; ``--once`` publishes and exits,
leaving the status in place until its Expires runs out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from parley.apps.client_commands import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CommandError,
    check_sign_in,
    client_settings,
    password,
    verify_sign_in,
)
from parley.client import Account
from parley.client.presence import PresenceChange, Watch
from parley.client.xcap import aor_of
from parley.payloads import pidf, rpid

#: Words of ``parley status`` that are not RPID activities: basic status only.
OPEN_WORDS = frozenset({"open", "available", "online"})
CLOSED_WORDS = frozenset({"closed", "offline", "invisible"})
DEFAULT_EXPIRES = 3600


def add_watch_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    watch = sub.add_parser(
        "watch",
        parents=[parent],
        help="print each presence change of people",
        description="One line per presence change: address, open/closed, activity, note "
        "('pending' until they accept you). Runs until Ctrl-C.",
    )
    watch.add_argument("targets", nargs="+", metavar="ADDRESS", help="user@domain to watch")
    watch.add_argument("--count", type=int, default=None, metavar="N", help="exit after N changes")


def add_status_arguments(status: argparse.ArgumentParser) -> None:
    """``parley status WORD [NOTE]`` arguments, on the parser of the server's ``status``
    summary (no WORD): the positional word tells them apart."""
    words = ", ".join(sorted(OPEN_WORDS | CLOSED_WORDS | {"away", "busy", "on-the-phone"}))
    status.add_argument(
        "word", nargs="?", default=None, metavar="WORD",
        help=f"publish your status: {words}, or any RPID activity (meeting, lunch...). "
        "Without WORD: the server's registrations and stored messages",
    )  # fmt: skip
    status.add_argument("note", nargs="?", default=None, metavar="NOTE", help="free text")
    status.add_argument(
        "--once", action="store_true",
        help="publish and exit: the status stays until its --expires runs out "
        "(default: keep it refreshed until Ctrl-C, then withdraw it)",
    )  # fmt: skip
    status.add_argument(
        "--expires", type=int, default=DEFAULT_EXPIRES, metavar="SECONDS",
        help=f"lifetime of the publication (default {DEFAULT_EXPIRES})",
    )  # fmt: skip


def status_of(word: str) -> tuple[bool, str | None]:
    """``(open, activity)`` for a ``parley status`` word."""
    value = word.strip().lower()
    if value in OPEN_WORDS:
        return True, None
    if value in CLOSED_WORDS:
        return False, None
    if value == "lunch":
        value = "meal"
    if value not in rpid.ACTIVITIES:
        known = ", ".join(sorted(OPEN_WORDS | CLOSED_WORDS | rpid.ACTIVITIES))
        raise CommandError(f"unknown status {word!r}: one of {known}", EXIT_USAGE)
    return True, value


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM set ``stop`` instead of raising, so the command can
    unsubscribe and unpublish before it exits."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(number, stop.set)
            installed.append(number)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals here: Ctrl-C raises as usual
    try:
        yield
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


def _account(args: argparse.Namespace) -> Account:
    settings = client_settings(args)
    return settings.sdk_account(password(settings.account))


# -- parley watch ------------------------------------------------------------------------------


def change_line(change: PresenceChange) -> str:
    words = [change.aor, change.basic or change.state]
    words += change.activities
    if change.note:
        words.append(change.note)
    return " ".join(words)


def change_json(change: PresenceChange) -> dict[str, Any]:
    return {
        "aor": change.aor,
        "basic": change.basic,
        "activities": list(change.activities),
        "note": change.note,
        "contact": change.contact,
        "state": change.state,
    }


def _refusal(target: str, status: int | None, reason: str | None) -> CommandError:
    if status in (401, 407):
        return CommandError("sign-in refused: wrong password (or no such account)", EXIT_AUTH)
    if status in (408, 503):
        return CommandError(f"server unreachable: {status}", EXIT_UNREACHABLE)
    if status == 404:
        return CommandError(f"no such user: {target}")
    if status is not None and status >= 300:
        return CommandError(f"cannot watch {target}: refused ({status})")
    return CommandError(f"{target}: the subscription ended ({reason or 'no reason'})")


async def watch(args: argparse.Namespace) -> int:
    """``parley watch bob@example.com [...]``."""
    if args.count is not None and args.count < 1:
        raise CommandError("--count must be at least 1", EXIT_USAGE)
    targets = [aor_of(target.strip()) for target in args.targets]
    stop = asyncio.Event()
    async with _account(args) as account:
        # The SDK keeps retrying a SUBSCRIBE the server does not answer (it may be
        # restarting); a command should rather say at once that it cannot sign in.
        await verify_sign_in(account)
        changes: asyncio.Queue[tuple[Watch[PresenceChange], PresenceChange | None]]
        changes = asyncio.Queue()

        async def follow(watch: Watch[PresenceChange]) -> None:
            async for change in watch:
                await changes.put((watch, change))
            await changes.put((watch, None))

        watches = [account.watch(target) for target in targets]
        tasks = [asyncio.create_task(follow(w)) for w in watches]
        try:
            with stop_on_signals(stop):
                return await _print_changes(args, watches, changes, stop)
        finally:
            for task in tasks:
                task.cancel()


async def _print_changes(
    args: argparse.Namespace,
    watches: list[Watch[PresenceChange]],
    changes: asyncio.Queue[tuple[Watch[PresenceChange], PresenceChange | None]],
    stop: asyncio.Event,
) -> int:
    printed = 0
    running = len(watches)
    code = EXIT_OK
    last: dict[str, str] = {}
    stopped = asyncio.create_task(stop.wait())
    try:
        while running:
            next_change = asyncio.create_task(changes.get())
            await asyncio.wait({next_change, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not next_change.done():
                next_change.cancel()
                break
            watch, change = next_change.result()
            if change is None:
                running -= 1
                continue
            if change.state == "terminated":
                error = _refusal(watch.target, watch.status, change.reason)
                if error.code in (EXIT_AUTH, EXIT_UNREACHABLE):
                    raise error
                print(f"parley: {error}", file=sys.stderr, flush=True)
                code = EXIT_FAILED
                continue
            line = change_line(change)
            if last.get(change.aor) == line:
                continue  # a refresh's NOTIFY: nothing changed
            last[change.aor] = line
            if args.json:
                print(json.dumps(change_json(change)), flush=True)
            else:
                print(line, flush=True)
            printed += 1
            if args.count is not None and printed >= args.count:
                break
    finally:
        stopped.cancel()
    return code


# -- parley status WORD [NOTE] -------------------------------------------------------------


def _granted(header: str | None, asked: int) -> int:
    """The lifetime the server granted (RFC 3903 §6 step 5: it may shorten it)."""
    value = (header or "").strip()
    return int(value) if value.isdigit() else asked


async def publish_status(args: argparse.Namespace) -> int:
    """``parley status away "in a meeting"``."""
    is_open, activity = status_of(args.word)
    activities = [activity] if activity else []
    stop = asyncio.Event()
    async with _account(args) as account:
        if args.once:
            # A plain PUBLISH: the SDK's publication would be withdrawn when we close.
            response = await account.request(
                "PUBLISH",
                f"sip:{account.aor}",
                headers=[("Event", "presence"), ("Expires", str(args.expires))],
                body=account.presence.status_document(is_open, activities, args.note),
                content_type=pidf.CONTENT_TYPE,
            )
        else:
            response = await account.publish_status(
                is_open, activity, args.note, expires=args.expires
            )
        check_sign_in(account, response)
        if not 200 <= response.status < 300:
            raise CommandError(f"status refused: {response.status} {response.reason}")
        basic = "open" if is_open else "closed"
        fields = {
            "ok": True,
            "basic": basic,
            "activity": activity,
            "note": args.note,
            "expires": _granted(response.headers.get("Expires"), args.expires),
            "once": args.once,
        }
        shown = " ".join(w for w in (basic, activity, args.note) if w)
        if args.json:
            print(json.dumps(fields), flush=True)
        elif args.once:
            print(f"published: {shown} (for {args.expires} s)", flush=True)
        else:
            print(f"published: {shown} (until Ctrl-C)", flush=True)
        if not args.once:
            with stop_on_signals(stop):
                await stop.wait()
    return EXIT_OK
