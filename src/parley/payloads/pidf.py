"""RFC 3863 PIDF with the RFC 4479 data model (persons, devices), plus the legacy
``application/cpim-pidf+xml`` flavour the seed's NOTIFYs carry.

``parse`` reads either flavour (the two differ only in the namespace of the PIDF
elements); ``serialize`` writes the flavour named by ``content_type``. The flavour is a
matter of spelling and is not part of :class:`Presence`, so the same value can be sent
to a subscriber that accepts only one of them.

Extension elements (RPID, CIPID, anything else) are decoded through
:mod:`parley.payloads.extensions`; those nobody registered are kept as
:class:`~parley.payloads.xml.XmlElement` and written back unchanged.

Normalisation on parse: values typed ``xs:anyURI``, ``xs:dateTime``, ``xs:ID`` or
enumerations (``entity``, ``id``, ``<contact>``, ``<basic>``, ``<timestamp>``,
``<dm:deviceID>``) have their surrounding white space removed, as XML Schema's
``collapse`` facet says; so the seed's ``<contact>sip:...;transport=tcp\\n      </contact>``
reads as ``sip:...;transport=tcp``. Notes are ``xs:string`` and kept verbatim.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from . import cipid, rpid
from .errors import PayloadError
from .extensions import (
    Extension,
    Note,
    PidfExtension,
    decode_extension,
    encode_extension,
    find_extension,
    find_extensions,
    notes_from,
)
from .xml import (
    MAX_DOCUMENT_BYTES,
    XmlElement,
    format_datetime,
    parse_datetime,
    parse_xml,
    qname,
    register_namespace,
    serialize_xml,
)

__all__ = [
    "CONTENT_TYPE",
    "CPIM_PIDF_CONTENT_TYPE",
    "CPIM_PIDF_NAMESPACE",
    "DATA_MODEL_NAMESPACE",
    "NAMESPACE",
    "Basic",
    "Contact",
    "Device",
    "Note",
    "Person",
    "Presence",
    "Publication",
    "Status",
    "Tuple",
    "basic",
    "compose",
    "parse",
    "serialize",
    "to_xml",
]

CONTENT_TYPE = "application/pidf+xml"
#: The pre-RFC 3863 CPIM flavour (draft-ietf-impp-cpim-pidf), as in the seed.
CPIM_PIDF_CONTENT_TYPE = "application/cpim-pidf+xml"
NAMESPACE = "urn:ietf:params:xml:ns:pidf"
CPIM_PIDF_NAMESPACE = "urn:ietf:params:xml:ns:cpim-pidf"
DATA_MODEL_NAMESPACE = "urn:ietf:params:xml:ns:pidf:data-model"
register_namespace(NAMESPACE, "pidf")
register_namespace(DATA_MODEL_NAMESPACE, "dm")
# Neighbours often found in PIDF documents, for readable output.
register_namespace("urn:ietf:params:xml:ns:pidf:caps", "caps")  # RFC 5196
register_namespace("urn:ietf:params:xml:ns:pidf:im", "im")  # RFC 3863 §4.3 example

_NAMESPACE_FOR_TYPE = {CONTENT_TYPE: NAMESPACE, CPIM_PIDF_CONTENT_TYPE: CPIM_PIDF_NAMESPACE}

_DM_PERSON = qname(DATA_MODEL_NAMESPACE, "person")
_DM_DEVICE = qname(DATA_MODEL_NAMESPACE, "device")
_DM_DEVICE_ID = qname(DATA_MODEL_NAMESPACE, "deviceID")
_DM_NOTE = qname(DATA_MODEL_NAMESPACE, "note")
_DM_TIMESTAMP = qname(DATA_MODEL_NAMESPACE, "timestamp")

X = TypeVar("X", bound=Extension)


class Basic(StrEnum):
    """RFC 3863 §4.1.4 ``<basic>``: whether the service is available for communication."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Contact:
    """§4.1.5 ``<contact>``: where to reach the service, with an optional RFC 3261
    q-value ``priority`` between 0 and 1."""

    uri: str
    priority: float | None = None


@dataclass(frozen=True)
class Status:
    """§4.1.3 ``<status>``: ``basic`` plus extension status elements (e.g. ``<im:im>``)."""

    basic: Basic | None = None
    extensions: tuple[PidfExtension, ...] = ()


class _Extended:
    """Typed views of the extensions of a tuple, person or device."""

    extensions: tuple[PidfExtension, ...]

    def extension(self, cls: type[X]) -> X | None:
        """The first extension element of type ``cls``, or ``None``."""
        return find_extension(self.extensions, cls)

    def extensions_of(self, cls: type[X]) -> tuple[X, ...]:
        return find_extensions(self.extensions, cls)

    @property
    def activities(self) -> rpid.Activities | None:
        return find_extension(self.extensions, rpid.Activities)

    @property
    def mood(self) -> rpid.Mood | None:
        return find_extension(self.extensions, rpid.Mood)

    @property
    def place_type(self) -> rpid.PlaceType | None:
        return find_extension(self.extensions, rpid.PlaceType)

    @property
    def privacy(self) -> rpid.Privacy | None:
        return find_extension(self.extensions, rpid.Privacy)

    @property
    def sphere(self) -> rpid.Sphere | None:
        return find_extension(self.extensions, rpid.Sphere)

    @property
    def status_icon(self) -> rpid.StatusIcon | None:
        return find_extension(self.extensions, rpid.StatusIcon)

    @property
    def time_offset(self) -> rpid.TimeOffset | None:
        return find_extension(self.extensions, rpid.TimeOffset)

    @property
    def user_input(self) -> rpid.UserInput | None:
        return find_extension(self.extensions, rpid.UserInput)

    @property
    def rpid_class(self) -> rpid.Class | None:
        return find_extension(self.extensions, rpid.Class)

    @property
    def display_name(self) -> cipid.DisplayName | None:
        return find_extension(self.extensions, cipid.DisplayName)

    @property
    def icon(self) -> cipid.Icon | None:
        return find_extension(self.extensions, cipid.Icon)

    @property
    def homepage(self) -> cipid.Homepage | None:
        return find_extension(self.extensions, cipid.Homepage)

    @property
    def card(self) -> cipid.Card | None:
        return find_extension(self.extensions, cipid.Card)


@dataclass(frozen=True)
class Tuple(_Extended):
    """§4.1.2 ``<tuple>``: one service of the presentity (RFC 4479 §3.1.1).

    ``device_id`` is the RFC 4479 ``<dm:deviceID>`` of the device running the service;
    ``extensions`` are the other foreign children (RPID ``class``, ``user-input``...).
    """

    id: str
    status: Status = Status()
    contact: Contact | None = None
    notes: tuple[Note, ...] = ()
    timestamp: datetime | None = None
    device_id: str | None = None
    extensions: tuple[PidfExtension, ...] = ()

    @property
    def basic(self) -> Basic | None:
        return self.status.basic


@dataclass(frozen=True)
class Person(_Extended):
    """RFC 4479 ``<dm:person>``: the human presentity; RPID and CIPID elements live in
    ``extensions`` and read through properties (``person.activities``...)."""

    id: str
    notes: tuple[Note, ...] = ()
    timestamp: datetime | None = None
    extensions: tuple[PidfExtension, ...] = ()


@dataclass(frozen=True)
class Device(_Extended):
    """RFC 4479 ``<dm:device>``: a device the presentity uses, named by ``device_id``."""

    id: str
    device_id: str
    notes: tuple[Note, ...] = ()
    timestamp: datetime | None = None
    extensions: tuple[PidfExtension, ...] = ()


@dataclass(frozen=True)
class Presence:
    """§4.1.1 ``<presence>``: everything one document says about ``entity``."""

    entity: str
    tuples: tuple[Tuple, ...] = ()
    persons: tuple[Person, ...] = ()
    devices: tuple[Device, ...] = ()
    notes: tuple[Note, ...] = ()
    extensions: tuple[PidfExtension, ...] = ()

    @property
    def is_open(self) -> bool:
        """Whether any tuple's basic status is ``open``."""
        return any(t.status.basic is Basic.OPEN for t in self.tuples)

    @property
    def person(self) -> Person | None:
        """The first person element, the usual single one."""
        return self.persons[0] if self.persons else None


# --------------------------------------------------------------------------- parsing


def _collapsed(element: XmlElement) -> str:
    return (element.text or "").strip()


def _required(element: XmlElement, name: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise PayloadError(f"PIDF <{element.local_name}> lacks its {name} attribute")
    return value


_DECIMAL = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def _priority(value: str) -> float:
    text = value.strip()
    if not _DECIMAL.fullmatch(text) or not 0 <= float(text) <= 1:
        raise PayloadError(f"PIDF contact priority is not a q-value in [0, 1]: {value!r}")
    return float(text)


def _status(element: XmlElement, ns: str) -> Status:
    basic: Basic | None = None
    extensions: list[PidfExtension] = []
    for child in element.children:
        if child.tag == qname(ns, "basic"):
            try:
                basic = Basic(_collapsed(child))
            except ValueError:
                raise PayloadError(
                    f"PIDF basic is neither open nor closed: {child.text!r}"
                ) from None
        else:
            extensions.append(decode_extension(child))
    return Status(basic, tuple(extensions))


def _tuple(element: XmlElement, ns: str) -> Tuple:
    status: Status | None = None
    contact: Contact | None = None
    notes: list[Note] = []
    timestamp: datetime | None = None
    device_id: str | None = None
    extensions: list[PidfExtension] = []
    for child in element.children:
        if child.tag == qname(ns, "status"):
            status = _status(child, ns)
        elif child.tag == qname(ns, "contact"):
            if contact is None:  # the schema allows one; a second one is ignored
                priority = child.get("priority")
                contact = Contact(
                    _collapsed(child), _priority(priority) if priority is not None else None
                )
        elif child.tag == qname(ns, "note"):
            notes.append(Note.from_xml(child))
        elif child.tag == qname(ns, "timestamp"):
            timestamp = parse_datetime(child.text or "", "PIDF timestamp")
        elif child.tag == _DM_DEVICE_ID:
            device_id = _collapsed(child)
        else:
            extensions.append(decode_extension(child))
    if status is None:
        raise PayloadError("PIDF <tuple> lacks its <status>")
    return Tuple(
        _required(element, "id"),
        status,
        contact,
        tuple(notes),
        timestamp,
        device_id,
        tuple(extensions),
    )


def _common(element: XmlElement) -> tuple[datetime | None, tuple[PidfExtension, ...]]:
    timestamp: datetime | None = None
    extensions: list[PidfExtension] = []
    for child in element.children:
        if child.tag == _DM_TIMESTAMP:
            timestamp = parse_datetime(child.text or "", "data-model timestamp")
        elif child.tag not in (_DM_NOTE, _DM_DEVICE_ID):
            extensions.append(decode_extension(child))
    return timestamp, tuple(extensions)


def _person(element: XmlElement) -> Person:
    timestamp, extensions = _common(element)
    return Person(_required(element, "id"), notes_from(element, _DM_NOTE), timestamp, extensions)


def _device(element: XmlElement) -> Device:
    timestamp, extensions = _common(element)
    device_id = element.find(_DM_DEVICE_ID)
    if device_id is None or not _collapsed(device_id):
        raise PayloadError("data-model <device> lacks its <deviceID>")
    return Device(
        _required(element, "id"),
        _collapsed(device_id),
        notes_from(element, _DM_NOTE),
        timestamp,
        extensions,
    )


def parse(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Presence:
    """Decode an ``application/pidf+xml`` or ``application/cpim-pidf+xml`` body.

    Raises :class:`PayloadError` for anything that is not a PIDF document.
    """
    root = parse_xml(data, max_bytes=max_bytes)
    ns = root.namespace
    if root.local_name != "presence" or ns not in (NAMESPACE, CPIM_PIDF_NAMESPACE):
        raise PayloadError(f"not a PIDF document: the root element is {root.tag}")
    tuples: list[Tuple] = []
    persons: list[Person] = []
    devices: list[Device] = []
    notes: list[Note] = []
    extensions: list[PidfExtension] = []
    for child in root.children:
        if child.tag == qname(ns, "tuple"):
            tuples.append(_tuple(child, ns))
        elif child.tag == qname(ns, "note"):
            notes.append(Note.from_xml(child))
        elif child.tag == _DM_PERSON:
            persons.append(_person(child))
        elif child.tag == _DM_DEVICE:
            devices.append(_device(child))
        else:
            extensions.append(decode_extension(child))
    return Presence(
        _required(root, "entity"),
        tuple(tuples),
        tuple(persons),
        tuple(devices),
        tuple(notes),
        tuple(extensions),
    )


# ----------------------------------------------------------------------- serializing


def _format_priority(priority: float) -> str:
    if not 0 <= priority <= 1:
        raise ValueError(f"contact priority must be within [0, 1], not {priority}")
    text = f"{priority:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _timestamp(tag: str, value: datetime | None) -> list[XmlElement]:
    return [XmlElement.make(tag, text=format_datetime(value))] if value else []


def _tuple_xml(t: Tuple, ns: str) -> XmlElement:
    status = (
        [XmlElement.make(qname(ns, "basic"), text=t.status.basic.value)] if t.status.basic else []
    )
    status += [encode_extension(e) for e in t.status.extensions]
    children = [XmlElement.make(qname(ns, "status"), children=status)]
    if t.device_id is not None:
        children.append(XmlElement.make(_DM_DEVICE_ID, text=t.device_id))
    children += [encode_extension(e) for e in t.extensions]
    if t.contact is not None:
        priority = t.contact.priority
        attrib = {"priority": _format_priority(priority) if priority is not None else None}
        children.append(XmlElement.make(qname(ns, "contact"), attrib, text=t.contact.uri))
    children += [note.to_xml(qname(ns, "note")) for note in t.notes]
    children += _timestamp(qname(ns, "timestamp"), t.timestamp)
    return XmlElement.make(qname(ns, "tuple"), {"id": t.id}, children)


def _person_xml(p: Person) -> XmlElement:
    children = [encode_extension(e) for e in p.extensions]
    children += [note.to_xml(_DM_NOTE) for note in p.notes]
    children += _timestamp(_DM_TIMESTAMP, p.timestamp)
    return XmlElement.make(_DM_PERSON, {"id": p.id}, children)


def _device_xml(d: Device) -> XmlElement:
    children = [encode_extension(e) for e in d.extensions]
    children.append(XmlElement.make(_DM_DEVICE_ID, text=d.device_id))
    children += [note.to_xml(_DM_NOTE) for note in d.notes]
    children += _timestamp(_DM_TIMESTAMP, d.timestamp)
    return XmlElement.make(_DM_DEVICE, {"id": d.id}, children)


def to_xml(presence: Presence, *, content_type: str = CONTENT_TYPE) -> XmlElement:
    """``presence`` as an element tree in the flavour of ``content_type``."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    ns = _NAMESPACE_FOR_TYPE.get(media_type)
    if ns is None:
        raise ValueError(f"not a PIDF content type: {content_type!r}")
    children = [_tuple_xml(t, ns) for t in presence.tuples]
    children += [note.to_xml(qname(ns, "note")) for note in presence.notes]
    children += [_person_xml(p) for p in presence.persons]
    children += [_device_xml(d) for d in presence.devices]
    children += [encode_extension(e) for e in presence.extensions]
    return XmlElement.make(qname(ns, "presence"), {"entity": presence.entity}, children)


def serialize(
    presence: Presence, *, content_type: str = CONTENT_TYPE, pretty: bool = True
) -> bytes:
    """Encode ``presence`` as ``application/pidf+xml`` (the default) or, with
    ``content_type=CPIM_PIDF_CONTENT_TYPE``, the legacy ``application/cpim-pidf+xml``."""
    return serialize_xml(to_xml(presence, content_type=content_type), pretty=pretty)


# ---------------------------------------------------------------------- composition


@dataclass(frozen=True)
class Publication:
    """One document a presence source PUBLISHed, with the time the presence agent
    accepted it. ``published`` is seconds on any clock the caller likes: it is only
    compared with the other publications' times."""

    presence: Presence
    published: float


def compose(publications: Iterable[Publication], entity: str) -> Presence:
    """Merge the documents of a presentity's sources into the one a watcher gets
    (RFC 3903 §4 leaves the policy local; this is Parley's):

    - tuples and devices: all of them, each id once; where two documents share an id,
      the most recent one wins (the same service republished). Newest documents first.
    - persons, presence notes and presence-level extensions: those of the most recent
      document that has any (the person is a single human; the latest word on them is
      the truth).

    Equal times keep the order given. No publication at all gives a document with no
    tuple, which RFC 3863 §4.1.1 allows and watchers read as "no information".
    """
    ordered = sorted(publications, key=lambda p: p.published, reverse=True)
    tuples: dict[str, Tuple] = {}
    devices: dict[str, Device] = {}
    for publication in ordered:
        for t in publication.presence.tuples:
            tuples.setdefault(t.id, t)
        for d in publication.presence.devices:
            devices.setdefault(d.id, d)
    documents = [p.presence for p in ordered]
    persons = next((d.persons for d in documents if d.persons), ())
    notes = next((d.notes for d in documents if d.notes), ())
    extensions = next((d.extensions for d in documents if d.extensions), ())
    return Presence(
        entity, tuple(tuples.values()), persons, tuple(devices.values()), notes, extensions
    )


def _stable_id(prefix: str, *parts: str | None) -> str:
    digest = hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()
    return prefix + digest[:10]


def basic(
    open: bool,
    entity: str,
    contact: str | None = None,
    note: str | None = None,
    activities: Iterable[str] = (),
    *,
    priority: float | None = None,
    timestamp: datetime | None = None,
    tuple_id: str | None = None,
    person_id: str | None = None,
) -> Presence:
    """A one-tuple document: ``open`` or closed, with an optional contact URI, a note on
    the tuple and RPID activities (``"away"``, ``"busy"``...) on a person.

    Ids default to values derived from ``entity`` and ``contact``, so the same device
    republishing replaces its own tuple under :func:`compose`.
    """
    tuple_ = Tuple(
        tuple_id or _stable_id("t", entity, contact),
        Status(Basic.OPEN if open else Basic.CLOSED),
        Contact(contact, priority) if contact else None,
        (Note(note),) if note is not None else (),
        timestamp,
    )
    values = tuple(activities)
    persons: tuple[Person, ...] = ()
    if values:
        person = Person(
            person_id or _stable_id("p", entity),
            timestamp=timestamp,
            extensions=(rpid.Activities(values),),
        )
        persons = (person,)
    return Presence(entity, (tuple_,), persons)
