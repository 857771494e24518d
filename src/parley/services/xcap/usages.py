"""XCAP application usages (RFC 4825 §5): what each AUID stores and how it is checked.

* ``resource-lists`` (RFC 4826 §3.4): buddy lists, ``application/resource-lists+xml``;
* ``pres-rules`` (RFC 5025 §9): presence authorization rules over common policy
  (RFC 4745), ``application/auth-policy+xml``;
* ``xcap-caps`` (RFC 4825 §12): the server's capabilities, one read-only global document.

Validation (RFC 4825 §5.3, §8.2.5) runs the project's codecs (:mod:`parley.payloads.resourcelists`,
:mod:`parley.payloads.presrules`), which refuse what their RFC does not allow, then the
structure and uniqueness constraints the usages add. Schemas themselves (XSD) are not
run: the codecs and these checks are the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from parley.payloads import presrules, resourcelists
from parley.payloads.errors import PayloadError
from parley.payloads.xml import XmlElement, qname, register_namespace, serialize_xml

from .errors import ERROR_NAMESPACE, XcapConflict
from .selector import Path, node_path_text

__all__ = [
    "DEFAULT_USAGES",
    "PRES_RULES",
    "RESOURCE_LISTS",
    "XCAP_CAPS",
    "ApplicationUsage",
    "xcap_caps_document",
]

#: RFC 4825 §12.2 / §15.2.5.
XCAP_CAPS_NAMESPACE = "urn:ietf:params:xml:ns:xcap-caps"
XCAP_CAPS_CONTENT_TYPE = "application/xcap-caps+xml"
register_namespace(XCAP_CAPS_NAMESPACE, "xcaps")

Validator = Callable[[XmlElement, bytes], None]


@dataclass(frozen=True)
class ApplicationUsage:
    """One AUID (RFC 4825 §5.1): its MIME type, default namespace for node
    selectors (§5.2), the namespaces its documents use (advertised in xcap-caps), the
    prefixes in scope for element PUT bodies, and its validator, which raises
    :class:`XcapConflict` for a document it refuses. ``read_only`` usages serve only
    their global documents."""

    auid: str
    content_type: str
    default_namespace: str
    namespaces: tuple[str, ...]
    prefixes: Mapping[str, str] = field(default_factory=dict)
    validate: Validator | None = None
    read_only: bool = False


# -- resource-lists (RFC 4826) ---------------------------------------------------------------

_RL = resourcelists.NAMESPACE
_RL_ROOT = qname(_RL, "resource-lists")
_RL_LIST = qname(_RL, "list")
_RL_ENTRY = qname(_RL, "entry")
_RL_ENTRY_REF = qname(_RL, "entry-ref")
_RL_EXTERNAL = qname(_RL, "external")
_RL_DISPLAY_NAME = qname(_RL, "display-name")
#: RFC 4826 §3.4.5: which attribute must be unique among siblings of each element.
_RL_UNIQUE = {_RL_LIST: "name", _RL_ENTRY: "uri", _RL_ENTRY_REF: "ref", _RL_EXTERNAL: "anchor"}
#: RFC 4826 §3.3 schema: the elements of the namespace each element may contain.
_RL_CHILDREN = {
    None: frozenset({_RL_ROOT}),
    _RL_ROOT: frozenset({_RL_LIST}),
    _RL_LIST: frozenset({_RL_DISPLAY_NAME, _RL_LIST, _RL_ENTRY, _RL_ENTRY_REF, _RL_EXTERNAL}),
    _RL_ENTRY: frozenset({_RL_DISPLAY_NAME}),
    _RL_ENTRY_REF: frozenset({_RL_DISPLAY_NAME}),
    _RL_EXTERNAL: frozenset({_RL_DISPLAY_NAME}),
    _RL_DISPLAY_NAME: frozenset(),
}


def _check_structure(
    root: XmlElement, namespace: str, allowed: Mapping[str | None, frozenset[str]]
) -> None:
    """Elements of ``namespace`` only where ``allowed`` (parent tag -> child tags) puts
    them; foreign elements are extensions, allowed anywhere (RFC 4826 §3.3 ``##other``)."""
    stack: list[tuple[str | None, XmlElement]] = [(None, root)]
    while stack:
        parent, element = stack.pop()
        if element.namespace == namespace:
            if element.tag not in allowed.get(parent, frozenset()):
                where = "the root" if parent is None else f"<{parent.rpartition('}')[2]}>"
                raise XcapConflict.schema_validation_error(
                    f"<{element.local_name}> is not allowed in {where}"
                )
            if element.tag == _RL_DISPLAY_NAME and element.children:
                raise XcapConflict.schema_validation_error("<display-name> holds text only")
            stack.extend((element.tag, child) for child in element.children)


def _check_unique(
    root: XmlElement,
    rules: Mapping[str, str],
    default_namespace: str,
) -> None:
    """Within each parent, no two children of a tag in ``rules`` share the value of the
    attribute ``rules`` names for it; the first repeat is reported with its field."""
    stack: list[tuple[Path, XmlElement]] = [((0,), root)]
    while stack:
        path, element = stack.pop()
        seen: set[tuple[str, str]] = set()
        for index, child in enumerate(element.children):
            attribute = rules.get(child.tag)
            value = child.get(attribute) if attribute is not None else None
            if attribute is not None and value is not None:
                if (child.tag, value) in seen:
                    field_path = node_path_text(root, (*path, index), default_namespace)
                    raise XcapConflict.uniqueness_failure(
                        f"{field_path}/@{attribute}",
                        phrase=f"{attribute} {value!r} appears twice in one parent",
                    )
                seen.add((child.tag, value))
            stack.append(((*path, index), child))


def _check_references(root: XmlElement) -> None:
    # RFC 4826 §3.4.5: an entry-ref's ref is a relative path reference (from the XCAP
    # root), an external's anchor an absolute HTTP(S) URI.
    for element in root.iter():
        if element.tag == _RL_ENTRY_REF:
            ref = (element.get("ref") or "").strip()
            if ref.startswith("/") or ":" in ref.split("/", 1)[0]:
                raise XcapConflict.constraint_failure(f"entry-ref {ref!r} is not relative")
        elif element.tag == _RL_EXTERNAL:
            anchor = (element.get("anchor") or "").strip().lower()
            if anchor and not anchor.startswith(("http://", "https://")):
                raise XcapConflict.constraint_failure("an external anchor is an HTTP URI")


def _validate_resource_lists(root: XmlElement, data: bytes) -> None:
    try:
        resourcelists.parse(data)
    except PayloadError as exc:
        raise XcapConflict.schema_validation_error(exc.reason) from None
    _check_structure(root, _RL, _RL_CHILDREN)
    _check_unique(root, _RL_UNIQUE, _RL)
    _check_references(root)


RESOURCE_LISTS = ApplicationUsage(
    auid="resource-lists",
    content_type=resourcelists.CONTENT_TYPE,
    # RFC 4826 §3.4.4.
    default_namespace=_RL,
    namespaces=(_RL,),
    prefixes={"rl": _RL},
    validate=_validate_resource_lists,
)


# -- pres-rules (RFC 5025) -------------------------------------------------------------------

_CP = presrules.COMMON_POLICY_NAMESPACE
_PR = presrules.NAMESPACE
_CP_RULESET = qname(_CP, "ruleset")
_CP_RULE = qname(_CP, "rule")
_CP_CHILDREN = {
    None: frozenset({_CP_RULESET}),
    _CP_RULESET: frozenset({_CP_RULE}),
    _CP_RULE: frozenset({qname(_CP, n) for n in ("conditions", "actions", "transformations")}),
    qname(_CP, "conditions"): frozenset(
        {qname(_CP, n) for n in ("identity", "sphere", "validity")}
    ),
    qname(_CP, "identity"): frozenset({qname(_CP, "one"), qname(_CP, "many")}),
    qname(_CP, "many"): frozenset({qname(_CP, "except")}),
    qname(_CP, "validity"): frozenset({qname(_CP, "from"), qname(_CP, "until")}),
    qname(_CP, "one"): frozenset(),
    qname(_CP, "except"): frozenset(),
    qname(_CP, "sphere"): frozenset(),
    qname(_CP, "from"): frozenset(),
    qname(_CP, "until"): frozenset(),
    qname(_CP, "actions"): frozenset(),
    qname(_CP, "transformations"): frozenset(),
}


def _validate_pres_rules(root: XmlElement, data: bytes) -> None:
    try:
        presrules.parse(data)
    except PayloadError as exc:
        raise XcapConflict.schema_validation_error(exc.reason) from None
    _check_structure(root, _CP, _CP_CHILDREN)
    # RFC 4745 §6.1: a rule's id identifies it, so no two rules of a ruleset share one.
    _check_unique(root, {_CP_RULE: "id"}, _PR)


PRES_RULES = ApplicationUsage(
    auid="pres-rules",
    content_type=presrules.CONTENT_TYPE,
    # RFC 5025 §9.3: node selectors name pres-rules elements without a prefix; common
    # policy elements (ruleset, rule...) need one bound with xmlns() in the query.
    default_namespace=_PR,
    namespaces=(_CP, _PR),
    prefixes={"cp": _CP, "pr": _PR},
    validate=_validate_pres_rules,
)


# -- xcap-caps (RFC 4825 §12) ------------------------------------------------------------------

XCAP_CAPS = ApplicationUsage(
    auid="xcap-caps",
    content_type=XCAP_CAPS_CONTENT_TYPE,
    default_namespace=XCAP_CAPS_NAMESPACE,
    namespaces=(XCAP_CAPS_NAMESPACE,),
    read_only=True,
)

#: The usages this server offers, xcap-caps first.
DEFAULT_USAGES: tuple[ApplicationUsage, ...] = (XCAP_CAPS, RESOURCE_LISTS, PRES_RULES)


def xcap_caps_document(usages: Sequence[ApplicationUsage]) -> bytes:
    """The global ``index`` document of xcap-caps (RFC 4825 §12.2): every AUID and every
    namespace the server understands, error namespace included."""
    namespaces: list[str] = []
    for namespace in (
        *(ns for usage in usages for ns in usage.namespaces),
        ERROR_NAMESPACE,
    ):
        if namespace not in namespaces:
            namespaces.append(namespace)

    def caps(local: str) -> str:
        return qname(XCAP_CAPS_NAMESPACE, local)

    root = XmlElement.make(
        caps("xcap-caps"),
        children=[
            XmlElement.make(
                caps("auids"),
                children=[XmlElement.make(caps("auid"), text=u.auid) for u in usages],
            ),
            XmlElement.make(
                caps("namespaces"),
                children=[XmlElement.make(caps("namespace"), text=ns) for ns in namespaces],
            ),
        ],
    )
    return serialize_xml(root)
