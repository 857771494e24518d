"""RFC 4480 RPID: rich presence elements for PIDF persons, tuples and devices.

Importing this module registers each class below as a PIDF extension
(:mod:`parley.payloads.extensions`), so :func:`parley.payloads.pidf.parse` returns, e.g.,
``presence.persons[0].activities`` as an :class:`Activities`. RPID elements not modelled
here (``place-is``, ``relationship``, ``service-class``) stay raw
:class:`~parley.payloads.xml.XmlElement` values and round-trip unchanged.

Where an element carries the RFC 4480 §2 ``from``/``until`` validity attributes they are
``from_`` and ``until`` (``from`` is a Python keyword).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Self

from .errors import PayloadError
from .extensions import Extension, Note, notes_from, register_extension
from .xml import (
    XmlElement,
    format_datetime,
    parse_datetime,
    parse_int,
    qname,
    register_namespace,
)

__all__ = [
    "ACTIVITIES",
    "LOCATION_TYPE_NAMESPACE",
    "MOODS",
    "NAMESPACE",
    "Activities",
    "Class",
    "Mood",
    "PlaceType",
    "Privacy",
    "Sphere",
    "StatusIcon",
    "TimeOffset",
    "UserInput",
]

NAMESPACE = "urn:ietf:params:xml:ns:pidf:rpid"
#: RFC 4589 place types, the values of ``<rpid:place-type>``.
LOCATION_TYPE_NAMESPACE = "urn:ietf:params:xml:ns:location-type"
register_namespace(NAMESPACE, "rpid")
register_namespace(LOCATION_TYPE_NAMESPACE, "lt")

# §3.2: what the person is doing. "unknown" stands alone; free text goes in <other>.
ACTIVITIES = frozenset(
    {
        "appointment",
        "away",
        "breakfast",
        "busy",
        "dinner",
        "holiday",
        "in-transit",
        "looking-for-work",
        "meal",
        "meeting",
        "on-the-phone",
        "performance",
        "permanent-absence",
        "playing",
        "presentation",
        "shopping",
        "sleeping",
        "spectator",
        "steering",
        "travel",
        "tv",
        "unknown",
        "vacation",
        "working",
        "worship",
    }
)

# §3.6: the person's mood.
MOODS = frozenset(
    """afraid amazed angry annoyed anxious ashamed bored brave calm cold confused contented
    cranky curious depressed disappointed disgusted distracted embarrassed excited
    flirtatious frustrated grumpy guilty happy hot humbled humiliated hungry hurt impressed
    in_awe in_love indignant interested invincible jealous lonely mean moody nervous neutral
    offended playful proud relieved remorseful restless sad sarcastic serious shocked shy
    sick sleepy stressed surprised thirsty unknown worried""".split()
)

_NOTE = qname(NAMESPACE, "note")
_OTHER = qname(NAMESPACE, "other")


def _tag(local: str) -> str:
    return qname(NAMESPACE, local)


def _time_attributes(element: XmlElement) -> tuple[str | None, datetime | None, datetime | None]:
    since = element.get("from")
    until = element.get("until")
    return (
        element.get("id"),
        parse_datetime(since, "rpid from") if since is not None else None,
        parse_datetime(until, "rpid until") if until is not None else None,
    )


def _time_attrib(
    id: str | None, since: datetime | None, until: datetime | None
) -> dict[str, str | None]:
    return {
        "id": id,
        "from": format_datetime(since) if since else None,
        "until": format_datetime(until) if until else None,
    }


@dataclass(frozen=True)
class _Enumeration(Extension):
    """An element holding notes, then a set of empty value elements, ``<other>`` texts
    and foreign elements (§3.2 activities, §3.6 mood, §3.8 place-type, §3.9 privacy)."""

    VALUE_NAMESPACE: ClassVar[str] = NAMESPACE

    values: tuple[str, ...] = ()
    other: tuple[Note, ...] = ()
    notes: tuple[Note, ...] = ()
    extensions: tuple[XmlElement, ...] = ()
    id: str | None = None
    from_: datetime | None = None
    until: datetime | None = None

    def __contains__(self, value: object) -> bool:
        return value in self.values

    @classmethod
    def from_xml(cls, element: XmlElement) -> Self:
        values: list[str] = []
        other: list[Note] = []
        extensions: list[XmlElement] = []
        for child in element.children:
            if child.tag == _NOTE:
                continue
            if child.tag == _OTHER:
                other.append(Note.from_xml(child))
            elif child.namespace == cls.VALUE_NAMESPACE:
                values.append(child.local_name)
            else:
                extensions.append(child)
        id, since, until = _time_attributes(element)
        return cls(
            tuple(values),
            tuple(other),
            notes_from(element, _NOTE),
            tuple(extensions),
            id,
            since,
            until,
        )

    def to_xml(self) -> XmlElement:
        children = [note.to_xml(_NOTE) for note in self.notes]
        children += [XmlElement(qname(self.VALUE_NAMESPACE, value)) for value in self.values]
        children += [note.to_xml(_OTHER) for note in self.other]
        children += self.extensions
        return XmlElement.make(self.TAG, _time_attrib(self.id, self.from_, self.until), children)


@register_extension
@dataclass(frozen=True)
class Activities(_Enumeration):
    """§3.2 ``<rpid:activities>``: ``values`` from :data:`ACTIVITIES` (``"away"``,
    ``"on-the-phone"``...), ``other`` for free-text activities. ``"busy" in activities``
    tests for one."""

    TAG: ClassVar[str] = _tag("activities")


@register_extension
@dataclass(frozen=True)
class Mood(_Enumeration):
    """§3.6 ``<rpid:mood>``: ``values`` from :data:`MOODS`, ``other`` for free text."""

    TAG: ClassVar[str] = _tag("mood")


@register_extension
@dataclass(frozen=True)
class PlaceType(_Enumeration):
    """§3.8 ``<rpid:place-type>``: ``values`` are RFC 4589 place types
    (``"residence"``, ``"office"``...) in :data:`LOCATION_TYPE_NAMESPACE`."""

    TAG: ClassVar[str] = _tag("place-type")
    VALUE_NAMESPACE: ClassVar[str] = LOCATION_TYPE_NAMESPACE


@register_extension
@dataclass(frozen=True)
class Privacy(_Enumeration):
    """§3.9 ``<rpid:privacy>``: media others nearby are unlikely to overhear:
    ``"audio"``, ``"text"``, ``"video"`` or ``"unknown"``."""

    TAG: ClassVar[str] = _tag("privacy")


@register_extension
@dataclass(frozen=True)
class Sphere(Extension):
    """§3.11 ``<rpid:sphere>``: ``value`` is ``"home"``, ``"work"`` or ``"unknown"``
    (an empty element); ``text`` is a free-form sphere such as ``"bowling league"``."""

    TAG: ClassVar[str] = _tag("sphere")

    value: str | None = None
    text: str | None = None
    id: str | None = None
    from_: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_xml(cls, element: XmlElement) -> Self:
        value = None
        for child in element.children:
            if child.namespace == NAMESPACE:
                value = child.local_name
                break
        text = element.text.strip() if element.text and element.text.strip() else None
        return cls(value, text, *_time_attributes(element))

    def to_xml(self) -> XmlElement:
        children = [XmlElement(_tag(self.value))] if self.value else []
        attrib = _time_attrib(self.id, self.from_, self.until)
        return XmlElement.make(self.TAG, attrib, children, text=self.text)


@register_extension
@dataclass(frozen=True)
class StatusIcon(Extension):
    """§3.12 ``<rpid:status-icon>``: the URI of an image showing the current status."""

    TAG: ClassVar[str] = _tag("status-icon")

    uri: str
    id: str | None = None
    from_: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_xml(cls, element: XmlElement) -> Self:
        return cls((element.text or "").strip(), *_time_attributes(element))

    def to_xml(self) -> XmlElement:
        attrib = _time_attrib(self.id, self.from_, self.until)
        return XmlElement.make(self.TAG, attrib, text=self.uri or None)


@register_extension
@dataclass(frozen=True)
class TimeOffset(Extension):
    """§3.13 ``<rpid:time-offset>``: minutes from UTC where the person is."""

    TAG: ClassVar[str] = _tag("time-offset")

    minutes: int
    description: str | None = None
    id: str | None = None
    from_: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_xml(cls, element: XmlElement) -> Self:
        minutes = parse_int(element.text or "", "rpid time-offset")
        return cls(minutes, element.get("description"), *_time_attributes(element))

    def to_xml(self) -> XmlElement:
        attrib = _time_attrib(self.id, self.from_, self.until)
        attrib["description"] = self.description
        return XmlElement.make(self.TAG, attrib, text=str(self.minutes))


@register_extension
@dataclass(frozen=True)
class UserInput(Extension):
    """§3.14 ``<rpid:user-input>``: ``"active"`` or ``"idle"``, with the idle threshold
    in seconds and the time of the last input when known."""

    TAG: ClassVar[str] = _tag("user-input")

    value: str
    idle_threshold: int | None = None
    last_input: datetime | None = None
    id: str | None = None

    @property
    def idle(self) -> bool:
        return self.value == "idle"

    @classmethod
    def from_xml(cls, element: XmlElement) -> Self:
        value = (element.text or "").strip()
        if value not in ("active", "idle"):
            raise PayloadError(f"rpid user-input: {value!r} is neither active nor idle")
        threshold = element.get("idle-threshold")
        last_input = element.get("last-input")
        return cls(
            value,
            parse_int(threshold, "rpid idle-threshold", minimum=1) if threshold else None,
            parse_datetime(last_input, "rpid last-input") if last_input else None,
            element.get("id"),
        )

    def to_xml(self) -> XmlElement:
        attrib = {
            "idle-threshold": str(self.idle_threshold) if self.idle_threshold else None,
            "last-input": format_datetime(self.last_input) if self.last_input else None,
            "id": self.id,
        }
        return XmlElement.make(self.TAG, attrib, text=self.value)


@register_extension
@dataclass(frozen=True)
class Class(Extension):
    """§3.3 ``<rpid:class>``: an opaque token the presentity uses to group tuples,
    persons or devices (e.g. for privacy filtering)."""

    TAG: ClassVar[str] = _tag("class")

    value: str

    @classmethod
    def from_xml(cls, element: XmlElement) -> Self:
        return cls((element.text or "").strip())

    def to_xml(self) -> XmlElement:
        return XmlElement.make(self.TAG, text=self.value or None)
