"""RFC 3994 ``application/im-iscomposing+xml``: "the other party is typing" (active)
and "has stopped" (idle) indications, sent in the same way as the messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .errors import PayloadError
from .xml import (
    MAX_DOCUMENT_BYTES,
    XmlElement,
    format_datetime,
    parse_datetime,
    parse_int,
    parse_xml,
    qname,
    register_namespace,
    serialize_xml,
)

__all__ = ["CONTENT_TYPE", "NAMESPACE", "IsComposing", "State", "parse", "serialize"]

CONTENT_TYPE = "application/im-iscomposing+xml"
NAMESPACE = "urn:ietf:params:xml:ns:im-iscomposing"
register_namespace(NAMESPACE, "isc")

_IS_COMPOSING, _STATE, _LASTACTIVE, _CONTENTTYPE, _REFRESH = (
    qname(NAMESPACE, n) for n in ("isComposing", "state", "lastactive", "contenttype", "refresh")
)


class State(StrEnum):
    """§3: whether a message is being composed."""

    ACTIVE = "active"
    IDLE = "idle"


@dataclass(frozen=True)
class IsComposing:
    """§4 ``<isComposing>``. ``lastactive`` is when composition was last active,
    ``contenttype`` what is being composed (``text/plain``, ``audio``...), ``refresh``
    the seconds within which an active state is refreshed (the receiver may time it
    out after that)."""

    state: State
    lastactive: datetime | None = None
    contenttype: str | None = None
    refresh: int | None = None
    extensions: tuple[XmlElement, ...] = ()


def parse(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> IsComposing:
    """Decode an ``application/im-iscomposing+xml`` body; :class:`PayloadError` if bad."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != _IS_COMPOSING:
        raise PayloadError(f"not an isComposing document: the root element is {root.tag}")
    state = root.find(_STATE)
    value = (state.text or "").strip() if state is not None else ""
    try:
        parsed_state = State(value)
    except ValueError:
        raise PayloadError(f"isComposing state is neither active nor idle: {value!r}") from None
    lastactive = root.find(_LASTACTIVE)
    contenttype = root.find(_CONTENTTYPE)
    refresh = root.find(_REFRESH)
    known = (_STATE, _LASTACTIVE, _CONTENTTYPE, _REFRESH)
    return IsComposing(
        parsed_state,
        parse_datetime(lastactive.text or "", "isComposing lastactive")
        if lastactive is not None
        else None,
        (contenttype.text or "").strip() if contenttype is not None else None,
        parse_int(refresh.text or "", "isComposing refresh", minimum=1)
        if refresh is not None
        else None,
        tuple(child for child in root.children if child.tag not in known),
    )


def serialize(indication: IsComposing, *, pretty: bool = True) -> bytes:
    """Encode ``indication`` as ``application/im-iscomposing+xml``."""
    children = [XmlElement.make(_STATE, text=indication.state.value)]
    if indication.lastactive is not None:
        text = format_datetime(indication.lastactive)
        children.append(XmlElement.make(_LASTACTIVE, text=text))
    if indication.contenttype is not None:
        children.append(XmlElement.make(_CONTENTTYPE, text=indication.contenttype or None))
    if indication.refresh is not None:
        children.append(XmlElement.make(_REFRESH, text=str(indication.refresh)))
    children += indication.extensions
    return serialize_xml(XmlElement.make(_IS_COMPOSING, children=children), pretty=pretty)
