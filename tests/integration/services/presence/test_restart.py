"""Subscriptions survive a restart of the server (issue 4): dialog state, CSeq, version and
expiry are saved in SQLite, and after a restart on the same data directory the watcher keeps
getting NOTIFYs in its existing dialog, without subscribing again. After a crash, the saved
state may be a little old; the restored dialog skips CSeq numbers so its NOTIFYs are still
accepted (RFC 3261 §12.2.2). Friend requests left waiting survive too.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

from presence_support import (
    DOMAIN,
    TIMINGS,
    WAIT,
    add_users,
    free_port,
    make_account,
    start,
    until,
)

from parley.apps.server import Server

ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"


def listen(port: int) -> list[str]:
    return [f"udp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}"]


async def test_watcher_keeps_its_subscription_across_a_restart(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    server: Server | None = await start(data, listen(port))
    assert server is not None
    try:
        await add_users(server)
        await server.presence.set_rule(BOB, ALICE, "allow")
        async with make_account(server, "alice") as alice, make_account(server, "bob") as bob:
            watch = alice.watch(BOB)
            assert (await watch.next(WAIT)).basic == "closed"
            dialogs = watch.subscriber.dialogs
            await server.close()
            server = None
            server = await start(data, listen(port))
            # Bob comes online at the restarted server: Alice is told, in the same dialog.
            await bob.register()
            online = await watch.next(WAIT)
            assert (online.state, online.basic) == ("active", "open")
            await bob.publish_status(True, "away", "back soon")
            away = await until(watch, lambda c: c.note == "back soon")
            assert away.activities == ("away",) and watch.subscriber.dialogs == dialogs
            await watch.close()
    finally:
        if server is not None:
            await server.close()


def snapshot(data: Path, copy: Path) -> None:
    """The data directory as a crash would leave it: files as they are, the database as
    committed (SQLite's backup API reads a consistent state of a live database)."""
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("parley.db*"))
    with sqlite3.connect(data / "parley.db") as source, sqlite3.connect(copy / "parley.db") as dest:
        source.backup(dest)


async def test_after_a_crash_notifies_still_rise_in_cseq(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    # Saving waits a long time here, so what the crash keeps is exactly what was flushed.
    timings = replace(TIMINGS, persist_delay=3600.0)
    crashed = await start(data, listen(port), timings=timings)
    restarted: Server | None = None
    try:
        await add_users(crashed)
        await crashed.presence.set_rule(BOB, ALICE, "allow")
        async with make_account(crashed, "alice") as alice, make_account(crashed, "bob") as bob:
            watch = alice.watch(BOB)
            assert (await watch.next(WAIT)).basic == "closed"
            await crashed.presence.agent.store.flush()
            # NOTIFYs the saved state does not know about (CSeq 2 and 3), ending where the
            # saved state is (closed), so that the restart has nothing new to say...
            await bob.register()
            assert (await watch.next(WAIT)).basic == "open"
            await bob.unregister()
            assert (await watch.next(WAIT)).basic == "closed"
            # ... then the crash: the network goes at once, the state is what was saved.
            # Without skipping CSeq numbers, the next NOTIFY would be CSeq 2 and Alice would
            # refuse it (500, RFC 3261 §12.2.2).
            await crashed.endpoint.close()
            snapshot(data, tmp_path / "after-crash")
            restarted = await start(tmp_path / "after-crash", listen(port), timings=timings)
            await bob.publish_status(True, "busy", "after the crash")
            change = await until(watch, lambda c: c.note == "after the crash")
            assert change.activities == ("busy",)
            await watch.close()
    finally:
        if restarted is not None:
            await restarted.close()
        await crashed.close()


async def test_waiting_friend_request_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    server: Server | None = await start(data, listen(port))
    assert server is not None
    try:
        await add_users(server)
        async with make_account(server, "alice") as alice:
            watch = alice.watch(BOB)
            assert (await watch.next(WAIT)).state == "pending"
            await watch.close()
        await server.close()
        server = None
        server = await start(data, listen(port))
        async with make_account(server, "bob") as bob:
            requests = bob.watchers()
            info = await requests.next(WAIT)
            assert info.requests == (f"sip:{ALICE}",)
            await requests.close()
    finally:
        if server is not None:
            await server.close()
