"""RFC 4480 RPID elements, typed on PIDF persons, tuples and devices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from payload_vectors import round_trip, vector

from parley.payloads import pidf, rpid
from parley.payloads.extensions import Extension
from parley.payloads.pidf import Note, Person, Presence
from parley.payloads.xml import XmlElement, serialize_xml

PLUS5 = timezone(timedelta(hours=5))


def _example() -> Presence:
    return pidf.parse(vector("rfc4480_example.xml"))


def test_person_elements_are_typed() -> None:
    person = _example().person
    assert person is not None
    assert person.activities == rpid.Activities(
        ("away",),
        notes=(Note("Far away"),),
        from_=datetime(2005, 5, 30, 12, tzinfo=PLUS5),
        until=datetime(2005, 5, 30, 17, tzinfo=PLUS5),
    )
    assert person.rpid_class == rpid.Class("calendar")
    assert person.mood == rpid.Mood(("angry",), other=(Note("brooding"),))
    assert person.place_type == rpid.PlaceType(("residence",))
    assert person.privacy == rpid.Privacy(("unknown",))
    assert person.sphere == rpid.Sphere(text="bowling league")
    assert person.status_icon == rpid.StatusIcon("http://example.com/play.gif")
    assert person.time_offset == rpid.TimeOffset(-240)
    assert person.notes == (Note("Scoring 120"),)
    assert person.timestamp == datetime(2005, 5, 30, 16, 9, 44, tzinfo=PLUS5)
    place_is = person.extensions[3]
    assert isinstance(place_is, XmlElement)  # modelled nowhere, kept
    assert place_is.local_name == "place-is"


def test_tuple_and_device_elements_are_typed() -> None:
    presence = _example()
    email = presence.tuples[2]
    assert email.rpid_class == rpid.Class("email")
    assert email.status_icon == rpid.StatusIcon("http://example.com/mail.png")
    assert email.device_id == "urn:x-mac:0003ba4811e3"
    (device,) = presence.devices
    minus5 = timezone(-timedelta(hours=5))
    assert device.user_input == rpid.UserInput(
        "idle", 600, datetime(2004, 10, 21, 13, 20, tzinfo=minus5)
    )
    assert device.notes == (Note("PC"),)


def test_example_round_trips() -> None:
    data = round_trip(_example(), pidf.serialize, pidf.parse)
    assert b"<lt:residence/>" in data
    assert b'<rpid:activities from="2005-05-30T12:00:00+05:00"' in data


def test_malformed_rpid_elements_stay_raw() -> None:
    doc = (
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" '
        b'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
        b'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b">'
        b'<dm:person id="p"><rpid:user-input>sleepy</rpid:user-input>'
        b"<rpid:time-offset>soon</rpid:time-offset>"
        b'<rpid:activities from="whenever"><rpid:away/></rpid:activities></dm:person>'
        b"</presence>"
    )
    presence = pidf.parse(doc)
    person = presence.person
    assert person is not None
    assert person.user_input is None and person.time_offset is None
    assert person.activities is None
    assert all(isinstance(e, XmlElement) for e in person.extensions)
    round_trip(presence, pidf.serialize, pidf.parse)


@pytest.mark.parametrize(
    "element",
    [
        rpid.Activities(("busy", "meeting"), other=(Note("grading", "en"),)),
        rpid.Activities(("unknown",), id="a1"),
        rpid.Mood(("happy", "in_love")),
        rpid.PlaceType(("office",), notes=(Note("HQ"),)),
        rpid.Privacy(("audio", "text")),
        rpid.Sphere("work", until=datetime(2030, 1, 1, tzinfo=UTC)),
        rpid.StatusIcon("https://example.com/busy.png", id="i"),
        rpid.TimeOffset(330, description="IST"),
        rpid.UserInput("active", 120, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "u"),
        rpid.Class("work-phone"),
    ],
)
def test_built_elements_round_trip_through_a_person(element: Extension) -> None:
    presence = Presence("sip:a@b", persons=(Person("p", extensions=(element,)),))
    round_trip(presence, pidf.serialize, pidf.parse)
    assert rpid.NAMESPACE in serialize_xml(element.to_xml()).decode()


def test_vocabularies() -> None:
    assert {"away", "busy", "on-the-phone", "meal", "appointment", "vacation"} <= rpid.ACTIVITIES
    assert {"happy", "in_awe", "sleepy"} <= rpid.MOODS
