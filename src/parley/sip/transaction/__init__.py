"""The SIP transaction layer (RFC 3261 §17, updated by RFC 6026), sans I/O.

``TransactionLayer`` is the surface: feed it messages, TU requests and ``now``; take
events, datagrams and the next deadline back. The state machines are data in ``table``.
"""

from parley.sip.transaction.client import ClientTransaction, build_ack
from parley.sip.transaction.events import (
    AckReceived,
    Event,
    RequestReceived,
    RequestRejected,
    ResponseReceived,
    Role,
    StrayResponse,
    TransactionKey,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from parley.sip.transaction.layer import TransactionLayer
from parley.sip.transaction.server import ServerTransaction
from parley.sip.transaction.table import Action, Input, Kind, State
from parley.sip.transaction.timers import Timer, TimerConfig

__all__ = [
    "AckReceived",
    "Action",
    "ClientTransaction",
    "Event",
    "Input",
    "Kind",
    "RequestReceived",
    "RequestRejected",
    "ResponseReceived",
    "Role",
    "ServerTransaction",
    "State",
    "StrayResponse",
    "Timer",
    "TimerConfig",
    "TransactionKey",
    "TransactionLayer",
    "TransactionTerminated",
    "TransactionTimedOut",
    "TransportFailed",
    "build_ack",
]
