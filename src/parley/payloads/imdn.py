"""RFC 5438 Instant Message Disposition Notification: the ``message/imdn+xml``
document a recipient sends back (delivered, displayed, processed...), and the CPIM
headers (``imdn.Message-ID``, ``imdn.Disposition-Notification``) with which a sender
asks for one (see :mod:`parley.payloads.cpim`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from . import cpim
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
    "CONTENT_TYPE",
    "CPIM_NAMESPACE",
    "CPIM_NAMESPACES",
    "DISPOSITION_NOTIFICATION",
    "DISPOSITION_NOTIFICATION_HEADER",
    "MESSAGE_ID",
    "MESSAGE_ID_HEADER",
    "NAMESPACE",
    "Disposition",
    "Imdn",
    "Notification",
    "Status",
    "for_message",
    "message_id",
    "parse",
    "request_headers",
    "requested_dispositions",
    "serialize",
]

CONTENT_TYPE = "message/imdn+xml"
NAMESPACE = "urn:ietf:params:xml:ns:imdn"
register_namespace(NAMESPACE, "imdn")

#: §6.1: the CPIM header namespace (``NS: imdn <urn:ietf:params:imdn>``).
CPIM_NAMESPACE = "urn:ietf:params:imdn"
#: Pass as ``cpim.message(namespaces=...)`` alongside :func:`request_headers`.
CPIM_NAMESPACES = {"imdn": CPIM_NAMESPACE}
#: §6.3, §6.2: the CPIM header local names, and as written with the usual prefix.
MESSAGE_ID = "Message-ID"
DISPOSITION_NOTIFICATION = "Disposition-Notification"
MESSAGE_ID_HEADER = "imdn.Message-ID"
DISPOSITION_NOTIFICATION_HEADER = "imdn.Disposition-Notification"


class Disposition(StrEnum):
    """§6.2: what a sender asks to be told about."""

    POSITIVE_DELIVERY = "positive-delivery"
    NEGATIVE_DELIVERY = "negative-delivery"
    PROCESSING = "processing"
    DISPLAY = "display"


class Notification(StrEnum):
    """§7.2.1: the kind of notification a document is."""

    DELIVERY = "delivery-notification"
    DISPLAY = "display-notification"
    PROCESSING = "processing-notification"


class Status(StrEnum):
    """§7.2.1.1-3: what happened to the message."""

    DELIVERED = "delivered"
    FAILED = "failed"
    DISPLAYED = "displayed"
    PROCESSED = "processed"
    STORED = "stored"
    FORBIDDEN = "forbidden"
    ERROR = "error"


_ALLOWED = {
    Notification.DELIVERY: {Status.DELIVERED, Status.FAILED, Status.FORBIDDEN, Status.ERROR},
    Notification.DISPLAY: {Status.DISPLAYED, Status.FORBIDDEN, Status.ERROR},
    Notification.PROCESSING: {Status.PROCESSED, Status.STORED, Status.FORBIDDEN, Status.ERROR},
}


@dataclass(frozen=True)
class Imdn:
    """§7.2 ``<imdn>``: the notification about message ``message_id`` sent at
    ``datetime`` (the original's DateTime). ``status`` must suit ``notification``
    (``delivered`` only in a delivery notification, and so on)."""

    message_id: str
    datetime: dt.datetime
    notification: Notification
    status: Status
    recipient_uri: str | None = None
    original_recipient_uri: str | None = None
    subject: str | None = None
    extensions: tuple[XmlElement, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in _ALLOWED[self.notification]:
            raise PayloadError(f"IMDN status {self.status} cannot be in a {self.notification}")


def _tag(local: str) -> str:
    return qname(NAMESPACE, local)


_IMDN, _MESSAGE_ID, _DATETIME, _RECIPIENT, _ORIGINAL, _SUBJECT, _STATUS = map(
    _tag,
    (
        "imdn",
        "message-id",
        "datetime",
        "recipient-uri",
        "original-recipient-uri",
        "subject",
        "status",
    ),
)
_KNOWN = {_MESSAGE_ID, _DATETIME, _RECIPIENT, _ORIGINAL, _SUBJECT}
_KNOWN |= {_tag(n.value) for n in Notification}


def _text(element: XmlElement, tag: str) -> str | None:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else None


def parse(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Imdn:
    """Decode a ``message/imdn+xml`` body; :class:`PayloadError` if bad."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != _IMDN:
        raise PayloadError(f"not an IMDN document: the root element is {root.tag}")
    message_id = _text(root, _MESSAGE_ID)
    if not message_id:
        raise PayloadError("IMDN lacks its <message-id>")
    datetime = _text(root, _DATETIME)
    if datetime is None:
        raise PayloadError("IMDN lacks its <datetime>")
    kinds = [c for c in root.children if c.tag in {_tag(n.value) for n in Notification}]
    if len(kinds) != 1:
        raise PayloadError("IMDN must hold exactly one notification element")
    notification = Notification(kinds[0].local_name)
    status_element = kinds[0].find(_STATUS)
    values = list(status_element.children) if status_element is not None else []
    status_names = [c.local_name for c in values if c.namespace == NAMESPACE]
    if len(status_names) != 1 or status_names[0] not in set(Status):
        raise PayloadError(f"IMDN {notification} has no valid status")
    subject = root.find(_SUBJECT)
    return Imdn(
        message_id,
        parse_datetime(datetime, "IMDN datetime"),
        notification,
        Status(status_names[0]),
        _text(root, _RECIPIENT),
        _text(root, _ORIGINAL),
        subject.text or "" if subject is not None else None,
        tuple(c for c in root.children if c.tag not in _KNOWN),
    )


def serialize(imdn: Imdn, *, pretty: bool = True) -> bytes:
    """Encode ``imdn`` as ``message/imdn+xml``."""
    children = [
        XmlElement.make(_MESSAGE_ID, text=imdn.message_id),
        XmlElement.make(_DATETIME, text=format_datetime(imdn.datetime)),
    ]
    for tag, value in (
        (_RECIPIENT, imdn.recipient_uri),
        (_ORIGINAL, imdn.original_recipient_uri),
        (_SUBJECT, imdn.subject),
    ):
        if value is not None:
            children.append(XmlElement.make(tag, text=value or None))
    status = XmlElement.make(_STATUS, children=[XmlElement(_tag(imdn.status.value))])
    children.append(XmlElement.make(_tag(imdn.notification.value), children=[status]))
    children += imdn.extensions
    return serialize_xml(XmlElement.make(_IMDN, children=children), pretty=pretty)


# ---------------------------------------------------------------- CPIM headers


def message_id(message: cpim.CpimMessage) -> str | None:
    """The message's ``imdn.Message-ID`` (under whatever prefix its NS declares)."""
    return message.value(MESSAGE_ID, CPIM_NAMESPACE)


def requested_dispositions(message: cpim.CpimMessage) -> frozenset[Disposition]:
    """What the sender asked to be notified of (§6.2); unknown values are ignored."""
    wanted: set[Disposition] = set()
    for value in message.values(DISPOSITION_NOTIFICATION, CPIM_NAMESPACE):
        for token in value.split(","):
            try:
                wanted.add(Disposition(token.strip().lower()))
            except ValueError:
                continue
    return frozenset(wanted)


def request_headers(
    message_id: str, dispositions: tuple[Disposition, ...] | frozenset[Disposition]
) -> tuple[cpim.Header, ...]:
    """The ``imdn.Message-ID`` and ``imdn.Disposition-Notification`` headers asking
    for ``dispositions``; declare :data:`CPIM_NAMESPACES` in the same message."""
    ordered = [d for d in Disposition if d in dispositions]
    headers = [cpim.Header(MESSAGE_ID_HEADER, message_id)]
    if ordered:
        value = ", ".join(d.value for d in ordered)
        headers.append(cpim.Header(DISPOSITION_NOTIFICATION_HEADER, value))
    return tuple(headers)


def for_message(
    original: cpim.CpimMessage,
    notification: Notification,
    status: Status,
    *,
    recipient_uri: str | None = None,
) -> Imdn:
    """The notification about ``original``: its Message-ID and DateTime, and (§7.2.1)
    the recipient's URI with the original To as ``original-recipient-uri``. Raises
    :class:`PayloadError` when the original lacks Message-ID or DateTime."""
    identifier = message_id(original)
    sent = original.datetime
    if not identifier or sent is None:
        raise PayloadError("the message has no imdn.Message-ID or DateTime to answer")
    to = original.recipients[0].uri if original.recipients else None
    # The schema has both URIs or neither.
    recipient = recipient_uri or to
    original_recipient = to or recipient_uri
    return Imdn(identifier, sent, notification, status, recipient, original_recipient)
