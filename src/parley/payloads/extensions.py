"""The PIDF extension point: typed extension elements and their registry.

RFC 3863 lets any element from another namespace appear in ``<presence>``, ``<tuple>``
and ``<status>``; RFC 4479 does the same for ``<dm:person>`` and ``<dm:device>``. PIDF
itself knows none of them. A module that does (``rpid``, ``cipid``, or a caller's own)
subclasses :class:`Extension` and registers the class with :func:`register_extension`;
from then on :func:`parley.payloads.pidf.parse` turns that element into the typed
dataclass wherever it appears. Elements nobody registered stay :class:`XmlElement`
values and are written back unchanged.

An element a registered class cannot decode (an extension the peer got wrong) is also
kept raw rather than failing the whole document: a presence document stays usable when
one optional extension is malformed (RFC 3863 §4.3 lets a processor ignore an
extension it does not understand).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Self, TypeVar

from .errors import PayloadError
from .xml import LANG, XmlElement

__all__ = [
    "Extension",
    "Note",
    "PidfExtension",
    "decode_extension",
    "encode_extension",
    "find_extension",
    "find_extensions",
    "register_extension",
    "registered_extension",
    "unregister_extension",
]


@dataclass(frozen=True)
class Note:
    """Free text with an optional ``xml:lang`` (PIDF ``note``, RFC 4479 ``Note_t``).

    The text is kept verbatim: notes are ``xs:string``, whose white space is data.
    """

    text: str
    lang: str | None = None

    def to_xml(self, tag: str) -> XmlElement:
        return XmlElement.make(tag, {LANG: self.lang}, text=self.text or None)

    @classmethod
    def from_xml(cls, element: XmlElement) -> Note:
        return cls(element.text or "", element.get(LANG))


def notes_from(element: XmlElement, tag: str) -> tuple[Note, ...]:
    """Every ``tag`` child of ``element`` as a :class:`Note`."""
    return tuple(Note.from_xml(child) for child in element.findall(tag))


class Extension(ABC):
    """Base of a typed extension element. Subclasses are frozen dataclasses that set
    ``TAG`` (the element's Clark name) and implement both conversions."""

    TAG: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_xml(cls, element: XmlElement) -> Self:
        """Decode ``element``; raise :class:`PayloadError` if it is malformed."""

    @abstractmethod
    def to_xml(self) -> XmlElement:
        """Encode back to an element named ``TAG``."""


#: What a PIDF container holds besides its own elements.
PidfExtension = Extension | XmlElement

_REGISTRY: dict[str, type[Extension]] = {}

E = TypeVar("E", bound=Extension)


def register_extension(cls: type[E]) -> type[E]:
    """Class decorator: decode elements named ``cls.TAG`` as ``cls`` from now on."""
    tag = getattr(cls, "TAG", None)
    if not isinstance(tag, str) or not tag.startswith("{"):
        raise TypeError(f"{cls.__name__}.TAG must be a namespaced Clark name")
    _REGISTRY[tag] = cls
    return cls


def unregister_extension(tag: str) -> None:
    """Forget the class registered for ``tag`` (elements named so stay raw again)."""
    _REGISTRY.pop(tag, None)


def registered_extension(tag: str) -> type[Extension] | None:
    """The class registered for ``tag``, if any."""
    return _REGISTRY.get(tag)


def decode_extension(element: XmlElement) -> PidfExtension:
    """``element`` as its registered type, or unchanged when none applies."""
    cls = _REGISTRY.get(element.tag)
    if cls is None:
        return element
    try:
        return cls.from_xml(element)
    except PayloadError:
        return element


def encode_extension(extension: PidfExtension) -> XmlElement:
    if isinstance(extension, XmlElement):
        return extension
    return extension.to_xml()


def find_extension(extensions: Iterable[PidfExtension], cls: type[E]) -> E | None:
    """The first extension of type ``cls``, or ``None``."""
    for extension in extensions:
        if isinstance(extension, cls):
            return extension
    return None


def find_extensions(extensions: Iterable[PidfExtension], cls: type[E]) -> tuple[E, ...]:
    """Every extension of type ``cls``, in document order."""
    return tuple(extension for extension in extensions if isinstance(extension, cls))
