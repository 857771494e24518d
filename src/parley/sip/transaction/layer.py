"""The transaction layer (§17): every live transaction of one SIP element, sans I/O.

Driven the way aioquic's ``QuicConnection`` is. Inputs are method calls that take ``now``:
``receive`` (a parsed message from the transport), ``send_request``, ``send_response``,
``transport_error``, ``abandon``, ``handle_timeout``. Outputs are buffered inside, because
input alone produces output (a retransmission, the ACK for a 4xx, 100 Trying): drain
``outgoing()`` for the transport and ``next_event()`` for the TU after every call, then
arm one timer for ``next_deadline()``.

``now`` is seconds on any monotonic clock the caller chooses (``loop.time()`` in the
runtime, a float in tests); deadlines come back on the same scale. A ``Peer`` is a remote
transport address: where a request goes, or where a message came from.

Memory stays bounded: a transaction is dropped the moment it is Terminated (§17.1.1.2,
§17.2.2), and at most ``max_server_transactions`` server transactions live at once; past
that, a new request is answered 503 (Service Unavailable) with Retry-After (§21.5.4) without
a transaction, and the TU gets ``RequestRejected`` instead of ``RequestReceived``.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections import deque

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request, Response, make_response
from parley.sip.transaction.client import ClientTransaction
from parley.sip.transaction.events import (
    AckReceived,
    Event,
    RequestRejected,
    Role,
    StrayResponse,
    TransactionKey,
    Transmit,
)
from parley.sip.transaction.machine import Output, Transaction
from parley.sip.transaction.matching import (
    LegacyBucket,
    cancel_target_key,
    client_key,
    legacy_bucket,
    legacy_cancel_matches,
    legacy_matches,
    response_key,
    server_key,
    via_equal,
)
from parley.sip.transaction.server import ServerTransaction
from parley.sip.transaction.table import Kind, State
from parley.sip.transaction.timers import TimerConfig
from parley.sip.transport.address import Peer

__all__ = ["TransactionLayer"]


class TransactionLayer:
    """All client and server transactions of one element, with their timers.

    ``config`` holds T1, T2 and T4 for every transaction. ``max_server_transactions``
    bounds the server transactions alive at once; requests beyond it are refused with 503
    and a Retry-After of ``retry_after`` seconds.

    Messages given to ``receive`` must have passed ``validate_message`` (the stack's job):
    a missing or malformed Via, CSeq, From or To raises ``ParseError`` here. The transport
    has already checked a response's top Via sent-by (§18.1.2) and stamped ``received``
    on a request's (§18.2.1).
    """

    def __init__(
        self,
        config: TimerConfig | None = None,
        *,
        max_server_transactions: int = 10_000,
        retry_after: int = 5,
    ) -> None:
        if max_server_transactions < 0 or retry_after < 0:
            raise LocalProtocolError("limits must not be negative")
        self.config = TimerConfig() if config is None else config
        self.max_server_transactions = max_server_transactions
        self.retry_after = retry_after
        self._transactions: dict[TransactionKey, Transaction] = {}
        self._servers = 0
        # §17.2.3 RFC 2543 fallback: server transactions indexed by what compares exactly.
        self._legacy: dict[LegacyBucket, list[TransactionKey]] = {}
        self._serial = itertools.count(1)
        # For transport_error(peer): the transactions whose messages go to each peer.
        self._by_peer: dict[Peer, set[TransactionKey]] = {}
        # Deadlines: a heap of (deadline, tie-break, key), stale entries skipped lazily;
        # _scheduled holds each live transaction's current earliest deadline.
        self._heap: list[tuple[float, int, TransactionKey]] = []
        self._scheduled: dict[TransactionKey, float] = {}
        self._tie = itertools.count()
        self._events: deque[Event] = deque()
        self._outgoing: list[tuple[bytes, Peer]] = []

    # -- outputs -----------------------------------------------------------------------

    def next_event(self) -> Event | None:
        """The oldest event not yet taken, or None."""
        return self._events.popleft() if self._events else None

    def events(self) -> list[Event]:
        """Every event not yet taken, oldest first; the buffer is emptied."""
        taken = list(self._events)
        self._events.clear()
        return taken

    def outgoing(self) -> list[tuple[bytes, Peer]]:
        """Datagrams/stream writes to hand to the transport, in order; the buffer is
        emptied. If one fails, report it with ``transport_error(peer, now)``."""
        taken, self._outgoing = self._outgoing, []
        return taken

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must next be called (on ``now``'s scale), or None."""
        heap = self._heap
        while heap and self._scheduled.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -- introspection -------------------------------------------------------------------

    def state(self, key: TransactionKey) -> State | None:
        """The state of transaction ``key``, or None once it is gone (or never was)."""
        tx = self._transactions.get(key)
        return None if tx is None else tx.state

    def transaction(self, key: TransactionKey) -> Transaction | None:
        """The live transaction ``key`` (read its ``request``, ``peer``, ``deadlines``)."""
        return self._transactions.get(key)

    @property
    def server_count(self) -> int:
        return self._servers

    @property
    def client_count(self) -> int:
        return len(self._transactions) - self._servers

    def __len__(self) -> int:
        return len(self._transactions)

    # -- inputs from the transport -------------------------------------------------------

    def receive(
        self,
        message: Request | Response,
        peer: Peer,
        now: float,
        *,
        reply_to: Peer | None = None,
    ) -> None:
        """A message the transport received from ``peer``.

        A response goes to the client transaction it matches (§17.1.3) or becomes a
        ``StrayResponse`` (§18.1.2). A request goes to the server transaction it matches
        (§17.2.3): a retransmission is absorbed, an ACK completes the INVITE's handshake.
        An ACK matching none is an ``AckReceived`` with no key (§18.2.1); any other
        request creates a server transaction and a ``RequestReceived``. ``reply_to`` is
        where that transaction's responses go, as §18.2.2 decides (default ``peer``).
        """
        if isinstance(message, Response):
            self._receive_response(message, peer, now)
        else:
            self._receive_request(message, peer, now, peer if reply_to is None else reply_to)

    def _receive_response(self, response: Response, peer: Peer, now: float) -> None:
        key = response_key(response)
        tx = None if key is None else self._transactions.get(key)
        if not isinstance(tx, ClientTransaction):
            # §18.1.2: "the response MUST be passed to the core ... (a proxy will forward
            # them, while a UA will discard, for example)". After an INVITE client left
            # Accepted (Timer M), a late 2xx of a fork ends here too (§17.1.1.2).
            self._events.append(StrayResponse(response, peer))
            return
        self._absorb(tx, tx.receive_response(response, now))

    def _receive_request(self, request: Request, peer: Peer, now: float, reply_to: Peer) -> None:
        tx = self._match_server(request)
        if tx is not None:
            # §17.2.3: a match is a retransmission, or the ACK of this INVITE transaction.
            self._absorb(tx, tx.receive_request(request, peer, now))
            return
        if request.method == "ACK":
            # §18.2.1: "when the ACK arrives, there will be no matching server transaction,
            # and ... the ACK is passed to the UAS core": the ACK for a 2xx has a branch
            # of its own (§13.2.2.4). A stray ACK also ends here; it is never answered.
            self._events.append(AckReceived(request, peer, None))
            return
        if self._servers >= self.max_server_transactions:
            # §17.2: server transactions are "created by the core when a request is
            # received"; past the cap we refuse to create one rather than grow unbounded.
            self._reject(request, peer, reply_to)
            return
        self._create_server(request, peer, now, reply_to)

    def _match_server(self, request: Request) -> ServerTransaction | None:
        key = server_key(request)
        if key is not None:
            tx = self._transactions.get(key)
            # An ACK whose INVITE key names a live non-INVITE machine cannot happen, as
            # keys carry the method; the isinstance check is for the type checker.
            return tx if isinstance(tx, ServerTransaction) else None
        # §17.2.3: "If the branch parameter in the top Via header field is not present, or
        # does not contain the magic cookie, the following procedures are used."
        for candidate in self._legacy.get(legacy_bucket(request), ()):
            tx = self._transactions[candidate]
            assert isinstance(tx, ServerTransaction)
            if legacy_matches(tx.request, tx.response_to_tag, request):
                return tx
        return None

    def _cancel_target(self, cancel: Request) -> TransactionKey | None:
        key = cancel_target_key(cancel)
        if key is not None:
            return key if key in self._transactions else None
        for candidate in self._legacy.get(legacy_bucket(cancel), ()):
            if legacy_cancel_matches(self._transactions[candidate].request, cancel):
                return candidate
        return None

    def _create_server(self, request: Request, peer: Peer, now: float, reply_to: Peer) -> None:
        key = server_key(request)
        legacy = key is None
        if key is None:
            key = TransactionKey(Role.SERVER, request.method, None, None, next(self._serial))
        # §17.2: "the state machine depends on whether the received request is an INVITE".
        kind = Kind.INVITE_SERVER if request.method == "INVITE" else Kind.NON_INVITE_SERVER
        # §9.2: a CANCEL is a transaction of its own; the TU learns which INVITE it targets.
        cancels = self._cancel_target(request) if request.method == "CANCEL" else None
        tx = ServerTransaction(
            kind, key, request, peer, self.config, reply_to=reply_to, cancels=cancels
        )
        self._register(tx, reply_to)
        self._servers += 1
        if legacy:
            self._legacy.setdefault(legacy_bucket(request), []).append(key)
        self._absorb(tx, tx.start(now))

    def _reject(self, request: Request, peer: Peer, reply_to: Peer) -> None:
        # Past the cap the element cannot hold state for one more request: answer 503
        # statelessly, with Retry-After telling the client when to come back (§21.5.4).
        # The To tag is a hash of the request, so a retransmission gets the same one, as a
        # stateless UAS must (§8.2.7).
        seed = "|".join(
            (request.call_id, str(request.cseq), request.from_.tag or "", str(request.top_via))
        )
        tag = hashlib.sha256(seed.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        response = make_response(
            request, 503, to_tag=tag, extra=[("Retry-After", str(self.retry_after))]
        )
        self._outgoing.append((response.to_bytes(), reply_to))
        self._events.append(RequestRejected(request, peer, response))

    # -- inputs from the TU ----------------------------------------------------------------

    def send_request(self, request: Request, peer: Peer, now: float) -> TransactionKey:
        """Create a client transaction and send ``request`` to ``peer``; returns its key.

        The request must be final, top Via included, with a branch starting ``z9hG4bK``
        (§8.1.1.7) not in use by another live client transaction of the same method. A
        CANCEL reuses its INVITE's branch (§9.1) and still gets a transaction of its own.
        An ACK has no client transaction (§17.1): send it with ``send_stateless``.
        """
        # §17.1: the TU "passes it the SIP request to send and an IP address, port, and
        # transport to which to send it"; the peer is that address.
        key = client_key(request)
        if key in self._transactions:
            # §8.1.1.7: the branch is unique per transaction; reusing a live one would make
            # responses ambiguous (§17.1.3).
            raise LocalProtocolError(f"a {key.method} transaction already uses {key.branch}")
        kind = Kind.INVITE_CLIENT if request.method == "INVITE" else Kind.NON_INVITE_CLIENT
        # §17.1: INVITE gets the Figure 5 machine, every other method but ACK Figure 6.
        tx = ClientTransaction(kind, key, request, peer, self.config)
        self._register(tx, peer)
        self._absorb(tx, tx.start(now))
        return key

    def send_response(
        self, response: Response, now: float, *, key: TransactionKey | None = None
    ) -> TransactionKey:
        """Hand a response to the server transaction it answers and send it; returns the
        transaction's key.

        Without ``key`` the transaction is found from the response: its top Via branch,
        sent-by and CSeq method (the §17.2.3 key, which §8.2.6.2 copied in), or for RFC
        2543 requests the copied Call-ID, CSeq, From tag and Via; pass ``key`` when two
        such requests differ only by Request-URI. Raises ``LocalProtocolError`` when the
        transaction is gone (e.g. a 2xx retransmitted after Timer L; §16.7 step 9 then
        says to send it statelessly) or refuses the response (a second final response).
        """
        tx = self._transactions.get(key) if key is not None else self._find_server(response)
        if not isinstance(tx, ServerTransaction):
            raise LocalProtocolError("no server transaction for this response")
        self._absorb(tx, tx.send_response(response, now))
        return tx.key

    def _find_server(self, response: Response) -> Transaction | None:
        # §17.2.3 notes that "the server cannot match a response to a transaction" by the
        # RFC 2543 rules (no Request-URI in a response), hence the optional key; but the
        # headers §8.2.6.2 copies into it are enough in nearly every case.
        via = response.top_via
        cseq = response.cseq
        if via.branch is not None and via.rfc3261_branch:
            sent_by = (via.host.lower(), via.port)
            return self._transactions.get(
                TransactionKey(Role.SERVER, cseq.method, via.branch, sent_by)
            )
        bucket = (response.call_id, cseq.seq, response.from_.tag)
        found = [
            self._transactions[k]
            for k in self._legacy.get(bucket, ())
            if k.method == cseq.method and via_equal(self._transactions[k].request.top_via, via)
        ]
        if len(found) > 1:
            raise LocalProtocolError("several RFC 2543 transactions fit; pass key=")
        return found[0] if found else None

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        """Queue a message outside any transaction: the ACK for a 2xx (§13.2.2.4, §17.1),
        or what a proxy forwards statelessly (§16.11, a stray 2xx per §16.7 step 9)."""
        self._outgoing.append((message.to_bytes(), peer))

    def abandon(self, key: TransactionKey, now: float) -> None:
        """Destroy transaction ``key`` now; e.g. §9.1: an INVITE still unanswered 64*T1
        after its CANCEL was answered. The TU gets ``TransactionTerminated``."""
        tx = self._transactions.get(key)
        if tx is None:
            raise LocalProtocolError("no such transaction")
        self._absorb(tx, tx.abandon(now))

    # -- inputs from the transport and the clock -----------------------------------------

    def transport_error(self, peer: Peer, now: float) -> None:
        """The transport failed to send to ``peer`` (ICMP unreachable, connection refused
        or lost: §18.4). Every transaction sending to that peer is told (§17.1.4, §17.2.4)."""
        # §18.4: ICMP errors and connection failures are per destination, so every
        # transaction using it is told; sorted so that event order is reproducible.
        for key in sorted(self._by_peer.get(peer, ()), key=repr):
            tx = self._transactions.get(key)
            if tx is not None:
                self._absorb(tx, tx.transport_error(now))

    def handle_timeout(self, now: float) -> None:
        """Fire every timer due at ``now`` or before (retransmissions, timeouts, ends)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, key = heapq.heappop(heap)
            if self._scheduled.get(key) != deadline:
                continue  # stale: the transaction moved on or is gone
            del self._scheduled[key]
            tx = self._transactions[key]
            self._absorb(tx, tx.handle_timeout(now))

    # -- bookkeeping ---------------------------------------------------------------------

    def _register(self, tx: Transaction, peer: Peer) -> None:
        self._transactions[tx.key] = tx
        self._by_peer.setdefault(peer, set()).add(tx.key)

    def _absorb(self, tx: Transaction, outputs: list[Output]) -> None:
        """Route a transaction's outputs, reschedule it, drop it if it terminated."""
        for output in outputs:
            if isinstance(output, Transmit):
                self._outgoing.append((output.data, output.peer))
            else:
                self._events.append(output)
        if tx.state is State.TERMINATED:
            # §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2: a Terminated transaction "MUST be
            # destroyed immediately"; later messages are new requests or strays.
            self._remove(tx)
            return
        deadline = tx.next_deadline()
        if deadline is None:
            self._scheduled.pop(tx.key, None)
        elif self._scheduled.get(tx.key) != deadline:
            self._scheduled[tx.key] = deadline
            heapq.heappush(self._heap, (deadline, next(self._tie), tx.key))
            if len(self._heap) > 2 * len(self._scheduled) + 64:
                self._compact()

    def _remove(self, tx: Transaction) -> None:
        key = tx.key
        if self._transactions.get(key) is not tx:
            return
        del self._transactions[key]
        self._scheduled.pop(key, None)
        peer = tx.reply_to if isinstance(tx, ServerTransaction) else tx.peer
        keys = self._by_peer.get(peer)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_peer[peer]
        if key.role is Role.SERVER:
            self._servers -= 1
            if key.branch is None:
                bucket = legacy_bucket(tx.request)
                keys_in_bucket = self._legacy.get(bucket, [])
                if key in keys_in_bucket:
                    keys_in_bucket.remove(key)
                if not keys_in_bucket:
                    self._legacy.pop(bucket, None)

    def _compact(self) -> None:
        self._heap = [(d, next(self._tie), k) for k, d in self._scheduled.items()]
        heapq.heapify(self._heap)
