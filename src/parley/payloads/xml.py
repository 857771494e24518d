"""Safe XML for the payload codecs: a frozen element tree, a hardened parser, a
deterministic serializer and the namespace prefix registry.

Every XML codec in ``parley.payloads`` goes through :func:`parse_xml` and
:func:`serialize_xml`; none touches an XML library itself.

The parser is the standard library's expat, hooked the way defusedxml hooks it, so no
third-party dependency is needed and every type is known to ``mypy --strict``:

- a document larger than ``max_bytes`` is refused before a byte is parsed;
- any ``<!DOCTYPE`` is refused the moment expat reports it, before a single entity or
  attribute default is declared: no internal subset, so no entity expansion
  ("billion laughs", quadratic blow-up) and no external entity (file or network);
- parameter entities are never parsed and no external DTD is ever loaded (expat
  itself has no network code);
- element nesting deeper than ``max_depth`` is refused, which bounds the recursion of
  every codec walking the tree.

Any failure surfaces as :class:`~parley.payloads.errors.PayloadError`, never as an
expat, codec or recursion error.

The tree is :class:`XmlElement`: immutable, compared by value, with names in Clark
notation (``{namespace}local``). Codecs turn it into their RFC's dataclasses and keep
the elements they do not understand as ``XmlElement`` values, so unknown extensions
survive a parse/serialize round trip.

Indentation made of no-break spaces: web pages turn leading spaces into U+00A0, and
documents copied from them (the project's seed among them) arrive indented with it. In a
UTF-8 document, no-break spaces in the white space that starts a line are read as plain
spaces: there they are never meaningful, and inside a start tag (the seed's
``<presence xmlns=...`` NBSP ``entity=...``) they would otherwise make the document
ill-formed.

Whitespace: text that only separates child elements ("ignorable" indentation) is dropped
at parse time; text of leaf elements and non-blank mixed content are kept verbatim.
The serializer indents only where that rule makes the indentation ignorable, so
``parse_xml(serialize_xml(tree)) == tree`` for any tree ``parse_xml`` can produce.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from xml.parsers import expat

from .errors import PayloadError

__all__ = [
    "LANG",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "XML_NAMESPACE",
    "XmlElement",
    "format_bool",
    "format_datetime",
    "namespace_prefix",
    "parse_bool",
    "parse_datetime",
    "parse_int",
    "parse_xml",
    "qname",
    "register_namespace",
    "serialize_xml",
    "split_qname",
]

XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
LANG = "{" + XML_NAMESPACE + "}lang"

#: Default size cap. Presence documents are a few KiB; a generous cap still stops a peer
#: from making us build a huge tree.
MAX_DOCUMENT_BYTES = 256 * 1024
#: Default nesting cap. The deepest RFC documents handled here nest about 8 levels.
MAX_DEPTH = 64


def qname(namespace: str | None, local: str) -> str:
    """The Clark-notation name ``{namespace}local`` (just ``local`` without namespace)."""
    return local if not namespace else "{" + namespace + "}" + local


def split_qname(name: str) -> tuple[str | None, str]:
    """``"{ns}local"`` -> ``("ns", "local")``; ``"local"`` -> ``(None, "local")``."""
    if name.startswith("{"):
        namespace, _, local = name[1:].rpartition("}")
        return namespace, local
    return None, name


@dataclass(frozen=True)
class XmlElement:
    """One XML element, immutable and compared by value.

    ``tag`` and attribute names are Clark names. ``attrib`` is kept sorted by name, so
    attribute order never affects equality. ``text`` is the character data before the
    first child, ``tail`` the character data after this element's end tag inside its
    parent; both are ``None`` when absent or ignorable whitespace.
    """

    tag: str
    attrib: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    children: tuple[XmlElement, ...] = ()
    tail: str | None = None

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.attrib))
        if ordered != self.attrib:
            object.__setattr__(self, "attrib", ordered)

    @classmethod
    def make(
        cls,
        tag: str,
        attrib: Mapping[str, str | None] | None = None,
        children: Iterable[XmlElement] = (),
        text: str | None = None,
    ) -> XmlElement:
        """Build an element; attributes whose value is ``None`` are left out."""
        pairs = tuple((k, v) for k, v in (attrib or {}).items() if v is not None)
        return cls(tag, pairs, text, tuple(children))

    @property
    def namespace(self) -> str | None:
        return split_qname(self.tag)[0]

    @property
    def local_name(self) -> str:
        return split_qname(self.tag)[1]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of attribute ``name`` (a Clark name), or ``default``."""
        for key, value in self.attrib:
            if key == name:
                return value
        return default

    def find(self, tag: str) -> XmlElement | None:
        """The first child named ``tag``, or ``None``."""
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def findall(self, tag: str) -> tuple[XmlElement, ...]:
        """Every child named ``tag``, in document order."""
        return tuple(child for child in self.children if child.tag == tag)

    def iter(self) -> Iterator[XmlElement]:
        """This element and all its descendants, depth first, in document order."""
        stack = [self]
        while stack:
            element = stack.pop()
            yield element
            stack.extend(reversed(element.children))


# --------------------------------------------------------------------------- parsing


class _Forbidden(Exception):
    """Raised inside an expat handler to abort the parse."""


class _Open:
    """An element whose end tag has not been seen yet."""

    __slots__ = ("attrib", "children", "tag", "tails", "text")

    def __init__(self, tag: str, attrib: tuple[tuple[str, str], ...]) -> None:
        self.tag = tag
        self.attrib = attrib
        self.text: list[str] = []
        self.children: list[XmlElement] = []
        self.tails: list[list[str]] = []


_XML_SPACE = " \t\r\n"


def _joined(parts: list[str], *, drop_blank: bool) -> str | None:
    value = "".join(parts)
    if not value or (drop_blank and not value.strip(_XML_SPACE)):
        return None
    return value


def _clark(expat_name: str) -> str:
    # expat reports "namespace<SP>local" (local names never contain a space).
    namespace, sep, local = expat_name.rpartition(" ")
    return "{" + namespace + "}" + local if sep else expat_name


_LINE_INDENT = re.compile(rb"\n[ \t]*(?:\xc2\xa0[ \t]*)+")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)""")


def _repair_indentation(data: bytes) -> bytes:
    if b"\xc2\xa0" not in data:
        return data
    if data.startswith((b"\xfe\xff", b"\xff\xfe")):
        return data  # UTF-16: the bytes C2 A0 are not a no-break space there
    declared = _DECLARED_ENCODING.match(data.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return data
    return _LINE_INDENT.sub(lambda m: m.group().replace(b"\xc2\xa0", b" "), data)


def parse_xml(
    data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES, max_depth: int = MAX_DEPTH
) -> XmlElement:
    """Parse an XML document safely and return its root element.

    Raises :class:`PayloadError` if ``data`` is larger than ``max_bytes``, is not
    well-formed XML, declares a DTD, or nests elements deeper than ``max_depth``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"XML documents are bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise PayloadError(f"XML document too large ({len(data)} > {max_bytes} bytes)")

    stack: list[_Open] = []
    roots: list[XmlElement] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        if len(stack) >= max_depth:
            raise _Forbidden(f"XML nested deeper than {max_depth} elements")
        attrib = tuple(sorted((_clark(k), v) for k, v in attributes.items()))
        stack.append(_Open(_clark(name), attrib))

    def end(name: str) -> None:
        node = stack.pop()
        children = tuple(
            replace(child, tail=_joined(tail, drop_blank=True)) if tail else child
            for child, tail in zip(node.children, node.tails, strict=True)
        )
        text = _joined(node.text, drop_blank=bool(children))
        element = XmlElement(node.tag, node.attrib, text, children)
        if stack:
            stack[-1].children.append(element)
            stack[-1].tails.append([])
        else:
            roots.append(element)

    def characters(data: str) -> None:
        if stack:
            top = stack[-1]
            (top.tails[-1] if top.children else top.text).append(data)

    def forbid_dtd(*_: object) -> None:
        raise _Forbidden("XML with a DTD (<!DOCTYPE>) is not accepted")

    def forbid_entity(*_: object) -> None:
        raise _Forbidden("XML entity declarations are not accepted")

    def forbid_external(*_: object) -> int:
        raise _Forbidden("XML external entities are not accepted")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = forbid_dtd
    parser.EntityDeclHandler = forbid_entity
    parser.UnparsedEntityDeclHandler = forbid_entity
    parser.ExternalEntityRefHandler = forbid_external
    try:
        parser.Parse(_repair_indentation(bytes(data)), True)
    except _Forbidden as exc:
        raise PayloadError(str(exc)) from None
    except expat.ExpatError as exc:
        raise PayloadError(f"not well-formed XML: {exc}") from None
    except (ValueError, LookupError, RecursionError, MemoryError) as exc:
        # Codec trouble behind an encoding declaration, and the like.
        raise PayloadError(f"unreadable XML: {exc}") from None
    if not roots:  # pragma: no cover - expat reports "no element found" first
        raise PayloadError("XML document has no root element")
    return roots[0]


# ----------------------------------------------------------------------- serializing

_PREFIXES: dict[str, str] = {}
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def register_namespace(namespace: str, prefix: str) -> None:
    """Record the prefix :func:`serialize_xml` prefers for ``namespace``.

    Each payload module registers its own namespaces at import time. A prefix only
    changes how a document is spelled, never what it means.
    """
    if not _NCNAME.match(prefix) or prefix.lower().startswith("xml"):
        raise ValueError(f"not a usable namespace prefix: {prefix!r}")
    _PREFIXES[namespace] = prefix


def namespace_prefix(namespace: str) -> str | None:
    """The registered prefix of ``namespace``, if any."""
    return _PREFIXES.get(namespace)


_INVALID_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)


def _checked(value: str) -> str:
    bad = _INVALID_XML_CHAR.search(value)
    if bad:
        raise ValueError(f"character {bad.group()!r} cannot be written in XML 1.0")
    return value


class _Writer:
    def __init__(self, root: XmlElement, default_namespace: str | None, pretty: bool) -> None:
        self.pretty = pretty
        self.out: list[str] = []
        self.prefixes: dict[str, str] = {}  # namespace -> prefix ("" = default)
        self.attr_prefixes: dict[str, str] = {}  # for namespaced attributes
        self.declarations: list[tuple[str, str]] = []  # (prefix, namespace) in order
        element_namespaces: list[str] = []
        attribute_namespaces: list[str] = []
        unqualified = False
        for element in root.iter():
            namespace = element.namespace
            if namespace is None:
                unqualified = True
            elif namespace not in element_namespaces:
                element_namespaces.append(namespace)
            for key, _ in element.attrib:
                attr_ns = split_qname(key)[0]
                if attr_ns and attr_ns != XML_NAMESPACE and attr_ns not in attribute_namespaces:
                    attribute_namespaces.append(attr_ns)
        if default_namespace is None:
            default_namespace = root.namespace
        if unqualified:  # un-namespaced elements rule out a default namespace
            default_namespace = None
        used: set[str] = set()
        for namespace in element_namespaces:
            if namespace == default_namespace:
                self.prefixes[namespace] = ""
                self.declarations.append(("", namespace))
            else:
                self.prefixes[namespace] = self._declare(namespace, used)
        for namespace in attribute_namespaces:
            prefix = self.prefixes.get(namespace)
            self.attr_prefixes[namespace] = prefix or self._declare(namespace, used)

    def _declare(self, namespace: str, used: set[str]) -> str:
        prefix = _PREFIXES.get(namespace)
        if prefix is None or prefix in used:
            counter = 0
            while f"ns{counter}" in used:
                counter += 1
            prefix = f"ns{counter}"
        used.add(prefix)
        self.declarations.append((prefix, namespace))
        return prefix

    def name(self, tag: str) -> str:
        namespace, local = split_qname(tag)
        if namespace is None:
            return local
        prefix = self.prefixes[namespace]
        return f"{prefix}:{local}" if prefix else local

    def attr_name(self, key: str) -> str:
        namespace, local = split_qname(key)
        if namespace is None:
            return local
        if namespace == XML_NAMESPACE:
            return "xml:" + local
        return f"{self.attr_prefixes[namespace]}:{local}"

    def write(self, element: XmlElement, level: int, root: bool = False) -> None:
        out = self.out
        name = self.name(element.tag)
        out.append("<" + name)
        if root:
            for prefix, namespace in self.declarations:
                attr = f"xmlns:{prefix}" if prefix else "xmlns"
                out.append(f' {attr}="{_checked(namespace).translate(_ATTR_ESCAPES)}"')
        for key, value in element.attrib:
            out.append(f' {self.attr_name(key)}="{_checked(value).translate(_ATTR_ESCAPES)}"')
        if not element.children:
            if element.text is None:
                out.append("/>")
            else:
                out.append(">" + _checked(element.text).translate(_TEXT_ESCAPES) + f"</{name}>")
            return
        out.append(">")
        indent = self.pretty and element.text is None
        indent = indent and all(child.tail is None for child in element.children)
        if element.text is not None:
            out.append(_checked(element.text).translate(_TEXT_ESCAPES))
        for child in element.children:
            if indent:
                out.append("\n" + "  " * (level + 1))
            self.write(child, level + 1)
            if child.tail is not None:
                out.append(_checked(child.tail).translate(_TEXT_ESCAPES))
        if indent:
            out.append("\n" + "  " * level)
        out.append(f"</{name}>")


def serialize_xml(
    root: XmlElement,
    *,
    default_namespace: str | None = None,
    pretty: bool = True,
) -> bytes:
    """Write ``root`` as a UTF-8 XML document with an XML declaration.

    Every namespace is declared once, on the root element: ``default_namespace`` (the
    root's own namespace when not given) without a prefix, the others with their
    registered prefix, or ``ns0``, ``ns1``... when none is registered. Raises
    ``ValueError`` for text no XML 1.0 document can carry (control characters).
    """
    writer = _Writer(root, default_namespace, pretty)
    writer.write(root, 0, root=True)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + "".join(writer.out) + "\n").encode()


# ------------------------------------------------------------------- simple values

_DATETIME = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)[Tt]"
    r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d\d:\d\d)?"
)


def parse_datetime(value: str, what: str = "date-time") -> datetime:
    """An ``xs:dateTime`` / RFC 3339 timestamp. Without a zone designator the result is
    naive, as the text is. Raises :class:`PayloadError` naming ``what``."""
    match = _DATETIME.fullmatch(value.strip(_XML_SPACE))
    if match is None:
        raise PayloadError(f"{what}: not a date-time: {value!r}")
    zone = match["zone"]
    tzinfo: timezone | None = None
    try:
        if zone in ("Z", "z"):
            tzinfo = UTC
        elif zone:
            sign = -1 if zone[0] == "-" else 1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            tzinfo = timezone(sign * offset)
        fraction = (match["fraction"] or "")[:6].ljust(6, "0")
        return datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            int(fraction),
            tzinfo=tzinfo,
        )
    except ValueError:
        raise PayloadError(f"{what}: date-time out of range: {value!r}") from None


def format_datetime(value: datetime) -> str:
    """RFC 3339 text for ``value``; UTC is written with ``Z``."""
    text = value.isoformat()
    offset = value.utcoffset()
    if offset is not None and not offset:
        text = text.removesuffix("+00:00") + "Z"
    return text


def parse_int(value: str, what: str, *, minimum: int | None = None) -> int:
    """A decimal integer (``xs:integer`` and its restrictions)."""
    text = value.strip(_XML_SPACE)
    if not re.fullmatch(r"[+-]?\d{1,20}", text):
        raise PayloadError(f"{what}: not an integer: {value!r}")
    number = int(text)
    if minimum is not None and number < minimum:
        raise PayloadError(f"{what}: must be at least {minimum}: {value!r}")
    return number


def parse_bool(value: str, what: str) -> bool:
    """An ``xs:boolean``: ``true``, ``false``, ``1`` or ``0``."""
    text = value.strip(_XML_SPACE)
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise PayloadError(f"{what}: not a boolean: {value!r}")


def format_bool(value: bool) -> str:
    return "true" if value else "false"
