"""RFC 4482 CIPID elements on PIDF persons and tuples."""

from __future__ import annotations

from payload_vectors import round_trip, vector

from parley.payloads import cipid, pidf
from parley.payloads.pidf import Person, Presence, Tuple


def test_example_person_contact_information() -> None:
    presence = pidf.parse(vector("rfc4482_example.xml"))
    person = presence.person
    assert person is not None
    assert person.display_name == cipid.DisplayName("Some One")
    assert person.card == cipid.Card("http://example.com/~someone/card.vcd")
    assert person.homepage == cipid.Homepage("http://example.com/~someone")
    assert person.icon == cipid.Icon("http://example.com/~someone/icon.gif")
    assert person.extension(cipid.Map) == cipid.Map("http://example.com/~someone/gml-map.xml")
    assert person.extension(cipid.Sound) == cipid.Sound("http://example.com/~someone/whoosh.wav")
    data = round_trip(presence, pidf.serialize, pidf.parse)
    assert b'xmlns:c="urn:ietf:params:xml:ns:pidf:cipid"' in data


def test_display_name_keeps_its_text_and_uris_are_trimmed() -> None:
    doc = (
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" '
        b'xmlns:c="urn:ietf:params:xml:ns:pidf:cipid" entity="sip:a@b">'
        b'<tuple id="t"><status/><c:display-name> M. Poisson </c:display-name>'
        b"<c:icon>\n  http://x/i.png\n</c:icon></tuple></presence>"
    )
    (t,) = pidf.parse(doc).tuples
    assert t.display_name == cipid.DisplayName(" M. Poisson ")
    assert t.icon == cipid.Icon("http://x/i.png")


def test_built_on_a_tuple_and_a_person() -> None:
    presence = Presence(
        "sip:a@b",
        (Tuple("t", extensions=(cipid.Homepage("https://a.example"),)),),
        (Person("p", extensions=(cipid.DisplayName("Ada"), cipid.Icon("https://a/i.png"))),),
    )
    round_trip(presence, pidf.serialize, pidf.parse)
    assert presence.tuples[0].extensions_of(cipid.Homepage) == (
        cipid.Homepage("https://a.example"),
    )
