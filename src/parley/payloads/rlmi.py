"""RFC 4662 §5 Resource List Meta-Information (``application/rlmi+xml``): the root part
of an RLS NOTIFY's ``multipart/related`` body, saying which resources of the list are
in it and in which subscription state (see :mod:`parley.payloads.multipart`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import PayloadError
from .xml import (
    LANG,
    MAX_DOCUMENT_BYTES,
    XmlElement,
    format_bool,
    parse_bool,
    parse_int,
    parse_xml,
    qname,
    register_namespace,
    serialize_xml,
)

__all__ = [
    "CONTENT_TYPE",
    "NAMESPACE",
    "Instance",
    "InstanceState",
    "List",
    "Name",
    "Resource",
    "parse",
    "serialize",
]

CONTENT_TYPE = "application/rlmi+xml"
NAMESPACE = "urn:ietf:params:xml:ns:rlmi"
register_namespace(NAMESPACE, "rlmi")

_LIST = qname(NAMESPACE, "list")
_RESOURCE = qname(NAMESPACE, "resource")
_INSTANCE = qname(NAMESPACE, "instance")
_NAME = qname(NAMESPACE, "name")


class InstanceState(StrEnum):
    """§5.2: the state of the back-end subscription to one resource."""

    ACTIVE = "active"
    PENDING = "pending"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class Name:
    """``<name>``: a human-readable name with an optional ``xml:lang``."""

    text: str
    lang: str | None = None


@dataclass(frozen=True)
class Instance:
    """§5.2 ``<instance>``: one back-end subscription. ``cid`` is the Content-ID (no
    angle brackets) of the body part carrying its state, absent while there is none;
    ``reason`` is the Subscription-State reason of a terminated one."""

    id: str
    state: InstanceState
    reason: str | None = None
    cid: str | None = None
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class Resource:
    """§5.2 ``<resource>``: one member of the list, by ``uri``."""

    uri: str
    names: tuple[Name, ...] = ()
    instances: tuple[Instance, ...] = ()


@dataclass(frozen=True)
class List:
    """§5.2 ``<list>``: the list ``uri``; ``version`` counts the RLMI documents sent on
    the subscription; ``full_state`` says whether every resource is present. ``cid`` is
    set when this list is itself a part of an enclosing list's notification."""

    uri: str
    version: int
    full_state: bool
    names: tuple[Name, ...] = ()
    resources: tuple[Resource, ...] = ()
    cid: str | None = None

    def resource(self, uri: str) -> Resource | None:
        return next((r for r in self.resources if r.uri == uri), None)


def _required(element: XmlElement, name: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise PayloadError(f"RLMI <{element.local_name}> lacks its {name} attribute")
    return value


def _names(element: XmlElement) -> tuple[Name, ...]:
    return tuple(Name(child.text or "", child.get(LANG)) for child in element.findall(_NAME))


def _instance(element: XmlElement) -> Instance:
    state = _required(element, "state")
    try:
        instance_state = InstanceState(state)
    except ValueError:
        raise PayloadError(f"RLMI instance state is unknown: {state!r}") from None
    return Instance(
        _required(element, "id"),
        instance_state,
        element.get("reason"),
        element.get("cid"),
        element.children,
    )


def parse(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> List:
    """Decode an ``application/rlmi+xml`` body; :class:`PayloadError` if bad."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != _LIST:
        raise PayloadError(f"not an RLMI document: the root element is {root.tag}")
    resources = tuple(
        Resource(
            _required(child, "uri"),
            _names(child),
            tuple(_instance(i) for i in child.findall(_INSTANCE)),
        )
        for child in root.findall(_RESOURCE)
    )
    return List(
        _required(root, "uri"),
        parse_int(_required(root, "version"), "RLMI version", minimum=0),
        parse_bool(_required(root, "fullState"), "RLMI fullState"),
        _names(root),
        resources,
        root.get("cid"),
    )


def _names_xml(names: tuple[Name, ...]) -> list[XmlElement]:
    return [XmlElement.make(_NAME, {LANG: n.lang}, text=n.text or None) for n in names]


def serialize(rlmi: List, *, pretty: bool = True) -> bytes:
    """Encode ``rlmi`` as ``application/rlmi+xml``."""
    resources = [
        XmlElement.make(
            _RESOURCE,
            {"uri": r.uri},
            [
                *_names_xml(r.names),
                *(
                    XmlElement.make(
                        _INSTANCE,
                        {"id": i.id, "state": i.state.value, "reason": i.reason, "cid": i.cid},
                        i.extensions,
                    )
                    for i in r.instances
                ),
            ],
        )
        for r in rlmi.resources
    ]
    attrib = {
        "uri": rlmi.uri,
        "version": str(rlmi.version),
        "fullState": format_bool(rlmi.full_state),
        "cid": rlmi.cid,
    }
    root = XmlElement.make(_LIST, attrib, [*_names_xml(rlmi.names), *resources])
    return serialize_xml(root, pretty=pretty)
