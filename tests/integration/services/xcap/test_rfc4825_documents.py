"""XCAP documents (RFC 4825 §7.1-§7.3, §8) over the real HTTP port and SQLite: Digest
authentication (RFC 7616), ownership, ETags and conditional requests, the 409 errors of
§11, content types and sizes, xcap-caps, and the on_change hook.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from xcap_support import (
    ALICE,
    BOB,
    ERROR_TYPE,
    FRIENDS,
    RL_TYPE,
    ROOT,
    RULES_TYPE,
    Xcap,
    doc,
    running_xcap,
)

from parley.payloads import resourcelists
from parley.payloads.xml import parse_xml


@pytest.fixture
async def xcap(tmp_path: Path) -> AsyncIterator[Xcap]:
    async with running_xcap(tmp_path) as running:
        yield running


def error_condition(body: bytes) -> str:
    """The local name of the one error element of an <xcap-error> (RFC 4825 §11.2)."""
    root = parse_xml(body)
    assert root.tag == "{urn:ietf:params:xml:ns:xcap-error}xcap-error"
    [element] = root.children
    return element.local_name


# -- authentication (RFC 4825 §13, RFC 7616) ---------------------------------------------------


async def test_unauthenticated_request_gets_a_digest_challenge(xcap: Xcap) -> None:
    reply = await xcap.client(None).request("GET", doc())
    assert reply.status == 401
    challenges = reply.challenges
    # RFC 7616 §3.7: one challenge per algorithm, the preferred one first; qop=auth.
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert all(c.realm == "example.com" and c.qop == ("auth",) for c in challenges)
    assert len({c.nonce for c in challenges}) == 2


async def test_wrong_password_and_unknown_user_get_the_same_challenge(xcap: Xcap) -> None:
    wrong = xcap.client()
    wrong.password = "guess"
    reply = await wrong.request("GET", doc())
    assert reply.status == 401 and not reply.challenges[0].stale
    stranger = xcap.client()
    stranger.username = "mallory"
    reply = await stranger.request("GET", doc())
    assert reply.status == 401 and not reply.challenges[0].stale


async def test_authenticated_owner_gets_404_for_a_missing_document(xcap: Xcap) -> None:
    reply = await xcap.client().request("GET", doc())
    assert reply.status == 404


async def test_another_users_documents_are_forbidden(xcap: Xcap) -> None:
    alice = xcap.client()
    assert (await alice.request("PUT", doc(), FRIENDS, content_type=RL_TYPE)).status == 201
    bob = xcap.client("bob@example.com")
    for method, body in (("GET", None), ("PUT", FRIENDS), ("DELETE", None)):
        reply = await bob.request(method, doc(xui=ALICE), body, content_type=RL_TYPE)
        assert reply.status == 403, method
    # Bob's own tree is his.
    reply = await bob.request("PUT", doc(xui=BOB), FRIENDS, content_type=RL_TYPE)
    assert reply.status == 201


async def test_a_replayed_nonce_count_gets_a_stale_challenge(xcap: Xcap) -> None:
    alice = xcap.client()
    await alice.request("GET", doc())
    assert alice.challenge is not None
    # RFC 7616 §3.4: the nonce-count must grow; the same nc again is a replay.
    sent = alice.sent_authorization[-1]
    reply = await alice.send("GET", doc(), authorization=sent)
    assert reply.status == 401 and reply.challenges[0].stale


async def test_the_digest_uri_must_be_the_request_target(xcap: Xcap) -> None:
    alice = xcap.client()
    await alice.request("GET", doc())
    other = alice.authorization("GET", doc(name="other"))
    reply = await alice.send("GET", doc(), authorization=other)
    assert reply.status == 400  # RFC 7616 §3.4.6


# -- whole documents with ETags (RFC 4825 §7.1-§7.3, §7.11, §8.5) ------------------------------


async def test_put_get_delete_with_etags_and_conditions(xcap: Xcap) -> None:
    alice = xcap.client()
    created = await alice.request("PUT", doc(), FRIENDS, content_type=RL_TYPE)
    assert created.status == 201
    first = created.etag
    assert first is not None and first.startswith('"') and first.endswith('"')

    fetched = await alice.request("GET", doc())
    assert fetched.status == 200
    assert fetched.body == FRIENDS  # stored as put
    assert fetched.content_type == RL_TYPE
    assert fetched.etag == first

    # If-None-Match with the current tag: 304 for a GET (RFC 9110 §13.1.2).
    reply = await alice.request("GET", doc(), headers={"If-None-Match": first})
    assert reply.status == 304 and reply.etag == first

    changed = FRIENDS.replace(b"carol", b"dave")
    replaced = await alice.request(
        "PUT", doc(), changed, content_type=RL_TYPE, headers={"If-Match": first}
    )
    assert replaced.status == 200
    second = replaced.etag
    assert second is not None and second != first

    # A write based on the old version is refused, and nothing changes.
    stale = await alice.request(
        "PUT", doc(), FRIENDS, content_type=RL_TYPE, headers={"If-Match": first}
    )
    assert stale.status == 412
    # "Create only if absent" fails on an existing document.
    exists = await alice.request(
        "PUT", doc(), FRIENDS, content_type=RL_TYPE, headers={"If-None-Match": "*"}
    )
    assert exists.status == 412
    assert (await alice.request("GET", doc())).body == changed

    reply = await alice.request("DELETE", doc(), headers={"If-Match": first})
    assert reply.status == 412
    reply = await alice.request("DELETE", doc(), headers={"If-Match": second})
    assert reply.status == 200
    assert (await alice.request("GET", doc())).status == 404
    assert (await alice.request("DELETE", doc())).status == 404
    # If-Match on a document that does not exist fails too.
    reply = await alice.request(
        "PUT", doc(), FRIENDS, content_type=RL_TYPE, headers={"If-Match": second}
    )
    assert reply.status == 412


async def test_documents_survive_in_sqlite(xcap: Xcap) -> None:
    alice = xcap.client()
    reply = await alice.request("PUT", doc(), FRIENDS, content_type=RL_TYPE)
    stored = await xcap.storage.get_document("alice@example.com", "resource-lists", "index")
    assert stored is not None
    assert stored.content == FRIENDS and f'"{stored.etag}"' == reply.etag


# -- what the server refuses (RFC 4825 §8.2.2, §8.2.5, §11) ------------------------------------


async def test_wrong_content_type_is_415(xcap: Xcap) -> None:
    alice = xcap.client()
    for content_type in ("text/plain", RULES_TYPE, "application/xcap-el+xml"):
        reply = await alice.request("PUT", doc(), FRIENDS, content_type=content_type)
        assert reply.status == 415, content_type
    reply = await alice.request("PUT", doc(), FRIENDS, content_type=RL_TYPE + "; charset=UTF-8")
    assert reply.status == 201


async def test_not_well_formed_xml_is_409(xcap: Xcap) -> None:
    alice = xcap.client()
    reply = await alice.request("PUT", doc(), b"<resource-lists><list>", content_type=RL_TYPE)
    assert reply.status == 409
    assert reply.content_type == ERROR_TYPE
    assert error_condition(reply.body) == "not-well-formed"
    reply = await alice.request("PUT", doc(), b"\xff\xfe<a/>", content_type=RL_TYPE)
    assert reply.status == 409 and error_condition(reply.body) == "not-utf-8"
    assert (await alice.request("GET", doc())).status == 404


async def test_a_document_of_the_wrong_schema_is_409(xcap: Xcap) -> None:
    alice = xcap.client()
    pidf = b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com"/>'
    reply = await alice.request("PUT", doc(), pidf, content_type=RL_TYPE)
    assert reply.status == 409 and error_condition(reply.body) == "schema-validation-error"
    no_uri = FRIENDS.replace(b' uri="sip:carol@example.com"', b"")
    reply = await alice.request("PUT", doc(), no_uri, content_type=RL_TYPE)
    assert reply.status == 409 and error_condition(reply.body) == "schema-validation-error"
    stray = FRIENDS.replace(b'<entry uri="sip:carol', b'<buddy uri="sip:carol')
    stray = stray.replace(b'sip:carol@example.com"/>', b'sip:carol@example.com"/>')
    reply = await alice.request("PUT", doc(), stray, content_type=RL_TYPE)
    assert reply.status == 409 and error_condition(reply.body) == "schema-validation-error"


async def test_duplicate_entry_uris_in_one_list_are_a_uniqueness_failure(xcap: Xcap) -> None:
    alice = xcap.client()
    twice = FRIENDS.replace(b"sip:carol@example.com", b"sip:bob@example.com")
    reply = await alice.request("PUT", doc(), twice, content_type=RL_TYPE)
    assert reply.status == 409
    root = parse_xml(reply.body)
    [failure] = root.children
    assert failure.local_name == "uniqueness-failure"
    [exists] = failure.children
    # RFC 4825 §11.2: <exists field=...> names the offending attribute.
    assert exists.get("field") == "resource-lists[1]/list[1]/entry[2]/@uri"
    # The same URI in two different lists is fine (RFC 4826 §3.4.5: unique per parent).
    two_lists = FRIENDS.replace(
        b"</resource-lists>",
        b'<list name="work"><entry uri="sip:bob@example.com"/></list></resource-lists>',
    )
    assert (await alice.request("PUT", doc(), two_lists, content_type=RL_TYPE)).status == 201


async def test_billion_laughs_is_refused_without_expansion(xcap: Xcap) -> None:
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol0 "lol">' + entities + "]>\n"
        f'<resource-lists xmlns="{resourcelists.NAMESPACE}"><list name="&lol9;"/>'
        "</resource-lists>"
    ).encode()
    alice = xcap.client()
    reply = await alice.request("PUT", doc(), bomb, content_type=RL_TYPE)
    assert reply.status == 409 and error_condition(reply.body) == "not-well-formed"
    assert (await alice.request("GET", doc())).status == 404
    assert not xcap.changes.seen


async def test_oversized_documents_are_413(xcap: Xcap) -> None:
    alice = xcap.client()
    padding = b"<!-- " + b"x" * (300 * 1024) + b" -->"
    reply = await alice.request("PUT", doc(), FRIENDS + padding, content_type=RL_TYPE)
    assert reply.status == 413


async def test_unknown_auid_and_bad_paths_are_404(xcap: Xcap) -> None:
    alice = xcap.client()
    for target in (
        doc(auid="rls-services"),
        f"{ROOT}/resource-lists/users/{ALICE}",
        f"{ROOT}/resource-lists/people/{ALICE}/index",
        f"{ROOT}/resource-lists/users/tel:+15551234/index",
    ):
        assert (await alice.request("GET", target)).status == 404, target
    reply = await alice.request("POST", doc(), FRIENDS, content_type=RL_TYPE)
    assert reply.status == 405 and "PUT" in reply.headers["Allow"]


# -- pres-rules (RFC 5025) ---------------------------------------------------------------------

RULES = b"""<?xml version="1.0" encoding="UTF-8"?>
<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy"
            xmlns:pr="urn:ietf:params:xml:ns:pres-rules">
  <cp:rule id="allow-bob">
    <cp:conditions><cp:identity><cp:one id="sip:bob@example.com"/></cp:identity></cp:conditions>
    <cp:actions><pr:sub-handling>allow</pr:sub-handling></cp:actions>
    <cp:transformations/>
  </cp:rule>
</cp:ruleset>
"""


async def test_pres_rules_documents(xcap: Xcap) -> None:
    alice = xcap.client()
    target = doc(auid="pres-rules")
    assert (await alice.request("PUT", target, RULES, content_type=RL_TYPE)).status == 415
    assert (await alice.request("PUT", target, RULES, content_type=RULES_TYPE)).status == 201
    fetched = await alice.request("GET", target)
    assert fetched.body == RULES and fetched.content_type == RULES_TYPE
    bad = RULES.replace(b">allow<", b">maybe<")
    reply = await alice.request("PUT", target, bad, content_type=RULES_TYPE)
    assert reply.status == 409 and error_condition(reply.body) == "schema-validation-error"
    twice = RULES.replace(b"</cp:ruleset>", b'<cp:rule id="allow-bob"/></cp:ruleset>')
    reply = await alice.request("PUT", target, twice, content_type=RULES_TYPE)
    assert reply.status == 409 and error_condition(reply.body) == "uniqueness-failure"


# -- the presence agent's hook -------------------------------------------------------------------


async def test_on_change_hears_every_committed_change_to_index(xcap: Xcap) -> None:
    alice = xcap.client()
    await alice.request("PUT", doc(), FRIENDS, content_type=RL_TYPE)
    # Told before the answer: by now it has been called.
    assert xcap.changes.seen == [("alice@example.com", "resource-lists", FRIENDS)]
    await alice.request("PUT", doc(auid="pres-rules"), RULES, content_type=RULES_TYPE)
    assert xcap.changes.seen[-1] == ("alice@example.com", "pres-rules", RULES)
    # Refused changes and other document names are not reported.
    await alice.request("PUT", doc(), b"<oops", content_type=RL_TYPE)
    await alice.request("PUT", doc(name="work"), FRIENDS, content_type=RL_TYPE)
    assert len(xcap.changes.seen) == 2
    await alice.request("DELETE", doc())
    assert len(xcap.changes.seen) == 3
    assert xcap.changes.seen[2] == ("alice@example.com", "resource-lists", None)
    # on_update gets the content replaced as well, for consumers that diff.
    assert xcap.changes.updates == [
        ("alice@example.com", "resource-lists", None, FRIENDS),
        ("alice@example.com", "pres-rules", None, RULES),
        ("alice@example.com", "resource-lists", FRIENDS, None),
    ]


# -- xcap-caps (RFC 4825 §12) --------------------------------------------------------------------


async def test_xcap_caps_lists_the_auids_and_namespaces(xcap: Xcap) -> None:
    anyone = xcap.client(None)
    target = f"{ROOT}/xcap-caps/global/index"
    reply = await anyone.request("GET", target)
    assert reply.status == 200
    assert reply.content_type == "application/xcap-caps+xml"
    assert reply.etag is not None
    root = parse_xml(reply.body)
    ns = "{urn:ietf:params:xml:ns:xcap-caps}"
    assert root.tag == ns + "xcap-caps"
    auids = root.find(ns + "auids")
    namespaces = root.find(ns + "namespaces")
    assert auids is not None and namespaces is not None
    assert [a.text for a in auids.children] == ["xcap-caps", "resource-lists", "pres-rules"]
    listed = {n.text for n in namespaces.children}
    assert {
        "urn:ietf:params:xml:ns:resource-lists",
        "urn:ietf:params:xml:ns:pres-rules",
        "urn:ietf:params:xml:ns:common-policy",
        "urn:ietf:params:xml:ns:xcap-caps",
    } <= listed
    reply = await anyone.request("GET", target, headers={"If-None-Match": reply.etag})
    assert reply.status == 304
    reply = await anyone.request(
        "PUT", target, reply.body, content_type="application/xcap-caps+xml"
    )
    assert reply.status == 405
