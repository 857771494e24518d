"""RFC 2387 multipart/related framing (RFC 2046 §5.1), as RLS NOTIFYs use it."""

from __future__ import annotations

import pytest

from parley.payloads import PayloadError, multipart
from parley.payloads.multipart import Part, Related, parse_content_type

RELATED = Related(
    (
        Part('application/rlmi+xml;charset="UTF-8"', b"<list/>", "root@rls.example"),
        Part("application/pidf+xml", b"<presence/>\r\n", "p1@rls.example", (("X-Note", "a"),)),
        Part("text/plain", b""),
    ),
    "application/rlmi+xml",
    "root@rls.example",
)


def test_serialize_then_parse() -> None:
    content_type, body = multipart.serialize(RELATED)
    media_type, params = parse_content_type(content_type)
    assert media_type == "multipart/related"
    assert params["type"] == "application/rlmi+xml"
    assert params["start"] == "<root@rls.example>"
    parsed = multipart.parse(content_type, body)
    assert parsed == RELATED
    assert parsed.boundary == params["boundary"]
    assert parsed.root == RELATED.parts[0]
    assert parsed.part("<p1@rls.example>") == RELATED.parts[1]
    assert parsed.part("nope@x") is None
    # Same value, same bytes: the boundary is derived from the content.
    assert multipart.serialize(parsed) == (content_type, body)
    assert body.startswith(b"--" + params["boundary"].encode() + b"\r\nContent-Type: ")
    assert body.endswith(b"--\r\n")


def test_explicit_boundary_and_lf_only_bodies() -> None:
    related = Related((Part("text/plain", b"hi"),), "text/plain", boundary="simple")
    content_type, body = multipart.serialize(related)
    assert content_type == 'multipart/related;type="text/plain";boundary="simple"'
    assert body == b"--simple\r\nContent-Type: text/plain\r\n\r\nhi\r\n--simple--\r\n"
    lf_body = b"preamble\n--simple\ncontent-type: text/plain\n\nhi\n--simple--\nepilogue"
    parsed = multipart.parse("multipart/related; boundary=simple; type=text/plain", lf_body)
    assert parsed == related
    assert parsed.root.body == b"hi"


def test_missing_type_falls_back_on_the_root_part() -> None:
    body = b"--b\r\nContent-Type: application/rlmi+xml\r\n\r\nx\r\n--b--\r\n"
    assert multipart.parse("multipart/related;boundary=b", body).type == "application/rlmi+xml"


def test_header_folding_and_default_content_type() -> None:
    body = b"--b\r\nContent-ID:\r\n <a@b>\r\n\r\nx\r\n--b--"
    (part,) = multipart.parse("multipart/related;boundary=b;type=text/plain", body).parts
    assert part == Part("text/plain", b"x", "a@b")


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("text/plain", b"", "not multipart/related"),
        ("multipart/related", b"", "boundary"),
        ("multipart/related;boundary=", b"", "malformed|boundary"),
        ("multipart/related;boundary=b", b"--b\r\nContent-Type: a/b\r\n\r\nx", "closing"),
        ("multipart/related;boundary=b", b"--b\r\nno colon here\r\n\r\nx\r\n--b--", "header"),
        ("multipart/related;boundary=b", b"--b\r\nA: b\r\n--b--", "end of headers"),
        ('multipart/related;boundary="b', b"", "malformed"),
        ("multipart", b"", "content type"),
        ("multipart/related;boundary=b", b"--b\r\n\xff: x\r\n\r\n\r\n--b--", "header"),
    ],
)
def test_invalid_bodies(content_type: str, body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        multipart.parse(content_type, body)


def test_caps() -> None:
    many = b"".join(b"--b\r\n\r\nx\r\n" for _ in range(5)) + b"--b--"
    assert len(multipart.parse("multipart/related;boundary=b", many, max_parts=5).parts) == 5
    with pytest.raises(PayloadError, match="parts"):
        multipart.parse("multipart/related;boundary=b", many, max_parts=4)
    with pytest.raises(PayloadError, match="too large"):
        multipart.parse("multipart/related;boundary=b", many, max_bytes=10)


def test_serialize_refuses_what_cannot_be_framed() -> None:
    with pytest.raises(ValueError, match="inside a part"):
        multipart.serialize(Related((Part("text/plain", b"--x"),), "text/plain", boundary="x"))
    with pytest.raises(ValueError, match="line break"):
        multipart.serialize(Related((Part("text/plain\r\nX: y", b""),), "text/plain"))
    with pytest.raises(ValueError, match="boundary"):
        multipart.serialize(Related((), "text/plain", boundary="bad boundary "))


def test_an_empty_body_has_no_root() -> None:
    with pytest.raises(PayloadError, match="no part"):
        _ = multipart.parse("multipart/related;boundary=b;type=a/b", b"--b--").root
