"""Storage in one SQLite file, through aiosqlite so that no query blocks the event loop.

Durability: the file is in WAL mode with ``synchronous=FULL``, so each COMMIT is fsynced
before the coroutine returns; a MESSAGE answered 202 survives a crash of the process or of
the machine.

Concurrency: another process (``parley user add`` while the server runs) may open the same
file. Every write transaction starts with BEGIN IMMEDIATE, which takes SQLite's write lock up
front: the ``busy_timeout`` then makes a second writer wait instead of failing, and a
read-then-write such as the quota check cannot interleave with another writer. Within this
process one connection writes (under an asyncio lock, since a transaction spans several
awaits) and a second one reads, so lookups do not queue behind fsyncs or a bulk import.

Semantics follow :mod:`parley.services.storage.memory`, the reference implementation.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from parley.services.storage.interface import (
    Account,
    Binding,
    Document,
    Publication,
    QuotaExceeded,
    StoredMessage,
    SubscriptionRecord,
)
from parley.services.storage.locks import KeyedLocks
from parley.services.storage.sqlite_schema import MIGRATIONS, SCHEMA_VERSION

T = TypeVar("T")

_BINDING_COLUMNS = (
    "aor, contact, expires_at, q, call_id, cseq, instance, reg_id, path, flow, source,"
    " user_agent, node"
)
# Highest q first, then contact: the order MemoryStorage gives.
_BINDING_ORDER = "ORDER BY aor, q DESC, contact"
#: AORs whose bindings are kept in memory; the cache starts over when it is full.
_BINDING_CACHE_SIZE = 200_000
_MESSAGE_COLUMNS = "id, recipient, sender, content_type, body, received, expires_at, headers"
_ACCOUNT_COLUMNS = "aor, realm, ha1_md5, ha1_sha256, created"


class SchemaTooNew(RuntimeError):
    """The file was written by a newer server whose schema this one does not know."""


class SqliteStorage:
    """The :class:`~parley.services.storage.interface.Storage` protocol in a SQLite file."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._document_locks = KeyedLocks()
        # Every binding of an AOR as last read, expired ones included (filtered on read):
        # the proxy looks one up per request, and a round trip through aiosqlite's thread
        # costs more than the rest of relaying a MESSAGE. Bindings are written only by the
        # server process that holds this object, so invalidating on our own writes keeps it
        # exact (its workers are told through on_bindings_written); a reader that raced a
        # write does not fill it (the generation changed).
        self._bindings: dict[str, list[Binding]] = {}
        self._bindings_generation = 0
        #: Told the AORs (None: everyone) whose bindings this object wrote, so that other
        #: processes caching them can forget theirs (``parley serve --workers``).
        self.on_bindings_written: Callable[[list[str] | None], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        if self._writer is not None:
            return
        self._forget_bindings()
        self._writer = await self._connect()
        try:
            # WAL lets the reader (and other processes) read while a write is in progress;
            # the mode is stored in the file, so every later connection uses it too.
            rows = list(await self._writer.execute_fetchall("PRAGMA journal_mode=WAL"))
            if rows[0][0] != "wal":  # e.g. a file system without shared memory
                raise RuntimeError(f"{self.path}: SQLite could not switch to WAL mode")
            await self._writer.execute("PRAGMA synchronous=FULL")
            await self._migrate()
            self._reader = await self._connect()
            await self._reader.execute("PRAGMA query_only=ON")
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        # Wait for a write in progress so that its commit is not cut off.
        async with self._write_lock:
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()
            self._reader = self._writer = None

    async def __aenter__(self) -> SqliteStorage:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: the sqlite3 module must not open transactions on its own;
        # _write() issues BEGIN IMMEDIATE itself.
        conn = await aiosqlite.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        return conn

    async def _migrate(self) -> None:
        async def migrate(db: aiosqlite.Connection) -> None:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            rows = list(await db.execute_fetchall("SELECT version FROM schema_version"))
            version = rows[0]["version"] if rows else 0
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.path} has schema version {version}; this server knows up to"
                    f" {SCHEMA_VERSION}"
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    await db.execute(statement)
            await db.execute("DELETE FROM schema_version")
            await db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))

        # In a write transaction so that two processes opening a new file at once do not
        # both create the tables.
        await self._write(migrate)

    # -- plumbing ------------------------------------------------------------------------

    def _read_conn(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("SqliteStorage is not open")
        return self._reader

    async def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        # Each statement in autocommit mode is its own read transaction: a consistent
        # snapshot that already includes every write committed before it started.
        return list(await self._read_conn().execute_fetchall(sql, tuple(params)))

    async def _write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``work`` in one committed transaction.

        Shielded: if the caller is cancelled mid-transaction the transaction still ends
        (committed or rolled back) instead of leaving the shared connection inside it.
        """
        return await asyncio.shield(self._transaction(work))

    async def _transaction(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        async with self._write_lock:
            db = self._writer
            if db is None:
                raise RuntimeError("SqliteStorage is not open")
            await db.execute("BEGIN IMMEDIATE")
            try:
                result = await work(db)
                await db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                raise
            return result

    # -- accounts ----------------------------------------------------------------------

    async def add_account(self, account: Account) -> None:
        await self.add_accounts([account])

    async def add_accounts(self, accounts: list[Account]) -> int:
        rows = [(a.aor, a.realm, a.ha1_md5, a.ha1_sha256, a.created) for a in accounts]

        async def insert(db: aiosqlite.Connection) -> None:
            await db.executemany(
                f"INSERT OR REPLACE INTO accounts ({_ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

        await self._write(insert)
        return len(accounts)

    async def get_account(self, aor: str) -> Account | None:
        rows = await self._read(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE aor = ?", (aor,))
        return _account(rows[0]) if rows else None

    async def delete_account(self, aor: str) -> bool:
        async def delete(db: aiosqlite.Connection) -> bool:
            cursor = await db.execute("DELETE FROM accounts WHERE aor = ?", (aor,))
            return cursor.rowcount > 0

        return await self._write(delete)

    async def list_accounts(self, domain: str | None = None) -> list[Account]:
        if domain is None:
            rows = await self._read(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY aor")
        else:
            rows = await self._read(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE realm = ? ORDER BY aor",
                (domain.lower(),),
            )
        return [_account(row) for row in rows]

    # -- bindings ------------------------------------------------------------------------

    async def get_bindings(self, aor: str, now: float) -> list[Binding]:
        cached = self._bindings.get(aor)
        if cached is None:
            generation = self._bindings_generation
            rows = await self._read(
                f"SELECT {_BINDING_COLUMNS} FROM bindings WHERE aor = ? {_BINDING_ORDER}", (aor,)
            )
            cached = [_binding(row) for row in rows]
            if generation == self._bindings_generation:
                if len(self._bindings) >= _BINDING_CACHE_SIZE:
                    self._bindings.clear()
                self._bindings[aor] = cached
        return [b for b in cached if b.expires_at > now]

    def cached_bindings(self, aor: str, now: float) -> list[Binding] | None:
        """The live bindings of ``aor`` if they are in memory, else None (no I/O)."""
        cached = self._bindings.get(aor)
        return None if cached is None else [b for b in cached if b.expires_at > now]

    def forget_cached_bindings(self, aors: Iterable[str] | None = None) -> None:
        """Another process wrote the bindings of ``aors`` (of everyone when None)."""
        self._bindings_generation += 1
        if aors is None:
            self._bindings.clear()
        else:
            for aor in aors:
                self._bindings.pop(aor, None)

    def _forget_bindings(self, aors: Iterable[str] | None = None) -> None:
        """Drop cached bindings of ``aors`` (of everyone when None) after a write."""
        written = None if aors is None else list(aors)
        if self.on_bindings_written is not None:
            self.on_bindings_written(written)
        self.forget_cached_bindings(written)

    async def put_binding(self, binding: Binding) -> None:
        b = binding
        row = (
            b.aor, b.contact, b.expires_at, b.q, b.call_id, b.cseq, b.instance, b.reg_id,
            json.dumps(list(b.path)), b.flow, b.source, b.user_agent, b.node,
        )  # fmt: skip

        async def upsert(db: aiosqlite.Connection) -> None:
            await db.execute(
                f"INSERT OR REPLACE INTO bindings (key, {_BINDING_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (b.key, *row),
            )

        try:
            await self._write(upsert)
        finally:
            self._forget_bindings((b.aor,))

    async def remove_binding(self, aor: str, key: str) -> None:
        async def delete(db: aiosqlite.Connection) -> None:
            await db.execute("DELETE FROM bindings WHERE aor = ? AND key = ?", (aor, key))

        try:
            await self._write(delete)
        finally:
            self._forget_bindings((aor,))

    async def remove_bindings(self, aor: str) -> None:
        async def delete(db: aiosqlite.Connection) -> None:
            await db.execute("DELETE FROM bindings WHERE aor = ?", (aor,))

        try:
            await self._write(delete)
        finally:
            self._forget_bindings((aor,))

    async def remove_flow_bindings(self, flow: str) -> list[Binding]:
        if not flow:  # "" marks UDP bindings, which ride no flow
            return []
        return await self._drop_bindings("flow = ?", (flow,))

    async def expire_bindings(self, now: float) -> list[Binding]:
        return await self._drop_bindings("expires_at <= ?", (now,))

    async def all_bindings(self, now: float) -> list[Binding]:
        rows = await self._read(
            f"SELECT {_BINDING_COLUMNS} FROM bindings WHERE expires_at > ? {_BINDING_ORDER}",
            (now,),
        )
        return [_binding(row) for row in rows]

    async def _drop_bindings(self, where: str, params: tuple[Any, ...]) -> list[Binding]:
        async def drop(db: aiosqlite.Connection) -> list[Binding]:
            # Select and delete in one transaction, so what is returned is what was deleted.
            rows = await db.execute_fetchall(
                f"SELECT {_BINDING_COLUMNS} FROM bindings WHERE {where} {_BINDING_ORDER}",
                params,
            )
            await db.execute(f"DELETE FROM bindings WHERE {where}", params)
            return [_binding(row) for row in rows]

        try:
            dropped = await self._write(drop)
        except BaseException:
            self._forget_bindings()
            raise
        if dropped:  # the expiry sweep runs every 30 s, mostly finding nothing
            self._forget_bindings({b.aor for b in dropped})
        return dropped

    # -- stored messages -------------------------------------------------------------------

    async def store_message(self, message: StoredMessage, quota: int) -> int:
        m = message
        row = (
            m.recipient, m.sender, m.content_type, bytes(m.body), m.received, m.expires_at,
            json.dumps([[name, value] for name, value in m.headers]),
        )  # fmt: skip

        async def insert(db: aiosqlite.Connection) -> int:
            # The count and the insert share one BEGIN IMMEDIATE transaction, so no other
            # writer (in this process or another) can fill the last slot in between.
            counted = await db.execute_fetchall(
                "SELECT count(*) FROM messages WHERE recipient = ? AND expires_at > ?",
                (m.recipient, m.received),
            )
            if next(iter(counted))[0] >= quota:
                raise QuotaExceeded(m.recipient)
            cursor = await db.execute(
                f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            if cursor.lastrowid is None:  # cannot happen after a successful INSERT
                raise RuntimeError("SQLite returned no id for the stored message")
            return cursor.lastrowid

        return await self._write(insert)

    async def pending_messages(self, recipient: str, now: float) -> list[StoredMessage]:
        rows = await self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE recipient = ? AND expires_at > ?"
            " ORDER BY id",
            (recipient, now),
        )
        return [_message(row) for row in rows]

    async def delete_message(self, message_id: int) -> None:
        async def delete(db: aiosqlite.Connection) -> None:
            await db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

        await self._write(delete)

    async def expire_messages(self, now: float) -> int:
        async def delete(db: aiosqlite.Connection) -> int:
            cursor = await db.execute("DELETE FROM messages WHERE expires_at <= ?", (now,))
            return cursor.rowcount

        return await self._write(delete)

    async def count_messages(self) -> int:
        rows = await self._read("SELECT count(*) FROM messages")
        return int(rows[0][0])

    # -- presence ------------------------------------------------------------------------

    async def put_publication(self, publication: Publication) -> None:
        p = publication
        row = (p.aor, p.event, p.etag, p.content_type, bytes(p.document), p.published, p.expires_at)

        async def upsert(db: aiosqlite.Connection) -> None:
            await db.execute(
                f"INSERT OR REPLACE INTO publications ({_PUBLICATION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._write(upsert)

    async def get_publications(self, aor: str, event: str, now: float) -> list[Publication]:
        rows = await self._read(
            f"SELECT {_PUBLICATION_COLUMNS} FROM publications"
            " WHERE aor = ? AND event = ? AND expires_at > ? ORDER BY published, etag",
            (aor, event, now),
        )
        return [Publication(*row) for row in rows]

    async def remove_publication(self, aor: str, event: str, etag: str) -> bool:
        async def delete(db: aiosqlite.Connection) -> bool:
            cursor = await db.execute(
                "DELETE FROM publications WHERE aor = ? AND event = ? AND etag = ?",
                (aor, event, etag),
            )
            return cursor.rowcount > 0

        return await self._write(delete)

    async def expire_publications(self, now: float) -> list[Publication]:
        async def drop(db: aiosqlite.Connection) -> list[Publication]:
            rows = await db.execute_fetchall(
                f"SELECT {_PUBLICATION_COLUMNS} FROM publications WHERE expires_at <= ?"
                " ORDER BY aor, published",
                (now,),
            )
            await db.execute("DELETE FROM publications WHERE expires_at <= ?", (now,))
            return [Publication(*row) for row in rows]

        return await self._write(drop)

    async def put_subscription(self, record: SubscriptionRecord) -> None:
        r = record
        row = (r.id, r.presentity, r.watcher, r.event, r.expires_at, r.state)

        async def upsert(db: aiosqlite.Connection) -> None:
            await db.execute(
                f"INSERT OR REPLACE INTO subscriptions ({_SUBSCRIPTION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._write(upsert)

    async def remove_subscription(self, subscription_id: str) -> None:
        async def delete(db: aiosqlite.Connection) -> None:
            await db.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))

        await self._write(delete)

    async def load_subscriptions(self, now: float) -> list[SubscriptionRecord]:
        rows = await self._read(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE expires_at > ? ORDER BY id",
            (now,),
        )
        return [SubscriptionRecord(*row) for row in rows]

    async def get_document(self, aor: str, auid: str, name: str) -> Document | None:
        rows = await self._read(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE aor = ? AND auid = ? AND name = ?",
            (aor, auid, name),
        )
        return Document(*rows[0]) if rows else None

    async def put_document(self, document: Document) -> None:
        d = document
        row = (d.aor, d.auid, d.name, d.content_type, bytes(d.content), d.etag)

        async def upsert(db: aiosqlite.Connection) -> None:
            await db.execute(
                f"INSERT OR REPLACE INTO documents ({_DOCUMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._write(upsert)

    async def delete_document(self, aor: str, auid: str, name: str) -> bool:
        async def delete(db: aiosqlite.Connection) -> bool:
            cursor = await db.execute(
                "DELETE FROM documents WHERE aor = ? AND auid = ? AND name = ?", (aor, auid, name)
            )
            return cursor.rowcount > 0

        return await self._write(delete)

    async def list_documents(self, auid: str) -> list[Document]:
        rows = await self._read(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE auid = ? ORDER BY aor, name",
            (auid,),
        )
        return [Document(*row) for row in rows]

    def document_lock(self, aor: str, auid: str, name: str) -> AbstractAsyncContextManager[None]:
        return self._document_locks.hold((aor, auid, name))


def _account(row: sqlite3.Row) -> Account:
    return Account(
        aor=row["aor"],
        realm=row["realm"],
        ha1_md5=row["ha1_md5"],
        ha1_sha256=row["ha1_sha256"],
        created=row["created"],
    )


def _binding(row: sqlite3.Row) -> Binding:
    return Binding(
        aor=row["aor"],
        contact=row["contact"],
        expires_at=row["expires_at"],
        q=row["q"],
        call_id=row["call_id"],
        cseq=row["cseq"],
        instance=row["instance"],
        reg_id=row["reg_id"],
        path=tuple(json.loads(row["path"])),
        flow=row["flow"],
        source=row["source"],
        user_agent=row["user_agent"],
        node=row["node"],
    )


def _message(row: sqlite3.Row) -> StoredMessage:
    return StoredMessage(
        id=row["id"],
        recipient=row["recipient"],
        sender=row["sender"],
        content_type=row["content_type"],
        body=bytes(row["body"]),
        received=row["received"],
        expires_at=row["expires_at"],
        headers=tuple((name, value) for name, value in json.loads(row["headers"])),
    )


_PUBLICATION_COLUMNS = "aor, event, etag, content_type, document, published, expires_at"
_SUBSCRIPTION_COLUMNS = "id, presentity, watcher, event, expires_at, state"
_DOCUMENT_COLUMNS = "aor, auid, name, content_type, content, etag"
