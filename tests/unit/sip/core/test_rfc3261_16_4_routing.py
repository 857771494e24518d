"""RFC 3261 §16.4 route preprocessing, §16.6 request forwarding, §16.12 route examples, §9.1
CANCEL construction and §16.11 stateless forwarding of responses."""

from __future__ import annotations

import pytest
from test_rfc3261_16_support import (
    ALICE_VIA,
    LOCAL,
    PROXY_TCP,
    PROXY_UDP,
    RECORD_ROUTE,
    answer,
    fresh_branch,
    incoming,
)

from parley.sip.core.proxy import (
    build_cancel,
    forward_request,
    forward_stray_response,
    loop_hash,
    loop_part,
    may_create_dialog,
    preprocess_routes,
    stateless_branch,
)
from parley.sip.core.uac import SentBy
from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Headers, Request, Response, SipUri, parse_message, parse_uri
from parley.sip.transport.address import Peer


def forward(request: Request, target: str | None = None, **kwargs):
    return forward_request(
        request,
        target or request.request_uri,
        sent_by=kwargs.pop("sent_by", PROXY_UDP),
        branch=kwargs.pop("branch", "z9hG4bKunique1"),
        **kwargs,
    )


# -- §16.4 -----------------------------------------------------------------------------


def test_our_route_value_on_top_is_removed_and_kept_for_the_caller():
    request = incoming(routes=("<sip:proxy.example.com;lr;ob>", "<sip:p2.example.com;lr>"))
    pre = preprocess_routes(request, LOCAL.is_us)
    assert pre.request.headers.values("Route") == ["<sip:p2.example.com;lr>"]
    assert pre.removed_route is not None
    assert isinstance(pre.removed_route.uri, SipUri)
    assert "ob" in pre.removed_route.uri.params  # RFC 5626's flag stays readable
    assert not pre.strict_route_fixed
    # The received request is untouched: its server transaction still matches with it.
    assert len(request.headers.values("Route")) == 2


def test_a_foreign_top_route_stays():
    request = incoming(routes=("<sip:p1.example.com;lr>",))
    pre = preprocess_routes(request, LOCAL.is_us)
    assert pre.removed_route is None
    assert pre.request.headers.values("Route") == ["<sip:p1.example.com;lr>"]


def test_request_uri_addressed_to_our_domain_is_not_a_strict_route():
    # REGISTER sip:proxy.example.com has no lr: not a Record-Route URI of ours.
    request = incoming("REGISTER", "sip:proxy.example.com", routes=("<sip:p2.example.com;lr>",))
    pre = preprocess_routes(request, LOCAL.is_us)
    assert not pre.strict_route_fixed
    assert pre.request.request_uri == "sip:proxy.example.com"


def test_strict_router_fixup_restores_the_request_uri():
    # §16.12.1.2 at P2: "P2 sees the request-URI is a value it placed into a Record-Route
    # header field, so before further processing, it rewrites the request".
    def is_p2(uri):
        return isinstance(uri, SipUri) and uri.host_bare == "p2.example.com"

    request = incoming(
        "BYE",
        "sip:p2.example.com;lr",
        routes=("<sip:p1.example.com;lr>", "<sip:caller@u1.example.com>"),
    )
    pre = preprocess_routes(request, is_p2)
    assert pre.strict_route_fixed
    assert pre.request.request_uri == "sip:caller@u1.example.com"
    assert pre.request.headers.values("Route") == ["<sip:p1.example.com;lr>"]
    sent = forward(pre.request, sent_by=SentBy("UDP", "p2.example.com", 5060))
    # "P2 is not responsible for u1.example.com, so it sends the request to P1 based on the
    # resolution of the Route header field value."
    assert sent.next_hop == parse_uri("sip:p1.example.com;lr")


def test_maddr_naming_us_is_stripped_when_it_arrived_as_named():
    request = incoming(uri="sip:bob@biloxi.example.com;maddr=192.0.2.10;transport=udp")
    pre = preprocess_routes(request, LOCAL.is_us, arrived_on=("udp", 5060))
    assert pre.maddr_stripped
    assert pre.request.request_uri == "sip:bob@biloxi.example.com"


def test_maddr_with_another_transport_or_port_stays():
    uri = "sip:bob@biloxi.example.com:5060;maddr=192.0.2.10;transport=tcp"
    pre = preprocess_routes(incoming(uri=uri), LOCAL.is_us, arrived_on=("udp", 5060))
    assert not pre.maddr_stripped
    assert pre.request.request_uri == uri
    # Without knowing how it arrived, the proxy leaves the maddr alone.
    other = "sip:bob@biloxi.example.com;maddr=192.0.2.10"
    assert not preprocess_routes(incoming(uri=other), LOCAL.is_us).maddr_stripped


def test_maddr_naming_someone_else_stays():
    uri = "sip:bob@biloxi.example.com;maddr=203.0.113.4"
    pre = preprocess_routes(incoming(uri=uri), LOCAL.is_us, arrived_on=("udp", 5060))
    assert not pre.maddr_stripped


# -- §16.6 -----------------------------------------------------------------------------


def test_forwarding_copies_and_updates_request_uri_max_forwards_and_via():
    request = incoming(max_forwards="70", body=b"v=0\r\n")
    loop = loop_hash(request)
    sent = forward(request, "sip:bob@203.0.113.20:5062;transport=tcp", loop=loop)
    out = sent.request
    assert out is not request
    assert out.request_uri == "sip:bob@203.0.113.20:5062;transport=tcp"
    assert out.headers.get("Max-Forwards") == "69"
    vias = out.headers.values("Via")
    assert vias[1] == ALICE_VIA  # step 9 (§16.7 step 9): the received parameter stays
    top = out.top_via
    assert (top.transport, top.host, top.port) == ("UDP", "192.0.2.10", 5060)
    assert top.branch == f"z9hG4bKunique1.{loop}"
    assert loop_part(top.branch) == loop
    assert "rport" in top.params  # RFC 3581 §3
    assert out.body == b"v=0\r\n"  # step 1: "MUST NOT add to, modify, or remove the body"
    assert sent.next_hop == parse_uri("sip:bob@203.0.113.20:5062;transport=tcp")
    # The received request is not modified.
    assert request.headers.get("Max-Forwards") == "70"
    assert request.headers.count("Via") == 1


def test_absent_max_forwards_becomes_70():
    out = forward(incoming(max_forwards=None)).request
    assert out.headers.get("Max-Forwards") == "70"


def test_zero_max_forwards_is_never_forwarded():
    with pytest.raises(LocalProtocolError):
        forward(incoming(max_forwards="0"))


def test_header_order_and_unknown_fields_are_kept():
    request = incoming(extra=(("X-Custom", "1"), ("Date", "bogus"), ("X-Custom", "2")))
    out = forward(request).request
    names = [name for name, _ in out.headers]
    assert names[0] == "Via" and names[1] == "Via"
    assert out.headers.get_all("X-Custom") == ["1", "2"]
    assert out.headers.get("Date") == "bogus"


def test_parameters_not_allowed_in_a_request_uri_are_removed():
    out = forward(incoming(), "sip:bob@203.0.113.20;method=INVITE;lr?Subject=hi").request
    assert out.request_uri == "sip:bob@203.0.113.20;lr"


def test_record_route_goes_first_with_lr_for_dialog_creating_requests():
    request = incoming(extra=(("Record-Route", "<sip:p0.example.com;lr>"),))
    out = forward(request, record_route=RECORD_ROUTE).request
    assert out.headers.values("Record-Route") == [
        "<sip:proxy.example.com;lr>",
        "<sip:p0.example.com;lr>",
    ]


@pytest.mark.parametrize("method", ["INVITE", "SUBSCRIBE", "REFER", "NOTIFY"])
def test_dialog_creating_methods_are_record_routed(method):
    assert may_create_dialog(incoming(method))
    out = forward(incoming(method), record_route=RECORD_ROUTE).request
    assert out.headers.get("Record-Route") == "<sip:proxy.example.com;lr>"


@pytest.mark.parametrize("method", ["MESSAGE", "OPTIONS", "REGISTER", "PUBLISH", "BYE"])
def test_other_methods_are_not_record_routed(method):
    assert not may_create_dialog(incoming(method))
    out = forward(incoming(method), record_route=RECORD_ROUTE).request
    assert "Record-Route" not in out.headers


def test_record_route_is_sips_when_the_request_uri_is_sips():
    out = forward(incoming(uri="sips:bob@biloxi.example.com"), record_route=RECORD_ROUTE).request
    assert out.headers.get("Record-Route") == "<sips:proxy.example.com;lr>"


def test_record_route_must_be_a_sip_uri():
    with pytest.raises(LocalProtocolError):
        forward(incoming(), record_route="tel:+15551234")


def test_path_vector_becomes_route_and_next_hop():
    # RFC 3327: the Path of the binding is used as a preloaded route toward the contact.
    request = incoming(routes=("<sip:p9.example.com;lr>",))
    sent = forward(
        request,
        "sip:bob@10.0.0.5:5070",
        path=["<sip:edge1.example.com;lr;ob>", "<sip:edge2.example.com;lr>"],
        routes=["<sip:policy.example.com;lr>"],
    )
    assert sent.request.headers.values("Route") == [
        "<sip:policy.example.com;lr>",
        "<sip:edge1.example.com;lr;ob>",
        "<sip:edge2.example.com;lr>",
        "<sip:p9.example.com;lr>",
    ]
    assert sent.request.request_uri == "sip:bob@10.0.0.5:5070"
    assert sent.next_hop == parse_uri("sip:policy.example.com;lr")


def test_without_route_the_request_uri_is_the_next_hop():
    sent = forward(incoming(), "sip:bob@203.0.113.20")
    assert sent.next_hop == parse_uri("sip:bob@203.0.113.20")
    assert "Route" not in sent.request.headers


def test_each_branch_gets_its_own_branch_parameter():
    request = incoming()
    loop = loop_hash(request)
    a = forward(request, "sip:bob@203.0.113.20", branch=fresh_branch(), loop=loop).request
    b = forward(request, "sip:bob@203.0.113.21", branch=fresh_branch(), loop=loop).request
    assert a.top_via.branch != b.top_via.branch
    assert loop_part(a.top_via.branch) == loop_part(b.top_via.branch) == loop


def test_via_follows_the_transport_we_send_on():
    out = forward(incoming(), sent_by=PROXY_TCP).request
    assert str(out.top_via).startswith("SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKunique1")


def test_forwarded_request_serialises_with_content_length():
    out = forward(incoming(body=b"hello")).request
    parsed = parse_message(out.to_bytes())
    assert isinstance(parsed, Request)
    assert parsed.headers.get("Content-Length") == "5"
    assert parsed.body == b"hello"


# -- §16.12 examples ---------------------------------------------------------------------


def test_trapezoid_bye_at_p1_pops_its_route_and_goes_to_p2():
    # §16.12.1.1: "P1 ... does see that it is the first value in the Route header field, so
    # it removes that value, and forwards the request to P2".
    request = incoming(
        "BYE",
        "sip:callee@u2.domain.com",
        routes=("<sip:proxy.example.com;lr>,<sip:p2.domain.com;lr>",),
        to_tag="b1",
    )
    pre = preprocess_routes(request, LOCAL.is_us)
    sent = forward(pre.request)
    assert sent.request.request_uri == "sip:callee@u2.domain.com"
    assert sent.request.headers.values("Route") == ["<sip:p2.domain.com;lr>"]
    assert sent.next_hop == parse_uri("sip:p2.domain.com;lr")


def test_trapezoid_bye_at_p2_goes_by_request_uri():
    request = incoming(
        "BYE", "sip:callee@u2.domain.com", routes=("<sip:proxy.example.com;lr>",), to_tag="b1"
    )
    sent = forward(preprocess_routes(request, LOCAL.is_us).request)
    assert "Route" not in sent.request.headers
    assert sent.next_hop == parse_uri("sip:callee@u2.domain.com")


def test_next_hop_strict_router_gets_the_request_reformatted():
    # §16.12.1.2 at P4: the next Route value, sip:p3.middle.com, has no lr.
    request = incoming(
        "BYE",
        "sip:caller@u1.example.com",
        routes=(
            "<sip:proxy.example.com;lr>",
            "<sip:p3.middle.com>",
            "<sip:p2.example.com;lr>",
            "<sip:p1.example.com;lr>",
        ),
        to_tag="b1",
    )
    sent = forward(preprocess_routes(request, LOCAL.is_us).request)
    assert sent.request.request_uri == "sip:p3.middle.com"
    assert sent.request.headers.values("Route") == [
        "<sip:p2.example.com;lr>",
        "<sip:p1.example.com;lr>",
        "<sip:caller@u1.example.com>",
    ]
    assert sent.next_hop == parse_uri("sip:p3.middle.com")


# -- §9.1 --------------------------------------------------------------------------------


def test_cancel_copies_what_9_1_names_and_nothing_else():
    request = incoming(
        routes=("<sip:p9.example.com;lr>",),
        extra=(("Proxy-Require", "foo"), ("Require", "bar")),
    )
    forwarded = forward(request, "sip:bob@203.0.113.20").request
    cancel = build_cancel(forwarded)
    assert cancel.method == "CANCEL"
    assert cancel.request_uri == forwarded.request_uri
    assert cancel.headers.get_all("Via") == [forwarded.headers.values("Via")[0]]
    assert cancel.top_via.branch == forwarded.top_via.branch
    for name in ("To", "From", "Call-ID"):
        assert cancel.headers.get(name) == forwarded.headers.get(name)
    assert str(cancel.cseq) == "314159 CANCEL"
    assert cancel.headers.values("Route") == ["<sip:p9.example.com;lr>"]
    assert "Proxy-Require" not in cancel.headers and "Require" not in cancel.headers
    assert cancel.headers.get("Max-Forwards") == "70"
    assert cancel.body == b""


def test_ack_and_cancel_cannot_be_cancelled():
    with pytest.raises(LocalProtocolError):
        build_cancel(incoming("ACK"))
    with pytest.raises(LocalProtocolError):
        build_cancel(incoming("CANCEL"))


# -- §16.11 --------------------------------------------------------------------------------


def test_stray_response_with_our_via_goes_to_the_next_via():
    forwarded = forward(incoming(), "sip:bob@203.0.113.20").request
    response = answer(forwarded, 200)
    result = forward_stray_response(response, LOCAL.is_our_via)
    assert result is not None
    out, destination = result
    assert out.headers.get_all("Via") == [ALICE_VIA]
    # RFC 3581 §4: to the received address and rport of the next Via.
    assert destination == Peer("udp", "198.51.100.7", 40000)
    assert out.status == 200 and out.body == response.body
    assert response.headers.count("Via") == 2  # the input is not changed


def test_stray_response_not_via_us_is_discarded():
    response = answer(incoming(), 200)
    assert forward_stray_response(response, LOCAL.is_our_via) is None


def test_stray_response_with_only_our_via_was_for_us():
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcancel1"),
            ("To", "<sip:bob@biloxi.example.com>;tag=x"),
            ("From", "<sip:alice@atlanta.example.com>;tag=y"),
            ("Call-ID", "c1"),
            ("CSeq", "1 CANCEL"),
        ]
    )
    assert forward_stray_response(Response(200, None, headers), LOCAL.is_our_via) is None


def test_stateless_branch_is_stable_across_retransmissions_and_shared_by_cancel():
    # §16.11: "the branch parameter MUST be computed as a combinatoric function of message
    # parameters which are invariant on retransmission".
    invite = incoming()
    branch = stateless_branch(invite)
    assert branch.startswith("z9hG4bK") and len(branch) > 7
    assert stateless_branch(incoming()) == branch
    # Same received branch, so a CANCEL (and a non-2xx ACK) gets its INVITE's (§16.6 step 8).
    assert stateless_branch(incoming("CANCEL")) == branch
    other = incoming(via="SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKalice2")
    assert stateless_branch(other) != branch
    out = forward(invite, branch=branch, loop=loop_hash(invite)).request
    assert out.top_via.branch == f"{branch}.{loop_hash(invite)}"


def test_stateless_branch_of_an_rfc2543_request_hashes_its_identity():
    old = incoming(via="SIP/2.0/UDP 198.51.100.7:5060")
    assert stateless_branch(old) == stateless_branch(incoming(via="SIP/2.0/UDP 198.51.100.7:5060"))
    assert stateless_branch(old) != stateless_branch(
        incoming(via="SIP/2.0/UDP 198.51.100.7:5060", uri="sip:carol@biloxi.example.com")
    )
