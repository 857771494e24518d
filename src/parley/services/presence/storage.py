"""The storage the presence service needs: accounts and bindings (``Storage``) and the
presence tables (``PresenceStorage``), which SqliteStorage and MemoryStorage both provide."""

from __future__ import annotations

from typing import Protocol

from parley.services.storage import PresenceStorage, Storage


class PresenceStore(Storage, PresenceStorage, Protocol):
    """Accounts, bindings, publications, subscriptions and XCAP documents in one place."""


__all__ = ["PresenceStore"]
