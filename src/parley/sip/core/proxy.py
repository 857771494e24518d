"""The proxy core of RFC 3261 §16: every decision a stateful proxy makes, sans I/O.

The asyncio service drives it; this package only decides. For each new request that the
transaction layer reports (``RequestReceived``), in §16.2's order:

1. ``validate_request`` (§16.3): an error response to send, or None. Compute ``loop_hash``
   of the request as received now, before anything changes it.
2. ``preprocess_routes`` (§16.4): strict-router fix-up, maddr, our own Route value removed.
3. Targets (§16.5): the service's location lookup; ``may_create_dialog`` says whether
   Record-Route can matter.
4. ``ResponseContext`` (§16.7), then per target ``forward_request`` (§16.6) with a fresh
   branch and the loop value; resolve ``Forwarded.next_hop`` (RFC 3263), send on a client
   transaction, ``add_branch``; ``complete_target_set`` once no more targets will come.
5. Feed the context each ``ResponseReceived`` / ``TransactionTimedOut`` /
   ``TransportFailed`` / ``TransactionTerminated`` of its branches, a matching CANCEL
   (``cancel``, §16.10) and its deadline (``handle_timeout``), and carry out the actions:
   ``ForwardResponse``, ``SendCancel``, ``AbandonBranch``.

A response matching no client transaction (``StrayResponse``) goes through
``forward_stray_response`` only when acting statelessly (§16.11). Requests forwarded without
a transaction (the ACK for a 2xx, a CANCEL matching no context) take ``stateless_branch``
as their branch. ``build_cancel`` is §9.1.
"""

from __future__ import annotations

from parley.sip.core.proxy_context import (
    TIMER_C,
    AbandonBranch,
    ForwardResponse,
    ProxyAction,
    ResponseContext,
    SendCancel,
    aggregate_challenges,
    choose_best_response,
)
from parley.sip.core.proxy_routing import (
    DIALOG_CREATING_METHODS,
    Forwarded,
    Preprocessed,
    build_cancel,
    copy_request,
    forward_request,
    forward_stray_response,
    may_create_dialog,
    preprocess_routes,
    stateless_branch,
)
from parley.sip.core.proxy_validation import (
    LOOP_SEPARATOR,
    LocalAddresses,
    default_port,
    loop_hash,
    loop_part,
    proxy_branch,
    validate_request,
)

__all__ = [
    "DIALOG_CREATING_METHODS",
    "LOOP_SEPARATOR",
    "TIMER_C",
    "AbandonBranch",
    "ForwardResponse",
    "Forwarded",
    "LocalAddresses",
    "Preprocessed",
    "ProxyAction",
    "ResponseContext",
    "SendCancel",
    "aggregate_challenges",
    "build_cancel",
    "choose_best_response",
    "copy_request",
    "default_port",
    "forward_request",
    "forward_stray_response",
    "loop_hash",
    "loop_part",
    "may_create_dialog",
    "preprocess_routes",
    "proxy_branch",
    "stateless_branch",
    "validate_request",
]
