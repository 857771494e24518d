"""What one resource list subscription shows (RFC 4662), sans-I/O: the list URI convention,
the buddies of a resource-lists document, and the ``multipart/related`` NOTIFY bodies.

List URIs: a user's buddy list is ``sip:<user>+buddies@<domain>`` (:func:`list_aor`): every
entry of every list in the user's resource-lists document ``index`` (RFC 4826, the same
document the XCAP server serves), nested lists flattened, each URI once, in document order.

:class:`ListView` holds one subscription's view of its resources (their RLMI instance state
and presence document) and renders the bodies: full state first (every resource), then
partial state with only the resources that changed since the last NOTIFY that went out
(RFC 4662 §4.3, §5.2). The caller says when a body was sent (:meth:`ListView.sent`); until
then, further changes accumulate in the next body, so a NOTIFY held back by the rate limit
and sent later carries all of them (coalescing never drops a change). RLMI versions are the
subscription's NOTIFY count, which the caller passes in: version 0 first, one more per body
sent (RFC 4662 §5.2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from parley.payloads import multipart, resourcelists, rlmi
from parley.payloads.rlmi import InstanceState

#: The user-part suffix of a buddy list's URI: ``alice+buddies@example.com``.
LIST_SUFFIX = "+buddies"


def list_aor(owner: str) -> str:
    """The AOR of ``owner``'s buddy list: ``alice@example.com`` ->
    ``alice+buddies@example.com``."""
    user, _, domain = owner.partition("@")
    return f"{user}{LIST_SUFFIX}@{domain}"


def list_owner(aor: str) -> str | None:
    """The owner of the buddy list ``aor`` names, or None when it names no list."""
    user, at, domain = aor.rpartition("@")
    if not at or not user.endswith(LIST_SUFFIX) or len(user) == len(LIST_SUFFIX):
        return None
    return f"{user[: -len(LIST_SUFFIX)]}@{domain}"


@dataclass(frozen=True, slots=True)
class Buddy:
    """One entry of a buddy list: its ``uri`` as written and its display name."""

    uri: str
    name: str | None = None


def buddies(lists: resourcelists.ResourceLists | None) -> tuple[Buddy, ...]:
    """Every entry of every list (nested ones included), each URI once, in document order.
    Entry references and externals are not followed (RFC 4826 §3.3.3-4 allow an RLS to
    resolve them; Parley's clients write plain entries)."""
    if lists is None:
        return ()
    seen: set[str] = set()
    out: list[Buddy] = []
    for top in lists.lists:
        for entry in top.entries():
            if entry.uri in seen:
                continue
            seen.add(entry.uri)
            name = entry.display_name.text if entry.display_name is not None else None
            out.append(Buddy(entry.uri, name or None))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ResourceView:
    """What the list shows of one resource: its RLMI instance ``state`` (RFC 4662 §5.2),
    the ``reason`` of a terminated one, and the presence ``document`` (of
    ``content_type``) when the owner may see it (none while pending: RFC 3856 §6.6).
    ``presentity`` is the local AOR it shows (None for other domains): whose changes
    concern it."""

    uri: str
    name: str | None
    state: InstanceState
    reason: str | None = None
    document: bytes | None = None
    content_type: str | None = None
    presentity: str | None = None


def _token(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class ListView:
    """The resources of one list subscription and the NOTIFY bodies that report them.

    ``uri`` is the list's URI as RLMI names it, ``host`` the right-hand side of the
    Content-IDs, ``salt`` a value unique to the subscription (Content-IDs must be unique,
    RFC 2392; they are derived from it, the resource and the version).
    """

    __slots__ = ("_changed", "_full", "host", "resources", "salt", "uri")

    def __init__(self, uri: str, host: str, salt: str) -> None:
        self.uri = uri
        self.host = host
        self.salt = salt
        #: The resources in list order, by URI.
        self.resources: dict[str, ResourceView] = {}
        self._changed: set[str] = set()
        self._full = True

    @property
    def pending_change(self) -> bool:
        """Whether something changed since the last body sent."""
        return self._full or bool(self._changed)

    def replace(self, views: Iterable[ResourceView]) -> bool:
        """The list itself may have changed (a buddy added, removed or renamed): take
        ``views`` as its resources. True when anything differs; a change of membership or
        order makes the next body full state (RFC 4662 §4.3 allows full state anytime)."""
        new = {view.uri: view for view in views}
        if new == self.resources and list(new) == list(self.resources):
            return False
        if list(new) != list(self.resources):
            self._full = True
        else:
            self._changed.update(uri for uri, view in new.items() if self.resources[uri] != view)
        self.resources = new
        return True

    def update(self, view: ResourceView) -> bool:
        """A new view of one resource already on the list; True when it differs."""
        old = self.resources.get(view.uri)
        if old is None or old == view:
            return False
        self.resources[view.uri] = view
        self._changed.add(view.uri)
        return True

    def full_state(self) -> None:
        """Make the next body full state (a refresh or the final NOTIFY resends it all)."""
        self._full = True

    def sent(self) -> None:
        """A NOTIFY carrying the latest body went out: start the next partial state."""
        self._full = False
        self._changed.clear()

    def render(self, version: int) -> tuple[str, bytes]:
        """The body of NOTIFY number ``version`` and its Content-Type value: RLMI root
        first (RFC 4662 §5: ``type`` and ``start`` name it), then one part per resource
        that has a document."""
        full = self._full
        chosen = [v for v in self.resources.values() if full or v.uri in self._changed]
        root_cid = f"{_token(self.salt, 'rlmi', str(version))}@{self.host}"
        resources: list[rlmi.Resource] = []
        parts: list[multipart.Part] = []
        for view in chosen:
            instance_id = _token(self.salt, view.uri)[:10]
            cid: str | None = None
            if view.document is not None and view.content_type is not None:
                cid = f"{_token(self.salt, view.uri, str(version))}@{self.host}"
                parts.append(multipart.Part(view.content_type, view.document, cid))
            instance = rlmi.Instance(instance_id, view.state, view.reason, cid)
            names = (rlmi.Name(view.name),) if view.name else ()
            resources.append(rlmi.Resource(view.uri, names, (instance,)))
        document = rlmi.List(self.uri, version, full, resources=tuple(resources))
        root = multipart.Part(rlmi.CONTENT_TYPE, rlmi.serialize(document), root_cid)
        related = multipart.Related((root, *parts), rlmi.CONTENT_TYPE, root_cid)
        return multipart.serialize(related)


__all__ = [
    "LIST_SUFFIX",
    "Buddy",
    "ListView",
    "ResourceView",
    "buddies",
    "list_aor",
    "list_owner",
]
