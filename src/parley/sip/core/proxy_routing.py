"""What a proxy does to a request on its way through (RFC 3261 §16.4, §16.6, §9.1) and to a
response it forwards without a transaction (§16.11).

``preprocess_routes`` is §16.4 (strict-router fix-up, maddr, removing our own Route value);
``forward_request`` is §16.6 steps 1-8 for one target; ``build_cancel`` is §9.1 for one of
our branches; ``forward_stray_response`` is the response half of §16.11. None of them touches
the request they are given: each works on a copy, so that the server transaction keeps the
request exactly as received (its retransmissions and CANCEL are matched against it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from parley.sip.core.proxy_validation import default_port, proxy_branch
from parley.sip.core.uac import SentBy
from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import (
    MAGIC_COOKIE,
    Headers,
    NameAddr,
    Params,
    Request,
    Response,
    SipUri,
    Uri,
    Via,
    format_host,
    parse_uri,
)
from parley.sip.transport.address import Peer
from parley.sip.transport.via import response_destination

__all__ = [
    "DIALOG_CREATING_METHODS",
    "Forwarded",
    "Preprocessed",
    "build_cancel",
    "copy_request",
    "forward_request",
    "forward_stray_response",
    "may_create_dialog",
    "preprocess_routes",
    "stateless_branch",
]

#: Requests a proxy record-routes (§16.6 step 4) when asked to: INVITE (§12, §13), SUBSCRIBE
#: (RFC 6665 §4.1.2), REFER (RFC 3515, an implicit subscription), and NOTIFY, which creates
#: the dialog when it overtakes the 2xx to SUBSCRIBE (RFC 6665 §4.1.2.4); a proxy cannot
#: tell that NOTIFY from any other, and "A proxy MAY insert a Record-Route header field
#: value into any request" whose endpoints ignore it otherwise (§16.6 step 4).
DIALOG_CREATING_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})

#: §16.6 step 3: "If the copy does not contain a Max-Forwards header field, the proxy MUST
#: add one with a field value, which SHOULD be 70."
_MAX_FORWARDS = 70


def copy_request(request: Request) -> Request:
    """§16.6 step 1: a copy with every header field in order and the same body."""
    # The parsed views go along: the copy only gets fields added and replaced (§16.6), and
    # parsing From, To and CSeq again for every target is wasted work.
    return Request(
        request.method, request.request_uri, request.headers.copy(keep_views=True), request.body
    )


def may_create_dialog(request: Request) -> bool:
    """Whether a Record-Route value in ``request`` can matter (see DIALOG_CREATING_METHODS)."""
    return request.method in DIALOG_CREATING_METHODS


# -- §16.4 -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preprocessed:
    """The outcome of §16.4 on a request.

    ``request`` is the copy to go on with (§16.5, §16.6). ``strict_route_fixed`` is True when
    the Request-URI was one of our Record-Route URIs put there by a strict router and was
    replaced by the last Route value. ``maddr_stripped`` is True when a maddr naming us was
    removed from the Request-URI. ``removed_route`` is our own Route value taken off the top,
    parameters included (an RFC 5626 flow token or ``ob`` lives there), or None.
    """

    request: Request
    strict_route_fixed: bool
    maddr_stripped: bool
    removed_route: NameAddr | None


def preprocess_routes(
    request: Request,
    is_us: Callable[[Uri], bool],
    *,
    is_our_record_route: Callable[[Uri], bool] | None = None,
    arrived_on: tuple[str, int] | None = None,
) -> Preprocessed:
    """§16.4 Route Information Preprocessing, on a copy of ``request``.

    ``is_us`` tells whether a URI designates this proxy. ``is_our_record_route`` recognises
    the URIs we put into Record-Route (§16.6 step 4); by default a URI that ``is_us`` and
    carries ``lr``, which every URI we record-route does and which a Request-URI addressed
    to our domain (``REGISTER sip:example.com``) does not. ``arrived_on`` is the transport
    (lowercase) and local port the request came in on; without it a maddr is left alone.
    Raises ParseError for a malformed Request-URI or Route value (``validate_request`` reads
    them first).
    """
    out = copy_request(request)
    h = out.headers
    recorded = is_our_record_route or (
        lambda uri: is_us(uri) and isinstance(uri, SipUri) and "lr" in uri.params
    )
    # "If the Request-URI of the request contains a value this proxy previously placed into
    # a Record-Route header field (see Section 16.6 item 4), the proxy MUST replace the
    # Request-URI in the request with the last value from the Route header field, and
    # remove that value from the Route header field." (§16.12.1.2: P2 after strict P3.)
    strict = False
    routes = h.values("Route")
    if routes and recorded(out.uri):
        last = NameAddr.parse(routes[-1])
        out.uri = last.uri
        _set_routes(h, routes[:-1])
        strict = True
    # "If the Request-URI has a maddr parameter with a value the proxy is responsible for,
    # and the request was received using the port and transport indicated (explicitly or by
    # default) in the Request-URI, the proxy MUST strip the maddr and any non-default port
    # or transport parameter and continue processing as if those values had not been
    # present in the request."
    stripped = False
    uri = out.uri
    if arrived_on is not None and isinstance(uri, SipUri):
        maddr = uri.params.get("maddr")
        if maddr and is_us(_maddr_uri(uri, maddr)) and _arrived_as_named(uri, arrived_on):
            params = uri.params.copy()
            for name in ("maddr", "transport"):
                params.remove(name)
            out.uri = replace(uri, port=None, params=params)
            stripped = True
    # "If the first value in the Route header field indicates this proxy, the proxy MUST
    # remove that value from the request."
    removed = None
    remaining = h.values("Route")
    if remaining:
        top = NameAddr.parse(remaining[0])
        if is_us(top.uri):
            h.pop_first_value("Route")
            removed = top
    return Preprocessed(out, strict, stripped, removed)


def _maddr_uri(uri: SipUri, maddr: str) -> SipUri:
    # The address the maddr names, at the URI's port and transport.
    transport = uri.transport
    params = Params([("transport", transport)]) if transport else Params()
    return SipUri(uri.scheme, format_host(maddr), port=uri.port, params=params)


def _arrived_as_named(uri: SipUri, arrived_on: tuple[str, int]) -> bool:
    # §19.1.2: the default transport is UDP for sip and TLS (over TCP) for sips.
    transport = uri.transport or ("tls" if uri.secure else "udp")
    return (transport, default_port(uri)) == (arrived_on[0].lower(), arrived_on[1])


def _set_routes(headers: Headers, values: Sequence[str]) -> None:
    # One line keeps the values in order where the first Route line stood (§7.3.1 makes a
    # comma-separated line equivalent to several lines).
    if values:
        headers.set("Route", ", ".join(values))
    else:
        headers.remove("Route")


# -- §16.6 -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A request ready for its client transaction (§16.6 step 10), and ``next_hop``: the URI
    to resolve (RFC 3263) into the address, port and transport to send it to (step 7)."""

    request: Request
    next_hop: Uri


def forward_request(
    request: Request,
    target: Uri | str,
    *,
    sent_by: SentBy,
    branch: str,
    loop: str | None = None,
    record_route: SipUri | str | None = None,
    routes: Sequence[NameAddr | str] = (),
    path: Sequence[NameAddr | str] = (),
) -> Forwarded:
    """§16.6 steps 1-8 for one target: the request to send on a new client transaction.

    ``request`` is the request after §16.4 (``Preprocessed.request``); it is copied, never
    changed. ``target`` becomes the Request-URI. ``sent_by`` is the listener the request
    leaves from, ``branch`` a fresh branch for this client transaction (``IdGenerator
    .branch()``), and ``loop`` the ``loop_hash`` of the request as it was received, which
    the branch then carries (§16.6 step 8). ``record_route`` is our Record-Route URI, added
    with ``lr`` to requests that may create a dialog (``may_create_dialog``). ``routes`` are
    proxies local policy makes the request visit, and ``path`` the Path vector of the
    target's registration (RFC 3327 §5.3): both are pushed ahead of any Route values, in
    that order. Content-Length (step 9) is written by ``Message.to_bytes``.

    Raises LocalProtocolError for a request whose Max-Forwards is 0 (§16.3 step 3 forbids
    forwarding it) and ParseError for a malformed target, route or Max-Forwards value.
    """
    out = copy_request(request)  # Step 1
    h = out.headers
    # Step 2: "The Request-URI in the copy's start line MUST be replaced with the URI for
    # this target. If the URI contains any parameters not allowed in a Request-URI, they
    # MUST be removed." (§19.1.1's table: method and headers are not allowed there.)
    out.uri = _request_uri(parse_uri(target) if isinstance(target, str) else target)
    # Step 3: "If the copy contains a Max-Forwards header field, the proxy MUST decrement
    # its value by one (1). If the copy does not contain a Max-Forwards header field, the
    # proxy MUST add one with a field value, which SHOULD be 70." A value above 255, which
    # ``max_forwards`` reads as absent (RFC 4475 scalar02), is reset the same way.
    max_forwards = out.max_forwards
    if max_forwards == 0:
        raise LocalProtocolError("Max-Forwards is 0: the request must not be forwarded")
    h.set("Max-Forwards", str(_MAX_FORWARDS if max_forwards is None else max_forwards - 1))
    # Step 6: "This set MUST be pushed into the Route header field of the copy ahead of any
    # existing values, if present. If the Route header field is absent, it MUST be added."
    for value in reversed([*routes, *path]):
        h.prepend("Route", str(value if isinstance(value, NameAddr) else NameAddr.parse(value)))
    next_hop = _postprocess_strict(out)
    # Step 4 (after step 6, whose outcome decides sip or sips): "it MUST insert a
    # Record-Route header field value into the copy before any existing Record-Route header
    # field values, even if a Route header field is already present."
    if record_route is not None and may_create_dialog(out):
        h.prepend("Record-Route", f"<{_record_route_uri(out, record_route)}>")
    # Step 8: "The proxy MUST insert a Via header field value into the copy before the
    # existing Via header field values", with a branch unique to this client transaction.
    h.prepend("Via", sent_by.via(proxy_branch(branch, loop)))
    return Forwarded(out, next_hop)


def _request_uri(uri: Uri) -> Uri:
    if isinstance(uri, SipUri) and ("method" in uri.params or uri.headers):
        params = uri.params.copy()
        params.remove("method")
        return replace(uri, params=params, headers=())
    return uri


def _postprocess_strict(request: Request) -> Uri:
    """§16.6 step 6's strict-router reformatting, and step 7's choice of the URI to resolve.

    "If the copy contains a Route header field, the proxy MUST inspect the URI in its first
    value. If that URI does not contain an lr parameter, the proxy MUST modify the copy as
    follows: The proxy MUST place the Request-URI into the Route header field as the last
    value. The proxy MUST then place the first Route header field value into the
    Request-URI and remove that value from the Route header field." Step 7: after such a
    reformatting the Request-URI is resolved, otherwise "the first value in the Route header
    field, if present, else the Request-URI" (§16.12 step 3).
    """
    h = request.headers
    routes = h.values("Route")
    if not routes:
        return request.uri
    first = NameAddr.parse(routes[0])
    uri = first.uri
    if isinstance(uri, SipUri) and "lr" not in uri.params:
        _set_routes(h, [*routes[1:], f"<{request.request_uri}>"])
        request.uri = uri
        return uri  # §16.12.1.2: P4 sends the BYE to p3.middle.com, the strict router
    return uri


def _record_route_uri(request: Request, record_route: SipUri | str) -> SipUri:
    uri = parse_uri(record_route) if isinstance(record_route, str) else record_route
    if not isinstance(uri, SipUri):
        # "The URI placed in the Record-Route header field value MUST be a SIP or SIPS URI."
        raise LocalProtocolError("a Record-Route URI must be sip: or sips:")
    if "lr" not in uri.params:
        # "This URI MUST contain an lr parameter (see Section 19.1.1)."
        uri = uri.with_params(lr=None)
    top = request.routes[0].uri if request.headers.get("Route") else None
    if request.uri.scheme == "sips" or (top is not None and top.scheme == "sips"):
        # "If the Request-URI contains a SIPS URI, or the topmost Route header field value
        # (after the post processing of bullet 6) contains a SIPS URI, the URI placed into
        # the Record-Route header field MUST be a SIPS URI."
        uri = replace(uri, scheme="sips")
    return uri


# -- §9.1 --------------------------------------------------------------------------------


def build_cancel(forwarded: Request) -> Request:
    """§9.1: the CANCEL for one of our client transactions (§16.7 step 10, §16.10, §16.8).

    "The Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields in the
    CANCEL request MUST be identical to those in the request being cancelled, including
    tags. A CANCEL constructed by a client MUST have only a single Via header field value
    matching the top Via value in the request being cancelled." Route values are copied
    ("MUST include that Route header field's values"); Require and Proxy-Require are not
    ("MUST NOT contain"). Max-Forwards is a fresh 70, as for any request we originate
    (§8.1.1.6). Send it to the destination the request went to (§9.1), and only once that
    transaction has received a provisional response.
    """
    if forwarded.method in ("ACK", "CANCEL"):
        raise LocalProtocolError(f"a {forwarded.method} cannot be cancelled (§9.1)")
    h = forwarded.headers
    fields = [
        ("Via", h.values("Via")[0]),
        ("Max-Forwards", str(_MAX_FORWARDS)),
        ("To", _required(h.get("To"), "To")),
        ("From", _required(h.get("From"), "From")),
        ("Call-ID", forwarded.call_id),
        ("CSeq", f"{forwarded.cseq.seq} CANCEL"),
    ]
    fields += [("Route", value) for value in h.get_all("Route")]
    return Request("CANCEL", forwarded.request_uri, Headers(fields))


def _required(value: str | None, name: str) -> str:
    if value is None:
        raise LocalProtocolError(f"the request has no {name} to copy into its CANCEL")
    return value


# -- §16.11 ------------------------------------------------------------------------------


def stateless_branch(request: Request) -> str:
    """§16.11's RECOMMENDED branch for a request forwarded without a transaction (an ACK
    for a 2xx, a CANCEL that matches no response context): the same for every
    retransmission, as "a stateless proxy cannot tell a retransmission from the original".

    "If it begins with the magic cookie, the first component of the branch ID of the
    outgoing request is computed as a hash of the received branch ID. Otherwise, the first
    component of the branch ID is computed as a hash of the topmost Via, the tag in the To
    header field, the tag in the From header field, the Call-ID header field, the CSeq
    number (but not method), and the Request-URI from the received request." Pass it to
    ``forward_request`` as ``branch``. Raises ParseError for a malformed Via, To, From or
    CSeq.
    """
    via = request.top_via
    if via.rfc3261_branch and via.branch is not None:
        fields = ["branch", via.branch]
    else:
        fields = [
            "via",
            str(via),
            request.to.tag or "",
            request.from_.tag or "",
            request.call_id,
            str(request.cseq.seq),
            request.request_uri,
        ]
    data = "\x00".join(fields).encode("utf-8", "surrogateescape")
    return MAGIC_COOKIE + hashlib.sha256(data).hexdigest()[:24]


def forward_stray_response(
    response: Response, is_our_via: Callable[[Via], bool]
) -> tuple[Response, Peer] | None:
    """§16.11's response rule: the response to forward without a transaction, and where.

    "When a response arrives at a stateless proxy, the proxy MUST inspect the sent-by value
    in the first (topmost) Via header field value. If that address matches the proxy ...
    the proxy MUST remove that header field value from the response and forward the result
    to the location indicated in the next Via header field value ... If the address does
    not match the proxy, the message MUST be silently discarded." None means discard: the
    top Via is not ours, or no Via remains under it (the response was for us, §16.7 step
    3). The destination follows the next Via's ``received`` and ``rport`` (§18.2.2, RFC
    3581 §4); nothing else of the response changes.

    For a stateful proxy this is the path of a response its response context forwards after
    the server transaction is gone (§16.7 step 9). A response that matched no client
    transaction at all is, under RFC 6026's amendment of §16.7, not forwarded by a stateful
    proxy: late 2xx of a fork reach the proxy core through the client transaction's
    Accepted state instead. Raises ParseError for a malformed Via.
    """
    if not response.headers.get("Via") or not is_our_via(response.top_via):
        return None
    out = Response(response.status, response.reason, response.headers.copy(), response.body)
    out.headers.pop_first_value("Via")
    if not out.headers.get("Via"):
        return None
    return out, response_destination(out, None)
