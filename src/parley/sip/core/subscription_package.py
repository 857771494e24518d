"""Event packages as data (RFC 6665 §7), and the body-type negotiation of SUBSCRIBE.

The RFC 6665 machinery knows a package only by what is registered here: its name, the body
types it can send in preference order, its subscription durations and its notification rate
limit. It never looks inside a body, as pjsip-simple's evsub knows ``presence`` only by the
registration its presence module makes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from parley.sip.core.subscription_headers import EVENT_TYPE_RE, format_allow_events
from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.syntax import Params
from parley.sip.syntax.abnf import LWS, TOKEN_RE

#: RFC 4662 §5: the option-tag of resource list subscriptions.
EVENTLIST = "eventlist"


@dataclass(frozen=True, slots=True)
class EventPackage:
    """What RFC 6665 §7 asks each event package to define, as far as the generic machinery
    needs it.

    ``name``: the event type it is registered under (``presence``, ``presence.winfo``).
    ``accept``: body types of its NOTIFYs, preferred first; the first is the default when
    a SUBSCRIBE carries no Accept (§7.2, §3.1.3 leave the default to the package).
    ``default_expires``, ``min_expires``, ``max_expires``: seconds (§7.2: packages give a
    default; §4.2.1.1: a notifier may shorten but never lengthen a request).
    ``min_notify_interval``: seconds between two NOTIFYs of one subscription (§7.2's
    rate limiting; RFC 3856 §6.12 gives presence 5 s).
    ``allows_forking``: whether a subscriber accepts several dialogs from one SUBSCRIBE
    (§4.1.4, §7.2.4); when not, NOTIFYs of other forks are answered 481.
    ``list_accept``, ``list_root``: RFC 4662 resource lists: the types of list NOTIFYs
    (``multipart/related``) and the root part the Accept must also allow
    (``application/rlmi+xml``); empty when the package has no list form.
    """

    name: str
    accept: tuple[str, ...]
    default_expires: int = 3600
    min_expires: int = 60
    max_expires: int = 86400
    min_notify_interval: float = 0.0
    allows_forking: bool = True
    list_accept: tuple[str, ...] = ()
    list_root: str | None = None

    def __post_init__(self) -> None:
        if EVENT_TYPE_RE.fullmatch(self.name) is None:
            raise LocalProtocolError(f"{self.name!r} is not an event type (RFC 6665 §8.4)")
        if not self.accept:
            raise LocalProtocolError(f"package {self.name} sends no body type")
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise LocalProtocolError(f"package {self.name}: need 0 < min <= default <= max")
        if self.min_notify_interval < 0:
            raise LocalProtocolError(f"package {self.name}: negative notification interval")

    def grant_expires(self, requested: int | None) -> int:
        """The duration to grant for a requested Expires (None: the package default).

        §4.2.1.1: the notifier may shorten the duration, never lengthen it; 0 stays 0 (a
        fetch or an unsubscription). Callers refuse values below ``min_expires`` with 423.
        """
        if requested is None:
            return self.default_expires
        return min(requested, self.max_expires)

    def negotiate(self, accept: Sequence[str] | None, *, resource_list: bool = False) -> str | None:
        """The body type for a SUBSCRIBE whose Accept elements are ``accept`` (None when it
        has no Accept header), or None when nothing acceptable can be sent (406).

        RFC 3261 §20.1: an Accept header present but empty accepts no body. The type with
        the highest q wins (an exact media range counts before ``type/*`` and ``*/*``); a
        tie goes to the package's order. With ``resource_list`` (RFC 4662 §5), the choice
        is among ``list_accept``, and the Accept must also allow ``list_root``.
        """
        candidates = self.list_accept if resource_list else self.accept
        if not candidates:
            return None
        if accept is None:
            return candidates[0]
        ranges = _media_ranges(accept)
        if resource_list and self.list_root is not None and _quality(ranges, self.list_root) <= 0:
            return None
        best: str | None = None
        best_q = 0.0
        for candidate in candidates:
            q = _quality(ranges, candidate)
            if q > best_q:
                best, best_q = candidate, q
        return best


def _media_ranges(values: Sequence[str]) -> list[tuple[str, str, float]]:
    """(type, subtype, q) per element of Accept (RFC 3261 §20.1); malformed ones are
    skipped, as an element we cannot read accepts nothing we could send."""
    out: list[tuple[str, str, float]] = []
    for value in values:
        head, semi, rest = value.partition(";")
        mtype, slash, subtype = head.strip(LWS).lower().partition("/")
        mtype, subtype = mtype.strip(LWS), subtype.strip(LWS)
        if not slash or TOKEN_RE.fullmatch(mtype) is None or TOKEN_RE.fullmatch(subtype) is None:
            continue
        q = 1.0
        if semi:
            try:
                qvalue = Params.parse_generic(rest).get("q")
            except ParseError:
                continue
            if qvalue is not None:
                try:
                    q = float(qvalue)
                except ValueError:
                    continue
                if not 0.0 <= q <= 1.0:
                    continue
        out.append((mtype, subtype, q))
    return out


def _quality(ranges: list[tuple[str, str, float]], media_type: str) -> float:
    """The q the most specific matching range gives ``media_type`` (0 when none matches)."""
    mtype, _, subtype = media_type.lower().partition("/")
    best_rank = -1
    quality = 0.0
    for rtype, rsub, q in ranges:
        if rtype == mtype and rsub == subtype:
            rank = 2
        elif rtype == mtype and rsub == "*":
            rank = 1
        elif rtype == "*" and rsub == "*":
            rank = 0
        else:
            continue
        if rank > best_rank:
            best_rank, quality = rank, q
    return quality


class PackageRegistry:
    """The event packages one element serves, by event type (RFC 6665 §7, §8.2.2).

    Lookups compare event types byte by byte, as §8.2.1 compares them.
    """

    __slots__ = ("_packages",)

    def __init__(self, packages: Iterable[EventPackage] = ()) -> None:
        self._packages: dict[str, EventPackage] = {}
        for package in packages:
            self.register(package)

    def register(self, package: EventPackage) -> None:
        """Add ``package``; LocalProtocolError when its name is taken."""
        if package.name in self._packages:
            raise LocalProtocolError(f"event package {package.name} is already registered")
        self._packages[package.name] = package

    def get(self, event_type: str) -> EventPackage | None:
        return self._packages.get(event_type)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._packages

    def __iter__(self) -> Iterator[EventPackage]:
        return iter(list(self._packages.values()))

    def __len__(self) -> int:
        return len(self._packages)

    def allow_events(self) -> str:
        """The Allow-Events value listing every registered event type (§8.2.2)."""
        return format_allow_events(self._packages)


#: RFC 3856: presence. PIDF by default (§6.7, RFC 3863), CPIM-PIDF for the older clients
#: that ask only for it, an hour by default (§6.4), at most one NOTIFY per 5 s (§6.12), and
#: RFC 4662 lists as multipart/related with an RLMI root.
PRESENCE = EventPackage(
    name="presence",
    accept=("application/pidf+xml", "application/cpim-pidf+xml"),
    default_expires=3600,
    min_expires=60,
    max_expires=86400,
    min_notify_interval=5.0,
    allows_forking=True,
    list_accept=("multipart/related",),
    list_root="application/rlmi+xml",
)

#: RFC 3857: watcher information for presence (RFC 3858 documents), an hour by default.
PRESENCE_WINFO = EventPackage(
    name="presence.winfo",
    accept=("application/watcherinfo+xml",),
    default_expires=3600,
    min_expires=60,
    max_expires=86400,
    min_notify_interval=5.0,
)


__all__ = ["EVENTLIST", "PRESENCE", "PRESENCE_WINFO", "EventPackage", "PackageRegistry"]
