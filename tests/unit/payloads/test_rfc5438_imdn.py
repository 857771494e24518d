"""RFC 5438 IMDN: requesting notifications in CPIM, and the message/imdn+xml body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from payload_vectors import round_trip, vector

from parley.payloads import PayloadError, cpim, imdn
from parley.payloads.imdn import Disposition, Imdn, Notification, Status
from parley.payloads.xml import XmlElement

SENT = datetime(2006, 4, 4, 12, 16, 49, tzinfo=timezone(-timedelta(hours=5)))


def test_the_request_in_the_cpim_message() -> None:
    message = cpim.parse(vector("rfc5438_message.cpim"))
    assert imdn.message_id(message) == "34jk324j"
    assert imdn.requested_dispositions(message) == {
        Disposition.POSITIVE_DELIVERY,
        Disposition.DISPLAY,
    }
    assert message.value(imdn.MESSAGE_ID_HEADER) == "34jk324j"
    assert message.body == b"Hello World\n"


def test_the_delivery_notification() -> None:
    notification = imdn.parse(vector("rfc5438_delivered.xml"))
    assert notification == Imdn(
        "34jk324j",
        SENT,
        Notification.DELIVERY,
        Status.DELIVERED,
        "im:bob@example.com",
        "im:bob@example.com",
    )
    round_trip(notification, imdn.serialize, imdn.parse)


def test_the_display_notification_keeps_its_extension() -> None:
    notification = imdn.parse(vector("rfc5438_displayed.xml"))
    assert notification.notification is Notification.DISPLAY
    assert notification.status is Status.DISPLAYED
    assert notification.extensions == (XmlElement("{http://example.com/ns}extension", text="kept"),)
    round_trip(notification, imdn.serialize, imdn.parse)


def test_answering_a_message() -> None:
    message = cpim.parse(vector("rfc5438_message.cpim"))
    answer = imdn.for_message(message, Notification.DISPLAY, Status.DISPLAYED)
    assert answer == Imdn(
        "34jk324j",
        SENT,
        Notification.DISPLAY,
        Status.DISPLAYED,
        "im:bob@example.com",
        "im:bob@example.com",
    )
    forwarded = imdn.for_message(
        message, Notification.DELIVERY, Status.FAILED, recipient_uri="im:bob@laptop.example.com"
    )
    assert forwarded.recipient_uri == "im:bob@laptop.example.com"
    assert forwarded.original_recipient_uri == "im:bob@example.com"
    with pytest.raises(PayloadError, match="Message-ID"):
        imdn.for_message(
            cpim.parse(b"From: <im:a@x>\r\n\r\n\r\n"), Notification.DELIVERY, Status.DELIVERED
        )


def test_building_a_request() -> None:
    message = cpim.message(
        "im:alice@example.com",
        ["im:bob@example.com"],
        b"Hello World",
        datetime=datetime(2024, 5, 1, tzinfo=UTC),
        namespaces=imdn.CPIM_NAMESPACES,
        headers=imdn.request_headers(
            "m-1", frozenset({Disposition.DISPLAY, Disposition.POSITIVE_DELIVERY})
        ),
    )
    data = cpim.serialize(message)
    assert b"NS: imdn <urn:ietf:params:imdn>\r\n" in data
    assert b"imdn.Message-ID: m-1\r\n" in data
    assert b"imdn.Disposition-Notification: positive-delivery, display\r\n" in data
    parsed = cpim.parse(data)
    assert imdn.message_id(parsed) == "m-1"
    assert imdn.requested_dispositions(parsed) == {
        Disposition.DISPLAY,
        Disposition.POSITIVE_DELIVERY,
    }
    assert imdn.request_headers("m-2", ()) == (cpim.Header("imdn.Message-ID", "m-2"),)


def test_other_prefixes_and_unknown_dispositions() -> None:
    message = cpim.parse(
        b"NS: n <urn:ietf:params:imdn>\r\nn.Message-ID: abc\r\n"
        b"n.Disposition-Notification: Display, telepathy\r\n\r\n\r\n"
    )
    assert imdn.message_id(message) == "abc"
    assert imdn.requested_dispositions(message) == {Disposition.DISPLAY}


@pytest.mark.parametrize(
    ("notification", "status"),
    [
        (Notification.DELIVERY, Status.DISPLAYED),
        (Notification.DISPLAY, Status.DELIVERED),
        (Notification.PROCESSING, Status.FAILED),
    ],
)
def test_status_must_suit_the_notification(notification: Notification, status: Status) -> None:
    with pytest.raises(PayloadError, match="cannot be"):
        Imdn("m", SENT, notification, status)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'<imdn xmlns="urn:x"/>', "not an IMDN"),
        (b'<imdn xmlns="urn:ietf:params:xml:ns:imdn"><datetime>x</datetime></imdn>', "message-id"),
        (
            b'<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>m</message-id></imdn>',
            "datetime",
        ),
        (
            b'<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>m</message-id>'
            b"<datetime>2006-04-04T12:16:49Z</datetime></imdn>",
            "exactly one",
        ),
        (
            b'<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>m</message-id>'
            b"<datetime>2006-04-04T12:16:49Z</datetime><display-notification><status>"
            b"<seen/></status></display-notification></imdn>",
            "no valid status",
        ),
        (
            b'<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>m</message-id>'
            b"<datetime>2006-04-04T12:16:49Z</datetime><display-notification><status>"
            b"<delivered/></status></display-notification></imdn>",
            "cannot be",
        ),
        (
            b'<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>m</message-id>'
            b"<datetime>then</datetime><display-notification><status>"
            b"<displayed/></status></display-notification></imdn>",
            "datetime",
        ),
    ],
)
def test_invalid_documents(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        imdn.parse(body)


def test_every_notification_and_status_round_trips() -> None:
    for notification, allowed in (
        (Notification.DELIVERY, (Status.DELIVERED, Status.FAILED, Status.FORBIDDEN, Status.ERROR)),
        (Notification.DISPLAY, (Status.DISPLAYED, Status.FORBIDDEN, Status.ERROR)),
        (Notification.PROCESSING, (Status.PROCESSED, Status.STORED, Status.ERROR)),
    ):
        for status in allowed:
            value = Imdn("m", SENT, notification, status, subject="hi")
            round_trip(value, imdn.serialize, imdn.parse)
