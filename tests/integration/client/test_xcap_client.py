"""The SDK's XCAP client (RFC 4825) against a real Parley server on loopback: the buddy
list (resource-lists, RFC 4826) and friend-request answers (pres-rules, RFC 5025), with
HTTP Digest, entity tags and concurrent edits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.apps.users import add_user
from parley.client.xcap import Buddy, XcapAuthError, XcapClient, XcapUnreachable
from parley.payloads.presrules import SubHandling

DOMAIN = "example.com"
ALICE = f"alice@{DOMAIN}"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    config = build_config(
        {},
        {
            "domain": [DOMAIN],
            "listen": ["udp:127.0.0.1:0"],
            "http": "127.0.0.1:0",
            "data-dir": str(tmp_path / "data"),
        },
    )
    running = await start_server(config)
    for user in ("alice", "bob", "carol"):
        await add_user(running.storage, f"{user}@{DOMAIN}", f"{user}-password")
    yield running
    await running.close()


def xcap_url(server: Server) -> str:
    assert server.http is not None
    return f"http://127.0.0.1:{server.http.port}/xcap-root"


def client(server: Server, password: str = "alice-password", **options: bool) -> XcapClient:
    return XcapClient(ALICE, password, base_url=xcap_url(server), **options)


@pytest.mark.parametrize("use_aiohttp_digest", [True, False], ids=["aiohttp", "parley"])
async def test_buddy_list_round_trip(server: Server, use_aiohttp_digest: bool) -> None:
    if use_aiohttp_digest and not hasattr(aiohttp, "DigestAuthMiddleware"):
        pytest.skip("this aiohttp has no DigestAuthMiddleware")
    async with client(server, use_aiohttp_digest=use_aiohttp_digest) as xcap:
        assert await xcap.buddies() == []
        await xcap.add_buddy("bob@example.com", "Bob")
        await xcap.add_buddy("sip:carol@example.com")
        await xcap.add_buddy("bob@example.com")  # already there: unchanged
        assert await xcap.buddies() == [
            Buddy("sip:bob@example.com", "Bob"),
            Buddy("sip:carol@example.com"),
        ]
        await xcap.add_buddy("bob@example.com", "Bobby")
        await xcap.remove_buddy("carol@example.com")
        await xcap.remove_buddy("nobody@example.com")
        [bob] = await xcap.buddies()
        assert (bob.aor, bob.name) == ("bob@example.com", "Bobby")
    # The server holds the document under the name every client reads.
    stored = await server.storage.get_document(ALICE, "resource-lists", "index")
    assert stored is not None and b'uri="sip:bob@example.com"' in stored.content


async def test_allow_and_block_write_pres_rules(server: Server) -> None:
    async with client(server) as xcap:
        await xcap.allow("carol@example.com")
        await xcap.block("bob@example.com")
        rules = await xcap.rules()
        assert rules.decision_for("sip:carol@example.com") is SubHandling.ALLOW
        assert rules.decision_for("sip:bob@example.com") is SubHandling.POLITE_BLOCK
        await xcap.block("carol@example.com", polite=False)
        assert (await xcap.rules()).decision_for("sip:carol@example.com") is SubHandling.BLOCK
    # What the presence agent decides from the same document.
    decision = await server.presence.authorizer.handling(ALICE, "carol@example.com")
    assert decision is SubHandling.BLOCK


async def test_concurrent_edits_all_survive(server: Server) -> None:
    """Two clients adding at once: one PUT meets 412 and is made again on the new
    document, so no buddy is lost."""
    friends = [f"friend{i}@example.com" for i in range(6)]
    first, second = client(server), client(server)
    try:
        await asyncio.gather(
            *((first if i % 2 else second).add_buddy(friend) for i, friend in enumerate(friends))
        )
        assert sorted(b.aor for b in await first.buddies()) == sorted(friends)
    finally:
        await first.close()
        await second.close()


async def test_wrong_password_and_unreachable_server(server: Server) -> None:
    async with client(server, password="not-it") as xcap:
        with pytest.raises(XcapAuthError) as refused:
            await xcap.buddies()
        assert refused.value.status == 401
    with socket_closed_port() as port:
        unreachable = XcapClient(ALICE, "x", base_url=f"http://127.0.0.1:{port}/xcap-root")
        async with unreachable:
            with pytest.raises(XcapUnreachable):
                await unreachable.add_buddy("bob@example.com")


class socket_closed_port:
    """A loopback TCP port nobody listens on (bound without listen, so it stays ours)."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return int(self._socket.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
