"""RFC 5025 presence authorization rules over RFC 4745 common policy: documents,
evaluation and one-watcher rule editing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from payload_vectors import round_trip, vector

from parley.payloads import PayloadError, presrules
from parley.payloads.presrules import (
    PROVIDE_ALL,
    Actions,
    Conditions,
    Except,
    Identity,
    Many,
    One,
    Rule,
    Ruleset,
    SubHandling,
    Validity,
)
from parley.payloads.xml import XmlElement

PR = presrules.NAMESPACE


def test_rfc5025_example() -> None:
    ruleset = presrules.parse(vector("rfc5025_example.xml"))
    (rule,) = ruleset.rules
    assert rule.id == "a"
    assert rule.conditions == Conditions(Identity((One("sip:user@example.com"),)))
    assert rule.actions == Actions(SubHandling.ALLOW)
    assert rule.transformations is not None
    assert [t.local_name for t in rule.transformations] == [
        "provide-services",
        "provide-persons",
        "provide-activities",
        "provide-user-input",
        "provide-unknown-attribute",
    ]
    data = round_trip(ruleset, presrules.serialize, presrules.parse)
    assert b'<ruleset xmlns="urn:ietf:params:xml:ns:common-policy"' in data
    assert b"<pr:sub-handling>allow</pr:sub-handling>" in data
    assert ruleset.decision_for("sip:user@example.com") == "allow"
    assert ruleset.decision_for("sip:other@example.com") == "block"
    assert presrules.CONTENT_TYPE == "application/auth-policy+xml"


def _rules() -> Ruleset:
    return presrules.parse(vector("parley_pres_rules.xml"))


def test_parley_vector_round_trips() -> None:
    ruleset = _rules()
    assert [r.id for r in ruleset.rules] == [
        "academy",
        "chebychev",
        "rival",
        "lecture-term",
        "at-work",
        "oma-anonymous",
    ]
    academy = ruleset.rules[0].conditions
    assert academy is not None and academy.identity == Identity(
        (Many("academy.ru", (Except(id="sip:rival@academy.ru"),)),)
    )
    term = ruleset.rules[3].conditions
    assert term is not None and term.validity == Validity(
        ((datetime(2012, 2, 1, tzinfo=UTC), datetime(2012, 6, 1, tzinfo=UTC)),)
    )
    round_trip(ruleset, presrules.serialize, presrules.parse)


@pytest.mark.parametrize(
    ("watcher", "kwargs", "expected"),
    [
        # the highest value of the applicable rules wins (allow 30 > confirm 10)
        ("sip:chebychev@academy.ru", {}, "allow"),
        ("<sip:chebychev@ACADEMY.ru;transport=tcp>", {}, "allow"),
        ("sip:Chebychev@academy.ru", {}, "confirm"),  # the user part is case-sensitive
        ("sip:markov@academy.ru", {}, "confirm"),
        # excepted from the domain rule, and its own rule says polite-block
        ("sip:rival@academy.ru", {}, "polite-block"),
        # nothing applies: RFC 5025's default, or the caller's
        ("sip:someone@example.com", {}, "block"),
        ("sip:someone@example.com", {"default": SubHandling.CONFIRM}, "confirm"),
        # validity needs a time, and the right one
        ("sip:student@students.academy.ru", {}, "block"),
        ("sip:student@students.academy.ru", {"now": datetime(2012, 3, 1, tzinfo=UTC)}, "allow"),
        ("sip:student@students.academy.ru", {"now": datetime(2012, 7, 1, tzinfo=UTC)}, "block"),
        ("sip:student@students.academy.ru", {"now": datetime(2012, 3, 1)}, "allow"),  # naive=UTC
        # sphere needs the presentity's sphere, and the right one
        ("sip:laplace@probability.org", {}, "block"),
        ("sip:laplace@probability.org", {"sphere": "work"}, "allow"),
        ("sip:laplace@probability.org", {"sphere": "home"}, "block"),
    ],
)
def test_decision_for(watcher: str, kwargs: dict[str, object], expected: str) -> None:
    assert _rules().decision_for(watcher, **kwargs) == expected  # type: ignore[arg-type]


def test_an_unknown_condition_never_applies() -> None:
    ruleset = _rules()
    applicable = ruleset.matching_rules("sip:anyone@anywhere.example")
    assert "oma-anonymous" not in [r.id for r in applicable]


def test_rules_without_conditions_or_actions() -> None:
    ruleset = Ruleset(
        (
            Rule("everyone", None, Actions(SubHandling.CONFIRM)),
            Rule("empty", Conditions(), None, ()),
            Rule("no-value", Conditions(Identity((Many(),))), Actions()),
        )
    )
    assert ruleset.decision_for("tel:+15551234") == "confirm"
    assert len(ruleset.matching_rules("sip:x@y")) == 3
    round_trip(ruleset, presrules.serialize, presrules.parse)


def test_many_with_a_domain_exception() -> None:
    ruleset = Ruleset(
        (
            Rule(
                "r",
                Conditions(Identity((Many(excepts=(Except(domain="spam.example"),)),))),
                Actions(SubHandling.ALLOW),
            ),
        )
    )
    assert ruleset.decision_for("sip:a@good.example") == "allow"
    assert ruleset.decision_for("sip:a@spam.example:5060") == "block"
    assert ruleset.decision_for("sip:a@[2001:db8::1]") == "allow"


def test_with_rule_for_adds_a_rule_with_full_transformations() -> None:
    ruleset = Ruleset().with_rule_for("sip:chebychev@academy.ru", "allow")
    (rule,) = ruleset.rules
    assert rule.conditions == Conditions(Identity((One("sip:chebychev@academy.ru"),)))
    assert rule.actions == Actions(SubHandling.ALLOW)
    assert rule.transformations == PROVIDE_ALL
    assert ruleset.rule_for("sip:chebychev@academy.ru") == rule
    assert ruleset.decision_for("sip:chebychev@academy.ru") == SubHandling.ALLOW
    round_trip(ruleset, presrules.serialize, presrules.parse)
    blocked = Ruleset().with_rule_for("sip:x@y", SubHandling.BLOCK, rule_id="x")
    assert blocked.rules == (
        Rule("x", Conditions(Identity((One("sip:x@y"),))), Actions(SubHandling.BLOCK)),
    )


def test_with_rule_for_replaces_in_place_and_drops_duplicates() -> None:
    extra = XmlElement(f"{{{PR}}}provide-note", text="true")
    base = Ruleset(
        (
            Rule(
                "first",
                Conditions(Identity((One("sip:w@x"),))),
                Actions(SubHandling.ALLOW, (extra,)),
                (extra,),
            ),
            Rule("other", None, Actions(SubHandling.CONFIRM)),
            Rule(
                "dup",
                Conditions(Identity((One("sip:w@X;transport=udp"),))),
                Actions(SubHandling.ALLOW),
            ),
        )
    )
    changed = base.with_rule_for("sip:w@x", SubHandling.POLITE_BLOCK)
    assert [r.id for r in changed.rules] == ["first", "other"]
    first = changed.rules[0]
    assert first.actions == Actions(SubHandling.POLITE_BLOCK, (extra,))
    assert first.transformations == (extra,)  # kept when not given
    assert changed.decision_for("sip:w@x") == "polite-block"
    replaced = changed.with_rule_for("sip:w@x", "allow", transformations=PROVIDE_ALL)
    assert replaced.rules[0].transformations == PROVIDE_ALL
    assert base.without_rule_for("sip:w@x").rules == (base.rules[1],)


def test_generated_rule_ids_do_not_collide() -> None:
    first = Ruleset().with_rule_for("sip:a@b", "allow")
    clash = Ruleset((Rule(first.rules[0].id),))
    second = clash.with_rule_for("sip:a@b", "allow")
    assert len({r.id for r in second.rules}) == 2


def test_sub_handling_ranks() -> None:
    assert [s.rank for s in SubHandling] == [0, 10, 20, 30]
    with pytest.raises(ValueError):
        Ruleset().with_rule_for("sip:a@b", "maybe")


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b'<ruleset xmlns="urn:x"/>', "not a common-policy"),
        (b'<ruleset xmlns="urn:ietf:params:xml:ns:common-policy"><rule/></ruleset>', "id"),
        (
            b'<ruleset xmlns="urn:ietf:params:xml:ns:common-policy" '
            b'xmlns:pr="urn:ietf:params:xml:ns:pres-rules"><rule id="a"><actions>'
            b"<pr:sub-handling>maybe</pr:sub-handling></actions></rule></ruleset>",
            "sub-handling",
        ),
        (
            b'<ruleset xmlns="urn:ietf:params:xml:ns:common-policy"><rule id="a">'
            b"<conditions/><conditions/></rule></ruleset>",
            "repeats",
        ),
        (
            b'<ruleset xmlns="urn:ietf:params:xml:ns:common-policy"><rule id="a"><conditions>'
            b"<validity><from>2012-01-01T00:00:00Z</from></validity></conditions></rule>"
            b"</ruleset>",
            "unpaired",
        ),
        (
            b'<ruleset xmlns="urn:ietf:params:xml:ns:common-policy"><rule id="a"><conditions>'
            b"<identity><one/></identity></conditions></rule></ruleset>",
            "id",
        ),
        (
            b'<ruleset xmlns="urn:ietf:params:xml:ns:common-policy"><rule id="a"><conditions>'
            b"<sphere/></conditions></rule></ruleset>",
            "value",
        ),
    ],
)
def test_invalid_documents(doc: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        presrules.parse(doc)
