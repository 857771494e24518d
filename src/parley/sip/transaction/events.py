"""What the transaction layer tells its user (the TU: UA core, proxy core, dialog layer).

Events are past-tense facts, frozen dataclasses, drained with ``TransactionLayer.next_event``.
A ``TransactionKey`` names a transaction for as long as it lives; the TU passes it back to
answer a request (``send_response``) or to give up on a transaction (``abandon``).
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.sip.fast_enum import FastEnum
from parley.sip.syntax import Request, Response
from parley.sip.transaction.timers import Timer
from parley.sip.transport.address import Peer

__all__ = [
    "AckReceived",
    "Event",
    "RequestReceived",
    "RequestRejected",
    "ResponseReceived",
    "Role",
    "StrayResponse",
    "TransactionKey",
    "TransactionTerminated",
    "TransactionTimedOut",
    "Transmit",
    "TransportFailed",
]


class Role(FastEnum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """The identity of one transaction in a ``TransactionLayer``.

    Client transactions are keyed as §17.1.3 matches responses: top Via ``branch`` and the
    request ``method`` (a CANCEL shares its INVITE's branch but is its own transaction).
    Server transactions of RFC 3261 peers are keyed as §17.2.3 matches requests: ``branch``,
    the top Via ``sent_by`` (host lowercased, port as written) and ``method``, where an ACK
    looks up ``INVITE``. Requests of RFC 2543 peers (no ``z9hG4bK`` branch) get a key with
    ``branch=None`` and a ``serial`` number, since their matching compares whole headers.
    """

    role: Role
    method: str
    branch: str | None
    sent_by: tuple[str, int | None] | None = None
    serial: int = 0


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request created server transaction ``key`` (§17.2.1, §17.2.2): answer it with
    ``send_response``. ``peer`` is where it came from. For a CANCEL, ``cancels`` is the key
    of the INVITE server transaction it matches by §9.2 (None when there is none: answer
    481), while the CANCEL itself is answered on its own transaction ``key``."""

    request: Request
    peer: Peer
    key: TransactionKey
    cancels: TransactionKey | None = None


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK for the TU: one that matched an INVITE server transaction in the Accepted state
    (RFC 6026 §8.7; ``key`` is that transaction), or one that matched none (§18.2.1: the
    ACK for a 2xx, which has a branch of its own, or a stray ACK; ``key`` is None)."""

    request: Request
    peer: Peer
    key: TransactionKey | None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response that client transaction ``key`` passes up (§17.1.1.2, §17.1.2.2).
    Retransmissions absorbed by the transaction are not reported."""

    response: Response
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response matching no client transaction (§18.1.2): "a proxy will forward them,
    while a UA will discard". ``peer`` is where it came from."""

    response: Response
    peer: Peer


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """A transaction's timeout timer fired before its exchange was complete.

    Timer B or F (client, §17.1.1.2, §17.1.2.2): ``response`` is the 408 (Request Timeout)
    that §8.1.3.1 tells the TU to act on as if received. Timer H (INVITE server, §17.2.1):
    the ACK never came, ``response`` is None.
    """

    key: TransactionKey
    timer: Timer
    response: Response | None


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport could not send a message of transaction ``key`` to ``peer`` (§18.4).

    Before a client transaction has a final response, ``response`` is the 503 (Service
    Unavailable) that §8.1.3.1 tells the TU to act on, and the transaction is over
    (§17.1.4). Otherwise ``response`` is None: a client that already passed up its final
    response, or a server transaction, which keeps its state (RFC 6026 §7.1, §8.8).
    """

    key: TransactionKey
    peer: Peer
    response: Response | None


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """Transaction ``key`` reached Terminated and was destroyed (§17.1.1.2: "MUST be
    destroyed the instant it enters the Terminated state"); later messages for it are new
    requests or stray responses. A proxy keeps its response context until all of its
    transactions have sent this (§16.7 step 9)."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """A request was answered without a transaction because the layer holds its maximum of
    server transactions: ``response`` (503 with Retry-After, §21.5.4) was already queued.
    The TU never sees the request otherwise; this is for its logs and metrics."""

    request: Request
    peer: Peer
    response: Response


Event = (
    RequestReceived
    | AckReceived
    | ResponseReceived
    | StrayResponse
    | TransactionTimedOut
    | TransportFailed
    | TransactionTerminated
    | RequestRejected
)


@dataclass(frozen=True, slots=True)
class Transmit:
    """A transaction's instruction to its layer: hand ``data`` to the transport for
    ``peer``. The bytes are serialised once, so a retransmission is byte-identical
    (§17.1.1.2: "take the message previously sent ... and pass it ... once more")."""

    data: bytes
    peer: Peer
