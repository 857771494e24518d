"""Friend requests: presence authorization (RFC 5025) under the default ``ask`` policy.

A watcher the presentity has not allowed stays pending and learns nothing (RFC 3856 §6.6);
the presentity sees it in its watcher information (RFC 3857) and answers by writing a
pres-rule: allow (the watcher gets the real document at once), polite-block (the watcher
sees an offline user that never changes), block (refused), or nothing (it waits). A request
made while the presentity is offline reaches it later, even when the watcher gave up
meanwhile (``waiting``, RFC 3857 §4.4). Adding someone to one's buddy list allows them.
"""

from __future__ import annotations

from collections.abc import Callable

from presence_support import DOMAIN, WAIT, until

from parley.apps.server import Server
from parley.client import Account
from parley.payloads.resourcelists import Entry, List, ResourceLists
from parley.services.presence import DOCUMENT_NAME, PRES_RULES_AUID

ALICE, BOB, CAROL = (f"{user}@{DOMAIN}" for user in ("alice", "bob", "carol"))

Accounts = Callable[..., Account]


async def test_pending_watcher_learns_nothing_until_allowed(
    server: Server, account: Accounts
) -> None:
    async with account("alice") as alice, account("bob") as bob:
        await bob.register()
        assert (await bob.publish_status(True, "busy", "writing")).status == 200
        watch = alice.watch(BOB)
        first = await watch.next(WAIT)
        assert (first.state, first.basic, first.document) == ("pending", None, None)
        # Bob's status changes; a refresh gets a NOTIFY at once, still without a document.
        await bob.publish_status(True, "away", "lunch")
        watch.refresh()
        again = await watch.next(WAIT)
        assert (again.state, again.document) == ("pending", None)
        async with bob.watchers() as requests:
            info = await requests.next(WAIT)
            assert info.pending == (f"sip:{ALICE}",) and info.active == ()
            await server.presence.set_rule(BOB, ALICE, "allow")
            change = await watch.next(WAIT)
            assert (change.state, change.basic) == ("active", "open")
            assert (change.activities, change.note) == (("away",), "lunch")
            info = await requests.next(WAIT)
            assert (info.active, info.pending) == ((f"sip:{ALICE}",), ())
        await watch.close()
    # The decision is an RFC 5025 rule in Bob's pres-rules document (what XCAP serves).
    stored = await server.storage.get_document(BOB, PRES_RULES_AUID, DOCUMENT_NAME)
    assert stored is not None and stored.content_type == "application/auth-policy+xml"
    assert b"sip:alice@example.com" in stored.content and b">allow<" in stored.content


async def test_request_waits_for_an_offline_presentity(server: Server, account: Accounts) -> None:
    async with account("alice") as alice:
        watch = alice.watch(BOB)
        assert (await watch.next(WAIT)).state == "pending"
        async with account("bob") as bob:
            await bob.register()
            async with bob.watchers() as requests:
                # Bob comes online: Alice's request is there.
                assert (await requests.next(WAIT)).pending == (f"sip:{ALICE}",)
                # Alice gives up before Bob answers: the request stays, as "waiting".
                await watch.close()
                info = await requests.next(WAIT)
                assert info.requests == (f"sip:{ALICE}",) and info.pending == ()
                assert [w.status for w in info.watchers] == ["waiting"]
                await server.presence.set_rule(BOB, ALICE, "allow")
                info = await requests.next(WAIT)
                assert info.watchers == ()
        # Next time Alice asks, she is let in at once.
        watch = alice.watch(BOB)
        change = await watch.next(WAIT)
        assert change.state == "active" and change.document is not None
        await watch.close()


async def test_waiting_request_reaches_presentity_that_was_never_online(
    server: Server, account: Accounts
) -> None:
    async with account("alice") as alice:
        watch = alice.watch(BOB)
        assert (await watch.next(WAIT)).state == "pending"
        await watch.close()
    async with account("bob") as bob:
        requests = bob.watchers()
        info = await requests.next(WAIT)
        assert info.requests == (f"sip:{ALICE}",)
        await requests.close()


async def test_polite_block_shows_an_offline_user_that_never_changes(
    server: Server, account: Accounts
) -> None:
    async with account("alice") as alice, account("bob") as bob, account("carol") as carol:
        await server.presence.set_rule(BOB, ALICE, "allow")
        await server.presence.set_rule(BOB, CAROL, "polite-block")
        friend, stranger = alice.watch(BOB), carol.watch(BOB)
        assert (await friend.next(WAIT)).basic == "closed"
        blocked = await stranger.next(WAIT)
        # RFC 5025 §3.2.1: to the watcher, a polite block looks like an active subscription.
        assert (blocked.state, blocked.basic, blocked.contact) == ("active", "closed", None)
        await bob.register()
        await bob.publish_status(True, "busy", "do not disturb")
        await until(friend, lambda c: "busy" in c.activities)
        stranger.refresh()
        same = await stranger.next(WAIT)
        assert (same.state, same.basic, same.activities, same.note) == (
            "active",
            "closed",
            (),
            None,
        )
        assert same.document == blocked.document

        # Bob blocks Alice too, politely: from now on she sees him offline, whatever he does.
        await server.presence.set_rule(BOB, ALICE, "polite-block")
        hidden = await friend.next(WAIT)
        assert (hidden.basic, hidden.contact, hidden.activities) == ("closed", None, ())
        await bob.publish_status(True, "away")
        friend.refresh()
        assert (await friend.next(WAIT)).document == blocked.document
        await friend.close()
        await stranger.close()


async def test_block_refuses(server: Server, account: Accounts) -> None:
    async with account("carol") as carol:
        watch = carol.watch(BOB)
        assert (await watch.next(WAIT)).state == "pending"
        await server.presence.set_rule(BOB, CAROL, "block")
        # RFC 6665 §4.1.3: rejected, and the subscriber must not try again.
        final = await watch.next(WAIT)
        assert (final.state, final.reason) == ("terminated", "rejected")
        assert [change async for change in watch] == []
        again = carol.watch(BOB)
        refused = await again.next(WAIT)
        assert (refused.state, again.status) == ("terminated", 403)


async def test_adding_a_buddy_allows_them(server: Server, account: Accounts) -> None:
    async with account("alice") as alice:
        watch = alice.watch(BOB)
        assert (await watch.next(WAIT)).state == "pending"
        # What the XCAP server calls when Bob's resource-lists document gains Alice.
        buddies = ResourceLists((List("buddies", items=(Entry(f"sip:{ALICE}"),)),))
        added = await server.presence.resource_lists_changed(BOB, None, buddies)
        assert added == [f"sip:{ALICE}"]
        change = await watch.next(WAIT)
        assert change.state == "active" and change.basic == "closed"
        await watch.close()


async def test_watcher_information_is_the_presentitys_own(
    server: Server, account: Accounts
) -> None:
    async with account("alice") as alice:
        response = await alice.request(
            "SUBSCRIBE",
            f"sip:{BOB}",
            headers=[("Event", "presence.winfo"), ("Contact", alice.contact), ("Expires", "60")],
        )
        assert response.status == 403
