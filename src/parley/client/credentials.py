"""Where a client's password comes from: ``PARLEY_PASSWORD``, the system keyring, a prompt.

::

    password = find_password("alice@example.com")        # env, keyring, else None
    password = find_password("alice@example.com", prompt=True)   # ... else ask
    store_password("alice@example.com", password)        # `parley login`
    forget_password("alice@example.com")                 # `parley logout`

The keyring is the ``keyring`` package's (Secret Service, macOS Keychain, Windows
Credential Locker, or whatever ``PYTHON_KEYRING_BACKEND`` names), under the service name
``parley`` and the address as the user name. Reading is best effort: a machine without a
keyring, or one that fails (no D-Bus session, a locked collection), falls back quietly to
the prompt. Storing and deleting say what went wrong (:class:`CredentialsError`).
"""

from __future__ import annotations

import getpass
import logging
import os
import sys

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "KEYRING_SERVICE",
    "CredentialsError",
    "find_password",
    "forget_password",
    "store_password",
]

log = logging.getLogger(__name__)

ENVIRONMENT_VARIABLE = "PARLEY_PASSWORD"
KEYRING_SERVICE = "parley"


class CredentialsError(Exception):
    """No password could be had, or the keyring refused to store or delete one."""


def find_password(aor: str, *, prompt: bool = False) -> str | None:
    """``aor``'s password: ``PARLEY_PASSWORD``, else the keyring's, else (``prompt``) asked
    on the terminal without echo. None when none is found and ``prompt`` is False;
    :class:`CredentialsError` when prompting is wanted but there is no terminal."""
    from_env = os.environ.get(ENVIRONMENT_VARIABLE)
    if from_env:
        return from_env
    stored = keyring_password(aor)
    if stored is not None:
        return stored
    if not prompt:
        return None
    return ask_password(aor)


def ask_password(aor: str, *, confirm: bool = False) -> str:
    """Ask on the terminal (never echoed); ``confirm`` asks twice."""
    if not sys.stdin.isatty():
        raise CredentialsError(
            f"no password for {aor}: set {ENVIRONMENT_VARIABLE}, run `parley login`, "
            "or run in a terminal"
        )
    first = getpass.getpass(f"Password for {aor}: ")
    if confirm and getpass.getpass("Again: ") != first:
        raise CredentialsError("the passwords differ")
    return first


def keyring_password(aor: str) -> str | None:
    """The keyring's password for ``aor``, or None (none stored, or no usable keyring)."""
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, aor)
    except Exception as exc:
        # Any backend failure (no keyring installed or configured, D-Bus down, a locked
        # collection, a broken plugin) must not stop a sign-in that can still prompt.
        log.debug("keyring unavailable: %s", exc)
        return None


def store_password(aor: str, password: str) -> None:
    """Keep ``password`` for ``aor`` in the system keyring."""
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, aor, password)
    except Exception as exc:
        raise CredentialsError(f"the system keyring could not store the password: {exc}") from None


def forget_password(aor: str) -> bool:
    """Remove ``aor``'s password from the keyring; False when none was stored."""
    try:
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(KEYRING_SERVICE, aor)
        except PasswordDeleteError:
            return False
        return True
    except Exception as exc:
        raise CredentialsError(f"the system keyring could not delete the password: {exc}") from None
