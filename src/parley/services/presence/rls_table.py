"""The resource list server's subscriptions (RFC 4662), sans-I/O: a notifier
``SubscriptionTable`` whose documents are the :class:`~.rls_state.ListView` bodies.

:class:`ResourceListTable` is what the RLS runtime (:mod:`.rls`) drives, as the presence
agent drives its table: SUBSCRIBEs go in with the resources already looked up, changes of
one resource or of the whole list go in as :class:`~.rls_state.ResourceView` values, and
NOTIFYs come out of :meth:`~ResourceListTable.outgoing`. ``now`` is the caller's monotonic
clock throughout.

Coalescing: a change hands the table a body with everything not sent yet, numbered with
the subscription's next RLMI version; within the rate-limit interval the table holds it
and sends the latest body at the interval's end (RFC 6665 §7.2, RFC 3856 §6.12). Only when
a NOTIFY with a body has gone out (:meth:`~ResourceListTable.outgoing`) does the next
partial state start, so nothing that changed is ever left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from parley.services.presence.rls_state import ListView, ResourceView
from parley.sip.core.subscription import (
    Authorization,
    NotifierSubscription,
    SubscribeOutcome,
    SubscriptionTable,
)
from parley.sip.dialog import DialogId
from parley.sip.errors import ParseError
from parley.sip.syntax import Request, Response, SipUri


@dataclass(slots=True)
class ListSubscription:
    """One subscription to a list: whose list, what it shows, and the type of each
    resource's document part."""

    owner: str
    view: ListView
    part_type: str


class ResourceListTable:
    """Every list subscription of one RLS, by dialog id, with the index of who owns which
    and which show a presentity."""

    def __init__(self, table: SubscriptionTable) -> None:
        self.table = table
        self._lists: dict[DialogId, ListSubscription] = {}
        self._by_owner: dict[str, set[DialogId]] = {}
        self._by_presentity: dict[str, set[DialogId]] = {}

    # -- lookups -----------------------------------------------------------------------

    def __contains__(self, dialog_id: object) -> bool:
        return dialog_id in self._lists

    def get(self, dialog_id: DialogId) -> ListSubscription | None:
        return self._lists.get(dialog_id)

    def subscription(self, dialog_id: DialogId) -> NotifierSubscription | None:
        """The notifier's subscription (dialog, expiry, version) of ``dialog_id``."""
        return self.table.get(dialog_id)

    def owned_by(self, owner: str) -> list[DialogId]:
        """The subscriptions to ``owner``'s lists."""
        return sorted(self._by_owner.get(owner, ()), key=str)

    def showing(self, presentity: str) -> list[DialogId]:
        """The subscriptions whose list shows the local user ``presentity``."""
        return sorted(self._by_presentity.get(presentity, ()), key=str)

    def concerns(self, aor: str) -> bool:
        """Whether a change of ``aor`` (its presence, rules or own list) matters here."""
        return aor in self._by_owner or aor in self._by_presentity

    # -- SUBSCRIBE ---------------------------------------------------------------------

    def receive_subscribe(
        self,
        request: Request,
        now: float,
        *,
        owner: str,
        resource: str,
        views: Iterable[ResourceView],
        part_type: str,
        salt: str,
        contact: SipUri | None = None,
    ) -> SubscribeOutcome:
        """A new SUBSCRIBE from ``owner`` (already authenticated) to its list
        ``resource`` (an AOR) showing ``views``: the table checks Event, Expires,
        ``eventlist`` (421), Accept (406), and the first NOTIFY carries full state, RLMI
        version 0. ``salt`` makes the subscription's Content-IDs unique."""
        host = resource.rpartition("@")[2] or "localhost"
        view = ListView(f"sip:{resource}", host, salt)
        view.replace(views)
        content_type, body = view.render(0)
        outcome = self.table.receive_subscribe(
            request,
            now,
            decision=Authorization.ALLOW,
            document=body,
            content_type=content_type,
            resource=resource,
            resource_list=True,
            contact=contact,
        )
        sub = outcome.subscription
        if outcome.created and sub is not None:
            self._lists[sub.id] = ListSubscription(owner, view, part_type)
            self._by_owner.setdefault(owner, set()).add(sub.id)
            self._index(sub.id, view)
        return outcome

    def restored(
        self,
        dialog_id: DialogId,
        now: float,
        *,
        owner: str,
        views: Iterable[ResourceView],
        part_type: str,
        salt: str,
    ) -> bool:
        """Take charge again of a subscription the table got back after a restart
        (``SubscriptionTable.restore``): its resources are ``views`` now, and since they
        may have changed meanwhile, full state goes out (with the next version). False
        when the table does not hold it."""
        sub = self.table.get(dialog_id)
        if sub is None:
            return False
        view = ListView(f"sip:{sub.resource}", sub.resource.rpartition("@")[2], salt)
        view.replace(views)
        entry = self._lists[dialog_id] = ListSubscription(owner, view, part_type)
        self._by_owner.setdefault(owner, set()).add(dialog_id)
        self._index(dialog_id, view)
        return self._push(dialog_id, entry, now)

    def receive_in_dialog(self, request: Request, now: float) -> SubscribeOutcome:
        """A refresh or unsubscription (RFC 6665 §4.2.1.4), or 481. Its NOTIFY carries
        full state (RFC 4662 allows it anytime), so a subscriber that missed a partial
        NOTIFY is whole again after a refresh."""
        try:
            dialog_id = DialogId.of_request(request)
        except ParseError:
            dialog_id = None  # the table answers 400
        sub = None if dialog_id is None else self.table.get(dialog_id)
        entry = None if dialog_id is None else self._lists.get(dialog_id)
        if sub is not None and entry is not None:
            entry.view.full_state()
            sub.document_type, sub.document = entry.view.render(sub.version)
        return self.table.receive_subscribe(request, now)

    # -- changes -----------------------------------------------------------------------

    def replace(self, dialog_id: DialogId, views: Iterable[ResourceView], now: float) -> bool:
        """The owner's list may have changed: ``views`` are all its resources now. True
        when a NOTIFY was handed to the table (now or at the end of the rate limit)."""
        entry = self._lists.get(dialog_id)
        if entry is None or not entry.view.replace(views):
            return False
        self._unindex(dialog_id)
        self._index(dialog_id, entry.view)
        return self._push(dialog_id, entry, now)

    def update(self, dialog_id: DialogId, view: ResourceView, now: float) -> bool:
        """One resource of the list looks different now (``view``). True when a NOTIFY
        was handed to the table."""
        entry = self._lists.get(dialog_id)
        if entry is None or not entry.view.update(view):
            return False
        return self._push(dialog_id, entry, now)

    def _push(self, dialog_id: DialogId, entry: ListSubscription, now: float) -> bool:
        sub = self.table.get(dialog_id)
        if sub is None:
            return False
        content_type, body = entry.view.render(sub.version)
        return self.table.update(dialog_id, body, now, content_type=content_type)

    # -- the table's other inputs ----------------------------------------------------------

    def outgoing(self) -> list[tuple[DialogId, Request]]:
        """The NOTIFYs to send, oldest first. Each with a body ends a partial state; the
        subscriptions whose final NOTIFY is among them are forgotten (``in`` is False)."""
        out = self.table.outgoing_by_dialog()
        for dialog_id, notify in out:
            entry = self._lists.get(dialog_id)
            if entry is not None and notify.body:
                entry.view.sent()
            if dialog_id not in self.table:
                self._forget(dialog_id)
        return out

    def handle_timeout(self, now: float) -> None:
        """Expiries (final NOTIFYs, ``reason=timeout``) and the NOTIFYs the rate limit
        held back."""
        self.table.handle_timeout(now)

    def next_deadline(self) -> float | None:
        return self.table.next_deadline()

    def notify_failed(self, dialog_id: DialogId) -> bool:
        """A NOTIFY could not be sent (RFC 6665 §4.2.2): the subscription ends. True when
        it was held."""
        removed = self.table.notify_failed(dialog_id) is not None
        self._forget(dialog_id)
        return removed

    def receive_notify_response(self, response: Response) -> bool:
        """A response to one of our NOTIFYs; True when it ended the subscription (481,
        408)."""
        removed = self.table.receive_notify_response(response)
        if removed is None:
            return False
        self._forget(removed.id)
        return True

    # -- bookkeeping -------------------------------------------------------------------

    def _index(self, dialog_id: DialogId, view: ListView) -> None:
        for resource in view.resources.values():
            if resource.presentity is not None:
                self._by_presentity.setdefault(resource.presentity, set()).add(dialog_id)

    def _unindex(self, dialog_id: DialogId) -> None:
        for presentity in [p for p, ids in self._by_presentity.items() if dialog_id in ids]:
            ids = self._by_presentity[presentity]
            ids.discard(dialog_id)
            if not ids:
                del self._by_presentity[presentity]

    def _forget(self, dialog_id: DialogId) -> None:
        entry = self._lists.pop(dialog_id, None)
        if entry is None:
            return
        ids = self._by_owner.get(entry.owner)
        if ids is not None:
            ids.discard(dialog_id)
            if not ids:
                del self._by_owner[entry.owner]
        self._unindex(dialog_id)


__all__ = ["ListSubscription", "ResourceListTable"]
