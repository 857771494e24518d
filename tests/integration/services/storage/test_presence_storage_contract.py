"""The presence half of the storage contract, against memory and SQLite alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_support import NOW

from parley.services.storage import Document, Publication, SubscriptionRecord
from parley.services.storage.memory import MemoryStorage
from parley.services.storage.sqlite import SqliteStorage

Store = MemoryStorage | SqliteStorage


@pytest.fixture(params=["memory", "sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    store: Store = (
        MemoryStorage() if request.param == "memory" else SqliteStorage(tmp_path / "p.db")
    )
    await store.open()
    yield store
    await store.close()


def publication(etag: str, published: float, **changes: object) -> Publication:
    fields: dict[str, object] = {
        "aor": "poisson@probability.org",
        "event": "presence",
        "etag": etag,
        "content_type": "application/pidf+xml",
        "document": b"<presence/>",
        "published": published,
        "expires_at": NOW + 3600,
    }
    fields.update(changes)
    return Publication(**fields)  # type: ignore[arg-type]


async def test_publications_by_presentity_oldest_first_and_expiry(storage: Store) -> None:
    await storage.put_publication(publication("b", NOW + 2))
    await storage.put_publication(publication("a", NOW + 1))
    await storage.put_publication(publication("old", NOW, expires_at=NOW + 10))
    await storage.put_publication(publication("x", NOW, aor="other@probability.org"))
    found = await storage.get_publications("poisson@probability.org", "presence", NOW + 20)
    assert [p.etag for p in found] == ["a", "b"]
    # Replacing keeps one record per etag (a refresh or modification, RFC 3903 §6).
    await storage.put_publication(publication("a", NOW + 3, document=b"<new/>"))
    found = await storage.get_publications("poisson@probability.org", "presence", NOW)
    assert [(p.etag, p.document) for p in found] == [
        ("old", b"<presence/>"), ("b", b"<presence/>"), ("a", b"<new/>"),
    ]  # fmt: skip
    expired = await storage.expire_publications(NOW + 10)
    assert [p.etag for p in expired] == ["old"]
    assert await storage.remove_publication("poisson@probability.org", "presence", "b")
    assert not await storage.remove_publication("poisson@probability.org", "presence", "b")


async def test_subscriptions_survive_and_expire(storage: Store) -> None:
    record = SubscriptionRecord("d1", "poisson@probability.org", "chebychev@academy.ru",
                                "presence", NOW + 3600, '{"cseq": 1026}')  # fmt: skip
    await storage.put_subscription(record)
    await storage.put_subscription(SubscriptionRecord("d0", "p@x", "w@y", "presence", NOW, "{}"))
    assert await storage.load_subscriptions(NOW) == [record]
    await storage.put_subscription(SubscriptionRecord(
        "d1", record.presentity, record.watcher, "presence", NOW + 7200, '{"cseq": 1027}'
    ))  # fmt: skip
    [loaded] = await storage.load_subscriptions(NOW)
    assert loaded.state == '{"cseq": 1027}'
    await storage.remove_subscription("d1")
    assert await storage.load_subscriptions(NOW) == []


async def test_documents_by_user_and_application(storage: Store) -> None:
    doc = Document("alice@example.com", "resource-lists", "index",
                   "application/resource-lists+xml", b"<resource-lists/>", "e1")  # fmt: skip
    await storage.put_document(doc)
    rules = Document(
        "bob@example.com", "pres-rules", "index", "application/auth-policy+xml", b"<r/>", "e2"
    )
    await storage.put_document(rules)
    assert await storage.get_document("alice@example.com", "resource-lists", "index") == doc
    assert await storage.get_document("alice@example.com", "pres-rules", "index") is None
    assert [d.aor for d in await storage.list_documents("pres-rules")] == ["bob@example.com"]
    assert await storage.delete_document("alice@example.com", "resource-lists", "index")
    assert not await storage.delete_document("alice@example.com", "resource-lists", "index")
