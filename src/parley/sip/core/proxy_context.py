"""The stateful proxy's response context (RFC 3261 §16.7, §16.8, §16.9, §16.10).

One ``ResponseContext`` per proxied request ties its server transaction to the client
transactions of its branches (§16.2, Figure 3). It is fed what the transaction layer reports
for each branch (``on_response``, ``on_timeout``, ``on_transport_error``, ``on_terminated``),
an incoming CANCEL (``cancel``) and the clock (``handle_timeout`` at ``next_deadline``), and
answers with actions for the caller to carry out: ``ForwardResponse`` (hand the response to
the server transaction), ``SendCancel`` (start a client transaction for a CANCEL, to where the
branch's request went) and ``AbandonBranch`` (destroy a client transaction).

``now`` is seconds on the caller's monotonic clock, the scale the transaction layer uses;
Timer C (§16.6 step 11) and the wait for a cancelled branch's final response (§9.1) are
absolute deadlines on it. Nothing here sends, sleeps or reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parley.sip.core.proxy_routing import build_cancel
from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request, Response, make_response
from parley.sip.transaction.events import TransactionKey

__all__ = [
    "TIMER_C",
    "AbandonBranch",
    "ForwardResponse",
    "ProxyAction",
    "ResponseContext",
    "SendCancel",
    "aggregate_challenges",
    "choose_best_response",
]

#: §16.6 step 11: Timer C "MUST be larger than 3 minutes". A few seconds over, so that a UAS
#: refreshing its provisional response every minute (§13.3.1.1) survives losing two in a row.
TIMER_C = 185.0

#: §16.7 step 6: "The proxy SHOULD give preference to responses that provide information
#: affecting resubmission of this request, such as 401, 407, 415, 420, and 484 if the 4xx
#: class is chosen." 401 and 407 come first: their challenges are aggregated (step 7).
_RESUBMISSION = {401: 0, 407: 0, 415: 1, 420: 1, 484: 1}
_CHALLENGES = (401, 407)
_CHALLENGE_HEADERS = ("WWW-Authenticate", "Proxy-Authenticate")


@dataclass(frozen=True, slots=True)
class ForwardResponse:
    """§16.7 step 9: pass ``response`` to the server transaction of the context. If that
    transaction is gone, send it statelessly to where its top Via says (§18.2.2)."""

    response: Response


@dataclass(frozen=True, slots=True)
class SendCancel:
    """§9.1, §16.7 step 10: send ``request``, the CANCEL of branch ``key``, in a new client
    transaction to the same address, port and transport as the branch's request."""

    key: TransactionKey
    request: Request


@dataclass(frozen=True, slots=True)
class AbandonBranch:
    """Destroy client transaction ``key`` (``TransactionLayer.abandon``): Timer C fired
    before any provisional response (§16.8), or a cancelled branch got no final response
    within 64*T1 (§9.1). The context already counts the branch as a 408."""

    key: TransactionKey


ProxyAction = ForwardResponse | SendCancel | AbandonBranch


@dataclass(slots=True)
class _Branch:
    key: TransactionKey
    request: Request  # as forwarded, to build its CANCEL from (§9.1)
    provisional: bool = False  # a 1xx arrived: a CANCEL may be sent (§9.1)
    final: int | None = None  # the status of its final response, ours if synthetic
    cancel_wanted: bool = False  # to be cancelled as soon as a 1xx allows (§9.1)
    cancelled: bool = False  # its CANCEL was generated (§16.7 step 10: "not had ... CANCEL")
    deadline: float | None = None  # Timer C, or §9.1's 64*T1 wait once cancelled
    terminated: bool = False  # its client transaction is gone

    @property
    def invite(self) -> bool:
        return self.request.method == "INVITE"


@dataclass(frozen=True, slots=True)
class _Candidate:
    response: Response
    synthetic: bool  # ours: a timeout (408) or transport error (503), not a peer's answer
    order: int


def _rank(candidate: _Candidate) -> tuple[int, int, int, int]:
    status = candidate.response.status
    # §16.7 step 6: "It MUST choose from the 6xx class responses if any exist in the
    # context. If no 6xx class responses are present, the proxy SHOULD choose from the
    # lowest response class stored in the response context."
    klass = 0 if status >= 600 else status // 100
    if klass == 4:
        within = _RESUBMISSION.get(status, 2)
    elif klass == 5:
        # "A proxy which receives a 503 (Service Unavailable) response SHOULD NOT forward
        # it upstream unless it can determine that any subsequent requests it might proxy
        # will also generate a 503": any other 5xx is a better answer.
        within = 1 if status == 503 else 0
    else:
        within = 0
    # "The proxy MAY select any response within that chosen class": a peer's answer before
    # our own 408/503, then the earliest.
    return (klass, within, int(candidate.synthetic), candidate.order)


def choose_best_response(responses: Sequence[Response]) -> Response:
    """§16.7 step 6 over final responses (3xx-6xx) in order of arrival: one of them, as is.

    6xx if any; else the lowest class; within 4xx, 401/407, then 415/420/484, then the
    first to arrive; within 5xx, anything before 503. E.g. 503, 407, 501, 404 gives the 407
    (the RFC's example), and 486 then 404 gives the 486.
    """
    if not responses:
        raise LocalProtocolError("no final response to choose from")
    candidates = [_Candidate(r, False, i) for i, r in enumerate(responses)]
    return min(candidates, key=_rank).response


def aggregate_challenges(selected: Response, others: Sequence[Response]) -> Response:
    """§16.7 step 7: a copy of the 401/407 ``selected`` carrying, after its own, the
    WWW-Authenticate and Proxy-Authenticate values of every other 401/407 in ``others``,
    "without modification"."""
    out = Response(selected.status, selected.reason, selected.headers.copy(), selected.body)
    for other in others:
        if other is selected or other.status not in _CHALLENGES:
            continue
        for name in _CHALLENGE_HEADERS:
            for value in other.headers.get_all(name):
                out.headers.add(name, value)
    return out


class ResponseContext:
    """§16.7's "response context" of one proxied request.

    ``request`` is the request as received on the server transaction; the responses the
    proxy makes up itself (408, 480, 487, and 500 in place of a 503) are built from it with
    ``to_tag`` (§16.7 step 6: 3-6xx are hop-by-hop, the proxy acting as a UAS). ``timer_c``
    (seconds, over 180) bounds each INVITE branch until it answers (§16.6 step 11); ``t1``
    gives §9.1's 64*T1 wait for a cancelled branch's final response.

    Branches are added with ``add_branch`` while the target set grows; the best final
    response is chosen once ``complete_target_set`` has been called (or a 6xx or CANCEL
    closed the set) and every branch has its final response. A branch counts as complete as
    soon as its client transaction passed up a final response: what that transaction may
    still pass up later is only a 2xx of an INVITE (RFC 6026 Accepted), which is forwarded
    whenever it comes; waiting for Timer D or K would only delay the answer.
    """

    def __init__(
        self,
        request: Request,
        *,
        to_tag: str,
        timer_c: float = TIMER_C,
        t1: float = 0.5,
    ) -> None:
        if request.method in ("ACK", "CANCEL"):
            # §16.10: "a new response context is not created for it"; ACK has no response.
            raise LocalProtocolError(f"no response context for {request.method}")
        if not timer_c > 180.0:
            raise LocalProtocolError("Timer C must be larger than 3 minutes (§16.6 step 11)")
        if not t1 > 0:
            raise LocalProtocolError("T1 must be positive")
        self.request = request
        self.to_tag = to_tag
        self.timer_c = timer_c
        self.cancel_wait = 64 * t1
        self._invite = request.method == "INVITE"
        self._branches: dict[TransactionKey, _Branch] = {}
        self._candidates: list[_Candidate] = []
        self._closed = False  # no more branches: target set complete, 6xx, or CANCEL
        self._cancelled = False  # a CANCEL for the request arrived (§16.10)
        self._final: Response | None = None  # the first final response forwarded

    # -- state ---------------------------------------------------------------------------

    @property
    def final_response(self) -> Response | None:
        """The first final response forwarded on the server transaction, or None."""
        return self._final

    @property
    def accepting_branches(self) -> bool:
        """False once the target set is complete, a 6xx arrived (§16.7 step 5: "MUST NOT
        create any new branches"), the request was cancelled, or a final response went."""
        return not self._closed and self._final is None

    @property
    def branches(self) -> tuple[TransactionKey, ...]:
        return tuple(self._branches)

    @property
    def outstanding(self) -> tuple[TransactionKey, ...]:
        """The branches still waiting for a final response (serial forking moves on to the
        next target when this is empty and no final response went)."""
        return tuple(k for k, b in self._branches.items() if b.final is None)

    @property
    def finished(self) -> bool:
        """True once a final response went and every branch's client transaction has
        terminated: §16.7 step 9, "The proxy MUST maintain the response context until all
        of its associated transactions have been terminated"."""
        return self._final is not None and all(b.terminated for b in self._branches.values())

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must next be called, or None."""
        deadlines = [
            b.deadline
            for b in self._branches.values()
            if b.deadline is not None and b.final is None
        ]
        return min(deadlines) if deadlines else None

    # -- inputs from the proxy core --------------------------------------------------------

    def add_branch(self, key: TransactionKey, forwarded: Request, now: float) -> None:
        """A request was forwarded (§16.6 step 10) on client transaction ``key``;
        ``forwarded`` is that request, Via included. Starts Timer C for an INVITE (§16.6
        step 11). Raises LocalProtocolError when no branch may be added."""
        if not self.accepting_branches:
            raise LocalProtocolError("this response context takes no new branches")
        if key in self._branches:
            raise LocalProtocolError(f"branch {key.branch} is already in the context")
        branch = _Branch(key, forwarded)
        if branch.invite:
            branch.deadline = now + self.timer_c
        self._branches[key] = branch

    def complete_target_set(self, now: float) -> list[ProxyAction]:
        """No more targets will be tried (§16.5, §16.6): once every branch has answered,
        the best final response goes. With no branch at all, that is a 480 (§16.5: "If the
        target set remains empty ... SHOULD be the 480 (Temporarily Unavailable)")."""
        self._closed = True
        return self._maybe_finish()

    def cancel(self, now: float) -> list[ProxyAction]:
        """A CANCEL matched the server transaction of this context (§16.10): "the element
        MUST generate CANCEL requests for all pending client transactions in the context".
        A branch with no provisional response yet gets its CANCEL when one arrives (§9.1).
        The caller answers the CANCEL itself with 200 (OK). The target set is closed; with
        no branch at all, the request is answered 487 (Request Terminated)."""
        out: list[ProxyAction] = []
        if self._final is not None:
            return out
        self._cancelled = True
        self._closed = True
        for branch in self._branches.values():
            self._cancel_branch(branch, now, out)
        out += self._maybe_finish()
        return out

    # -- inputs from the transaction layer -------------------------------------------------

    def on_response(self, key: TransactionKey, response: Response, now: float) -> list[ProxyAction]:
        """A response client transaction ``key`` passed up (§16.7 steps 2-10).

        Steps 2-3: Timer C restarts on 101-199 for INVITE; the topmost Via (ours) is
        removed, from a copy, and nothing else is changed. Step 5: before any final response
        went, a provisional response other than 100 and any 2xx are forwarded at once; after
        one, only a 2xx to INVITE (every one of them, retransmissions through the client's
        Accepted state included). 3xx-6xx are kept for step 6; a 6xx cancels the other
        branches and closes the target set. Step 10: forwarding a final response cancels
        every other pending INVITE branch.
        """
        branch = self._branch(key)
        out: list[ProxyAction] = []
        status = response.status
        forwarded = _without_top_via(response)
        if forwarded is None:
            # §16.7 step 3: "If no Via header field values remain in the response, the
            # response was meant for this element and MUST NOT be forwarded."
            return out
        if status < 200:
            if branch.final is not None:
                return out  # a 1xx overtaken by the final response: nothing left to do
            branch.provisional = True
            if branch.invite and status > 100 and not branch.cancelled:
                # Step 2: "if the response is a provisional response with status codes 101
                # to 199 inclusive (i.e., anything but 100), the proxy MUST reset timer C".
                branch.deadline = now + self.timer_c
            if status > 100 and self._final is None:
                # Step 5: "Any provisional response other than 100 (Trying)"; "a stateful
                # proxy MUST NOT forward any 100 (Trying) response."
                out.append(ForwardResponse(forwarded))
            if branch.cancel_wanted:
                # §9.1: the CANCEL waited for this provisional response.
                self._cancel_branch(branch, now, out)
            return out
        if status < 300:
            if branch.final is None:
                branch.final = status
                branch.deadline = None
            if self._final is not None and not self._invite:
                return out  # non-INVITE: "exactly one final response" (step 5)
            first = self._final is None
            if first:
                self._final = forwarded
            # Step 5: "Any 2xx response" before a final response went, and after it "Any
            # 2xx response to an INVITE request".
            out.append(ForwardResponse(forwarded))
            if first:
                self._cancel_pending(now, out)
            return out
        if branch.final is not None:
            return out  # already counted (e.g. as a 408 after its Timer C)
        branch.final = status
        branch.deadline = None
        # Step 4: "Final responses received are stored in the response context until a final
        # response is generated on the server transaction".
        self._candidates.append(_Candidate(forwarded, False, len(self._candidates)))
        if status >= 600 and self._final is None:
            # Step 5: "If a 6xx response is received, it is not immediately forwarded, but
            # the stateful proxy SHOULD cancel all client pending transactions as described
            # in Section 10, and it MUST NOT create any new branches in this context."
            self._closed = True
            self._cancel_pending(now, out)
        out += self._maybe_finish()
        return out

    def on_timeout(self, key: TransactionKey, now: float) -> list[ProxyAction]:
        """Client transaction ``key`` timed out (Timer B or F): the branch counts as a 408
        (§16.6 step 7: "acts as if this element of the target set returned a 408")."""
        return self._synthetic(self._branch(key), 408)

    def on_transport_error(self, key: TransactionKey, now: float) -> list[ProxyAction]:
        """The request of branch ``key`` could not be sent: §16.9, "the proxy MUST behave as
        if the forwarded request received a 503 (Service Unavailable) response"."""
        return self._synthetic(self._branch(key), 503)

    def on_terminated(self, key: TransactionKey, now: float) -> list[ProxyAction]:
        """Client transaction ``key`` is gone (``TransactionTerminated``). One that never
        passed up a final response counts as a 408."""
        branch = self._branch(key)
        branch.terminated = True
        if branch.final is None:
            return self._synthetic(branch, 408)
        return []

    def handle_timeout(self, now: float) -> list[ProxyAction]:
        """Fire every deadline due at ``now``.

        Timer C (§16.8): "If the client transaction has received a provisional response, the
        proxy MUST generate a CANCEL request matching that transaction. If the client
        transaction has not received a provisional response, the proxy MUST behave as if the
        transaction received a 408 (Request Timeout) response" (and the transaction is
        abandoned). §9.1: a branch cancelled 64*T1 ago without a final response is
        "considered cancelled" and its transaction destroyed; it counts as a 408.
        """
        out: list[ProxyAction] = []
        for branch in self._branches.values():
            if branch.final is not None or branch.deadline is None or branch.deadline > now:
                continue
            branch.deadline = None
            if branch.provisional and not branch.cancelled:
                self._cancel_branch(branch, now, out)
            else:
                out += self._synthetic(branch, 408, finish=False)
                out.append(AbandonBranch(branch.key))
        out += self._maybe_finish()
        return out

    # -- helpers -----------------------------------------------------------------------

    def _branch(self, key: TransactionKey) -> _Branch:
        branch = self._branches.get(key)
        if branch is None:
            raise LocalProtocolError(f"no branch {key.branch} ({key.method}) in this context")
        return branch

    def _synthetic(self, branch: _Branch, status: int, *, finish: bool = True) -> list[ProxyAction]:
        if branch.final is not None:
            return []
        branch.final = status
        branch.deadline = None
        response = make_response(self.request, status, to_tag=self.to_tag)
        self._candidates.append(_Candidate(response, True, len(self._candidates)))
        return self._maybe_finish() if finish else []

    def _cancel_branch(self, branch: _Branch, now: float, out: list[ProxyAction]) -> None:
        """§16.7 step 10's "pending client transaction": one that "has received a provisional
        response, but no final response ... and has not had an associated CANCEL generated
        for it". §9.1: "A CANCEL request SHOULD NOT be sent to cancel a request other than
        INVITE", and not before a provisional response."""
        if branch.final is not None or branch.cancelled or not branch.invite:
            return
        branch.cancel_wanted = True
        if not branch.provisional:
            return
        branch.cancelled = True
        branch.deadline = now + self.cancel_wait
        out.append(SendCancel(branch.key, build_cancel(branch.request)))

    def _cancel_pending(self, now: float, out: list[ProxyAction]) -> None:
        for branch in self._branches.values():
            self._cancel_branch(branch, now, out)

    def _maybe_finish(self) -> list[ProxyAction]:
        """§16.7 step 6: "A stateful proxy MUST send a final response to a response
        context's server transaction if no final responses have been immediately forwarded
        by the above rules and all client transactions in this response context have been
        terminated." Then steps 7-9."""
        if self._final is not None or not self._closed:
            return []
        if any(b.final is None for b in self._branches.values()):
            return []
        self._final = self._best()
        return [ForwardResponse(self._final)]

    def _best(self) -> Response:
        if not self._candidates:
            # No branch ever answered because there was none: an empty target set (§16.5)
            # or a CANCEL that came first (§9.2: "487 (Request Terminated)").
            return self._own(487 if self._cancelled else 480)
        chosen = min(self._candidates, key=_rank)
        status = chosen.response.status
        if status == 503:
            # Step 6: "If the only response that was received is a 503, the proxy SHOULD
            # generate a 500 response and forward that upstream."
            return self._own(500)
        if status in _CHALLENGES:
            # Step 7: "the proxy MUST collect any WWW-Authenticate and Proxy-Authenticate
            # header field values from all other 401 ... and 407 ... responses received so
            # far in this response context and add them to this response".
            return aggregate_challenges(chosen.response, [c.response for c in self._candidates])
        return chosen.response

    def _own(self, status: int) -> Response:
        return make_response(self.request, status, to_tag=self.to_tag)


def _without_top_via(response: Response) -> Response | None:
    """A copy of ``response`` without its topmost Via (§16.7 step 3), or None when no Via
    would remain."""
    out = Response(response.status, response.reason, response.headers.copy(), response.body)
    out.headers.pop_first_value("Via")
    return out if out.headers.get("Via") else None
