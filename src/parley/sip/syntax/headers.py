"""The header section of a SIP message: ordered fields, case-insensitive names, compact forms.

Values are kept as written (folding already undone) and parsed only when asked for: the lazy
shape that keeps a proxy's per-message cost to what it actually reads (§7.3, §20).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax.abnf import LWS, TOKEN_RE, split_list

T = TypeVar("T")

_new_headers = object.__new__

# §7.3.3 and the IANA registry: compact form -> full name.
COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_KNOWN = (
    "Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events "
    "Authentication-Info Authorization Call-ID Call-Info Contact Content-Disposition "
    "Content-Encoding Content-Language Content-Length Content-Type CSeq Date Error-Info "
    "Event Expires From In-Reply-To Max-Forwards MIME-Version Min-Expires Organization Path "
    "Priority Proxy-Authenticate Proxy-Authorization Proxy-Require Record-Route Refer-To "
    "Referred-By Reply-To Request-Disposition Require Retry-After Route Server Service-Route "
    "Session-Expires SIP-ETag SIP-If-Match Subject Subscription-State Supported Timestamp To "
    "Unsupported User-Agent Via Warning WWW-Authenticate Reason Identity Identity-Info "
    "Reject-Contact P-Asserted-Identity P-Preferred-Identity Privacy Flow-Timer GRUU "
    "Security-Client Security-Server Security-Verify"
).split()

#: lowercase spelling (full or compact) -> canonical spelling
CANONICAL: dict[str, str] = {name.lower(): name for name in _KNOWN}
CANONICAL.update({short: full for short, full in COMPACT_FORMS.items()})

#: Headers whose grammar is a comma-separated list (§7.3.1), so several lines may be merged
#: and one line may carry several values. Authorization-type headers and Date are not lists.
LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events "
        "Call-Info Contact Content-Encoding Content-Language Error-Info In-Reply-To Path "
        "Proxy-Require Record-Route Reject-Contact Require Route Service-Route Supported "
        "Unsupported Via Warning P-Asserted-Identity P-Preferred-Identity Privacy Reason "
        "Request-Disposition Security-Client Security-Server Security-Verify"
    ).split()
)

#: Headers that may appear at most once (RFC 4475 multi01 sends several and expects 400).
SINGLE_HEADERS = frozenset(
    name.lower()
    for name in (
        "Call-ID CSeq From To Max-Forwards Content-Length Content-Type Expires Min-Expires "
        "Event Subscription-State SIP-ETag SIP-If-Match"
    ).split()
)


#: Known headers whose grammar is not a comma-separated list: ``values()`` gives each of their
#: lines whole, so that ``Date: Thu, 21 Feb 2002`` or a Digest challenge is not cut at its
#: commas (§7.3.1 names the authentication headers as the exception to list folding).
NON_LIST_HEADERS = frozenset(key for key in (n.lower() for n in _KNOWN) if key not in LIST_HEADERS)

# Bounds on the name caches below, so that a peer sending ever new (or huge) header names
# cannot grow them without limit; past them, names are simply worked out each time.
_CACHE_LIMIT = 1024
_CACHED_NAME_LENGTH = 64

#: header name as written on the wire -> (lookup key, canonical spelling); seeded with the
#: canonical, lowercase and compact spellings so the parser rarely computes one.
_WIRE_NAMES: dict[str, tuple[str, str]] = {}
#: name as passed to ``get``/``values``/... -> lookup key
_KEYS: dict[str, str] = {}


def canonical_name(name: str) -> str:
    """The canonical spelling of a header name; unknown names are kept as written."""
    return CANONICAL.get(name.lower(), name)


def wire_name(name: str) -> tuple[str, str]:
    """``(key, spelling)`` for a header name as written in a message: the key is the
    lowercase canonical name (compact forms expanded, §7.3.3), the spelling is canonical for
    known headers and as written for the others. LWS before the colon is dropped (§7.3.1)."""
    found = _WIRE_NAMES.get(name)
    if found is not None:
        return found
    stripped = name.rstrip(LWS)
    lname = stripped.lower()
    canon = CANONICAL.get(lname)
    found = (lname, stripped) if canon is None else (canon.lower(), canon)
    # A name with leading LWS is never cached: the parser takes a cache hit as proof that a
    # line is not a continuation line (§7.3.1).
    if (
        len(_WIRE_NAMES) < _CACHE_LIMIT
        and len(name) <= _CACHED_NAME_LENGTH
        and name[:1] not in (" ", "\t")
    ):
        _WIRE_NAMES[name] = found
    return found


def _key(name: str) -> str:
    found = _KEYS.get(name)
    if found is None:
        lname = name.lower()
        canon = CANONICAL.get(lname)
        found = lname if canon is None else canon.lower()
        if len(_KEYS) < _CACHE_LIMIT and len(name) <= _CACHED_NAME_LENGTH:
            _KEYS[name] = found
    return found


#: header name written exactly as it is serialised (canonical spelling, nothing around it)
#: -> (lookup key, spelling). The parser's fast path splits a line at its first ": " and looks
#: the part before it up here: a hit proves the name is a token, spelled canonically, with
#: no LWS before the colon and exactly ":" SP after it, so the line needs no other checks.
#: Seeded with the known headers; ``learn_exact_name`` adds unknown tokens seen as written.
_EXACT_NAMES: dict[str, tuple[str, str]] = {}


def learn_exact_name(name: str, found: tuple[str, str]) -> None:
    """Remember that ``name`` as written is its own canonical spelling (bounded cache)."""
    # Only tokens: a name with LWS, ":" or nothing in it must never hit the fast path.
    if (
        found[1] == name
        and len(_EXACT_NAMES) < _CACHE_LIMIT
        and len(name) <= _CACHED_NAME_LENGTH
        and TOKEN_RE.fullmatch(name) is not None
    ):
        _EXACT_NAMES[name] = found


def _seed_caches() -> None:
    for spelling in {*CANONICAL.values(), *CANONICAL.keys()}:
        for name in (spelling, spelling.lower()):
            wire_name(name)
            _key(name)
    for canon in CANONICAL.values():
        learn_exact_name(canon, wire_name(canon))


_seed_caches()


#: Which field each parsed view of ``Message`` is read from (its ``_parsed`` cache key ->
#: field key). A view not listed here is dropped by any change.
_VIEW_SOURCES = {
    "via0": "via",
    "via*": "via",
    "from": "from",
    "to": "to",
    "cseq": "cseq",
    "clen": "content-length",
    "contact*": "contact",
    "route*": "route",
    "rr*": "record-route",
}


def _check_field(name: str, value: str) -> None:
    # §7.3.1: a field name is a token, and a value must not hold CR or LF: either would let
    # a caller's text forge extra header lines on the wire.
    if TOKEN_RE.fullmatch(name) is None:
        raise LocalProtocolError(f"header name {name!r} is not a token")
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"header value of {name} holds CR or LF")


class Headers:
    """Ordered header fields. Lookups are case-insensitive and accept compact names.

    Parsed views of values (``parsed``) are cached until the next change to any field.
    ``add``, ``prepend`` and ``set`` raise LocalProtocolError for a name that is not a token or
    a value holding CR or LF.
    """

    # _first (key -> first value) serves get(), the hot lookup; _index (key -> every value)
    # is built only when something needs all of them. _raw is the header section exactly as
    # received, kept by the parser only when it is already in the form to_bytes() writes;
    # any change drops it (see Message.to_bytes).
    __slots__ = ("_fields", "_first", "_index", "_parsed", "_raw", "_raw_length")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str, str]] = []
        for name, value in fields:
            _check_field(name, value)
            canon = canonical_name(name)
            self._fields.append((canon.lower(), canon, value))
        self._first: dict[str, str] | None = None
        self._index: dict[str, list[str]] | None = None
        # Any: each cache key holds one known type, fixed by the view that fills it.
        self._parsed: dict[str, Any] = {}
        self._raw: bytes | None = None
        self._raw_length = -1

    @classmethod
    def _from_parsed(
        cls,
        fields: list[tuple[str, str, str]],
        first: dict[str, str] | None = None,
    ) -> Headers:
        """Adopt ``(key, name, value)`` triples built by the parser (no re-canonicalising),
        and the key -> first value map when the parser built it along the way.
        ``message._parse`` inlines this: keep the two in step."""
        self = _new_headers(cls)
        self._fields = fields
        self._first = first
        self._index = None
        self._parsed = {}
        self._raw = None
        self._raw_length = -1
        return self

    def _first_values(self) -> dict[str, str]:
        first = self._first
        if first is None:
            first = {}
            for key, _, value in self._fields:
                if key not in first:
                    first[key] = value
            self._first = first
        return first

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for key, _, value in self._fields:
                found = index.get(key)
                if found is None:
                    index[key] = [value]
                else:
                    found.append(value)
            self._index = index
        return index

    def _changed(self, key: str | None = None) -> None:
        """A field changed: drop the lookups, the raw bytes, and the parsed views that may
        depend on it (those of field ``key`` only, when known: a proxy that adds a Via
        keeps its parsed From, To and CSeq)."""
        self._first = None
        self._index = None
        self._raw = None
        parsed = self._parsed
        if parsed:
            if key is None:
                self._parsed = {}
            else:
                self._parsed = {k: v for k, v in parsed.items() if _VIEW_SOURCES.get(k, key) != key}

    @staticmethod
    def key(name: str) -> str:
        """The lookup key of a header name: lowercase canonical, compact forms expanded."""
        return _key(name)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first field's value as written, or ``default``."""
        first = self._first
        if first is None:
            first = self._first_values()
        key = _KEYS.get(name)  # the cache hit of _key(), inlined: get() is the hot path
        return first.get(_key(name) if key is None else key, default)

    def get_all(self, name: str) -> list[str]:
        """Every field's value as written, one entry per header line."""
        return list(self._lookup().get(_key(name), ()))

    def values(self, name: str) -> list[str]:
        """Every element of a list header, across lines, split at top-level commas (§7.3.1).

        Known headers whose grammar is not a list (Date, WWW-Authenticate, From...) give
        one element per line, uncut. Raises ParseError for an empty element (``a,,b``).
        """
        key = _key(name)
        found = self._lookup().get(key, ())
        if key in NON_LIST_HEADERS:
            return list(found)
        out: list[str] = []
        for value in found:
            out.extend(split_list(value))
        return out

    def count(self, name: str) -> int:
        return len(self._lookup().get(_key(name), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._first_values()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, name, value in self._fields:
            yield name, value

    def __len__(self) -> int:
        return len(self._fields)

    def parsed(self, cache_key: str, build: Callable[[], T]) -> T:
        """``build()``'s result, computed once until the headers change."""
        cache = self._parsed
        try:
            return cache[cache_key]  # type: ignore[no-any-return]
        except KeyError:
            value = build()
            cache[cache_key] = value
            return value

    def add(self, name: str, value: str) -> None:
        """Append a field after all others."""
        _check_field(name, value)
        canon = canonical_name(name)
        key = canon.lower()
        self._fields.append((key, canon, value))
        self._changed(key)

    def prepend(self, name: str, value: str) -> None:
        """Insert a field before the first field of that name (or at the top): how a proxy
        adds its Via (§16.6 step 8) or a Record-Route (§16.6 step 4)."""
        _check_field(name, value)
        canon = canonical_name(name)
        key = canon.lower()
        at = next((i for i, f in enumerate(self._fields) if f[0] == key), 0)
        self._fields.insert(at, (key, canon, value))
        self._changed(key)

    def set(self, name: str, value: str) -> None:
        """Replace every field of that name by one, in the place of the first."""
        _check_field(name, value)
        canon = canonical_name(name)
        key = canon.lower()
        out: list[tuple[str, str, str]] = []
        placed = False
        for field in self._fields:
            if field[0] == key:
                if not placed:
                    out.append((key, canon, value))
                    placed = True
            else:
                out.append(field)
        if not placed:
            out.append((key, canon, value))
        self._fields = out
        self._changed(key)

    def remove(self, name: str) -> None:
        """Remove every field of that name."""
        key = _key(name)
        self._fields = [f for f in self._fields if f[0] != key]
        self._changed(key)

    def pop_first_value(self, name: str) -> str | None:
        """Remove the first element of a list header, e.g. the top Via of a response
        (§18.1.2) or the top Route (§16.4); the rest of that line stays."""
        key = _key(name)
        for i, (fkey, fname, value) in enumerate(self._fields):
            if fkey == key:
                elements = split_list(value)
                if len(elements) == 1:
                    del self._fields[i]
                else:
                    self._fields[i] = (fkey, fname, ", ".join(elements[1:]))
                self._changed(key)
                return elements[0]
        return None

    def copy(self, *, keep_views: bool = False) -> Headers:
        """An independent copy. With ``keep_views`` the parsed views (``Message.from_``,
        ``.to``, ``.vias``...) are shared rather than parsed again: neither copy may then
        change one in place (a proxy's copy only adds and replaces fields)."""
        copied = Headers._from_parsed(list(self._fields))
        if keep_views:
            copied._parsed = dict(self._parsed)
        return copied

    def lines(self) -> list[str]:
        """``Name: value`` strings in order, for serialising."""
        return [f"{name}: {value}" for _, name, value in self._fields]

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"
