"""XCAP failures and the ``application/xcap-error+xml`` bodies of 409 (RFC 4825 §11).

Every failure of an XCAP request is an :class:`XcapError` carrying its HTTP status; the
core raises it and the HTTP edge turns it into a response. Conflicts (409) carry one
RFC 4825 §11.2 error element naming what was wrong, so a client can fix its request
instead of retrying it as is (§7).
"""

from __future__ import annotations

from collections.abc import Sequence

from parley.payloads.xml import XmlElement, qname, register_namespace, serialize_xml

__all__ = [
    "ERROR_CONTENT_TYPE",
    "ERROR_NAMESPACE",
    "XcapConflict",
    "XcapError",
]

#: RFC 4825 §11.1 / §15.2.4.
ERROR_CONTENT_TYPE = "application/xcap-error+xml"
ERROR_NAMESPACE = "urn:ietf:params:xml:ns:xcap-error"
register_namespace(ERROR_NAMESPACE, "xe")


class XcapError(Exception):
    """An XCAP request failed with HTTP ``status``; ``reason`` is a short phrase for logs
    and plain-text bodies, ``headers`` extra response headers (Allow, WWW-Authenticate)."""

    def __init__(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = tuple(headers)

    def body(self) -> tuple[bytes, str]:
        """The response body and its Content-Type."""
        return (self.reason + "\n").encode("utf-8"), "text/plain; charset=utf-8"


class XcapConflict(XcapError):
    """A 409 with an ``<xcap-error>`` body holding one error element (RFC 4825 §11.2).

    ``condition`` is the element's local name (``not-well-formed``, ``uniqueness-failure``
    ...), ``phrase`` its optional human-readable ``phrase`` attribute, ``children`` any
    content the condition defines (``<exists>`` of a uniqueness failure, ``<ancestor>`` of
    no-parent).
    """

    def __init__(
        self,
        condition: str,
        phrase: str | None = None,
        children: Sequence[XmlElement] = (),
    ) -> None:
        super().__init__(409, f"{condition}: {phrase}" if phrase else condition)
        self.condition = condition
        self.phrase = phrase
        self.children = tuple(children)

    def body(self) -> tuple[bytes, str]:
        element = XmlElement.make(
            qname(ERROR_NAMESPACE, self.condition), {"phrase": self.phrase}, self.children
        )
        root = XmlElement.make(qname(ERROR_NAMESPACE, "xcap-error"), children=[element])
        return serialize_xml(root), ERROR_CONTENT_TYPE

    # RFC 4825 §11.2 conditions, one constructor each ------------------------------------

    @classmethod
    def not_well_formed(cls, phrase: str | None = None) -> XcapConflict:
        """The body of a document PUT is not well-formed XML (or uses refused XML: DTDs)."""
        return cls("not-well-formed", phrase)

    @classmethod
    def not_xml_frag(cls, phrase: str | None = None) -> XcapConflict:
        """The body of an element PUT is not one well-balanced XML element."""
        return cls("not-xml-frag", phrase)

    @classmethod
    def not_xml_att_value(cls, phrase: str | None = None) -> XcapConflict:
        """The body of an attribute PUT is not a valid attribute value."""
        return cls("not-xml-att-value", phrase)

    @classmethod
    def not_utf_8(cls, phrase: str | None = None) -> XcapConflict:
        """The body is not UTF-8, which XCAP requires (RFC 4825 §8.2.2)."""
        return cls("not-utf-8", phrase)

    @classmethod
    def schema_validation_error(cls, phrase: str | None = None) -> XcapConflict:
        """The resulting document would not be valid for the application usage (§5.3)."""
        return cls("schema-validation-error", phrase)

    @classmethod
    def cannot_insert(cls, phrase: str | None = None) -> XcapConflict:
        """After the PUT, the node selector would not select the element or attribute put
        (the GET-after-PUT rule of §8.2.3 and §8.2.4)."""
        return cls("cannot-insert", phrase)

    @classmethod
    def cannot_delete(cls, phrase: str | None = None) -> XcapConflict:
        """After the DELETE, the node selector would still select something (§8.4)."""
        return cls("cannot-delete", phrase)

    @classmethod
    def no_parent(cls, ancestor: str | None = None, phrase: str | None = None) -> XcapConflict:
        """The parent of the element to insert does not exist; ``ancestor`` is the XCAP
        URI of the closest one that does (§8.2.1, §11.2)."""
        children = [XmlElement.make(qname(ERROR_NAMESPACE, "ancestor"), text=ancestor)]
        return cls("no-parent", phrase, children if ancestor is not None else ())

    @classmethod
    def uniqueness_failure(
        cls, field: str, alt_values: Sequence[str] = (), phrase: str | None = None
    ) -> XcapConflict:
        """A value the application usage wants unique is not (§11.2 ``<exists>``):
        ``field`` is the node selector of the offending attribute."""
        alts = [XmlElement.make(qname(ERROR_NAMESPACE, "alt-value"), text=v) for v in alt_values]
        exists = XmlElement.make(qname(ERROR_NAMESPACE, "exists"), {"field": field}, alts)
        return cls("uniqueness-failure", phrase, [exists])

    @classmethod
    def constraint_failure(cls, phrase: str | None = None) -> XcapConflict:
        """Another data constraint of the application usage failed (§5.3, §8.2.5)."""
        return cls("constraint-failure", phrase)
