"""``parley login`` checks a password with the server and keeps it in the system keyring;
``parley logout`` forgets it. Other commands then need no prompt."""

from __future__ import annotations

import argparse
import json
import os

from parley.apps.client_commands import (
    EXIT_OK,
    CommandError,
    client_settings,
    verify_sign_in,
)
from parley.client.credentials import (
    ENVIRONMENT_VARIABLE,
    CredentialsError,
    ask_password,
    forget_password,
    store_password,
)


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    sub.add_parser(
        "login",
        parents=[parent],
        help="check your password and keep it in the system keyring",
        description=f"Asks for the password ({ENVIRONMENT_VARIABLE} if set), checks it "
        "with the server, and stores it in the system keyring.",
    )
    sub.add_parser("logout", parents=[parent], help="remove your password from the keyring")


async def login(args: argparse.Namespace) -> int:
    settings = client_settings(args)
    secret = os.environ.get(ENVIRONMENT_VARIABLE) or ask_password(settings.account)
    async with settings.sdk_account(secret) as account:
        await verify_sign_in(account)
    try:
        store_password(settings.account, secret)
    except CredentialsError as exc:
        raise CommandError(str(exc)) from None
    return _said(args, f"password of {settings.account} stored in the system keyring")


async def logout(args: argparse.Namespace) -> int:
    settings = client_settings(args)
    try:
        forgotten = forget_password(settings.account)
    except CredentialsError as exc:
        raise CommandError(str(exc)) from None
    if forgotten:
        return _said(args, f"password of {settings.account} removed from the system keyring")
    return _said(args, f"no stored password for {settings.account}")


def _said(args: argparse.Namespace, text: str) -> int:
    if args.json:
        print(json.dumps({"ok": True, "message": text}), flush=True)
    else:
        print(text, flush=True)
    return EXIT_OK
