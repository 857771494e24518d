"""RFC 4826 resource lists: entries, references, externals, nested lists."""

from __future__ import annotations

import pytest
from payload_vectors import round_trip, vector

from parley.payloads import PayloadError, resourcelists
from parley.payloads.resourcelists import (
    DisplayName,
    Entry,
    EntryRef,
    External,
    List,
    ResourceLists,
)
from parley.payloads.xml import XmlElement

REF = (
    "resource-lists/users/sip:bill@example.com/index/~~/resource-lists/"
    "list%5b@name=%22list1%22%5d/entry%5b@uri=%22sip:petri@example.com%22%5d"
)
ANCHOR = (
    "http://xcap.example.org/resource-lists/users/sip:a@example.org/index/~~/"
    "resource-lists/list%5b@name=%22mkting%22%5d"
)

EXAMPLE = ResourceLists(
    (
        List(
            "friends",
            items=(
                Entry("sip:bill@example.com", DisplayName("Bill Doe")),
                EntryRef(REF),
                List(
                    "close-friends",
                    DisplayName("Close Friends"),
                    (
                        Entry("sip:joe@example.com", DisplayName("Joe Smith")),
                        Entry("sip:nancy@example.com", DisplayName("Nancy Gross")),
                        External(ANCHOR, DisplayName("Marketing")),
                    ),
                ),
            ),
        ),
    )
)


def test_rfc4826_example() -> None:
    assert resourcelists.parse(vector("rfc4826_example.xml")) == EXAMPLE
    round_trip(EXAMPLE, resourcelists.serialize, resourcelists.parse)


def test_walking_the_lists() -> None:
    friends = EXAMPLE.get("friends")
    assert friends is not None
    assert [e.uri for e in friends.entries()] == [
        "sip:bill@example.com",
        "sip:joe@example.com",
        "sip:nancy@example.com",
    ]
    close = friends.find("close-friends")
    assert close is not None and close.display_name == DisplayName("Close Friends")
    assert friends.find("enemies") is None
    assert EXAMPLE.get("enemies") is None


def test_extensions_and_languages_round_trip() -> None:
    lists = ResourceLists(
        (
            List(
                "buddies",
                DisplayName("Amis", "fr"),
                (
                    Entry(
                        "sip:poisson@probability.org",
                        DisplayName("M. Poisson", "fr"),
                        (XmlElement("{urn:parley:test}group", text="math"),),
                    ),
                    List(),  # an unnamed, empty nested list
                ),
                (XmlElement("{urn:parley:test}sort", (("by", "name"),)),),
            ),
            List("empty"),
        )
    )
    round_trip(lists, resourcelists.serialize, resourcelists.parse)
    assert resourcelists.CONTENT_TYPE == "application/resource-lists+xml"


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b'<resource-lists xmlns="urn:x"/>', "not a resource-lists"),
        (
            b'<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">'
            b"<list><entry/></list></resource-lists>",
            "uri",
        ),
        (
            b'<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">'
            b"<list><entry-ref/></list></resource-lists>",
            "ref",
        ),
    ],
)
def test_invalid_documents(doc: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        resourcelists.parse(doc)
