"""RFC 4826 §3 resource lists (``application/resource-lists+xml``): a user's buddy
lists, as an RLS (RFC 4662) or an XCAP server stores them.

A :class:`List` holds, in document order, entries (a URI), entry references (a
relative XCAP URI of an entry elsewhere), externals (the XCAP URI of another list) and
nested lists. Foreign elements are kept for round trips.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .errors import PayloadError
from .xml import (
    LANG,
    MAX_DOCUMENT_BYTES,
    XmlElement,
    parse_xml,
    qname,
    register_namespace,
    serialize_xml,
)

__all__ = [
    "CONTENT_TYPE",
    "NAMESPACE",
    "DisplayName",
    "Entry",
    "EntryRef",
    "External",
    "List",
    "ResourceLists",
    "parse",
    "serialize",
]

CONTENT_TYPE = "application/resource-lists+xml"
NAMESPACE = "urn:ietf:params:xml:ns:resource-lists"
register_namespace(NAMESPACE, "rl")

_RESOURCE_LISTS = qname(NAMESPACE, "resource-lists")
_LIST = qname(NAMESPACE, "list")
_ENTRY = qname(NAMESPACE, "entry")
_ENTRY_REF = qname(NAMESPACE, "entry-ref")
_EXTERNAL = qname(NAMESPACE, "external")
_DISPLAY_NAME = qname(NAMESPACE, "display-name")


@dataclass(frozen=True)
class DisplayName:
    """``<display-name>``: a human-readable name with an optional ``xml:lang``."""

    text: str
    lang: str | None = None


@dataclass(frozen=True)
class Entry:
    """§3.3.2 ``<entry>``: one resource, named by ``uri``."""

    uri: str
    display_name: DisplayName | None = None
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class EntryRef:
    """§3.3.3 ``<entry-ref>``: an entry defined elsewhere; ``ref`` is relative to the
    XCAP root."""

    ref: str
    display_name: DisplayName | None = None
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class External:
    """§3.3.4 ``<external>``: a whole list defined elsewhere; ``anchor`` is its
    absolute HTTP(S) URI."""

    anchor: str | None = None
    display_name: DisplayName | None = None
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class List:
    """§3.3.1 ``<list>``: ``items`` in document order, nested lists included."""

    name: str | None = None
    display_name: DisplayName | None = None
    items: tuple[List | Entry | EntryRef | External, ...] = ()
    extensions: tuple[XmlElement, ...] = ()

    def entries(self) -> Iterator[Entry]:
        """Every entry of this list and of its nested lists, depth first."""
        stack: list[List | Entry | EntryRef | External] = list(reversed(self.items))
        while stack:
            item = stack.pop()
            if isinstance(item, Entry):
                yield item
            elif isinstance(item, List):
                stack.extend(reversed(item.items))

    def find(self, name: str) -> List | None:
        """The nested list called ``name`` (searching depth first), or ``None``."""
        for item in self.items:
            if isinstance(item, List):
                if item.name == name:
                    return item
                found = item.find(name)
                if found is not None:
                    return found
        return None


@dataclass(frozen=True)
class ResourceLists:
    """§3.3 ``<resource-lists>``: the top-level lists."""

    lists: tuple[List, ...] = ()

    def get(self, name: str) -> List | None:
        """The top-level list called ``name``, or ``None``."""
        return next((item for item in self.lists if item.name == name), None)


# --------------------------------------------------------------------------- parsing


def _display_name(element: XmlElement) -> DisplayName | None:
    child = element.find(_DISPLAY_NAME)
    return None if child is None else DisplayName(child.text or "", child.get(LANG))


def _foreign(element: XmlElement) -> tuple[XmlElement, ...]:
    return tuple(child for child in element.children if child.namespace != NAMESPACE)


def _required(element: XmlElement, name: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise PayloadError(f"resource-lists <{element.local_name}> lacks its {name} attribute")
    return value


def _list(element: XmlElement) -> List:
    items: list[List | Entry | EntryRef | External] = []
    for child in element.children:
        if child.tag == _LIST:
            items.append(_list(child))
        elif child.tag == _ENTRY:
            items.append(Entry(_required(child, "uri"), _display_name(child), _foreign(child)))
        elif child.tag == _ENTRY_REF:
            items.append(EntryRef(_required(child, "ref"), _display_name(child), _foreign(child)))
        elif child.tag == _EXTERNAL:
            anchor = child.get("anchor")
            anchor = anchor.strip() if anchor is not None else None
            items.append(External(anchor, _display_name(child), _foreign(child)))
    return List(element.get("name"), _display_name(element), tuple(items), _foreign(element))


def parse(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> ResourceLists:
    """Decode an ``application/resource-lists+xml`` body; :class:`PayloadError` if bad."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != _RESOURCE_LISTS:
        raise PayloadError(f"not a resource-lists document: the root element is {root.tag}")
    return ResourceLists(tuple(_list(child) for child in root.findall(_LIST)))


# ----------------------------------------------------------------------- serializing


def _head(display_name: DisplayName | None) -> list[XmlElement]:
    if display_name is None:
        return []
    attrib = {LANG: display_name.lang}
    return [XmlElement.make(_DISPLAY_NAME, attrib, text=display_name.text or None)]


def _item_xml(item: List | Entry | EntryRef | External) -> XmlElement:
    if isinstance(item, List):
        return _list_xml(item)
    children = [*_head(item.display_name), *item.extensions]
    if isinstance(item, Entry):
        return XmlElement.make(_ENTRY, {"uri": item.uri}, children)
    if isinstance(item, EntryRef):
        return XmlElement.make(_ENTRY_REF, {"ref": item.ref}, children)
    return XmlElement.make(_EXTERNAL, {"anchor": item.anchor}, children)


def _list_xml(item: List) -> XmlElement:
    children = [*_head(item.display_name), *map(_item_xml, item.items), *item.extensions]
    return XmlElement.make(_LIST, {"name": item.name}, children)


def serialize(lists: ResourceLists, *, pretty: bool = True) -> bytes:
    """Encode ``lists`` as ``application/resource-lists+xml``."""
    root = XmlElement.make(_RESOURCE_LISTS, children=map(_list_xml, lists.lists))
    return serialize_xml(root, pretty=pretty)
