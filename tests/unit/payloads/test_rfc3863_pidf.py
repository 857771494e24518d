"""RFC 3863 PIDF: the RFC example, the seed's cpim-pidf bodies, both flavours,
composition and the convenience builder."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from payload_vectors import round_trip, vector

from parley.payloads import PayloadError, pidf, rpid
from parley.payloads.pidf import (
    Basic,
    Contact,
    Note,
    Person,
    Presence,
    Publication,
    Status,
    Tuple,
)
from parley.payloads.xml import XmlElement, parse_xml

IM = "urn:ietf:params:xml:ns:pidf:im"
MYEX = "http://id.example.com/presence/"

RFC3863_EXAMPLE = Presence(
    entity="pres:someone@example.com",
    tuples=(
        Tuple(
            "bs35r9",
            Status(
                Basic.OPEN,
                (
                    XmlElement(f"{{{IM}}}im", text="busy"),
                    XmlElement(f"{{{MYEX}}}location", text="home"),
                ),
            ),
            Contact("im:someone@mobilecarrier.net", 0.8),
            (
                Note("Don't Disturb Please!", "en"),
                Note("Ne derangez pas, s'il vous plait", "fr"),
            ),
            datetime(2001, 10, 27, 16, 49, 29, tzinfo=UTC),
        ),
        Tuple("eg92n8", Status(Basic.OPEN), Contact("mailto:someone@example.com", 1.0)),
    ),
    notes=(Note("I'll be in Tokyo next week"),),
)


def _serialize(presence: Presence) -> bytes:
    return pidf.serialize(presence)


def test_rfc3863_example_parses_to_the_expected_value() -> None:
    assert pidf.parse(vector("rfc3863_example.xml")) == RFC3863_EXAMPLE


def test_rfc3863_example_round_trips_with_its_status_extensions() -> None:
    data = round_trip(pidf.parse(vector("rfc3863_example.xml")), _serialize, pidf.parse)
    text = data.decode()
    assert 'xmlns="urn:ietf:params:xml:ns:pidf"' in text
    assert f'xmlns:im="{IM}"' in text
    assert f'xmlns:ns0="{MYEX}"' in text
    assert "<im:im>busy</im:im>" in text
    assert "<ns0:location>home</ns0:location>" in text
    assert '<contact priority="0.8">im:someone@mobilecarrier.net</contact>' in text
    assert '<contact priority="1.0">mailto:someone@example.com</contact>' in text
    assert "<timestamp>2001-10-27T16:49:29Z</timestamp>" in text


def test_presence_helpers() -> None:
    assert RFC3863_EXAMPLE.is_open
    assert RFC3863_EXAMPLE.person is None
    assert RFC3863_EXAMPLE.tuples[0].basic is Basic.OPEN
    assert Basic("open") is Basic.OPEN and str(Basic.CLOSED) == "closed"


# ------------------------------------------------------------------------ seed

SEED_ENTITY = "sip:poisson@probability.org"


def test_seed_closed_notify_body() -> None:
    presence = pidf.parse(vector("seed_notify_closed.xml"))
    assert presence == Presence(SEED_ENTITY, (Tuple("452426775", Status(Basic.CLOSED)),))
    assert not presence.is_open


def test_seed_open_notify_body_contact_is_stripped() -> None:
    # The contact's text runs "...;transport=tcp\n" + NBSP indentation + "</contact>":
    # xs:anyURI collapses white space, so the URI is the text without it.
    presence = pidf.parse(vector("seed_notify_open.xml"))
    contact = Contact("sip:s.possion@dist.probability.org;transport=tcp")
    assert presence == Presence(SEED_ENTITY, (Tuple("452426775", Status(Basic.OPEN), contact),))
    assert presence.is_open


@pytest.mark.parametrize("name", ["seed_notify_closed.xml", "seed_notify_open.xml"])
def test_seed_bodies_round_trip_in_both_flavours(name: str) -> None:
    presence = pidf.parse(vector(name))

    def legacy(value: Presence) -> bytes:
        return pidf.serialize(value, content_type=pidf.CPIM_PIDF_CONTENT_TYPE)

    cpim_data = round_trip(presence, legacy, pidf.parse)
    assert b'xmlns="urn:ietf:params:xml:ns:cpim-pidf"' in cpim_data
    pidf_data = round_trip(presence, _serialize, pidf.parse)
    assert b'xmlns="urn:ietf:params:xml:ns:pidf"' in pidf_data
    assert parse_xml(cpim_data).namespace == pidf.CPIM_PIDF_NAMESPACE


def test_seed_open_serializes_like_the_seed_says_it() -> None:
    data = pidf.serialize(
        pidf.parse(vector("seed_notify_open.xml")),
        content_type="application/cpim-pidf+xml; charset=UTF-8",
    )
    assert data == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<presence xmlns="urn:ietf:params:xml:ns:cpim-pidf"'
        b' entity="sip:poisson@probability.org">\n'
        b'  <tuple id="452426775">\n'
        b"    <status>\n"
        b"      <basic>open</basic>\n"
        b"    </status>\n"
        b"    <contact>sip:s.possion@dist.probability.org;transport=tcp</contact>\n"
        b"  </tuple>\n"
        b"</presence>\n"
    )


def test_no_break_space_indentation_is_read_as_space_but_text_keeps_it() -> None:
    nbsp = "\u00a0"
    doc = (
        '<presence xmlns="urn:ietf:params:xml:ns:pidf"\n'
        f'{nbsp}{nbsp} entity="sip:a@example.com">\n'
        f'{nbsp}<tuple id="t"><status><basic>open</basic></status>'
        f"<note>a{nbsp}b</note></tuple>\n"
        "</presence>"
    ).encode()
    presence = pidf.parse(doc)
    assert presence.entity == "sip:a@example.com"
    assert presence.tuples[0].notes == (Note(f"a{nbsp}b"),)


def test_no_break_space_in_another_encoding_is_not_touched() -> None:
    doc = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<a>\n\u00a0x</a>'.encode("latin-1")
    assert parse_xml(doc).text == "\n\u00a0x"


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b'<presence xmlns="urn:x" entity="a"/>', "not a PIDF document"),
        (b'<presence xmlns="urn:ietf:params:xml:ns:pidf"/>', "entity"),
        (
            b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a"><tuple id="t"/></presence>',
            "status",
        ),
        (
            b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a"><tuple>'
            b"<status/></tuple></presence>",
            "id",
        ),
        (
            b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a"><tuple id="t">'
            b"<status><basic>ajar</basic></status></tuple></presence>",
            "basic",
        ),
        (
            b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a"><tuple id="t">'
            b'<status/><contact priority="1.5">sip:x</contact></tuple></presence>',
            "priority",
        ),
        (
            b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a"><tuple id="t">'
            b"<status/><timestamp>yesterday</timestamp></tuple></presence>",
            "timestamp",
        ),
        (
            b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a"><tuple id="t">'
            b"<status/><timestamp>2001-13-27T16:49:29Z</timestamp></tuple></presence>",
            "out of range",
        ),
    ],
)
def test_invalid_documents(doc: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        pidf.parse(doc)


def test_serialize_refuses_unknown_content_types_and_bad_values() -> None:
    with pytest.raises(ValueError, match="content type"):
        pidf.serialize(RFC3863_EXAMPLE, content_type="text/plain")
    with pytest.raises(ValueError, match="cannot be written"):
        pidf.serialize(Presence("sip:a@b", notes=(Note("bell\x07"),)))
    with pytest.raises(ValueError, match="priority"):
        pidf.serialize(Presence("sip:a@b", (Tuple("t", contact=Contact("sip:x", 2.0)),)))


@pytest.mark.parametrize(("priority", "text"), [(0.0, "0.0"), (0.125, "0.125"), (1.0, "1.0")])
def test_priority_spelling(priority: float, text: str) -> None:
    data = pidf.serialize(Presence("sip:a@b", (Tuple("t", contact=Contact("sip:x", priority)),)))
    assert f'priority="{text}"'.encode() in data


def test_notes_keep_their_white_space_and_markup_characters() -> None:
    note = Note('  two  spaces\nnew line\r\ttab & <tag> "quoted"  ', "en")
    presence = Presence("sip:a@b", (Tuple("t", notes=(note,)),), notes=(note,))
    round_trip(presence, _serialize, pidf.parse)


# ------------------------------------------------------------------ builders


def test_basic_builds_a_one_tuple_document() -> None:
    when = datetime(2012, 2, 14, 5, 29, tzinfo=UTC)
    presence = pidf.basic(
        True,
        SEED_ENTITY,
        contact="sip:s.possion@dist.probability.org;transport=tcp",
        note="Back soon",
        activities=["away", "meal"],
        priority=0.9,
        timestamp=when,
    )
    (t,) = presence.tuples
    assert t.status.basic is Basic.OPEN
    assert t.contact == Contact("sip:s.possion@dist.probability.org;transport=tcp", 0.9)
    assert t.notes == (Note("Back soon"),)
    assert t.timestamp == when
    person = presence.person
    assert person is not None and person.activities is not None
    assert person.activities.values == ("away", "meal")
    assert "away" in person.activities
    round_trip(presence, _serialize, pidf.parse)
    # Ids are stable, so republishing replaces the same tuple.
    assert pidf.basic(False, SEED_ENTITY, contact=t.contact.uri).tuples[0].id == t.id
    assert pidf.basic(False, SEED_ENTITY).persons == ()
    assert pidf.basic(False, SEED_ENTITY, tuple_id="x1").tuples[0].id == "x1"


def test_basic_closed_without_contact() -> None:
    presence = pidf.basic(False, SEED_ENTITY)
    assert presence.tuples[0].status == Status(Basic.CLOSED)
    assert presence.tuples[0].contact is None
    assert not presence.is_open


def _doc(entity: str, *tuples: Tuple, persons: tuple[Person, ...] = (), note: str = "") -> Presence:
    return Presence(entity, tuples, persons, notes=(Note(note),) if note else ())


def test_compose_merges_tuples_and_takes_the_latest_person() -> None:
    phone = Tuple("phone", Status(Basic.OPEN), Contact("sip:p@10.0.0.1"))
    desk = Tuple("desk", Status(Basic.CLOSED))
    desk_now = Tuple("desk", Status(Basic.OPEN), Contact("sip:p@10.0.0.2"))
    away = Person("p", extensions=(rpid.Activities(("away",)),))
    busy = Person("p", extensions=(rpid.Activities(("busy",)),))
    composed = pidf.compose(
        [
            Publication(_doc("x", desk, persons=(away,), note="old"), published=10.0),
            Publication(_doc("x", phone), published=30.0),
            Publication(_doc("x", desk_now, persons=(busy,), note="new"), published=20.0),
        ],
        SEED_ENTITY,
    )
    assert composed.entity == SEED_ENTITY
    assert composed.tuples == (phone, desk_now)  # newest first, one per id
    assert composed.persons == (busy,)  # from the newest document having a person
    assert composed.notes == (Note("new"),)
    person = composed.person
    assert person is not None and person.activities == rpid.Activities(("busy",))


def test_compose_of_nothing_is_an_empty_document() -> None:
    assert pidf.compose([], SEED_ENTITY) == Presence(SEED_ENTITY)


def test_compose_keeps_given_order_for_equal_times() -> None:
    a = Tuple("a", Status(Basic.OPEN))
    b = Tuple("b", Status(Basic.OPEN))
    composed = pidf.compose(
        [Publication(_doc("x", a), 5.0), Publication(_doc("x", b), 5.0)], SEED_ENTITY
    )
    assert [t.id for t in composed.tuples] == ["a", "b"]
