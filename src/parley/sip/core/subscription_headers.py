"""The header fields of RFC 6665 §8.2: Event, Allow-Events and Subscription-State.

Each value parses from the text of one header field and serialises back with ``str()``. The
grammar is RFC 6665 §8.4's::

    Event              = ( "Event" / "o" ) HCOLON event-type *( SEMI event-param )
    event-type         = event-package *( "." event-template )
    event-package      = token-nodot
    event-template     = token-nodot
    token-nodot        = 1*( alphanum / "-" / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
    event-param        = generic-param / ( "id" EQUAL token )
    Allow-Events       = ( "Allow-Events" / "u" ) HCOLON event-type *( COMMA event-type )
    Subscription-State = "Subscription-State" HCOLON substate-value *( SEMI subexp-params )
    substate-value     = "active" / "pending" / "terminated" / extension-substate
    subexp-params      = ( "reason" EQUAL event-reason-value )
                       / ( "expires" EQUAL delta-seconds )
                       / ( "retry-after" EQUAL delta-seconds ) / generic-param
    event-reason-value = "deactivated" / "probation" / "rejected" / "timeout" / "giveup"
                       / "noresource" / "invariant" / event-reason-extension

Nothing here knows any event package: ``presence`` is just a token to this module.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from parley.sip.errors import ParseError
from parley.sip.syntax import Params
from parley.sip.syntax.abnf import LWS, TOKEN_RE, parse_uint, split_list

# §8.4: token-nodot is token without ".", so that "." can separate templates.
TOKEN_NODOT = r"[A-Za-z0-9\-!%*_+`'~]+"
#: §8.4: event-type = event-package *( "." event-template )
EVENT_TYPE_RE = re.compile(rf"{TOKEN_NODOT}(?:\.{TOKEN_NODOT})*")

ParamItems = tuple[tuple[str, str | None], ...]


class SubState(enum.StrEnum):
    """§8.2.3: the substate-values RFC 6665 defines (extension-substates stay plain text)."""

    ACTIVE = "active"
    PENDING = "pending"
    TERMINATED = "terminated"


class Reason(enum.StrEnum):
    """§8.2.3 / §4.1.3: why a subscription was terminated (event-reason-value)."""

    #: Retry at once with a new subscription (e.g. the notifier moved it elsewhere).
    DEACTIVATED = "deactivated"
    #: Retry later, no sooner than ``retry-after`` if given.
    PROBATION = "probation"
    #: Authorisation policy changed: do not retry.
    REJECTED = "rejected"
    #: Not refreshed in time (or unsubscribed): may retry at once.
    TIMEOUT = "timeout"
    #: Authorisation could not be had in time: retry later, after ``retry-after`` if given.
    GIVEUP = "giveup"
    #: The resource no longer exists: do not retry.
    NORESOURCE = "noresource"
    #: The resource state will never change: do not retry.
    INVARIANT = "invariant"


def _params(text: str) -> ParamItems:
    return tuple(Params.parse_generic(text))


def _format_params(params: ParamItems) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


# -- Event ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventHeader:
    """An Event header field value (§8.2.1, §7.2.1): package, templates, ``id`` and the
    other parameters as written.

    ``"presence.winfo;id=7"`` is package ``presence``, templates ``("winfo",)``, id ``7``.
    Two values name the same subscription when ``matches`` says so: the event types and the
    ``id`` parameters compare byte by byte, and no other parameter counts (§8.2.1).
    """

    package: str
    templates: tuple[str, ...] = ()
    id: str | None = None
    params: ParamItems = ()

    @classmethod
    def parse(cls, text: str) -> EventHeader:
        """Parse one Event value; ParseError (status hint 400) when it is malformed."""
        head, semi, rest = text.partition(";")
        event_type = head.strip(LWS)
        if EVENT_TYPE_RE.fullmatch(event_type) is None:
            raise ParseError(f"malformed event type {event_type[:64]!r}")
        event_id: str | None = None
        others: list[tuple[str, str | None]] = []
        for name, value in _params(rest) if semi else ():
            if name.lower() == "id" and event_id is None:
                # §8.4: "id" EQUAL token.
                if value is None or TOKEN_RE.fullmatch(value) is None:
                    raise ParseError("malformed Event id parameter")
                event_id = value
            else:
                others.append((name, value))
        package, *templates = event_type.split(".")
        return cls(package, tuple(templates), event_id, tuple(others))

    @classmethod
    def of_type(cls, event_type: str, event_id: str | None = None) -> EventHeader:
        """The value for ``event_type`` (``"presence.winfo"``) and an optional id."""
        return cls.parse(event_type if event_id is None else f"{event_type};id={event_id}")

    @property
    def event_type(self) -> str:
        """Package and templates joined: what packages are registered and matched by."""
        return ".".join((self.package, *self.templates))

    @property
    def template(self) -> str | None:
        """The last template (``winfo`` of ``presence.winfo``), None for a bare package."""
        return self.templates[-1] if self.templates else None

    def matches(self, other: EventHeader) -> bool:
        """§8.2.1: same event type and same ``id`` (absent only matches absent)."""
        return self.event_type == other.event_type and self.id == other.id

    def __str__(self) -> str:
        event_id = "" if self.id is None else f";id={self.id}"
        return f"{self.event_type}{event_id}{_format_params(self.params)}"


# -- Allow-Events --------------------------------------------------------------------------


def parse_allow_events(values: Iterable[str]) -> tuple[str, ...]:
    """The event types of Allow-Events lines (§8.2.2), in order; ParseError if malformed."""
    out: list[str] = []
    for line in values:
        for element in split_list(line):
            if EVENT_TYPE_RE.fullmatch(element) is None:
                raise ParseError(f"malformed Allow-Events element {element[:64]!r}")
            out.append(element)
    return tuple(out)


def format_allow_events(event_types: Iterable[str]) -> str:
    """An Allow-Events value; LocalProtocolError-free: types are checked on registration."""
    return ", ".join(event_types)


# -- Subscription-State --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """A Subscription-State value (§8.2.3, §4.1.3).

    ``state`` and ``reason`` are lowercase text; compare them with ``SubState`` and
    ``Reason`` members (string enums). ``expires`` is meaningful for active and pending,
    ``reason`` and ``retry_after`` for terminated (§4.1.3); other parameters are kept in
    ``params``. An extension-substate parses and is kept as written, lowercased.
    """

    state: str
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None
    params: ParamItems = ()

    @classmethod
    def parse(cls, text: str) -> SubscriptionState:
        """Parse one Subscription-State value; ParseError (400) when it is malformed."""
        head, semi, rest = text.partition(";")
        state = head.strip(LWS)
        if TOKEN_RE.fullmatch(state) is None:
            raise ParseError("malformed Subscription-State")
        expires: int | None = None
        reason: str | None = None
        retry_after: int | None = None
        others: list[tuple[str, str | None]] = []
        for name, value in _params(rest) if semi else ():
            key = name.lower()
            if key == "expires" and value is not None:
                expires = parse_uint(value, "Subscription-State expires")
            elif key == "retry-after" and value is not None:
                retry_after = parse_uint(value, "Subscription-State retry-after")
            elif key == "reason" and value is not None:
                if TOKEN_RE.fullmatch(value) is None:
                    raise ParseError("malformed Subscription-State reason")
                reason = value.lower()
            else:
                others.append((name, value))
        return cls(state.lower(), expires, reason, retry_after, tuple(others))

    @property
    def active(self) -> bool:
        return self.state == SubState.ACTIVE

    @property
    def pending(self) -> bool:
        return self.state == SubState.PENDING

    @property
    def terminated(self) -> bool:
        return self.state == SubState.TERMINATED

    def __str__(self) -> str:
        out = [str(self.state)]
        if self.reason is not None:
            out.append(f";reason={self.reason}")
        if self.expires is not None:
            out.append(f";expires={self.expires}")
        if self.retry_after is not None:
            out.append(f";retry-after={self.retry_after}")
        out.append(_format_params(self.params))
        return "".join(out)


__all__ = [
    "EVENT_TYPE_RE",
    "EventHeader",
    "Reason",
    "SubState",
    "SubscriptionState",
    "format_allow_events",
    "parse_allow_events",
]
