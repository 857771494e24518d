"""Account administration (parley.apps.users) against a real SQLite store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.apps.users import (
    UnknownUser,
    UserExists,
    add_user,
    delete_user,
    import_users,
    list_users,
    parse_aor,
    set_password,
)
from parley.services.storage.sqlite import SqliteStorage
from parley.sip.auth.digest import compute_ha1


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    async with SqliteStorage(tmp_path / "parley.db") as store:
        yield store


def test_parse_aor_lowercases_only_the_domain() -> None:
    assert parse_aor("Alice@Example.COM") == ("Alice", "example.com")
    assert parse_aor(" bob.smith+im@sub.example.org ") == ("bob.smith+im", "sub.example.org")
    assert parse_aor("carol@192.0.2.7") == ("carol", "192.0.2.7")
    assert parse_aor("dave@[2001:DB8::1]") == ("dave", "[2001:db8::1]")


@pytest.mark.parametrize(
    "aor",
    [
        "alice",
        "@example.com",
        "alice@",
        "alice@bob@example.com",
        "alice smith@example.com",
        "alice@example.com:5060",
        "alice@-bad-.com",
        "alice@example.com.",
        "al%41ce@example.com",
        "",
    ],
)
def test_parse_aor_rejects_non_aors(aor: str) -> None:
    with pytest.raises(ValueError, match="expected user@domain"):
        parse_aor(aor)


def test_parse_aor_hints_at_a_scheme() -> None:
    with pytest.raises(ValueError, match="leave out the sip: scheme"):
        parse_aor("sip:alice@example.com")


async def test_add_user_stores_both_hashes(storage: SqliteStorage) -> None:
    before = time.time()
    account = await add_user(storage, "Alice@Example.COM", "s3cret")
    assert account.aor == "Alice@example.com" and account.realm == "example.com"
    assert account.ha1_md5 == compute_ha1("Alice", "example.com", "s3cret", "MD5")
    assert account.ha1_sha256 == compute_ha1("Alice", "example.com", "s3cret", "SHA-256")
    assert len(account.ha1_md5) == 32 and len(account.ha1_sha256) == 64
    assert account.created >= before
    assert await storage.get_account("Alice@example.com") == account


async def test_add_user_refuses_a_duplicate(storage: SqliteStorage) -> None:
    first = await add_user(storage, "alice@example.com", "one")
    with pytest.raises(UserExists, match=r"alice@example\.com already exists"):
        await add_user(storage, "alice@EXAMPLE.com", "two")
    assert await storage.get_account("alice@example.com") == first


async def test_add_user_rejects_bad_input(storage: SqliteStorage) -> None:
    with pytest.raises(ValueError, match="expected user@domain"):
        await add_user(storage, "alice", "pw")
    with pytest.raises(ValueError, match="empty password"):
        await add_user(storage, "alice@example.com", "")
    assert await list_users(storage) == []


async def test_set_password_keeps_creation_time(storage: SqliteStorage) -> None:
    old = await add_user(storage, "alice@example.com", "one")
    new = await set_password(storage, "alice@Example.com", "two")
    assert new.created == old.created
    assert new.ha1_md5 == compute_ha1("alice", "example.com", "two", "MD5")
    assert await storage.get_account("alice@example.com") == new


async def test_set_password_of_unknown_user(storage: SqliteStorage) -> None:
    with pytest.raises(UnknownUser, match=r"no user bob@example\.com"):
        await set_password(storage, "bob@example.com", "pw")


async def test_delete_user(storage: SqliteStorage) -> None:
    await add_user(storage, "alice@example.com", "pw")
    await delete_user(storage, "alice@EXAMPLE.COM")
    assert await storage.get_account("alice@example.com") is None
    with pytest.raises(UnknownUser):
        await delete_user(storage, "alice@example.com")


async def test_list_users(storage: SqliteStorage) -> None:
    for aor in ("zed@example.com", "bob@example.org", "alice@example.com"):
        await add_user(storage, aor, "pw")
    assert [a.aor for a in await list_users(storage)] == [
        "alice@example.com",
        "bob@example.org",
        "zed@example.com",
    ]
    assert [a.aor for a in await list_users(storage, "example.org")] == ["bob@example.org"]


async def test_import_with_header_quotes_and_blank_lines(
    storage: SqliteStorage, tmp_path: Path
) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(
        '\ufeffaor,password\nalice@Example.com,pw1\n\nbob@example.com,"a,b ""c"""\n',
        encoding="utf-8",
    )
    assert await import_users(storage, csv_file) == 2
    bob = await storage.get_account("bob@example.com")
    assert bob is not None
    assert bob.ha1_md5 == compute_ha1("bob", "example.com", 'a,b "c"', "MD5")
    assert await storage.get_account("alice@example.com") is not None


async def test_import_without_header_and_last_row_wins(
    storage: SqliteStorage, tmp_path: Path
) -> None:
    await add_user(storage, "alice@example.com", "old")
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("alice@example.com,one\nalice@EXAMPLE.com,two\ncarol@x.org,pw\n")
    assert await import_users(storage, csv_file) == 2
    alice = await storage.get_account("alice@example.com")
    assert alice is not None
    assert alice.ha1_sha256 == compute_ha1("alice", "example.com", "two", "SHA-256")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("alice@example.com,pw\nnot-an-aor,pw\n", r"users\.csv:2: not an address of record"),
        ("aor,password\nalice@example.com\n", r"users\.csv:2: expected 2 fields"),
        ("alice@example.com,pw,extra\n", r"users\.csv:1: expected 2 fields"),
        ("alice@example.com,\n", r"users\.csv:1: empty password"),
    ],
)
async def test_a_bad_row_imports_nothing(
    storage: SqliteStorage, tmp_path: Path, content: str, error: str
) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(content)
    with pytest.raises(ValueError, match=error):
        await import_users(storage, csv_file)
    assert await list_users(storage) == []


async def test_import_ten_thousand_users(storage: SqliteStorage, tmp_path: Path) -> None:
    csv_file = tmp_path / "users.csv"
    rows = [f"user{i}@example.com,password-{i}" for i in range(10_000)]
    csv_file.write_text("aor,password\n" + "\n".join(rows) + "\n")
    assert await import_users(storage, csv_file) == 10_000
    assert len(await list_users(storage)) == 10_000
    user = await storage.get_account("user9999@example.com")
    assert user is not None
    assert user.ha1_md5 == compute_ha1("user9999", "example.com", "password-9999", "MD5")
