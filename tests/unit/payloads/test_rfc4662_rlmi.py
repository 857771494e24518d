"""RFC 4662 RLMI documents, and a whole RLS NOTIFY body (RLMI + PIDF parts)."""

from __future__ import annotations

import pytest
from payload_vectors import round_trip, vector

from parley.payloads import PayloadError, multipart, pidf, rlmi
from parley.payloads.rlmi import Instance, InstanceState, List, Name, Resource

EXAMPLE = List(
    "sip:adam-friends@pres.example.com",
    1,
    True,
    (Name("Buddy List at COM", "en"), Name("Liste der Freunde an COM", "de")),
    (
        Resource(
            "sip:bob@example.com",
            (Name("Bob Smith"),),
            (Instance("juwigmtboe", InstanceState.ACTIVE, cid="bUZBsM@pres.example.com"),),
        ),
        Resource(
            "sip:dave@example.com",
            (Name("Dave Jones"),),
            (Instance("hqzsuxtfyq", InstanceState.ACTIVE, cid="ZvSvkz@pres.example.com"),),
        ),
        Resource(
            "sip:ed@example.net",
            (Name("Ed at NET"),),
            (Instance("xkjw8rnkgw", InstanceState.TERMINATED, reason="rejected"),),
        ),
        Resource(
            "sip:adam-friends@example.org",
            (Name("My Friends at ORG", "en"), Name("Meine Freunde an ORG", "de")),
        ),
    ),
)

NOTIFY_TYPE = (
    'multipart/related;type="application/rlmi+xml";'
    'start="<nXYxAE@pres.vancouver.example.com>";boundary="50UBfW7LSCVLtggUPe5z"'
)


def test_rfc4662_example() -> None:
    assert rlmi.parse(vector("rfc4662_rlmi_example.xml")) == EXAMPLE
    assert EXAMPLE.resource("sip:dave@example.com") == EXAMPLE.resources[1]
    assert EXAMPLE.resource("sip:nobody@example.com") is None
    round_trip(EXAMPLE, rlmi.serialize, rlmi.parse)


def test_partial_state_and_nested_list_cid_round_trip() -> None:
    nested = List(
        "sip:team@rls.example.com",
        42,
        False,
        resources=(
            Resource("sip:x@example.com", instances=(Instance("i", InstanceState.PENDING),)),
        ),
        cid="team@rls.example.com",
    )
    data = round_trip(nested, rlmi.serialize, rlmi.parse)
    assert b'fullState="false"' in data
    assert rlmi.parse(data.replace(b'"false"', b'"0"')).full_state is False


def test_a_whole_rls_notify_body() -> None:
    body = multipart.parse(NOTIFY_TYPE, vector("rfc4662_notify_body.multipart"))
    assert body.type == rlmi.CONTENT_TYPE
    root = body.root
    assert root.media_type == rlmi.CONTENT_TYPE
    assert root.headers == (("Content-Transfer-Encoding", "binary"),)
    meta = rlmi.parse(root.body)
    assert meta.uri == "sip:adam-friends@pres.vancouver.example.com"
    states: dict[str, bool | None] = {}
    for resource in meta.resources:
        for instance in resource.instances:
            part = body.part(instance.cid) if instance.cid else None
            states[resource.uri] = pidf.parse(part.body).is_open if part else None
    assert states == {
        "sip:bob@vancouver.example.com": True,
        "sip:dave@vancouver.example.com": False,
        "sip:ed@dallas.example.net": None,  # pending: no state part yet
    }


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b'<list xmlns="urn:x" uri="u" version="1" fullState="true"/>', "not an RLMI"),
        (b'<list xmlns="urn:ietf:params:xml:ns:rlmi" version="1" fullState="true"/>', "uri"),
        (
            b'<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="u" version="x" fullState="true"/>',
            "version",
        ),
        (
            b'<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="u" version="1" fullState="yes"/>',
            "fullState",
        ),
        (
            b'<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="u" version="1" fullState="1">'
            b'<resource uri="r"><instance id="i" state="gone"/></resource></list>',
            "state",
        ),
    ],
)
def test_invalid_documents(doc: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        rlmi.parse(doc)
