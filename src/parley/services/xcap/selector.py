"""XCAP node selectors (RFC 4825 §6.3): parsing, evaluation over the project's immutable
XML tree, and the GET/PUT/DELETE of one element or attribute (§7.4-§7.10, §8.2-§8.4).

The grammar (§6.3)::

    node-selector      = element-selector ["/" terminal-selector]
    terminal-selector  = attribute-selector / namespace-selector / extension-selector
    element-selector   = step *( "/" step)
    step               = by-name / by-pos / by-attr / by-pos-attr / extension-selector
    by-name            = NameorAny
    by-pos             = NameorAny "[" position "]"
    by-attr            = NameorAny "[" attr-test "]"
    by-pos-attr        = NameorAny "[" position "]" "[" attr-test "]"
    attr-test          = "@" att-name "=" att-value
    NameorAny          = QName / "*"
    attribute-selector = "@" att-name
    namespace-selector = "namespace::*"

A step means what the XPath it abbreviates means: ``entry[2][@uri="x"]`` is the second
``entry`` child, kept if its ``uri`` is ``x``. An unprefixed element name is in the
application usage's default namespace (§6.3, §5.2), a prefixed one in the namespace the
query binds it to (§6.4); attribute names without prefix are in no namespace, as in XML.
Extension selectors are not understood: they select nothing.

Positions in the tree are :data:`Path` tuples of child indices from the document node:
``(0,)`` is the root element, ``(0, 2)`` its third child element. Everything is pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote

from parley.payloads.xml import XmlElement, namespace_prefix, split_qname

from .errors import XcapConflict, XcapError
from .fragment import parse_attribute_value

__all__ = [
    "NodeSelector",
    "Path",
    "Step",
    "delete_node",
    "element_at",
    "get_node",
    "node_path_text",
    "parse_selector",
    "put_attribute",
    "put_element",
    "select",
]

Path = tuple[int, ...]

_NCNAME = r"[^\W\d][\w.\-]*"
_QNAME = re.compile(rf"(?:({_NCNAME}):)?({_NCNAME})")
_POSITION = re.compile(r"\[(\d+)\]")
_ATTR_TEST = re.compile(rf"\[\s*@((?:{_NCNAME}:)?{_NCNAME})\s*=\s*(\"[^\"]*\"|'[^']*')\s*\]")
_NAMESPACE_SELECTOR = "namespace::*"
# Characters left as they are when a node selector goes into a URI path (RFC 3986 pchar).
_SELECTOR_SAFE = "/@:*=-._~!$&'()+,;"


@dataclass(frozen=True, slots=True)
class Step:
    """One location step. ``name`` is a Clark name, None for ``*``; ``position`` counts
    from 1 among the children ``name`` matches; ``attribute`` is ``(Clark name, value)``;
    ``text`` is the step as written, for the URIs of error reports."""

    name: str | None
    position: int | None = None
    attribute: tuple[str, str] | None = None
    text: str = ""

    def matches_name(self, element: XmlElement) -> bool:
        return self.name is None or element.tag == self.name


@dataclass(frozen=True, slots=True)
class NodeSelector:
    """A parsed node selector: element ``steps``, then at most one terminal selector,
    ``attribute`` (a Clark name) or ``namespaces`` (``namespace::*``)."""

    steps: tuple[Step, ...]
    attribute: str | None = None
    namespaces: bool = False

    @property
    def selects_element(self) -> bool:
        return self.attribute is None and not self.namespaces


def _resolve(
    prefix: str | None, local: str, default: str | None, bindings: Mapping[str, str]
) -> str:
    if prefix is None:
        return local if default is None else "{" + default + "}" + local
    namespace = bindings.get(prefix)
    if namespace is None:
        # §6.4: prefixes are bound by xmlns() in the query, and by nothing else.
        raise XcapError(400, f"namespace prefix {prefix!r} is not bound by the query")
    return "{" + namespace + "}" + local


def parse_selector(
    text: str, default_namespace: str | None, bindings: Mapping[str, str]
) -> NodeSelector:
    """Parse a decoded node selector. Raises :class:`XcapError` 400 when it is not one
    (or binds no namespace for a prefix it uses), 404 for an extension selector, which
    selects nothing here."""
    steps: list[Step] = []
    attribute: str | None = None
    namespaces = False
    position = 0
    length = len(text)
    while True:
        start = position
        if text.startswith("@", position):
            match = _QNAME.match(text, position + 1)
            if match is None or match.end() != length:
                raise XcapError(400, "an attribute selector must end the node selector")
            prefix, local = match.group(1), match.group(2)
            attribute = local if prefix is None else _resolve(prefix, local, None, bindings)
            break
        if text.startswith(_NAMESPACE_SELECTOR, position):
            if position + len(_NAMESPACE_SELECTOR) != length:
                raise XcapError(400, "a namespace selector must end the node selector")
            namespaces = True
            break
        if position == length or text[position] == "/":
            raise XcapError(400, f"empty step at offset {position}")
        name: str | None
        if text.startswith("*", position):
            name = None
            position += 1
        else:
            match = _QNAME.match(text, position)
            if match is None:
                raise XcapError(404, "extension selectors are not supported")
            name = _resolve(match.group(1), match.group(2), default_namespace, bindings)
            position = match.end()
        number: int | None = None
        match = _POSITION.match(text, position)
        if match is not None:
            number = int(match.group(1))
            position = match.end()
        test: tuple[str, str] | None = None
        match = _ATTR_TEST.match(text, position)
        if match is not None:
            prefix, _, local = match.group(1).rpartition(":")
            attr_name = local if not prefix else _resolve(prefix, local, None, bindings)
            try:
                value = parse_attribute_value(match.group(2)[1:-1].encode("utf-8"))
            except XcapConflict as exc:
                raise XcapError(400, f"bad attribute value in the node selector: {exc}") from None
            test = (attr_name, value)
            position = match.end()
        steps.append(Step(name, number, test, text[start:position]))
        if position == length:
            break
        if text[position] != "/" or position + 1 == length:
            raise XcapError(400, f"malformed node selector at offset {position}")
        position += 1
    if not steps:
        raise XcapError(400, "a node selector needs at least one element step")
    return NodeSelector(tuple(steps), attribute, namespaces)


# -- evaluation ------------------------------------------------------------------------------


def element_at(root: XmlElement, path: Path) -> XmlElement:
    """The element at ``path`` (non-empty, starting with 0 for the root)."""
    element = root
    for index in path[1:]:
        element = element.children[index]
    return element


def _children(root: XmlElement, path: Path) -> tuple[XmlElement, ...]:
    # The document node has one child: the root element.
    return (root,) if not path else element_at(root, path).children


def _step(root: XmlElement, parent: Path, step: Step) -> list[Path]:
    children = _children(root, parent)
    matched = [i for i, child in enumerate(children) if step.matches_name(child)]
    if step.position is not None:
        matched = matched[step.position - 1 : step.position] if step.position >= 1 else []
    if step.attribute is not None:
        name, value = step.attribute
        matched = [i for i in matched if children[i].get(name) == value]
    return [(*parent, i) for i in matched]


def select(root: XmlElement, steps: Sequence[Step]) -> list[Path]:
    """Every element the steps select, in document order."""
    current: list[Path] = [()]
    for step in steps:
        current = [path for parent in current for path in _step(root, parent, step)]
        if not current:
            break
    return current


def _one(root: XmlElement, steps: Sequence[Step]) -> Path:
    found = select(root, steps)
    if not found:
        raise XcapError(404, "the node selector selects no element")
    if len(found) > 1:
        # §6.3: a node selector identifies one node; one matching several names no
        # resource, so it is answered like one matching none.
        raise XcapError(404, "the node selector selects more than one element")
    return found[0]


# -- tree surgery ------------------------------------------------------------------------------


def _rebuild(root: XmlElement, path: Path, change: _Change) -> XmlElement:
    """``root`` with the children of the element at ``path`` changed by ``change``."""
    if len(path) == 1:
        return replace(root, children=change(root.children))
    child = root.children[path[1]]
    rebuilt = _rebuild_child(child, path[2:], change)
    children = list(root.children)
    children[path[1]] = rebuilt
    return replace(root, children=tuple(children))


def _rebuild_child(element: XmlElement, rest: Path, change: _Change) -> XmlElement:
    if not rest:
        return replace(element, children=change(element.children))
    children = list(element.children)
    children[rest[0]] = _rebuild_child(children[rest[0]], rest[1:], change)
    return replace(element, children=tuple(children))


class _Change:
    """A function from a children tuple to a new one (a class for the type checker)."""

    def __init__(self, index: int, new: XmlElement | None, insert: bool) -> None:
        self.index = index
        self.new = new
        self.insert = insert

    def __call__(self, children: tuple[XmlElement, ...]) -> tuple[XmlElement, ...]:
        items = list(children)
        if self.insert:
            assert self.new is not None
            items.insert(self.index, self.new)
        elif self.new is not None:
            old = items[self.index]
            items[self.index] = replace(self.new, tail=old.tail)
        else:
            del items[self.index]
        return tuple(items)


def _replace_root(root: XmlElement, new: XmlElement | None) -> XmlElement:
    if new is None:
        raise XcapConflict.cannot_delete("a document cannot lose its root element")
    return new


def _with_element(root: XmlElement, path: Path, new: XmlElement | None) -> XmlElement:
    """``root`` with the element at ``path`` replaced by ``new`` (removed if None)."""
    if len(path) == 1:
        return _replace_root(root, new)
    return _rebuild(root, path[:-1], _Change(path[-1], new, insert=False))


def _set_attribute(element: XmlElement, name: str, value: str | None) -> XmlElement:
    attrib = tuple((k, v) for k, v in element.attrib if k != name)
    if value is not None:
        attrib = (*attrib, (name, value))
    return replace(element, attrib=tuple(sorted(attrib)))


# -- operations --------------------------------------------------------------------------------


def get_node(root: XmlElement, selector: NodeSelector) -> XmlElement | str:
    """The element, or the attribute value, ``selector`` picks out (RFC 4825 §7.6, §7.9);
    404 when it picks nothing or several."""
    if selector.namespaces:
        # The parsed tree keeps namespaces, not the prefixes a document declared, so
        # there are no bindings to report faithfully (RFC 4825 §7.10).
        raise XcapError(404, "namespace bindings are not available")
    element = element_at(root, _one(root, selector.steps))
    if selector.attribute is None:
        return element
    value = element.get(selector.attribute)
    if value is None:
        raise XcapError(404, "the element has no such attribute")
    return value


def _insertion_index(siblings: tuple[XmlElement, ...], step: Step, element: XmlElement) -> int:
    """Where a new element goes among ``siblings`` (RFC 4825 §8.2.3).

    With a position, it becomes the n-th of the children the step's name matches: placed
    before the one now n-th, or right after the last of them when it would be one more
    than their number. Without one, it goes after the last sibling of its own name, or
    after every child if it has none.
    """
    if step.position is not None:
        same = [i for i, child in enumerate(siblings) if step.matches_name(child)]
        wanted = step.position
        if wanted < 1 or wanted > len(same) + 1:
            raise XcapConflict.cannot_insert(f"position {wanted} is out of range")
        if wanted <= len(same):
            return same[wanted - 1]
        return same[-1] + 1 if same else len(siblings)
    same = [i for i, child in enumerate(siblings) if child.tag == element.tag]
    return same[-1] + 1 if same else len(siblings)


def put_element(
    root: XmlElement, selector: NodeSelector, element: XmlElement, *, document_uri: str
) -> tuple[XmlElement, bool]:
    """Replace or insert ``element`` where ``selector`` points (RFC 4825 §7.4, §8.2.1-§8.2.4).

    Returns the new root and whether the element was created. Raises ``<no-parent>``
    when the parent does not exist (with the URI of the closest ancestor that does, under
    ``document_uri``), and ``<cannot-insert>`` when afterwards the selector would not
    pick out exactly this element (the GET-after-PUT rule of §7.4).
    """
    steps = selector.steps
    found = select(root, steps)
    if len(found) > 1:
        raise XcapConflict.cannot_insert("the node selector selects more than one element")
    if found:
        path = found[0]
        new_root = _with_element(root, path, element)
        created = False
    else:
        if len(steps) == 1:
            # Only the root could go here, and the document already has one.
            raise XcapConflict.cannot_insert("the document already has a root element")
        parents = select(root, steps[:-1])
        if len(parents) != 1:
            ancestor = _deepest_ancestor(root, steps)
            raise XcapConflict.no_parent(_node_uri(document_uri, ancestor))
        parent = parents[0]
        siblings = element_at(root, parent).children
        index = _insertion_index(siblings, steps[-1], element)
        new_root = _rebuild(root, parent, _Change(index, element, insert=True))
        path = (*parent, index)
        created = True
    if select(new_root, steps) != [path]:
        raise XcapConflict.cannot_insert(
            "the node selector would not select the element put (RFC 4825 §7.4)"
        )
    return new_root, created


def put_attribute(root: XmlElement, selector: NodeSelector, value: str) -> tuple[XmlElement, bool]:
    """Set the attribute ``selector`` names on the element it picks (RFC 4825 §7.7)."""
    assert selector.attribute is not None
    path = _one(root, selector.steps)
    element = element_at(root, path)
    created = element.get(selector.attribute) is None
    new_root = _with_element(root, path, _set_attribute(element, selector.attribute, value))
    if select(new_root, selector.steps) != [path]:
        raise XcapConflict.cannot_insert("the element would no longer be selected")
    return new_root, created


def delete_node(root: XmlElement, selector: NodeSelector) -> XmlElement:
    """Remove the element or attribute ``selector`` picks (RFC 4825 §7.5, §7.8, §8.4); a
    ``<cannot-delete>`` if afterwards it would still select something (deleting the
    first of several ``entry[1]`` would make the next one ``entry[1]``)."""
    if selector.namespaces:
        raise XcapError(405, "namespace bindings cannot be deleted", [("Allow", "GET")])
    path = _one(root, selector.steps)
    if selector.attribute is None:
        new_root = _with_element(root, path, None)
        if select(new_root, selector.steps):
            raise XcapConflict.cannot_delete("the node selector would still select an element")
        return new_root
    element = element_at(root, path)
    if element.get(selector.attribute) is None:
        raise XcapError(404, "the element has no such attribute")
    # Once removed, the attribute is selected by nothing: no cannot-delete case here.
    return _with_element(root, path, _set_attribute(element, selector.attribute, None))


# -- naming positions --------------------------------------------------------------------------


def _node_uri(document_uri: str, steps: Sequence[Step]) -> str:
    if not steps:
        return document_uri
    node = "/".join(step.text for step in steps)
    return f"{document_uri}/~~/{quote(node, safe=_SELECTOR_SAFE)}"


def _deepest_ancestor(root: XmlElement, steps: Sequence[Step]) -> Sequence[Step]:
    for count in range(len(steps) - 1, 0, -1):
        if len(select(root, steps[:count])) == 1:
            return steps[:count]
    return ()


def node_path_text(root: XmlElement, path: Path, default_namespace: str | None) -> str:
    """A node selector naming the element at ``path`` by name and position, such as
    ``resource-lists/list[1]/entry[2]`` (used in ``<exists field=...>``)."""
    parts: list[str] = []
    siblings: tuple[XmlElement, ...] = (root,)
    for index in path:
        element = siblings[index]
        rank = sum(1 for other in siblings[: index + 1] if other.tag == element.tag)
        parts.append(f"{_qualified(element.tag, default_namespace)}[{rank}]")
        siblings = element.children
    return "/".join(parts)


def _qualified(tag: str, default_namespace: str | None) -> str:
    namespace, local = split_qname(tag)
    if namespace is None or namespace == default_namespace:
        return local
    prefix = namespace_prefix(namespace)
    return f"{prefix}:{local}" if prefix else local
