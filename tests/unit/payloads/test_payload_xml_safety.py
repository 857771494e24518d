"""Safe XML parsing (STYLE §6) for every codec: no DTD, no entity, no network, size and
depth caps; bad bytes give PayloadError and nothing else."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payload_vectors import vector

from parley.payloads import (
    PayloadError,
    cpim,
    imdn,
    iscomposing,
    multipart,
    pidf,
    presrules,
    resourcelists,
    rlmi,
    watcherinfo,
)
from parley.payloads.xml import (
    MAX_DOCUMENT_BYTES,
    XmlElement,
    parse_xml,
    serialize_xml,
)

XML_PARSERS: dict[str, Callable[[bytes], Any]] = {
    "xml": parse_xml,
    "pidf": pidf.parse,
    "watcherinfo": watcherinfo.parse,
    "resourcelists": resourcelists.parse,
    "rlmi": rlmi.parse,
    "presrules": presrules.parse,
    "imdn": imdn.parse,
    "iscomposing": iscomposing.parse,
}


def _multipart(data: bytes) -> Any:
    return multipart.parse('multipart/related;type="application/rlmi+xml";boundary=b1', data)


ALL_PARSERS: dict[str, Callable[[bytes], Any]] = {
    **XML_PARSERS,
    "cpim": cpim.parse,
    "multipart": _multipart,
}

UNSAFE = [
    "unsafe_billion_laughs.xml",
    "unsafe_external_entity.xml",
    "unsafe_external_dtd.xml",
    "unsafe_parameter_entity.xml",
]


@pytest.mark.parametrize("name", UNSAFE)
@pytest.mark.parametrize("parser", XML_PARSERS.values(), ids=XML_PARSERS.keys())
def test_documents_with_a_dtd_are_refused(parser: Callable[[bytes], Any], name: str) -> None:
    with pytest.raises(PayloadError, match="DTD"):
        parser(vector(name))


def test_no_socket_is_opened_for_an_external_dtd(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the XML parser tried to use the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    for name in UNSAFE:
        with pytest.raises(PayloadError):
            pidf.parse(vector(name))


def test_an_undeclared_entity_is_an_error_but_predefined_ones_work() -> None:
    with pytest.raises(PayloadError, match="undefined entity"):
        parse_xml(b"<a>&lol;</a>")
    assert parse_xml(b"<a>&lt;&amp;&gt;&quot;&apos;&#65;&#x42;</a>").text == "<&>\"'AB"


@pytest.mark.parametrize("parser", XML_PARSERS.values(), ids=XML_PARSERS.keys())
def test_an_oversized_document_is_refused_before_parsing(parser: Callable[[bytes], Any]) -> None:
    padding = b"<!--" + b"x" * MAX_DOCUMENT_BYTES + b"-->"
    big = vector("rfc3863_example.xml") + padding
    with pytest.raises(PayloadError, match="too large"):
        parser(big)


def test_the_size_cap_is_adjustable() -> None:
    data = vector("rfc3863_example.xml")
    with pytest.raises(PayloadError, match="too large"):
        pidf.parse(data, max_bytes=100)
    assert pidf.parse(data, max_bytes=len(data)).entity == "pres:someone@example.com"


def test_deep_nesting_is_refused() -> None:
    deep = b"<a>" * 65 + b"</a>" * 65
    with pytest.raises(PayloadError, match="deeper"):
        parse_xml(deep)
    assert parse_xml(b"<a>" * 64 + b"</a>" * 64).tag == "a"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml at all",
        b"\x00\x01\x02\xff",
        b"<a>",
        b"<a></b>",
        b"<a b='1' b='2'/>",
        b"<a:b/>",  # undeclared prefix
        b'<?xml version="1.0" encoding="x-no-such-codec"?><a/>',
        b"<a/><b/>",
        b"\xef\xbb\xbf\xff",
    ],
)
@pytest.mark.parametrize("parser", ALL_PARSERS.values(), ids=ALL_PARSERS.keys())
def test_garbage_gives_payload_error(parser: Callable[[bytes], Any], data: bytes) -> None:
    with pytest.raises(PayloadError):
        parser(data)


def test_utf16_documents_are_read() -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?><a xmlns="urn:x">\u00e9t\u00e9</a>'
    assert parse_xml(text.encode("utf-16")).text == "\u00e9t\u00e9"


def test_a_payload_error_is_a_value_error_with_a_reason_and_400() -> None:
    with pytest.raises(ValueError) as caught:
        pidf.parse(b"<oops")
    error = caught.value
    assert isinstance(error, PayloadError)
    assert error.reason.startswith("not well-formed XML")
    assert error.status_hint == 400


# ------------------------------------------------------------------ properties

SEEDS = [
    "rfc3863_example.xml",
    "rfc4480_example.xml",
    "parley_data_model.xml",
    "rfc3858_example.xml",
    "rfc4826_example.xml",
    "rfc4662_rlmi_example.xml",
    "rfc5025_example.xml",
    "rfc5438_displayed.xml",
    "rfc3994_idle.xml",
    "rfc3862_example.cpim",
    "rfc5438_message.cpim",
    "rfc4662_notify_body.multipart",
]


def _only_payload_errors(data: bytes) -> None:
    for parser in ALL_PARSERS.values():
        try:
            parser(data)
        except PayloadError:
            pass


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_raise_only_payload_error(data: bytes) -> None:
    _only_payload_errors(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 4000), st.binary(max_size=4)), max_size=6),
    st.integers(0, 4000),
)
def test_mutated_vectors_raise_only_payload_error(
    name: str, edits: list[tuple[int, bytes]], cut: int
) -> None:
    data = bytearray(vector(name))
    for position, replacement in edits:
        at = position % (len(data) + 1)
        data[at : at + len(replacement)] = replacement
    _only_payload_errors(bytes(data))
    _only_payload_errors(bytes(data[:cut]))


def test_multipart_fuzz_with_the_real_boundary() -> None:
    body = vector("rfc4662_notify_body.multipart")
    content_type = 'multipart/related;type="application/rlmi+xml";boundary="50UBfW7LSCVLtggUPe5z"'
    for cut in range(0, len(body), 7):
        try:
            multipart.parse(content_type, body[:cut])
        except PayloadError:
            pass


# A tree parse_xml can produce: names from a few namespaces, XML-safe text.
_TEXT = st.text(
    st.characters(
        codec="utf-8",  # no lone surrogates
        exclude_characters="\x00\ufffe\uffff",
    ).filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20),
    max_size=12,
)
_NAMES = st.sampled_from(
    ["{urn:a}x", "{urn:a}y", "{urn:b}x", "{http://www.w3.org/XML/1998/namespace}lang"]
)


def _trees() -> st.SearchStrategy[XmlElement]:
    leaf = st.builds(
        XmlElement,
        st.sampled_from(["{urn:a}x", "{urn:b}y", "{urn:c}z"]),
        st.lists(st.tuples(_NAMES, _TEXT), max_size=2, unique_by=lambda kv: kv[0]).map(tuple),
        st.none() | _TEXT.filter(bool),
    )
    return st.recursive(
        leaf,
        lambda children: st.builds(
            XmlElement,
            st.sampled_from(["{urn:a}x", "{urn:b}y"]),
            st.just(()),
            st.none() | _TEXT.filter(lambda t: t.strip() != ""),
            st.lists(children, max_size=3).map(tuple),
        ),
        max_leaves=8,
    )


@settings(max_examples=200)
@given(_trees(), st.booleans())
def test_serialize_then_parse_is_stable(tree: XmlElement, pretty: bool) -> None:
    once = parse_xml(serialize_xml(tree, pretty=pretty))
    assert parse_xml(serialize_xml(once, pretty=pretty)) == once
    # Leaf text and attribute values survive exactly (escaping, CR, tabs...).
    if not tree.children:
        assert once == tree
