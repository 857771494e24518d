"""RFC 3261 §16.3: request validation by a proxy, and loop vs spiral detection (§16.6 step 8)."""

from __future__ import annotations

import pytest
from test_rfc3261_16_support import (
    LOCAL,
    PROXY_UDP,
    fresh_branch,
    incoming,
    wire,
)

from parley.sip.core.proxy import (
    copy_request,
    forward_request,
    loop_hash,
    loop_part,
    preprocess_routes,
    proxy_branch,
    validate_request,
)
from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request

# RFC 4475 "zeromf": a legal OPTIONS whose Max-Forwards is zero; a proxy answers 483.
ZEROMF = """
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
"""

# RFC 4475 "bext01": unknown option-tags in both Require and Proxy-Require.
BEXT01 = """
OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0
"""


def validate(request, **kwargs):
    return validate_request(request, to_tag="ptag", is_us=LOCAL.is_us, **kwargs)


def test_a_valid_request_passes():
    assert validate(incoming()) is None


# -- step 3: Max-Forwards -----------------------------------------------------------------


def test_zeromf_gets_483_too_many_hops():
    response = validate(wire(ZEROMF))
    assert response is not None
    assert response.status == 483
    assert response.reason == "Too Many Hops"
    # §8.2.6.2: the proxy answers as a UAS, with its own To tag and the request's Via.
    assert response.to.tag == "ptag"
    assert response.headers.get("Via") == "SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i"
    assert response.cseq.method == "OPTIONS"


def test_zero_max_forwards_invite_gets_483():
    response = validate(incoming(max_forwards="0"))
    assert response is not None and response.status == 483


def test_options_with_zero_max_forwards_may_be_answered_as_final_recipient():
    response = validate(
        wire(ZEROMF),
        allow=frozenset({"INVITE", "OPTIONS", "ACK"}),
        proxy_require_supported=["path"],
    )
    assert response is not None
    assert response.status == 200
    assert response.headers.get("Allow") == "ACK, INVITE, OPTIONS"
    assert response.headers.get("Supported") == "path"


def test_only_options_is_answered_200_at_zero_max_forwards():
    response = validate(incoming(max_forwards="0"), allow=frozenset({"INVITE"}))
    assert response is not None and response.status == 483


def test_missing_max_forwards_passes_and_positive_passes():
    assert validate(incoming(max_forwards=None)) is None
    assert validate(incoming(max_forwards="1")) is None


# -- step 5: Proxy-Require ------------------------------------------------------------------


def test_bext01_proxy_require_gets_420_listing_only_proxy_require_tags():
    response = validate(wire(BEXT01))
    assert response is not None
    assert response.status == 420
    # The Require tags are the UAS's business (§8.2.2.3); a proxy lists Proxy-Require's.
    assert response.headers.get("Unsupported") == "noProxiesSupportThis, norDoAnyProxiesSupportThis"


def test_supported_proxy_require_tags_pass_and_match_case_insensitively():
    request = incoming(extra=(("Proxy-Require", "Sec-Agree"),))
    assert validate(request, proxy_require_supported=["sec-agree"]) is None
    partly = incoming(extra=(("Proxy-Require", "sec-agree, foo"),))
    response = validate(partly, proxy_require_supported=["sec-agree"])
    assert response is not None and response.headers.get("Unsupported") == "foo"


def test_require_alone_is_not_the_proxys_business():
    request = incoming(extra=(("Require", "nothingSupportsThis"),))
    assert validate(request) is None


def test_proxy_require_is_ignored_in_cancel():
    # §8.2.2.3: "These header fields MUST be ignored if they are present in these requests."
    request = incoming("CANCEL", extra=(("Proxy-Require", "foo"),))
    assert validate(request) is None


# -- steps 1 and 2: syntax and scheme -------------------------------------------------------


def test_unsupported_request_uri_scheme_gets_416():
    response = validate(incoming(uri="tel:+15551234567"))
    assert response is not None and response.status == 416


def test_schemes_can_be_widened():
    assert validate(incoming(uri="tel:+15551234567"), schemes=frozenset({"sip", "tel"})) is None


def test_malformed_max_forwards_gets_400():
    response = validate(incoming(max_forwards="ten"))
    assert response is not None and response.status == 400


def test_malformed_route_gets_400():
    response = validate(incoming(routes=("<sip:p1.example.com;lr",)))
    assert response is not None and response.status == 400


def test_malformed_components_the_proxy_does_not_read_are_ignored():
    # §16.3 step 1: "an element would not reject a request because of a malformed Date".
    request = incoming(extra=(("Date", "not a date"), ("Expires", "soon")))
    assert validate(request) is None


# -- step 4: loops and spirals ---------------------------------------------------------------


def forwarded_back(request: Request, *, new_uri: str | None = None) -> Request:
    """Forward ``request`` through this proxy toward its Request-URI, then have a downstream
    element send it straight back (with its own Via, Max-Forwards decremented), optionally
    rewriting the Request-URI as a spiral does."""
    pre = preprocess_routes(request, LOCAL.is_us)
    sent = forward_request(
        pre.request, request.uri, sent_by=PROXY_UDP, branch=fresh_branch(), loop=loop_hash(request)
    ).request
    back = copy_request(sent)
    back.headers.prepend("Via", "SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKdownstream;rport=5060")
    back.headers.set("Max-Forwards", str((back.max_forwards or 70) - 1))
    if new_uri is not None:
        back.request_uri = new_uri
    return back


def test_a_request_that_comes_back_unchanged_has_looped():
    request = incoming(uri="sip:bob@elsewhere.example.net")
    back = forwarded_back(request)
    response = validate(back)
    assert response is not None
    assert response.status == 482
    assert response.reason == "Loop Detected"


def test_a_request_back_with_a_new_request_uri_is_a_spiral():
    request = incoming(uri="sip:bob@biloxi.example.com")
    back = forwarded_back(request, new_uri="sip:bob@203.0.113.20")
    assert validate(back) is None


def test_a_spiral_through_twice_then_loop_is_still_caught():
    request = incoming(uri="sip:bob@elsewhere.example.net")
    spiral = forwarded_back(request, new_uri="sip:robert@elsewhere.example.net")
    assert validate(spiral) is None
    # The spiralled request goes round once more, unchanged this time: a loop.
    assert validate(forwarded_back(spiral)).status == 482


def test_changed_proxy_authorization_makes_a_spiral_not_a_loop():
    request = incoming(uri="sip:bob@elsewhere.example.net")
    back = forwarded_back(request)
    back.headers.add("Proxy-Authorization", 'Digest username="alice"')
    assert validate(back) is None


def test_another_elements_via_with_our_hash_shape_is_not_ours():
    request = incoming(uri="sip:bob@elsewhere.example.net")
    back = forwarded_back(request)
    # Only Vias whose sent-by is ours count (§16.3 step 4): drop ours, keep a look-alike.
    ours = back.headers.values("Via")[1]
    lookalike = ours.replace("192.0.2.10", "203.0.113.99")
    vias = back.headers.values("Via")
    back.headers.set("Via", ", ".join([vias[0], lookalike, *vias[2:]]))
    assert validate(back) is None


def test_loop_detection_can_be_switched_off():
    back = forwarded_back(incoming(uri="sip:bob@elsewhere.example.net"))
    assert validate(back, detect_loops=False) is None


def test_loop_hash_ignores_method_and_top_via_but_not_routing_fields():
    invite = incoming()
    cancel = incoming("CANCEL")
    assert loop_hash(invite) == loop_hash(cancel)  # §16.6 step 8: method excluded
    other_hop = incoming(via="SIP/2.0/TCP 203.0.113.5;branch=z9hG4bKx")
    assert loop_hash(other_hop) == loop_hash(invite)
    assert loop_hash(incoming(uri="sip:carol@biloxi.example.com")) != loop_hash(invite)
    assert loop_hash(incoming(routes=("<sip:p1.example.com;lr>",))) != loop_hash(invite)
    assert loop_hash(incoming(extra=(("Proxy-Require", "foo"),))) != loop_hash(invite)
    assert loop_hash(incoming(to_tag="abc")) != loop_hash(invite)


def test_branch_is_separable_into_unique_part_and_loop_value():
    loop = loop_hash(incoming())
    branch = proxy_branch("z9hG4bKabcdef", loop)
    assert branch == f"z9hG4bKabcdef.{loop}"
    assert loop_part(branch) == loop
    assert loop_part("z9hG4bKabcdef") is None
    assert loop_part(None) is None
    assert proxy_branch("z9hG4bKabcdef", None) == "z9hG4bKabcdef"
    with pytest.raises(LocalProtocolError):
        proxy_branch("abcdef", loop)
    with pytest.raises(LocalProtocolError):
        proxy_branch("z9hG4bKab.cd", loop)


def test_local_addresses_match_uris_and_vias_with_default_ports():
    from parley.sip.syntax import Via, parse_uri

    assert LOCAL.is_us(parse_uri("sip:192.0.2.10"))
    assert LOCAL.is_us(parse_uri("sip:PROXY.example.com:5060;lr"))
    assert not LOCAL.is_us(parse_uri("sips:proxy.example.com"))  # 5061 is not ours
    assert not LOCAL.is_us(parse_uri("sip:192.0.2.10:5070"))
    assert not LOCAL.is_us(parse_uri("tel:+1555"))
    assert LOCAL.is_our_via(Via.parse("SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx"))
    assert not LOCAL.is_our_via(Via.parse("SIP/2.0/TLS 192.0.2.10;branch=z9hG4bKx"))
