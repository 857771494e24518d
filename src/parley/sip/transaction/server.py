"""Server transactions: INVITE (§17.2.1, Figure 7 with RFC 6026) and non-INVITE (§17.2.2).

``ServerTransaction`` carries out the actions that ``table.py`` chooses: it passes the
request up once, sends the TU's responses, absorbs retransmitted requests by resending the
last response, retransmits a non-2xx final response to INVITE on Timer G, and sends 100
(Trying) by itself when the TU has not answered an INVITE within 200 ms (§17.2.1).
"""

from __future__ import annotations

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Request, Response, make_response
from parley.sip.transaction.events import (
    AckReceived,
    RequestReceived,
    TransactionKey,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
)
from parley.sip.transaction.machine import Message, Output, Transaction
from parley.sip.transaction.table import Action, Input, Kind, tu_response_input
from parley.sip.transaction.timers import Timer, TimerConfig
from parley.sip.transport.address import Peer

__all__ = ["ServerTransaction"]

_TU_INPUTS = {Input.TU_1XX, Input.TU_2XX, Input.TU_3XX_6XX}


class ServerTransaction(Transaction):
    """An INVITE or non-INVITE server transaction (``Kind.INVITE_SERVER`` /
    ``Kind.NON_INVITE_SERVER``) for ``request`` received from ``peer``.

    Responses go to ``reply_to`` (default ``peer``): the address the transport chose by
    §18.2.2 and RFC 3581. ``cancels`` is only for a CANCEL: the key of the INVITE server
    transaction it matched (§9.2), reported to the TU in ``RequestReceived``.
    ``last_response`` is the most recent response sent, the one a retransmitted request
    gets again (§17.2.1, §17.2.2).
    """

    KINDS = (Kind.INVITE_SERVER, Kind.NON_INVITE_SERVER)

    def __init__(
        self,
        kind: Kind,
        key: TransactionKey,
        request: Request,
        peer: Peer,
        config: TimerConfig,
        *,
        reply_to: Peer | None = None,
        cancels: TransactionKey | None = None,
    ) -> None:
        super().__init__(kind, key, request, peer, config)
        if request.method == "ACK":
            # §17.2.3: an ACK belongs to its INVITE's transaction or to the TU, never to a
            # transaction of its own.
            raise LocalProtocolError("ACK creates no server transaction (§17.2.3)")
        if (request.method == "INVITE") != (kind is Kind.INVITE_SERVER):
            raise LocalProtocolError(f"{request.method} does not run a {kind.name} machine")
        self.reply_to = peer if reply_to is None else reply_to
        # Responses travel over the transport they are sent on; §17.2.1 ties Timer G to it.
        self.reliable = self.reply_to.reliable
        self.cancels = cancels
        self.last_response: Response | None = None
        self._last_bytes = b""
        # Kept apart: the request itself is let go once Completed (see _send).
        self._seq = request.cseq.seq

    # -- named inputs --------------------------------------------------------------------

    def receive_request(self, request: Request, source: Peer, now: float) -> list[Output]:
        """A request that matched this transaction by §17.2.3: a retransmission of the
        original, or (INVITE only) an ACK."""
        event = Input.RECV_ACK if request.method == "ACK" else Input.RECV_REQUEST
        return self.handle(event, now, request, source)

    def send_response(self, response: Response, now: float) -> list[Output]:
        """A response from the TU for this transaction's request."""
        return self.handle(tu_response_input(response.status), now, response)

    @property
    def response_to_tag(self) -> str | None:
        """The To tag of the last response sent: RFC 2543 ACK matching compares it (§17.2.3)."""
        return None if self.last_response is None else self.last_response.to.tag

    # -- the actions ---------------------------------------------------------------------

    def _check(self, event: Input, message: Message | None) -> None:
        original = self.request
        if event in _TU_INPUTS:
            if not isinstance(message, Response):
                raise LocalProtocolError(f"{event.value} needs the response")
            if tu_response_input(message.status) is not event:
                raise LocalProtocolError(f"a {message.status} is not a {event.value}")
            cseq = message.cseq
            # §8.2.6.2: the response's CSeq is the request's; anything else belongs to a
            # different transaction and would mislead the client's matching (§17.1.3).
            if cseq.seq != self._seq or cseq.method != original.method:
                raise LocalProtocolError(
                    f"response CSeq {cseq} is not {self._seq} {original.method}"
                )
        elif event is Input.RECV_REQUEST:
            if not isinstance(message, Request) or message.method != original.method:
                raise LocalProtocolError(f"a retransmission of {original.method} is needed")
        elif event is Input.RECV_ACK:
            if not isinstance(message, Request) or message.method != "ACK":
                raise LocalProtocolError("an ACK is needed")
        elif message is not None:
            raise LocalProtocolError(f"{event.value} carries no message")

    def _send(self, response: Response, out: list[Output]) -> None:
        self._last_bytes = response.to_bytes()
        out.append(Transmit(self._last_bytes, self.reply_to))
        if (
            response.status >= 200
            and self.kind is Kind.NON_INVITE_SERVER
            and self.key.branch is not None
        ):
            # Completed: for Timer J's 32 s on UDP (§17.2.2) all this machine does is send
            # these bytes again to a retransmitted request, which it matches by key. The
            # parsed request and response are not needed (only RFC 2543 matching and
            # INVITE's ACK handling read them), and keeping them that long at thousands of
            # requests a second costs memory and, more, the garbage collector's time.
            self.last_response = None
            self.request = Request(self.request.method, self.request.request_uri)
        else:
            self.last_response = response

    def _run(
        self,
        action: Action,
        event: Input | Timer | None,
        now: float,
        message: Message | None,
        source: Peer | None,
        out: list[Output],
    ) -> None:
        if action is Action.PASS_REQUEST:
            # §17.2.1, §17.2.2: "The request MUST be passed to the TU."
            out.append(RequestReceived(self.request, self.peer, self.key, self.cancels))
        elif action is Action.SEND_TRYING:
            # §17.2.1: the 100 is built by §8.2.6, except that a To tag is "downgraded from
            # MAY to SHOULD NOT"; §8.2.6.1: a Timestamp in the request is copied into it.
            timestamp = self.request.headers.get("Timestamp")
            extra = None if timestamp is None else [("Timestamp", timestamp)]
            self._send(make_response(self.request, 100, extra=extra), out)
        elif action is Action.SEND_RESPONSE:
            assert isinstance(message, Response)
            # §17.2.1: once the TU has answered, the 100 it would have needed is moot.
            self._stop(Timer.TRYING)
            self._send(message, out)
        elif action is Action.RESEND_RESPONSE:
            # §17.2.1, §17.2.2: a retransmitted request gets the last response again; before
            # any response (INVITE inside its 200 ms) there is nothing to resend.
            if self._last_bytes:
                out.append(Transmit(self._last_bytes, self.reply_to))
        elif action is Action.RETRANSMIT_RESPONSE:
            # §17.2.1: Timer G resends the response, then doubles up to T2.
            assert isinstance(event, Timer)
            out.append(Transmit(self._last_bytes, self.reply_to))
            self._back_off(event, now)
        elif action is Action.REPORT_FAILURE:
            # §17.2.1: Timer H fired, the ACK never came: "indicate to the TU that a
            # transaction failure has occurred".
            out.append(TransactionTimedOut(self.key, Timer.TIMER_H, None))
        elif action is Action.PASS_ACK:
            # RFC 6026 §8.7: an ACK matched in Accepted "must be passed up to the TU".
            assert isinstance(message, Request)
            out.append(AckReceived(message, self.peer if source is None else source, self.key))
        elif action is Action.NOTE_TRANSPORT_ERROR:
            # §17.2.4 as amended by RFC 6026 §8.8: inform the TU, keep the state.
            out.append(TransportFailed(self.key, self.reply_to, None))
        else:  # pragma: no cover - the tables give servers no other action
            raise LocalProtocolError(f"{action.name} is not a server action")
