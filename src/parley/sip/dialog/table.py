"""The dialogs a user agent holds, keyed by dialog id, and the SUBSCRIBEs it awaits NOTIFYs
for (RFC 3261 §12.2.2, RFC 6665 §4.1.2.4, §4.1.4, §4.4.1).

The table only matches: it tells which dialog a message belongs to, or that none does (481).
Applying the message is the dialog's job (``Dialog.receive_request``,
``Dialog.receive_response``), and creating dialogs is the caller's (``Dialog.uac``,
``Dialog.uas``), except for the one case RFC 6665 makes the table's: a NOTIFY that a pending
SUBSCRIBE is waiting for (``create_subscriber_dialog``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from parley.sip.dialog.dialog import Dialog, DialogId, DialogState
from parley.sip.errors import LocalProtocolError, RemoteProtocolError
from parley.sip.syntax import Params, Request, Response
from parley.sip.syntax.abnf import LWS


@dataclass(frozen=True, slots=True)
class EventKey:
    """What ties a NOTIFY to a SUBSCRIBE (RFC 6665 §4.4.1): the same Call-ID, the NOTIFY's To
    tag equal to the SUBSCRIBE's From tag, and the same Event.

    RFC 6665 §8.2.1: the event type and the ``id`` parameter compare byte by byte, an Event
    with an ``id`` never matches one without, and no other parameter counts; hence the
    strings are kept exactly as written.
    """

    call_id: str
    local_tag: str
    event_type: str
    event_id: str | None


def _event(request: Request) -> tuple[str, str | None] | None:
    """The event type and ``id`` of the Event header, as written; None when absent."""
    value = request.headers.get("Event")
    if value is None:
        return None
    event_type, semi, rest = value.partition(";")
    event_id = Params.parse(rest).get("id") if semi else None
    return event_type.strip(LWS), event_id


class DialogTable:
    """Dialogs by ``DialogId``, plus the SUBSCRIBE (and REFER) requests whose NOTIFYs may
    create more (RFC 6665 §4.1.4: a forked SUBSCRIBE yields one dialog per notifier).

    Lookups follow §12's rules for whose tag is whose: for a request received, the local
    tag is its To tag; for a response received, the local tag is its From tag.
    """

    __slots__ = ("_dialogs", "_pending")

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}
        self._pending: dict[EventKey, Request] = {}

    # -- the dialogs ---------------------------------------------------------------

    def add(self, dialog: Dialog) -> None:
        """Hold ``dialog``; LocalProtocolError if one with its id is already held."""
        if dialog.id in self._dialogs:
            raise LocalProtocolError(f"dialog {dialog.id} already exists")
        self._dialogs[dialog.id] = dialog

    def get(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def remove(self, dialog_id: DialogId) -> Dialog | None:
        """Forget a dialog (typically once terminated); returns it, or None if not held."""
        return self._dialogs.pop(dialog_id, None)

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def __contains__(self, dialog_id: object) -> bool:
        return dialog_id in self._dialogs

    # -- matching ------------------------------------------------------------------

    def match_request(self, request: Request) -> Dialog | None:
        """The dialog a received request belongs to, found by its id (§12.2.2).

        None when the request is outside any dialog: it has no To tag, or it is a NOTIFY
        that a pending SUBSCRIBE is waiting for and that may create a dialog (RFC 6665
        §4.1.2.4, §4.1.4; see ``create_subscriber_dialog``). A request with a To tag that
        matches no live dialog raises RemoteProtocolError with ``status_hint`` 481
        (§12.2.2); for an ACK, which is never answered, the caller drops it instead.
        """
        dialog_id = DialogId.of_request(request)
        if dialog_id is None:
            return None
        dialog = self._dialogs.get(dialog_id)
        if dialog is not None and dialog.state is not DialogState.TERMINATED:
            return dialog
        if dialog is None and request.method == "NOTIFY" and self.match_notify(request):
            return None
        raise RemoteProtocolError(f"no dialog {dialog_id} for this {request.method}", 481)

    def match_response(self, response: Response) -> Dialog | None:
        """The dialog a received response belongs to, found by its id (§12).

        None when no dialog has that id: for a dialog-creating response the caller then
        builds one with ``Dialog.uac``, which is how each fork of an INVITE gets its own
        dialog (§13.2.2.4).
        """
        dialog_id = DialogId.of_response(response)
        return None if dialog_id is None else self._dialogs.get(dialog_id)

    # -- RFC 6665: NOTIFYs for pending SUBSCRIBEs -------------------------------------

    def add_pending_subscription(self, request: Request) -> None:
        """Await NOTIFYs for a SUBSCRIBE (or REFER) sent outside a dialog.

        RFC 6665 §4.1.2.4: NOTIFYs may come before the SUBSCRIBE's 2xx; §4.1.4: forks may
        send NOTIFYs with other From tags after it. So the SUBSCRIBE stays pending until the
        caller removes it (Timer N, or when it stops accepting forks). A REFER awaits Event
        ``refer`` with an ``id`` equal to its CSeq number (RFC 3515 §2.4.6).
        """
        key = self._key_of_subscription(request)
        if key in self._pending:
            raise LocalProtocolError(f"a subscription {key} is already pending")
        self._pending[key] = request

    def remove_pending_subscription(self, request: Request) -> None:
        """Stop awaiting NOTIFYs for ``request``; forks that notify later get 481."""
        self._pending.pop(self._key_of_subscription(request), None)

    def match_notify(self, notify: Request) -> Request | None:
        """The pending SUBSCRIBE or REFER that ``notify`` answers (RFC 6665 §4.4.1), or None."""
        local_tag = notify.to.tag
        event = _event(notify)
        if notify.method != "NOTIFY" or local_tag is None or event is None:
            return None
        key = EventKey(notify.call_id, local_tag, *event)
        found = self._pending.get(key)
        if found is not None or event != ("refer", None):
            return found
        # RFC 3515 §2.4.6 asks for the id only once a dialog holds several REFERs, so the
        # NOTIFYs for a lone REFER may omit it.
        refers = [
            request
            for pending, request in self._pending.items()
            if pending.call_id == notify.call_id
            and pending.local_tag == local_tag
            and pending.event_type == "refer"
        ]
        return refers[0] if len(refers) == 1 else None

    def create_subscriber_dialog(self, notify: Request, *, over_tls: bool = False) -> Dialog:
        """Create and hold the dialog a NOTIFY for a pending SUBSCRIBE establishes (RFC 6665
        §4.4.1; ``Dialog.from_notify``). ``over_tls``: the NOTIFY arrived over TLS.

        Raises RemoteProtocolError 481 when no pending SUBSCRIBE matches, and
        LocalProtocolError when the dialog exists already (``match_request`` finds those).
        RFC 6665 §4.4.1 creates no dialog for a NOTIFY whose Subscription-State is
        ``terminated``; that check, like the answer to the NOTIFY, is the caller's.
        """
        subscribe = self.match_notify(notify)
        if subscribe is None:
            raise RemoteProtocolError("no subscription awaits this NOTIFY", 481)
        dialog = Dialog.from_notify(subscribe, notify, over_tls=over_tls)
        self.add(dialog)
        return dialog

    @staticmethod
    def _key_of_subscription(request: Request) -> EventKey:
        local_tag = request.from_.tag
        if local_tag is None:
            raise LocalProtocolError("our request has no From tag (§8.1.1.3 requires one)")
        if request.method == "REFER":
            return EventKey(request.call_id, local_tag, "refer", str(request.cseq.seq))
        if request.method != "SUBSCRIBE":
            raise LocalProtocolError(f"a {request.method} awaits no NOTIFY")
        event = _event(request)
        if event is None:
            raise LocalProtocolError("RFC 6665 §3.1.2: a SUBSCRIBE needs an Event header")
        return EventKey(request.call_id, local_tag, *event)
