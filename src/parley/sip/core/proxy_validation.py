"""Proxy request validation (RFC 3261 §16.3) and loop detection (§16.3 step 4, §16.6 step 8).

Everything here is a pure decision on one request: ``validate_request`` returns the error
response the proxy must answer with (acting as a UAS, §8.2), or None when the request may be
proxied. Who "we" are is told by predicates on URIs and Via values; ``LocalAddresses`` builds
them from the proxy's listening addresses.

Loop detection follows the branch technique of §16.6 step 8: every branch this proxy puts in
its Via is ``<unique part>.<loop value>``, where the loop value hashes the fields of the
received request that drive its processing. A request that comes back carrying one of our
Vias is a loop when the value computed on it now equals the one embedded then, and a spiral
(legitimate, §16.3 step 4) when they differ, e.g. because the Request-URI was rewritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from parley.sip.core.uac import SentBy
from parley.sip.errors import LocalProtocolError, ParseError
from parley.sip.syntax import MAGIC_COOKIE, Request, Response, SipUri, Uri, Via, make_response
from parley.sip.transport.via import DEFAULT_PORTS

__all__ = [
    "LOOP_SEPARATOR",
    "LocalAddresses",
    "default_port",
    "loop_hash",
    "loop_part",
    "proxy_branch",
    "validate_request",
]

#: Separates the unique part of our branch from its loop value (§16.6 step 8: "a branch
#: parameter separable into two parts"). "." is a token character and never occurs in the
#: hex of either part.
LOOP_SEPARATOR = "."

#: Length, in hex digits, of the loop value: 128 bits, as the MD5 that §16.6 step 8 names as
#: "a reasonable choice" would give, but computed with SHA-256.
_LOOP_HEX = 32

#: Methods whose Proxy-Require is ignored: §8.2.2.3, "Require and Proxy-Require MUST NOT be
#: used in a SIP CANCEL request, or in an ACK request sent for a non-2xx response. These
#: header fields MUST be ignored if they are present in these requests."
_NO_PROXY_REQUIRE = frozenset({"ACK", "CANCEL"})


def default_port(uri: SipUri) -> int:
    """The port a SIP URI designates when it names none (§19.1.2): 5061 for ``sips`` and
    ``transport=tls``, 5060 otherwise."""
    if uri.port is not None:
        return uri.port
    return 5061 if uri.secure or uri.transport == "tls" else 5060


def _bare(host: str) -> str:
    return (host[1:-1] if host.startswith("[") else host).lower()


@dataclass(frozen=True, slots=True)
class LocalAddresses:
    """The ``(host, port)`` pairs that designate this proxy: its listening addresses (the
    sent-by of its Vias, §18.1.1) and the host names that resolve to it, on each of its
    ports. Hosts are lowercase, IPv6 without brackets.

    ``is_us`` answers "does this URI indicate this proxy" (§16.4: a Route value, a maddr, a
    Record-Route URI we inserted); ``is_our_via`` answers "is this a sent-by value this proxy
    placed into previous requests" (§16.3 step 4, §16.11).
    """

    addresses: frozenset[tuple[str, int]]

    @classmethod
    def of(cls, sent_bys: Iterable[SentBy], aliases: Iterable[str] = ()) -> LocalAddresses:
        """From our listeners (``SentBy``) and extra names (``proxy.example.com``)."""
        listeners = list(sent_bys)
        pairs = {(_bare(s.host), s.port) for s in listeners}
        ports = {s.port for s in listeners}
        pairs |= {(_bare(alias), port) for alias in aliases for port in ports}
        return cls(frozenset(pairs))

    def is_us(self, uri: Uri) -> bool:
        """True for a ``sip``/``sips`` URI whose host and port (explicit or default) are ours."""
        if not isinstance(uri, SipUri):
            return False
        return (uri.host_bare, default_port(uri)) in self.addresses

    def is_our_via(self, via: Via) -> bool:
        """True when the sent-by of ``via`` (port defaulted by transport) is ours."""
        port = via.port if via.port is not None else DEFAULT_PORTS.get(via.transport.lower())
        return port is not None and (_bare(via.host), port) in self.addresses


def loop_hash(request: Request) -> str:
    """The loop value of a request as received, before §16.4 changes anything (hex).

    §16.6 step 8: the value "SHOULD reflect all of those fields" that affect processing,
    "including any Route, Proxy-Require and Proxy-Authorization header fields": here the To
    tag, From tag, Call-ID, Request-URI as received, CSeq number, and every Route,
    Proxy-Require and Proxy-Authorization value. The method is left out ("MUST NOT be
    included"), so that CANCEL and ACK share it with their INVITE.

    The topmost Via, which §16.6 step 8's example also hashes, is left out on purpose: a
    request that loops back always arrives with a different topmost Via (the last hop's), so
    hashing it would make every loop look like a spiral and leave only Max-Forwards to end
    it. Raises ParseError when To, From, Call-ID or CSeq is malformed.
    """
    h = request.headers
    fields = [
        "to-tag",
        request.to.tag or "",
        "from-tag",
        request.from_.tag or "",
        "call-id",
        request.call_id,
        "request-uri",
        request.request_uri,
        "cseq",
        str(request.cseq.seq),
    ]
    for name in ("Route", "Proxy-Require"):
        for value in h.values(name):
            fields += [name, value]
    for value in h.get_all("Proxy-Authorization"):
        fields += ["Proxy-Authorization", value]
    data = "\x00".join(fields).encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()[:_LOOP_HEX]


def proxy_branch(branch: str, loop: str | None) -> str:
    """Our Via branch (§16.6 step 8): ``branch`` (unique per client transaction, with the
    magic cookie, e.g. ``IdGenerator.branch()``), then the loop value if loops are detected."""
    if not branch.startswith(MAGIC_COOKIE) or len(branch) <= len(MAGIC_COOKIE):
        raise LocalProtocolError("a branch must start with z9hG4bK and go on (§8.1.1.7)")
    if LOOP_SEPARATOR in branch[len(MAGIC_COOKIE) :]:
        raise LocalProtocolError(f"the unique part of a branch must not hold {LOOP_SEPARATOR!r}")
    return branch if loop is None else f"{branch}{LOOP_SEPARATOR}{loop}"


def loop_part(branch: str | None) -> str | None:
    """The loop value embedded by ``proxy_branch`` in one of our branches, or None."""
    if branch is None or not branch.startswith(MAGIC_COOKIE):
        return None
    _, separator, loop = branch.rpartition(LOOP_SEPARATOR)
    return loop if separator and len(loop) == _LOOP_HEX else None


def _via_uri(via: Via) -> SipUri:
    # A sent-by seen as a URI, so that one ``is_us`` predicate can judge both.
    port = via.port if via.port is not None else DEFAULT_PORTS.get(via.transport.lower(), 5060)
    return SipUri("sip", via.host, port=port)


def validate_request(
    request: Request,
    *,
    to_tag: str,
    is_us: Callable[[Uri], bool],
    is_our_via: Callable[[Via], bool] | None = None,
    proxy_require_supported: Iterable[str] = (),
    schemes: frozenset[str] = frozenset({"sip", "sips"}),
    allow: Iterable[str] | None = None,
    detect_loops: bool = True,
    loop: str | None = None,
) -> Response | None:
    """§16.3: the response a proxy must answer ``request`` with, or None to proxy it.

    The checks run in the RFC's order: (1) reasonable syntax of what the proxy reads (400,
    with the parse error as reason phrase), (2) URI scheme (416, for schemes outside
    ``schemes``), (3) Max-Forwards (483 at zero), (4) loop detection (482, when
    ``detect_loops``), (5) Proxy-Require (420 with an Unsupported header listing the
    option-tags not in ``proxy_require_supported``). Step 6, Proxy-Authorization, is the
    authentication module's (§22.3). Require is never looked at: its option-tags are the
    UAS's business (§8.2.2.3, RFC 4475 bext01).

    ``is_us`` tells whether a URI designates this proxy; ``is_our_via`` whether a Via is one
    we inserted (default: ``is_us`` applied to its sent-by). ``to_tag`` goes into the To of
    every response (§8.2.6.2). With ``allow``, an OPTIONS with Max-Forwards 0 is answered
    200 (OK) with Allow and Supported as its final recipient (§16.3 step 3, §11) instead of
    483. For an ACK, a non-None result means "drop it": an ACK is never answered (§17).
    ``loop`` is the request's ``loop_hash`` if the caller computed it already.
    """
    # Step 1: §16.3 "Any components involved in the remainder of these Request Validation
    # steps or the Request Forwarding section MUST be well-formed. Any other components,
    # well-formed or not, SHOULD be ignored": so only those are read here.
    try:
        uri = request.uri
        vias = request.vias
        if not detect_loops:
            loop = None
        elif loop is None:
            loop = loop_hash(request)
        max_forwards = request.max_forwards
        for route in request.routes:
            route.uri  # noqa: B018  (NameAddr parses its URI lazily)
        if request.method in _NO_PROXY_REQUIRE:
            required: list[str] = []
        else:
            required = request.headers.values("Proxy-Require")
    except ParseError as exc:
        return _answer(request, exc.status_hint, _phrase(exc.reason), to_tag)
    # Step 2: "If the Request-URI has a URI whose scheme is not understood by the proxy, the
    # proxy SHOULD reject the request with a 416 (Unsupported URI Scheme) response."
    if uri.scheme not in schemes:
        return _answer(request, 416, None, to_tag)
    # Step 3: "If the request contains a Max-Forwards header field with a field value of
    # zero (0), the element MUST NOT forward the request. If the request was for OPTIONS,
    # the element MAY act as the final recipient and respond per Section 11. Otherwise, the
    # element MUST return a 483 (Too many hops) response." (RFC 4475 zeromf)
    if max_forwards == 0:
        if request.method == "OPTIONS" and allow is not None:
            extra = [("Allow", ", ".join(sorted(allow)))]
            supported = sorted({tag.lower() for tag in proxy_require_supported})
            if supported:
                extra.append(("Supported", ", ".join(supported)))
            return make_response(request, 200, to_tag=to_tag, extra=extra)
        return _answer(request, 483, None, to_tag)
    # Step 4: "If the request contains a Via header field with a sent-by value that equals a
    # value placed into previous requests by the proxy, the request has been forwarded by
    # this element before ... If the parameters match, the request has looped. If they
    # differ, the request is spiraling, and processing continues."
    if loop is not None:
        ours = is_our_via if is_our_via is not None else (lambda via: is_us(_via_uri(via)))
        if any(ours(via) and loop_part(via.branch) == loop for via in vias):
            return _answer(request, 482, None, to_tag)
    # Step 5: "If the request contains a Proxy-Require header field (Section 20.29) with one
    # or more option-tags this element does not understand, the element MUST return a 420
    # (Bad Extension) response. The response MUST include an Unsupported (Section 20.40)
    # header field listing those option-tags the element did not understand."
    known = {tag.lower() for tag in proxy_require_supported}
    unsupported = [tag for tag in required if tag.lower() not in known]
    if unsupported:
        return make_response(
            request, 420, to_tag=to_tag, extra=[("Unsupported", ", ".join(unsupported))]
        )
    return None


def _answer(request: Request, status: int, reason: str | None, to_tag: str) -> Response | None:
    # A request too broken to copy Via/From/To/Call-ID/CSeq from (§8.2.6.2) is dropped.
    try:
        return make_response(request, status, reason, to_tag=to_tag)
    except ParseError:
        return None


def _phrase(reason: str) -> str:
    # A reason phrase is one line of printable text (§7.2, §25.1 Reason-Phrase).
    cleaned = "".join(c if c.isprintable() else "?" for c in reason)
    return cleaned[:120] or "Bad Request"
