"""Client transactions: INVITE (§17.1.1, Figure 5 with RFC 6026) and non-INVITE (§17.1.2).

``ClientTransaction`` carries out the actions that ``table.py`` chooses. It owns the
request's bytes (retransmitted as they are, §17.1.1.2), builds the ACK for a non-2xx final
response (§17.1.1.3), and turns Timer B/F and transport failures into the synthetic 408/503
the TU acts on (§8.1.3.1). Sans-I/O: every method takes ``now`` and returns outputs.
"""

from __future__ import annotations

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import Headers, Request, Response, make_response
from parley.sip.transaction.events import (
    ResponseReceived,
    TransactionKey,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
)
from parley.sip.transaction.machine import Message, Output, Transaction
from parley.sip.transaction.table import Action, Input, Kind, response_input
from parley.sip.transaction.timers import Timer, TimerConfig
from parley.sip.transport.address import Peer

__all__ = ["ClientTransaction", "build_ack"]

# Inputs that carry a response from the network.
_RESPONSE_INPUTS = {Input.RECV_1XX, Input.RECV_2XX, Input.RECV_3XX_6XX}


def build_ack(request: Request, response: Response) -> Request:
    """The ACK a client transaction sends for a 300-699 ``response`` to INVITE ``request``.

    §17.1.1.3: Request-URI, Call-ID and From equal the original request's; To equals the
    response's (so it carries the UAS's tag); a single Via, the original's top one, so the
    ACK matches the server transaction (§17.2.3); the original's CSeq number with method
    ACK; and the original's Route header fields, so that downstream stateless proxies route
    it as they routed the INVITE. No body ("NOT RECOMMENDED" for non-2xx ACKs). A UAC core
    acknowledging a 2xx follows §13.2.2.4 instead and sends its ACK with ``send_stateless``.
    """
    h = request.headers
    fields: list[tuple[str, str]] = [("Via", h.values("Via")[0])]
    # §17.1.1.3: "If the INVITE request ... had Route header fields, those header fields
    # MUST appear in the ACK."
    fields.extend(("Route", value) for value in h.get_all("Route"))
    # §8.1.1.6: every request carries Max-Forwards; the §17.1.1.3 example keeps the
    # INVITE's value.
    fields.append(("Max-Forwards", h.get("Max-Forwards") or "70"))
    to, from_ = response.headers.get("To"), h.get("From")
    if to is None or from_ is None:
        raise LocalProtocolError("a To and a From are needed to build the ACK")
    fields.append(("To", to))
    fields.append(("From", from_))
    fields.append(("Call-ID", request.call_id))
    fields.append(("CSeq", f"{request.cseq.seq} ACK"))
    return Request("ACK", request.request_uri, Headers(fields))


class ClientTransaction(Transaction):
    """An INVITE or non-INVITE client transaction (``Kind.INVITE_CLIENT`` /
    ``Kind.NON_INVITE_CLIENT``) for ``request`` sent to ``peer``.

    The request must be complete, top Via with its branch included: it is serialised once
    and retransmitted byte for byte. ``ack`` is the ACK this transaction built, once it
    received a 300-699 response to an INVITE.
    """

    KINDS = (Kind.INVITE_CLIENT, Kind.NON_INVITE_CLIENT)

    def __init__(
        self,
        kind: Kind,
        key: TransactionKey,
        request: Request,
        peer: Peer,
        config: TimerConfig,
    ) -> None:
        super().__init__(kind, key, request, peer, config)
        if request.method == "ACK":
            # §17.1: "There is no client transaction for ACK."
            raise LocalProtocolError("ACK has no client transaction (§17.1)")
        if (request.method == "INVITE") != (kind is Kind.INVITE_CLIENT):
            raise LocalProtocolError(f"{request.method} does not run a {kind.name} machine")
        self._request_bytes = request.to_bytes()
        self.ack: Request | None = None
        self._ack_bytes = b""

    # -- named inputs --------------------------------------------------------------------

    def receive_response(self, response: Response, now: float) -> list[Output]:
        """A response that matched this transaction by §17.1.3."""
        return self.handle(response_input(response.status), now, response)

    # -- the actions ---------------------------------------------------------------------

    def _check(self, event: Input, message: Message | None) -> None:
        if event in _RESPONSE_INPUTS:
            if not isinstance(message, Response):
                raise LocalProtocolError(f"{event.value} needs the response")
            if response_input(message.status) is not event:
                raise LocalProtocolError(f"a {message.status} is not a {event.value}")
        elif message is not None:
            raise LocalProtocolError(f"{event.value} carries no message")

    def _run(
        self,
        action: Action,
        event: Input | Timer | None,
        now: float,
        message: Message | None,
        source: Peer | None,
        out: list[Output],
    ) -> None:
        if action is Action.SEND_REQUEST:
            # §17.1.1.2, §17.1.2.2: "MUST pass the request to the transport layer".
            out.append(Transmit(self._request_bytes, self.peer))
        elif action is Action.RETRANSMIT_REQUEST:
            # §17.1.1.2: A doubles (2*T1, 4*T1...); §17.1.2.2: E doubles up to T2.
            assert isinstance(event, Timer)
            out.append(Transmit(self._request_bytes, self.peer))
            self._back_off(event, now)
        elif action is Action.RETRANSMIT_REQUEST_AT_T2:
            # §17.1.2.2: in Proceeding, Timer E "MUST be reset with a value of T2 seconds".
            assert isinstance(event, Timer)
            out.append(Transmit(self._request_bytes, self.peer))
            self._restart(event, self.config.t2, now)
        elif action is Action.PASS_RESPONSE:
            assert isinstance(message, Response)
            out.append(ResponseReceived(message, self.key))
            if message.status >= 200 and self.kind is Kind.NON_INVITE_CLIENT:
                # Completed: Timer K only absorbs retransmitted responses (§17.1.2.2); the
                # request, parsed and serialised, is no longer needed (see ServerTransaction).
                self.request = Request(self.request.method, self.request.request_uri)
                self._request_bytes = b""
        elif action is Action.PASS_RESPONSE_SEND_ACK:
            # §17.1.1.2: pass the response up, then generate the ACK "even if the transport
            # is reliable" and send it "to the same address, port, and transport to which
            # the original request was sent".
            assert isinstance(message, Response)
            out.append(ResponseReceived(message, self.key))
            self.ack = build_ack(self.request, message)
            self._ack_bytes = self.ack.to_bytes()
            out.append(Transmit(self._ack_bytes, self.peer))
        elif action is Action.RESEND_ACK:
            # §17.1.1.2: a retransmitted final response "MUST cause the ACK to be re-passed
            # to the transport layer", and is not passed up.
            out.append(Transmit(self._ack_bytes, self.peer))
        elif action is Action.REPORT_TIMEOUT:
            # §8.1.3.1: a timeout is treated "as if a 408 (Request Timeout) ... had been
            # received"; the 408 is synthesised from the request as a UAS would (§8.2.6).
            assert isinstance(event, Timer)
            out.append(TransactionTimedOut(self.key, event, make_response(self.request, 408)))
        elif action is Action.REPORT_TRANSPORT_ERROR:
            # §8.1.3.1: a fatal transport error is treated as a 503 (Service Unavailable).
            out.append(TransportFailed(self.key, self.peer, make_response(self.request, 503)))
        elif action is Action.NOTE_TRANSPORT_ERROR:
            # Figure 5, Completed: "Transport Err. / Inform TU"; the final response is
            # already with the TU, so no synthetic one.
            out.append(TransportFailed(self.key, self.peer, None))
        else:  # pragma: no cover - the tables give clients no other action
            raise LocalProtocolError(f"{action.name} is not a client action")
