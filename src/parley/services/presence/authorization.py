"""Who may watch whom: RFC 5025 presence authorization rules, one document per presentity.

Each user's rules are the XCAP document ``pres-rules``/``index`` in storage (RFC 5025 §9.3
names the application usage; the XCAP server serves the same document). A watcher's
subscription is handled as the highest ``<sub-handling>`` of the rules that apply to it
(RFC 5025 §3.2.1); when none applies, the server's :class:`~.config.Policy` decides: ``ask``
makes it ``confirm`` (pending: a friend request), ``open`` makes it ``allow``.

The presentity answers a friend request by writing a rule for that one watcher
(:meth:`PresenceAuthorizer.set_rule`): ``allow``, ``polite-block`` (the watcher sees an
offline user forever, RFC 5025 §3.2.1), ``block`` (refused: 403, or ``terminated;
reason=rejected``) or ``confirm`` (leave it pending: ignoring). Adding someone to one's
buddy list allows them (:func:`added_entries` finds who was added).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from parley.payloads import presrules, resourcelists
from parley.payloads.errors import PayloadError
from parley.payloads.presrules import Ruleset, SubHandling
from parley.services.presence.config import Policy
from parley.services.storage import Document, PresenceStorage
from parley.sip.core.subscription import Authorization

log = logging.getLogger(__name__)

#: RFC 5025 §9.3: the XCAP application usage of presence authorization rules.
PRES_RULES_AUID = "pres-rules"
#: RFC 4826 §3.4: the application usage of resource lists (buddy lists).
RESOURCE_LISTS_AUID = "resource-lists"
#: The document name clients use for both (OMA and most SIMPLE clients say ``index``).
DOCUMENT_NAME = "index"

#: RFC 5025 §3.2.1 sub-handling -> the RFC 6665 notifier's decision.
DECISIONS: Mapping[SubHandling, Authorization] = MappingProxyType(
    {
        SubHandling.ALLOW: Authorization.ALLOW,
        SubHandling.POLITE_BLOCK: Authorization.POLITE_BLOCK,
        # "confirm": the subscription waits in pending for the presentity (RFC 3856 §6.6).
        SubHandling.CONFIRM: Authorization.PENDING,
        SubHandling.BLOCK: Authorization.DENY,
    }
)


def watcher_uri(aor: str) -> str:
    """The identity a rule names a watcher by (RFC 4745 §7.1.1: a SIP URI)."""
    return aor if ":" in aor else f"sip:{aor}"


class PresenceAuthorizer:
    """Reads and writes each presentity's pres-rules in ``storage``.

    Nothing is cached: the XCAP server may change a document at any time, and a SUBSCRIBE
    costs one document read. ``now`` for validity conditions is the wall clock (RFC 4745
    §7.3 periods are absolute times).
    """

    def __init__(self, storage: PresenceStorage, policy: Policy) -> None:
        self.storage = storage
        self.policy = policy

    @property
    def default(self) -> SubHandling:
        """What applies when no rule does (RFC 5025 §3.2.1 would say ``block``; an
        ``ask`` server asks instead)."""
        return SubHandling.ALLOW if self.policy is Policy.OPEN else SubHandling.CONFIRM

    async def ruleset(self, presentity: str) -> Ruleset:
        """``presentity``'s rules; an absent or unreadable document is no rule at all."""
        document = await self.storage.get_document(presentity, PRES_RULES_AUID, DOCUMENT_NAME)
        if document is None:
            return Ruleset()
        try:
            return presrules.parse(document.content)
        except PayloadError as exc:
            log.warning("pres-rules of %s unreadable, using none: %s", presentity, exc)
            return Ruleset()

    async def handling(self, presentity: str, watcher: str) -> SubHandling:
        """RFC 5025 §3.2.1's answer for ``watcher`` (an AOR or URI) watching
        ``presentity``. A presentity may always watch itself."""
        if watcher_uri(watcher).lower() == watcher_uri(presentity).lower():
            return SubHandling.ALLOW
        rules = await self.ruleset(presentity)
        return rules.decision_for(watcher_uri(watcher), now=datetime.now(UTC), default=self.default)

    async def decide(self, presentity: str, watcher: str) -> Authorization:
        """The notifier's decision for a subscription of ``watcher`` to ``presentity``."""
        return DECISIONS[await self.handling(presentity, watcher)]

    async def set_rule(self, presentity: str, watcher: str, handling: SubHandling | str) -> Ruleset:
        """Write the one-watcher rule of ``presentity`` for ``watcher`` (RFC 5025 §3.2.1
        ``allow``, ``polite-block``, ``block`` or ``confirm``) and return the new rules.
        ValueError for another value."""
        value = SubHandling(handling)
        # The XCAP server writes the same document under the same lock (a PUT of
        # pres-rules at this moment must not lose this rule, nor this rule lose the PUT).
        async with self.storage.document_lock(presentity, PRES_RULES_AUID, DOCUMENT_NAME):
            rules = (await self.ruleset(presentity)).with_rule_for(watcher_uri(watcher), value)
            await self.storage.put_document(
                Document(
                    aor=presentity,
                    auid=PRES_RULES_AUID,
                    name=DOCUMENT_NAME,
                    content_type=presrules.CONTENT_TYPE,
                    content=presrules.serialize(rules),
                    # RFC 4825 §7.10: a new entity tag for every change of the document.
                    etag=secrets.token_hex(8),
                )
            )
        return rules


def added_entries(
    old: resourcelists.ResourceLists | None, new: resourcelists.ResourceLists
) -> list[str]:
    """The entry URIs of ``new`` buddy lists that ``old`` did not have, in document order:
    the people a user just added, whom adding allows (a friendship both ways, as in QQ)."""
    before = set() if old is None else {e.uri for lst in old.lists for e in lst.entries()}
    out: list[str] = []
    for lst in new.lists:
        for entry in lst.entries():
            if entry.uri not in before and entry.uri not in out:
                out.append(entry.uri)
    return out


__all__ = [
    "DECISIONS",
    "DOCUMENT_NAME",
    "PRES_RULES_AUID",
    "RESOURCE_LISTS_AUID",
    "PresenceAuthorizer",
    "added_entries",
    "watcher_uri",
]
