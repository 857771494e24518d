"""RFC 6665 §4 subscription dialogs, on the seed's Chebychev/Poisson presence flow
(/work/shared/seeds/000_2bd8726d56b64074.txt): SUBSCRIBE with From tag 21171, 202 with To tag
25140, NOTIFYs with CSeq 1026 and 1027 from the notifier.

The seed's rendering lost the colon after ``Via`` and broke the responses' Via over two
lines; the messages below repair exactly that and nothing else. Covered: the usual order,
the NOTIFY that overtakes the 202 (§4.1.2.4), forked NOTIFYs creating one dialog each
(§4.1.4), NOTIFY matching by Call-ID, tag and Event (§4.4.1, §8.2.1), the route set taken
from the NOTIFY (§4.4.1), and NOTIFY/SUBSCRIBE as target refresh requests (§3.1, §3.2).
"""

from __future__ import annotations

import pytest

from parley.sip.dialog import Dialog, DialogId, DialogState, DialogTable
from parley.sip.errors import LocalProtocolError, RemoteProtocolError
from parley.sip.syntax import MAGIC_COOKIE, Request, Response, parse_message

CALL_ID = "58dkfj34924lk34452k592520"
SUBSCRIBER_SENT_BY = ("lecturehall21.academy.ru", 5060)
NOTIFIER_SENT_BY = ("dist.probablilty.org", 5060)


def request(text: str) -> Request:
    message = parse_message(text.lstrip("\n").replace("\n", "\r\n").encode() + b"\r\n")
    assert isinstance(message, Request)
    return message


def response(text: str) -> Response:
    message = parse_message(text.lstrip("\n").replace("\n", "\r\n").encode() + b"\r\n")
    assert isinstance(message, Response)
    return message


SUBSCRIBE = """
SUBSCRIBE sip:poisson@probability.org SIP/2.0
Via: SIP/2.0/TCP lecturehall21.academy.ru:5060;branch=z9hG4bK348471123
Max-Forwards: 70
To: M. Poisson <sip:poisson@probability.org>
From: P. L. Chebychev <sip:chebychev@academy.ru>;tag=21171
Call-ID: 58dkfj34924lk34452k592520
CSeq: 3412 SUBSCRIBE
Allow-Events: presence
Allow: ACK, INVITE, CANCEL, BYE, NOTIFY, SUBSCRIBE, MESSAGE
Contact: <sip:pafnuty@lecturehall21.academy.ru;transport=tcp>
Event: presence
Content-Length: 0
"""

ACCEPTED = """
SIP/2.0 202 Accepted
Via: SIP/2.0/TCP lecturehall21.academy.ru:5060;branch=z9hG4bK348471123;received=19.34.3.1
To: M. Poisson <sip:poisson@probability.org>;tag=25140
From: P. L. Chebychev <sip:chebychev@academy.ru>;tag=21171
Call-ID: 58dkfj34924lk34452k592520
CSeq: 3412 SUBSCRIBE
Allow-Events: presence
Allow: ACK, INVITE, CANCEL, BYE, NOTIFY, SUBSCRIBE, MESSAGE
Contact: <sip:s.possion@dist.probability.org;transport=tcp>
Event: presence
Expires: 3600
Content-Length: 0
"""

PIDF_CLOSED = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:cpim-pidf"
      entity="sip:poisson@probability.org">
    <tuple id="452426775">
      <status>
        <basic>closed</basic>
      </status>
    </tuple>
</presence>
"""


def notify(
    cseq: int,
    *,
    from_tag: str = "25140",
    to_tag: str = "21171",
    contact: str = "sip:s.possion@dist.probability.org;transport=tcp",
    event: str = "presence",
    expires: int = 3600,
    extra: str = "",
) -> Request:
    """A NOTIFY of the seed (1026's headers), with the parts the tests vary."""
    return request(
        f"""
NOTIFY sip:pafnuty@lecturehall21.academy.ru SIP/2.0
Via: SIP/2.0/TCP dist.probablilty.org:5060;branch=z9hG4bK4321{cseq}{from_tag}
Max-Forwards: 70
To: P. L. Chebychev <sip:chebychev@academy.ru>;tag={to_tag}
From: M. Poisson <sip:poisson@probability.org>;tag={from_tag}
Call-ID: 58dkfj34924lk34452k592520
CSeq: {cseq} NOTIFY
Allow: ACK, INVITE, CANCEL, BYE, NOTIFY, SUBSCRIBE, MESSAGE
Allow-Events: dialog
Contact: <{contact}>
Subscription-State: active;expires={expires}
Event: {event}
{extra}Content-Type: application/cpim-pidf+xml
Content-Length: {len(PIDF_CLOSED)}

{PIDF_CLOSED}""".rstrip("\n")
    )


def branch(n: int) -> str:
    return f"{MAGIC_COOKIE}sub{n}"


def subscriber_table() -> DialogTable:
    table = DialogTable()
    table.add_pending_subscription(request(SUBSCRIBE))
    return table


# -- the seed, in order ---------------------------------------------------------------------


def test_the_seed_flow_at_the_subscriber() -> None:
    table = subscriber_table()
    subscribe = request(SUBSCRIBE)
    accepted = response(ACCEPTED)
    assert table.match_response(accepted) is None
    dialog = Dialog.uac(subscribe, accepted)
    table.add(dialog)
    assert dialog.id == DialogId(CALL_ID, "21171", "25140")
    assert dialog.state is DialogState.CONFIRMED
    assert str(dialog.remote_target) == "sip:s.possion@dist.probability.org;transport=tcp"
    assert dialog.local_seq == 3412 and dialog.remote_seq is None

    for cseq in (1026, 1027):
        message = notify(cseq, expires=3600 if cseq == 1026 else 1800)
        found = table.match_request(message)
        assert found is dialog
        found.receive_request(message)
        assert dialog.remote_seq == cseq

    # A NOTIFY with an old CSeq in a new transaction is out of order: 500 (§12.2.2).
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(notify(1026, extra="X-Replayed: yes\n"))
    assert caught.value.status_hint == 500

    # The refresh (RFC 6665 §4.1.2.2) goes in the dialog, numbered after the SUBSCRIBE.
    refresh = dialog.create_request(
        "SUBSCRIBE",
        branch=branch(1),
        sent_by=SUBSCRIBER_SENT_BY,
        transport="TCP",
        headers=[("Event", "presence"), ("Expires", "3600")],
    )
    assert refresh.request_uri == "sip:s.possion@dist.probability.org;transport=tcp"
    assert (refresh.cseq.seq, refresh.cseq.method) == (3413, "SUBSCRIBE")
    assert (refresh.from_.tag, refresh.to.tag) == ("21171", "25140")
    assert str(refresh.to.uri) == "sip:poisson@probability.org"
    assert [str(c.uri) for c in refresh.contacts] == [
        "sip:pafnuty@lecturehall21.academy.ru;transport=tcp"
    ]
    assert "Route" not in refresh.headers


def test_the_seed_flow_between_notifier_and_subscriber() -> None:
    subscribe = request(SUBSCRIBE)
    # The notifier answers 202 with To tag 25140; its own CSeq space is its business (the
    # seed's notifier happens to stand at 1025).
    notifier = Dialog.uas(
        subscribe,
        "25140",
        local_seq=1025,
        local_target=Dialog.uac(subscribe, response(ACCEPTED)).remote_target,
    )
    subscriber = Dialog.uac(subscribe, response(ACCEPTED))
    assert notifier.id == DialogId(CALL_ID, "25140", "21171")

    for expected in (1026, 1027):
        sent = notifier.create_request(
            "NOTIFY",
            branch=branch(expected),
            sent_by=NOTIFIER_SENT_BY,
            transport="TCP",
            headers=[
                ("Subscription-State", "active;expires=3600"),
                ("Event", "presence"),
                ("Content-Type", "application/cpim-pidf+xml"),
            ],
            body=PIDF_CLOSED.encode(),
        )
        assert sent.cseq.seq == expected
        assert sent.request_uri == "sip:pafnuty@lecturehall21.academy.ru;transport=tcp"
        assert (sent.from_.tag, sent.to.tag) == ("25140", "21171")
        # NOTIFY is a target refresh request (RFC 6665 §3.2): it carries the Contact.
        assert [str(c.uri) for c in sent.contacts] == [
            "sip:s.possion@dist.probability.org;transport=tcp"
        ]
        received = parse_message(sent.to_bytes())
        assert isinstance(received, Request)
        subscriber.receive_request(received)
        assert subscriber.remote_seq == expected

    refresh = subscriber.create_request(
        "SUBSCRIBE",
        branch=branch(9),
        sent_by=SUBSCRIBER_SENT_BY,
        transport="TCP",
        headers=[("Event", "presence")],
    )
    received = parse_message(refresh.to_bytes())
    assert isinstance(received, Request)
    notifier.receive_request(received)
    assert notifier.remote_seq == 3413


# -- RFC 6665 §4.1.2.4: the NOTIFY may come before the 2xx -----------------------------------


def test_a_notify_before_the_202_creates_the_dialog() -> None:
    table = subscriber_table()
    first = notify(1026)
    # Not a known dialog, but awaited: no 481.
    assert table.match_request(first) is None
    assert table.match_notify(first) is not None
    dialog = table.create_subscriber_dialog(first)
    assert dialog.id == DialogId(CALL_ID, "21171", "25140")
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.method == "SUBSCRIBE"
    assert dialog.remote_seq == 1026
    # The local side continues the SUBSCRIBE, so the notifier accepts the next refresh.
    assert dialog.local_seq == 3412
    assert str(dialog.remote_target) == "sip:s.possion@dist.probability.org;transport=tcp"

    # The 202 then finds the dialog, and changes neither route set nor target: the NOTIFY
    # established the dialog (§4.4.1) and spoke after the 202 was sent.
    late = response(
        ACCEPTED.replace(
            "sip:s.possion@dist.probability.org", "sip:old@dist.probability.org"
        ).replace("Allow-Events: presence\n", "Record-Route: <sip:p.probability.org;lr>\n", 1)
    )
    assert table.match_response(late) is dialog
    dialog.receive_response(late)
    assert dialog.state is DialogState.CONFIRMED
    assert str(dialog.remote_target) == "sip:s.possion@dist.probability.org;transport=tcp"
    assert dialog.route_set == ()

    second = notify(1027, expires=1800)
    assert table.match_request(second) is dialog
    dialog.receive_request(second)
    assert dialog.remote_seq == 1027
    refresh = dialog.create_request(
        "SUBSCRIBE", branch=branch(2), sent_by=SUBSCRIBER_SENT_BY, transport="TCP"
    )
    assert refresh.cseq.seq == 3413 and refresh.to.tag == "25140"


def test_creating_the_same_notify_dialog_twice_is_a_caller_error() -> None:
    table = subscriber_table()
    dialog = table.create_subscriber_dialog(notify(1026))
    # Now in the table, the dialog's own NOTIFYs match it normally...
    assert table.match_request(notify(1027)) is dialog
    # ...and building it again is refused.
    with pytest.raises(LocalProtocolError):
        table.create_subscriber_dialog(notify(1027))


# -- RFC 6665 §4.1.4: forked NOTIFYs, one dialog each ----------------------------------------


def test_forked_notifies_with_other_tags_create_separate_dialogs() -> None:
    table = subscriber_table()
    subscribe = request(SUBSCRIBE)
    table.add(Dialog.uac(subscribe, response(ACCEPTED)))

    # Another device of Poisson's accepted the forked SUBSCRIBE too; its 2xx was absorbed
    # by the proxy, but its NOTIFY arrives with its own From tag.
    forked = notify(7, from_tag="99q7", contact="sip:poisson@laptop.probability.org")
    assert table.match_request(forked) is None
    other = table.create_subscriber_dialog(forked)
    assert len(table) == 2
    assert other.id == DialogId(CALL_ID, "21171", "99q7")
    assert str(other.remote_target) == "sip:poisson@laptop.probability.org"
    assert other.remote_seq == 7

    first = table.match_request(notify(1026))
    assert first is not None and first is not other
    first.receive_request(notify(1026))
    # Each dialog keeps its own CSeq space and target.
    assert (first.remote_seq, other.remote_seq) == (1026, 7)
    later = notify(8, from_tag="99q7", contact="sip:poisson@laptop.probability.org")
    assert table.match_request(later) is other
    other.receive_request(later)
    assert other.remote_seq == 8

    # Each dialog's refresh goes to its own notifier, continuing the SUBSCRIBE's CSeq.
    for dialog, target in (
        (first, "sip:s.possion@dist.probability.org;transport=tcp"),
        (other, "sip:poisson@laptop.probability.org"),
    ):
        refresh = dialog.create_request("SUBSCRIBE", branch=branch(3), sent_by=SUBSCRIBER_SENT_BY)
        assert refresh.request_uri == target and refresh.cseq.seq == 3413


def test_notifies_that_answer_no_pending_subscribe_get_481() -> None:
    table = subscriber_table()
    for stranger in (
        notify(1, from_tag="x1", event="dialog"),  # another event package
        notify(1, from_tag="x2", event="presence;id=4"),  # an id the SUBSCRIBE had not
        notify(1, from_tag="x3", event="Presence"),  # §8.2.1: byte-by-byte
        notify(1, from_tag="x4", to_tag="11111"),  # not our From tag
    ):
        with pytest.raises(RemoteProtocolError) as caught:
            table.match_request(stranger)
        assert caught.value.status_hint == 481
        with pytest.raises(RemoteProtocolError):
            table.create_subscriber_dialog(stranger)

    # Once the subscriber stops awaiting forks, late NOTIFYs get 481 too.
    table.remove_pending_subscription(request(SUBSCRIBE))
    with pytest.raises(RemoteProtocolError) as caught:
        table.match_request(notify(1026))
    assert caught.value.status_hint == 481


def test_event_ids_match_byte_for_byte() -> None:
    table = DialogTable()
    table.add_pending_subscription(
        request(SUBSCRIBE.replace("Event: presence\n", "Event: presence;id=7\n"))
    )
    assert table.match_notify(notify(1, event="presence;id=7")) is not None
    assert table.match_notify(notify(1, event="presence ; id=7;foo=bar")) is not None
    assert table.match_notify(notify(1, event="presence")) is None
    assert table.match_notify(notify(1, event="presence;id=8")) is None
    with pytest.raises(LocalProtocolError):
        table.add_pending_subscription(
            request(SUBSCRIBE.replace("Event: presence\n", "Event: presence;id=7\n"))
        )


def test_from_notify_insists_on_a_notify_for_that_subscribe() -> None:
    subscribe = request(SUBSCRIBE)
    with pytest.raises(LocalProtocolError):
        Dialog.from_notify(subscribe, notify(1, to_tag="11111"))
    with pytest.raises(LocalProtocolError):
        Dialog.from_notify(subscribe, request(SUBSCRIBE))


def test_a_subscribe_needs_an_event_and_a_from_tag() -> None:
    table = DialogTable()
    with pytest.raises(LocalProtocolError):
        table.add_pending_subscription(request(SUBSCRIBE.replace("Event: presence\n", "")))
    with pytest.raises(LocalProtocolError):
        table.add_pending_subscription(request(SUBSCRIBE.replace(";tag=21171", "")))


def test_a_refer_awaits_notifies_of_the_refer_event() -> None:
    refer = request(
        SUBSCRIBE.replace("SUBSCRIBE sip:", "REFER sip:")
        .replace("3412 SUBSCRIBE", "3412 REFER")
        .replace("Event: presence\n", "Refer-To: <sip:euler@academy.ru>\n")
    )
    table = DialogTable()
    table.add_pending_subscription(refer)
    # RFC 3515: Event "refer", with the REFER's CSeq as id, or none for a lone REFER.
    assert table.match_notify(notify(1, event="refer;id=3412")) is refer
    assert table.match_notify(notify(1, event="refer")) is refer
    assert table.match_notify(notify(1, event="refer;id=3411")) is None
    dialog = table.create_subscriber_dialog(notify(1, event="refer"))
    assert dialog.method == "REFER" and dialog.local_seq == 3412


# -- RFC 6665 §4.4.1: the route set comes from the NOTIFY --------------------------------


def test_the_first_notify_sets_the_subscribers_route_set() -> None:
    routed = ACCEPTED.replace(
        "Allow-Events: presence\n",
        "Record-Route: <sip:p2.probability.org;lr>, <sip:p1.academy.ru;lr>\n",
        1,
    )
    dialog = Dialog.uac(request(SUBSCRIBE), response(routed))
    # Until a NOTIFY comes, the 2xx's route set, reversed (RFC 3261 §12.1.2).
    assert [str(u) for u in dialog.route_set] == [
        "sip:p1.academy.ru;lr",
        "sip:p2.probability.org;lr",
    ]
    dialog.receive_request(
        notify(1026, extra="Record-Route: <sip:p3.academy.ru;lr>, <sip:p4.probability.org;lr>\n")
    )
    # A request's Record-Route is taken in order (RFC 3261 §12.1.1).
    assert [str(u) for u in dialog.route_set] == [
        "sip:p3.academy.ru;lr",
        "sip:p4.probability.org;lr",
    ]
    # Later NOTIFYs, like every in-dialog request, leave it alone (RFC 3261 §12.2).
    dialog.receive_request(notify(1027, extra="Record-Route: <sip:p9.example.org;lr>\n"))
    assert len(dialog.route_set) == 2
    refresh = dialog.create_request("SUBSCRIBE", branch=branch(4), sent_by=SUBSCRIBER_SENT_BY)
    assert refresh.headers.values("Route") == [
        "<sip:p3.academy.ru;lr>",
        "<sip:p4.probability.org;lr>",
    ]


def test_a_notify_created_dialog_takes_its_route_set_in_order() -> None:
    table = subscriber_table()
    dialog = table.create_subscriber_dialog(
        notify(1026, extra="Record-Route: <sip:p3.academy.ru;lr>, <sip:p4.probability.org;lr>\n")
    )
    assert [str(u) for u in dialog.route_set] == [
        "sip:p3.academy.ru;lr",
        "sip:p4.probability.org;lr",
    ]


def test_the_notifiers_route_set_comes_from_the_subscribe_in_order() -> None:
    routed = request(
        SUBSCRIBE.replace(
            "Max-Forwards: 70\n",
            "Max-Forwards: 68\nRecord-Route: <sip:p4.probability.org;lr>, <sip:p3.academy.ru;lr>\n",
        )
    )
    notifier = Dialog.uas(routed, "25140")
    sent = notifier.create_request("NOTIFY", branch=branch(5), sent_by=NOTIFIER_SENT_BY)
    assert sent.headers.values("Route") == [
        "<sip:p4.probability.org;lr>",
        "<sip:p3.academy.ru;lr>",
    ]
    assert sent.request_uri == "sip:pafnuty@lecturehall21.academy.ru;transport=tcp"


# -- RFC 6665 §3.1, §3.2: SUBSCRIBE and NOTIFY refresh the target ---------------------------


def test_notify_and_subscribe_are_target_refresh_requests() -> None:
    subscriber = Dialog.uac(request(SUBSCRIBE), response(ACCEPTED))
    # Poisson's presence server moved: the NOTIFY's Contact is the new target.
    subscriber.receive_request(notify(1026, contact="sip:s.possion@backup.probability.org"))
    assert str(subscriber.remote_target) == "sip:s.possion@backup.probability.org"
    refresh = subscriber.create_request("SUBSCRIBE", branch=branch(6), sent_by=SUBSCRIBER_SENT_BY)
    assert refresh.request_uri == "sip:s.possion@backup.probability.org"
    # And the 2xx to that refresh may move it again (RFC 3261 §12.2.1.2).
    ok = response(
        ACCEPTED.replace("202 Accepted", "200 OK")
        .replace("3412 SUBSCRIBE", "3413 SUBSCRIBE")
        .replace("s.possion@dist.probability.org", "s.possion@third.probability.org")
    )
    subscriber.receive_response(ok)
    assert str(subscriber.remote_target) == "sip:s.possion@third.probability.org;transport=tcp"

    notifier = Dialog.uas(request(SUBSCRIBE), "25140")
    moved = subscriber.create_request(
        "SUBSCRIBE",
        branch=branch(7),
        sent_by=SUBSCRIBER_SENT_BY,
        headers=[("Contact", "<sip:pafnuty@lecturehall22.academy.ru;transport=tcp>")],
    )
    received = parse_message(moved.to_bytes())
    assert isinstance(received, Request)
    notifier.receive_request(received)
    assert str(notifier.remote_target) == "sip:pafnuty@lecturehall22.academy.ru;transport=tcp"
