"""RFC 5025 presence authorization rules over RFC 4745 common policy
(``application/auth-policy+xml``): who may watch a presentity, and how a subscription
from them is handled.

What is modelled: rules with identity (``<one>``, ``<many>`` with ``<except>``), sphere
and validity conditions, and the ``<sub-handling>`` action. Transformations (what a
watcher may see) are kept as opaque elements: Parley stores and returns them, and
:data:`PROVIDE_ALL` grants everything. Unknown conditions and actions are kept too.

:meth:`Ruleset.decision_for` evaluates the rules for a watcher (RFC 4745 §10):
a rule applies when all its conditions hold, and the actions of the applicable rules
combine by taking the highest ``sub-handling`` (block 0 < confirm 10 < polite-block 20
< allow 30, RFC 5025 §3.2.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from .errors import PayloadError
from .xml import (
    MAX_DOCUMENT_BYTES,
    XmlElement,
    format_datetime,
    parse_datetime,
    parse_xml,
    qname,
    register_namespace,
    serialize_xml,
)

__all__ = [
    "COMMON_POLICY_NAMESPACE",
    "CONTENT_TYPE",
    "NAMESPACE",
    "PROVIDE_ALL",
    "Actions",
    "Conditions",
    "Except",
    "Identity",
    "Many",
    "One",
    "Rule",
    "Ruleset",
    "SubHandling",
    "Validity",
    "parse",
    "serialize",
]

CONTENT_TYPE = "application/auth-policy+xml"
NAMESPACE = "urn:ietf:params:xml:ns:pres-rules"
COMMON_POLICY_NAMESPACE = "urn:ietf:params:xml:ns:common-policy"
register_namespace(NAMESPACE, "pr")
register_namespace(COMMON_POLICY_NAMESPACE, "cp")


def _cp(local: str) -> str:
    return qname(COMMON_POLICY_NAMESPACE, local)


def _pr(local: str) -> str:
    return qname(NAMESPACE, local)


_RULESET, _RULE, _CONDITIONS, _ACTIONS, _TRANSFORMATIONS = map(
    _cp, ("ruleset", "rule", "conditions", "actions", "transformations")
)
_IDENTITY, _ONE, _MANY, _EXCEPT, _SPHERE, _VALIDITY, _FROM, _UNTIL = map(
    _cp, ("identity", "one", "many", "except", "sphere", "validity", "from", "until")
)
_SUB_HANDLING = _pr("sub-handling")


class SubHandling(StrEnum):
    """RFC 5025 §3.2.1: what to do with a subscription. Compares equal to its RFC
    name (``SubHandling.ALLOW == "allow"``)."""

    BLOCK = "block"
    CONFIRM = "confirm"
    POLITE_BLOCK = "polite-block"
    ALLOW = "allow"

    @property
    def rank(self) -> int:
        """The §3.2.1 value the combining rule maximises."""
        return _RANK[self]


_RANK = {
    SubHandling.BLOCK: 0,
    SubHandling.CONFIRM: 10,
    SubHandling.POLITE_BLOCK: 20,
    SubHandling.ALLOW: 30,
}

#: Transformations that let a watcher see everything (RFC 5025 §3.3): all services,
#: persons and devices, with all their attributes.
PROVIDE_ALL: tuple[XmlElement, ...] = (
    XmlElement(_pr("provide-services"), children=(XmlElement(_pr("all-services")),)),
    XmlElement(_pr("provide-persons"), children=(XmlElement(_pr("all-persons")),)),
    XmlElement(_pr("provide-devices"), children=(XmlElement(_pr("all-devices")),)),
    XmlElement(_pr("provide-all-attributes")),
)


@dataclass(frozen=True)
class One:
    """RFC 4745 §7.1.1 ``<one id=...>``: exactly this identity."""

    id: str
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class Except:
    """§7.1.2 ``<except>``: leaves a domain or one identity out of a ``<many>``."""

    domain: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Many:
    """§7.1.2 ``<many>``: every identity (of ``domain`` when given) but the excepted."""

    domain: str | None = None
    excepts: tuple[Except, ...] = ()
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class Identity:
    """§7.1 ``<identity>``: holds when any member matches the watcher."""

    members: tuple[One | Many, ...] = ()
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class Validity:
    """§7.3 ``<validity>``: ``(from, until)`` periods during which the rule applies."""

    periods: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(frozen=True)
class Conditions:
    """§7 ``<conditions>``: all present conditions must hold. Extension conditions
    Parley does not know never hold (§10.1: a rule with a condition the server does not
    understand must not grant anything)."""

    identity: Identity | None = None
    sphere: str | None = None
    validity: Validity | None = None
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class Actions:
    """§8 ``<actions>``: RFC 5025's ``sub_handling`` plus any other actions, kept."""

    sub_handling: SubHandling | None = None
    extensions: tuple[XmlElement, ...] = ()


@dataclass(frozen=True)
class Rule:
    """§6 ``<rule>``. ``conditions`` ``None`` (or empty) means the rule always applies;
    ``transformations`` ``None`` means the element is absent."""

    id: str
    conditions: Conditions | None = None
    actions: Actions | None = None
    transformations: tuple[XmlElement, ...] | None = None


# ------------------------------------------------------------------- evaluation


def _normalised(uri: str) -> str:
    """An identity as RFC 4745 §7.1.1 compares it: no brackets, parameters or
    headers; scheme and host in lower case (the user part stays case-sensitive)."""
    value = uri.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    for stop in (";", "?", ">"):
        value = value.split(stop, 1)[0]
    scheme, colon, rest = value.partition(":")
    if not colon:
        return value
    user, at, host = rest.rpartition("@")
    return f"{scheme.lower()}:{user}{at}{host.lower()}"


def _domain(uri: str) -> str:
    rest = _normalised(uri).partition(":")[2]
    host = rest.rpartition("@")[2]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _member_matches(member: One | Many, identity: str, domain: str) -> bool:
    if isinstance(member, One):
        return _normalised(member.id) == identity
    if member.domain is not None and member.domain.strip().lower() != domain:
        return False
    for excepted in member.excepts:
        if excepted.domain is not None and excepted.domain.strip().lower() == domain:
            return False
        if excepted.id is not None and _normalised(excepted.id) == identity:
            return False
    return True


def _applies(rule: Rule, watcher_uri: str, now: datetime | None, sphere: str | None) -> bool:
    conditions = rule.conditions
    if conditions is None:
        return True
    if conditions.extensions:
        return False
    if conditions.identity is not None:
        identity = _normalised(watcher_uri)
        domain = _domain(watcher_uri)
        if not any(_member_matches(m, identity, domain) for m in conditions.identity.members):
            return False
    if conditions.sphere is not None and (
        sphere is None or sphere not in conditions.sphere.split()
    ):
        return False
    if conditions.validity is not None:
        if now is None:
            return False
        moment = _aware(now)
        if not any(
            _aware(start) <= moment < _aware(end) for start, end in conditions.validity.periods
        ):
            return False
    return True


def _watcher_rule_of(rule: Rule) -> str | None:
    """The watcher a rule is about when it is just ``<identity><one id=.../>``."""
    conditions = rule.conditions
    if conditions is None or conditions.identity is None:
        return None
    if conditions.sphere or conditions.validity or conditions.extensions:
        return None
    identity = conditions.identity
    if identity.extensions or len(identity.members) != 1:
        return None
    member = identity.members[0]
    return _normalised(member.id) if isinstance(member, One) else None


@dataclass(frozen=True)
class Ruleset:
    """§6 ``<ruleset>``: a presentity's authorization rules."""

    rules: tuple[Rule, ...] = ()

    def matching_rules(
        self,
        watcher_uri: str,
        *,
        now: datetime | None = None,
        sphere: str | None = None,
    ) -> tuple[Rule, ...]:
        """The rules that apply to a subscription from ``watcher_uri`` (an
        authenticated identity) at ``now``, while the presentity is in ``sphere``.
        Rules with a validity condition never apply without ``now``, nor rules with a
        sphere condition without ``sphere``."""
        return tuple(r for r in self.rules if _applies(r, watcher_uri, now, sphere))

    def decision_for(
        self,
        watcher_uri: str,
        *,
        now: datetime | None = None,
        sphere: str | None = None,
        default: SubHandling = SubHandling.BLOCK,
    ) -> SubHandling:
        """How to handle a subscription from ``watcher_uri``: the highest
        ``sub-handling`` among the applicable rules, or ``default`` when no applicable
        rule says. RFC 5025 §3.2.1 makes that ``block``; a presence agent that wants
        unknown watchers to wait for the user's approval passes ``confirm``."""
        values = [
            rule.actions.sub_handling
            for rule in self.matching_rules(watcher_uri, now=now, sphere=sphere)
            if rule.actions is not None and rule.actions.sub_handling is not None
        ]
        return max(values, key=lambda v: v.rank) if values else default

    def rule_for(self, watcher_uri: str) -> Rule | None:
        """The rule written for this one watcher (an identity condition naming just
        them, and no other condition), if any."""
        wanted = _normalised(watcher_uri)
        return next((r for r in self.rules if _watcher_rule_of(r) == wanted), None)

    def with_rule_for(
        self,
        watcher_uri: str,
        sub_handling: SubHandling | str,
        *,
        transformations: Iterable[XmlElement] | None = None,
        rule_id: str | None = None,
    ) -> Ruleset:
        """A copy where the one-watcher rule for ``watcher_uri`` has ``sub_handling``.

        An existing such rule is updated in place (its other actions kept, its
        transformations replaced only when given) and duplicates of it dropped; else a
        rule is appended, with ``transformations`` or, for ``allow``,
        :data:`PROVIDE_ALL` (RFC 5025 grants nothing a rule does not provide).
        Other rules are untouched: since values combine by maximum, ``block`` for one
        watcher does not override a broader rule that allows them.
        """
        handling = SubHandling(sub_handling)
        wanted = _normalised(watcher_uri)
        given = tuple(transformations) if transformations is not None else None
        rules: list[Rule] = []
        updated = False
        for rule in self.rules:
            if _watcher_rule_of(rule) != wanted:
                rules.append(rule)
                continue
            if updated:
                continue
            actions = replace(rule.actions or Actions(), sub_handling=handling)
            kept = rule.transformations if given is None else given
            rules.append(replace(rule, actions=actions, transformations=kept))
            updated = True
        if not updated:
            if given is None and handling is SubHandling.ALLOW:
                given = PROVIDE_ALL
            rules.append(
                Rule(
                    rule_id or self._new_rule_id(wanted),
                    Conditions(Identity((One(wanted),))),
                    Actions(handling),
                    given,
                )
            )
        return Ruleset(tuple(rules))

    def without_rule_for(self, watcher_uri: str) -> Ruleset:
        """A copy without the one-watcher rules for ``watcher_uri``."""
        wanted = _normalised(watcher_uri)
        return Ruleset(tuple(r for r in self.rules if _watcher_rule_of(r) != wanted))

    def _new_rule_id(self, identity: str) -> str:
        taken = {rule.id for rule in self.rules}
        base = "w" + hashlib.sha256(identity.encode()).hexdigest()[:12]
        candidate, counter = base, 1
        while candidate in taken:
            candidate, counter = f"{base}-{counter}", counter + 1
        return candidate


# --------------------------------------------------------------------------- parsing


def _required(element: XmlElement, name: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise PayloadError(f"policy <{element.local_name}> lacks its {name} attribute")
    return value


def _once(element: XmlElement, tag: str) -> XmlElement | None:
    found = element.findall(tag)
    if len(found) > 1:
        raise PayloadError(f"policy <{element.local_name}> repeats <{found[0].local_name}>")
    return found[0] if found else None


def _identity(element: XmlElement) -> Identity:
    members: list[One | Many] = []
    extensions: list[XmlElement] = []
    for child in element.children:
        if child.tag == _ONE:
            members.append(One(_required(child, "id"), child.children))
        elif child.tag == _MANY:
            excepts = tuple(Except(e.get("domain"), e.get("id")) for e in child.findall(_EXCEPT))
            others = tuple(c for c in child.children if c.tag != _EXCEPT)
            members.append(Many(child.get("domain"), excepts, others))
        else:
            extensions.append(child)
    return Identity(tuple(members), tuple(extensions))


def _validity(element: XmlElement) -> Validity:
    starts = [parse_datetime(c.text or "", "validity from") for c in element.findall(_FROM)]
    ends = [parse_datetime(c.text or "", "validity until") for c in element.findall(_UNTIL)]
    if len(starts) != len(ends):
        raise PayloadError("policy <validity> has unpaired <from>/<until>")
    return Validity(tuple(zip(starts, ends, strict=True)))


def _conditions(element: XmlElement) -> Conditions:
    identity = _once(element, _IDENTITY)
    sphere = _once(element, _SPHERE)
    validity = _once(element, _VALIDITY)
    known = (_IDENTITY, _SPHERE, _VALIDITY)
    return Conditions(
        _identity(identity) if identity is not None else None,
        _required(sphere, "value") if sphere is not None else None,
        _validity(validity) if validity is not None else None,
        tuple(child for child in element.children if child.tag not in known),
    )


def _actions(element: XmlElement) -> Actions:
    sub_handling: SubHandling | None = None
    node = _once(element, _SUB_HANDLING)
    if node is not None:
        value = (node.text or "").strip()
        try:
            sub_handling = SubHandling(value)
        except ValueError:
            raise PayloadError(f"unknown sub-handling value: {value!r}") from None
    others = tuple(child for child in element.children if child.tag != _SUB_HANDLING)
    return Actions(sub_handling, others)


def _rule(element: XmlElement) -> Rule:
    conditions = _once(element, _CONDITIONS)
    actions = _once(element, _ACTIONS)
    transformations = _once(element, _TRANSFORMATIONS)
    return Rule(
        _required(element, "id"),
        _conditions(conditions) if conditions is not None else None,
        _actions(actions) if actions is not None else None,
        transformations.children if transformations is not None else None,
    )


def parse(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Ruleset:
    """Decode an ``application/auth-policy+xml`` body; :class:`PayloadError` if bad."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != _RULESET:
        raise PayloadError(f"not a common-policy ruleset: the root element is {root.tag}")
    return Ruleset(tuple(_rule(child) for child in root.findall(_RULE)))


# ----------------------------------------------------------------------- serializing


def _identity_xml(identity: Identity) -> XmlElement:
    members = [
        XmlElement.make(_ONE, {"id": m.id}, m.extensions)
        if isinstance(m, One)
        else XmlElement.make(
            _MANY,
            {"domain": m.domain},
            [
                *(XmlElement.make(_EXCEPT, {"domain": e.domain, "id": e.id}) for e in m.excepts),
                *m.extensions,
            ],
        )
        for m in identity.members
    ]
    return XmlElement.make(_IDENTITY, children=[*members, *identity.extensions])


def _conditions_xml(conditions: Conditions) -> XmlElement:
    children: list[XmlElement] = []
    if conditions.identity is not None:
        children.append(_identity_xml(conditions.identity))
    if conditions.sphere is not None:
        children.append(XmlElement.make(_SPHERE, {"value": conditions.sphere}))
    if conditions.validity is not None:
        periods: list[XmlElement] = []
        for start, end in conditions.validity.periods:
            periods.append(XmlElement.make(_FROM, text=format_datetime(start)))
            periods.append(XmlElement.make(_UNTIL, text=format_datetime(end)))
        children.append(XmlElement.make(_VALIDITY, children=periods))
    return XmlElement.make(_CONDITIONS, children=[*children, *conditions.extensions])


def _rule_xml(rule: Rule) -> XmlElement:
    children: list[XmlElement] = []
    if rule.conditions is not None:
        children.append(_conditions_xml(rule.conditions))
    if rule.actions is not None:
        actions = list(rule.actions.extensions)
        if rule.actions.sub_handling is not None:
            value = rule.actions.sub_handling.value
            actions.insert(0, XmlElement.make(_SUB_HANDLING, text=value))
        children.append(XmlElement.make(_ACTIONS, children=actions))
    if rule.transformations is not None:
        children.append(XmlElement.make(_TRANSFORMATIONS, children=rule.transformations))
    return XmlElement.make(_RULE, {"id": rule.id}, children)


def serialize(ruleset: Ruleset, *, pretty: bool = True) -> bytes:
    """Encode ``ruleset`` as ``application/auth-policy+xml``."""
    root = XmlElement.make(_RULESET, children=map(_rule_xml, ruleset.rules))
    return serialize_xml(root, pretty=pretty)
