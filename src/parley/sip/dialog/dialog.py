"""Dialogs (RFC 3261 §12, RFC 6665 §4): identity, route set, CSeq and remote target.

A ``Dialog`` is state and rules, nothing else. It builds in-dialog requests (§12.2.1.1),
judges requests that arrive in it (§12.2.2) and learns from responses to requests it sent
(§12.2.1.2); sending, timers and matching messages to dialogs belong to other layers
(``table.py`` does the matching). It draws no randomness and reads no clock: the branch of
each request it builds is passed in (see ``ids.py``), and so is whether a message travelled
over TLS, which only the transport knows.

What each method does to a dialog is data (``POLICIES``), as sofia-sip's nua keeps a
``nua_client_methods_t`` per method; how the dialog's state moves is a table
(``TRANSITIONS``), as h11 keeps its state machine.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from parley.sip.errors import LocalProtocolError, ParseError, RemoteProtocolError
from parley.sip.syntax import (
    MAGIC_COOKIE,
    CSeq,
    Headers,
    Message,
    NameAddr,
    Params,
    Request,
    Response,
    SipUri,
    Uri,
    Via,
    format_host,
)

#: §8.1.1.5: a CSeq sequence number MUST be less than 2**31.
MAX_SEQ = 2**31 - 1
#: §8.1.1.6: the Max-Forwards a UAC puts in every request.
MAX_FORWARDS = 70

# -- per-method policy -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MethodPolicy:
    """What a method does to dialogs.

    ``creates_dialog``: a non-failure answer to it outside a dialog creates one (§12.1).
    ``target_refresh``: inside a dialog it replaces the remote target with its Contact
    (§12.2), and so does the Contact of a 2xx answering it (§12.2.1.2).
    ``early_dialog``: a 101-199 response with a To tag creates an *early* dialog (§12.1
    allows that for INVITE only).
    ``route_set_from_notify``: the dialog's usage is really established by the first
    NOTIFY, whose Record-Route, not the 2xx's, gives the subscriber its route set (RFC 6665
    §4.4.1).
    """

    creates_dialog: bool
    target_refresh: bool
    early_dialog: bool = False
    route_set_from_notify: bool = False


#: Methods that do nothing to a dialog: BYE, ACK, OPTIONS, INFO, MESSAGE, PRACK...
#: (§12.2: "Note that an ACK is NOT a target refresh request").
DEFAULT_POLICY = MethodPolicy(creates_dialog=False, target_refresh=False)

POLICIES: Mapping[str, MethodPolicy] = MappingProxyType(
    {
        # §12.1 and §13: a 2xx or a 1xx with a To tag creates the dialog; §12.2 and §14: a
        # re-INVITE is the target refresh request of INVITE dialogs.
        "INVITE": MethodPolicy(creates_dialog=True, target_refresh=True, early_dialog=True),
        # RFC 6665 §3.1: SUBSCRIBE creates a dialog and is a target refresh request.
        "SUBSCRIBE": MethodPolicy(
            creates_dialog=True, target_refresh=True, route_set_from_notify=True
        ),
        # RFC 6665 §3.2: NOTIFY is a target refresh request; §4.4.1 and §4.1.4: a NOTIFY
        # for a pending SUBSCRIBE creates the subscriber's dialog, one per fork.
        "NOTIFY": MethodPolicy(creates_dialog=True, target_refresh=True),
        # RFC 3515 §2.4: REFER creates an implicit subscription, so it plays SUBSCRIBE's
        # part in its dialog (sofia-sip's nua marks it dialog-creating and target refresh).
        "REFER": MethodPolicy(creates_dialog=True, target_refresh=True),
        # RFC 3311 §5.1: UPDATE is a target refresh request.
        "UPDATE": MethodPolicy(creates_dialog=False, target_refresh=True),
    }
)


def policy_for(method: str) -> MethodPolicy:
    """The policy of ``method`` (method names are case-sensitive, §7.1)."""
    return POLICIES.get(method, DEFAULT_POLICY)


# -- dialog identity -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialogId:
    """§12: Call-ID, local tag and remote tag, as seen by this UA.

    The peer's id of the same dialog has the two tags swapped. ``remote_tag`` is None for an
    RFC 2543 peer that sent no tag (§12.1.1, §12.1.2 call it "null"); the local tag is ours
    and always present.
    """

    call_id: str
    local_tag: str
    remote_tag: str | None

    @classmethod
    def of_request(cls, request: Request) -> DialogId | None:
        """The id of a request this UA *received* (§12: local tag from To, remote from From);
        None when the To header has no tag, that is when the request is outside any dialog."""
        local_tag = request.to.tag
        if local_tag is None:
            return None
        return cls(request.call_id, local_tag, request.from_.tag)

    @classmethod
    def of_response(cls, response: Response) -> DialogId | None:
        """The id of a response to a request this UA *sent* (§12: local tag from From,
        remote from To); None when the From header has no tag, which ours always have."""
        local_tag = response.from_.tag
        if local_tag is None:
            return None
        return cls(response.call_id, local_tag, response.to.tag)

    def __str__(self) -> str:
        return f"{self.call_id};local={self.local_tag};remote={self.remote_tag}"


# -- the state machine -----------------------------------------------------------------


class DialogState(enum.Enum):
    """§12: a dialog starts early (1xx) or confirmed (2xx), and ends terminated."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogInput(enum.Enum):
    """What moves a dialog: answers to the request that created it, and the TU's word."""

    #: A 101-199 response to the initial request.
    RECEIVED_PROVISIONAL = "received 1xx to the initial request"
    #: A 2xx response to the initial request.
    RECEIVED_SUCCESS = "received 2xx to the initial request"
    #: A 300-699 response to the initial request.
    RECEIVED_FAILURE = "received failure to the initial request"
    #: The UAS core sent a 2xx to the request that created the dialog.
    SENT_SUCCESS = "sent 2xx to the initial request"
    #: The TU ends the dialog (BYE, subscription over, UAS sent a failure after a 1xx).
    TERMINATE = "terminate"


_S = DialogState
_I = DialogInput

#: ``{(state, input): next state}``. A missing key is a request the caller must not make.
TRANSITIONS: Mapping[tuple[DialogState, DialogInput], DialogState] = MappingProxyType(
    {
        (_S.EARLY, _I.RECEIVED_PROVISIONAL): _S.EARLY,
        # §13.2.2.4: a 2xx moves the early dialog with its tag to confirmed.
        (_S.EARLY, _I.RECEIVED_SUCCESS): _S.CONFIRMED,
        # §12.3: a non-2xx final response ends the early dialogs of its request.
        (_S.EARLY, _I.RECEIVED_FAILURE): _S.TERMINATED,
        (_S.EARLY, _I.SENT_SUCCESS): _S.CONFIRMED,
        (_S.EARLY, _I.TERMINATE): _S.TERMINATED,
        # UDP reorders: a 1xx overtaken by its 2xx changes nothing.
        (_S.CONFIRMED, _I.RECEIVED_PROVISIONAL): _S.CONFIRMED,
        # A retransmitted 2xx, or the 2xx to a SUBSCRIBE whose NOTIFY came first and already
        # created the dialog (RFC 6665 §4.1.2.4).
        (_S.CONFIRMED, _I.RECEIVED_SUCCESS): _S.CONFIRMED,
        # The dialog a NOTIFY established stands even if its SUBSCRIBE then fails or times
        # out (RFC 6665 §4.4.1); whether to end the subscription is the TU's call.
        (_S.CONFIRMED, _I.RECEIVED_FAILURE): _S.CONFIRMED,
        # §13.3.1.4: the UAS core retransmits its 2xx to INVITE.
        (_S.CONFIRMED, _I.SENT_SUCCESS): _S.CONFIRMED,
        (_S.CONFIRMED, _I.TERMINATE): _S.TERMINATED,
        # Late responses to a dead dialog change nothing.
        (_S.TERMINATED, _I.RECEIVED_PROVISIONAL): _S.TERMINATED,
        (_S.TERMINATED, _I.RECEIVED_SUCCESS): _S.TERMINATED,
        (_S.TERMINATED, _I.RECEIVED_FAILURE): _S.TERMINATED,
        (_S.TERMINATED, _I.TERMINATE): _S.TERMINATED,
    }
)


def _input_for(status: int) -> DialogInput:
    if status < 200:
        return DialogInput.RECEIVED_PROVISIONAL
    if status < 300:
        return DialogInput.RECEIVED_SUCCESS
    return DialogInput.RECEIVED_FAILURE


# -- helpers reading messages ----------------------------------------------------------

#: Header fields the dialog writes itself (§12.2.1.1); callers may not pass them in.
_DIALOG_OWNED = frozenset({"via", "to", "from", "call-id", "cseq", "route"})


def _remote_target(message: Message, what: str) -> SipUri:
    """The URI of the one Contact of a dialog-creating or target refresh message.

    §8.1.1.8 and §12.1.1: that Contact holds exactly one SIP or SIPS URI.
    """
    contacts = message.contacts
    if len(contacts) != 1:
        raise RemoteProtocolError(f"{what} needs exactly one Contact, has {len(contacts)}")
    uri = contacts[0].uri
    if not isinstance(uri, SipUri):
        raise RemoteProtocolError(f"{what} has a Contact that is not a SIP or SIPS URI")
    return uri


def _route_set(message: Message, *, reverse: bool) -> tuple[SipUri, ...]:
    """The Record-Route URIs "preserving all URI parameters" (§12.1.1, §12.1.2).

    A route set holds SIP or SIPS URIs only (§6, "route set"); anything else is refused with
    416 rather than carried into Route headers no proxy can follow.
    """
    uris = [value.sip_uri for value in message.record_routes]
    if reverse:
        uris.reverse()
    return tuple(uris)


def _as_request_uri(uri: SipUri) -> SipUri:
    """``uri`` without the components Table 1 (§19.1.1) forbids in a Request-URI or Route:
    the ``method`` parameter and headers (§12.2.1.1 says to strip them)."""
    if not uri.headers and "method" not in uri.params:
        return uri
    params = Params([(name, value) for name, value in uri.params if name.lower() != "method"])
    return replace(uri, params=params, headers=())


@dataclass(frozen=True, slots=True)
class _FixedPart:
    """A dialog's request parts that stay the same from request to request, and the
    dialog state they were made from (compared by identity: the dialog replaces, never
    mutates, what it holds)."""

    inputs: tuple[object, ...]
    request_uri: SipUri
    fields: tuple[tuple[str, str, str], ...]
    routes: tuple[tuple[str, str, str], ...]
    contact: tuple[str, str, str] | None


_MAX_FORWARDS_TEXT = str(MAX_FORWARDS)


def _name_addr(uri: Uri, tag: str | None) -> str:
    # §12.2.1.1: "If the value of the remote or local tags is null, the tag parameter MUST
    # be omitted".
    return str(NameAddr(uri, None, Params() if tag is None else Params([("tag", tag)])))


def _secure(request: Request, over_tls: bool) -> bool:
    # §12.1.1, §12.1.2: TLS *and* a SIPS Request-URI; either alone is not enough.
    return over_tls and isinstance(request.uri, SipUri) and request.uri.secure


def _check_creating(method: str) -> MethodPolicy:
    policy = policy_for(method)
    if not policy.creates_dialog:
        raise LocalProtocolError(f"{method} does not create dialogs")
    return policy


# -- the dialog ------------------------------------------------------------------------


class Dialog:
    """One dialog's state, as §12 lists it, with the rules that read and change it.

    Build one with ``Dialog.uac`` (we sent the request), ``Dialog.uas`` (we answer it) or
    ``Dialog.from_notify`` (RFC 6665: a NOTIFY answers our SUBSCRIBE and creates the
    subscriber's side). The constructor itself takes every field, for a TU that rebuilds a
    dialog after a restart (§12.2.2 allows recovering dialogs).

    Attributes, in §12's words: ``id``; ``local_uri`` and ``remote_uri`` (the From and To
    URIs of our requests); ``remote_target`` (the Request-URI of our requests);
    ``route_set`` (first hop first); ``local_seq`` and ``remote_seq`` (None is "empty");
    ``secure``. ``method`` is the method that created the dialog; ``local_target`` is our
    own Contact, put into target refresh requests we send (§12.2.1.1 SHOULD).
    """

    __slots__ = (
        "_fixed",
        "_initial_seq",
        "_route_set_from_notify",
        "_state",
        "id",
        "local_seq",
        "local_target",
        "local_uri",
        "method",
        "remote_seq",
        "remote_target",
        "remote_uri",
        "route_set",
        "secure",
    )

    def __init__(
        self,
        *,
        dialog_id: DialogId,
        state: DialogState,
        method: str,
        local_uri: Uri,
        remote_uri: Uri,
        remote_target: SipUri,
        route_set: Iterable[SipUri] = (),
        local_seq: int | None = None,
        remote_seq: int | None = None,
        secure: bool = False,
        local_target: SipUri | None = None,
        initial_seq: int | None = None,
        route_set_from_notify: bool = False,
    ) -> None:
        self.id = dialog_id
        self._state = state
        self.method = method
        self.local_uri = local_uri
        self.remote_uri = remote_uri
        self.remote_target = remote_target
        self.route_set: tuple[SipUri, ...] = tuple(route_set)
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure
        self.local_target = local_target
        # The local CSeq of the request that created the dialog (or of the SUBSCRIBE a
        # NOTIFY answered): responses bearing it answer the initial request and drive the
        # state machine; other responses answer in-dialog requests (§12.2.1.2).
        self._initial_seq = initial_seq
        self._route_set_from_notify = route_set_from_notify
        self._fixed: _FixedPart | None = None

    # -- creation ------------------------------------------------------------------

    @classmethod
    def uac(cls, request: Request, response: Response, *, over_tls: bool = False) -> Dialog:
        """The dialog a response creates for the UAC that sent ``request`` (§12.1.2).

        ``response`` is a 2xx (confirmed dialog) or, for INVITE, a 101-199 with a To tag
        (early dialog, §12.1); anything else raises LocalProtocolError. ``over_tls`` says
        whether the request was sent over TLS (it and a SIPS Request-URI make it secure).
        """
        policy = _check_creating(request.method)
        status = response.status
        if 200 <= status < 300:
            state = DialogState.CONFIRMED
        elif 101 <= status < 200 and policy.early_dialog and response.to.tag is not None:
            state = DialogState.EARLY
        else:
            raise LocalProtocolError(f"a {status} to {request.method} creates no dialog")
        local_tag = request.from_.tag
        if local_tag is None:
            raise LocalProtocolError("our request has no From tag (§8.1.1.3 requires one)")
        if response.call_id != request.call_id or response.cseq != request.cseq:
            raise LocalProtocolError("the response does not answer this request")
        if "Contact" in response.headers or state is DialogState.CONFIRMED:
            remote_target = _remote_target(response, f"a {status} to {request.method}")
        else:
            # A 1xx may omit Contact; until a response gives one, requests in the early
            # dialog go where the initial request went.
            remote_target = _sip_request_uri(request)
        local_target = _local_target(request)
        return cls(
            # §12.1.2: remote tag from the response's To, null if the peer set none.
            dialog_id=DialogId(request.call_id, local_tag, response.to.tag),
            state=state,
            method=request.method,
            local_uri=request.from_.uri,
            remote_uri=request.to.uri,
            remote_target=remote_target,
            # §12.1.2: the response's Record-Route "taken in reverse order".
            route_set=_route_set(response, reverse=True),
            local_seq=request.cseq.seq,
            remote_seq=None,
            secure=_secure(request, over_tls),
            local_target=local_target,
            initial_seq=request.cseq.seq,
            route_set_from_notify=policy.route_set_from_notify,
        )

    @classmethod
    def uas(
        cls,
        request: Request,
        local_tag: str,
        *,
        over_tls: bool = False,
        early: bool = False,
        local_seq: int | None = None,
        local_target: SipUri | None = None,
    ) -> Dialog:
        """The dialog a UAS creates when it answers ``request`` (§12.1.1).

        ``local_tag`` is the To tag of the response being sent. ``early`` is True when that
        response is a 1xx (``confirm()`` later, on the 2xx). ``local_seq`` is normally left
        empty, as §12.1.1 says; a UA that already sent requests to the peer outside the
        dialog passes the last CSeq it used. ``local_target`` is the Contact of the
        response, reused in our target refresh requests. A request without exactly one SIP
        Contact raises RemoteProtocolError (400).
        """
        _check_creating(request.method)
        to_tag = request.to.tag
        if to_tag is not None and to_tag != local_tag:
            raise LocalProtocolError("the local tag must be the To tag the request carries")
        return cls(
            # §12.1.1: remote tag from From, null for an RFC 2543 peer that set none.
            dialog_id=DialogId(request.call_id, local_tag, request.from_.tag),
            state=DialogState.EARLY if early else DialogState.CONFIRMED,
            method=request.method,
            local_uri=request.to.uri,
            remote_uri=request.from_.uri,
            remote_target=_remote_target(request, request.method),
            # §12.1.1: the request's Record-Route "taken in order".
            route_set=_route_set(request, reverse=False),
            local_seq=local_seq,
            remote_seq=request.cseq.seq,
            secure=_secure(request, over_tls),
            local_target=local_target,
        )

    @classmethod
    def from_notify(cls, subscribe: Request, notify: Request, *, over_tls: bool = False) -> Dialog:
        """The subscriber's dialog created by a NOTIFY answering our pending ``subscribe``
        (RFC 6665 §4.4.1), whether it comes before the SUBSCRIBE's 2xx (§4.1.2.4) or from
        another fork than the one that answered (§4.1.4).

        The NOTIFY establishes the dialog, so §12.1.1 applies to it (route set from its
        Record-Route in order, remote target from its Contact, remote CSeq from its CSeq),
        while the local side continues the SUBSCRIBE: its CSeq, so that the next refresh is
        numbered above what the notifier saw (§12.2.1.1), and its Contact. ``over_tls``
        says whether the NOTIFY arrived over TLS. ``subscribe`` may also be a REFER.
        """
        _check_creating(subscribe.method)
        if notify.method != "NOTIFY":
            raise LocalProtocolError(f"a {notify.method} is not a NOTIFY")
        local_tag = subscribe.from_.tag
        if local_tag is None:
            raise LocalProtocolError("our SUBSCRIBE has no From tag (§8.1.1.3 requires one)")
        if notify.call_id != subscribe.call_id or notify.to.tag != local_tag:
            raise LocalProtocolError("the NOTIFY does not answer this SUBSCRIBE")
        dialog = cls.uas(
            notify,
            local_tag,
            over_tls=over_tls,
            local_seq=subscribe.cseq.seq,
            local_target=_local_target(subscribe),
        )
        # The dialog belongs to the subscription, and the 2xx to the SUBSCRIBE, if it comes
        # now, answers its initial request.
        dialog.method = subscribe.method
        dialog._initial_seq = subscribe.cseq.seq
        return dialog

    # -- state ---------------------------------------------------------------------

    @property
    def state(self) -> DialogState:
        return self._state

    def _move(self, event: DialogInput) -> DialogState:
        """The state after ``event``, per ``TRANSITIONS``; raises for a missing key."""
        try:
            return TRANSITIONS[(self._state, event)]
        except KeyError:
            raise LocalProtocolError(
                f"a {self._state.value} dialog cannot take: {event.value}"
            ) from None

    def confirm(self) -> None:
        """The UAS core sent a 2xx to the request that created this dialog (§13.3.1.4)."""
        self._state = self._move(DialogInput.SENT_SUCCESS)

    def terminate(self) -> None:
        """End the dialog. §12.3: how a confirmed dialog ends is the method's business (BYE,
        a terminated subscription), so the TU says when."""
        self._state = self._move(DialogInput.TERMINATE)

    # -- UAC side: requests we send, responses we receive ---------------------------

    def create_request(
        self,
        method: str,
        *,
        branch: str,
        sent_by: tuple[str, int | None],
        transport: str = "UDP",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        cseq: int | None = None,
    ) -> Request:
        """A request inside this dialog, built as §12.2.1.1 says.

        To, From, Call-ID, CSeq, Route and the Request-URI come from the dialog; the top Via
        carries ``branch`` (which must start with the magic cookie, §8.1.1.7), ``transport``
        and ``sent_by`` (our host and port, port None for the default). ``headers`` are
        added after those; they may not set Via, To, From, Call-ID, CSeq or Route, and may
        set Max-Forwards (70 otherwise) and Contact. A target refresh request without a
        Contact gets ``local_target`` as one.

        The local CSeq goes up by one, from 1 if empty (any start below 2**31 is allowed,
        §8.1.1.5; 1 leaves the most room before wrapping). An ACK takes the CSeq of the
        INVITE it acknowledges instead (§13.2.2.4): ``cseq``, else the current local CSeq.
        A CANCEL is not built here: it copies the request it cancels (§9.1).
        """
        if method == "CANCEL":
            raise LocalProtocolError("§9.1: a CANCEL is built from the request it cancels")
        if self._state is DialogState.TERMINATED:
            raise LocalProtocolError(f"dialog {self.id} is terminated")
        if not branch.startswith(MAGIC_COOKIE) or len(branch) <= len(MAGIC_COOKIE):
            raise LocalProtocolError(f"branch {branch!r} lacks the {MAGIC_COOKIE} cookie")
        extra = list(headers)
        keys = {Headers.key(name) for name, _ in extra}
        owned = keys & _DIALOG_OWNED
        if owned:
            raise LocalProtocolError(f"the dialog sets {', '.join(sorted(owned))} itself")

        if method == "ACK":
            seq = self.local_seq if cseq is None else cseq
            if seq is None:
                raise LocalProtocolError("no INVITE to acknowledge in this dialog")
        else:
            if cseq is not None:
                raise LocalProtocolError("only an ACK takes its CSeq from the caller")
            # §12.2.1.1: "incremented by one", or an initial value if empty.
            seq = 1 if self.local_seq is None else self.local_seq + 1
            if seq > MAX_SEQ:
                raise LocalProtocolError("the local CSeq would reach 2**31 (§8.1.1.5)")

        fixed = self._fixed_part()
        host, port = sent_by
        # RFC 3581: ask for rport, as the transport layer's own Vias do. Written out
        # rather than through Via(): the NOTIFYs of one change go to every watcher.
        via = f"SIP/2.0/{transport.upper()} {format_host(host)}"
        via += f";branch={branch};rport" if port is None else f":{port};branch={branch};rport"
        fields: list[tuple[str, str, str]] = [("via", "Via", via)]
        if "max-forwards" not in keys:
            fields.append(("max-forwards", "Max-Forwards", _MAX_FORWARDS_TEXT))
        fields += fixed.fields
        fields.append(("cseq", "CSeq", f"{seq} {method}"))
        fields += fixed.routes
        if (
            "contact" not in keys
            and fixed.contact is not None
            and policy_for(method).target_refresh
        ):
            # §12.2.1.1: a UAC SHOULD put a Contact in target refresh requests, the same
            # as before unless it changed.
            fields.append(fixed.contact)
        headers = Headers._from_parsed(fields)
        # What the transaction layer reads back at once (§17.1.3 keys on the top Via's
        # branch and the CSeq method): known already, so not parsed again.
        via_params = Params([("branch", branch), ("rport", None)])
        headers._parsed["via0"] = Via(transport.upper(), format_host(host), port, via_params)
        headers._parsed["cseq"] = CSeq(seq, method)
        for name, value in extra:
            headers.add(name, value)  # checks the caller's names and values
        request = Request(method, fixed.request_uri, headers, body)
        if "contact" in keys or self.secure:
            try:
                contacts = request.contacts
            except ParseError as error:
                # The caller wrote that Contact: its mistake, not the peer's.
                raise LocalProtocolError(f"malformed Contact: {error.reason}") from None
            if self.secure and any(
                not (isinstance(c.uri, SipUri) and c.uri.secure) for c in contacts
            ):
                raise LocalProtocolError("§12.2.1.1: a secure dialog needs a SIPS Contact")

        if method != "ACK":
            self.local_seq = seq
        return request

    def _fixed_part(self) -> _FixedPart:
        """What every request of the dialog repeats until the dialog changes: the
        Request-URI, To, From, Call-ID, Route and our Contact (§12.2.1.1)."""
        inputs = (
            self.id,
            self.remote_target,
            self.route_set,
            self.remote_uri,
            self.local_uri,
            self.local_target,
        )
        fixed = self._fixed
        if fixed is not None and all(a is b for a, b in zip(fixed.inputs, inputs, strict=True)):
            return fixed
        request_uri, routes = self._routing()
        fixed = self._fixed = _FixedPart(
            inputs=inputs,
            request_uri=request_uri,
            fields=(
                # §12.2.1.1: To is the remote URI and tag, From the local URI and tag.
                ("to", "To", _name_addr(self.remote_uri, self.id.remote_tag)),
                ("from", "From", _name_addr(self.local_uri, self.id.local_tag)),
                ("call-id", "Call-ID", self.id.call_id),
            ),
            routes=tuple(("route", "Route", f"<{uri}>") for uri in routes),
            contact=None
            if self.local_target is None
            else ("contact", "Contact", f"<{self.local_target}>"),
        )
        return fixed

    def _routing(self) -> tuple[SipUri, list[SipUri]]:
        """The Request-URI and the Route values (§12.2.1.1)."""
        target = _as_request_uri(self.remote_target)
        if not self.route_set:
            # No route set: the remote target is the Request-URI, and no Route is added.
            return target, []
        first = self.route_set[0]
        if "lr" in first.params:
            # Loose routing (§16.12): the Request-URI stays the remote target and the whole
            # route set, parameters and all, goes into Route.
            return target, list(self.route_set)
        # Strict routing (RFC 2543): the first hop replaces the Request-URI, so it goes
        # there, and the remote target rides last in Route until a loose router puts it
        # back (§16.4, §16.12.1.2).
        return _as_request_uri(first), [*self.route_set[1:], target]

    def receive_response(self, response: Response) -> None:
        """Learn from a response to a request this UA sent in the dialog.

        A response to the request that created the dialog drives ``TRANSITIONS``: a 2xx
        confirms an early dialog and recomputes its route set and remote target from that
        2xx (§13.2.2.4, §12.1.2); a failure ends it (§12.3). A 2xx to an in-dialog target
        refresh request replaces the remote target with its Contact, if any (§12.2.1.2).
        481 and 408 answers are left to the TU: §12.2.1.2 says the UAC SHOULD end the
        dialog, and for INVITE dialogs that means sending a BYE.
        """
        if (
            response.call_id != self.id.call_id
            or response.from_.tag != self.id.local_tag
            or response.to.tag != self.id.remote_tag
        ):
            raise LocalProtocolError(f"the response does not belong to dialog {self.id}")
        status = response.status
        if status < 101:
            # 100 Trying is hop-by-hop and says nothing about dialogs.
            return
        cseq = response.cseq
        if cseq.seq == self._initial_seq and cseq.method == self.method:
            self._answer_to_initial(response)
            return
        if self._state is DialogState.TERMINATED or not 200 <= status < 300:
            return
        if policy_for(cseq.method).target_refresh and "Contact" in response.headers:
            self.remote_target = _remote_target(response, f"a {status} to {cseq.method}")

    def _answer_to_initial(self, response: Response) -> None:
        before = self._state
        after = self._move(_input_for(response.status))
        if before is DialogState.EARLY and after is DialogState.CONFIRMED:
            # §13.2.2.4: the 2xx that confirms an early dialog sets its route set anew, and
            # its (mandatory) Contact is the remote target; computed first, so that a bad
            # 2xx leaves the dialog as it was.
            route_set = _route_set(response, reverse=True)
            remote_target = _remote_target(response, f"a {response.status} to {self.method}")
            self.route_set = route_set
            self.remote_target = remote_target
        # A 2xx reaching a dialog already confirmed is a retransmission or answers a
        # SUBSCRIBE whose NOTIFY built the dialog first: RFC 6665 §4.4.1 takes the route set
        # from that NOTIFY, and its Contact is newer than the 2xx's, so nothing changes.
        self._state = after

    # -- UAS side: requests we receive ----------------------------------------------

    def receive_request(self, request: Request) -> None:
        """Judge a request received in this dialog, and apply it (§12.2.2).

        Raises RemoteProtocolError with ``status_hint`` 481 when the request does not belong
        to this (or to a terminated) dialog, 500 when its CSeq is not above the remote CSeq
        (§12.2.2: lower is out of order; equal is not "strictly monotonically increasing",
        §12.2.1.1, as the transaction layer has already absorbed retransmissions), and 400
        when a target refresh request has an unusable Contact. ACK and CANCEL carry the
        CSeq of the request they refer to and are exempt from the CSeq rule.

        Nothing changes unless every check passes (§12.2.2: requests are atomic). Then the
        remote CSeq is set, and a target refresh request (``POLICIES``) with a Contact
        replaces the remote target. The first NOTIFY in a subscription dialog also sets the
        route set from its Record-Route (RFC 6665 §4.4.1).
        """
        if (
            request.call_id != self.id.call_id
            or request.to.tag != self.id.local_tag
            or request.from_.tag != self.id.remote_tag
        ):
            raise RemoteProtocolError(f"no dialog matches this {request.method}", 481)
        if self._state is DialogState.TERMINATED:
            raise RemoteProtocolError(f"dialog {self.id} is terminated", 481)
        method = request.method
        seq = request.cseq.seq
        counts = method not in ("ACK", "CANCEL")
        if counts and self.remote_seq is not None and seq <= self.remote_seq:
            raise RemoteProtocolError(
                f"CSeq {seq} is not above {self.remote_seq}: out of order", 500
            )
        remote_target = self.remote_target
        if policy_for(method).target_refresh and "Contact" in request.headers:
            remote_target = _remote_target(request, method)
            if self.secure and not remote_target.secure:
                # §12.2.1.1: in a secure dialog the Contact MUST be a SIPS URI.
                raise RemoteProtocolError("a secure dialog needs a SIPS Contact")
        route_set = self.route_set
        notify_sets_route = method == "NOTIFY" and self._route_set_from_notify
        if notify_sets_route:
            route_set = _route_set(request, reverse=False)

        if counts:
            self.remote_seq = seq
        self.remote_target = remote_target
        if notify_sets_route:
            self.route_set = route_set
            self._route_set_from_notify = False

    def __repr__(self) -> str:
        return f"<Dialog {self.method} {self._state.value} {self.id}>"


def _sip_request_uri(request: Request) -> SipUri:
    uri = request.uri
    if not isinstance(uri, SipUri):
        raise LocalProtocolError("a dialog needs a SIP or SIPS remote target")
    return uri


def _local_target(request: Request) -> SipUri | None:
    contacts = request.contacts
    if len(contacts) == 1 and isinstance(contacts[0].uri, SipUri):
        return contacts[0].uri
    return None
