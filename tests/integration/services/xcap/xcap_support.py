"""A running HTTP port with XCAP over real SQLite, and a digest-answering XCAP client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from parley.runtime.http import HttpServer
from parley.runtime.transports import TransportLayer
from parley.services.auth import make_account
from parley.services.storage.sqlite import SqliteStorage
from parley.services.xcap import XcapHooks, start_http
from parley.sip.auth.challenge import (
    DigestChallenge,
    parse_challenge,
    serialize_credentials,
)
from parley.sip.auth.digest import build_authorization, choose_challenges

ROOT = "/xcap-root"
ALICE = "sip:alice@example.com"
BOB = "sip:bob@example.com"
PASSWORDS = {"alice@example.com": "alice-secret", "bob@example.com": "bob-secret"}

RL = "urn:ietf:params:xml:ns:resource-lists"
RL_TYPE = "application/resource-lists+xml"
RULES_TYPE = "application/auth-policy+xml"
EL_TYPE = "application/xcap-el+xml"
ATT_TYPE = "application/xcap-att+xml"
ERROR_TYPE = "application/xcap-error+xml"

FRIENDS = b"""<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">
  <list name="friends">
    <entry uri="sip:bob@example.com">
      <display-name>Bob</display-name>
    </entry>
    <entry uri="sip:carol@example.com"/>
  </list>
</resource-lists>
"""


def doc(auid: str = "resource-lists", xui: str = ALICE, name: str = "index") -> str:
    """The request-target of a user's document (RFC 4825 §6.2)."""
    return f"{ROOT}/{auid}/users/{xui}/{name}"


def node(document: str, selector: str, query: str = "") -> str:
    """``document`` with a node selector (RFC 4825 §6.3), percent-encoded as clients do."""
    target = f"{document}/~~/{quote(selector, safe='/@:=*')}"
    return f"{target}?{quote(query, safe='()=:/')}" if query else target


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def challenges(self) -> list[DigestChallenge]:
        return [parse_challenge(v) for v in self.headers.getall("WWW-Authenticate", [])]


@dataclass
class XcapClient:
    """Answers the server's Digest challenge (RFC 7616) with ``build_authorization`` and
    reuses the nonce with a growing nonce-count, as HTTP clients do."""

    session: aiohttp.ClientSession
    base: str
    username: str | None = None
    password: str = ""
    challenge: DigestChallenge | None = None
    nc: int = 0
    sent_authorization: list[str] = field(default_factory=list)

    def authorization(self, method: str, target: str) -> str:
        assert self.challenge is not None and self.username is not None
        self.nc += 1
        credentials = build_authorization(
            self.challenge, self.username, self.password, method, target,
            cnonce=os.urandom(8).hex(), nc=self.nc,
        )  # fmt: skip
        value = serialize_credentials(credentials)
        self.sent_authorization.append(value)
        return value

    async def send(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        authorization: str | None = None,
    ) -> Reply:
        """One HTTP request exactly as given (no automatic authentication)."""
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        if authorization is not None:
            sent["Authorization"] = authorization
        url = URL(self.base + target, encoded=True)
        async with self.session.request(method, url, data=body, headers=sent) as response:
            return Reply(response.status, response.headers, await response.read())

    async def request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A request with Digest credentials, answering one 401 challenge if needed."""
        for _ in range(2):
            authorization = None
            if self.challenge is not None and self.username is not None:
                authorization = self.authorization(method, target)
            reply = await self.send(
                method, target, body, content_type=content_type, headers=headers,
                authorization=authorization,
            )  # fmt: skip
            if reply.status != 401 or self.username is None:
                return reply
            [self.challenge] = choose_challenges(reply.challenges)[:1]
            self.nc = 0
        return reply


@dataclass
class Changes:
    """What ``on_change`` was told, in order."""

    seen: list[tuple[str, str, bytes | None]] = field(default_factory=list)
    updates: list[tuple[str, str, bytes | None, bytes | None]] = field(default_factory=list)

    async def __call__(self, aor: str, auid: str, document: bytes | None) -> None:
        self.seen.append((aor, auid, document))

    def update(self, aor: str, auid: str, old: bytes | None, new: bytes | None) -> None:
        self.updates.append((aor, auid, old, new))


@dataclass
class Xcap:
    storage: SqliteStorage
    http: HttpServer
    changes: Changes
    session: aiohttp.ClientSession

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http.port}"

    def client(
        self, aor: str | None = "alice@example.com", *, username: str | None = None
    ) -> XcapClient:
        if aor is None:
            return XcapClient(self.session, self.base)
        return XcapClient(
            self.session, self.base, username or aor.partition("@")[0], PASSWORDS[aor]
        )


@asynccontextmanager
async def running_xcap(tmp_path: Path) -> AsyncIterator[Xcap]:
    storage = SqliteStorage(tmp_path / "parley.db")
    await storage.open()
    for aor, password in PASSWORDS.items():
        await storage.add_account(make_account(aor, password))
    changes = Changes()
    layer = TransportLayer(lambda *_: None)
    hooks = XcapHooks(on_change=changes, on_update=changes.update)
    http = await start_http("127.0.0.1", 0, transports=layer, storage=storage, xcap_hooks=hooks)
    try:
        async with aiohttp.ClientSession() as session:
            yield Xcap(storage, http, changes, session)
    finally:
        await http.close()
        await layer.close()
        await storage.close()
