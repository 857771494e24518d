"""An XCAP client (RFC 4825) for one user's buddy list and friend-request answers.

::

    async with XcapClient("alice@example.com", "secret",
                          base_url="http://127.0.0.1:8080/xcap-root") as xcap:
        await xcap.add_buddy("bob@example.com", "Bob")
        print(await xcap.buddies())
        await xcap.allow("carol@example.com")     # a friend request accepted

The buddy list is the user's ``resource-lists`` document ``index`` (RFC 4826), its entries
in a list named ``buddies``; the answers to friend requests are one-watcher rules of the
``pres-rules`` document ``index`` (RFC 5025). These are the names the Parley server (and
most SIMPLE servers) read.

Each change is a read-modify-write of the whole document, guarded by its entity tag
(``If-Match``, or ``If-None-Match: *`` to create it, RFC 4825 §7.11): when someone else
changed the document in between, the server answers 412 and the change is made again on
the new content. Requests authenticate with HTTP Digest (RFC 7616), as the server demands.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from parley.payloads import presrules, resourcelists
from parley.payloads.errors import PayloadError
from parley.payloads.presrules import SubHandling
from parley.sip.auth.challenge import DigestChallenge, parse_challenges, serialize_credentials
from parley.sip.auth.digest import build_authorization, choose_challenges
from parley.sip.errors import ParseError

__all__ = [
    "BUDDY_LIST",
    "DOCUMENT",
    "Buddy",
    "XcapAuthError",
    "XcapClient",
    "XcapError",
    "XcapUnreachable",
    "sip_uri",
]

#: The document name clients and the server agree on for both usages.
DOCUMENT = "index"
#: The list of the resource-lists document new buddies go into.
BUDDY_LIST = "buddies"
#: How many times a change is tried when a 412 says someone else edited the document in
#: between; each retry waits a random moment, longer each time, so rivals spread out.
MAX_ATTEMPTS = 10
RETRY_STEP = 0.05
#: The application usages (RFC 4825 §4 AUIDs): buddy lists and authorization rules.
RESOURCE_LISTS = "resource-lists"
PRES_RULES = "pres-rules"

T = TypeVar("T")
ListItem = (
    resourcelists.List | resourcelists.Entry | resourcelists.EntryRef | resourcelists.External
)


class XcapError(Exception):
    """An XCAP request failed: ``status`` is the HTTP status (None without an answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class XcapAuthError(XcapError):
    """The server refused our credentials (401 after answering its challenge, 403, or 429
    after too many failures)."""


class XcapUnreachable(XcapError):
    """No HTTP answer from the XCAP server (connection refused, timeout...)."""


@dataclass(frozen=True, slots=True)
class Buddy:
    """One buddy-list entry: its ``uri`` (``sip:bob@example.com``) and display name."""

    uri: str
    name: str | None = None

    @property
    def aor(self) -> str:
        """The address without its ``sip:`` scheme (``bob@example.com``)."""
        return aor_of(self.uri)


def sip_uri(address: str) -> str:
    """``bob@example.com`` -> ``sip:bob@example.com``; a URI with a scheme stays as is."""
    address = address.strip()
    return address if ":" in address else f"sip:{address}"


def aor_of(uri: str) -> str:
    """``sip:bob@example.com`` -> ``bob@example.com`` (other URIs stay as they are)."""
    scheme, colon, rest = uri.partition(":")
    if colon and scheme.lower() in ("sip", "sips", "pres"):
        return rest
    return uri


class XcapClient:
    """One user's documents on an XCAP server.

    ``aor`` is the user (``alice@example.com``) and ``password`` their account password
    (the digest username is the user part, as for SIP). ``base_url`` is the XCAP root
    (``http://127.0.0.1:8080/xcap-root``). ``timeout`` bounds each HTTP request, in
    seconds. ``use_aiohttp_digest`` picks aiohttp's own Digest middleware (aiohttp 3.12 and
    later; the default when present) or Parley's digest functions.
    """

    def __init__(
        self,
        aor: str,
        password: str,
        *,
        base_url: str,
        timeout: float = 10.0,
        use_aiohttp_digest: bool | None = None,
    ) -> None:
        user, _, domain = aor.partition("@")
        if not user or not domain:
            raise ValueError(f"not an address of record: {aor!r}")
        self.aor = aor
        self.base_url = base_url.rstrip("/")
        self._user = user
        self._password = password
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        available = hasattr(aiohttp, "DigestAuthMiddleware")
        self._aiohttp_digest = available if use_aiohttp_digest is None else use_aiohttp_digest
        if self._aiohttp_digest and not available:
            raise ValueError("this aiohttp has no DigestAuthMiddleware (3.12 or later has)")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> XcapClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def document_url(self, auid: str) -> str:
        """The URL of this user's ``index`` document of ``auid`` (RFC 4825 §6.2)."""
        xui = quote(sip_uri(self.aor), safe=":@+")
        return f"{self.base_url}/{auid}/users/{xui}/{DOCUMENT}"

    # -- the buddy list (resource-lists, RFC 4826) -------------------------------------------

    async def buddies(self) -> list[Buddy]:
        """Every entry of every list of the buddy list, in document order, once each."""
        lists, _ = await self._read(RESOURCE_LISTS, _parse_lists)
        out: list[Buddy] = []
        seen: set[str] = set()
        for item in (lists or resourcelists.ResourceLists()).lists:
            for entry in item.entries():
                if entry.uri not in seen:
                    seen.add(entry.uri)
                    name = entry.display_name.text if entry.display_name else None
                    out.append(Buddy(entry.uri, name))
        return out

    async def add_buddy(self, uri: str, name: str | None = None) -> None:
        """Add ``uri`` (``bob@example.com`` or a SIP URI) to the ``buddies`` list; an entry
        already on the list only gets its display name changed (when ``name`` is given)."""
        wanted = sip_uri(uri)
        display = resourcelists.DisplayName(name) if name else None

        def change(old: resourcelists.ResourceLists | None) -> resourcelists.ResourceLists | None:
            lists = old or resourcelists.ResourceLists()
            found = any(e.uri == wanted for item in lists.lists for e in item.entries())
            if found:
                if display is None:
                    return None
                return resourcelists.ResourceLists(
                    tuple(_renamed(item, wanted, display) for item in lists.lists)
                )
            entry = resourcelists.Entry(wanted, display)
            if lists.get(BUDDY_LIST) is None:
                return resourcelists.ResourceLists(
                    (*lists.lists, resourcelists.List(BUDDY_LIST, items=(entry,)))
                )
            return resourcelists.ResourceLists(
                tuple(
                    _appended(item, entry) if item.name == BUDDY_LIST else item
                    for item in lists.lists
                )
            )

        await self._modify_lists(change)

    async def remove_buddy(self, uri: str) -> None:
        """Remove ``uri`` from every list of the buddy list (nothing if absent)."""
        unwanted = sip_uri(uri)

        def change(old: resourcelists.ResourceLists | None) -> resourcelists.ResourceLists | None:
            if old is None or not any(
                e.uri == unwanted for item in old.lists for e in item.entries()
            ):
                return None
            return resourcelists.ResourceLists(
                tuple(_without(item, unwanted) for item in old.lists)
            )

        await self._modify_lists(change)

    # -- friend requests (pres-rules, RFC 5025) -------------------------------------------

    async def allow(self, watcher: str) -> None:
        """Let ``watcher`` see our presence (a one-watcher ``allow`` rule)."""
        await self._set_rule(watcher, SubHandling.ALLOW)

    async def block(self, watcher: str, *, polite: bool = True) -> None:
        """Stop ``watcher`` from seeing our presence. ``polite`` (the default) is RFC 5025's
        polite-block: the watcher is not told, and sees us offline; otherwise ``block``
        refuses their subscription outright."""
        await self._set_rule(watcher, SubHandling.POLITE_BLOCK if polite else SubHandling.BLOCK)

    async def rules(self) -> presrules.Ruleset:
        """Our presence authorization rules (empty when we have none)."""
        ruleset, _ = await self._read(PRES_RULES, _parse_rules)
        return ruleset or presrules.Ruleset()

    async def _set_rule(self, watcher: str, handling: SubHandling) -> None:
        who = sip_uri(watcher)

        def change(old: presrules.Ruleset | None) -> presrules.Ruleset | None:
            ruleset = old or presrules.Ruleset()
            rule = ruleset.rule_for(who)
            if rule is not None and rule.actions and rule.actions.sub_handling is handling:
                return None
            return ruleset.with_rule_for(who, handling)

        await self._modify(
            PRES_RULES, _parse_rules, presrules.serialize, presrules.CONTENT_TYPE, change
        )

    # -- read-modify-write under entity tags ------------------------------------------------

    async def _modify_lists(
        self,
        change: Callable[[resourcelists.ResourceLists | None], resourcelists.ResourceLists | None],
    ) -> None:
        await self._modify(
            RESOURCE_LISTS,
            _parse_lists,
            resourcelists.serialize,
            resourcelists.CONTENT_TYPE,
            change,
        )

    async def _read(self, auid: str, parse: Callable[[bytes], T]) -> tuple[T | None, str | None]:
        """The parsed document and its ETag; ``(None, None)`` when there is none (404)."""
        status, body, etag = await self._send("GET", self.document_url(auid))
        if status == 404:
            return None, None
        if status != 200:
            raise XcapError(f"reading {auid}: HTTP {status}", status)
        try:
            return parse(body), etag
        except PayloadError as exc:
            raise XcapError(f"the server's {auid} document is unreadable: {exc}") from None

    async def _modify(
        self,
        auid: str,
        parse: Callable[[bytes], T],
        serialize: Callable[[T], bytes],
        content_type: str,
        change: Callable[[T | None], T | None],
    ) -> None:
        url = self.document_url(auid)
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await asyncio.sleep(random.uniform(0, RETRY_STEP * attempt))
            current, etag = await self._read(auid, parse)
            new = change(current)
            if new is None:
                return  # already as wanted
            # RFC 4825 §7.11: write only over the version we read, or create only if absent.
            condition = {"If-Match": etag} if etag else {"If-None-Match": "*"}
            headers = {"Content-Type": content_type, **condition}
            status, body, _ = await self._send("PUT", url, serialize(new), headers)
            if status in (200, 201):
                return
            if status != 412:
                detail = body.decode("utf-8", "replace").strip()
                raise XcapError(f"writing {auid}: HTTP {status} {detail}".rstrip(), status)
        raise XcapError(f"writing {auid}: the document kept changing; try again", 412)

    # -- HTTP with Digest ------------------------------------------------------------------------

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None:
            options: dict[str, Any] = {"timeout": self._timeout}
            if self._aiohttp_digest:
                options["middlewares"] = (aiohttp.DigestAuthMiddleware(self._user, self._password),)
            self._session = aiohttp.ClientSession(**options)
        return self._session

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, str | None]:
        """``(status, body, ETag)`` of one request; auth failures and no answer raise."""
        session = self._session_for_loop()
        target = URL(url, encoded=True)
        sent = dict(headers or {})
        try:
            status, data, etag, challenges = await self._exchange(
                session, method, target, body, sent
            )
            if status == 401 and not self._aiohttp_digest:
                authorization = self._authorization(challenges, method, target.raw_path_qs)
                if authorization is not None:
                    sent["Authorization"] = authorization
                    status, data, etag, challenges = await self._exchange(
                        session, method, target, body, sent
                    )
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise XcapUnreachable(
                f"XCAP server unreachable at {self.base_url}: {exc or type(exc).__name__}"
            ) from None
        if status == 401:
            raise XcapAuthError(
                f"sign-in refused: wrong password for {self.aor} (or no such account)", status
            )
        if status == 403:
            raise XcapAuthError(f"the XCAP server refused {self.aor} (403 Forbidden)", status)
        if status == 429:
            raise XcapAuthError("too many failed sign-ins: wait a while", status)
        return status, data, etag

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        method: str,
        target: URL,
        body: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes, str | None, list[str]]:
        async with session.request(method, target, data=body, headers=headers) as response:
            data = await response.read()
            challenges = response.headers.getall("WWW-Authenticate", [])
            return response.status, data, response.headers.get("ETag"), challenges

    def _authorization(self, values: list[str], method: str, target: str) -> str | None:
        """Answer the 401's challenges with Parley's digest (for aiohttp before 3.12):
        the best algorithm offered (RFC 7616 §3.7), ``uri`` the request-target (§3.4.6)."""
        challenges: list[DigestChallenge] = []
        for value in values:
            try:
                challenges.extend(parse_challenges(value))
            except ParseError:
                continue
        chosen = choose_challenges(challenges)
        if not chosen:
            return None
        credentials = build_authorization(
            chosen[0], self._user, self._password, method, target, os.urandom(8).hex(), 1
        )
        return serialize_credentials(credentials)


def _parse_lists(data: bytes) -> resourcelists.ResourceLists:
    return resourcelists.parse(data)


def _parse_rules(data: bytes) -> presrules.Ruleset:
    return presrules.parse(data)


def _appended(item: resourcelists.List, entry: resourcelists.Entry) -> resourcelists.List:
    return replace(item, items=(*item.items, entry))


def _without(item: resourcelists.List, uri: str) -> resourcelists.List:
    items: list[ListItem] = []
    for child in item.items:
        if isinstance(child, resourcelists.Entry) and child.uri == uri:
            continue
        items.append(_without(child, uri) if isinstance(child, resourcelists.List) else child)
    return replace(item, items=tuple(items))


def _renamed(
    item: resourcelists.List, uri: str, name: resourcelists.DisplayName
) -> resourcelists.List:
    items: list[ListItem] = []
    for child in item.items:
        if isinstance(child, resourcelists.Entry) and child.uri == uri:
            child = replace(child, display_name=name)
        elif isinstance(child, resourcelists.List):
            child = _renamed(child, uri, name)
        items.append(child)
    return replace(item, items=tuple(items))
