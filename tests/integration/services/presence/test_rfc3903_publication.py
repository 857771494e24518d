"""PUBLISH (RFC 3903) and composition: several devices, entity-tags, expiry, refusals.

Watchers see the presentity's publications composed into one PIDF document (tuples of every
device, the person of the most recent publication, RFC 4479); a refresh gives a new
entity-tag, an unknown one is 412, an expired publication is gone from the document, and
when no publication is left the document says what registration says.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from presence_support import DOMAIN, WAIT, add_users, make_account, start, until

from parley.apps.server import Server
from parley.client import Account
from parley.payloads import pidf
from parley.services.presence import PresenceConfig
from parley.sip.syntax import Response

ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
PIDF = pidf.CONTENT_TYPE

Accounts = Callable[..., Account]


def document(account: Account, basic: str, note: str = "") -> bytes:
    note_xml = f"<note>{note}</note>" if note else ""
    return (
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:{account.aor}">'
        f'<tuple id="raw"><status><basic>{basic}</basic></status>{note_xml}</tuple></presence>'
    ).encode()


async def publish(
    account: Account,
    body: bytes = b"",
    *,
    etag: str | None = None,
    expires: int | None = None,
    event: str = "presence",
    content_type: str = PIDF,
    to: str | None = None,
) -> Response:
    headers = [("Event", event)]
    if etag is not None:
        headers.append(("SIP-If-Match", etag))
    if expires is not None:
        headers.append(("Expires", str(expires)))
    return await account.request(
        "PUBLISH",
        f"sip:{to or account.aor}",
        headers=headers,
        body=body,
        content_type=content_type if body else None,
    )


async def test_two_devices_compose_into_one_document(server: Server, account: Accounts) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account("alice") as alice, account("bob") as laptop, account("bob", "tcp") as phone:
        watch = alice.watch(BOB)
        assert (await watch.next(WAIT)).basic == "closed"
        assert (await laptop.publish_status(True, "away", "in a meeting")).status == 200
        change = await until(watch, lambda c: c.note == "in a meeting")
        assert (change.basic, change.activities) == ("open", ("away",))
        assert change.contact == laptop.contact.strip("<>")
        assert (await phone.publish_status(True, "on-the-phone", "call me later")).status == 200
        change = await until(watch, lambda c: c.note == "call me later")
        assert change.document is not None
        # Both devices' tuples; the person element from the most recent publication.
        contacts = {t.contact.uri for t in change.document.tuples if t.contact}
        assert contacts == {laptop.contact.strip("<>"), phone.contact.strip("<>")}
        assert change.activities == ("on-the-phone",)
        # The phone leaves (its publication is removed): the laptop's state is what is left.
        await phone.presence.unpublish()
        change = await until(watch, lambda c: c.note == "in a meeting")
        assert change.document is not None and len(change.document.tuples) == 1
        await watch.close()


async def test_entity_tags_refresh_modify_remove(server: Server, account: Accounts) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account("alice") as alice, account("bob") as bob:
        watch = alice.watch(BOB)
        assert (await watch.next(WAIT)).basic == "closed"
        created = await publish(bob, document(bob, "open", "first"), expires=60)
        assert created.status == 200 and created.headers.get("Expires") == "60"
        first = created.headers.get("SIP-ETag")
        assert first
        await until(watch, lambda c: c.note == "first")
        # RFC 3903 §4.3: a refresh has no body; every success gives a new entity-tag.
        refreshed = await publish(bob, etag=first, expires=60)
        assert refreshed.status == 200
        second = refreshed.headers.get("SIP-ETag")
        assert second and second != first
        # The old tag names nothing any more: 412 Conditional Request Failed (§6 step 3).
        assert (await publish(bob, etag=first, expires=60)).status == 412
        assert (await publish(bob, etag="never-issued")).status == 412
        # §4.4: modify.
        modified = await publish(bob, document(bob, "open", "second"), etag=second)
        assert modified.status == 200
        third = modified.headers.get("SIP-ETag")
        assert third and third not in (first, second)
        await until(watch, lambda c: c.note == "second")
        # §4.5: remove; with nothing published and no device registered, Bob is closed.
        removed = await publish(bob, etag=third, expires=0)
        assert removed.status == 200
        change = await until(watch, lambda c: c.note is None)
        assert change.basic == "closed"
        assert (await publish(bob, etag=third, expires=0)).status == 412
        await watch.close()


async def test_expired_publication_leaves_the_document(server: Server, account: Accounts) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account("alice") as alice, account("bob") as bob:
        await bob.register()
        watch = alice.watch(BOB)
        registered = await watch.next(WAIT)
        assert registered.basic == "open" and registered.note is None
        assert (
            await publish(bob, document(bob, "closed", "gone fishing"), expires=1)
        ).status == 200
        assert (await until(watch, lambda c: c.note == "gone fishing")).basic == "closed"
        # One second later the publication expires (RFC 3903 §6 step 5): registration
        # speaks for Bob again.
        back = await until(watch, lambda c: c.note is None)
        assert back.basic == "open" and back.contact == bob.contact.strip("<>")
        await watch.close()


async def test_publication_over_a_connection_ends_with_it(
    server: Server, account: Accounts
) -> None:
    # A browser tab closed, a phone gone: what it published over its connection goes with
    # the connection, as its registration does, instead of lingering until it expires.
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account("alice") as alice:
        bob = account("bob", "tcp")
        await bob.start()
        await bob.register()
        watch = alice.watch(BOB)
        assert (await publish(bob, document(bob, "open", "at my desk"), expires=3600)).status == 200
        assert (await until(watch, lambda c: c.note == "at my desk")).basic == "open"
        await bob.endpoint.close()  # the connection drops; nothing is unpublished
        gone = await until(watch, lambda c: c.note is None)
        assert gone.basic == "closed"
        assert await server.storage.get_publications(BOB, "presence", time.time()) == []
        await watch.close()


async def test_sdk_keeps_its_entity_tag_fresh(server: Server, account: Accounts) -> None:
    async with account("bob") as bob:
        response = await bob.publish_status(True, "meal", expires=2)
        assert response.status == 200
        first = bob.presence.etag
        assert first is not None and bob.presence.expires == 2

        # The SDK refreshes before expiry (RFC 3903 §4.3), which gives a new entity-tag.
        async def refreshed() -> None:
            while bob.presence.etag == first:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(refreshed(), WAIT)
        live = await server.storage.get_publications(BOB, "presence", server.presence.clock())
        assert [p.etag for p in live] == [bob.presence.etag]
        # A modification keeps using (and replacing) the tag.
        await bob.publish_status(False, note="offline for a while")
        live = await server.storage.get_publications(BOB, "presence", server.presence.clock())
        assert len(live) == 1 and b"offline for a while" in live[0].document


async def test_publish_refusals(server: Server, account: Accounts) -> None:
    async with account("alice") as alice, account("bob") as bob:
        # Only the presentity itself publishes its presence (RFC 3903 §6 step 1).
        assert (await publish(alice, document(bob, "open"), to=BOB)).status == 403
        # §6 step 2: an event package we do not compose.
        refused = await publish(bob, document(bob, "open"), event="dialog")
        assert refused.status == 489 and refused.headers.get("Allow-Events") == "presence"
        # §6 step 5: the initial publication must carry the state, as PIDF.
        assert (await publish(bob)).status == 400
        assert (await publish(bob, b"<presence", expires=60)).status == 400
        odd = await publish(bob, b"hello", content_type="text/plain")
        assert odd.status == 415 and PIDF in (odd.headers.get("Accept") or "")


async def test_too_brief_publication_and_subscription_get_423(tmp_path: Path) -> None:
    timings = PresenceConfig(min_expires=30, publish_min_expires=30, min_notify_interval=0.05)
    server = await start(tmp_path / "data", timings=timings)
    try:
        await add_users(server, "alice", "bob")
        async with make_account(server, "bob") as bob:
            brief = await publish(bob, document(bob, "open"), expires=5)
            assert (brief.status, brief.headers.get("Min-Expires")) == (423, "30")
            brief = await bob.request(
                "SUBSCRIBE",
                f"sip:{ALICE}",
                headers=[("Event", "presence"), ("Contact", bob.contact), ("Expires", "5")],
            )
            assert (brief.status, brief.headers.get("Min-Expires")) == (423, "30")
            # The SDK retries with the Min-Expires it was given (RFC 6665 §4.1.2.1).
            watch = bob.watch(ALICE, expires=5)
            assert (await watch.next(WAIT)).state == "pending"
            await watch.close()
    finally:
        await server.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_registration_is_presence_without_publication(
    server: Server, account: Accounts, transport: str
) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account("alice") as alice:
        watch = alice.watch(BOB)
        assert (await watch.next(WAIT)).basic == "closed"
        async with account("bob", transport) as bob:
            await bob.register()
            online = await watch.next(WAIT)
            assert (online.basic, online.contact) == ("open", bob.contact.strip("<>"))
            if transport == "udp":
                await bob.unregister()
        # Losing the last binding (unregistering, or the TCP connection closing, RFC 5626
        # §7) makes Bob closed again.
        offline = await watch.next(WAIT)
        assert (offline.basic, offline.contact) == ("closed", None)
        await watch.close()
