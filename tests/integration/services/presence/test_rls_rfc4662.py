"""The resource list server (RFC 4662) of ``parley serve``: Alice subscribes once to her buddy
list ``sip:alice+buddies@example.com`` and gets ``multipart/related`` NOTIFYs with RLMI and
each buddy's presence: full state first, then partial state with only what changed, the RLMI
version one more each time. Buddies who have not allowed her are pending without a document
(RFC 3856 §6.6); other domains' users are listed pending. Only the owner may subscribe (403),
and only with ``Supported: eventlist`` (421, §5.1). Refresh, unsubscription, expiry and list
changes made over XCAP (RFC 4825/4826) all end up in NOTIFYs.

SUBSCRIBEs are sent by hand (``Account.request`` for the first one, which answers the
digest challenge; in-dialog ones built here) so that every header is the test's to choose.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from presence_support import (
    DOMAIN,
    WAIT,
    NotifyCollector,
    add_users,
    free_port,
    make_account,
    port_of,
    start,
    subscription_state,
)

from parley.apps.server import Server
from parley.client import Account
from parley.client.presence import PresenceChange
from parley.client.rls import watch_buddies
from parley.client.xcap import XcapClient
from parley.payloads import multipart, resourcelists, rlmi
from parley.payloads.resourcelists import Entry, ResourceLists
from parley.runtime.http import HttpServer
from parley.services.presence import DOCUMENT_NAME, RESOURCE_LISTS_AUID
from parley.services.storage import Document
from parley.services.xcap import XcapHooks, start_http
from parley.sip.core.subscription import SubscriptionState
from parley.sip.core.uac import build_request
from parley.sip.syntax import Request, Response

ALICE, BOB, CAROL = (f"{user}@{DOMAIN}" for user in ("alice", "bob", "carol"))
FOREIGN = "dave@elsewhere.example.org"
ALICE_LIST = f"sip:alice+buddies@{DOMAIN}"
ACCEPT = ("Accept", "multipart/related, application/rlmi+xml, application/pidf+xml")

Accounts = Callable[..., Account]


@dataclass(frozen=True)
class ListNotify:
    """One list NOTIFY, read: its Subscription-State, its RLMI, and each resource's
    presence by URI (``basic`` None when it came without a document)."""

    state: SubscriptionState
    document: rlmi.List | None
    presence: dict[str, PresenceChange]

    def instance(self, uri: str) -> rlmi.Instance:
        assert self.document is not None
        resource = self.document.resource(uri)
        assert resource is not None, f"{uri} is not in this NOTIFY"
        return resource.instances[0]


def read(notify: Request) -> ListNotify:
    state = subscription_state(notify)
    # RFC 4662 §5: every NOTIFY of a list subscription requires eventlist.
    assert "eventlist" in notify.headers.values("Require")
    if not notify.body:
        return ListNotify(state, None, {})
    content_type = notify.headers.get("Content-Type") or ""
    body = multipart.parse(content_type, notify.body)
    assert body.type == rlmi.CONTENT_TYPE and body.root is body.parts[0]
    document = rlmi.parse(body.root.body)
    presence: dict[str, PresenceChange] = {}
    for resource in document.resources:
        cid = resource.instances[0].cid
        part = None if cid is None else body.part(cid)
        content = b"" if part is None else part.body
        media = None if part is None else part.content_type
        presence[resource.uri] = PresenceChange.of(resource.uri, state, media, content)
    return ListNotify(state, document, presence)


class ListSubscription:
    """A subscription to a list made by hand: the first SUBSCRIBE through
    ``Account.request`` (digest), in-dialog ones with the dialog's tags and CSeq."""

    def __init__(self, account: Account, server: Server) -> None:
        self.account = account
        self.server = server
        self.notifies = NotifyCollector(account)
        self.response: Response | None = None
        self.cseq = 0

    async def subscribe(
        self, uri: str = ALICE_LIST, *, expires: int = 60, eventlist: bool = True
    ) -> Response:
        headers = [("Event", "presence"), ACCEPT, ("Contact", self.account.contact)]
        headers.append(("Expires", str(expires)))
        if eventlist:
            headers.append(("Supported", "eventlist"))
        self.response = await self.account.request("SUBSCRIBE", uri, headers=headers)
        self.cseq = self.response.cseq.seq
        return self.response

    async def in_dialog(self, expires: int) -> Response:
        """A refresh, or with ``expires`` 0 an unsubscription (RFC 6665 §4.1.2)."""
        assert self.response is not None
        self.cseq += 1
        account = self.account
        request = build_request(
            "SUBSCRIBE",
            f"sip:127.0.0.1:{port_of(self.server, account.transport)}",
            from_=self.response.headers.get("From") or "",
            to=self.response.headers.get("To"),
            sent_by=account.endpoint.sent_by(account.transport),
            ids=account.endpoint.stack.ids,
            cseq=self.cseq,
            call_id=self.response.call_id,
            headers=[
                ("Event", "presence"),
                ("Contact", account.contact),
                ("Expires", str(expires)),
                ("Supported", "eventlist"),
                ACCEPT,
            ],
        )
        assert account.server is not None
        return await account.endpoint.request(request, account.server)

    async def next(self) -> ListNotify:
        return read(await self.notifies.next(WAIT))


async def set_buddies(server: Server, owner: str, *uris: str) -> None:
    """Write ``owner``'s buddy list as the XCAP server would, and tell presence of it
    through the XCAP server's hook."""
    storage = server.storage
    old = await storage.get_document(owner, RESOURCE_LISTS_AUID, DOCUMENT_NAME)
    entries = tuple(Entry(uri) for uri in uris)
    lists = ResourceLists((resourcelists.List("buddies", items=entries),))
    content = resourcelists.serialize(lists)
    await storage.put_document(
        Document(
            aor=owner,
            auid=RESOURCE_LISTS_AUID,
            name=DOCUMENT_NAME,
            content_type=resourcelists.CONTENT_TYPE,
            content=content,
            etag=secrets.token_hex(8),
        )
    )
    before = None if old is None else old.content
    await server.presence.document_updated(owner, RESOURCE_LISTS_AUID, before, content)


async def next_version(subscription: ListSubscription, last: ListNotify) -> ListNotify:
    """The next NOTIFY, checked to be the next RLMI version (RFC 4662 §5.2)."""
    notify = await subscription.next()
    assert last.document is not None and notify.document is not None
    assert notify.document.version == last.document.version + 1
    return notify


async def test_full_state_then_partial_state(server: Server, account: Accounts) -> None:
    await set_buddies(server, ALICE, f"sip:{BOB}", f"sip:{CAROL}", f"sip:{FOREIGN}")
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account("alice") as alice, account("bob") as bob:
        subscription = ListSubscription(alice, server)
        response = await subscription.subscribe()
        assert response.status == 200
        assert "eventlist" in response.headers.values("Require")
        first = await subscription.next()
        assert first.state.active and first.document is not None
        assert (first.document.uri, first.document.version, first.document.full_state) == (
            ALICE_LIST,
            0,
            True,
        )
        uris = [r.uri for r in first.document.resources]
        assert uris == [f"sip:{BOB}", f"sip:{CAROL}", f"sip:{FOREIGN}"]
        # Bob allows Alice: active, with his document (closed: not registered).
        assert first.instance(f"sip:{BOB}").state is rlmi.InstanceState.ACTIVE
        assert first.presence[f"sip:{BOB}"].basic == "closed"
        # Carol has not answered: pending and nothing of hers (RFC 3856 §6.6).
        carol = first.instance(f"sip:{CAROL}")
        assert (carol.state, carol.cid) == (rlmi.InstanceState.PENDING, None)
        assert first.instance(f"sip:{FOREIGN}").state is rlmi.InstanceState.PENDING

        # Bob registers, then publishes: partial state with Bob only, until he is away.
        assert (await bob.register()).status == 200
        assert (await bob.publish_status(True, "away", "lunch")).status == 200
        last = first
        while True:
            last = await next_version(subscription, last)
            assert last.document is not None and not last.document.full_state
            assert [r.uri for r in last.document.resources] == [f"sip:{BOB}"]
            if last.presence[f"sip:{BOB}"].activities == ("away",):
                break
        assert last.presence[f"sip:{BOB}"].basic == "open"

        # Carol allows Alice: her resource becomes active, in a partial NOTIFY of its own.
        await server.presence.set_rule(CAROL, ALICE, "allow")
        allowed = await next_version(subscription, last)
        assert allowed.document is not None and not allowed.document.full_state
        assert [r.uri for r in allowed.document.resources] == [f"sip:{CAROL}"]
        assert allowed.instance(f"sip:{CAROL}").state is rlmi.InstanceState.ACTIVE
        assert allowed.presence[f"sip:{CAROL}"].basic == "closed"

        # A refresh is answered with full state, the next version.
        assert (await subscription.in_dialog(60)).status == 200
        refreshed = await next_version(subscription, allowed)
        assert refreshed.document is not None and refreshed.document.full_state
        assert len(refreshed.document.resources) == 3

        # Unsubscribing: the final NOTIFY, terminated;reason=timeout, with full state.
        assert (await subscription.in_dialog(0)).status == 200
        final = await next_version(subscription, refreshed)
        assert (final.state.state, final.state.reason) == ("terminated", "timeout")
        assert final.document is not None and final.document.full_state


async def test_blocking_and_unknown_buddies(server: Server, account: Accounts) -> None:
    await set_buddies(server, ALICE, f"sip:{BOB}", f"sip:{CAROL}", f"sip:nobody@{DOMAIN}")
    await server.presence.set_rule(BOB, ALICE, "block")
    await server.presence.set_rule(CAROL, ALICE, "polite-block")
    async with account("alice") as alice:
        subscription = ListSubscription(alice, server)
        assert (await subscription.subscribe()).status == 200
        first = await subscription.next()
        bob = first.instance(f"sip:{BOB}")
        assert (bob.state, bob.reason, bob.cid) == (rlmi.InstanceState.TERMINATED, "rejected", None)
        # Polite blocking looks like an offline user (RFC 5025 §3.2.1).
        assert first.instance(f"sip:{CAROL}").state is rlmi.InstanceState.ACTIVE
        assert first.presence[f"sip:{CAROL}"].basic == "closed"
        nobody = first.instance(f"sip:nobody@{DOMAIN}")
        assert (nobody.state, nobody.reason) == (rlmi.InstanceState.TERMINATED, "noresource")


async def test_refusals(server: Server, account: Accounts) -> None:
    async with account("alice") as alice, account("bob") as bob:
        # RFC 4662 §5.1: without Supported: eventlist, 421 with Require: eventlist.
        without = await ListSubscription(alice, server).subscribe(eventlist=False)
        assert without.status == 421
        assert "eventlist" in without.headers.values("Require")
        # Only the owner may subscribe to a buddy list.
        other = await ListSubscription(bob, server).subscribe()
        assert other.status == 403


async def test_expiry_ends_with_timeout(server: Server, account: Accounts) -> None:
    await set_buddies(server, ALICE, f"sip:{BOB}")
    async with account("alice", "tcp") as alice:
        subscription = ListSubscription(alice, server)
        response = await subscription.subscribe(expires=1)
        assert response.status == 200 and response.headers.get("Expires") == "1"
        assert (await subscription.next()).state.active
        final = await subscription.next()
        assert (final.state.state, final.state.reason) == ("terminated", "timeout")
        # The dialog is gone: a refresh in it is answered 481 (RFC 6665 §4.1.2.2).
        assert (await subscription.in_dialog(60)).status == 481


@pytest.fixture
async def http(server: Server) -> AsyncIterator[HttpServer]:
    running = await start_http(
        "127.0.0.1",
        0,
        transports=server.endpoint.transports,
        storage=server.storage,
        xcap_hooks=XcapHooks(on_update=server.presence.document_updated),
    )
    yield running
    await running.close()


async def test_buddies_added_and_removed_over_xcap(
    server: Server, http: HttpServer, account: Accounts
) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    base = f"http://127.0.0.1:{http.port}/xcap-root"
    async with (
        account("alice") as alice,
        XcapClient(ALICE, "alice-password", base_url=base) as xcap,
    ):
        subscription = ListSubscription(alice, server)
        assert (await subscription.subscribe()).status == 200
        empty = await subscription.next()
        assert empty.document is not None and empty.document.resources == ()

        await xcap.add_buddy(BOB, "Bob")
        added = await next_version(subscription, empty)
        assert added.document is not None and added.document.full_state
        (resource,) = added.document.resources
        assert resource.names == (rlmi.Name("Bob"),)
        assert added.presence[resource.uri].basic == "closed"

        await xcap.remove_buddy(BOB)
        removed = await next_version(subscription, added)
        assert removed.document is not None and removed.document.full_state
        assert removed.document.resources == ()


async def test_sdk_buddy_list_watch(server: Server, account: Accounts) -> None:
    """The SDK's reader (``parley.client.rls``) turns the NOTIFYs into buddy changes."""
    await set_buddies(server, ALICE, f"sip:{BOB}", f"sip:{CAROL}")
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account("alice") as alice, account("bob") as bob:
        async with watch_buddies(alice) as watch:
            first = await watch.next(WAIT)
            assert first.full_state and first.version == 0
            assert [(b.uri, b.state, b.basic) for b in first.buddies] == [
                (f"sip:{BOB}", "active", "closed"),
                (f"sip:{CAROL}", "pending", None),
            ]
            assert (await bob.publish_status(True, "busy")).status == 200
            while True:  # the publication, perhaps after other changes of Bob's
                change = await watch.next(WAIT)
                assert not change.full_state and change.changed == (f"sip:{BOB}",)
                assert not change.out_of_sync
                busy = change.buddy(f"sip:{BOB}")
                assert busy is not None
                if busy.activities:
                    break
            assert (busy.basic, busy.activities) == ("open", ("busy",))
            # Carol, unchanged, is still known from the full state.
            carol = change.buddy(f"sip:{CAROL}")
            assert carol is not None and carol.state == "pending"
        assert watch.done


async def test_list_subscription_survives_a_restart(tmp_path: Path) -> None:
    """Saved with the presence agent's subscriptions (issue 4): after a restart on the same
    data directory the list's NOTIFYs go on in the same dialog, full state first (the
    buddies may have changed meanwhile), versions still counting."""
    port = free_port()
    data = tmp_path / "data"
    listen = [f"udp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}"]
    server: Server | None = await start(data, listen)
    assert server is not None
    try:
        await add_users(server)
        await set_buddies(server, ALICE, f"sip:{BOB}")
        await server.presence.set_rule(BOB, ALICE, "allow")
        async with make_account(server, "alice") as alice, make_account(server, "bob") as bob:
            # Registered, so that the restarted server finds Alice's device by its binding.
            assert (await alice.register()).status == 200
            subscription = ListSubscription(alice, server)
            assert (await subscription.subscribe()).status == 200
            first = await subscription.next()
            await server.close()
            server = None
            server = subscription.server = await start(data, listen)
            again = await next_version(subscription, first)
            assert again.document is not None and again.document.full_state
            assert again.presence[f"sip:{BOB}"].basic == "closed"
            assert (await bob.register()).status == 200
            online = await next_version(subscription, again)
            assert online.document is not None and not online.document.full_state
            assert online.presence[f"sip:{BOB}"].basic == "open"
            assert (await subscription.in_dialog(0)).status == 200
            final = await next_version(subscription, online)
            assert final.state.state == "terminated"
    finally:
        if server is not None:
            await server.close()
