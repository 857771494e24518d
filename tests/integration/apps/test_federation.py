"""The seed's conversation across two domains: two ``parley serve`` instances, one for
academy.ru and one for probability.org, route to each other over TCP (static routes)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.apps.users import add_user
from parley.client import Account


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def domains(tmp_path: Path) -> AsyncIterator[dict[str, Server]]:
    ports = {"academy.ru": free_tcp_port(), "probability.org": free_tcp_port()}
    servers: dict[str, Server] = {}
    try:
        for domain, other in (("academy.ru", "probability.org"), ("probability.org", "academy.ru")):
            config = build_config(
                {},
                {
                    "domain": [domain],
                    "listen": [f"tcp:127.0.0.1:{ports[domain]}"],
                    "route": [f"{other}=127.0.0.1:{ports[other]};transport=tcp"],
                    "data-dir": str(tmp_path / domain),
                },
            )
            servers[domain] = await start_server(config)
        await add_user(servers["academy.ru"].storage, "chebychev@academy.ru", "pafnuty")
        await add_user(servers["probability.org"].storage, "poisson@probability.org", "simeon")
        yield servers
    finally:
        for server in servers.values():
            await server.close()


def user(server: Server, aor: str, password: str) -> Account:
    port = server.listeners[0].port
    return Account(aor, password, server=("127.0.0.1", port), transport="tcp")


async def test_seed_messages_cross_domains_over_tcp(domains: dict[str, Server]) -> None:
    chebychev = user(domains["academy.ru"], "chebychev@academy.ru", "pafnuty")
    poisson = user(domains["probability.org"], "poisson@probability.org", "simeon")
    async with chebychev, poisson:
        assert (await chebychev.register()).status == 200
        assert (await poisson.register()).status == 200
        sent = await asyncio.wait_for(
            chebychev.send_message("poisson@probability.org", "Hi There!", "text/plain"), 10
        )
        assert sent.delivered, sent
        got = await asyncio.wait_for(poisson.messages.get(), 10)
        assert (got.sender, got.text) == ("chebychev@academy.ru", "Hi There!")
        # It crossed both servers: two Vias of ours besides the sender's.
        assert len(got.request.vias) == 3
        reply = await asyncio.wait_for(
            poisson.send_message(
                "chebychev@academy.ru", "Well, hello there to you, too!", "text/plain"
            ),
            10,
        )
        assert reply.delivered, reply
        got = await asyncio.wait_for(chebychev.messages.get(), 10)
        assert got.text == "Well, hello there to you, too!"


async def test_foreign_senders_reach_only_local_users(domains: dict[str, Server]) -> None:
    """No open relay: a request from another domain for a third domain is refused."""
    chebychev = user(domains["academy.ru"], "chebychev@academy.ru", "pafnuty")
    async with chebychev:
        await chebychev.register()
        # Through probability.org's server, as a foreign user, to somewhere else.
        chebychev.server = chebychev.server.__class__(
            "tcp", "127.0.0.1", domains["probability.org"].listeners[0].port
        )
        result = await chebychev.send_message("someone@elsewhere.example", "relay me")
        assert result.status == 403


async def test_offline_foreign_recipient_gets_it_later(domains: dict[str, Server]) -> None:
    chebychev = user(domains["academy.ru"], "chebychev@academy.ru", "pafnuty")
    async with chebychev:
        await chebychev.register()
        result = await chebychev.send_message("poisson@probability.org", "Hi There!")
        assert result.stored, result
        poisson = user(domains["probability.org"], "poisson@probability.org", "simeon")
        async with poisson:
            await poisson.register()
            got = await asyncio.wait_for(poisson.messages.get(), 10)
            assert got.sender == "chebychev@academy.ru" and got.text == "Hi There!"
