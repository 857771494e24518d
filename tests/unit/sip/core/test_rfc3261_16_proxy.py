"""RFC 3261 §16 end to end: the proxy core driving a real transaction layer (§16.2, Figure 3).

``MiniProxy`` wires the sans-I/O pieces the way the asyncio service does: validate, compute the
loop value, preprocess routes, fork to fixed targets, and carry out the response context's
actions on the transaction layer. The network is the test itself: it reads what the layer
would transmit and feeds back what the far ends would answer. No sockets, no event loop.
"""

from __future__ import annotations

from test_rfc3261_16_support import LOCAL, PROXY_UDP, RECORD_ROUTE, fresh_branch

from parley.sip.core.proxy import (
    AbandonBranch,
    ForwardResponse,
    ProxyAction,
    ResponseContext,
    SendCancel,
    forward_request,
    loop_hash,
    preprocess_routes,
    validate_request,
)
from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Headers, Request, Response, make_response, parse_message
from parley.sip.transaction import (
    RequestReceived,
    ResponseReceived,
    TransactionKey,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
)
from parley.sip.transport.address import Peer
from parley.sip.transport.via import response_destination, stamp_received

ALICE = Peer("udp", "198.51.100.7", 40000)
BOB_DESK = Peer("udp", "203.0.113.20", 5060)
BOB_MOBILE = Peer("udp", "203.0.113.21", 5060)
TARGETS = [("sip:bob@203.0.113.20", BOB_DESK), ("sip:bob@203.0.113.21", BOB_MOBILE)]


class MiniProxy:
    """A stateful forking proxy for one AOR, in the shape the service will have."""

    def __init__(self, targets: list[tuple[str, Peer]]) -> None:
        self.layer = TransactionLayer()
        self.targets = targets
        self.contexts: dict[TransactionKey, ResponseContext] = {}  # by server key
        self.server_of: dict[TransactionKey, TransactionKey] = {}  # client key -> server key
        self.peer_of: dict[TransactionKey, Peer] = {}  # client key -> where it went
        self.tags = iter(f"ptag{i}" for i in range(1000))

    def receive(self, message: Request | Response, peer: Peer, now: float) -> None:
        reply_to = None
        if isinstance(message, Request):
            stamp_received(message, peer)  # what the stack does (§18.2.1)
            reply_to = response_destination(message, peer)
        self.layer.receive(message, peer, now, reply_to=reply_to)
        self._pump(now)

    def tick(self, now: float) -> None:
        self.layer.handle_timeout(now)
        for ctx in self.contexts.values():
            deadline = ctx.next_deadline()
            if deadline is not None and deadline <= now:
                self._run(ctx, ctx.handle_timeout(now), now)
        self._pump(now)

    def sent(self) -> list[tuple[Request | Response, Peer]]:
        return [(parse_message(data), peer) for data, peer in self.layer.outgoing()]

    # -- the service's dispatch -------------------------------------------------------------

    def _pump(self, now: float) -> None:
        while (event := self.layer.next_event()) is not None:
            if isinstance(event, RequestReceived):
                self._on_request(event, now)
            elif isinstance(event, ResponseReceived):
                ctx = self._context_of(event.key)
                if ctx is not None:
                    self._run(ctx, ctx.on_response(event.key, event.response, now), now)
            elif isinstance(event, TransactionTimedOut):
                ctx = self._context_of(event.key)
                if ctx is not None:
                    self._run(ctx, ctx.on_timeout(event.key, now), now)
            elif isinstance(event, TransactionTerminated):
                ctx = self._context_of(event.key)
                if ctx is not None:
                    self._run(ctx, ctx.on_terminated(event.key, now), now)

    def _context_of(self, client: TransactionKey) -> ResponseContext | None:
        server = self.server_of.get(client)
        return None if server is None else self.contexts.get(server)

    def _on_request(self, event: RequestReceived, now: float) -> None:
        request = event.request
        tag = next(self.tags)
        if request.method == "CANCEL":
            # §16.10: answer 200 when a response context matches, then cancel its branches.
            ctx = self.contexts.get(event.cancels) if event.cancels else None
            status = 200 if ctx is not None else 481
            self.layer.send_response(make_response(request, status, to_tag=tag), now, key=event.key)
            if ctx is not None:
                self._run(ctx, ctx.cancel(now), now)
            return
        refusal = validate_request(request, to_tag=tag, is_us=LOCAL.is_us)
        if refusal is not None:
            self.layer.send_response(refusal, now, key=event.key)
            return
        loop = loop_hash(request)
        pre = preprocess_routes(request, LOCAL.is_us)
        ctx = ResponseContext(request, to_tag=tag)
        self.contexts[event.key] = ctx
        for uri, peer in self.targets:
            fwd = forward_request(
                pre.request,
                uri,
                sent_by=PROXY_UDP,
                branch=fresh_branch(),
                loop=loop,
                record_route=RECORD_ROUTE,
            )
            key = self.layer.send_request(fwd.request, peer, now)
            self.server_of[key] = event.key
            self.peer_of[key] = peer
            ctx.add_branch(key, fwd.request, now)
        self._run(ctx, ctx.complete_target_set(now), now)

    def _run(self, ctx: ResponseContext, actions: list[ProxyAction], now: float) -> None:
        server = next(k for k, c in self.contexts.items() if c is ctx)
        for action in actions:
            if isinstance(action, ForwardResponse):
                try:
                    self.layer.send_response(action.response, now, key=server)
                except LocalProtocolError:
                    # §16.7 step 9: the server transaction is gone; forward statelessly.
                    where = response_destination(action.response, None)
                    self.layer.send_stateless(action.response, where)
            elif isinstance(action, SendCancel):
                self.layer.send_request(action.request, self.peer_of[action.key], now)
            elif isinstance(action, AbandonBranch):
                self.layer.abandon(action.key, now)


def alice_invite() -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds;rport"),
            ("Max-Forwards", "70"),
            ("To", "Bob <sip:bob@biloxi.example.com>"),
            ("From", "Alice <sip:alice@atlanta.example.com>;tag=1928301774"),
            ("Call-ID", "a84b4c76e66710@pc33.atlanta.example.com"),
            ("CSeq", "314159 INVITE"),
            ("Contact", "<sip:alice@198.51.100.7:5060>"),
            ("Content-Type", "application/sdp"),
        ]
    )
    return Request("INVITE", "sip:bob@biloxi.example.com", headers, b"v=0\r\n")


def start_call(proxy: MiniProxy) -> dict[Peer, Request]:
    proxy.receive(alice_invite(), ALICE, 0.0)
    out = proxy.sent()
    invites = {peer: msg for msg, peer in out if isinstance(msg, Request)}
    assert set(invites) == {BOB_DESK, BOB_MOBILE}
    return invites


def reply(proxy: MiniProxy, request: Request, status: int, peer: Peer, now: float, tag: str):
    proxy.receive(make_response(request, status, to_tag=tag), peer, now)


def test_forked_invite_carries_our_via_record_route_and_decremented_max_forwards():
    proxy = MiniProxy(TARGETS)
    invites = start_call(proxy)
    desk = invites[BOB_DESK]
    assert desk.request_uri == "sip:bob@203.0.113.20"
    assert desk.headers.get("Max-Forwards") == "69"
    assert desk.headers.get("Record-Route") == "<sip:proxy.example.com;lr>"
    vias = desk.vias
    assert (vias[0].host, vias[0].port) == ("192.0.2.10", 5060)
    assert vias[1].received is None and vias[1].rport == 40000  # stamped on receipt
    assert desk.body == b"v=0\r\n"
    assert invites[BOB_MOBILE].top_via.branch != desk.top_via.branch


def test_fork_180_from_one_200_from_the_other_reaches_alice_and_cancels_the_loser():
    proxy = MiniProxy(TARGETS)
    invites = start_call(proxy)
    reply(proxy, invites[BOB_DESK], 180, BOB_DESK, 1.0, "desk")
    [(ringing, to)] = proxy.sent()
    assert isinstance(ringing, Response) and ringing.status == 180
    assert to == ALICE  # §18.2.2 / RFC 3581: received + rport of Alice's Via
    assert ringing.headers.count("Via") == 1
    reply(proxy, invites[BOB_MOBILE], 200, BOB_MOBILE, 2.0, "mobile")
    out = proxy.sent()
    ok = [m for m, p in out if isinstance(m, Response)]
    cancel = [(m, p) for m, p in out if isinstance(m, Request)]
    assert [r.status for r in ok] == [200] and ok[0].to.tag == "mobile"
    assert len(cancel) == 1
    request, peer = cancel[0]
    assert request.method == "CANCEL" and peer == BOB_DESK
    assert request.top_via.branch == invites[BOB_DESK].top_via.branch
    # The desk phone answers the CANCEL and its INVITE: the 487 is ACKed hop by hop and
    # nothing more reaches Alice.
    proxy.receive(make_response(request, 200, to_tag="desk"), BOB_DESK, 2.1)
    reply(proxy, invites[BOB_DESK], 487, BOB_DESK, 2.2, "desk")
    after = proxy.sent()
    assert [(m.method, p) for m, p in after if isinstance(m, Request)] == [("ACK", BOB_DESK)]
    assert not [m for m, p in after if isinstance(m, Response)]


def test_alice_cancels_a_ringing_fork_and_gets_a_487():
    proxy = MiniProxy(TARGETS)
    invites = start_call(proxy)
    reply(proxy, invites[BOB_DESK], 180, BOB_DESK, 1.0, "desk")
    reply(proxy, invites[BOB_MOBILE], 180, BOB_MOBILE, 1.0, "mobile")
    proxy.sent()
    invite = alice_invite()
    cancel = Request(
        "CANCEL",
        invite.request_uri,
        Headers(
            [
                ("Via", invite.headers.get("Via") or ""),
                ("Max-Forwards", "70"),
                ("To", invite.headers.get("To") or ""),
                ("From", invite.headers.get("From") or ""),
                ("Call-ID", invite.call_id),
                ("CSeq", "314159 CANCEL"),
            ]
        ),
    )
    proxy.receive(cancel, ALICE, 3.0)
    out = proxy.sent()
    answered = [m for m, p in out if isinstance(m, Response)]
    assert [(r.status, r.cseq.method) for r in answered] == [(200, "CANCEL")]
    cancels = {p for m, p in out if isinstance(m, Request) and m.method == "CANCEL"}
    assert cancels == {BOB_DESK, BOB_MOBILE}
    reply(proxy, invites[BOB_DESK], 487, BOB_DESK, 3.1, "desk")
    assert not [m for m, p in proxy.sent() if isinstance(m, Response)]
    reply(proxy, invites[BOB_MOBILE], 487, BOB_MOBILE, 3.2, "mobile")
    final = [m for m, p in proxy.sent() if isinstance(m, Response)]
    assert [(r.status, r.cseq.method) for r in final] == [(487, "INVITE")]


def test_busy_and_not_found_give_alice_one_final_response():
    proxy = MiniProxy(TARGETS)
    invites = start_call(proxy)
    reply(proxy, invites[BOB_DESK], 486, BOB_DESK, 1.0, "desk")
    assert not [m for m, p in proxy.sent() if isinstance(m, Response)]
    reply(proxy, invites[BOB_MOBILE], 404, BOB_MOBILE, 1.5, "mobile")
    final = [m for m, p in proxy.sent() if isinstance(m, Response)]
    assert [r.status for r in final] == [486]


def test_silent_targets_time_out_into_our_408():
    proxy = MiniProxy(TARGETS)
    start_call(proxy)
    for now in (0.5, 1.5, 3.5, 7.5, 15.5, 31.5, 32.0):
        proxy.tick(now)
    final = [m for m, p in proxy.sent() if isinstance(m, Response)]
    assert [(r.status, r.to.tag) for r in final] == [(100, None), (408, "ptag0")]


def test_zero_max_forwards_is_answered_483_and_not_forwarded():
    proxy = MiniProxy(TARGETS)
    invite = alice_invite()
    invite.headers.set("Max-Forwards", "0")
    proxy.receive(invite, ALICE, 0.0)
    out = proxy.sent()
    assert [(m.status, p) for m, p in out if isinstance(m, Response)] == [(483, ALICE)]
    assert not [m for m, p in out if isinstance(m, Request)]
