"""XCAP node selectors (RFC 4825 §6.3): one element or attribute of a document fetched,
created, replaced and deleted (§7.4-§7.9, §8.2-§8.4), over the real HTTP port and SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_rfc4825_documents import RULES, error_condition
from xcap_support import (
    ATT_TYPE,
    EL_TYPE,
    ERROR_TYPE,
    FRIENDS,
    RL,
    RL_TYPE,
    RULES_TYPE,
    Xcap,
    XcapClient,
    doc,
    node,
    running_xcap,
)

from parley.payloads import presrules, resourcelists
from parley.payloads.xml import parse_xml

FRIENDS_LIST = 'resource-lists/list[@name="friends"]'
BOB_ENTRY = FRIENDS_LIST + '/entry[@uri="sip:bob@example.com"]'
CP = "urn:ietf:params:xml:ns:common-policy"


@pytest.fixture
async def xcap(tmp_path: Path) -> AsyncIterator[Xcap]:
    async with running_xcap(tmp_path) as running:
        yield running


@pytest.fixture
async def alice(xcap: Xcap) -> XcapClient:
    client = xcap.client()
    reply = await client.request("PUT", doc(), FRIENDS, content_type=RL_TYPE)
    assert reply.status == 201
    return client


async def uris(client: XcapClient) -> list[str]:
    """The entry URIs of the friends list, as the whole document now says."""
    reply = await client.request("GET", doc())
    assert reply.status == 200
    friends = resourcelists.parse(reply.body).get("friends")
    assert friends is not None
    return [entry.uri for entry in friends.entries()]


# -- GET (RFC 4825 §7.6, §7.9) -----------------------------------------------------------------


async def test_get_one_element_by_attribute_and_by_position(alice: XcapClient) -> None:
    document_etag = (await alice.request("GET", doc())).etag
    reply = await alice.request("GET", node(doc(), BOB_ENTRY))
    assert reply.status == 200
    assert reply.content_type == EL_TYPE
    assert reply.etag == document_etag  # an element's ETag is its document's (§8.5)
    entry = parse_xml(reply.body)
    assert entry.tag == f"{{{RL}}}entry" and entry.get("uri") == "sip:bob@example.com"
    [name] = entry.children
    assert name.text == "Bob"

    by_position = await alice.request("GET", node(doc(), FRIENDS_LIST + "/entry[2]"))
    assert parse_xml(by_position.body).get("uri") == "sip:carol@example.com"
    wildcard = await alice.request("GET", node(doc(), "resource-lists/*/*[2]"))
    assert wildcard.body == by_position.body
    both = await alice.request(
        "GET", node(doc(), FRIENDS_LIST + '/entry[1][@uri="sip:bob@example.com"]')
    )
    assert both.status == 200

    for missing in (
        FRIENDS_LIST + "/entry[3]",
        FRIENDS_LIST + '/entry[@uri="sip:nobody@example.com"]',
        'resource-lists/list[@name="work"]',
        FRIENDS_LIST + "/entry",  # two entries: no single element is named
    ):
        assert (await alice.request("GET", node(doc(), missing))).status == 404, missing


async def test_get_one_attribute(alice: XcapClient) -> None:
    reply = await alice.request("GET", node(doc(), FRIENDS_LIST + "/entry[2]/@uri"))
    assert reply.status == 200
    assert reply.content_type == ATT_TYPE
    assert reply.body == b"sip:carol@example.com"
    reply = await alice.request("GET", node(doc(), FRIENDS_LIST + "/entry[2]/@nope"))
    assert reply.status == 404


async def test_malformed_selectors_are_400(alice: XcapClient) -> None:
    for selector in ("resource-lists/list[", "resource-lists//list", "x:resource-lists"):
        reply = await alice.request("GET", node(doc(), selector))
        assert reply.status == 400, selector


# -- PUT of an element (RFC 4825 §7.4, §8.2.1-§8.2.4) ------------------------------------------


async def test_put_creates_then_replaces_one_entry(xcap: Xcap, alice: XcapClient) -> None:
    dave = node(doc(), FRIENDS_LIST + '/entry[@uri="sip:dave@example.com"]')
    before = (await alice.request("GET", doc())).etag
    reply = await alice.request(
        "PUT", dave, b'<entry uri="sip:dave@example.com"/>', content_type=EL_TYPE
    )
    assert reply.status == 201
    assert reply.etag is not None and reply.etag != before
    assert await uris(alice) == [
        "sip:bob@example.com",
        "sip:carol@example.com",
        "sip:dave@example.com",
    ]
    # The hook heard the new document.
    aor, auid, content = xcap.changes.seen[-1]
    assert (aor, auid) == ("alice@example.com", "resource-lists")
    assert content is not None and b"sip:dave@example.com" in content

    named = b'<entry uri="sip:dave@example.com"><display-name>Dave</display-name></entry>'
    reply = await alice.request(
        "PUT", dave, named, content_type=EL_TYPE, headers={"If-Match": reply.etag}
    )
    assert reply.status == 200
    fetched = await alice.request("GET", dave)
    assert parse_xml(fetched.body).children[0].text == "Dave"
    # The GET-after-PUT rule: what was put is what comes back (§7.4).
    assert parse_xml(fetched.body) == parse_xml(
        named.replace(b"<entry ", f'<entry xmlns="{RL}" '.encode())
    )


async def test_put_by_position_inserts_where_the_selector_says(alice: XcapClient) -> None:
    # RFC 4825 §8.2.3: entry[1] that does not match the attribute test inserts before
    # the first entry, so that afterwards entry[1][@uri=...] selects the new one.
    first = node(doc(), FRIENDS_LIST + '/entry[1][@uri="sip:amy@example.com"]')
    reply = await alice.request(
        "PUT", first, b'<entry uri="sip:amy@example.com"/>', content_type=EL_TYPE
    )
    assert reply.status == 201
    assert await uris(alice) == [
        "sip:amy@example.com",
        "sip:bob@example.com",
        "sip:carol@example.com",
    ]
    # Replacing by position alone keeps the element's place.
    second = node(doc(), FRIENDS_LIST + "/entry[2]")
    reply = await alice.request(
        "PUT", second, b'<entry uri="sip:bert@example.com"/>', content_type=EL_TYPE
    )
    assert reply.status == 200
    assert await uris(alice) == [
        "sip:amy@example.com",
        "sip:bert@example.com",
        "sip:carol@example.com",
    ]
    # A position beyond one past the last cannot be honoured.
    far = node(doc(), FRIENDS_LIST + '/entry[9][@uri="sip:zed@example.com"]')
    reply = await alice.request(
        "PUT", far, b'<entry uri="sip:zed@example.com"/>', content_type=EL_TYPE
    )
    assert reply.status == 409 and error_condition(reply.body) == "cannot-insert"


async def test_put_of_a_list_into_the_document(alice: XcapClient) -> None:
    work = node(doc(), 'resource-lists/list[@name="work"]')
    body = b'<list name="work"><entry uri="sip:boss@example.com"/></list>'
    assert (await alice.request("PUT", work, body, content_type=EL_TYPE)).status == 201
    boss = node(doc(), 'resource-lists/list[@name="work"]/entry/@uri')
    assert (await alice.request("GET", boss)).body == b"sip:boss@example.com"


async def test_element_put_errors(alice: XcapClient) -> None:
    bob = node(doc(), BOB_ENTRY)
    cases = [
        # The body does not satisfy the selector: GET after PUT would not return it.
        (bob, b'<entry uri="sip:eve@example.com"/>', "cannot-insert"),
        (
            node(doc(), FRIENDS_LIST + '/entry[@uri="sip:x@example.com"]'),
            b'<entry uri="sip:y@example.com"/>',
            "cannot-insert",
        ),
        # The parent list does not exist.
        (
            node(doc(), 'resource-lists/list[@name="nope"]/entry[@uri="sip:x@example.com"]'),
            b'<entry uri="sip:x@example.com"/>',
            "no-parent",
        ),
        # Not one well-formed element.
        (bob, b'<entry uri="sip:bob@example.com">', "not-xml-frag"),
        (bob, b'<entry uri="sip:bob@example.com"/><entry uri="b"/>', "not-xml-frag"),
        (bob, b"just text", "not-xml-frag"),
        # The change would break the schema or a uniqueness constraint.
        (bob, b'<entry uri="sip:bob@example.com"><list/></entry>', "schema-validation-error"),
        (
            node(doc(), FRIENDS_LIST + "/entry[3]"),
            b'<entry uri="sip:bob@example.com"/>',
            "uniqueness-failure",
        ),
    ]
    etag = (await alice.request("GET", doc())).etag
    for target, body, condition in cases:
        reply = await alice.request("PUT", target, body, content_type=EL_TYPE)
        assert reply.status == 409, (target, body)
        assert reply.content_type == ERROR_TYPE
        assert error_condition(reply.body) == condition, (target, body)
    # Nothing changed.
    assert (await alice.request("GET", doc())).etag == etag
    assert (await alice.request("PUT", bob, b"<entry/>", content_type=RL_TYPE)).status == 415
    missing = node(doc(name="other"), BOB_ENTRY)
    reply = await alice.request(
        "PUT", missing, b'<entry uri="sip:bob@example.com"/>', content_type=EL_TYPE
    )
    assert reply.status == 404


async def test_no_parent_names_the_closest_ancestor(alice: XcapClient) -> None:
    target = node(doc(), 'resource-lists/list[@name="nope"]/entry[@uri="sip:x@example.com"]')
    reply = await alice.request(
        "PUT", target, b'<entry uri="sip:x@example.com"/>', content_type=EL_TYPE
    )
    root = parse_xml(reply.body)
    [no_parent] = root.children
    [ancestor] = no_parent.children
    assert ancestor.local_name == "ancestor"
    assert ancestor.text is not None
    assert ancestor.text.startswith(alice.base + doc() + "/~~/resource-lists")


async def test_element_put_with_a_stale_etag_is_412(alice: XcapClient) -> None:
    old = (await alice.request("GET", doc())).etag
    assert old is not None
    await alice.request(
        "PUT", node(doc(), FRIENDS_LIST + '/entry[@uri="sip:x@example.com"]'),
        b'<entry uri="sip:x@example.com"/>', content_type=EL_TYPE,
    )  # fmt: skip
    reply = await alice.request(
        "PUT", node(doc(), FRIENDS_LIST + '/entry[@uri="sip:y@example.com"]'),
        b'<entry uri="sip:y@example.com"/>', content_type=EL_TYPE, headers={"If-Match": old},
    )  # fmt: skip
    assert reply.status == 412
    assert "sip:y@example.com" not in await uris(alice)


# -- attributes (RFC 4825 §7.7, §7.8) ----------------------------------------------------------


async def test_put_and_delete_one_attribute(alice: XcapClient) -> None:
    # Renaming the very attribute the element is selected by would lose it: the GET
    # after the PUT would find nothing (RFC 4825 §7.7), so it is refused.
    reply = await alice.request(
        "PUT", node(doc(), FRIENDS_LIST + "/@name"), b"buddies", content_type=ATT_TYPE
    )
    assert reply.status == 409 and error_condition(reply.body) == "cannot-insert"
    # Selected by position, the list can be renamed.
    name = node(doc(), "resource-lists/list[1]/@name")
    reply = await alice.request("PUT", name, b"buddies", content_type=ATT_TYPE)
    assert reply.status == 200
    assert (await alice.request("GET", name)).body == b"buddies"
    # A new attribute is created (201).
    added = node(doc(), "resource-lists/list[1]/entry[2]/@note")
    assert (
        await alice.request("PUT", added, b"met at EuroPython", content_type=ATT_TYPE)
    ).status == 201
    reply = await alice.request("PUT", name, b"a<b", content_type=ATT_TYPE)
    assert reply.status == 409 and error_condition(reply.body) == "not-xml-att-value"
    # Entity references are resolved, and GET gives the escaped form back.
    reply = await alice.request("PUT", name, b"Tom &amp; Jerry", content_type=ATT_TYPE)
    assert reply.status == 200
    assert (await alice.request("GET", name)).body == b"Tom &amp; Jerry"
    assert (await alice.request("DELETE", name)).status == 200
    assert (await alice.request("GET", name)).status == 404
    # An entry's uri is required (RFC 4826 §3.3): deleting it breaks the schema.
    reply = await alice.request("DELETE", node(doc(), "resource-lists/list/entry[2]/@uri"))
    assert reply.status == 409 and error_condition(reply.body) == "schema-validation-error"


# -- DELETE of an element (RFC 4825 §7.5, §8.4) --------------------------------------------------


async def test_delete_one_entry(xcap: Xcap, alice: XcapClient) -> None:
    reply = await alice.request("DELETE", node(doc(), BOB_ENTRY))
    assert reply.status == 200 and reply.etag is not None
    assert await uris(alice) == ["sip:carol@example.com"]
    assert xcap.changes.seen[-1][2] is not None and b"sip:bob@" not in xcap.changes.seen[-1][2]
    assert (await alice.request("DELETE", node(doc(), BOB_ENTRY))).status == 404
    assert (await alice.request("GET", node(doc(), BOB_ENTRY))).status == 404


async def test_delete_that_would_not_be_idempotent_is_refused(alice: XcapClient) -> None:
    # Deleting entry[1] of two would make the other one entry[1]: cannot-delete.
    reply = await alice.request("DELETE", node(doc(), FRIENDS_LIST + "/entry[1]"))
    assert reply.status == 409 and error_condition(reply.body) == "cannot-delete"
    # The last one is fine.
    assert (await alice.request("DELETE", node(doc(), FRIENDS_LIST + "/entry[2]"))).status == 200
    assert await uris(alice) == ["sip:bob@example.com"]
    # The root element cannot go: the document would be empty.
    reply = await alice.request("DELETE", node(doc(), "resource-lists"))
    assert reply.status == 409 and error_condition(reply.body) == "cannot-delete"


# -- namespaces (RFC 4825 §6.4) ------------------------------------------------------------------


async def test_pres_rules_elements_with_xmlns_bindings(xcap: Xcap) -> None:
    alice = xcap.client()
    target = doc(auid="pres-rules")
    assert (await alice.request("PUT", target, RULES, content_type=RULES_TYPE)).status == 201
    query = f"xmlns(cp={CP})"
    rule = node(target, 'cp:ruleset/cp:rule[@id="allow-bob"]', query)
    reply = await alice.request("GET", rule)
    assert reply.status == 200
    assert parse_xml(reply.body).get("id") == "allow-bob"
    # The pres-rules namespace is the default one of the usage (RFC 5025 §9.3).
    handling = node(target, 'cp:ruleset/cp:rule[@id="allow-bob"]/cp:actions/sub-handling', query)
    reply = await alice.request("GET", handling)
    assert reply.status == 200 and parse_xml(reply.body).text == "allow"
    # Without the binding the prefix means nothing.
    reply = await alice.request("GET", node(target, 'cp:ruleset/cp:rule[@id="allow-bob"]'))
    assert reply.status == 400
    # A new rule, its body using the cp prefix the query bound.
    block = node(target, 'cp:ruleset/cp:rule[@id="block-eve"]', query)
    body = (
        b'<cp:rule id="block-eve"><cp:conditions><cp:identity>'
        b'<cp:one id="sip:eve@example.com"/></cp:identity></cp:conditions>'
        b"<cp:actions><pr:sub-handling>block</pr:sub-handling></cp:actions></cp:rule>"
    )
    # The document declares no default namespace, so an unprefixed <sub-handling> would
    # land in common-policy's (the parent's), where the schema has none.
    unprefixed = body.replace(b"pr:sub-handling", b"sub-handling")
    reply = await alice.request("PUT", block, unprefixed, content_type=EL_TYPE)
    assert reply.status == 409 and error_condition(reply.body) == "schema-validation-error"
    reply = await alice.request("PUT", block, body, content_type=EL_TYPE)
    assert reply.status == 201
    _, auid, content = xcap.changes.seen[-1]
    assert auid == "pres-rules" and content is not None
    ruleset = presrules.parse(content)
    assert ruleset.decision_for("sip:eve@example.com") == presrules.SubHandling.BLOCK
    assert ruleset.decision_for("sip:bob@example.com") == presrules.SubHandling.ALLOW
