"""The seed as it is written (issue 5, "Peer-to-peer mode"): no server at all. Poisson's own
user agent answers Chebychev's SUBSCRIBE and sends the NOTIFYs, and the MESSAGEs go straight
from one UA to the other, over loopback TCP.

The flow is checked on the wire, message for message, from what each UA's transport sent
(the endpoints' tracers), against tests/vectors/seed: SUBSCRIBE, 202, NOTIFY closed
(CPIM-PIDF, as asked), 200, NOTIFY open with Poisson's contact, 200, MESSAGE "Hi There!",
200, MESSAGE "Well, hello there to you, too!", 200.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from parley.client import Account
from parley.payloads import pidf
from parley.sip.core.subscription import SubscriptionState
from parley.sip.syntax import Request, Response, parse_message, parse_sip_uri

SEED = Path(__file__).parents[2] / "vectors" / "seed"
WAIT = 10.0
CPIM_PIDF = "application/cpim-pidf+xml"


class Wire:
    """Every SIP message the UAs send, in the order the transports sent them."""

    def __init__(self) -> None:
        self.sent: list[Request | Response] = []

    def tracer(self, direction: str, transport: str, local: Any, peer: Any, data: bytes) -> None:
        if direction == "send" and data.strip(b"\r\n"):
            self.sent.append(parse_message(data))

    async def wait_for(self, count: int) -> list[Request | Response]:
        async def enough() -> None:
            while len(self.sent) < count:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(enough(), WAIT)
        return self.sent


def seed(name: str) -> Request | Response:
    return parse_message((SEED / name).read_bytes())


def summary(message: Request | Response) -> str:
    if isinstance(message, Request):
        return message.method
    return f"{message.status} {message.cseq.method}"


def basic_of(message: Request | Response) -> tuple[str, pidf.Presence]:
    document = pidf.parse(message.body)
    assert len(document.tuples) == 1
    return document.tuples[0].basic.value, document


async def test_the_seed_between_two_peer_user_agents() -> None:
    wire = Wire()
    chebychev = Account(
        "chebychev@academy.ru",
        transport="tcp",
        display_name="P. L. Chebychev",
        tracer=wire.tracer,
    )
    poisson = Account(
        "poisson@probability.org",
        transport="tcp",
        display_name="M. Poisson",
        notify_interval=0.0,  # RFC 3856 §6.12's 5 s would only slow the test down
        tracer=wire.tracer,
    )
    async with chebychev, poisson:
        # No DNS for these domains on loopback: each UA knows where the other's domain is.
        chebychev.routes["probability.org"] = ("127.0.0.1", port_of(poisson))
        poisson.routes["academy.ru"] = ("127.0.0.1", port_of(chebychev))

        # 1-4: SUBSCRIBE (no Expires, as in the seed; asking for CPIM-PIDF only), 202,
        # NOTIFY closed (Poisson has not "logged in"), 200.
        watch = chebychev.watch("poisson@probability.org", accept=[CPIM_PIDF], send_expires=False)
        closed = await watch.next(WAIT)
        assert (closed.basic, closed.content_type, closed.state) == ("closed", CPIM_PIDF, "active")

        # 5-6: Poisson logs in: NOTIFY open with its contact, 200.
        await poisson.set_status(open=True)
        opened = await watch.next(WAIT)
        assert opened.basic == "open" and opened.contact == poisson.contact.strip("<>")

        # 7-8: Chebychev writes straight to that contact.
        result = await chebychev.send_message(opened.contact, "Hi There!", "text/plain")
        assert result.status == 200 and result.delivered
        got = await asyncio.wait_for(poisson.messages.get(), WAIT)
        assert (got.sender, got.text) == ("chebychev@academy.ru", "Hi There!")

        # 9-10: Poisson answers to Chebychev's address of record.
        reply = "Well, hello there to you, too!"
        result = await poisson.send_message("chebychev@academy.ru", reply, "text/plain")
        assert result.status == 200
        got = await asyncio.wait_for(chebychev.messages.get(), WAIT)
        assert (got.sender, got.text) == ("poisson@probability.org", reply)

        flow = await wire.wait_for(10)
        check_flow(flow[:10], chebychev, poisson)
        await watch.close()


def port_of(account: Account) -> int:
    return account.endpoint.sent_by("tcp").port


def check_flow(flow: list[Request | Response], chebychev: Account, poisson: Account) -> None:
    vectors = [seed(path.name) for path in sorted(SEED.glob("*.sip"))]
    # Methods and statuses, in order, as the seed has them (202: RFC 3265's answer).
    assert [summary(m) for m in flow] == [summary(v) for v in vectors]
    subscribe, accepted, notify_closed, ok_closed, notify_open, ok_open = flow[:6]
    message, ok_message, answer, ok_answer = flow[6:]
    assert isinstance(subscribe, Request) and isinstance(accepted, Response)
    assert isinstance(notify_closed, Request) and isinstance(notify_open, Request)
    assert isinstance(message, Request) and isinstance(answer, Request)

    # 1. SUBSCRIBE: to Poisson's AOR, from Chebychev (tagged), no To tag, Event presence.
    assert str(subscribe.uri) == "sip:poisson@probability.org"
    assert subscribe.from_.uri.aor == "chebychev@academy.ru"  # type: ignore[union-attr]
    assert subscribe.from_.display_name == "P. L. Chebychev"
    assert subscribe.from_.tag and subscribe.to.tag is None
    assert subscribe.headers.get("Event") == "presence"
    assert subscribe.headers.get("Expires") is None
    assert CPIM_PIDF in (subscribe.headers.get("Accept") or "")
    assert subscribe.contacts[0].uri == parse_sip_uri(chebychev.contact.strip("<>"))
    call_id, watcher_tag = subscribe.call_id, subscribe.from_.tag

    # 2. 202 Accepted: same transaction, a To tag, Expires: 3600 (the package default).
    assert accepted.status == 202 and accepted.call_id == call_id
    assert accepted.cseq == subscribe.cseq and accepted.from_.tag == watcher_tag
    notifier_tag = accepted.to.tag
    assert notifier_tag and accepted.headers.get("Expires") == "3600"
    assert accepted.contacts[0].uri == parse_sip_uri(poisson.contact.strip("<>"))

    # 3-6. The NOTIFYs: in the dialog (Call-ID, tags swapped), to Chebychev's Contact,
    # CSeq rising by one, active, CPIM-PIDF with closed then open and the contact.
    for notify in (notify_closed, notify_open):
        assert notify.call_id == call_id
        assert (notify.from_.tag, notify.to.tag) == (notifier_tag, watcher_tag)
        assert notify.uri == subscribe.contacts[0].uri
        assert notify.headers.get("Event") == "presence"
        assert notify.content_type == CPIM_PIDF
        state = SubscriptionState.parse(notify.headers.get("Subscription-State") or "")
        assert state.active and state.expires is not None and 0 < state.expires <= 3600
    assert notify_open.cseq.seq == notify_closed.cseq.seq + 1
    basic, document = basic_of(notify_closed)
    assert basic == "closed" and document.entity == "sip:poisson@probability.org"
    assert document.tuples[0].contact is None
    basic, document = basic_of(notify_open)
    assert basic == "open" and document.entity == "sip:poisson@probability.org"
    contact = document.tuples[0].contact
    assert contact is not None and contact.uri == poisson.contact.strip("<>")
    for notify, ok in ((notify_closed, ok_closed), (notify_open, ok_open)):
        assert isinstance(ok, Response) and ok.status == 200
        assert (ok.call_id, ok.cseq, ok.to.tag) == (notify.call_id, notify.cseq, watcher_tag)

    # 7-10. MESSAGEs: outside any dialog (new Call-ID and From tag each, no To tag),
    # text/plain, answered 200 with a To tag.
    assert str(message.uri) == contact.uri and message.body == b"Hi There!"
    assert str(answer.uri) == "sip:chebychev@academy.ru"
    assert answer.body == b"Well, hello there to you, too!"
    call_ids = {call_id}
    for request, ok in ((message, ok_message), (answer, ok_answer)):
        assert request.content_type == "text/plain" and request.to.tag is None
        assert request.call_id not in call_ids
        call_ids.add(request.call_id)
        assert request.from_.tag not in (watcher_tag, notifier_tag)
        assert isinstance(ok, Response) and ok.status == 200 and ok.to.tag
        assert (ok.call_id, ok.cseq, ok.from_.tag) == (
            request.call_id,
            request.cseq,
            request.from_.tag,
        )
    assert message.from_.uri.aor == "chebychev@academy.ru"  # type: ignore[union-attr]
    assert answer.from_.uri.aor == "poisson@probability.org"  # type: ignore[union-attr]


async def test_peer_notifier_in_rfc_6665_terms() -> None:
    """200 instead of 202 when asked, PIDF when Accept does not ask for CPIM-PIDF, a NOTIFY
    after each refresh, and the final NOTIFY of an unsubscription; a SUBSCRIBE for another
    user is refused."""
    wire = Wire()
    watcher = Account("chebychev@academy.ru", transport="tcp", tracer=wire.tracer)
    presentity = Account(
        "poisson@probability.org",
        transport="tcp",
        notifier_202=False,
        notify_interval=0.0,
        tracer=wire.tracer,
    )
    async with watcher, presentity:
        watcher.routes["probability.org"] = ("127.0.0.1", port_of(presentity))
        await presentity.set_status(True, "away", "at the blackboard")
        watch = watcher.watch("poisson@probability.org", expires=600)
        first = await watch.next(WAIT)
        assert (first.basic, first.content_type) == ("open", pidf.CONTENT_TYPE)
        assert (first.activities, first.note) == (("away",), "at the blackboard")
        assert watch.status == 200
        assert presentity.notifier is not None
        assert presentity.notifier.watchers == ["chebychev@academy.ru"]

        watch.refresh()
        again = await watch.next(WAIT)
        assert (again.basic, again.note) == ("open", "at the blackboard")

        await watch.close()
        assert watch.done and presentity.notifier.watchers == []
        final = [m for m in wire.sent if isinstance(m, Request) and m.method == "NOTIFY"][-1]
        state = SubscriptionState.parse(final.headers.get("Subscription-State") or "")
        assert state.terminated and state.reason == "timeout"

        stranger = watcher.watch("fermat@probability.org", auto_retry=False)
        refused = await stranger.next(WAIT)
        assert (refused.state, refused.reason) == ("terminated", "404")
