"""An SDK account outlives its server (issue 5: "reconnect with backoff after a lost
connection, re-subscribe after a server restart"): the server is closed and started again
on the same port and data directory under a TCP account, which notices the lost
connection, registers again with backoff, and whose watch and message queue go on as if
nothing had happened."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sdk_support import (
    DOMAIN,
    FAST_RECONNECT,
    WAIT,
    account,
    add_users,
    eventually,
    free_port,
    start,
    until,
)

from parley.apps.server import Server
from parley.client import ConnectionState

ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"


async def test_account_recovers_from_a_server_restart(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    server: Server | None = await start(data, port)
    assert server is not None
    try:
        await add_users(server)
        await server.presence.set_rule(BOB, ALICE, "allow")
        await server.presence.set_rule(ALICE, BOB, "allow")
        alice = account(server, "alice", "tcp", reconnect=FAST_RECONNECT)
        bob = account(server, "bob", "udp")
        states: list[ConnectionState] = []
        alice.connectivity.listeners.append(states.append)
        async with alice, bob:
            assert (await alice.register()).status == 200
            assert alice.state is ConnectionState.REGISTERED
            await alice.set_status(True, note="before")
            watch = alice.watch(BOB)
            assert (await watch.next(WAIT)).basic == "closed"

            await server.close()
            server = None
            # The TCP connection closed: Alice is reconnecting, and keeps trying while
            # nobody listens (the REGISTERs fail: no connection).
            await eventually(lambda: alice.state is ConnectionState.RECONNECTING)
            server = await start(data, port)
            await eventually(lambda: alice.state is ConnectionState.REGISTERED)
            assert alice.connectivity.recoveries == 1
            assert states[:3] == [
                ConnectionState.REGISTERED,
                ConnectionState.RECONNECTING,
                ConnectionState.REGISTERED,
            ]
            restarted = server
            # Registered again at the restarted server (the binding of the old connection
            # was dropped when it started).
            await eventually(
                lambda: _bound(restarted, ALICE),
            )

            # The watch goes on: Bob comes online and publishes; Alice's iterator sees it.
            assert (await bob.register()).status == 200
            await bob.set_status(True, "away", "back soon")
            away = await until(watch, lambda change: change.note == "back soon")
            assert away.basic == "open" and away.activities == ("away",)

            # Alice's status was published again: Bob, watching her now, sees her note.
            async with bob.watch(ALICE) as bobs_watch:
                before = await until(bobs_watch, lambda change: change.basic is not None)
                assert (before.basic, before.note) == ("open", "before")

            # Messages still reach Alice, over her new connection.
            result = await bob.send_message(ALICE, "still there?")
            assert result.delivered, result
            got = await asyncio.wait_for(alice.messages.get(), WAIT)
            assert (got.sender, got.text) == (BOB, "still there?")
            await watch.close()
    finally:
        if server is not None:
            await server.close()


async def _bound(server: Server, aor: str) -> bool:
    return bool(await server.storage.get_bindings(aor, 0.0))


async def test_keepalives_on_tcp_and_a_too_brief_registration_retried(tmp_path: Path) -> None:
    server = await start(tmp_path / "data")
    pings: list[bytes] = []

    def tracer(direction: str, transport: str, local: object, peer: object, data: bytes) -> None:
        if direction == "send" and not data.strip(b"\r\n"):
            pings.append(data)

    try:
        await add_users(server)
        alice = account(server, "alice", "tcp", expires=5, keepalive_interval=0.05, tracer=tracer)
        async with alice:
            # §10.2.8: 423 Interval Too Brief, then the registrar's Min-Expires.
            response = await alice.register()
            assert response.status == 200
            assert alice.state is ConnectionState.REGISTERED
            # RFC 5626 §4.4.1: double-CRLF pings on the flow, answered by the server's pongs
            # without disturbing it.
            await eventually(lambda: len(pings) >= 3)
            assert set(pings) == {b"\r\n\r\n"}
            assert alice.state is ConnectionState.REGISTERED
            result = await alice.send_message(ALICE, "note to self")
            assert result.delivered
            await alice.unregister()
            assert alice.state is ConnectionState.OFFLINE
    finally:
        await server.close()
