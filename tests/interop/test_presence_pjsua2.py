"""PJSIP's Python binding (``pjsua2-python``) doing presence through Parley over UDP and TCP.

An account with ``presConfig.publishEnabled`` PUBLISHes its status (``setOnlineStatus``:
basic open/closed, an RPID activity, away or busy, and a note) to the server; another pjsua2
account, or a Parley SDK account, watches it (``Buddy`` with ``subscribe``, or
``Account.watch``) through the server's presence agent and sees what was published. The SDK
publishes (``publish_status``) and pjsua2 watches it too. With ``presence-policy = "ask"``
the watcher stays pending until the presentity allows it (pres-rules), then it is told.

What pjsua2 2.15.1 does here:

* its PUBLISH carries PIDF with one tuple (basic status, the note) and an RPID ``person``
  (activities, the note again); it is challenged (407) every time, as it sends no
  credentials pre-emptively; a change of status is a PUBLISH with SIP-If-Match and the new
  document, and ``shutdown`` removes the publication (Expires: 0);
* a buddy's state is ``online``/``offline`` from the basic status, its ``activity`` from the
  RPID activities (pjsua2 knows only ``away`` and ``busy``), and its ``note`` from the
  person's note (or the tuple's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clients import (
    DOMAIN,
    Pjsua2,
    next_change,
    parley_server,
    pjsua2,
    sdk_account,
    wait_for_binding,
    wait_for_publications,
)

from parley.services.presence import PresenceConfig

pytestmark = pytest.mark.interop

TRANSPORTS = ["udp", "tcp"]
#: Short timings: no test waits for RFC 3856 §6.12's 5 s between NOTIFYs.
TIMINGS = PresenceConfig(min_notify_interval=0.1, persist_delay=0.05)


async def buddy_state(client: Pjsua2, uri: str, **match: Any) -> dict[str, Any]:
    """The next ``buddy`` event of ``uri`` whose fields include ``match`` (bounded)."""
    return await client.event("buddy", uri=uri, **match)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pjsua2_watches_pjsua2_go_away_and_busy(tmp_path: Path, transport: str) -> None:
    (tmp_path / "carol").mkdir()
    (tmp_path / "alice").mkdir()
    carol_uri = f"sip:carol@{DOMAIN}"
    async with (
        parley_server(
            tmp_path / "data", presence_policy="open", presence_timings=TIMINGS
        ) as server,
        pjsua2(tmp_path / "carol", server, "carol", transport, publish=True) as carol,
        pjsua2(tmp_path / "alice", server, "alice", transport) as alice,
    ):
        await carol.event("reg", code=200, active=True)
        await alice.event("reg", code=200, active=True)
        await carol.command(cmd="status", online=True, activity="away", note="at lunch")
        await wait_for_publications(server, f"carol@{DOMAIN}")
        await alice.command(cmd="subscribe", to=carol_uri)
        seen = await buddy_state(alice, carol_uri, activity="away")
        assert (seen["status"], seen["note"], seen["sub_state"]) == (
            "online",
            "at lunch",
            "ACTIVE",
        ), seen
        await carol.command(cmd="status", online=True, activity="busy", note="in a meeting")
        seen = await buddy_state(alice, carol_uri, activity="busy")
        assert (seen["status"], seen["note"]) == ("online", "in a meeting"), seen
        await carol.command(cmd="status", online=False, note="gone home")
        seen = await buddy_state(alice, carol_uri, status="offline")
        assert seen["note"] == "gone home", seen
        # Account.shutdown() removes the publication (PUBLISH Expires: 0, RFC 3903 §4.5).
        await carol.close()
        await wait_for_publications(server, f"carol@{DOMAIN}", 0)
        await buddy_state(alice, carol_uri, status="offline", note="")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_sdk_user_watches_pjsua2(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(
            tmp_path / "data", presence_policy="open", presence_timings=TIMINGS
        ) as server,
        sdk_account(server, "alice", transport) as alice,
        pjsua2(tmp_path, server, "carol", transport, publish=True) as carol,
    ):
        await carol.event("reg", code=200, active=True)
        await wait_for_binding(server, f"carol@{DOMAIN}")
        watch = alice.watch(f"carol@{DOMAIN}")
        try:
            first = await next_change(watch, lambda change: change.basic is not None)
            assert first.open and first.state == "active", first
            # Registered but not yet published: open, with the registered contact.
            assert first.contact is not None and "127.0.0.1" in first.contact, first
            await carol.command(cmd="status", online=True, activity="away", note="at lunch")
            away = await next_change(watch, lambda change: "away" in change.activities)
            assert (away.basic, away.note) == ("open", "at lunch"), away
            assert away.content_type == "application/pidf+xml", away
            await carol.command(cmd="status", online=True, activity="busy", note="on a call")
            busy = await next_change(watch, lambda change: "busy" in change.activities)
            assert (busy.basic, busy.note) == ("open", "on a call"), busy
            await carol.command(cmd="status", online=False, note="gone home")
            closed = await next_change(watch, lambda change: change.basic == "closed")
            assert closed.note == "gone home", closed
        finally:
            await watch.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pjsua2_watches_an_sdk_user(tmp_path: Path, transport: str) -> None:
    bob_uri = f"sip:bob@{DOMAIN}"
    async with (
        parley_server(
            tmp_path / "data", presence_policy="open", presence_timings=TIMINGS
        ) as server,
        sdk_account(server, "bob", transport) as bob,
        pjsua2(tmp_path, server, "carol", transport) as carol,
    ):
        await carol.event("reg", code=200, active=True)
        published = await bob.publish_status(open=True, activity="away", note="back at 3")
        assert published.status == 200, published
        await carol.command(cmd="subscribe", to=bob_uri)
        seen = await buddy_state(carol, bob_uri, activity="away")
        assert (seen["status"], seen["note"], seen["sub_state"]) == (
            "online",
            "back at 3",
            "ACTIVE",
        ), seen
        assert (await bob.publish_status(activity="busy", note="deadline")).status == 200
        seen = await buddy_state(carol, bob_uri, activity="busy")
        assert (seen["status"], seen["note"]) == ("online", "deadline"), seen
        assert (await bob.publish_status(open=False, note="offline now")).status == 200
        seen = await buddy_state(carol, bob_uri, status="offline")
        assert seen["note"] == "offline now", seen
        # Removing the publication (RFC 3903 §4.5): bob never registered, so closed.
        await bob.presence.unpublish()
        await buddy_state(carol, bob_uri, status="offline", note="")


#: Parley's presence agent answers every SUBSCRIBE with one Contact, that of its UDP
#: listener (``<sip:127.0.0.1:UDP-PORT>``, no ``;transport``), even when the subscription
#: came over TCP (services/presence/agent.py ``_local_endpoint``). That Contact is the
#: dialog's remote target (RFC 3261 §12.1.2), so in-dialog SUBSCRIBEs go to it over UDP; a
#: pjsua2 account with only a TCP transport cannot send them at all: its un-SUBSCRIBE fails
#: locally ("Unsupported transport (PJSIP_EUNSUPTRANSPORT)" in pjsua2.log) and the server
#: never learns of it, so carol stays an active watcher of bob.
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_pjsua2_unsubscribes(tmp_path: Path, transport: str) -> None:
    """pjsua2 un-SUBSCRIBEs (Expires: 0, RFC 6665 §4.1.2.3): the server ends the
    subscription with a final NOTIFY (terminated), and bob's watcher-info no longer shows
    carol as an active watcher."""
    bob_uri = f"sip:bob@{DOMAIN}"
    carol = f"sip:carol@{DOMAIN}"
    async with (
        parley_server(
            tmp_path / "data", presence_policy="open", presence_timings=TIMINGS
        ) as server,
        sdk_account(server, "bob", transport) as bob,
        pjsua2(tmp_path, server, "carol", transport) as client,
    ):
        await client.event("reg", code=200, active=True)
        watchers = bob.watchers()
        try:
            await client.command(cmd="subscribe", to=bob_uri)
            await buddy_state(client, bob_uri, sub_state="ACTIVE")
            await next_change(watchers, lambda change: carol in change.active)
            await client.command(cmd="unsubscribe", to=bob_uri)
            ended = await next_change(
                watchers, lambda change: carol not in change.active, wait=15.0
            )
            assert carol not in ended.pending, ended
            final = await buddy_state(client, bob_uri, sub_state="TERMINATED")
            assert final["term_code"] == 200, final
        finally:
            await watchers.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_pending_pjsua2_watcher_is_told_once_allowed(
    tmp_path: Path, transport: str
) -> None:
    """``presence-policy = "ask"``: pjsua2's subscription stays pending and carries no
    status; it shows up as a friend request in bob's watcher-info; once bob allows carol
    (pres-rules) the subscription becomes active with bob's published status."""
    bob_uri = f"sip:bob@{DOMAIN}"
    async with (
        parley_server(tmp_path / "data", presence_policy="ask", presence_timings=TIMINGS) as server,
        sdk_account(server, "bob", transport) as bob,
        pjsua2(tmp_path, server, "carol", transport) as carol,
    ):
        await carol.event("reg", code=200, active=True)
        assert (await bob.publish_status(activity="busy", note="writing")).status == 200
        watchers = bob.watchers()
        try:
            await carol.command(cmd="subscribe", to=bob_uri)
            pending = await buddy_state(carol, bob_uri, sub_state="PENDING")
            assert pending["status"] != "online" and pending["note"] == "", pending
            request = await next_change(
                watchers, lambda change: f"sip:carol@{DOMAIN}" in change.pending
            )
            assert f"sip:carol@{DOMAIN}" not in request.active, request
            await server.presence.set_rule(f"bob@{DOMAIN}", f"carol@{DOMAIN}", "allow")
            seen = await buddy_state(carol, bob_uri, sub_state="ACTIVE", activity="busy")
            assert (seen["status"], seen["note"]) == ("online", "writing"), seen
            now = await next_change(watchers, lambda change: f"sip:carol@{DOMAIN}" in change.active)
            assert f"sip:carol@{DOMAIN}" not in now.pending, now
        finally:
            await watchers.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pjsua2_sees_registration_as_presence(tmp_path: Path, transport: str) -> None:
    """bob's client never PUBLISHes: registering makes him online (with his contact),
    unregistering offline (issue 4, the seed's flow)."""
    bob_uri = f"sip:bob@{DOMAIN}"
    async with (
        parley_server(
            tmp_path / "data", presence_policy="open", presence_timings=TIMINGS
        ) as server,
        sdk_account(server, "bob", transport) as bob,
        pjsua2(tmp_path, server, "carol", transport) as carol,
    ):
        await carol.event("reg", code=200, active=True)
        await carol.command(cmd="subscribe", to=bob_uri)
        await buddy_state(carol, bob_uri, sub_state="ACTIVE", status="offline")
        assert (await bob.register()).status == 200
        online = await buddy_state(carol, bob_uri, status="online")
        assert online["activity"] == "unknown" and online["note"] == "", online
        assert (await bob.unregister()).status == 200
        await buddy_state(carol, bob_uri, status="offline")
