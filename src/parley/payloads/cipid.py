"""RFC 4482 CIPID: contact information (display name, icon, home page, vCard, map,
sound) for PIDF persons and tuples.

Importing this module registers each element as a PIDF extension
(:mod:`parley.payloads.extensions`); ``presence.persons[0].display_name`` then reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from .extensions import Extension, register_extension
from .xml import XmlElement, qname, register_namespace

__all__ = ["NAMESPACE", "Card", "DisplayName", "Homepage", "Icon", "Map", "Sound"]

NAMESPACE = "urn:ietf:params:xml:ns:pidf:cipid"
register_namespace(NAMESPACE, "c")


@dataclass(frozen=True)
class _Uri(Extension):
    """An element whose content is one URI (``xs:anyURI``: surrounding white space is
    not part of it)."""

    uri: str

    @classmethod
    def from_xml(cls, element: XmlElement) -> Self:
        return cls((element.text or "").strip())

    def to_xml(self) -> XmlElement:
        return XmlElement.make(self.TAG, text=self.uri or None)


@register_extension
@dataclass(frozen=True)
class Card(_Uri):
    """§2.1 ``<card>``: where the presentity's business card (vCard) is."""

    TAG: ClassVar[str] = qname(NAMESPACE, "card")


@register_extension
@dataclass(frozen=True)
class DisplayName(Extension):
    """§2.2 ``<display-name>``: the name the presentity wants shown (text kept as is)."""

    TAG: ClassVar[str] = qname(NAMESPACE, "display-name")

    text: str

    @classmethod
    def from_xml(cls, element: XmlElement) -> Self:
        return cls(element.text or "")

    def to_xml(self) -> XmlElement:
        return XmlElement.make(self.TAG, text=self.text or None)


@register_extension
@dataclass(frozen=True)
class Homepage(_Uri):
    """§2.3 ``<homepage>``: a web page about the presentity."""

    TAG: ClassVar[str] = qname(NAMESPACE, "homepage")


@register_extension
@dataclass(frozen=True)
class Icon(_Uri):
    """§2.4 ``<icon>``: an image (avatar) of the presentity."""

    TAG: ClassVar[str] = qname(NAMESPACE, "icon")


@register_extension
@dataclass(frozen=True)
class Map(_Uri):
    """§2.5 ``<map>``: a map related to the presentity."""

    TAG: ClassVar[str] = qname(NAMESPACE, "map")


@register_extension
@dataclass(frozen=True)
class Sound(_Uri):
    """§2.6 ``<sound>``: a sound related to the presentity."""

    TAG: ClassVar[str] = qname(NAMESPACE, "sound")
