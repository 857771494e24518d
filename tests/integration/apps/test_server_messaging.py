"""``parley serve`` end to end over loopback: accounts register with digest, chat through the
proxy, and messages for offline users are stored and delivered when they come online."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.apps.config import ServerConfig, build_config
from parley.apps.server import Server, start_server
from parley.apps.users import add_user
from parley.client import Account

DOMAIN = "example.com"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    config = build_config(
        {},
        {
            "domain": [DOMAIN],
            "listen": ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
            "data-dir": str(tmp_path / "data"),
        },
    )
    running = await start_server(config)
    for user in ("alice", "bob", "carol"):
        await add_user(running.storage, f"{user}@{DOMAIN}", f"{user}-password")
    yield running
    await running.close()


def port_of(server: Server, transport: str) -> int:
    return next(item.port for item in server.listeners if item.transport == transport)


def account(
    server: Server, user: str, transport: str = "udp", password: str | None = None
) -> Account:
    return Account(
        f"{user}@{DOMAIN}",
        password or f"{user}-password",
        server=("127.0.0.1", port_of(server, transport)),
        transport=transport,
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_two_registered_users_chat_both_ways(server: Server, transport: str) -> None:
    async with (
        account(server, "alice", transport) as alice,
        account(server, "bob", transport) as bob,
    ):
        assert (await alice.register()).status == 200
        assert (await bob.register()).status == 200
        result = await asyncio.wait_for(alice.send_message(f"bob@{DOMAIN}", "Hi There!"), 10)
        assert result.delivered, result
        got = await asyncio.wait_for(bob.messages.get(), 10)
        assert (got.sender, got.text) == (f"alice@{DOMAIN}", "Hi There!")
        result = await asyncio.wait_for(
            bob.send_message(f"alice@{DOMAIN}", "Well, hello there to you, too!"), 10
        )
        assert result.delivered
        got = await asyncio.wait_for(alice.messages.get(), 10)
        assert got.text == "Well, hello there to you, too!"


async def test_wrong_password_is_refused(server: Server) -> None:
    async with account(server, "alice", password="not-it") as alice:
        response = await alice.register()
        assert response.status == 401


async def test_unknown_user_gets_404_and_nobody_can_send_as_someone_else(server: Server) -> None:
    async with account(server, "alice") as alice, account(server, "bob") as bob:
        await alice.register()
        result = await alice.send_message(f"nobody@{DOMAIN}", "hello?")
        assert result.status == 404
        # Bob authenticates as bob but claims to be alice in From: 403.
        bob.aor, bob.user = f"alice@{DOMAIN}", "bob"
        result = await bob.send_message(f"alice@{DOMAIN}", "it is me, alice")
        assert result.status == 403


async def test_message_for_an_offline_user_is_stored_then_delivered_in_order(
    server: Server,
) -> None:
    async with account(server, "alice") as alice:
        await alice.register()
        for text in ("first", "second", "third"):
            result = await alice.send_message(f"carol@{DOMAIN}", text)
            assert result.stored, result  # 202 Accepted: committed before the answer
        assert await server.storage.count_messages() == 3
        async with account(server, "carol", "tcp") as carol:
            assert (await carol.register()).status == 200
            got = [await asyncio.wait_for(carol.messages.get(), 10) for _ in range(3)]
        assert [m.text for m in got] == ["first", "second", "third"]
        assert all(m.sender == f"alice@{DOMAIN}" and m.date for m in got)
        # Removed only once a device answered 2xx.
        for _ in range(50):
            if await server.storage.count_messages() == 0:
                break
            await asyncio.sleep(0.05)
        assert await server.storage.count_messages() == 0


async def test_message_limits(server: Server) -> None:
    # TCP: a 70 kB request does not fit a datagram (§18.1.1).
    async with account(server, "alice", "tcp") as alice, account(server, "bob", "tcp") as bob:
        await alice.register()
        await bob.register()
        too_big = await alice.send_message(f"bob@{DOMAIN}", "x" * (70 * 1024))
        assert too_big.status == 413
        odd = await alice.send_message(f"bob@{DOMAIN}", b"\x00", content_type="application/x-odd")
        assert odd.status == 415


async def test_registration_over_tcp_ends_with_the_connection(server: Server) -> None:
    carol = account(server, "carol", "tcp")
    await carol.start()
    assert (await carol.register()).status == 200
    assert len(await server.storage.get_bindings(f"carol@{DOMAIN}", 0.0)) == 1
    await carol.close()
    for _ in range(100):
        if not await server.storage.get_bindings(f"carol@{DOMAIN}", 0.0):
            break
        await asyncio.sleep(0.02)
    assert await server.storage.get_bindings(f"carol@{DOMAIN}", 0.0) == []
    async with account(server, "alice") as alice:
        await alice.register()
        assert (await alice.send_message(f"carol@{DOMAIN}", "are you there?")).stored


def test_config_defaults_open_the_documented_ports() -> None:
    config = ServerConfig()
    assert {(s.transport, s.port) for s in config.listen_specs()} == {
        ("udp", 5060), ("tcp", 5060), ("tls", 5061),
    }  # fmt: skip
    assert config.http_address() == ("127.0.0.1", 8080)  # WebSocket SIP at /ws, XCAP
    explicit = build_config({}, {"listen": ["udp:127.0.0.1:5070"]})
    assert explicit.http_address() is None


async def test_http_port_serves_websocket_sip_and_xcap(tmp_path: Path) -> None:
    import aiohttp
    import websockets

    from parley.sip.syntax import Response, parse_message

    config = build_config(
        {},
        {"domain": [DOMAIN], "listen": ["udp:127.0.0.1:0"], "http": "127.0.0.1:0",
         "data-dir": str(tmp_path / "data")},
    )  # fmt: skip
    server = await start_server(config)
    try:
        assert server.http is not None
        port = server.http.port
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws", subprotocols=[websockets.Subprotocol("sip")]
        ) as ws:
            await ws.send(
                f"OPTIONS sip:127.0.0.1:{port};transport=ws SIP/2.0\r\n"
                "Via: SIP/2.0/WS abc.invalid;branch=z9hG4bKws77;rport\r\n"
                f"From: <sip:alice@{DOMAIN}>;tag=w1\r\nTo: <sip:127.0.0.1>\r\n"
                "Call-ID: ws-options\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            reply = await asyncio.wait_for(ws.recv(), 10)
        response = parse_message(reply.encode() if isinstance(reply, str) else reply)
        assert isinstance(response, Response) and response.status in (200, 407)
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/xcap-root/xcap-caps/global/index"
            async with http.get(url) as got:
                assert got.status == 200
                assert b"resource-lists" in await got.read()
    finally:
        await server.close()


async def test_bindings_survive_a_restart_but_connection_bound_ones_do_not(
    tmp_path: Path,
) -> None:
    """What a crashed server leaves: a UDP binding and one tied to a TCP connection."""
    import time

    from parley.services.storage import Binding
    from parley.services.storage.sqlite import SqliteStorage

    data = tmp_path / "data"
    data.mkdir()
    later = time.time() + 600
    async with SqliteStorage(data / "parley.db") as left_behind:
        await left_behind.put_binding(
            Binding(
                f"alice@{DOMAIN}", "sip:alice@127.0.0.1:5999", later, source="udp:127.0.0.1:5999"
            )
        )
        await left_behind.put_binding(
            Binding(f"carol@{DOMAIN}", "sip:carol@127.0.0.1:6000;transport=tcp", later,
                    flow="tcp:127.0.0.1:41000#7")
        )  # fmt: skip
    config = build_config(
        {}, {"domain": [DOMAIN], "listen": ["udp:127.0.0.1:0"], "data-dir": str(data)}
    )
    server = await start_server(config)
    try:
        bindings = await server.storage.all_bindings(0.0)
        assert [b.aor for b in bindings] == [f"alice@{DOMAIN}"]
    finally:
        await server.close()
