"""The header section of a SIP message: ordered fields, case-insensitive names, compact forms.

Values are kept as written (folding already undone) and parsed only when asked for: the lazy
shape that keeps a proxy's per-message cost to what it actually reads (§7.3, §20).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from parley.sip.syntax.abnf import split_list

T = TypeVar("T")

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
        "Unsupported Via Warning P-Asserted-Identity P-Preferred-Identity Privacy"
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


def canonical_name(name: str) -> str:
    """The canonical spelling of a header name; unknown names are kept as written."""
    return CANONICAL.get(name.lower(), name)


class Headers:
    """Ordered header fields. Lookups are case-insensitive and accept compact names.

    Parsed views of values (``parsed``) are cached until the next change to any field.
    """

    __slots__ = ("_fields", "_index", "_parsed")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str, str]] = []
        for name, value in fields:
            canon = canonical_name(name)
            self._fields.append((canon.lower(), canon, value))
        self._index: dict[str, list[str]] | None = None
        self._parsed: dict[str, object] = {}

    @classmethod
    def _from_parsed(cls, fields: list[tuple[str, str, str]]) -> Headers:
        """Adopt ``(key, name, value)`` triples built by the parser (no re-canonicalising)."""
        self = cls.__new__(cls)
        self._fields = fields
        self._index = None
        self._parsed = {}
        return self

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

    def _changed(self) -> None:
        self._index = None
        if self._parsed:
            self._parsed = {}

    @staticmethod
    def key(name: str) -> str:
        lname = name.lower()
        canon = CANONICAL.get(lname)
        return lname if canon is None else canon.lower()

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first field's value as written, or ``default``."""
        found = self._lookup().get(self.key(name))
        return default if found is None else found[0]

    def get_all(self, name: str) -> list[str]:
        """Every field's value as written, one entry per header line."""
        return list(self._lookup().get(self.key(name), ()))

    def values(self, name: str) -> list[str]:
        """Every element of a list header, across lines, split at top-level commas."""
        out: list[str] = []
        for value in self._lookup().get(self.key(name), ()):
            out.extend(split_list(value))
        return out

    def count(self, name: str) -> int:
        return len(self._lookup().get(self.key(name), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.key(name) in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, name, value in self._fields:
            yield name, value

    def __len__(self) -> int:
        return len(self._fields)

    def parsed(self, cache_key: str, build: Callable[[], T]) -> T:
        """``build()``'s result, computed once until the headers change."""
        cache = self._parsed
        try:
            return cache[cache_key]  # type: ignore[return-value]
        except KeyError:
            value = build()
            cache[cache_key] = value
            return value

    def add(self, name: str, value: str) -> None:
        """Append a field after all others."""
        canon = canonical_name(name)
        self._fields.append((canon.lower(), canon, value))
        self._changed()

    def prepend(self, name: str, value: str) -> None:
        """Insert a field before the first field of that name (or at the top): how a proxy
        adds its Via (§16.6 step 8) or a Record-Route (§16.6 step 4)."""
        canon = canonical_name(name)
        key = canon.lower()
        at = next((i for i, f in enumerate(self._fields) if f[0] == key), 0)
        self._fields.insert(at, (key, canon, value))
        self._changed()

    def set(self, name: str, value: str) -> None:
        """Replace every field of that name by one, in the place of the first."""
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
        self._changed()

    def remove(self, name: str) -> None:
        key = self.key(name)
        self._fields = [f for f in self._fields if f[0] != key]
        self._changed()

    def pop_first_value(self, name: str) -> str | None:
        """Remove the first element of a list header, e.g. the top Via of a response
        (§18.1.2) or the top Route (§16.4); the rest of that line stays."""
        key = self.key(name)
        for i, (fkey, fname, value) in enumerate(self._fields):
            if fkey == key:
                elements = split_list(value)
                if len(elements) == 1:
                    del self._fields[i]
                else:
                    self._fields[i] = (fkey, fname, ", ".join(elements[1:]))
                self._changed()
                return elements[0]
        return None

    def copy(self) -> Headers:
        return Headers._from_parsed(list(self._fields))

    def lines(self) -> list[str]:
        """``Name: value`` strings in order, for serialising."""
        return [f"{name}: {value}" for _, name, value in self._fields]

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"
