"""baresip (Debian package baresip-core) against Parley over UDP and TCP: it registers with
digest, sends a MESSAGE to a Parley SDK user, and shows one sent to it by the SDK.

baresip 1.0.0 quirks that shape the set-up:

* its digest code (libre) fails the whole request ("Function not implemented") when *any*
  WWW-/Proxy-Authenticate challenge names an algorithm other than MD5, even if an MD5
  challenge is offered too: it does not skip the ones it does not understand as RFC 8760
  §2.4 asks. The server here is therefore configured with MD5 only;
* its Contact user part is not the account name (``<sip:alice-0x55c4e1d8c550@...>``), so
  Parley must route by the registered binding, not by guessing the user;
* ``/message`` goes to the "current contact" from its contacts file; incoming MESSAGEs are
  printed by menu.so as ``<From URI>: "<body>"``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from clients import (
    DOMAIN,
    WAIT,
    baresip,
    parley_server,
    sdk_account,
    wait_for_binding,
    wait_for_no_binding,
)

pytestmark = pytest.mark.interop

TRANSPORTS = ["udp", "tcp"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_baresip_registers_with_digest(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(tmp_path / "data", digest_algorithms=["MD5"]) as server,
        baresip(tmp_path, server, "alice", transport, peer=f"bob@{DOMAIN}") as client,
    ):
        await client.expect_registered()
        binding = await wait_for_binding(server, f"alice@{DOMAIN}")
        assert binding.user_agent.startswith("baresip"), binding
        assert binding.contact.startswith("sip:alice-"), binding  # not the account name
        assert "@127.0.0.1:" in binding.contact, binding
        if transport == "tcp":
            assert binding.flow.startswith("tcp:127.0.0.1:"), binding
            assert binding.contact.endswith(";transport=tcp"), binding
        else:
            assert binding.flow == "", binding
        await client.close()  # /quit unregisters (Contact ...;expires=0) before it exits
        await wait_for_no_binding(server, f"alice@{DOMAIN}")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_baresip_sends_a_message_to_an_sdk_user(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(tmp_path / "data", digest_algorithms=["MD5"]) as server,
        sdk_account(server, "bob", transport) as bob,
        baresip(tmp_path, server, "alice", transport, peer=f"bob@{DOMAIN}") as client,
    ):
        assert (await bob.register()).status == 200
        await client.expect_registered()
        text = f"Hello Bob, baresip here over {transport}: Grüße, ça va? ✓"
        await client.send_message(text)
        got = await asyncio.wait_for(bob.messages.get(), WAIT)
        assert (got.sender, got.text) == (f"alice@{DOMAIN}", text)
        assert got.content_type == "text/plain"
        assert got.request.headers.get("User-Agent", "").startswith("baresip")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_sdk_user_sends_a_message_to_baresip(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(tmp_path / "data", digest_algorithms=["MD5"]) as server,
        sdk_account(server, "bob", transport) as bob,
        baresip(tmp_path, server, "alice", transport, peer=f"bob@{DOMAIN}") as client,
    ):
        await client.expect_registered()
        await wait_for_binding(server, f"alice@{DOMAIN}")
        text = f"Hi Alice, the SDK here over {transport}: Grüße, ça va? ✓"
        result = await asyncio.wait_for(bob.send_message(f"alice@{DOMAIN}", text), WAIT)
        assert result.delivered, result
        await client.expect_message(f"sip:bob@{DOMAIN}", text)


async def test_baresip_gets_what_was_stored_while_it_was_offline(tmp_path: Path) -> None:
    async with (
        parley_server(tmp_path / "data", digest_algorithms=["MD5"]) as server,
        sdk_account(server, "bob") as bob,
    ):
        texts = ["first while you were away", "second while you were away"]
        for text in texts:
            assert (await bob.send_message(f"alice@{DOMAIN}", text)).stored
        async with baresip(tmp_path, server, "alice", "udp", peer=f"bob@{DOMAIN}") as client:
            await client.expect_registered()
            for text in texts:
                await client.expect_message(f"sip:bob@{DOMAIN}", text)


async def test_baresip_takes_the_registrars_min_expires(tmp_path: Path) -> None:
    """Asked for 30 s, below Parley's minimum, baresip gets 423 Interval Too Brief with
    Min-Expires: 60 (RFC 3261 §10.3 step 7) and registers again for 60 s: a binding exists
    (so it asked for at least 60 s) and ends within 60 s."""
    async with (
        parley_server(tmp_path / "data", digest_algorithms=["MD5"]) as server,
        baresip(tmp_path, server, "alice", "udp", peer=f"bob@{DOMAIN}", expires=30) as client,
    ):
        await client.expect_registered()
        binding = await wait_for_binding(server, f"alice@{DOMAIN}")
        assert binding.expires_at - time.time() <= 60, binding
