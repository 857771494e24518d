"""Where the server keeps its state, behind interfaces so that several server nodes can
later share PostgreSQL and Redis: accounts, registrations (bindings), stored messages.

Every method is a coroutine; implementations must not block the event loop.
"""

from parley.services.storage.interface import (
    Account,
    Binding,
    Document,
    PresenceStorage,
    Publication,
    QuotaExceeded,
    Storage,
    StoredMessage,
    SubscriptionRecord,
)

__all__ = [
    "Account",
    "Binding",
    "Document",
    "PresenceStorage",
    "Publication",
    "QuotaExceeded",
    "Storage",
    "StoredMessage",
    "SubscriptionRecord",
]
