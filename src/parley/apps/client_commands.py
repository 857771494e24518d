"""The client side of the ``parley`` command: who we are (account options, the client
config file, the password) and ``parley send``. The other client commands live in
:mod:`parley.apps.commands`.

Settings come from flags, else from the client config file (``--client-config FILE``, or
``$XDG_CONFIG_HOME/parley/client.toml``, by default ``~/.config/parley/client.toml``)::

    account = "alice@example.com"
    server = "sip.example.com:5060"
    transport = "tcp"
    xcap = "http://sip.example.com:8080/xcap-root"

The password comes from ``PARLEY_PASSWORD``, the system keyring (``parley login``), or a
prompt, and is never echoed (:mod:`parley.client.credentials`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.client import Account
from parley.client.credentials import find_password
from parley.sip.syntax import Response

EXIT_OK = 0
EXIT_FAILED = 1  # the server or the recipient refused
EXIT_USAGE = 2  # bad flags or settings
EXIT_UNREACHABLE = 3  # no answer from the server
EXIT_AUTH = 4  # wrong password or unknown account

TRANSPORTS = ("udp", "tcp", "tls")  # the SDK has no WebSocket client transport
SETTINGS = ("account", "server", "transport", "xcap", "tls-ca")
#: The XCAP root's port and path on a Parley server (``parley serve``'s HTTP default).
DEFAULT_XCAP_PORT = 8080
XCAP_PATH = "/xcap-root"


class CommandError(Exception):
    """A client command failed: one line for stderr, and the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def add_account_options(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    """Who we are and where our server is; every value may come from the config file."""
    group = parser.add_argument_group("account (flags override the client config file)")
    group.add_argument("--account", default=None, help="your address, user@domain")
    group.add_argument(
        "--server", default=None, help="HOST:PORT (default: the account's domain:5060)"
    )
    group.add_argument("--transport", choices=TRANSPORTS, default=None, help="default udp")
    group.add_argument(
        "--tls-ca", default=None, metavar="FILE",
        help="with --transport tls: the CA file that signed the server's certificate "
        "(default: the system's trust store)",
    )  # fmt: skip
    group.add_argument(
        "--xcap", default=None, metavar="URL",
        help=f"XCAP root (default http://SERVER-HOST:{DEFAULT_XCAP_PORT}{XCAP_PATH})",
    )  # fmt: skip
    group.add_argument(
        "--client-config", type=Path, default=None, metavar="FILE",
        help="TOML with account, server, transport, xcap, tls-ca "
        "(default ~/.config/parley/client.toml)",
    )  # fmt: skip
    if json_output:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "parley" / "client.toml"


def load_client_config(path: Path | None) -> dict[str, str]:
    """The settings of the client config file: ``path`` must exist when given; the
    default file is optional."""
    chosen = path or default_config_path()
    if path is None and not chosen.exists():
        return {}
    try:
        values = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read {chosen}: {exc.strerror}", EXIT_USAGE) from None
    except tomllib.TOMLDecodeError as exc:
        raise CommandError(f"{chosen}: {exc}", EXIT_USAGE) from None
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise CommandError(f"{chosen}: unknown setting {unknown[0]!r}", EXIT_USAGE)
    for key, value in values.items():
        if not isinstance(value, str):
            raise CommandError(f"{chosen}: {key} must be a string", EXIT_USAGE)
    return dict(values)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Where and as whom a client command works."""

    account: str
    server: tuple[str, int]
    transport: str
    xcap: str
    tls_ca: str | None = None

    def sdk_account(self, secret: str) -> Account:
        """The SDK account these settings describe, signing in with ``secret``."""
        return Account(
            self.account, secret, server=self.server, transport=self.transport, tls_ca=self.tls_ca
        )


def host_port(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise CommandError(f"{what} {value!r}: expected HOST:PORT", EXIT_USAGE)
    return host.strip("[]"), int(port)


def client_settings(args: argparse.Namespace) -> ClientSettings:
    """Flags, else the client config file, else defaults."""
    file = load_client_config(getattr(args, "client_config", None))

    def pick(name: str) -> str | None:
        flag = getattr(args, name, None)
        return str(flag) if flag is not None else file.get(name)

    account = pick("account")
    if not account:
        raise CommandError(
            f"no account: give --account user@domain or set account in {default_config_path()}",
            EXIT_USAGE,
        )
    user, _, domain = account.partition("@")
    if not user or not domain:
        raise CommandError(f"--account {account!r}: expected user@domain", EXIT_USAGE)
    server = host_port(pick("server") or f"{domain}:5060", "--server")
    transport = pick("transport") or "udp"
    if transport not in TRANSPORTS:
        raise CommandError(f"transport {transport!r}: one of {', '.join(TRANSPORTS)}", EXIT_USAGE)
    host = f"[{server[0]}]" if ":" in server[0] else server[0]
    xcap = pick("xcap") or f"http://{host}:{DEFAULT_XCAP_PORT}{XCAP_PATH}"
    return ClientSettings(account, server, transport, xcap, pick("tls_ca") or file.get("tls-ca"))


def password(aor: str = "") -> str:
    """PARLEY_PASSWORD, the system keyring, else a prompt (never echoed)."""
    found = find_password(aor, prompt=True)
    assert found is not None  # prompt=True asks or raises
    return found


def account_from(args: argparse.Namespace) -> Account:
    """The SDK account the flags (and the client config file) describe."""
    settings = client_settings(args)
    return settings.sdk_account(password(settings.account))


def check_sign_in(account: Account, response: Response) -> None:
    """Raise :class:`CommandError` unless ``response`` (to REGISTER or another request
    of ours) shows the server took our credentials."""
    if response.status in (401, 407):
        raise CommandError(
            f"sign-in refused: wrong password for {account.aor} (or no such account)",
            EXIT_AUTH,
        )
    if response.status == 403:  # e.g. locked out after too many failures
        said = f"{response.status} {response.reason}"
        raise CommandError(f"sign-in refused for {account.aor}: {said}", EXIT_AUTH)
    if response.status in (408, 503):
        where = f"{account.server.host}:{account.server.port}" if account.server else "?"
        said = f"{response.status} {response.reason}"
        raise CommandError(f"server unreachable at {where}: {said}", EXIT_UNREACHABLE)


async def verify_sign_in(account: Account) -> None:
    """Check the password (and that the server answers) before a command relies on it: an
    unregister of a contact never registered is digest-checked like any REGISTER and
    changes nothing, so nobody sees us come online (RFC 3261 §10.2.2)."""
    check_sign_in(account, await account.register(expires=0))


def report(args: argparse.Namespace, ok: bool, fields: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"ok": ok, **fields}), flush=True)
    else:
        print(text, file=sys.stdout if ok else sys.stderr, flush=True)


async def send(args: argparse.Namespace) -> int:
    """``parley send bob@example.com "hello"``: exit 0 once delivered or stored."""
    async with account_from(args) as account:
        registered = await account.register()
        status = {"status": registered.status, "reason": registered.reason}
        try:
            check_sign_in(account, registered)
        except CommandError as exc:
            report(args, False, status, f"parley: {exc}")
            return exc.code
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
