"""XCAP resource selectors (RFC 4825 §6): which document, and which node inside it.

An XCAP URI is the XCAP root, a *document selector* and, after the ``/~~/`` separator,
an optional *node selector* (§6.1). In
``/xcap-root/resource-lists/users/sip:alice@example.com/index/~~/resource-lists/list``
the root is ``/xcap-root``, the application usage (AUID) ``resource-lists``, the tree
``users``, the XCAP User Identifier ``sip:alice@example.com``, the document ``index``
and the node selector ``resource-lists/list`` (percent-encoded in the path).

The query may bind namespace prefixes used in the node selector, as XPointer's
``xmlns(prefix=namespace)`` (§6.4). Everything here is pure: it takes the path as sent
(still percent-encoded) and the query, and returns what they select.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from parley.sip.errors import ParseError
from parley.sip.syntax import SipUri, parse_uri

from .errors import XcapError

__all__ = [
    "DocumentSelector",
    "XcapUri",
    "parse_xcap_uri",
    "quote_xui",
]

#: §6.2: the two trees of an application usage.
USERS = "users"
GLOBAL = "global"
#: §6.1: separates the document selector from the node selector.
_SEPARATOR = "/~~/"
# §6.4: xmlns(prefix=namespace) pieces of the query component.
_XMLNS = re.compile(r"xmlns\(\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*=\s*([^)]*?)\s*\)")


@dataclass(frozen=True, slots=True)
class DocumentSelector:
    """The document an XCAP URI names (§6.2).

    ``tree`` is ``users`` or ``global``; for ``users``, ``xui`` is the XCAP User Identifier
    (``sip:alice@example.com``, decoded) and ``aor`` the address of record it names
    (``alice@example.com``). ``name`` is the document's name in that directory (``index``).
    """

    auid: str
    tree: str
    name: str
    xui: str | None = None
    aor: str | None = None

    def path(self, root: str) -> str:
        """This document's XCAP URI path under ``root`` (percent-encoded where needed)."""
        if self.tree == USERS and self.xui is not None:
            return f"{root}/{self.auid}/{USERS}/{quote_xui(self.xui)}/{self.name}"
        return f"{root}/{self.auid}/{GLOBAL}/{self.name}"


@dataclass(frozen=True, slots=True)
class XcapUri:
    """A parsed XCAP URI: the document, and the node selector text if any (decoded, not
    yet parsed; :mod:`.selector` parses it against an application usage's namespace),
    with the namespace bindings of the query (§6.4)."""

    document: DocumentSelector
    node: str | None = None
    namespaces: Mapping[str, str] = field(default_factory=dict)


def quote_xui(xui: str) -> str:
    """An XUI as a path segment: ``/``, ``?``, ``%`` and ``#`` escaped (RFC 3986 §3.3)."""
    return xui.replace("%", "%25").replace("/", "%2F").replace("?", "%3F").replace("#", "%23")


def _decode(segment: str) -> str:
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise XcapError(404, "percent-encoding is not UTF-8") from None


def _aor_of(xui: str) -> str:
    # §6.2: in the users tree, the XUI is the user's SIP AOR (RFC 4825 §4 "XUI").
    try:
        uri = parse_uri(xui)
    except ParseError:
        raise XcapError(404, f"not a SIP XUI: {xui!r}") from None
    if not isinstance(uri, SipUri) or uri.user is None or uri.params or uri.headers:
        raise XcapError(404, f"not a SIP address of record: {xui!r}")
    return uri.aor


def parse_xcap_uri(path: str, query: str, root: str) -> XcapUri:
    """Split ``path`` (as sent, percent-encoded) under ``root`` into what it selects.

    Raises :class:`XcapError` 404 for a path that names no document, 400 for a malformed
    query. Only single-segment document names are accepted (``index``, ``buddies``): the
    application usages served here define no sub-directories.
    """
    if not path.startswith(root + "/"):
        raise XcapError(404, "not under the XCAP root")
    rest = path[len(root) + 1 :]
    node: str | None = None
    if _SEPARATOR in rest:
        rest, raw_node = rest.split(_SEPARATOR, 1)
        node = _decode(raw_node)
        if not node:
            raise XcapError(404, "empty node selector")
    elif rest.endswith("/~~"):
        raise XcapError(404, "empty node selector")
    segments = [_decode(part) for part in rest.split("/")]
    if len(segments) < 3 or any(not part for part in segments):
        raise XcapError(404, "no document selected")
    auid, tree = segments[0], segments[1]
    if tree == USERS:
        if len(segments) != 4:
            raise XcapError(404, "no document selected")
        xui = segments[2]
        document = DocumentSelector(auid, USERS, segments[3], xui, _aor_of(xui))
    elif tree == GLOBAL:
        if len(segments) != 3:
            raise XcapError(404, "no document selected")
        document = DocumentSelector(auid, GLOBAL, segments[2])
    else:
        raise XcapError(404, f"no {tree!r} tree: only users and global exist")
    return XcapUri(document, node, _namespaces(query))


def _namespaces(query: str) -> dict[str, str]:
    """The ``xmlns(prefix=namespace)`` bindings of the query (§6.4)."""
    if not query:
        return {}
    text = _decode(query)
    bindings: dict[str, str] = {}
    position = 0
    for match in _XMLNS.finditer(text):
        if text[position : match.start()].strip():
            raise XcapError(400, "the query holds something other than xmlns() bindings")
        bindings[match.group(1)] = match.group(2)
        position = match.end()
    if text[position:].strip():
        raise XcapError(400, "the query holds something other than xmlns() bindings")
    return bindings
