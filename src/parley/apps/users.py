"""Account administration: what ``parley user ...`` does, apart from argument parsing.

Only digest HA1 hashes are stored, never passwords (RFC 7616 §3.4.2 and §5.1 let the server
keep H(username:realm:password)). The digest username is the user part of the AOR and the
realm is its domain, lowercased, so that ``Alice@Example.COM`` and ``Alice@example.com`` are
one account (RFC 3261 §19.1.4: hosts compare case-insensitively, users do not).
"""

from __future__ import annotations

import asyncio
import csv
import re
import time
from pathlib import Path

from parley.services.storage import Account, Storage
from parley.sip.auth.digest import compute_ha1

# RFC 3261 §25.1 user characters, without escapes: an escaped user part would leave it open
# which spelling the phone sends as the digest username.
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]+")
# A host name (RFC 3261 §25.1 hostname), IPv4 address or bracketed IPv6 reference; no port,
# since an AOR's domain is also the digest realm.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}|\[[0-9a-f:.]+\]")


class UserExists(ValueError):
    """``add_user`` found the account already there."""


class UnknownUser(LookupError):
    """The account to change or delete does not exist."""


def parse_aor(aor: str) -> tuple[str, str]:
    """Split ``user@domain`` into the digest username and realm; lowercase the domain.

    Raises ValueError with a message fit to show the operator.
    """
    text = aor.strip()
    user, at, domain = text.rpartition("@")
    domain = domain.lower()
    if not at or not _USER.fullmatch(user) or not _DOMAIN.fullmatch(domain):
        hint = " (leave out the sip: scheme)" if text.lower().startswith(("sip:", "sips:")) else ""
        raise ValueError(f"not an address of record: {aor!r}; expected user@domain{hint}")
    return user, domain


def make_account(aor: str, password: str, created: float | None = None) -> Account:
    """An account with both HA1 hashes, so clients may use MD5 or SHA-256 digest."""
    user, realm = parse_aor(aor)
    if not password:
        raise ValueError(f"empty password for {user}@{realm}")
    return Account(
        aor=f"{user}@{realm}",
        realm=realm,
        ha1_md5=compute_ha1(user, realm, password, "MD5"),
        ha1_sha256=compute_ha1(user, realm, password, "SHA-256"),
        created=time.time() if created is None else created,
    )


async def add_user(storage: Storage, aor: str, password: str) -> Account:
    """Create an account; raises UserExists rather than silently resetting a password."""
    account = make_account(aor, password)
    if await storage.get_account(account.aor) is not None:
        raise UserExists(f"user {account.aor} already exists")
    await storage.add_account(account)
    return account


async def delete_user(storage: Storage, aor: str) -> None:
    user, realm = parse_aor(aor)
    if not await storage.delete_account(f"{user}@{realm}"):
        raise UnknownUser(f"no user {user}@{realm}")


async def set_password(storage: Storage, aor: str, password: str) -> Account:
    """Replace the hashes of an existing account, keeping its creation time."""
    user, realm = parse_aor(aor)
    old = await storage.get_account(f"{user}@{realm}")
    if old is None:
        raise UnknownUser(f"no user {user}@{realm}")
    account = make_account(old.aor, password, created=old.created)
    await storage.add_account(account)
    return account


async def list_users(storage: Storage, domain: str | None = None) -> list[Account]:
    """Accounts sorted by AOR, optionally only those of ``domain``."""
    return await storage.list_accounts(domain)


async def import_users(storage: Storage, csv_path: str | Path) -> int:
    """Create or replace the accounts listed in a CSV file of ``aor,password`` rows.

    A first row ``aor,password`` is taken as a header. Blank lines are skipped; passwords
    are taken as written (spaces included; quote them if they contain commas). The whole
    file is checked before anything is written and then stored in one transaction, so a
    bad row imports nothing. When an AOR repeats, its last row wins. Returns the number of
    accounts written.
    """
    # A thread keeps the file read off the loop. Parsing and hashing still hold the GIL, so
    # the loop slows for their length (about 40 ms for 10,000 rows), once per import.
    accounts = await asyncio.to_thread(read_accounts_csv, Path(csv_path))
    return await storage.add_accounts(accounts)


def read_accounts_csv(path: Path) -> list[Account]:
    """Parse and hash an import file; raises ValueError naming the bad line."""
    created = time.time()
    by_aor: dict[str, Account] = {}
    # utf-8-sig: spreadsheets often save CSV with a byte-order mark.
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        first = True
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            is_header = first and [c.strip().lower() for c in row] == ["aor", "password"]
            first = False
            if is_header:
                continue
            if len(row) != 2:
                raise ValueError(
                    f"{path}:{reader.line_num}: expected 2 fields (aor,password), got {len(row)}"
                )
            try:
                account = make_account(row[0], row[1], created)
            except ValueError as exc:
                raise ValueError(f"{path}:{reader.line_num}: {exc}") from None
            by_aor[account.aor] = account
    return list(by_aor.values())
