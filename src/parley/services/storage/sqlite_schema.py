"""The SQLite schema, as a list of migrations applied in order.

``MIGRATIONS[n]`` takes a database from version ``n`` to ``n + 1``; the version reached is
kept in ``schema_version``. Never edit a released migration: append a new one, so databases
written by older servers upgrade in place.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: accounts, bindings and stored messages.
    (
        """CREATE TABLE accounts (
            aor TEXT PRIMARY KEY,
            realm TEXT NOT NULL,
            ha1_md5 TEXT NOT NULL,
            ha1_sha256 TEXT NOT NULL,
            created REAL NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX accounts_by_realm ON accounts (realm, aor)",
        """CREATE TABLE bindings (
            aor TEXT NOT NULL,
            contact TEXT NOT NULL,
            expires_at REAL NOT NULL,
            q REAL NOT NULL,
            call_id TEXT NOT NULL,
            cseq INTEGER NOT NULL,
            instance TEXT,
            reg_id INTEGER,
            path TEXT NOT NULL,  -- JSON array of Path header values
            flow TEXT NOT NULL,
            source TEXT NOT NULL,
            user_agent TEXT NOT NULL,
            node TEXT NOT NULL,
            PRIMARY KEY (aor, contact)
        ) WITHOUT ROWID""",
        "CREATE INDEX bindings_by_flow ON bindings (flow)",
        "CREATE INDEX bindings_by_expiry ON bindings (expires_at)",
        # AUTOINCREMENT so that an id is never handed out twice, even after the newest
        # message was deleted: ids order delivery and may be logged or acknowledged.
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            recipient TEXT NOT NULL,
            sender TEXT NOT NULL,
            content_type TEXT NOT NULL,
            body BLOB NOT NULL,
            received REAL NOT NULL,
            expires_at REAL NOT NULL,
            headers TEXT NOT NULL  -- JSON array of [name, value] pairs
        )""",
        "CREATE INDEX messages_by_recipient ON messages (recipient, id)",
        "CREATE INDEX messages_by_expiry ON messages (expires_at)",
    ),
    # 2: presence: publications (RFC 3903), subscriptions (RFC 6665), XCAP documents.
    (
        """CREATE TABLE publications (
            aor TEXT NOT NULL,
            event TEXT NOT NULL,
            etag TEXT NOT NULL,
            content_type TEXT NOT NULL,
            document BLOB NOT NULL,
            published REAL NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (aor, event, etag)
        ) WITHOUT ROWID""",
        "CREATE INDEX publications_by_expiry ON publications (expires_at)",
        """CREATE TABLE subscriptions (
            id TEXT PRIMARY KEY,
            presentity TEXT NOT NULL,
            watcher TEXT NOT NULL,
            event TEXT NOT NULL,
            expires_at REAL NOT NULL,
            state TEXT NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at)",
        """CREATE TABLE documents (
            aor TEXT NOT NULL,
            auid TEXT NOT NULL,
            name TEXT NOT NULL,
            content_type TEXT NOT NULL,
            content BLOB NOT NULL,
            etag TEXT NOT NULL,
            PRIMARY KEY (aor, auid, name)
        ) WITHOUT ROWID""",
        "CREATE INDEX documents_by_auid ON documents (auid, aor, name)",
    ),
    # 3: bindings keyed by (aor, key): an RFC 5626 flow is one instance and reg-id, so one
    # instance may register the same Contact over two flows (RFC 5626 §6).
    (
        """CREATE TABLE bindings_keyed (
            aor TEXT NOT NULL,
            key TEXT NOT NULL,  -- instance;reg-id=N for an RFC 5626 flow, else contact
            contact TEXT NOT NULL,
            expires_at REAL NOT NULL,
            q REAL NOT NULL,
            call_id TEXT NOT NULL,
            cseq INTEGER NOT NULL,
            instance TEXT,
            reg_id INTEGER,
            path TEXT NOT NULL,
            flow TEXT NOT NULL,
            source TEXT NOT NULL,
            user_agent TEXT NOT NULL,
            node TEXT NOT NULL,
            PRIMARY KEY (aor, key)
        ) WITHOUT ROWID""",
        """INSERT INTO bindings_keyed
            SELECT aor,
                CASE WHEN instance IS NOT NULL AND reg_id IS NOT NULL
                    THEN instance || ';reg-id=' || reg_id ELSE contact END,
                contact, expires_at, q, call_id, cseq, instance, reg_id, path, flow, source,
                user_agent, node
            FROM bindings""",
        "DROP TABLE bindings",
        "ALTER TABLE bindings_keyed RENAME TO bindings",
        "CREATE INDEX bindings_by_flow ON bindings (flow)",
        "CREATE INDEX bindings_by_expiry ON bindings (expires_at)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
