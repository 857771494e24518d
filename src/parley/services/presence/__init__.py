"""The presence agent (RFC 3856) with watcher information (RFC 3857/3858), publication
(RFC 3903), composition with registrations, and presence authorization (RFC 5025).

:class:`PresenceService` is the entry point; the modules are its parts: ``agent``
(SUBSCRIBE/NOTIFY on the endpoint), ``publications`` (PUBLISH), ``composition`` (one
document per presentity), ``authorization`` (pres-rules, friend requests), ``winfo``
(watcher information documents), ``persistence`` (subscriptions across restarts),
``delivery`` (where NOTIFYs go), ``rls`` (the resource list server of buddy lists, RFC 4662,
with its sans-I/O ``rls_state`` and ``rls_table``).
"""

from parley.services.presence.authorization import (
    DOCUMENT_NAME,
    PRES_RULES_AUID,
    RESOURCE_LISTS_AUID,
    PresenceAuthorizer,
    added_entries,
)
from parley.services.presence.config import Policy, PresenceConfig
from parley.services.presence.rls import ResourceListServer
from parley.services.presence.rls_state import LIST_SUFFIX, list_aor, list_owner
from parley.services.presence.service import (
    ChangeListener,
    PresenceService,
    SubscriptionHandler,
)

__all__ = [
    "DOCUMENT_NAME",
    "LIST_SUFFIX",
    "PRES_RULES_AUID",
    "RESOURCE_LISTS_AUID",
    "ChangeListener",
    "Policy",
    "PresenceAuthorizer",
    "PresenceConfig",
    "PresenceService",
    "ResourceListServer",
    "SubscriptionHandler",
    "added_entries",
    "list_aor",
    "list_owner",
]
