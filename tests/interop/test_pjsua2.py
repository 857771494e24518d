"""PJSIP's Python binding (PyPI ``pjsua2-python``) against Parley over UDP and TCP: an
account registers with digest, sends a MESSAGE (``Buddy.sendInstantMessage``) to a Parley
SDK user, and receives one from the SDK (``Account.onInstantMessage``).

pjsua2 runs in a subprocess (``clients.py`` is its driver) so that its process-wide
library state, threads and sockets end with the test.

What pjsua2 2.15.1 does on the wire:

* offered SHA-256 then MD5 (Parley's default order), it skips the SHA-256 challenge and
  answers the MD5 one (RFC 8760 §2.4), and it does not send credentials pre-emptively, so
  each new REGISTER (after a 423, the unregistration) is challenged again;
* over TCP it registers with RFC 5626 outbound (``;ob``, ``+sip.instance``, ``reg-id=1``)
  and Parley answers ``Require: outbound``; over UDP it keeps ``;ob`` but sends no
  instance-id or reg-id.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from clients import (
    DOMAIN,
    WAIT,
    linphonec,
    parley_server,
    pjsua2,
    sdk_account,
    wait_for_binding,
    wait_for_no_binding,
)

pytestmark = pytest.mark.interop

TRANSPORTS = ["udp", "tcp"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pjsua2_registers_with_digest(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(tmp_path / "data") as server,
        pjsua2(tmp_path, server, "carol", transport) as client,
    ):
        await client.event("reg", code=200, active=True)
        binding = await wait_for_binding(server, f"carol@{DOMAIN}")
        assert binding.user_agent == "pjsua2-interop", binding
        assert binding.contact.startswith("sip:carol@127.0.0.1:"), binding
        assert (binding.flow != "") == (transport == "tcp"), binding
        if transport == "tcp":
            # RFC 5626 outbound over the connection: ;ob, an instance-id and reg-id 1.
            assert binding.contact.endswith(";ob"), binding
            assert binding.instance is not None and binding.reg_id == 1, binding
        await client.close()  # Account.shutdown() unregisters (Expires: 0)
        await wait_for_no_binding(server, f"carol@{DOMAIN}")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pjsua2_sends_a_message_to_an_sdk_user(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(tmp_path / "data") as server,
        sdk_account(server, "alice", transport) as alice,
        pjsua2(tmp_path, server, "carol", transport) as client,
    ):
        assert (await alice.register()).status == 200
        await client.event("reg", code=200, active=True)
        text = f"Hello Alice, pjsua2 here over {transport}: Grüße, ça va? ✓"
        await client.command(cmd="send", to=f"sip:alice@{DOMAIN}", text=text)
        got = await asyncio.wait_for(alice.messages.get(), WAIT)
        assert (got.sender, got.text) == (f"carol@{DOMAIN}", text)
        assert got.content_type == "text/plain"
        status = await client.event("im_status", to=f"sip:alice@{DOMAIN}")
        assert status["code"] == 200, status


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_sdk_user_sends_a_message_to_pjsua2(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(tmp_path / "data") as server,
        sdk_account(server, "alice", transport) as alice,
        pjsua2(tmp_path, server, "carol", transport) as client,
    ):
        await client.event("reg", code=200, active=True)
        await wait_for_binding(server, f"carol@{DOMAIN}")
        text = f"Hi Carol, the SDK here over {transport}: Grüße, ça va? ✓"
        result = await asyncio.wait_for(alice.send_message(f"carol@{DOMAIN}", text), WAIT)
        assert result.delivered, result
        event = await client.event("im")
        assert event["body"] == text, event
        assert event["content_type"].startswith("text/plain"), event
        assert f"sip:alice@{DOMAIN}" in event["sender"], event


async def test_pjsua2_gets_a_stored_message_and_a_refused_one_fails(tmp_path: Path) -> None:
    async with (
        parley_server(tmp_path / "data") as server,
        sdk_account(server, "alice") as alice,
    ):
        assert (await alice.send_message(f"carol@{DOMAIN}", "while you were away")).stored
        async with pjsua2(tmp_path, server, "carol", "udp") as client:
            event = await client.event("im")
            assert event["body"] == "while you were away", event
            await client.command(cmd="send", to=f"sip:nobody@{DOMAIN}", text="anyone?")
            status = await client.event("im_status", to=f"sip:nobody@{DOMAIN}")
            assert status["code"] == 404, status


async def test_pjsua2_and_linphonec_chat_through_parley(tmp_path: Path) -> None:
    """Two real clients on different transports: pjsua2 over TCP, linphone over UDP.
    linphone's IMDN for pjsua2's message reaches pjsua2 as it was sent."""
    (tmp_path / "pjsua2").mkdir()
    async with (
        parley_server(tmp_path / "data") as server,
        linphonec(tmp_path, server, "bob", "udp") as bob,
        pjsua2(tmp_path / "pjsua2", server, "carol", "tcp") as carol,
    ):
        await bob.expect_registered()
        await carol.event("reg", code=200, active=True)
        await wait_for_binding(server, f"bob@{DOMAIN}")
        await carol.command(cmd="send", to=f"sip:bob@{DOMAIN}", text="Hello Bob, from pjsua2")
        await bob.expect_message(f"carol@{DOMAIN}", "Hello Bob, from pjsua2")
        status = await carol.event("im_status", to=f"sip:bob@{DOMAIN}")
        assert status["code"] == 200, status
        imdn = await carol.event("im", content_type="message/imdn+xml")
        assert f"sip:bob@{DOMAIN}" in imdn["sender"], imdn
        await bob.send_message(f"carol@{DOMAIN}", "Hello Carol, from linphone")
        event = await carol.event("im", content_type="text/plain")
        assert event["body"] == "Hello Carol, from linphone", event
        assert f"sip:bob@{DOMAIN}" in event["sender"], event


async def test_pjsua2_takes_the_registrars_min_expires(tmp_path: Path) -> None:
    """Asked for 30 s, below Parley's minimum, pjsua2 gets 423 Interval Too Brief with
    Min-Expires: 60 (RFC 3261 §10.3 step 7) and registers again for 60 s: a binding exists
    (so it asked for at least 60 s) and ends within 60 s."""
    async with (
        parley_server(tmp_path / "data") as server,
        pjsua2(tmp_path, server, "carol", "udp", expires=30) as client,
    ):
        await client.event("reg", code=200, active=True)
        binding = await wait_for_binding(server, f"carol@{DOMAIN}")
        assert binding.expires_at - time.time() <= 60, binding
