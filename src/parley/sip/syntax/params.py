"""Generic parameters: ``;name=value`` lists of URIs and header values (§25.1)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from parley.sip.errors import ParseError
from parley.sip.syntax.abnf import GENERIC_PARAMS_RE, LWS, split_outside

ParamItem = tuple[str, str | None]


class Params:
    """An ordered, case-insensitive list of parameters whose values stay as written.

    A value of ``None`` is a flag parameter (``;lr``); ``""`` is ``;name=``. Quoted values keep
    their quotes so that serialising reproduces what was parsed.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[ParamItem] = ()) -> None:
        self._items: list[ParamItem] = list(items)

    @classmethod
    def _adopt(cls, items: list[ParamItem]) -> Params:
        self = cls.__new__(cls)
        self._items = items
        return self

    @classmethod
    def parse(cls, text: str) -> Params:
        """Parse ``text`` that follows the first ``;`` (``a=1;b;c="x;y"``).

        Only the structure is checked (balanced quotes, no empty parameter): the URI parser
        judges the characters of uri-parameters itself (§19.1.1), and ``parse_generic``
        judges those of header parameters.
        """
        if ";" not in text and '"' not in text:
            # One parameter (";tag=...", ";branch=..."): the usual case, kept cheap.
            name, eq, value = text.partition("=")
            name = name.strip(LWS)
            if not name:
                raise ParseError("empty parameter")
            return cls._adopt([(name, value.strip(LWS) if eq else None)])
        items: list[ParamItem] = []
        pieces = text.split(";") if '"' not in text else split_outside(text, ";")
        for piece in pieces:
            name, eq, value = piece.partition("=")
            name = name.strip(LWS)
            if not name:
                raise ParseError("empty parameter")
            items.append((name, value.strip(LWS) if eq else None))
        return cls._adopt(items)

    @classmethod
    def parse_generic(cls, text: str) -> Params:
        """Parse header parameters (§25.1 generic-param): token names, and values that are a
        token, a host or a quoted-string. LWS may surround ``;`` and ``=`` (RFC 4475 wsinv)."""
        if GENERIC_PARAMS_RE.fullmatch(text) is None:
            # RFC 4475 badinv01: ";;" and stray characters in parameters earn a 400.
            raise ParseError("malformed header parameters")
        return cls.parse(text)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first parameter called ``name`` (any case), or ``default``."""
        items = self._items
        # Most names are written as asked for; only fall back to case-folding when not.
        for key, value in items:
            if key == name:
                return value
        lname = name.lower()
        for key, value in items:
            if key.lower() == lname:
                return value
        return default

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lname = name.lower()
        return any(key.lower() == lname for key, _ in self._items)

    def set(self, name: str, value: str | None) -> None:
        """Replace the value of ``name`` in place, or append the parameter."""
        lname = name.lower()
        for i, (key, _) in enumerate(self._items):
            if key.lower() == lname:
                self._items[i] = (key, value)
                return
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        lname = name.lower()
        self._items = [item for item in self._items if item[0].lower() != lname]

    def __iter__(self) -> Iterator[ParamItem]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Params):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        return hash(tuple(self._items))

    def copy(self) -> Params:
        return Params(self._items)

    def __str__(self) -> str:
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self._items)

    def __repr__(self) -> str:
        return f"Params({self._items!r})"
