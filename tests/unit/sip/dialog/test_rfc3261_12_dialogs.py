"""RFC 3261 §12 dialogs: creation on both sides (§12.1), in-dialog requests (§12.2.1.1 loose and
strict routing, CSeq), the UAS rules (§12.2.2: 500 for out-of-order CSeq, 481 for unknown
dialogs, target refresh), and the identifiers of §8.1.1.4, §8.1.1.7 and §19.3.

Messages are parsed from text, as they would arrive; everything is sans-I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from parley.sip.dialog import (
    POLICIES,
    TRANSITIONS,
    Dialog,
    DialogId,
    DialogInput,
    DialogState,
    DialogTable,
    IdGenerator,
    new_branch,
    new_call_id,
    new_tag,
    policy_for,
)
from parley.sip.errors import LocalProtocolError, RemoteProtocolError
from parley.sip.syntax import (
    MAGIC_COOKIE,
    Request,
    Response,
    SipUri,
    make_response,
    parse_message,
    parse_uri,
    uri_equal,
)

SENT_BY = ("pc33.atlanta.com", 5060)


def request(text: str) -> Request:
    message = parse_message(text.lstrip("\n").replace("\n", "\r\n").encode() + b"\r\n")
    assert isinstance(message, Request)
    return message


def response(text: str) -> Response:
    message = parse_message(text.lstrip("\n").replace("\n", "\r\n").encode() + b"\r\n")
    assert isinstance(message, Response)
    return message


def counting_bytes() -> Callable[[int], bytes]:
    """A deterministic random source: successive calls give different bytes."""
    state = {"n": 0}

    def draw(count: int) -> bytes:
        state["n"] += 1
        return state["n"].to_bytes(count, "big")

    return draw


def branch(n: int = 1) -> str:
    return f"{MAGIC_COOKIE}test{n}"


def sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


# Alice -> P1 (atlanta) -> P2 (biloxi) -> Bob. P1 record-routes first, P2 puts its value on
# top, so Bob receives "p2, p1" (§16.6 step 4).
INVITE_AT_BOB = """
INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP p2.biloxi.com;branch=z9hG4bKp2
Via: SIP/2.0/UDP p1.atlanta.com;branch=z9hG4bKp1
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Max-Forwards: 68
Record-Route: <sip:p2.biloxi.com;lr>, <sip:p1.atlanta.com;lr>
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.com>
Content-Length: 0
"""

# What Alice sent: the same, before the proxies touched it.
INVITE_FROM_ALICE = """
INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.com>
Content-Length: 0
"""

OK_AT_ALICE = """
SIP/2.0 200 OK
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.1
Record-Route: <sip:p2.biloxi.com;lr>, <sip:p1.atlanta.com;lr>
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:bob@192.0.2.4>
Content-Length: 0
"""


def alice_dialog(ok: str = OK_AT_ALICE) -> Dialog:
    return Dialog.uac(request(INVITE_FROM_ALICE), response(ok))


def bob_dialog() -> Dialog:
    return Dialog.uas(request(INVITE_AT_BOB), "a6c85cf", local_target=sip("sip:bob@192.0.2.4"))


def in_dialog(
    method: str,
    cseq: int,
    *,
    contact: str | None = None,
    extra: str = "",
    from_tag: str = "a6c85cf",
) -> Request:
    """A request Bob sends to Alice inside the dialog (tags from Bob's side)."""
    contact_line = f"Contact: <{contact}>\n" if contact else ""
    return request(f"""
{method} sip:alice@pc33.atlanta.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKbob{cseq}{method}
Max-Forwards: 70
To: Alice <sip:alice@atlanta.com>;tag=1928301774
From: Bob <sip:bob@biloxi.com>;tag={from_tag}
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: {cseq} {method}
{contact_line}{extra}Content-Length: 0
""")


# -- identifiers (§8.1.1.4, §8.1.1.7, §19.3) ---------------------------------------------


def test_tags_call_ids_and_branches_come_from_the_injected_source() -> None:
    draw = counting_bytes()
    tag1, tag2 = new_tag(draw), new_tag(draw)
    assert tag1 != tag2
    # §19.3: at least 32 bits of randomness; hex of 8 bytes carries 64.
    assert len(tag1) == 16 and int(tag1, 16) >= 0
    branch_ = new_branch(draw)
    assert branch_.startswith(MAGIC_COOKIE) and len(branch_) > len(MAGIC_COOKIE)
    assert new_call_id(draw, "pc33.atlanta.com").endswith("@pc33.atlanta.com")
    assert new_call_id(draw, "[2001:db8::1]").endswith("@[2001:db8::1]")
    ids = IdGenerator(counting_bytes())
    assert len({ids.tag(), ids.tag(), ids.branch(), ids.call_id()}) == 4


def test_branches_carry_the_generator_prefix_after_the_magic_cookie() -> None:
    # parley serve --workers: each worker marks its branches (z9hG4bKW1-...) so that the
    # process reading the socket knows whose transaction a response belongs to.
    plain, marked = IdGenerator(counting_bytes()), IdGenerator(counting_bytes(), "W1-")
    assert marked.branch().startswith(MAGIC_COOKIE + "W1-")
    assert not plain.branch().startswith(MAGIC_COOKIE + "W")


def test_a_short_random_source_is_refused_rather_than_trusted() -> None:
    with pytest.raises(LocalProtocolError):
        new_tag(lambda n: b"\x00")
    with pytest.raises(LocalProtocolError):
        new_call_id(counting_bytes(), "bad host")


# -- dialog ids (§12) ----------------------------------------------------------------------


def test_dialog_ids_swap_tags_between_the_two_ends() -> None:
    invite = request(INVITE_AT_BOB)
    assert DialogId.of_request(invite) is None  # no To tag: outside any dialog
    bye = in_dialog("BYE", 1)
    # Received by Alice: local tag from To, remote from From.
    assert DialogId.of_request(bye) == DialogId(
        "a84b4c76e66710@pc33.atlanta.com", "1928301774", "a6c85cf"
    )
    # A response received by Alice: local tag from From, remote from To.
    assert DialogId.of_response(response(OK_AT_ALICE)) == alice_dialog().id
    assert bob_dialog().id == DialogId("a84b4c76e66710@pc33.atlanta.com", "a6c85cf", "1928301774")


# -- creation (§12.1.1, §12.1.2) ---------------------------------------------------------


def test_uac_dialog_takes_the_record_route_in_reverse_order() -> None:
    dialog = alice_dialog()
    assert dialog.state is DialogState.CONFIRMED
    assert [str(u) for u in dialog.route_set] == [
        "sip:p1.atlanta.com;lr",
        "sip:p2.biloxi.com;lr",
    ]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"
    assert dialog.local_seq == 314159 and dialog.remote_seq is None
    assert str(dialog.local_uri) == "sip:alice@atlanta.com"
    assert str(dialog.remote_uri) == "sip:bob@biloxi.com"
    assert dialog.secure is False
    assert dialog.method == "INVITE"


def test_uas_dialog_takes_the_record_route_in_order() -> None:
    dialog = bob_dialog()
    assert dialog.state is DialogState.CONFIRMED
    assert [str(u) for u in dialog.route_set] == [
        "sip:p2.biloxi.com;lr",
        "sip:p1.atlanta.com;lr",
    ]
    assert str(dialog.remote_target) == "sip:alice@pc33.atlanta.com"
    assert dialog.remote_seq == 314159 and dialog.local_seq is None
    assert str(dialog.local_uri) == "sip:bob@biloxi.com"
    assert str(dialog.remote_uri) == "sip:alice@atlanta.com"


def test_the_two_ends_route_through_the_same_proxies_from_opposite_sides() -> None:
    invite = request(INVITE_AT_BOB)
    ok = make_response(
        invite,
        200,
        to_tag="a6c85cf",
        # §12.1.1: the UAS copies Record-Route into the response, keeping the order.
        extra=[("Record-Route", v) for v in invite.headers.get_all("Record-Route")]
        + [("Contact", "<sip:bob@192.0.2.4>")],
    )
    bob = Dialog.uas(invite, "a6c85cf")
    alice = Dialog.uac(request(INVITE_FROM_ALICE), ok)
    assert alice.route_set == tuple(reversed(bob.route_set))
    assert alice.id == DialogId(bob.id.call_id, bob.id.remote_tag or "", bob.id.local_tag)


def test_secure_needs_tls_and_a_sips_request_uri() -> None:
    sips_invite = INVITE_FROM_ALICE.replace(
        "INVITE sip:bob@biloxi.com", "INVITE sips:bob@biloxi.com"
    ).replace("<sip:alice@pc33.atlanta.com>", "<sips:alice@pc33.atlanta.com>")
    sips_ok = OK_AT_ALICE.replace("<sip:bob@192.0.2.4>", "<sips:bob@192.0.2.4>")
    assert Dialog.uac(request(sips_invite), response(sips_ok), over_tls=True).secure
    assert not Dialog.uac(request(sips_invite), response(sips_ok)).secure
    assert not Dialog.uac(request(INVITE_FROM_ALICE), response(OK_AT_ALICE), over_tls=True).secure


def test_a_uas_needs_a_single_sip_contact_in_the_dialog_creating_request() -> None:
    no_contact = INVITE_AT_BOB.replace("Contact: <sip:alice@pc33.atlanta.com>\n", "")
    with pytest.raises(RemoteProtocolError) as caught:
        Dialog.uas(request(no_contact), "a6c85cf")
    assert caught.value.status_hint == 400
    tel = INVITE_AT_BOB.replace("<sip:alice@pc33.atlanta.com>", "<tel:+15551234>")
    with pytest.raises(RemoteProtocolError):
        Dialog.uas(request(tel), "a6c85cf")


def test_methods_that_create_no_dialog_are_refused() -> None:
    message = request(
        INVITE_AT_BOB.replace("INVITE sip:", "MESSAGE sip:").replace(
            "314159 INVITE", "314159 MESSAGE"
        )
    )
    with pytest.raises(LocalProtocolError):
        Dialog.uas(message, "a6c85cf")


# -- early dialogs (§12.1, §12.3, §13.2.2.4) ---------------------------------------------

RINGING = """
SIP/2.0 180 Ringing
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Record-Route: <sip:p1.atlanta.com;lr>
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Content-Length: 0
"""


def test_a_1xx_with_a_to_tag_creates_an_early_dialog_that_the_2xx_confirms() -> None:
    dialog = Dialog.uac(request(INVITE_FROM_ALICE), response(RINGING))
    assert dialog.state is DialogState.EARLY
    # No Contact in the 1xx: requests go where the INVITE went until one arrives.
    assert str(dialog.remote_target) == "sip:bob@biloxi.com"
    assert [str(u) for u in dialog.route_set] == ["sip:p1.atlanta.com;lr"]
    dialog.receive_response(response(OK_AT_ALICE))
    assert dialog.state is DialogState.CONFIRMED
    # §13.2.2.4: the 2xx recomputes the route set; its Contact is the remote target.
    assert [str(u) for u in dialog.route_set] == [
        "sip:p1.atlanta.com;lr",
        "sip:p2.biloxi.com;lr",
    ]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"
    # A 1xx overtaken by its 2xx changes nothing.
    dialog.receive_response(response(RINGING))
    assert dialog.state is DialogState.CONFIRMED
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"


def test_a_failure_to_the_initial_request_ends_the_early_dialog() -> None:
    dialog = Dialog.uac(request(INVITE_FROM_ALICE), response(RINGING))
    dialog.receive_response(response(RINGING.replace("180 Ringing", "100 Trying")))
    assert dialog.state is DialogState.EARLY
    dialog.receive_response(response(RINGING.replace("180 Ringing", "486 Busy Here")))
    assert dialog.state is DialogState.TERMINATED
    with pytest.raises(LocalProtocolError):
        dialog.create_request("BYE", branch=branch(), sent_by=SENT_BY)


def test_only_dialog_creating_answers_create_dialogs() -> None:
    no_tag = RINGING.replace(";tag=a6c85cf", "")
    with pytest.raises(LocalProtocolError):
        Dialog.uac(request(INVITE_FROM_ALICE), response(no_tag))
    with pytest.raises(LocalProtocolError):
        Dialog.uac(
            request(INVITE_FROM_ALICE), response(OK_AT_ALICE.replace("200 OK", "404 Not Found"))
        )


def test_a_uas_early_dialog_is_confirmed_by_its_2xx() -> None:
    dialog = Dialog.uas(request(INVITE_AT_BOB), "a6c85cf", early=True)
    assert dialog.state is DialogState.EARLY
    dialog.confirm()
    assert dialog.state is DialogState.CONFIRMED
    dialog.terminate()
    with pytest.raises(LocalProtocolError):
        dialog.confirm()


def test_every_state_and_input_either_moves_or_is_refused() -> None:
    for state in DialogState:
        for event in DialogInput:
            if (state, event) in TRANSITIONS:
                assert isinstance(TRANSITIONS[(state, event)], DialogState)
            else:
                assert (state, event) == (DialogState.TERMINATED, DialogInput.SENT_SUCCESS)
    # Once terminated, always terminated.
    assert all(
        after is DialogState.TERMINATED
        for (before, _), after in TRANSITIONS.items()
        if before is DialogState.TERMINATED
    )


# -- building requests (§12.2.1.1) ---------------------------------------------------------


def test_loose_routing_keeps_the_remote_target_in_the_request_uri() -> None:
    bye = alice_dialog().create_request("BYE", branch=branch(), sent_by=SENT_BY, transport="udp")
    assert bye.request_uri == "sip:bob@192.0.2.4"
    assert bye.headers.values("Route") == ["<sip:p1.atlanta.com;lr>", "<sip:p2.biloxi.com;lr>"]
    assert bye.to.tag == "a6c85cf" and bye.from_.tag == "1928301774"
    assert str(bye.to.uri) == "sip:bob@biloxi.com"
    assert str(bye.from_.uri) == "sip:alice@atlanta.com"
    assert bye.call_id == "a84b4c76e66710@pc33.atlanta.com"
    assert (bye.cseq.seq, bye.cseq.method) == (314160, "BYE")
    assert bye.top_via.branch == branch() and bye.top_via.transport == "UDP"
    assert bye.top_via.sent_by == SENT_BY
    assert bye.max_forwards == 70
    # Serialises and parses back to the same request.
    again = parse_message(bye.to_bytes())
    assert isinstance(again, Request) and again.headers.values("Route") == bye.headers.values(
        "Route"
    )


def test_no_route_set_means_no_route_header() -> None:
    dialog = alice_dialog(OK_AT_ALICE.replace("Record-Route: ", "X-Was-Record-Route: "))
    assert dialog.route_set == ()
    bye = dialog.create_request("BYE", branch=branch(), sent_by=SENT_BY)
    assert "Route" not in bye.headers
    assert bye.request_uri == "sip:bob@192.0.2.4"


def test_strict_routing_example_of_section_12_2_1_1() -> None:
    # §12.2.1.1's example: remote target sip:user@remoteua, route set
    # <sip:proxy1>,<sip:proxy2>,<sip:proxy3;lr>,<sip:proxy4>. The response lists them the
    # other way round, as the UAC reverses them.
    ok = OK_AT_ALICE.replace(
        "Record-Route: <sip:p2.biloxi.com;lr>, <sip:p1.atlanta.com;lr>",
        "Record-Route: <sip:proxy4>, <sip:proxy3;lr>, <sip:proxy2>, <sip:proxy1>",
    ).replace("<sip:bob@192.0.2.4>", "<sip:user@remoteua>")
    info = alice_dialog(ok).create_request("INFO", branch=branch(), sent_by=SENT_BY)
    assert info.request_uri == "sip:proxy1"
    assert info.headers.values("Route") == [
        "<sip:proxy2>",
        "<sip:proxy3;lr>",
        "<sip:proxy4>",
        "<sip:user@remoteua>",
    ]


def test_strict_routing_strips_what_a_request_uri_may_not_carry() -> None:
    ok = OK_AT_ALICE.replace(
        "Record-Route: <sip:p2.biloxi.com;lr>, <sip:p1.atlanta.com;lr>",
        "Record-Route: <sip:p1.atlanta.com;maddr=192.0.2.9;method=INVITE;transport=tcp>",
    ).replace("<sip:bob@192.0.2.4>", "<sip:bob@192.0.2.4;method=INVITE?Subject=hi>")
    bye = alice_dialog(ok).create_request("BYE", branch=branch(), sent_by=SENT_BY)
    # Table 1 (§19.1.1): no method parameter and no headers in a Request-URI or Route.
    assert bye.request_uri == "sip:p1.atlanta.com;maddr=192.0.2.9;transport=tcp"
    assert bye.headers.values("Route") == ["<sip:bob@192.0.2.4>"]


def test_cseq_goes_up_by_one_per_request_and_ack_reuses_the_invites() -> None:
    dialog = alice_dialog()
    reinvite = dialog.create_request("INVITE", branch=branch(1), sent_by=SENT_BY)
    assert reinvite.cseq.seq == 314160 and dialog.local_seq == 314160
    ack = dialog.create_request("ACK", branch=branch(2), sent_by=SENT_BY)
    assert (ack.cseq.seq, ack.cseq.method) == (314160, "ACK")
    assert dialog.local_seq == 314160
    bye = dialog.create_request("BYE", branch=branch(3), sent_by=SENT_BY)
    assert bye.cseq.seq == 314161
    old_ack = dialog.create_request("ACK", branch=branch(4), sent_by=SENT_BY, cseq=314159)
    assert old_ack.cseq.seq == 314159


def test_a_uas_starts_its_own_cseq_space() -> None:
    dialog = bob_dialog()
    bye = dialog.create_request("BYE", branch=branch(), sent_by=("192.0.2.4", None))
    # Bob's route set is in the order he received it; his first CSeq is fresh.
    assert bye.cseq.seq == 1
    assert bye.headers.values("Route") == ["<sip:p2.biloxi.com;lr>", "<sip:p1.atlanta.com;lr>"]
    assert bye.request_uri == "sip:alice@pc33.atlanta.com"
    assert (bye.to.tag, bye.from_.tag) == ("1928301774", "a6c85cf")
    assert bye.top_via.sent_by == ("192.0.2.4", None)


def test_target_refresh_requests_carry_our_contact() -> None:
    dialog = bob_dialog()
    reinvite = dialog.create_request("INVITE", branch=branch(), sent_by=SENT_BY)
    assert [str(c.uri) for c in reinvite.contacts] == ["sip:bob@192.0.2.4"]
    bye = dialog.create_request("BYE", branch=branch(2), sent_by=SENT_BY)
    assert "Contact" not in bye.headers
    moved = dialog.create_request(
        "UPDATE", branch=branch(3), sent_by=SENT_BY, headers=[("Contact", "<sip:bob@192.0.2.5>")]
    )
    assert [str(c.uri) for c in moved.contacts] == ["sip:bob@192.0.2.5"]


def test_extra_headers_and_body_are_kept() -> None:
    info = alice_dialog().create_request(
        "INFO",
        branch=branch(),
        sent_by=SENT_BY,
        headers=[("Content-Type", "application/dtmf-relay"), ("Max-Forwards", "0")],
        body=b"Signal=5\r\n",
    )
    assert info.body == b"Signal=5\r\n"
    assert info.content_type == "application/dtmf-relay"
    assert info.headers.get_all("Max-Forwards") == ["0"]


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"method": "CANCEL"}, "CANCEL copies its request (§9.1)"),
        ({"branch": "776asdhds"}, "no magic cookie (§8.1.1.7)"),
        ({"branch": MAGIC_COOKIE}, "a bare cookie"),
        ({"headers": [("f", "<sip:eve@evil.example>")]}, "From is the dialog's"),
        ({"headers": [("Route", "<sip:p9>")]}, "Route is the dialog's"),
        ({"cseq": 4}, "only ACK takes a CSeq"),
        ({"headers": [("Contact", "not a uri")]}, "a malformed Contact is our own bug"),
    ],
)
def test_requests_the_dialog_refuses_to_build(kwargs: dict[str, object], why: str) -> None:
    args: dict[str, object] = {"method": "BYE", "branch": branch(), "sent_by": SENT_BY}
    args.update(kwargs)
    method = args.pop("method")
    assert isinstance(method, str)
    dialog = alice_dialog()
    with pytest.raises(LocalProtocolError):
        dialog.create_request(method, **args)  # type: ignore[arg-type]
    assert dialog.local_seq == 314159, why


def test_a_secure_dialog_sends_only_sips_contacts() -> None:
    sips_invite = INVITE_FROM_ALICE.replace(
        "INVITE sip:bob@biloxi.com", "INVITE sips:bob@biloxi.com"
    ).replace("<sip:alice@pc33.atlanta.com>", "<sips:alice@pc33.atlanta.com>")
    sips_ok = OK_AT_ALICE.replace("<sip:bob@192.0.2.4>", "<sips:bob@192.0.2.4>")
    dialog = Dialog.uac(request(sips_invite), response(sips_ok), over_tls=True)
    reinvite = dialog.create_request("INVITE", branch=branch(), sent_by=SENT_BY, transport="TLS")
    assert reinvite.request_uri == "sips:bob@192.0.2.4"
    assert [str(c.uri) for c in reinvite.contacts] == ["sips:alice@pc33.atlanta.com"]
    with pytest.raises(LocalProtocolError):
        dialog.create_request(
            "UPDATE",
            branch=branch(2),
            sent_by=SENT_BY,
            headers=[("Contact", "<sip:alice@pc33.atlanta.com>")],
        )


# -- receiving requests (§12.2.2) ------------------------------------------------------------


def test_the_first_request_from_the_peer_sets_the_remote_cseq_and_gaps_are_fine() -> None:
    dialog = alice_dialog()
    dialog.receive_request(in_dialog("INFO", 7))
    assert dialog.remote_seq == 7
    # §12.2.2: more than one higher is no error (a challenged request used a number).
    dialog.receive_request(in_dialog("INFO", 9))
    assert dialog.remote_seq == 9


@pytest.mark.parametrize("cseq", [8, 9])
def test_an_out_of_order_cseq_is_refused_with_500(cseq: int) -> None:
    dialog = alice_dialog()
    dialog.receive_request(in_dialog("INFO", 9))
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(in_dialog("INFO", cseq))
    assert caught.value.status_hint == 500
    assert dialog.remote_seq == 9


def test_the_uas_checks_cseq_from_the_initial_request() -> None:
    dialog = bob_dialog()
    bye = request(
        INVITE_AT_BOB.replace("INVITE sip:bob@biloxi.com", "BYE sip:bob@192.0.2.4")
        .replace("Bob <sip:bob@biloxi.com>", "Bob <sip:bob@biloxi.com>;tag=a6c85cf")
        .replace("314159 INVITE", "314158 BYE")
    )
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(bye)
    assert caught.value.status_hint == 500


def test_ack_and_cancel_carry_the_cseq_of_their_invite() -> None:
    dialog = alice_dialog()
    dialog.receive_request(in_dialog("INVITE", 5, contact="sip:bob@192.0.2.4"))
    dialog.receive_request(in_dialog("INFO", 6))
    dialog.receive_request(in_dialog("ACK", 5))
    assert dialog.remote_seq == 6


def test_requests_for_another_dialog_get_481() -> None:
    dialog = alice_dialog()
    stranger = in_dialog("BYE", 3, from_tag="zzz")
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(stranger)
    assert caught.value.status_hint == 481
    dialog.terminate()
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(in_dialog("BYE", 3))
    assert caught.value.status_hint == 481


def test_target_refresh_requests_replace_the_remote_target() -> None:
    dialog = alice_dialog()
    dialog.receive_request(in_dialog("INVITE", 1, contact="sip:bob@192.0.2.77"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.77"
    # RFC 3311 §5.1: UPDATE refreshes the target as well.
    dialog.receive_request(in_dialog("UPDATE", 2, contact="sip:bob@192.0.2.78"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.78"
    # Not a target refresh: a Contact in INFO or ACK changes nothing (§12.2).
    dialog.receive_request(in_dialog("INFO", 3, contact="sip:bob@192.0.2.79"))
    dialog.receive_request(in_dialog("ACK", 2, contact="sip:bob@192.0.2.80"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.78"
    # A re-INVITE without Contact keeps the target; the route set never changes (§12.2).
    dialog.receive_request(in_dialog("INVITE", 4, extra="Record-Route: <sip:p9.example.com;lr>\n"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.78"
    assert [str(u) for u in dialog.route_set] == [
        "sip:p1.atlanta.com;lr",
        "sip:p2.biloxi.com;lr",
    ]
    bye = dialog.create_request("BYE", branch=branch(), sent_by=SENT_BY)
    assert bye.request_uri == "sip:bob@192.0.2.78"


def test_a_rejected_request_changes_nothing() -> None:
    dialog = alice_dialog()
    dialog.receive_request(in_dialog("INFO", 1))
    two = in_dialog(
        "INVITE", 2, contact="sip:bob@192.0.2.77", extra="Contact: <sip:bob@192.0.2.78>\n"
    )
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(two)
    assert caught.value.status_hint == 400
    # §12.2.2: requests are atomic.
    assert dialog.remote_seq == 1
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"


def test_a_secure_dialog_refuses_a_sip_contact() -> None:
    sips_invite = INVITE_FROM_ALICE.replace(
        "INVITE sip:bob@biloxi.com", "INVITE sips:bob@biloxi.com"
    )
    sips_ok = OK_AT_ALICE.replace("<sip:bob@192.0.2.4>", "<sips:bob@192.0.2.4>")
    dialog = Dialog.uac(request(sips_invite), response(sips_ok), over_tls=True)
    with pytest.raises(RemoteProtocolError):
        dialog.receive_request(in_dialog("INVITE", 1, contact="sip:bob@192.0.2.77"))
    dialog.receive_request(in_dialog("INVITE", 2, contact="sips:bob@192.0.2.77"))
    assert str(dialog.remote_target) == "sips:bob@192.0.2.77"


# -- receiving responses (§12.2.1.2) --------------------------------------------------------


def answer(to: Request, status: int, contact: str | None = None) -> Response:
    extra = [] if contact is None else [("Contact", f"<{contact}>")]
    return make_response(to, status, extra=extra)


def test_a_2xx_to_a_target_refresh_request_replaces_the_remote_target() -> None:
    dialog = alice_dialog()
    reinvite = dialog.create_request("INVITE", branch=branch(), sent_by=SENT_BY)
    dialog.receive_response(answer(reinvite, 180, "sip:bob@192.0.2.50"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"
    dialog.receive_response(answer(reinvite, 200, "sip:bob@192.0.2.51"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.51"
    info = dialog.create_request("INFO", branch=branch(2), sent_by=SENT_BY)
    dialog.receive_response(answer(info, 200, "sip:bob@192.0.2.52"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.51"
    update = dialog.create_request("UPDATE", branch=branch(3), sent_by=SENT_BY)
    dialog.receive_response(answer(update, 491, "sip:bob@192.0.2.53"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.51"
    # §12.2.1.2 leaves 481 to the TU (for INVITE dialogs ending one takes a BYE).
    dialog.receive_response(answer(info, 481))
    assert dialog.state is DialogState.CONFIRMED


def test_a_response_for_another_dialog_is_a_caller_error() -> None:
    dialog = alice_dialog()
    with pytest.raises(LocalProtocolError):
        dialog.receive_response(response(OK_AT_ALICE.replace("a6c85cf", "other")))


# -- the dialog table (§12.2.2, §13.2.2.4) --------------------------------------------------


def test_the_table_finds_dialogs_and_answers_481_for_unknown_ones() -> None:
    table = DialogTable()
    alice = alice_dialog()
    table.add(alice)
    assert len(table) == 1 and alice.id in table and list(table) == [alice]
    assert table.match_request(in_dialog("BYE", 1)) is alice
    assert table.match_response(response(OK_AT_ALICE)) is alice
    # Outside any dialog: no To tag.
    assert table.match_request(request(INVITE_AT_BOB)) is None
    stranger = in_dialog("BYE", 3, from_tag="zzz")
    with pytest.raises(RemoteProtocolError) as caught:
        table.match_request(stranger)
    assert caught.value.status_hint == 481
    alice.terminate()
    with pytest.raises(RemoteProtocolError) as caught:
        table.match_request(in_dialog("BYE", 4))
    assert caught.value.status_hint == 481
    assert table.remove(alice.id) is alice and len(table) == 0
    with pytest.raises(LocalProtocolError):
        table.add(bob_dialog())
        table.add(bob_dialog())


def test_a_forked_invite_gets_one_early_dialog_per_tag() -> None:
    table = DialogTable()
    invite = request(INVITE_FROM_ALICE)
    for tag in ("a6c85cf", "b7d96d0"):
        ringing = response(RINGING.replace("a6c85cf", tag))
        assert table.match_response(ringing) is None
        table.add(Dialog.uac(invite, ringing))
    assert len(table) == 2
    ok = response(OK_AT_ALICE.replace("a6c85cf", "b7d96d0"))
    dialog = table.match_response(ok)
    assert dialog is not None and dialog.id.remote_tag == "b7d96d0"
    dialog.receive_response(ok)
    states = {d.id.remote_tag: d.state for d in table}
    assert states == {"a6c85cf": DialogState.EARLY, "b7d96d0": DialogState.CONFIRMED}


def test_a_peer_without_tags_still_has_a_dialog() -> None:
    # §12.1.2: an RFC 2543 UAS may answer without a To tag; the remote tag is then null.
    dialog = Dialog.uac(
        request(INVITE_FROM_ALICE), response(OK_AT_ALICE.replace(";tag=a6c85cf", ""))
    )
    assert dialog.id.remote_tag is None
    bye = dialog.create_request("BYE", branch=branch(), sent_by=SENT_BY)
    assert bye.to.tag is None and bye.headers.get("To") == "<sip:bob@biloxi.com>"


def test_method_policy_is_data() -> None:
    assert policy_for("INVITE").early_dialog
    assert policy_for("SUBSCRIBE").creates_dialog and policy_for("SUBSCRIBE").target_refresh
    assert policy_for("NOTIFY").creates_dialog and policy_for("NOTIFY").target_refresh
    assert policy_for("REFER").creates_dialog
    assert policy_for("UPDATE").target_refresh and not policy_for("UPDATE").creates_dialog
    for method in ("ACK", "BYE", "INFO", "MESSAGE", "OPTIONS", "PRACK", "invite"):
        assert policy_for(method) == POLICIES.get(method, policy_for("X-UNKNOWN"))
        assert not policy_for(method).target_refresh


def test_uris_in_the_dialog_compare_as_uris() -> None:
    dialog = alice_dialog()
    assert uri_equal(dialog.remote_target, sip("sip:bob@192.0.2.4"))
