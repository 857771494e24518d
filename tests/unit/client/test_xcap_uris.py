"""What the XCAP client names (RFC 4825 §6): document URIs under the XCAP root, and the
addresses users type turned into the SIP URIs documents hold."""

from __future__ import annotations

import pytest

from parley.client.xcap import Buddy, XcapClient, aor_of, sip_uri


def test_document_url_is_the_users_tree_index() -> None:
    xcap = XcapClient("alice@example.com", "pw", base_url="http://127.0.0.1:8080/xcap-root/")
    assert xcap.document_url("resource-lists") == (
        "http://127.0.0.1:8080/xcap-root/resource-lists/users/sip:alice@example.com/index"
    )


def test_reserved_characters_of_the_user_part_are_escaped() -> None:
    # §6.2: the XUI is one path segment, so "/", "?" and "#" may not appear bare in it.
    xcap = XcapClient("a/b?c#d@example.com", "pw", base_url="http://h/xcap-root")
    assert xcap.document_url("pres-rules").split("/users/")[1] == (
        "sip:a%2Fb%3Fc%23d@example.com/index"
    )


@pytest.mark.parametrize(
    ("typed", "uri"),
    [
        ("bob@example.com", "sip:bob@example.com"),
        (" bob@example.com ", "sip:bob@example.com"),
        ("sip:bob@example.com", "sip:bob@example.com"),
        ("sips:bob@example.com", "sips:bob@example.com"),
        ("tel:+15551234", "tel:+15551234"),
    ],
)
def test_typed_addresses_become_uris(typed: str, uri: str) -> None:
    assert sip_uri(typed) == uri


def test_addresses_are_shown_without_the_sip_scheme() -> None:
    assert aor_of("sip:bob@example.com") == "bob@example.com"
    assert aor_of("pres:bob@example.com") == "bob@example.com"
    assert aor_of("tel:+15551234") == "tel:+15551234"
    assert Buddy("sip:bob@example.com", "Bob").aor == "bob@example.com"


def test_not_an_address_of_record_is_refused() -> None:
    with pytest.raises(ValueError, match="address of record"):
        XcapClient("alice", "pw", base_url="http://h/xcap-root")
