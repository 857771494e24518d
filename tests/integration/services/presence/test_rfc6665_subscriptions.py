"""Presence subscriptions (RFC 6665 §4.2, RFC 3856 §6): the answer (200, or 202 by
setting), refresh, unsubscription with a final NOTIFY, expiry with ``reason=timeout``, and
the refusals: 489 for unknown events, 406 for bodies we cannot send, 481 for unknown
dialogs. The rate limit (RFC 3856 §6.12) coalesces changes and keeps the last one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from presence_support import (
    DOMAIN,
    WAIT,
    NotifyCollector,
    add_users,
    make_account,
    port_of,
    start,
    subscription_state,
)

from parley.apps.server import Server
from parley.client import Account
from parley.services.presence import PresenceConfig

ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"

Accounts = Callable[..., Account]


async def test_refresh_and_unsubscribe(server: Server, account: Accounts) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account("alice", "tcp") as alice:
        watch = alice.watch(BOB)
        first = await watch.next(WAIT)
        # RFC 6665 §8.3.1: a notifier answers 200 (202 is RFC 3265's, by setting only).
        assert watch.status == 200 and (first.state, first.basic) == ("active", "closed")
        # §4.2.1.4: every accepted refresh is followed by a NOTIFY with the current state.
        watch.refresh()
        again = await watch.next(WAIT)
        assert (again.state, again.document) == ("active", first.document)
        # §4.1.2.3 / §4.2.1.4: Expires 0 ends it with a final NOTIFY, reason=timeout,
        # carrying the state.
        await watch.close()
        final = [change async for change in watch]
        assert [(c.state, c.reason) for c in final] == [("terminated", "timeout")]
        assert final[0].document == first.document


async def test_expiry_sends_terminated_timeout(server: Server, account: Accounts) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account("alice") as alice:
        collector = NotifyCollector(alice)
        response = await alice.request(
            "SUBSCRIBE",
            f"sip:{BOB}",
            headers=[("Event", "presence"), ("Contact", alice.contact), ("Expires", "1")],
        )
        assert response.status == 200 and response.headers.get("Expires") == "1"
        assert "presence" in (response.headers.get("Allow-Events") or "")
        first = subscription_state(await collector.next())
        assert first.active and first.expires is not None and first.expires <= 1
        # Not refreshed: §4.2.1.4, the subscription ends with reason=timeout.
        final = subscription_state(await collector.next())
        assert (final.state, final.reason) == ("terminated", "timeout")
        # Its dialog is gone: a refresh in it would get 481 (§4.1.2.2).
        to = f"{response.headers.get('To')}"
        stale = await alice.request(
            "SUBSCRIBE",
            f"sip:127.0.0.1:{port_of(server, 'udp')}",
            to=to,
            call_id=response.call_id,
            headers=[("Event", "presence"), ("Contact", alice.contact), ("Expires", "60")],
        )
        assert stale.status == 481


async def test_refusals(server: Server, account: Accounts) -> None:
    async with account("alice") as alice:
        headers = [("Contact", alice.contact), ("Expires", "60")]
        # §8.2.1 / §4.2.1.1: an event package we do not serve: 489 with Allow-Events.
        bad = await alice.request(
            "SUBSCRIBE", f"sip:{BOB}", headers=[("Event", "dialog"), *headers]
        )
        assert bad.status == 489
        assert set((bad.headers.get("Allow-Events") or "").replace(" ", "").split(",")) == {
            "presence",
            "presence.winfo",
        }
        # No body type we can send (RFC 3261 §21.4.7): 406 with what we can.
        plain = await alice.request(
            "SUBSCRIBE",
            f"sip:{BOB}",
            headers=[("Event", "presence"), ("Accept", "text/plain"), *headers],
        )
        assert plain.status == 406 and "application/pidf+xml" in (plain.headers.get("Accept") or "")
        # Nobody by that name here.
        nobody = await alice.request(
            "SUBSCRIBE", f"sip:nobody@{DOMAIN}", headers=[("Event", "presence"), *headers]
        )
        assert nobody.status == 404


async def test_rate_limit_coalesces_and_keeps_the_last_state(tmp_path: Path) -> None:
    timings = PresenceConfig(min_notify_interval=0.5, min_expires=1, persist_delay=0.05)
    server = await start(tmp_path / "data", timings=timings, **{"presence-policy": "open"})
    try:
        await add_users(server, "alice", "bob")
        async with make_account(server, "alice") as alice, make_account(server, "bob") as bob:
            watch = alice.watch(BOB)
            assert (await watch.next(WAIT)).basic == "closed"
            for note in ("one", "two", "three"):
                assert (await bob.publish_status(True, note=note)).status == 200
            # RFC 3856 §6.12: at most one NOTIFY per interval; what comes is in order and
            # ends with the last state, never dropped.
            seen: list[str | None] = []
            while "three" not in seen:
                seen.append((await watch.next(WAIT)).note)
            assert all(note in ("one", "two", "three") for note in seen)
            assert seen == sorted(seen, key=["one", "two", "three"].index)
            await watch.close()
    finally:
        await server.close()


async def test_open_policy_lets_anyone_watch(tmp_path: Path) -> None:
    server = await start(tmp_path / "data", **{"presence-policy": "open"})
    try:
        await add_users(server, "alice", "bob")
        async with make_account(server, "alice") as alice, make_account(server, "bob") as bob:
            await bob.register()
            watch = alice.watch(BOB)
            change = await watch.next(WAIT)
            assert (change.state, change.basic) == ("active", "open")
            # Explicit rules still apply under the open policy (RFC 5025 §3.2.1).
            await server.presence.set_rule(BOB, ALICE, "polite-block")
            assert (await watch.next(WAIT)).basic == "closed"
            await watch.close()
    finally:
        await server.close()
