"""Storage kept in process memory: for tests, and the reference semantics that every other
implementation must match (the shared contract tests run against both).

Rules the other implementations follow too:

* A binding is live while ``expires_at > now``; ``expire_bindings``/``expire_messages``
  drop records with ``expires_at <= now``. Messages follow the same rule.
* Bindings come highest q first, then by contact so the order is stable.
* ``remove_flow_bindings("")`` drops nothing: "" means "no flow" (UDP), not a flow.
* Message ids start at 1 and are never reused, even after deletes.
* The quota counts the recipient's messages still unexpired at ``message.received``, so
  messages that have expired but not yet been swept do not keep a store full.
* ``list_accounts(domain)`` compares the domain case-insensitively (realms are lowercase).

Every method finishes without awaiting, so each one is atomic on the event loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

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


def binding_order(binding: Binding) -> tuple[float, str]:
    """Sort key: highest q first, then contact, so equal-q bindings keep a stable order."""
    return (-binding.q, binding.contact)


class MemoryStorage:
    """The :class:`~parley.services.storage.interface.Storage` protocol in dictionaries."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        # aor -> key -> binding; (aor, Binding.key) is a binding's identity.
        self._bindings: dict[str, dict[str, Binding]] = {}
        # Insertion order is id order because ids only grow.
        self._messages: dict[int, StoredMessage] = {}
        self._last_id = 0
        self._document_locks = KeyedLocks()
        self._publications: dict[tuple[str, str, str], Publication] = {}
        self._subscriptions: dict[str, SubscriptionRecord] = {}
        self._documents: dict[tuple[str, str, str], Document] = {}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    # -- accounts ----------------------------------------------------------------------

    async def add_account(self, account: Account) -> None:
        self._accounts[account.aor] = account

    async def get_account(self, aor: str) -> Account | None:
        return self._accounts.get(aor)

    async def delete_account(self, aor: str) -> bool:
        return self._accounts.pop(aor, None) is not None

    async def list_accounts(self, domain: str | None = None) -> list[Account]:
        wanted = None if domain is None else domain.lower()
        return sorted(
            (a for a in self._accounts.values() if wanted is None or a.realm == wanted),
            key=lambda a: a.aor,
        )

    async def add_accounts(self, accounts: list[Account]) -> int:
        for account in accounts:
            self._accounts[account.aor] = account
        return len(accounts)

    # -- bindings ------------------------------------------------------------------------

    async def get_bindings(self, aor: str, now: float) -> list[Binding]:
        live = [b for b in self._bindings.get(aor, {}).values() if b.expires_at > now]
        return sorted(live, key=binding_order)

    async def put_binding(self, binding: Binding) -> None:
        # A caller may hand in a list for ``path``; store the tuple the dataclass promises so
        # what comes back compares equal to what a database would return.
        binding = dataclasses.replace(binding, path=tuple(binding.path))
        self._bindings.setdefault(binding.aor, {})[binding.key] = binding

    async def remove_binding(self, aor: str, key: str) -> None:
        contacts = self._bindings.get(aor)
        if contacts is not None:
            contacts.pop(key, None)
            if not contacts:
                del self._bindings[aor]

    async def remove_bindings(self, aor: str) -> None:
        self._bindings.pop(aor, None)

    async def remove_flow_bindings(self, flow: str) -> list[Binding]:
        if not flow:
            return []
        return self._drop_bindings(lambda b: b.flow == flow)

    async def expire_bindings(self, now: float) -> list[Binding]:
        return self._drop_bindings(lambda b: b.expires_at <= now)

    async def all_bindings(self, now: float) -> list[Binding]:
        return [
            b
            for aor in sorted(self._bindings)
            for b in sorted(self._bindings[aor].values(), key=binding_order)
            if b.expires_at > now
        ]

    def _drop_bindings(self, doomed: Callable[[Binding], bool]) -> list[Binding]:
        dropped: list[Binding] = []
        for aor in sorted(self._bindings):
            contacts = self._bindings[aor]
            gone = sorted((b for b in contacts.values() if doomed(b)), key=binding_order)
            for binding in gone:
                del contacts[binding.key]
            if not contacts:
                del self._bindings[aor]
            dropped.extend(gone)
        return dropped

    # -- stored messages -------------------------------------------------------------------

    async def store_message(self, message: StoredMessage, quota: int) -> int:
        waiting = sum(
            1
            for m in self._messages.values()
            if m.recipient == message.recipient and m.expires_at > message.received
        )
        if waiting >= quota:
            raise QuotaExceeded(message.recipient)
        self._last_id += 1
        headers = tuple((str(name), str(value)) for name, value in message.headers)
        self._messages[self._last_id] = dataclasses.replace(
            message, id=self._last_id, headers=headers
        )
        return self._last_id

    async def pending_messages(self, recipient: str, now: float) -> list[StoredMessage]:
        return [
            m for m in self._messages.values() if m.recipient == recipient and m.expires_at > now
        ]

    async def delete_message(self, message_id: int) -> None:
        self._messages.pop(message_id, None)

    async def expire_messages(self, now: float) -> int:
        doomed = [i for i, m in self._messages.items() if m.expires_at <= now]
        for message_id in doomed:
            del self._messages[message_id]
        return len(doomed)

    async def count_messages(self) -> int:
        return len(self._messages)

    # -- presence ------------------------------------------------------------------------

    async def put_publication(self, publication: Publication) -> None:
        p = publication
        self._publications[(p.aor, p.event, p.etag)] = p

    async def get_publications(self, aor: str, event: str, now: float) -> list[Publication]:
        found = [
            p
            for (a, e, _), p in self._publications.items()
            if a == aor and e == event and p.expires_at > now
        ]
        return sorted(found, key=lambda p: (p.published, p.etag))

    async def remove_publication(self, aor: str, event: str, etag: str) -> bool:
        return self._publications.pop((aor, event, etag), None) is not None

    async def expire_publications(self, now: float) -> list[Publication]:
        gone = [p for p in self._publications.values() if p.expires_at <= now]
        for p in gone:
            del self._publications[(p.aor, p.event, p.etag)]
        return sorted(gone, key=lambda p: (p.aor, p.published))

    async def put_subscription(self, record: SubscriptionRecord) -> None:
        self._subscriptions[record.id] = record

    async def remove_subscription(self, subscription_id: str) -> None:
        self._subscriptions.pop(subscription_id, None)

    async def load_subscriptions(self, now: float) -> list[SubscriptionRecord]:
        live = [r for r in self._subscriptions.values() if r.expires_at > now]
        return sorted(live, key=lambda r: r.id)

    async def get_document(self, aor: str, auid: str, name: str) -> Document | None:
        return self._documents.get((aor, auid, name))

    async def put_document(self, document: Document) -> None:
        d = document
        self._documents[(d.aor, d.auid, d.name)] = d

    async def delete_document(self, aor: str, auid: str, name: str) -> bool:
        return self._documents.pop((aor, auid, name), None) is not None

    async def list_documents(self, auid: str) -> list[Document]:
        found = [d for d in self._documents.values() if d.auid == auid]
        return sorted(found, key=lambda d: (d.aor, d.name))

    def document_lock(self, aor: str, auid: str, name: str) -> AbstractAsyncContextManager[None]:
        return self._document_locks.hold((aor, auid, name))
