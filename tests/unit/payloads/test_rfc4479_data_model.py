"""RFC 4479 data model in PIDF: persons, devices, deviceID on services, and unknown
extensions kept for round trips (Parley's own vector)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import ClassVar, Self

from payload_vectors import round_trip, vector

from parley.payloads import pidf, rpid
from parley.payloads.extensions import (
    Extension,
    decode_extension,
    register_extension,
    registered_extension,
    unregister_extension,
)
from parley.payloads.pidf import Basic, Note, Presence
from parley.payloads.xml import XmlElement

X = "http://parley.example/ns/x"
CAPS = "urn:ietf:params:xml:ns:pidf:caps"
DEVICE = "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def _parsed() -> Presence:
    return pidf.parse(vector("parley_data_model.xml"))


def test_service_with_device_id_and_capabilities() -> None:
    (service,) = _parsed().tuples
    assert service.id == "sip-desk"
    assert service.device_id == DEVICE
    assert service.status.basic is Basic.OPEN
    assert service.status.extensions == (XmlElement(f"{{{X}}}mode", (("level", "2"),), "focused"),)
    assert service.user_input == rpid.UserInput("active")
    servcaps = service.extensions[0]
    assert isinstance(servcaps, XmlElement) and servcaps.tag == f"{{{CAPS}}}servcaps"
    assert service.contact is not None and service.contact.priority == 0.5
    assert service.timestamp == datetime(2012, 2, 14, 5, 29, tzinfo=UTC)


def test_person_with_typed_and_unknown_extensions() -> None:
    (person,) = _parsed().persons
    assert person.id == "poisson"
    activities = person.activities
    assert activities is not None
    assert activities.values == ("meal", "on-the-phone")
    assert activities.other == (Note("lecture", "fr"),)
    assert activities.extensions == (XmlElement(f"{{{X}}}knitting"),)
    user_input = person.user_input
    assert user_input is not None and user_input.idle
    assert user_input.idle_threshold == 300
    assert user_input.last_input == datetime(2012, 2, 14, 5, 20, tzinfo=UTC)
    typo, ring = person.extensions[2:]
    assert typo == XmlElement(f"{{{rpid.NAMESPACE}}}activities-typo", text="kept raw")
    assert isinstance(ring, XmlElement)
    assert ring.get("colour") == "blue"
    assert [c.local_name for c in ring.children] == ["glow", "b"]
    assert ring.children[0].tail == "mixed "
    assert ring.children[1].tail == " tail"
    assert person.notes == (Note('Do not disturb & "ask" <later>', "en"),)
    offset = timezone(timedelta(hours=8))
    assert person.timestamp == datetime(2012, 2, 14, 5, 29, 0, 250000, tzinfo=offset)


def test_device_and_presence_level_extension() -> None:
    presence = _parsed()
    (device,) = presence.devices
    assert device.id == "desk" and device.device_id == DEVICE
    assert len(device.extensions) == 1
    assert presence.notes == (Note("Chez moi"),)
    assert presence.extensions == (
        XmlElement(f"{{{X}}}presence-level-extension", ((f"{{{X}}}attr", "1"),)),
    )


def test_everything_round_trips() -> None:
    data = round_trip(_parsed(), pidf.serialize, pidf.parse)
    text = data.decode()
    assert 'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"' in text
    assert 'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"' in text
    assert 'xmlns:caps="urn:ietf:params:xml:ns:pidf:caps"' in text
    assert 'xmlns:ns0="http://parley.example/ns/x"' in text  # unregistered: generated
    assert '<ns0:mood-ring colour="blue"><ns0:glow/>mixed <ns0:b>content</ns0:b> tail' in text
    assert "<dm:timestamp>2012-02-14T05:29:00.250000+08:00</dm:timestamp>" in text


def test_a_caller_can_register_its_own_extension() -> None:
    @register_extension
    @dataclass(frozen=True)
    class Mode(Extension):
        TAG: ClassVar[str] = f"{{{X}}}mode"
        level: int
        value: str

        @classmethod
        def from_xml(cls, element: XmlElement) -> Self:
            return cls(int(element.get("level") or 0), element.text or "")

        def to_xml(self) -> XmlElement:
            return XmlElement.make(self.TAG, {"level": str(self.level)}, text=self.value)

    try:
        presence = _parsed()
        assert presence.tuples[0].status.extensions == (Mode(2, "focused"),)
        round_trip(presence, pidf.serialize, pidf.parse)
    finally:
        unregister_extension(Mode.TAG)
    assert registered_extension(Mode.TAG) is None
    assert isinstance(decode_extension(XmlElement(Mode.TAG)), XmlElement)
