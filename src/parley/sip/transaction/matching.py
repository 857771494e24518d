"""Which transaction a message belongs to: §17.1.3 for responses, §17.2.3 for requests.

An RFC 3261 element puts a branch starting with the magic cookie ``z9hG4bK`` in its Via
(§8.1.1.7), unique across its transactions, so matching is a dictionary lookup on a
``TransactionKey``. Requests from RFC 2543 elements carry no such branch; §17.2.3 then
compares Request-URI, tags, Call-ID, CSeq and the whole top Via, each by its own equality
rules, which cannot be hashed: ``legacy_bucket`` narrows the search to requests with the
same Call-ID, CSeq number and From tag, and ``legacy_matches`` decides within it. A branch
that is exactly the cookie counts as RFC 2543 (RFC 4475's "badbranch" test).
"""

from __future__ import annotations

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request, Response, Via, uri_equal
from parley.sip.transaction.events import Role, TransactionKey

__all__ = [
    "LegacyBucket",
    "cancel_target_key",
    "client_key",
    "legacy_bucket",
    "legacy_cancel_matches",
    "legacy_matches",
    "response_key",
    "server_key",
    "via_equal",
]

#: Call-ID, CSeq number, From tag: what every RFC 2543 match compares exactly.
LegacyBucket = tuple[str, int, str | None]


def client_key(request: Request) -> TransactionKey:
    """The key of the client transaction that will send ``request`` (§17.1.3).

    Raises ``LocalProtocolError`` for an ACK (§17.1: no client transaction) and for a top
    Via without an RFC 3261 branch: §8.1.1.7 says the branch "MUST" start with the cookie,
    and responses could not be matched otherwise.
    """
    if request.method == "ACK":
        raise LocalProtocolError("ACK has no client transaction (§17.1)")
    via = request.top_via
    # §17.1.3 rule 1 keys on the branch "in the top Via header field of the request that
    # created the transaction": ours, put there by the TU or proxy core (§16.6 step 8).
    if not via.rfc3261_branch or via.branch is None:
        raise LocalProtocolError("the top Via needs a branch starting with z9hG4bK (§8.1.1.7)")
    if request.cseq.method != request.method:
        raise LocalProtocolError("CSeq method differs from the request method (§8.1.1.5)")
    return TransactionKey(Role.CLIENT, request.method, via.branch)


def response_key(response: Response) -> TransactionKey | None:
    """The key of the client transaction ``response`` matches, or None if it can match none.

    §17.1.3: the branch of the top Via equals the request's, and the CSeq method equals
    the request's method; the method is what tells a CANCEL's response from its INVITE's,
    the two sharing a branch (§9.1). A response to ACK matches nothing (§17.1).
    """
    # §18.1.2: the transport already dropped responses whose top Via is not ours, so the
    # top Via here is the one this element inserted.
    via = response.top_via
    method = response.cseq.method
    if via.branch is None or not via.rfc3261_branch or method == "ACK":
        return None
    return TransactionKey(Role.CLIENT, method, via.branch)


def _sent_by(via: Via) -> tuple[str, int | None]:
    # §17.2.3 rule 2 compares sent-by; host names are case-insensitive (§19.1.4), the
    # port is compared as written (a retransmission repeats it byte for byte).
    return via.host.lower(), via.port


def server_key(request: Request) -> TransactionKey | None:
    """The §17.2.3 key of the server transaction ``request`` belongs to, or None when its
    top Via has no RFC 3261 branch (then use the legacy functions).

    Branch, sent-by and method; "except for ACK, where the method of the request that
    created the transaction is INVITE". A CANCEL keeps its own method: it is a transaction
    of its own (§9.2), found by ``cancel_target_key``.
    """
    via = request.top_via
    # §17.2.3: "If it is present and begins with the magic cookie ... the branch parameter
    # will be unique across all transactions sent by that client."
    if via.branch is None or not via.rfc3261_branch:
        return None
    method = "INVITE" if request.method == "ACK" else request.method
    return TransactionKey(Role.SERVER, method, via.branch, _sent_by(via))


def cancel_target_key(cancel: Request) -> TransactionKey | None:
    """The key of the INVITE server transaction a CANCEL targets, for RFC 3261 peers.

    §9.2: the transaction to cancel is found by the §17.2.3 procedures "except that the
    method of the request ... is not considered": the CANCEL's branch and sent-by equal
    those of the request it cancels (§9.1 copies the top Via). Only an INVITE can be
    cancelled usefully, so only an INVITE transaction is looked for.
    """
    key = server_key(cancel)
    if key is None:
        return None
    return TransactionKey(Role.SERVER, "INVITE", key.branch, key.sent_by)


# -- RFC 2543 fallback (§17.2.3, second half) --------------------------------------------


def via_equal(a: Via, b: Via) -> bool:
    """Two Via values are equal by §7.3.1/§20.42: protocol, transport and host compare
    case-insensitively, the port exactly, and the parameters as a set, names and values
    case-insensitively."""

    def params(via: Via) -> dict[str, str | None]:
        return {k.lower(): None if v is None else v.lower() for k, v in via.params}

    return (
        a.protocol.upper() == b.protocol.upper()
        and a.transport.upper() == b.transport.upper()
        and a.host.lower() == b.host.lower()
        and a.port == b.port
        and params(a) == params(b)
    )


def legacy_bucket(request: Request) -> LegacyBucket:
    """Call-ID, CSeq number and From tag: compared exactly by every §17.2.3 legacy rule,
    so requests that differ in them never match and can be indexed apart."""
    return request.call_id, request.cseq.seq, request.from_.tag


def _same_origin(original: Request, request: Request) -> bool:
    # §17.2.3: Request-URI, From tag, Call-ID and top Via, "based on the matching rules
    # defined for each of those header fields" (§19.1.4 for the URI).
    return (
        original.call_id == request.call_id
        and original.from_.tag == request.from_.tag
        and original.cseq.seq == request.cseq.seq
        and uri_equal(original.uri, request.uri)
        and via_equal(original.top_via, request.top_via)
    )


def legacy_matches(original: Request, response_to_tag: str | None, request: Request) -> bool:
    """Whether ``request`` belongs to the transaction ``original`` created, by §17.2.3's
    rules for RFC 2543 peers. ``response_to_tag`` is the To tag of the response that
    transaction sent, or None when it sent nothing (then no ACK can match).

    An INVITE, or any other method, matches on Request-URI, To tag, From tag, Call-ID,
    CSeq (method included) and top Via. An ACK matches an INVITE on Request-URI, From tag,
    Call-ID, CSeq number and top Via, and on its To tag being that of the response "sent by
    the server transaction" (which tells an ACK for a 2xx from one for a non-2xx).
    """
    if request.method == "ACK":
        # §17.2.3: "An ACK request that matches an INVITE transaction matched by a previous
        # ACK is considered a retransmission of that previous ACK": no ACK state needed.
        return (
            original.method == "INVITE"
            and response_to_tag is not None
            and request.to.tag == response_to_tag
            and _same_origin(original, request)
        )
    return (
        request.method == original.method
        and request.cseq.method == original.cseq.method
        and request.to.tag == original.to.tag
        and _same_origin(original, request)
    )


def legacy_cancel_matches(invite: Request, cancel: Request) -> bool:
    """§9.2 for RFC 2543 peers: a CANCEL targets ``invite`` if it would match its
    transaction by §17.2.3 leaving the method aside (To tag included: §9.1 copies To)."""
    return (
        invite.method == "INVITE"
        and cancel.to.tag == invite.to.tag
        and _same_origin(invite, cancel)
    )
