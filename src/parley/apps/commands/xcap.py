"""``parley buddies list|add|remove`` (the buddy list kept on the server over XCAP) and
``parley requests [allow|block ADDRESS]`` (friend requests: the watchers waiting for our
consent, from watcher information, RFC 3857; answered in our pres-rules over XCAP)."""

from __future__ import annotations

import argparse
import json

from parley.apps.client_commands import (
    EXIT_AUTH,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CommandError,
    client_settings,
    password,
    verify_sign_in,
)
from parley.client.presence import WatcherChange
from parley.client.xcap import XcapClient, aor_of

#: How long ``parley requests`` waits for the first watcher-info NOTIFY.
WINFO_WAIT = 15.0


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    buddies = sub.add_parser(
        "buddies",
        parents=[parent],
        help="your buddy list on the server (XCAP)",
        description="list; add ADDRESS [--name NAME]; remove ADDRESS. Adding someone also "
        "lets them see your presence.",
    )
    buddies.add_argument(
        "action", choices=("list", "add", "remove"), nargs="?", default="list",
        help="list (the default), add or remove",
    )  # fmt: skip
    buddies.add_argument("address", nargs="?", default=None, help="user@domain")
    buddies.add_argument("--name", default=None, help="display name (add)")
    requests = sub.add_parser(
        "requests",
        parents=[parent],
        help="pending friend requests; allow or block one",
        description="Without arguments: who asks to see your presence. allow ADDRESS lets "
        "them; block ADDRESS politely refuses (they see you offline, and are not told).",
    )
    requests.add_argument("action", choices=("list", "allow", "block"), nargs="?", default="list")
    requests.add_argument("address", nargs="?", default=None, help="user@domain")


def _xcap(args: argparse.Namespace) -> XcapClient:
    settings = client_settings(args)
    return XcapClient(settings.account, password(settings.account), base_url=settings.xcap)


def _address(args: argparse.Namespace) -> str:
    if args.action == "list":
        if args.address is not None:
            raise CommandError(f"{args.command} list takes no address", EXIT_USAGE)
        return ""
    if not args.address:
        raise CommandError(f"{args.command} {args.action} needs an ADDRESS", EXIT_USAGE)
    return aor_of(args.address.strip())


def _done(args: argparse.Namespace, text: str, **fields: object) -> int:
    if args.json:
        print(json.dumps({"ok": True, **fields}), flush=True)
    else:
        print(text, flush=True)
    return EXIT_OK


async def buddies(args: argparse.Namespace) -> int:
    """``parley buddies list|add|remove``."""
    address = _address(args)
    async with _xcap(args) as xcap:
        if args.action == "add":
            await xcap.add_buddy(address, args.name)
            return _done(args, f"added {address}", action="add", address=address)
        if args.action == "remove":
            await xcap.remove_buddy(address)
            return _done(args, f"removed {address}", action="remove", address=address)
        found = await xcap.buddies()
    if args.json:
        listed = [{"uri": b.uri, "address": b.aor, "name": b.name} for b in found]
        print(json.dumps({"ok": True, "buddies": listed}), flush=True)
    elif not found:
        print("no buddies yet: parley buddies add user@domain", flush=True)
    for buddy in [] if args.json else found:
        print(f"{buddy.aor}  {buddy.name}" if buddy.name else buddy.aor, flush=True)
    return EXIT_OK


async def requests(args: argparse.Namespace) -> int:
    """``parley requests``, ``parley requests allow|block ADDRESS``."""
    address = _address(args)
    if args.action == "allow":
        async with _xcap(args) as xcap:
            await xcap.allow(address)
        return _done(args, f"allowed {address} to see your presence", action="allow",
                     address=address)  # fmt: skip
    if args.action == "block":
        async with _xcap(args) as xcap:
            await xcap.block(address)
        return _done(args, f"blocked {address} (they see you offline)", action="block",
                     address=address)  # fmt: skip
    info = await _watcher_info(args)
    pending = [aor_of(uri) for uri in info.requests]
    if args.json:
        watchers = [{"address": aor_of(w.uri), "status": w.status} for w in info.watchers]
        print(json.dumps({"ok": True, "requests": pending, "watchers": watchers}), flush=True)
    elif not pending:
        print("no pending friend requests", flush=True)
    for who in [] if args.json else pending:
        print(who, flush=True)
    return EXIT_OK


async def _watcher_info(args: argparse.Namespace) -> WatcherChange:
    """The first watcher-info NOTIFY of our own presence (RFC 3857): full state."""
    settings = client_settings(args)
    account = settings.sdk_account(password(settings.account))
    async with account:
        await verify_sign_in(account)
        watch = account.watchers()
        try:
            info = await watch.next(timeout=WINFO_WAIT)
        except TimeoutError:
            raise CommandError(
                f"no watcher information from {settings.server[0]}:{settings.server[1]}",
                EXIT_UNREACHABLE,
            ) from None
        except StopAsyncIteration:
            info = WatcherChange((), "terminated")
        if info.state == "terminated":
            status = watch.status
            if status in (401, 403, 407):
                raise CommandError(
                    f"sign-in refused: wrong password for {account.aor} (or no such account)",
                    EXIT_AUTH,
                )
            if status in (408, 503):
                raise CommandError(f"server unreachable: {status}", EXIT_UNREACHABLE)
            raise CommandError(f"no watcher information: refused ({status or info.reason})")
        return info
