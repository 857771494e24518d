"""The XCAP server (RFC 4825): documents per user in storage, read and changed whole or
one element or attribute at a time, behind HTTP Digest.

:class:`XcapService` takes an :class:`XcapRequest` (method, target, the few headers XCAP
uses, body) and returns an :class:`XcapResponse`; :meth:`XcapService.handle` is the
aiohttp edge mounted on the server's HTTP port under ``/xcap-root``. In between:

1. the URI is split into document and node selector (§6), and the AUID looked up;
2. ``users`` documents need Digest credentials (§13; RFC 7616), and only their owner may
   touch them (403 otherwise); the ``global`` xcap-caps document is public;
3. ``If-Match``/``If-None-Match`` are checked against the document's ETag (§7.11, §8.5;
   RFC 9110 §13), giving 412 (or 304 for a GET);
4. the body is checked (415 for the wrong MIME type, §8.2.2; 413 above the size cap) and
   the change applied and validated (409 with an ``<xcap-error>``, §11);
5. the document is stored with a new ETag, and ``on_change`` is told before the answer
   goes out, so a buddy added to the list is allowed by the time the client hears 200.

Changes to one document are serialised by a lock, so an If-Match check and its write
are atomic within this process.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiohttp import web

from parley.payloads.errors import PayloadError
from parley.payloads.xml import MAX_DOCUMENT_BYTES, XmlElement, parse_xml, serialize_xml
from parley.runtime.http import HttpServer, MetricsRegistry
from parley.runtime.transports import TransportLayer
from parley.services.auth import domain_realm
from parley.services.storage.interface import Account, Document
from parley.services.throttle import Throttle

from .auth import AuthFailure, HttpDigestAuth
from .errors import XcapConflict, XcapError
from .fragment import (
    ATTRIBUTE_CONTENT_TYPE,
    ELEMENT_CONTENT_TYPE,
    decode_utf8,
    escape_attribute,
    parse_attribute_value,
    parse_fragment,
)
from .selector import (
    NodeSelector,
    delete_node,
    element_at,
    get_node,
    parse_selector,
    put_attribute,
    put_element,
    select,
)
from .uri import GLOBAL, DocumentSelector, XcapUri, parse_xcap_uri
from .usages import DEFAULT_USAGES, XCAP_CAPS, ApplicationUsage, xcap_caps_document

__all__ = [
    "WATCHED_DOCUMENT",
    "XCAP_ROOT",
    "OnDocumentChange",
    "OnDocumentUpdate",
    "XcapHooks",
    "XcapRequest",
    "XcapResponse",
    "XcapService",
    "XcapStorage",
    "start_http",
]

log = logging.getLogger(__name__)

#: Where XCAP lives on the HTTP port: the XCAP root's path (RFC 4825 §6.1).
XCAP_ROOT = "/xcap-root"
#: The document name the presence agent reads in each user's directory: RFC 5025 §9.7
#: and RFC 4826 §3.4.7 leave names to clients, which use ``index``.
WATCHED_DOCUMENT = "index"

#: ``on_change(aor, auid, document)``: ``document`` is the new content of the user's
#: :data:`WATCHED_DOCUMENT` of that AUID, or None once it was deleted. May be a coroutine.
OnDocumentChange = Callable[[str, str, bytes | None], Awaitable[None] | None]
#: ``on_update(aor, auid, old, new)``: the same change with the content it replaced
#: (None when the document is new), for consumers that diff (who was added to a list?).
OnDocumentUpdate = Callable[[str, str, bytes | None, bytes | None], Awaitable[None] | None]

_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_ALLOWED = "GET, HEAD, PUT, DELETE"
_READ_ONLY_ALLOWED = "GET, HEAD"
_ETAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')


class XcapStorage(Protocol):
    """What the XCAP server needs of storage: accounts (their H(A1)s) and documents.
    Both :class:`~parley.services.storage.sqlite.SqliteStorage` and
    :class:`~parley.services.storage.memory.MemoryStorage` provide it."""

    async def get_account(self, aor: str) -> Account | None: ...

    async def get_document(self, aor: str, auid: str, name: str) -> Document | None: ...

    async def put_document(self, document: Document) -> None: ...

    async def delete_document(self, aor: str, auid: str, name: str) -> bool: ...

    def document_lock(self, aor: str, auid: str, name: str) -> AbstractAsyncContextManager[None]:
        """Held around each read-modify-write of a document (shared with the presence
        service, which writes pres-rules too)."""


@dataclass(frozen=True, slots=True)
class XcapHooks:
    """What the rest of the server hears from XCAP. ``on_change`` (new content) and
    ``on_update`` (old and new content) run after every committed change to a user's
    :data:`WATCHED_DOCUMENT` (resource-lists: buddies added or removed; pres-rules:
    authorization decisions), before the client is answered; an exception from one is
    logged, the change stands."""

    on_change: OnDocumentChange | None = None
    on_update: OnDocumentUpdate | None = None


@dataclass(frozen=True, slots=True)
class XcapRequest:
    """One XCAP request, HTTP-neutral.

    ``target`` is the request-target as sent (percent-encoded path and query): node
    selectors and the digest ``uri`` are read from it. ``base`` is the scheme and
    authority (``http://127.0.0.1:8080``) for absolute URIs in error reports. ``body`` is
    None when it exceeded the size cap (413 once authenticated).
    """

    method: str
    target: str
    base: str = ""
    source: str = ""
    authorization: tuple[str, ...] = ()
    content_type: str | None = None
    if_match: str | None = None
    if_none_match: str | None = None
    body: bytes | None = b""


@dataclass(frozen=True, slots=True)
class XcapResponse:
    """The answer: status, headers (ETag, WWW-Authenticate, Allow), body and its type."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str | None = None


def make_etag(content: bytes) -> str:
    """A strong entity tag for ``content`` (RFC 9110 §8.8.3): equal bytes, equal tags."""
    return hashlib.sha256(content).hexdigest()[:32]


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _etag_list(value: str) -> list[tuple[bool, str]] | None:
    """``(weak, opaque-tag)`` items of an If-Match/If-None-Match value; None for ``*``."""
    if value.strip() == "*":
        return None
    items: list[tuple[bool, str]] = []
    position = 0
    while position < len(value):
        match = _ETAG.match(value, position)
        if match is None:
            break  # malformed remainder: what was read stands, the rest matches nothing
        items.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return items


def _precondition(request: XcapRequest, etag: str | None) -> int | None:
    """412 (or 304 for GET/HEAD) when the request's preconditions fail (RFC 9110 §13.2.2:
    If-Match first, then If-None-Match), else None."""
    if request.if_match is not None:
        tags = _etag_list(request.if_match)
        if etag is None:
            return 412
        # §13.1.1: If-Match compares strongly; a weak tag never matches.
        if tags is not None and not any(not weak and tag == etag for weak, tag in tags):
            return 412
    if request.if_none_match is not None:
        tags = _etag_list(request.if_none_match)
        matched = etag is not None and (tags is None or any(tag == etag for _, tag in tags))
        if matched:
            # §13.1.2: a GET that would be "not modified" is answered 304, the rest 412.
            return 304 if request.method in ("GET", "HEAD") else 412
    return None


class XcapService:
    """The XCAP server over ``storage``, authenticating with ``auth``.

    ``usages`` are the application usages offered (resource-lists, pres-rules and
    xcap-caps by default); ``max_document_bytes`` caps documents and bodies (413 above);
    ``metrics`` gets a ``parley_xcap_requests_total`` counter.
    """

    def __init__(
        self,
        storage: XcapStorage,
        auth: HttpDigestAuth,
        *,
        hooks: XcapHooks | None = None,
        usages: Sequence[ApplicationUsage] = DEFAULT_USAGES,
        root: str = XCAP_ROOT,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
        metrics: MetricsRegistry | None = None,
    ) -> None:
        self.storage = storage
        self.auth = auth
        self.hooks = hooks or XcapHooks()
        self.usages = {usage.auid: usage for usage in usages}
        self.root = root
        self.max_document_bytes = max_document_bytes
        self._caps = xcap_caps_document(list(usages))
        self._requests = (
            metrics.counter(
                "parley_xcap_requests_total", "XCAP requests answered", ("auid", "method", "code")
            )
            if metrics is not None
            else None
        )

    # -- the aiohttp edge ------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler for every request under :attr:`root`."""
        body: bytes | None = b""
        if request.method in ("PUT", "POST"):
            body = await self._read_body(request)
        xcap_request = XcapRequest(
            method=request.method,
            target=request.raw_path,
            base=f"{request.scheme}://{request.host}",
            source=request.remote or "",
            authorization=tuple(request.headers.getall("Authorization", [])),
            content_type=request.headers.get("Content-Type"),
            if_match=request.headers.get("If-Match"),
            if_none_match=request.headers.get("If-None-Match"),
            body=body,
        )
        response = await self.process(xcap_request)
        headers = list(response.headers)
        if response.content_type is not None:
            headers.append(("Content-Type", response.content_type))
        out = web.Response(status=response.status, body=response.body or None)
        for name, value in headers:
            out.headers.add(name, value)
        return out

    async def _read_body(self, request: web.Request) -> bytes | None:
        limit = self.max_document_bytes
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    # -- the HTTP-neutral core ---------------------------------------------------------------

    async def process(self, request: XcapRequest) -> XcapResponse:
        """Answer one XCAP request (see the module docstring for the steps)."""
        auid = "other"
        try:
            path, _, query = request.target.partition("?")
            uri = parse_xcap_uri(path, query, self.root)
            usage = self.usages.get(uri.document.auid)
            if usage is None:
                raise XcapError(404, f"no application usage {uri.document.auid!r}")
            auid = usage.auid
            if uri.document.tree == GLOBAL:
                response = self._global(request, uri, usage)
            else:
                response = await self._user(request, uri, usage)
        except XcapError as exc:
            body, content_type = exc.body()
            response = XcapResponse(exc.status, exc.headers, body, content_type)
        if self._requests is not None:
            method = request.method if request.method in _METHODS else "other"
            self._requests.inc(auid=auid, method=method, code=str(response.status))
        return response

    def _global(self, request: XcapRequest, uri: XcapUri, usage: ApplicationUsage) -> XcapResponse:
        # RFC 4825 §12.9: anyone may read the capabilities; nobody writes them over XCAP.
        if usage.auid != XCAP_CAPS.auid:
            raise XcapError(404, f"{usage.auid} has no global documents")
        if uri.document.name != "index":
            raise XcapError(404, "xcap-caps has only the index document")
        if request.method not in ("GET", "HEAD"):
            raise XcapError(405, "xcap-caps is read-only", [("Allow", _READ_ONLY_ALLOWED)])
        return self._read(request, uri, usage, self._caps, make_etag(self._caps))

    async def _user(
        self, request: XcapRequest, uri: XcapUri, usage: ApplicationUsage
    ) -> XcapResponse:
        document = uri.document
        assert document.aor is not None
        if request.method not in _METHODS:
            raise XcapError(405, f"{request.method} is not an XCAP method", [("Allow", _ALLOWED)])
        outcome = await self.auth.authenticate(
            method=request.method,
            target=request.target,
            authorization=request.authorization,
            identity=document.aor,
            source=request.source,
        )
        if isinstance(outcome, AuthFailure):
            raise XcapError(outcome.status, outcome.reason, outcome.headers)
        if outcome != document.aor:
            # RFC 4825 §5.7 / §13: users read and write their own documents only.
            raise XcapError(403, "these documents belong to another user")
        if usage.read_only:
            raise XcapError(404, f"{usage.auid} has no user documents")
        async with self.storage.document_lock(document.aor, usage.auid, document.name):
            stored = await self.storage.get_document(document.aor, usage.auid, document.name)
            if request.method in ("GET", "HEAD"):
                if stored is None:
                    raise XcapError(404, "no such document")
                return self._read(request, uri, usage, stored.content, stored.etag)
            if request.method == "PUT":
                return await self._put(request, uri, usage, stored)
            return await self._delete(request, uri, usage, stored)

    # -- reading ---------------------------------------------------------------------------

    def _selector(self, uri: XcapUri, usage: ApplicationUsage) -> NodeSelector | None:
        if uri.node is None:
            return None
        return parse_selector(uri.node, usage.default_namespace, uri.namespaces)

    def _read(
        self,
        request: XcapRequest,
        uri: XcapUri,
        usage: ApplicationUsage,
        content: bytes,
        etag: str,
    ) -> XcapResponse:
        selector = self._selector(uri, usage)
        status = _precondition(request, etag)
        headers = (("ETag", f'"{etag}"'),)
        if status is not None:
            return XcapResponse(status, headers)
        if selector is None:
            return XcapResponse(200, headers, content, usage.content_type)
        node = get_node(_parse_stored(content), selector)
        if isinstance(node, str):
            # RFC 4825 §7.9 / §15.2.2: the attribute value, escaped as it would be written.
            return XcapResponse(
                200, headers, escape_attribute(node).encode("utf-8"), ATTRIBUTE_CONTENT_TYPE
            )
        return XcapResponse(200, headers, _element_bytes(node), ELEMENT_CONTENT_TYPE)

    # -- writing ---------------------------------------------------------------------------

    async def _put(
        self,
        request: XcapRequest,
        uri: XcapUri,
        usage: ApplicationUsage,
        stored: Document | None,
    ) -> XcapResponse:
        selector = self._selector(uri, usage)
        media_type = _media_type(request.content_type)
        if selector is None:
            wanted = usage.content_type
        elif selector.attribute is not None:
            wanted = ATTRIBUTE_CONTENT_TYPE
        elif selector.namespaces:
            raise XcapError(405, "namespace bindings are read-only", [("Allow", "GET, HEAD")])
        else:
            wanted = ELEMENT_CONTENT_TYPE
        if media_type != wanted:
            # RFC 4825 §8.2.2: a document PUT carries the usage's MIME type, an element
            # or attribute PUT its XCAP type; anything else is 415.
            raise XcapError(415, f"expected Content-Type {wanted}", [("Accept", wanted)])
        if selector is not None and stored is None:
            raise XcapError(404, "no such document")
        etag = stored.etag if stored is not None else None
        status = _precondition(request, etag)
        if status is not None:
            return XcapResponse(status, _etag_headers(etag))
        body = request.body
        if body is None:
            raise XcapError(413, f"bodies are limited to {self.max_document_bytes} bytes")
        if selector is None:
            content = body
            root = self._parse_document(content)
            created = stored is None
        else:
            assert stored is not None
            root, created = self._apply_put(uri, usage, selector, stored.content, body, request)
            content = serialize_xml(root)
            if len(content) > self.max_document_bytes:
                raise XcapError(413, f"documents are limited to {self.max_document_bytes} bytes")
        if usage.validate is not None:
            usage.validate(root, content)
        new_etag = await self._store(uri.document, usage, stored, content)
        return XcapResponse(201 if created else 200, _etag_headers(new_etag))

    def _parse_document(self, content: bytes) -> XmlElement:
        decode_utf8(content)  # RFC 4825 §8.2.2: documents are UTF-8
        try:
            return parse_xml(content, max_bytes=self.max_document_bytes)
        except PayloadError as exc:
            # Ill-formed, or well-formed with a DTD (entity expansion is never done).
            raise XcapConflict.not_well_formed(exc.reason) from None

    def _apply_put(
        self,
        uri: XcapUri,
        usage: ApplicationUsage,
        selector: NodeSelector,
        content: bytes,
        body: bytes,
        request: XcapRequest,
    ) -> tuple[XmlElement, bool]:
        root = _parse_stored(content)
        if selector.attribute is not None:
            return put_attribute(root, selector, parse_attribute_value(body))
        # The fragment's unprefixed names are in the namespace of the parent it goes
        # into (RFC 4825 §7.4); the usage's usual prefixes and the query's are in scope.
        parent_namespace = usage.default_namespace
        if len(selector.steps) == 1:
            parent_namespace = root.namespace or parent_namespace
        else:
            parents = select(root, selector.steps[:-1])
            if len(parents) == 1:
                parent_namespace = element_at(root, parents[0]).namespace or parent_namespace
        element = parse_fragment(
            body,
            default_namespace=parent_namespace,
            bindings={**usage.prefixes, **uri.namespaces},
            max_bytes=self.max_document_bytes,
        )
        document_uri = request.base + uri.document.path(self.root)
        return put_element(root, selector, element, document_uri=document_uri)

    async def _delete(
        self,
        request: XcapRequest,
        uri: XcapUri,
        usage: ApplicationUsage,
        stored: Document | None,
    ) -> XcapResponse:
        selector = self._selector(uri, usage)
        if stored is None:
            raise XcapError(404, "no such document")
        status = _precondition(request, stored.etag)
        if status is not None:
            return XcapResponse(status, _etag_headers(stored.etag))
        if selector is None:
            await self.storage.delete_document(stored.aor, stored.auid, stored.name)
            await self._changed(uri.document, usage, stored.content, None)
            return XcapResponse(200)
        root = delete_node(_parse_stored(stored.content), selector)
        content = serialize_xml(root)
        if usage.validate is not None:
            usage.validate(root, content)
        new_etag = await self._store(uri.document, usage, stored, content)
        return XcapResponse(200, _etag_headers(new_etag))

    async def _store(
        self,
        document: DocumentSelector,
        usage: ApplicationUsage,
        stored: Document | None,
        content: bytes,
    ) -> str:
        assert document.aor is not None
        etag = make_etag(content)
        await self.storage.put_document(
            Document(document.aor, usage.auid, document.name, usage.content_type, content, etag)
        )
        await self._changed(document, usage, stored.content if stored else None, content)
        return etag

    async def _changed(
        self,
        document: DocumentSelector,
        usage: ApplicationUsage,
        old: bytes | None,
        new: bytes | None,
    ) -> None:
        aor = document.aor
        if document.name != WATCHED_DOCUMENT or aor is None:
            return
        calls: list[Callable[[], Awaitable[None] | None]] = []
        if self.hooks.on_change is not None:
            on_change = self.hooks.on_change
            calls.append(lambda: on_change(aor, usage.auid, new))
        if self.hooks.on_update is not None:
            on_update = self.hooks.on_update
            calls.append(lambda: on_update(aor, usage.auid, old, new))
        for call in calls:
            try:
                result = call()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("XCAP change hook failed for %s %s", aor, usage.auid)


def _etag_headers(etag: str | None) -> tuple[tuple[str, str], ...]:
    return () if etag is None else (("ETag", f'"{etag}"'),)


def _parse_stored(content: bytes) -> XmlElement:
    # Stored documents passed these checks when written; a cap far above any document
    # keeps one that grew under an older limit readable.
    try:
        return parse_xml(content, max_bytes=max(len(content), MAX_DOCUMENT_BYTES))
    except PayloadError as exc:  # pragma: no cover - only if storage was edited by hand
        raise XcapError(500, f"stored document is unreadable: {exc.reason}") from None


def _element_bytes(element: XmlElement) -> bytes:
    """One element as an ``application/xcap-el+xml`` body: no XML declaration, with the
    namespace declarations it needs so that it reads the same on its own."""
    text = serialize_xml(element, default_namespace=element.namespace)
    return text.split(b"?>\n", 1)[1].rstrip(b"\n")


async def start_http(
    host: str,
    port: int,
    *,
    transports: TransportLayer,
    storage: XcapStorage,
    realm_for: Callable[[str], str] = domain_realm,
    xcap_hooks: XcapHooks | None = None,
    static_dir: Path | None = None,
    metrics: MetricsRegistry | None = None,
    algorithms: Sequence[str] = ("SHA-256", "MD5"),
    secret: bytes | None = None,
    throttle: Throttle | None = None,
) -> HttpServer:
    """Start the server's HTTP port: ``/ws`` into ``transports`` (RFC 7118), XCAP under
    ``/xcap-root`` over ``storage``, ``/metrics``, and ``static_dir`` at ``/``.

    ``realm_for``, ``algorithms``, ``secret`` and ``throttle`` configure the XCAP digest
    authentication as the SIP authenticator's are (pass its throttle to count failures
    over both together). Close the result with ``await server.close()``.
    """
    registry = metrics if metrics is not None else MetricsRegistry()
    auth = HttpDigestAuth(
        storage, realm_for=realm_for, algorithms=algorithms, secret=secret, throttle=throttle
    )
    xcap = XcapService(storage, auth, hooks=xcap_hooks, metrics=registry)
    server = HttpServer(
        transports=transports,
        metrics=registry,
        mounts={XCAP_ROOT: xcap.handle},
        static_dir=static_dir,
    )
    await server.start(host, port)
    return server
