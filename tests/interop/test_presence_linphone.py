"""linphonec (Debian linphone-cli 5.1, liblinphone 5.1.65) doing presence through Parley over
UDP and TCP: it watches a Parley SDK user (``friend add``), and with ``publish=1`` in its
proxy config it PUBLISHes its presence, which an SDK watcher sees.

What linphonec 5.1 can and cannot do:

* ``friend add NAME ADDR`` SUBSCRIBEs to ADDR (through the outbound proxy, the server) and
  prints each NOTIFY as ``Friend "NAME" <ADDR> is STATUS``, STATUS read from the basic
  status and RPID activities: ``Online``, ``Away``, ``Busy``, ``Offline``... Unlike
  baresip it shows an ``away`` activity as Away.
* It has no command to set its own status: the old ``status online|busy|away`` commands are
  gone (``status`` only knows ``register``, ``autoanswer`` and ``hook``), and ``param``
  changes configuration, not the presence model. So it can only PUBLISH the default model
  (``publish=1``): basic open, the tuple contact the AOR with priority 0.8, a timestamp and
  linphone's own ``<pidfonline:online/>`` status extension; on ``quit`` it removes the
  publication (Expires: 0). That is all that is tested of its publishing.
* On ``quit`` it un-SUBSCRIBEs and then answers the final NOTIFY (terminated) 481: it has
  already dropped the subscription. Parley ends the subscription either way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clients import (
    DOMAIN,
    linphonec,
    next_change,
    parley_server,
    sdk_account,
    wait_for_no_binding,
    wait_for_publications,
)

from parley.payloads import pidf
from parley.services.presence import PresenceConfig

pytestmark = pytest.mark.interop

TRANSPORTS = ["udp", "tcp"]
#: Short timings: no test waits for RFC 3856 §6.12's 5 s between NOTIFYs.
TIMINGS = PresenceConfig(min_notify_interval=0.1, persist_delay=0.05)
BOB = f"bob@{DOMAIN}"
ALICE = f"alice@{DOMAIN}"


def friend_is(status: str) -> str:
    return re.escape(f'Friend "bob" <sip:{BOB}> is {status}')


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_linphonec_watches_an_sdk_user(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(
            tmp_path / "data", presence_policy="open", presence_timings=TIMINGS
        ) as server,
        sdk_account(server, "bob", transport) as bob,
        linphonec(tmp_path, server, "alice", transport) as alice,
    ):
        await alice.expect_registered()
        assert (await bob.publish_status(activity="away", note="at lunch")).status == 200
        await alice.send(f"friend add bob sip:{BOB}")
        await alice.expect(friend_is("Away"))
        assert (await bob.publish_status(activity="busy", note="on a call")).status == 200
        await alice.expect(friend_is("Busy"))
        assert (await bob.publish_status(open=True)).status == 200
        await alice.expect(friend_is("Online"))
        assert (await bob.publish_status(open=False)).status == 200
        await alice.expect(friend_is("Offline"))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_sdk_user_watches_linphonec_publish(tmp_path: Path, transport: str) -> None:
    async with (
        parley_server(
            tmp_path / "data", presence_policy="open", presence_timings=TIMINGS
        ) as server,
        sdk_account(server, "bob", transport) as bob,
    ):
        watch = bob.watch(ALICE)
        try:
            first = await next_change(watch, lambda change: change.basic is not None)
            assert first.basic == "closed", first  # not registered, nothing published
            async with linphonec(tmp_path, server, "alice", transport, publish=True) as alice:
                await alice.expect_registered()
                [publication] = await wait_for_publications(server, ALICE)
                assert b"pidfonline" in publication.document, publication
                published = await next_change(
                    watch, lambda change: change.contact == f"sip:{ALICE}"
                )
                assert published.open, published
                # linphone's tuple reaches the watcher whole: its status extension (an
                # element of a namespace Parley does not know) is kept.
                assert published.document is not None
                assert b"http://www.linphone.org/xsds/pidfonline.xsd" in pidf.serialize(
                    published.document
                ), published
            # quit: the publication is removed and the registration ended.
            await wait_for_publications(server, ALICE, 0)
            await wait_for_no_binding(server, ALICE)
            await next_change(watch, lambda change: change.basic == "closed")
        finally:
            await watch.close()


async def test_a_pending_linphonec_watcher_is_told_once_allowed(tmp_path: Path) -> None:
    """``presence-policy = "ask"``: linphonec's subscription stays pending and shows up as a
    friend request in bob's watcher-info; once bob allows alice, linphonec shows him Busy."""
    async with (
        parley_server(tmp_path / "data", presence_policy="ask", presence_timings=TIMINGS) as server,
        sdk_account(server, "bob") as bob,
        linphonec(tmp_path, server, "alice", "udp") as alice,
    ):
        await alice.expect_registered()
        assert (await bob.publish_status(activity="busy")).status == 200
        watchers = bob.watchers()
        try:
            await alice.send(f"friend add bob sip:{BOB}")
            await next_change(watchers, lambda change: f"sip:{ALICE}" in change.pending)
            # Pending: no status has reached linphonec (RFC 3856 §6.6).
            assert "is Busy" not in alice.transcript, alice.tail()
            await server.presence.set_rule(BOB, ALICE, "allow")
            await alice.expect(friend_is("Busy"))
            await next_change(watchers, lambda change: f"sip:{ALICE}" in change.active)
        finally:
            await watchers.close()
