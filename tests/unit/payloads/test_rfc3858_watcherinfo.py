"""RFC 3858 watcher information documents."""

from __future__ import annotations

import pytest
from payload_vectors import round_trip, vector

from parley.payloads import PayloadError, watcherinfo
from parley.payloads.watcherinfo import (
    State,
    Watcher,
    WatcherEvent,
    WatcherInfo,
    WatcherList,
    WatcherStatus,
)

EXAMPLE = WatcherInfo(
    0,
    State.FULL,
    (
        WatcherList(
            "sip:professor@example.net",
            "presence",
            (
                Watcher(
                    "sip:userA@example.net",
                    "8ajksjda7s",
                    WatcherStatus.ACTIVE,
                    WatcherEvent.APPROVED,
                    duration_subscribed=509,
                ),
                Watcher(
                    "sip:userB@example.org",
                    "hh8juja87s997-ass7",
                    WatcherStatus.PENDING,
                    WatcherEvent.SUBSCRIBE,
                    display_name="Mr. Subscriber",
                ),
            ),
        ),
    ),
)


def test_rfc3858_example() -> None:
    assert watcherinfo.parse(vector("rfc3858_example.xml")) == EXAMPLE
    assert watcherinfo.CONTENT_TYPE == "application/watcherinfo+xml"


def test_round_trip_of_every_field() -> None:
    round_trip(EXAMPLE, watcherinfo.serialize, watcherinfo.parse)
    partial = WatcherInfo(
        7,
        State.PARTIAL,
        (
            WatcherList(
                "sip:poisson@probability.org",
                "presence",
                tuple(
                    Watcher(
                        f"sip:w{i}@academy.ru",
                        f"id{i}",
                        status,
                        event,
                        display_name="P. L. Chebychev",
                        expiration=3600,
                        duration_subscribed=0,
                        lang="ru",
                    )
                    for i, (status, event) in enumerate(
                        zip(list(WatcherStatus) * 2, list(WatcherEvent), strict=False)
                    )
                ),
            ),
            WatcherList("sip:poisson@probability.org", "message-summary"),
        ),
    )
    round_trip(partial, watcherinfo.serialize, watcherinfo.parse)


def test_unknown_elements_are_kept() -> None:
    doc = (
        b'<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" xmlns:e="urn:e" '
        b'version="3" state="partial"><watcher-list resource="sip:r@x" package="presence">'
        b'<e:stats n="1"/></watcher-list><e:top/></watcherinfo>'
    )
    info = watcherinfo.parse(doc)
    assert info.watcher_lists[0].extensions[0].get("n") == "1"
    assert info.extensions[0].local_name == "top"
    round_trip(info, watcherinfo.serialize, watcherinfo.parse)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b'<watcherinfo xmlns="urn:x" version="0" state="full"/>', "not a watcherinfo"),
        (b'<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" state="full"/>', "version"),
        (
            b'<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="-1" state="full"/>',
            "at least 0",
        ),
        (
            b'<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="most"/>',
            "state",
        ),
        (
            b'<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" '
            b'state="full"><watcher-list resource="sip:r@x" package="presence">'
            b'<watcher id="1" status="asleep" event="subscribe">sip:w@x</watcher>'
            b"</watcher-list></watcherinfo>",
            "status",
        ),
        (
            b'<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" '
            b'state="full"><watcher-list resource="sip:r@x" package="presence">'
            b'<watcher id="1" status="active" event="approved"/>'
            b"</watcher-list></watcherinfo>",
            "no URI",
        ),
        (
            b'<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" '
            b'state="full"><watcher-list package="presence"/></watcherinfo>',
            "resource",
        ),
    ],
)
def test_invalid_documents(doc: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        watcherinfo.parse(doc)
