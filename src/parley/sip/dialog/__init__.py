"""Dialogs (RFC 3261 §12; RFC 6665 §4 subscription dialogs): ids, route sets, CSeq, target
refresh, and the identifiers a UA mints (tags, Call-IDs, branches)."""

from parley.sip.dialog.dialog import (
    DEFAULT_POLICY,
    POLICIES,
    TRANSITIONS,
    Dialog,
    DialogId,
    DialogInput,
    DialogState,
    MethodPolicy,
    policy_for,
)
from parley.sip.dialog.ids import IdGenerator, RandomBytes, new_branch, new_call_id, new_tag
from parley.sip.dialog.table import DialogTable, EventKey

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "TRANSITIONS",
    "Dialog",
    "DialogId",
    "DialogInput",
    "DialogState",
    "DialogTable",
    "EventKey",
    "IdGenerator",
    "MethodPolicy",
    "RandomBytes",
    "new_branch",
    "new_call_id",
    "new_tag",
    "policy_for",
]
