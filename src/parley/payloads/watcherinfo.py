"""RFC 3858 watcher information (``application/watcherinfo+xml``), the body of RFC 3857
``presence.winfo`` NOTIFYs: who watches a resource, and in what subscription state."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from .errors import PayloadError
from .xml import (
    LANG,
    MAX_DOCUMENT_BYTES,
    XmlElement,
    parse_int,
    parse_xml,
    qname,
    register_namespace,
    serialize_xml,
)

__all__ = [
    "CONTENT_TYPE",
    "NAMESPACE",
    "State",
    "Watcher",
    "WatcherEvent",
    "WatcherInfo",
    "WatcherList",
    "WatcherStatus",
    "parse",
    "serialize",
]

CONTENT_TYPE = "application/watcherinfo+xml"
NAMESPACE = "urn:ietf:params:xml:ns:watcherinfo"
register_namespace(NAMESPACE, "wi")

T = TypeVar("T", bound=StrEnum)

_WATCHERINFO = qname(NAMESPACE, "watcherinfo")
_WATCHER_LIST = qname(NAMESPACE, "watcher-list")
_WATCHER = qname(NAMESPACE, "watcher")


class State(StrEnum):
    """§5.2: whether the document is the whole state or a change to it."""

    FULL = "full"
    PARTIAL = "partial"


class WatcherStatus(StrEnum):
    """§5.4 (RFC 3857 §5.1): the state of the watcher's subscription."""

    PENDING = "pending"
    ACTIVE = "active"
    WAITING = "waiting"
    TERMINATED = "terminated"


class WatcherEvent(StrEnum):
    """§5.4 (RFC 3857 §5.2): the event that moved the subscription to its status."""

    SUBSCRIBE = "subscribe"
    APPROVED = "approved"
    DEACTIVATED = "deactivated"
    PROBATION = "probation"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    GIVEUP = "giveup"
    NORESOURCE = "noresource"


@dataclass(frozen=True)
class Watcher:
    """§5.4 ``<watcher>``: one subscription. ``uri`` is the watcher's identity, ``id``
    names the subscription, the durations are in seconds."""

    uri: str
    id: str
    status: WatcherStatus
    event: WatcherEvent
    display_name: str | None = None
    expiration: int | None = None
    duration_subscribed: int | None = None
    lang: str | None = None


@dataclass(frozen=True)
class WatcherList:
    """§5.3 ``<watcher-list>``: the watchers of ``resource`` for event ``package``."""

    resource: str
    package: str
    watchers: tuple[Watcher, ...] = ()
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class WatcherInfo:
    """§5.2 ``<watcherinfo>``: ``version`` counts the documents sent on the
    subscription, from 0."""

    version: int
    state: State
    watcher_lists: tuple[WatcherList, ...] = ()
    extensions: tuple[XmlElement, ...] = ()


def _attribute(element: XmlElement, name: str) -> str:
    value = element.get(name)
    if value is None or not value.strip():
        raise PayloadError(f"watcherinfo <{element.local_name}> lacks its {name} attribute")
    return value.strip()


def _enum(cls: type[T], element: XmlElement, name: str) -> T:
    value = _attribute(element, name)
    try:
        return cls(value)
    except ValueError:
        raise PayloadError(f"watcherinfo {name} has an unknown value: {value!r}") from None


def _optional_int(element: XmlElement, name: str) -> int | None:
    value = element.get(name)
    return None if value is None else parse_int(value, f"watcherinfo {name}", minimum=0)


def _watcher(element: XmlElement) -> Watcher:
    uri = (element.text or "").strip()
    if not uri:
        raise PayloadError("watcherinfo <watcher> has no URI")
    return Watcher(
        uri,
        _attribute(element, "id"),
        _enum(WatcherStatus, element, "status"),
        _enum(WatcherEvent, element, "event"),
        element.get("display-name"),
        _optional_int(element, "expiration"),
        _optional_int(element, "duration-subscribed"),
        element.get(LANG),
    )


def _watcher_list(element: XmlElement) -> WatcherList:
    watchers = tuple(_watcher(child) for child in element.findall(_WATCHER))
    extensions = tuple(child for child in element.children if child.tag != _WATCHER)
    return WatcherList(
        _attribute(element, "resource"), _attribute(element, "package"), watchers, extensions
    )


def parse(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> WatcherInfo:
    """Decode an ``application/watcherinfo+xml`` body; :class:`PayloadError` if bad."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != _WATCHERINFO:
        raise PayloadError(f"not a watcherinfo document: the root element is {root.tag}")
    lists = tuple(_watcher_list(child) for child in root.findall(_WATCHER_LIST))
    extensions = tuple(child for child in root.children if child.tag != _WATCHER_LIST)
    version = parse_int(_attribute(root, "version"), "watcherinfo version", minimum=0)
    return WatcherInfo(version, _enum(State, root, "state"), lists, extensions)


def _watcher_xml(watcher: Watcher) -> XmlElement:
    attrib = {
        "id": watcher.id,
        "status": watcher.status.value,
        "event": watcher.event.value,
        "display-name": watcher.display_name,
        "expiration": None if watcher.expiration is None else str(watcher.expiration),
        "duration-subscribed": (
            None if watcher.duration_subscribed is None else str(watcher.duration_subscribed)
        ),
        LANG: watcher.lang,
    }
    return XmlElement.make(_WATCHER, attrib, text=watcher.uri)


def serialize(info: WatcherInfo, *, pretty: bool = True) -> bytes:
    """Encode ``info`` as ``application/watcherinfo+xml``."""
    lists = [
        XmlElement.make(
            _WATCHER_LIST,
            {"resource": wl.resource, "package": wl.package},
            [*(_watcher_xml(w) for w in wl.watchers), *wl.extensions],
        )
        for wl in info.watcher_lists
    ]
    root = XmlElement.make(
        _WATCHERINFO,
        {"version": str(info.version), "state": info.state.value},
        [*lists, *info.extensions],
    )
    return serialize_xml(root, pretty=pretty)
