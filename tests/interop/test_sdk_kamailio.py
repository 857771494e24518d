"""The SDK against a third-party server (issue 5, "Tests"): Kamailio with its registrar and
presence modules (Debian ``kamailio``, ``kamailio-presence-modules``,
``kamailio-xml-modules``, ``kamailio-sqlite-modules``), started by the test on a loopback
port with tests/interop/kamailio/sdk.cfg. Two SDK accounts register, one publishes its
status, the other watches it, and they exchange a message through Kamailio."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from conftest import require_tool

from parley.client import Account, PresenceChange, Watch

pytestmark = pytest.mark.interop

HERE = Path(__file__).parent
SCHEMA = Path("/usr/share/kamailio/db_sqlite/presence-create.sql")
DOMAIN = "example.com"
WAIT = 15.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[int]:
    binary = require_tool("kamailio")
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA} is missing (kamailio-sqlite-modules)")
    db = tmp_path / "presence.sqlite"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "CREATE TABLE version (id INTEGER PRIMARY KEY, table_name VARCHAR(32) NOT NULL,"
            " table_version INTEGER DEFAULT 0 NOT NULL,"
            " CONSTRAINT version_table_name_idx UNIQUE (table_name))"
        )
        conn.executescript(SCHEMA.read_text())
        conn.commit()
    port = free_udp_port()
    config = tmp_path / "kamailio.cfg"
    config.write_text(
        (HERE / "kamailio" / "sdk.cfg")
        .read_text()
        .replace("@@PORT@@", str(port))
        .replace("@@DOMAIN@@", DOMAIN)
        .replace("@@DB@@", str(db))
    )
    log = (tmp_path / "kamailio.log").open("wb")
    process = subprocess.Popen(
        [binary, "-DD", "-E", "-n", "1", "-m", "64", "-M", "8", "-f", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def account(port: int, user: str) -> Account:
    return Account(f"{user}@{DOMAIN}", "unused", server=("127.0.0.1", port), transport="udp")


async def ready(probe: Account) -> None:
    """Kamailio answers OPTIONS once it is up (bounded wait)."""
    for _ in range(100):
        response = await probe.request("OPTIONS", f"sip:{DOMAIN}")
        if response.status == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("Kamailio did not answer OPTIONS")


async def until(watch: Watch[PresenceChange], note: str) -> PresenceChange:
    async def scan() -> PresenceChange:
        async for change in watch:
            if change.note == note:
                return change
        raise AssertionError("the subscription ended first")

    return await asyncio.wait_for(scan(), WAIT)


@pytest.fixture
async def accounts(kamailio: int) -> AsyncIterator[tuple[Account, Account]]:
    async with account(kamailio, "alice") as alice, account(kamailio, "bob") as bob:
        await ready(alice)
        yield alice, bob


async def test_register_publish_watch_and_message_through_kamailio(
    accounts: tuple[Account, Account],
) -> None:
    alice, bob = accounts
    assert (await alice.register()).status == 200
    assert (await bob.register()).status == 200

    published = await bob.publish_status(True, "away", "at the blackboard")
    assert published.status == 200 and bob.presence.etag

    watch = alice.watch(f"bob@{DOMAIN}")
    seen = await until(watch, "at the blackboard")
    assert (seen.basic, seen.activities, seen.state) == ("open", ("away",), "active")

    # A new status: PUBLISH with SIP-If-Match, and Kamailio NOTIFYs the watcher.
    assert (await bob.publish_status(True, "busy", "proving a theorem")).status == 200
    busy = await until(watch, "proving a theorem")
    assert busy.activities == ("busy",)

    result = await alice.send_message(f"bob@{DOMAIN}", "Hi There!")
    assert result.delivered, result
    got = await asyncio.wait_for(bob.messages.get(), WAIT)
    assert (got.sender, got.text) == (f"alice@{DOMAIN}", "Hi There!")

    await watch.close()
    assert watch.done
