"""The presence service's pure parts, without sockets: composition of publications and
registrations (RFC 3903 §4, RFC 4479), the neutral document of polite blocking (RFC 5025
§3.2.1), watcher information documents (RFC 3858), who a buddy-list change adds, and the
configuration's checks."""

from __future__ import annotations

import pytest

from parley.payloads import pidf, rpid, watcherinfo
from parley.payloads.resourcelists import Entry, List, ResourceLists
from parley.services.presence import PresenceConfig, added_entries
from parley.services.presence.composition import (
    compose_presence,
    neutral_presence,
    registration_presence,
    render,
)
from parley.services.presence.winfo import WaitingWatcher, document, listed, watchers
from parley.services.storage import Binding, Publication

BOB = "bob@example.com"


def binding(contact: str, *, q: float = 1.0, instance: str | None = None) -> Binding:
    return Binding(BOB, contact, expires_at=1e12, q=q, instance=instance)


def publication(etag: str, published: float, presence: pidf.Presence) -> Publication:
    body = pidf.serialize(presence)
    return Publication(BOB, "presence", etag, pidf.CONTENT_TYPE, body, published, 1e12)


def test_registration_alone_is_open_with_each_device() -> None:
    doc = registration_presence(
        BOB,
        [
            binding("sip:bob@192.0.2.1:5060"),
            binding("sip:bob@192.0.2.2:5060;transport=tcp", q=0.5),
            # A second flow of the same instance is the same device (RFC 5626 §7).
            binding("sip:bob@192.0.2.3:5060", instance="<urn:uuid:1>"),
            binding("sip:bob@192.0.2.4:5060", instance="<urn:uuid:1>"),
        ],
    )
    assert doc.entity == f"sip:{BOB}" and doc.is_open
    assert [t.contact.uri for t in doc.tuples if t.contact] == [
        "sip:bob@192.0.2.1:5060",
        "sip:bob@192.0.2.2:5060;transport=tcp",
        "sip:bob@192.0.2.3:5060",
    ]
    assert [t.contact.priority for t in doc.tuples if t.contact] == [None, 0.5, None]
    # Tuple ids are stable (RFC 3863 §4.1.2): the same bindings give the same document.
    again = registration_presence(BOB, [binding("sip:bob@192.0.2.1:5060")])
    assert again.tuples[0].id == doc.tuples[0].id


def test_no_binding_is_closed_and_neutral() -> None:
    closed = registration_presence(BOB, [])
    assert closed == neutral_presence(BOB)
    assert [t.basic for t in closed.tuples] == [pidf.Basic.CLOSED]
    assert all(t.contact is None for t in closed.tuples)


def test_publications_win_over_registration_and_compose() -> None:
    laptop = pidf.basic(True, f"sip:{BOB}", "sip:bob@laptop", activities=["away"])
    phone = pidf.basic(True, f"sip:{BOB}", "sip:bob@phone", activities=["on-the-phone"])
    doc = compose_presence(
        BOB,
        [publication("a", 1.0, laptop), publication("b", 2.0, phone)],
        [binding("sip:bob@elsewhere")],
    )
    assert {t.contact.uri for t in doc.tuples if t.contact} == {"sip:bob@laptop", "sip:bob@phone"}
    person = doc.person
    assert person is not None and person.activities == rpid.Activities(("on-the-phone",))


def test_unreadable_publication_is_skipped() -> None:
    broken = Publication(BOB, "presence", "x", pidf.CONTENT_TYPE, b"<nope", 1.0, 1e12)
    doc = compose_presence(BOB, [broken], [binding("sip:bob@192.0.2.1")])
    assert doc == registration_presence(BOB, [binding("sip:bob@192.0.2.1")])


def test_render_in_both_flavours() -> None:
    doc = registration_presence(BOB, [binding("sip:bob@192.0.2.1")])
    assert b"urn:ietf:params:xml:ns:pidf" in render(doc, pidf.CONTENT_TYPE)
    legacy = render(doc, pidf.CPIM_PIDF_CONTENT_TYPE)
    assert b"urn:ietf:params:xml:ns:cpim-pidf" in legacy
    assert pidf.parse(legacy) == doc


def test_watcher_information_lists_waiting_requests() -> None:
    found = watchers(
        BOB,
        [],
        [WaitingWatcher("alice@example.com", 1e12), WaitingWatcher("sip:carol@example.com", 1e12)],
    )
    body = document(BOB, found, version=3)
    info = watcherinfo.parse(body)
    assert (info.version, info.state) == (3, watcherinfo.State.FULL)
    (watcher_list,) = info.watcher_lists
    assert (watcher_list.resource, watcher_list.package) == (f"sip:{BOB}", "presence")
    assert [(w.uri, w.status) for w in watcher_list.watchers] == [
        ("sip:alice@example.com", watcherinfo.WatcherStatus.WAITING),
        ("sip:carol@example.com", watcherinfo.WatcherStatus.WAITING),
    ]
    # What was sent is compared by its watchers, whatever its version number.
    assert listed(body) == found and listed(document(BOB, found, version=9)) == found
    assert listed(None) is None and listed(b"garbage") is None


def test_added_entries_are_the_new_buddies() -> None:
    old = ResourceLists((List("buddies", items=(Entry("sip:alice@example.com"),)),))
    new = ResourceLists(
        (
            List(
                "buddies",
                items=(
                    Entry("sip:alice@example.com"),
                    List("work", items=(Entry("sip:carol@example.com"),)),
                ),
            ),
            List("family", items=(Entry("sip:dave@example.com"), Entry("sip:carol@example.com"))),
        )
    )
    assert added_entries(old, new) == ["sip:carol@example.com", "sip:dave@example.com"]
    assert added_entries(None, old) == ["sip:alice@example.com"]


def test_config_checks_and_packages() -> None:
    presence, winfo = PresenceConfig(min_notify_interval=0.5, min_expires=10).packages()
    assert (presence.name, winfo.name) == ("presence", "presence.winfo")
    assert presence.min_notify_interval == winfo.min_notify_interval == 0.5
    assert presence.min_expires == 10 and presence.accept[0] == pidf.CONTENT_TYPE
    with pytest.raises(ValueError):
        PresenceConfig(publish_min_expires=0)
    with pytest.raises(ValueError):
        PresenceConfig(publication_sweep=0)
