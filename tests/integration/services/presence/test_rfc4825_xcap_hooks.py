"""Buddy lists and rules written over XCAP (RFC 4825) take effect on presence at once,
through the XCAP server's ``on_update`` hook (``PresenceService.document_updated``): adding
Alice to Bob's resource-lists (RFC 4826) allows her to watch Bob (a friendship accepted both
ways, as in QQ), and a pres-rules document (RFC 5025) PUT by Bob applies to his watchers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from presence_support import DOMAIN, WAIT
from yarl import URL

from parley.apps.server import Server
from parley.client import Account
from parley.runtime.http import HttpServer
from parley.services.xcap import XcapHooks, start_http
from parley.sip.auth.challenge import parse_challenge, serialize_credentials
from parley.sip.auth.digest import build_authorization, choose_challenges

ALICE, BOB, CAROL = (f"{user}@{DOMAIN}" for user in ("alice", "bob", "carol"))

BUDDIES = f"""<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">
  <list name="buddies"><entry uri="sip:{ALICE}"/></list>
</resource-lists>
""".encode()

RULES = f"""<?xml version="1.0" encoding="UTF-8"?>
<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy"
            xmlns:pr="urn:ietf:params:xml:ns:pres-rules">
  <cp:rule id="friend">
    <cp:conditions><cp:identity><cp:one id="sip:{ALICE}"/></cp:identity></cp:conditions>
    <cp:actions><pr:sub-handling>allow</pr:sub-handling></cp:actions>
    <cp:transformations><pr:provide-all-attributes/></cp:transformations>
  </cp:rule>
  <cp:rule id="stranger">
    <cp:conditions><cp:identity><cp:one id="sip:{CAROL}"/></cp:identity></cp:conditions>
    <cp:actions><pr:sub-handling>polite-block</pr:sub-handling></cp:actions>
  </cp:rule>
</cp:ruleset>
""".encode()


@dataclass
class XcapUser:
    """PUTs a user's documents with HTTP Digest (RFC 7616), answering one challenge."""

    session: aiohttp.ClientSession
    base: str
    user: str
    password: str

    async def put(self, auid: str, body: bytes, content_type: str) -> int:
        target = f"/xcap-root/{auid}/users/sip:{self.user}@{DOMAIN}/index"
        headers = {"Content-Type": content_type}
        for _ in range(2):
            url = URL(self.base + target, encoded=True)
            async with self.session.put(url, data=body, headers=headers) as response:
                if response.status != 401:
                    return response.status
                challenges = [
                    parse_challenge(v) for v in response.headers.getall("WWW-Authenticate")
                ]
            challenge = choose_challenges(challenges)[0]
            credentials = build_authorization(
                challenge, self.user, self.password, "PUT", target, os.urandom(8).hex(), 1
            )
            headers["Authorization"] = serialize_credentials(credentials)
        return 401


@pytest.fixture
async def http(server: Server) -> AsyncIterator[HttpServer]:
    hooks = XcapHooks(on_update=server.presence.document_updated)
    running = await start_http(
        "127.0.0.1",
        0,
        transports=server.endpoint.transports,
        storage=server.storage,
        xcap_hooks=hooks,
    )
    yield running
    await running.close()


async def test_xcap_buddy_list_and_rules_apply_at_once(
    server: Server, http: HttpServer, account: Callable[..., Account]
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        account("alice") as alice,
        account("carol") as carol,
    ):
        bob = XcapUser(session, f"http://127.0.0.1:{http.port}", "bob", "bob-password")
        watch = alice.watch(BOB)
        assert (await watch.next(WAIT)).state == "pending"
        # Bob adds Alice to his buddy list: she may watch him from now on.
        status = await bob.put("resource-lists", BUDDIES, "application/resource-lists+xml")
        assert status == 201
        change = await watch.next(WAIT)
        assert (change.state, change.basic) == ("active", "closed")

        stranger = carol.watch(BOB)
        assert (await stranger.next(WAIT)).state == "pending"
        # Bob's own rules document: Alice allowed, Carol politely blocked.
        assert await bob.put("pres-rules", RULES, "application/auth-policy+xml") == 200
        blocked = await stranger.next(WAIT)
        assert (blocked.state, blocked.basic, blocked.contact) == ("active", "closed", None)
        watch.refresh()
        assert (await watch.next(WAIT)).state == "active"
        await watch.close()
        await stranger.close()
