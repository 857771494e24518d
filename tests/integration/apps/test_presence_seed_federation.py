"""The seed's flow end to end (RFC 3856 presence, then RFC 3428 MESSAGEs), across two
federated ``parley serve`` instances over TCP, as in tests/integration/apps/test_federation.py:
academy.ru and probability.org route to each other by static routes.

Chebychev@academy.ru subscribes to poisson@probability.org; the first NOTIFY says closed;
Poisson registers and the next NOTIFY says open with his contact; Chebychev sends "Hi
There!" to that contact and Poisson answers. probability.org either lets anyone watch
(``presence-policy = "open"``) or asks Poisson, who allows Chebychev; with the seed's
``Accept: application/cpim-pidf+xml`` the NOTIFYs carry the legacy CPIM-PIDF body, and with
``notifier-202`` the SUBSCRIBE is answered 202 Accepted as in the seed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.apps.users import add_user
from parley.client import Account
from parley.payloads import pidf
from parley.services.presence import PresenceConfig

WAIT = 10.0
CHEBYCHEV = "chebychev@academy.ru"
POISSON = "poisson@probability.org"
#: Short timings: no test waits for RFC 3856 §6.12's 5 s between NOTIFYs.
TIMINGS = PresenceConfig(min_notify_interval=0.05, persist_delay=0.05)

Federation = Callable[..., Awaitable[dict[str, Server]]]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[Federation]:
    """Starts academy.ru and probability.org; settings of the latter are given by the test."""
    servers: list[Server] = []

    async def start(**probability: object) -> dict[str, Server]:
        ports = {"academy.ru": free_tcp_port(), "probability.org": free_tcp_port()}
        started: dict[str, Server] = {}
        for domain, other in (("academy.ru", "probability.org"), ("probability.org", "academy.ru")):
            settings = probability if domain == "probability.org" else {}
            config = build_config(
                {
                    "domain": [domain],
                    "listen": [f"tcp:127.0.0.1:{ports[domain]}"],
                    "route": [f"{other}=127.0.0.1:{ports[other]};transport=tcp"],
                    "data-dir": str(tmp_path / domain),
                    **settings,
                },
                {},
            )
            started[domain] = await start_server(config, presence=TIMINGS)
            servers.append(started[domain])
        await add_user(started["academy.ru"].storage, CHEBYCHEV, "pafnuty")
        await add_user(started["probability.org"].storage, POISSON, "simeon")
        return started

    yield start
    for server in servers:
        await server.close()


def user(server: Server, aor: str, password: str) -> Account:
    return Account(aor, password, server=("127.0.0.1", server.listeners[0].port), transport="tcp")


async def seed_flow(
    servers: dict[str, Server],
    *,
    accept: tuple[str, ...] | None = None,
    allow: bool = False,
    accepted: int = 200,
) -> None:
    chebychev = user(servers["academy.ru"], CHEBYCHEV, "pafnuty")
    poisson = user(servers["probability.org"], POISSON, "simeon")
    async with chebychev, poisson:
        assert (await chebychev.register()).status == 200
        watch = chebychev.watch(POISSON, accept=accept)
        first = await watch.next(WAIT)
        # RFC 6665 answers 200; the seed's RFC 3265 notifier answered 202 (notifier-202).
        assert watch.status == accepted
        if allow:
            # Presence is private by default: Chebychev's request waits for Poisson.
            assert first.state == "pending" and first.document is None
            await servers["probability.org"].presence.set_rule(POISSON, CHEBYCHEV, "allow")
            first = await watch.next(WAIT)
        assert first.state == "active" and first.basic == "closed" and first.contact is None
        wanted = accept[0] if accept else pidf.CONTENT_TYPE
        assert first.content_type == wanted
        assert first.document is not None and first.document.entity == f"sip:{POISSON}"

        # Poisson logs in: registration alone makes him open, with his device's contact.
        assert (await poisson.register()).status == 200
        second = await watch.next(WAIT)
        device = poisson.contact.strip("<>")
        assert (second.state, second.basic, second.contact) == ("active", "open", device)
        assert second.content_type == wanted

        # The seed's MESSAGEs: to Poisson's device as the NOTIFY gave it, and back.
        assert second.contact is not None
        sent = await asyncio.wait_for(
            chebychev.request(
                "MESSAGE", second.contact, body=b"Hi There!", content_type="text/plain"
            ),
            WAIT,
        )
        assert sent.status == 200, sent
        got = await asyncio.wait_for(poisson.messages.get(), WAIT)
        assert (got.sender, got.text) == (CHEBYCHEV, "Hi There!")
        reply = await asyncio.wait_for(
            poisson.send_message(CHEBYCHEV, "Well, hello there to you, too!", "text/plain"), WAIT
        )
        assert reply.delivered, reply
        got = await asyncio.wait_for(chebychev.messages.get(), WAIT)
        assert (got.sender, got.text) == (POISSON, "Well, hello there to you, too!")
        await watch.close()


async def test_seed_flow_with_open_policy(federation: Federation) -> None:
    servers = await federation(**{"presence-policy": "open"})
    await seed_flow(servers)


async def test_seed_flow_after_poisson_allows(federation: Federation) -> None:
    servers = await federation()
    await seed_flow(servers, allow=True)


async def test_seed_flow_legacy_cpim_pidf_and_202(federation: Federation) -> None:
    servers = await federation(**{"presence-policy": "open", "notifier-202": True})
    await seed_flow(servers, accept=(pidf.CPIM_PIDF_CONTENT_TYPE,), accepted=202)
