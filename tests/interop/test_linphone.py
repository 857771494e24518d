"""linphonec (Debian package linphone-cli, liblinphone 5.1) against Parley over UDP and TCP:
it registers with digest (SHA-256, the server's first choice), sends a MESSAGE to a Parley
SDK user, and shows one sent to it by the SDK.

liblinphone quirks these tests run into:

* over UDP it sends body-less requests (REGISTER) without Content-Length, which RFC 3261
  §20.14 allows on datagram transports;
* it says ``Supported: gruu`` and sends ``+sip.instance`` with its Contact; Parley offers no
  GRUU (no ``pub-gruu`` in the 200), so linphone goes on with its plain Contact;
* it answers every MESSAGE of a basic chat room with IMDN MESSAGEs of its own
  (``message/imdn+xml``, ``Content-Encoding: deflate``, the original Call-ID as the
  ``message-id``), which Parley must relay untouched to the sender;
* it refuses ``message/cpim`` with 488 in a basic chat room, so only text/plain is sent to it;
* without a database directory under ``$HOME`` it crashes on the first chat message.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from clients import (
    DOMAIN,
    WAIT,
    baresip,
    linphonec,
    parley_server,
    sdk_account,
    wait_for_binding,
    wait_for_no_binding,
)

from parley.client.account import IncomingMessage

pytestmark = pytest.mark.interop

TRANSPORTS = ["udp", "tcp"]
IMDN = "{urn:ietf:params:xml:ns:imdn}"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_linphonec_registers_with_digest(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(tmp_path / "data") as server,
        linphonec(tmp_path, server, "bob", transport) as client,
    ):
        await client.expect_registered()
        binding = await wait_for_binding(server, f"bob@{DOMAIN}")
        assert binding.user_agent.startswith("Linphonec/"), binding
        assert binding.contact.startswith("sip:bob@127.0.0.1:"), binding
        assert binding.contact.endswith(f";transport={transport}"), binding
        assert binding.instance is not None and binding.instance.startswith("<urn:uuid:")
        assert (binding.flow != "") == (transport == "tcp"), binding
        await client.close()  # quit unregisters (Expires: 0) before it exits
        await wait_for_no_binding(server, f"bob@{DOMAIN}")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_linphonec_sends_a_message_to_an_sdk_user(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(tmp_path / "data") as server,
        sdk_account(server, "alice", transport) as alice,
        linphonec(tmp_path, server, "bob", transport) as client,
    ):
        assert (await alice.register()).status == 200
        await client.expect_registered()
        text = f"Hello Alice, linphone here over {transport}: Grüße, ça va? ✓"
        await client.send_message(f"alice@{DOMAIN}", text)
        got = await asyncio.wait_for(alice.messages.get(), WAIT)
        assert (got.sender, got.text) == (f"bob@{DOMAIN}", text)
        assert got.content_type == "text/plain"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_sdk_user_sends_a_message_to_linphonec_and_gets_its_imdn(
    tmp_path: Path, transport: str
) -> None:
    async with (
        parley_server(tmp_path / "data") as server,
        sdk_account(server, "alice", transport) as alice,
        linphonec(tmp_path, server, "bob", transport) as client,
    ):
        assert (await alice.register()).status == 200
        await client.expect_registered()
        await wait_for_binding(server, f"bob@{DOMAIN}")
        text = f"Hi Bob, the SDK here over {transport}: Grüße, ça va? ✓"
        call_id = f"imdn-{transport}-{id(alice):x}@127.0.0.1"
        response = await asyncio.wait_for(
            alice.request(
                "MESSAGE",
                f"sip:bob@{DOMAIN}",
                body=text.encode(),
                content_type="text/plain;charset=utf-8",
                call_id=call_id,
            ),
            WAIT,
        )
        assert response.status == 200, response
        await client.expect_message(f"alice@{DOMAIN}", text)
        # linphone's delivery notification comes back through Parley as it was sent.
        statuses = set()
        while "delivered" not in statuses:
            got = await asyncio.wait_for(alice.messages.get(), WAIT)
            statuses.add(imdn_status(got, call_id))
        assert statuses <= {"delivered", "displayed"}, statuses


async def test_an_imdn_for_an_offline_sender_is_stored_and_delivered_untouched(
    tmp_path: Path,
) -> None:
    async with (
        parley_server(tmp_path / "data") as server,
        linphonec(tmp_path, server, "bob", "udp") as client,
    ):
        await client.expect_registered()
        await wait_for_binding(server, f"bob@{DOMAIN}")
        call_id = f"imdn-stored-{id(client):x}@127.0.0.1"
        async with sdk_account(server, "alice") as alice:  # sends without registering
            response = await asyncio.wait_for(
                alice.request(
                    "MESSAGE",
                    f"sip:bob@{DOMAIN}",
                    body=b"are you there?",
                    content_type="text/plain",
                    call_id=call_id,
                ),
                WAIT,
            )
            assert response.status == 200, response
            await client.expect_message(f"alice@{DOMAIN}", "are you there?")
            # alice has no binding: linphone's IMDN is answered 202 and kept for her.
            for _ in range(int(WAIT / 0.05)):
                if await server.storage.count_messages() > 0:
                    break
                await asyncio.sleep(0.05)
            (stored, *_) = await server.storage.pending_messages(f"alice@{DOMAIN}", time.time())
            assert stored.content_type == "message/imdn+xml", stored
            assert ("Content-Encoding", "deflate") in stored.headers, stored
            assert (await alice.register()).status == 200
            got = await asyncio.wait_for(alice.messages.get(), WAIT)
            assert got.body == stored.body
            assert imdn_status(got, call_id) in {"delivered", "displayed"}


def imdn_status(got: IncomingMessage, message_id: str) -> str:
    """The status an IMDN from linphone's bob reports for ``message_id``; checks that it
    arrived as linphone sent it: deflated, its Content-Length the length of the body."""
    assert got.sender == f"bob@{DOMAIN}", got
    assert got.content_type == "message/imdn+xml", got
    assert got.request.headers.get("Content-Encoding") == "deflate", got.request
    assert got.request.headers.get("Content-Length") == str(len(got.body))
    imdn = ET.fromstring(zlib.decompress(got.body))
    assert imdn.tag == f"{IMDN}imdn"
    assert imdn.findtext(f"{IMDN}message-id") == message_id
    status = imdn.find(f".//{IMDN}status")
    assert status is not None and len(status) == 1, ET.tostring(imdn)
    return status[0].tag.removeprefix(IMDN)


async def test_linphonec_gets_what_was_stored_while_it_was_offline(tmp_path: Path) -> None:
    async with (
        parley_server(tmp_path / "data") as server,
        sdk_account(server, "alice") as alice,
    ):
        texts = ["first while you were away", "second while you were away"]
        for text in texts:
            assert (await alice.send_message(f"bob@{DOMAIN}", text)).stored
        async with linphonec(tmp_path, server, "bob", "udp") as client:
            await client.expect_registered()
            for text in texts:
                await client.expect_message(f"alice@{DOMAIN}", text)


async def test_linphonec_and_baresip_chat_through_parley(tmp_path: Path) -> None:
    """Two real clients on different transports: linphone over UDP, baresip over TCP (MD5
    only, for baresip). linphone's IMDN for baresip's message is relayed to baresip too."""
    async with (
        parley_server(tmp_path / "data", digest_algorithms=["MD5"]) as server,
        linphonec(tmp_path, server, "bob", "udp") as bob,
        baresip(tmp_path, server, "alice", "tcp", peer=f"bob@{DOMAIN}") as alice,
    ):
        await bob.expect_registered()
        await alice.expect_registered()
        await wait_for_binding(server, f"alice@{DOMAIN}")
        await wait_for_binding(server, f"bob@{DOMAIN}")
        await alice.send_message("Hello Bob, from baresip over TCP")
        await bob.expect_message(f"alice@{DOMAIN}", "Hello Bob, from baresip over TCP")
        await bob.send_message(f"alice@{DOMAIN}", "Hello Alice, from linphone over UDP")
        await alice.expect_message(f"sip:bob@{DOMAIN}", "Hello Alice, from linphone over UDP")


async def test_linphonec_takes_the_registrars_min_expires(tmp_path: Path) -> None:
    """Asked for 30 s, below Parley's minimum, linphone gets 423 Interval Too Brief with
    Min-Expires: 60 (RFC 3261 §10.3 step 7) and registers again for 60 s: a binding exists
    (so it asked for at least 60 s) and ends within 60 s."""
    async with (
        parley_server(tmp_path / "data") as server,
        linphonec(tmp_path, server, "bob", "udp", expires=30) as client,
    ):
        await client.expect_registered()
        binding = await wait_for_binding(server, f"bob@{DOMAIN}")
        assert binding.expires_at - time.time() <= 60, binding
