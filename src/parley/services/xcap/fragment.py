"""Bodies smaller than a document: one element (``application/xcap-el+xml``) and one
attribute value (``application/xcap-att+xml``), RFC 4825 §15.2.1-§15.2.2.

Both are parsed by the project's safe parser (:func:`parley.payloads.xml.parse_xml`: no
DTD, no entity declarations, size and depth caps) by wrapping them in an element of our
own. The wrapper declares the namespaces in scope where the fragment goes, so that a
fragment like ``<entry uri="sip:bob@example.com"/>`` is in the document's namespace as
RFC 4825 §7.4 has it ("the namespace bindings in scope at the insertion point"), and any
declarations of the fragment's own still win.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from parley.payloads.errors import PayloadError
from parley.payloads.xml import MAX_DEPTH, XmlElement, parse_xml

from .errors import XcapConflict

__all__ = [
    "ATTRIBUTE_CONTENT_TYPE",
    "ELEMENT_CONTENT_TYPE",
    "decode_utf8",
    "escape_attribute",
    "parse_attribute_value",
    "parse_fragment",
]

#: RFC 4825 §15.2.1 and §15.2.2.
ELEMENT_CONTENT_TYPE = "application/xcap-el+xml"
ATTRIBUTE_CONTENT_TYPE = "application/xcap-att+xml"

_WRAP_NAMESPACE = "urn:x-parley:xcap-fragment"
_WRAP_PREFIX = "parley-xcap-wrap"
_XML_DECLARATION = re.compile(r"\A\s*<\?xml\s[^?]*\?>")
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
)


def decode_utf8(body: bytes) -> str:
    """``body`` as text; XCAP bodies are UTF-8 (RFC 4825 §8.2.2), else ``<not-utf-8>``."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XcapConflict.not_utf_8(f"byte {exc.start} is not UTF-8") from None


def escape_attribute(value: str) -> str:
    """``value`` as XML attribute text for a double-quoted AttValue (XML 1.0 §2.3)."""
    return value.translate(_ATTR_ESCAPES)


def _declarations(default_namespace: str | None, bindings: Mapping[str, str]) -> str:
    parts = [f'xmlns:{_WRAP_PREFIX}="{_WRAP_NAMESPACE}"']
    parts.append(f'xmlns="{escape_attribute(default_namespace or "")}"')
    for prefix, namespace in bindings.items():
        if _PREFIX.match(prefix) and not prefix.lower().startswith("xml") and namespace:
            parts.append(f'xmlns:{prefix}="{escape_attribute(namespace)}"')
    return " ".join(parts)


def parse_fragment(
    body: bytes,
    *,
    default_namespace: str | None,
    bindings: Mapping[str, str],
    max_bytes: int,
) -> XmlElement:
    """The one element ``body`` holds (RFC 4825 §7.4), or ``<not-xml-frag>``.

    ``default_namespace`` and ``bindings`` (prefix -> namespace) are what is in scope
    where the element goes. An XML declaration in front is tolerated; text beside the
    element, several elements, a DTD or anything ill-formed is not.
    """
    text = decode_utf8(body).removeprefix("\ufeff")
    declaration = _XML_DECLARATION.match(text)
    if declaration is not None:
        text = text[declaration.end() :]
    opening = f"<{_WRAP_PREFIX}:f {_declarations(default_namespace, bindings)}>"
    closing = f"</{_WRAP_PREFIX}:f>"
    wrapped = (opening + text + closing).encode("utf-8")
    try:
        wrapper = parse_xml(
            wrapped, max_bytes=max_bytes + len(opening) + len(closing), max_depth=MAX_DEPTH + 1
        )
    except PayloadError as exc:
        raise XcapConflict.not_xml_frag(exc.reason) from None
    if len(wrapper.children) != 1:
        raise XcapConflict.not_xml_frag("the body must hold exactly one element")
    element = wrapper.children[0]
    if (wrapper.text or "").strip() or (element.tail or "").strip():
        raise XcapConflict.not_xml_frag("text outside the element")
    if element.tail is not None:
        element = XmlElement(element.tag, element.attrib, element.text, element.children)
    return element


def parse_attribute_value(body: bytes) -> str:
    """The attribute value ``body`` spells as an XML AttValue without its quotes (RFC 4825
    §7.7; entity and character references resolved), or ``<not-xml-att-value>``."""
    text = decode_utf8(body)
    if '"' not in text:
        quote = '"'
    elif "'" not in text:
        quote = "'"
    else:
        raise XcapConflict.not_xml_att_value("both quote characters in the value")
    if "<" in text:
        raise XcapConflict.not_xml_att_value("'<' in an attribute value")
    document = (
        f"<{_WRAP_PREFIX}:a xmlns:{_WRAP_PREFIX}={quote}{_WRAP_NAMESPACE}{quote} "
        f"v={quote}{text}{quote}/>"
    ).encode()
    try:
        element = parse_xml(document, max_bytes=len(document))
    except PayloadError as exc:
        raise XcapConflict.not_xml_att_value(exc.reason) from None
    value = element.get("v")
    if value is None:  # pragma: no cover - the attribute was written just above
        raise XcapConflict.not_xml_att_value()
    return value
