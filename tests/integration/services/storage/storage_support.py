"""Record builders shared by the storage tests."""

from __future__ import annotations

from typing import Any

from parley.services.storage import Account, Binding, StoredMessage

NOW = 1_700_000_000.0


def account(aor: str = "alice@example.com", **overrides: Any) -> Account:
    fields: dict[str, Any] = {
        "aor": aor,
        "realm": aor.partition("@")[2],
        "ha1_md5": "0" * 32,
        "ha1_sha256": "1" * 64,
        "created": NOW,
    }
    fields.update(overrides)
    return Account(**fields)


def binding(
    aor: str = "alice@example.com", contact: str = "sip:alice@192.0.2.1:5060", **overrides: Any
) -> Binding:
    fields: dict[str, Any] = {"aor": aor, "contact": contact, "expires_at": NOW + 3600}
    fields.update(overrides)
    return Binding(**fields)


def message(recipient: str = "alice@example.com", **overrides: Any) -> StoredMessage:
    fields: dict[str, Any] = {
        "id": 0,
        "recipient": recipient,
        "sender": "<sip:bob@example.com>;tag=1",
        "content_type": "text/plain",
        "body": b"hello",
        "received": NOW,
        "expires_at": NOW + 86400,
    }
    fields.update(overrides)
    return StoredMessage(**fields)
