"""RFC 3994 isComposing indications."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from payload_vectors import round_trip, vector

from parley.payloads import PayloadError, iscomposing
from parley.payloads.iscomposing import IsComposing, State
from parley.payloads.xml import XmlElement


def test_rfc3994_examples() -> None:
    active = iscomposing.parse(vector("rfc3994_active.xml"))
    assert active == IsComposing(State.ACTIVE, contenttype="text/plain", refresh=90)
    idle = iscomposing.parse(vector("rfc3994_idle.xml"))
    assert idle == IsComposing(
        State.IDLE, datetime(2003, 1, 27, 10, 43, tzinfo=UTC), contenttype="audio"
    )
    for value in (active, idle):
        round_trip(value, iscomposing.serialize, iscomposing.parse)
    assert iscomposing.CONTENT_TYPE == "application/im-iscomposing+xml"


def test_extensions_are_kept() -> None:
    value = IsComposing(State.ACTIVE, extensions=(XmlElement("{urn:x}typing-speed", text="fast"),))
    data = round_trip(value, iscomposing.serialize, iscomposing.parse)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<isComposing xmlns=')


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'<isComposing xmlns="urn:x"/>', "not an isComposing"),
        (b'<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"/>', "state"),
        (
            b'<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">'
            b"<state>typing</state></isComposing>",
            "state",
        ),
        (
            b'<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">'
            b"<state>active</state><refresh>0</refresh></isComposing>",
            "refresh",
        ),
        (
            b'<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">'
            b"<state>idle</state><lastactive>recently</lastactive></isComposing>",
            "lastactive",
        ),
    ],
)
def test_invalid_documents(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        iscomposing.parse(body)
