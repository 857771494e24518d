"""The SDK over TLS: the account connects out to the server's TLS listener (its
certificate checked against the server's development CA file, host name included), and
everything comes back over that connection: a message, presence."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sdk_support import DOMAIN, TIMINGS, WAIT, add_users, until

from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.client import Account
from parley.runtime.tls import dev_certificate


async def tls_server(data_dir: Path) -> Server:
    config = build_config(
        {
            "domain": [DOMAIN],
            "listen": ["udp:127.0.0.1:0", "tls:127.0.0.1:0"],
            "data-dir": str(data_dir),
            "presence-policy": "open",
        },
        {},
    )
    running = await start_server(config, presence=TIMINGS)
    await add_users(running)
    return running


def tls_port(server: Server) -> int:
    return next(item.port for item in server.listeners if item.transport == "tls")


async def test_register_chat_and_presence_over_tls(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = await tls_server(data)
    ca, _ = dev_certificate(data / "tls")  # the server's own, made at start
    try:
        alice = Account(
            f"alice@{DOMAIN}",
            "alice-password",
            server=("127.0.0.1", tls_port(server)),
            transport="tls",
            tls_ca=ca,
        )
        bob = Account(
            f"bob@{DOMAIN}", "bob-password", server=("127.0.0.1", server.listeners[0].port)
        )
        async with alice, bob:
            assert (await alice.register()).status == 200
            assert "transport=tls" in alice.contact
            result = await bob.send_message(f"alice@{DOMAIN}", "over TLS?")
            assert result.delivered
            got = await asyncio.wait_for(alice.messages.get(), WAIT)
            assert got.text == "over TLS?"
            async with bob.watch(f"alice@{DOMAIN}") as watch:
                await alice.set_status(True, activity="away", note="encrypted")
                change = await until(watch, lambda c: c.note == "encrypted")
                assert change.basic == "open" and "away" in change.activities
    finally:
        await server.close()


async def test_a_server_we_do_not_trust_is_refused(tmp_path: Path) -> None:
    server = await tls_server(tmp_path / "data")
    stranger, _ = dev_certificate(tmp_path / "other-ca")  # not the server's certificate
    try:
        alice = Account(
            f"alice@{DOMAIN}",
            "alice-password",
            server=("127.0.0.1", tls_port(server)),
            transport="tls",
            tls_ca=stranger,
        )
        async with alice:
            response = await alice.register()
            assert response.status in (408, 503)  # no connection: a transport failure
    finally:
        await server.close()
