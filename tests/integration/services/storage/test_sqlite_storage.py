"""What only the SQLite store promises: persistence, durability, sharing the file."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from storage_support import NOW, account, binding, message

from parley.services.storage import QuotaExceeded
from parley.services.storage.sqlite import SchemaTooNew, SqliteStorage
from parley.services.storage.sqlite_schema import MIGRATIONS, SCHEMA_VERSION


async def test_everything_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    async with SqliteStorage(path) as store:
        await store.add_account(account())
        await store.put_binding(binding(path=("<sip:edge;lr>",), flow="tcp:h:1#1"))
        first = await store.store_message(message(), quota=10)
    async with SqliteStorage(path) as store:
        assert await store.get_account("alice@example.com") == account()
        assert await store.get_bindings("alice@example.com", NOW) == [
            binding(path=("<sip:edge;lr>",), flow="tcp:h:1#1")
        ]
        assert [m.id for m in await store.pending_messages("alice@example.com", NOW)] == [first]
        assert await store.store_message(message(), quota=10) > first


def test_file_settings_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    asyncio.run(_open_and_close(path))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("SELECT * FROM bindings WHERE aor = 'a' AND expires_at > 0", "PRIMARY KEY"),
        ("SELECT * FROM bindings WHERE flow = 'f'", "bindings_by_flow"),
        ("SELECT * FROM bindings WHERE expires_at <= 0", "bindings_by_expiry"),
        ("SELECT * FROM messages WHERE recipient = 'r' ORDER BY id", "messages_by_recipient"),
        ("SELECT * FROM messages WHERE expires_at <= 0", "messages_by_expiry"),
        ("SELECT * FROM accounts WHERE realm = 'd' ORDER BY aor", "accounts_by_realm"),
    ],
)
def test_lookups_use_indexes(tmp_path: Path, query: str, index: str) -> None:
    path = tmp_path / "parley.db"
    asyncio.run(_open_and_close(path))
    with sqlite3.connect(path) as db:
        plan = " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert index in plan and "USE TEMP B-TREE" not in plan, plan


async def test_bindings_of_a_version_2_file_upgrade_in_place(tmp_path: Path) -> None:
    # A file written before bindings had keys: an RFC 5626 binding gets instance;reg-id as
    # its key, a plain one its contact, and both are still found and removable by key.
    path = tmp_path / "parley.db"
    with sqlite3.connect(path) as db:
        for statements in MIGRATIONS[:2]:
            for statement in statements:
                db.execute(statement)
        db.execute("CREATE TABLE schema_version (version INTEGER)")
        db.execute("INSERT INTO schema_version VALUES (2)")
        for contact, instance, reg_id in (
            ("sip:a@h1;ob", "<urn:uuid:1>", 1),
            ("sip:a@h2", None, None),
        ):
            db.execute(
                "INSERT INTO bindings VALUES (?, ?, ?, 1.0, '', 0, ?, ?, '[]', '', '', '', '')",
                ("alice@example.com", contact, NOW + 60, instance, reg_id),
            )
    async with SqliteStorage(path) as store:
        found = await store.get_bindings("alice@example.com", NOW)
        assert sorted(b.key for b in found) == ["<urn:uuid:1>;reg-id=1", "sip:a@h2"]
        await store.remove_binding("alice@example.com", "<urn:uuid:1>;reg-id=1")
        assert [b.contact for b in await store.get_bindings("alice@example.com", NOW)] == [
            "sip:a@h2"
        ]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    await _open_and_close(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew):
        await SqliteStorage(path).open()


async def test_use_after_close_fails_cleanly(tmp_path: Path) -> None:
    store = SqliteStorage(tmp_path / "parley.db")
    await store.open()
    await store.close()
    with pytest.raises(RuntimeError, match="not open"):
        await store.add_account(account())
    with pytest.raises(RuntimeError, match="not open"):
        await store.get_account("alice@example.com")


async def test_a_cancelled_write_leaves_the_store_usable(tmp_path: Path) -> None:
    async with SqliteStorage(tmp_path / "parley.db") as store:
        for _ in range(20):
            task = asyncio.create_task(store.store_message(message(), quota=1000))
            await asyncio.sleep(0)
            task.cancel()
        await store.add_account(account())
        assert await store.get_account("alice@example.com") == account()
        # A cancelled caller may or may not have got its message in; nothing is half done.
        assert await store.count_messages() <= 20


# -- durability ----------------------------------------------------------------------------

WRITER = """
import asyncio, sys
from parley.services.storage import StoredMessage
from parley.services.storage.sqlite import SqliteStorage

async def main() -> None:
    store = SqliteStorage(sys.argv[1])
    await store.open()
    n = 0
    while True:
        n += 1
        new_id = await store.store_message(
            StoredMessage(0, f"user{n % 7}@example.com", "<sip:bob@example.com>",
                          "text/plain", b"x" * (n % 500), 1.0, 1e12),
            quota=10**9,
        )
        print(new_id, flush=True)  # only once the store has returned: the 202 moment

asyncio.run(main())
"""


async def test_every_acknowledged_message_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    acknowledged: list[int] = []
    try:
        while len(acknowledged) < 300:
            line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
            assert line, "the writer died on its own"
            acknowledged.append(int(line))
    finally:
        os.kill(child.pid, signal.SIGKILL)
    # Lines printed before the kill are still in the pipe.
    acknowledged.extend(int(line) for line in (await child.stdout.read()).split())
    assert await child.wait() == -signal.SIGKILL

    async with SqliteStorage(path) as store:
        stored = {
            m.id for n in range(7) for m in await store.pending_messages(f"user{n}@example.com", 2)
        }
    assert set(acknowledged) <= stored
    # At most the one in flight at the kill committed without being acknowledged.
    assert len(stored - set(acknowledged)) <= 1


# -- two users of one file (server and CLI) ---------------------------------------------------


async def test_two_instances_write_accounts_at_once(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    async with SqliteStorage(path) as server, SqliteStorage(path) as cli:

        async def server_writes() -> None:
            for i in range(100):
                await server.add_account(account(f"s{i}@example.com"))
                await server.put_binding(binding(f"s{i}@example.com"))

        async def cli_writes() -> None:
            for i in range(10):
                batch = [account(f"c{i}-{j}@example.com") for j in range(100)]
                assert await cli.add_accounts(batch) == 100

        await asyncio.gather(server_writes(), cli_writes())
        for store in (server, cli):
            assert len(await store.list_accounts()) == 1100
            assert len(await store.all_bindings(NOW)) == 100


async def test_quota_holds_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    async with SqliteStorage(path) as one, SqliteStorage(path) as two:
        results = await asyncio.gather(
            *(store.store_message(message(), quota=15) for _ in range(20) for store in (one, two)),
            return_exceptions=True,
        )
    assert sum(isinstance(r, int) for r in results) == 15
    assert sum(isinstance(r, QuotaExceeded) for r in results) == 25


ACCOUNT_WRITER = """
import asyncio, sys
from parley.services.storage import Account
from parley.services.storage.sqlite import SqliteStorage

async def main() -> None:
    async with SqliteStorage(sys.argv[1]) as store:
        for i in range(200):
            await store.add_account(Account(f"cli{i}@example.com", "example.com", "", "", 0.0))

asyncio.run(main())
"""


async def test_another_process_writes_while_we_do(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    async with SqliteStorage(path) as server:
        cli = await asyncio.create_subprocess_exec(sys.executable, "-c", ACCOUNT_WRITER, str(path))
        for i in range(200):
            await server.add_account(account(f"srv{i}@example.com"))
            await server.store_message(message(), quota=10**6)
        assert await asyncio.wait_for(cli.wait(), timeout=60) == 0
        accounts = await server.list_accounts()
    assert len([a for a in accounts if a.aor.startswith("cli")]) == 200
    assert len([a for a in accounts if a.aor.startswith("srv")]) == 200


async def _open_and_close(path: Path) -> None:
    async with SqliteStorage(path):
        pass


async def test_cached_bindings_follow_every_write(tmp_path: Path) -> None:
    # Lookups are served from memory after the first; every kind of write must show.
    aor = "alice@example.com"
    async with SqliteStorage(tmp_path / "parley.db") as store:
        assert await store.get_bindings(aor, NOW) == []
        await store.put_binding(binding(contact="sip:a@h1", flow="tcp:h:1#1"))
        await store.put_binding(binding(contact="sip:a@h2", expires_at=NOW + 5))
        assert [b.contact for b in await store.get_bindings(aor, NOW)] == ["sip:a@h1", "sip:a@h2"]
        # Expiry is applied on read, without a write in between.
        assert [b.contact for b in await store.get_bindings(aor, NOW + 10)] == ["sip:a@h1"]
        await store.remove_binding(aor, "sip:a@h2")
        assert [b.contact for b in await store.get_bindings(aor, NOW)] == ["sip:a@h1"]
        assert [b.contact for b in await store.remove_flow_bindings("tcp:h:1#1")] == ["sip:a@h1"]
        assert await store.get_bindings(aor, NOW) == []
        await store.put_binding(binding(contact="sip:a@h3", expires_at=NOW + 5))
        assert len(await store.get_bindings(aor, NOW)) == 1
        assert len(await store.expire_bindings(NOW + 10)) == 1
        assert await store.get_bindings(aor, NOW) == []
        await store.put_binding(binding(contact="sip:a@h4"))
        assert len(await store.get_bindings(aor, NOW)) == 1
        await store.remove_bindings(aor)
        assert await store.get_bindings(aor, NOW) == []


async def test_a_lookup_racing_a_write_does_not_cache_stale_bindings(tmp_path: Path) -> None:
    aor = "alice@example.com"
    async with SqliteStorage(tmp_path / "parley.db") as store:
        for round_ in range(20):
            lookup = asyncio.ensure_future(store.get_bindings(aor, NOW))
            await store.put_binding(binding(contact=f"sip:a@h{round_}"))
            await lookup
            assert len(await store.get_bindings(aor, NOW)) == round_ + 1
