"""The registrar (RFC 3261 §10.3) with Path (RFC 3327) and outbound (RFC 5626) bindings.

:class:`Registrar` answers REGISTER requests: it authenticates them, adds, refreshes,
removes and lists the bindings of an address of record in a
:class:`~parley.services.storage.interface.Storage`, and drops the bindings that ride a
connection when it closes (RFC 5626 §7). The steps of §10.3 are followed in order; each is
cited where it is done.

A binding records how to reach its device again:

* ``contact`` is the Contact URI exactly as sent, URI parameters and escaped headers
  included (RFC 4475 cparam02, regescrt); header parameters are *not* part of it
  (RFC 4475 cparam01: in ``Contact: sip:a@b;p`` the ``p`` belongs to the header);
* ``path`` the Path vector (RFC 3327 §5.3), ``instance``/``reg_id`` the outbound identity
  (RFC 5626 §6), ``instance`` without its quotes (``<urn:uuid:...>``);
* ``flow`` is ``transport:host:port#conn_id`` for a REGISTER that came over TCP, TLS or
  WebSocket (see :func:`flow_of`, :func:`peer_of_flow`): a proxy sends requests for the
  binding back over that connection, and the binding ends when it closes; over UDP it is
  "" and ``source`` (``transport:host:port``) says where the REGISTER came from.

``now`` is ``clock()``, wall-clock seconds (bindings' ``expires_at`` are absolute times on
it, shared through the storage with other nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

from parley.runtime.endpoint import ServerRequest
from parley.services.storage.interface import Binding, Storage
from parley.sip.errors import ParseError
from parley.sip.syntax import NameAddr, SipUri, parse_uri, uri_equal
from parley.sip.syntax.abnf import quote, unquote
from parley.sip.syntax.values import parse_star_or_contacts
from parley.sip.transport.address import Peer

Clock = Callable[[], float]

# §20.10 / §25.1: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_DIGITS_RE = re.compile(r"[0-9]+")
#: §10.3 step 7: 423 may only be sent for requests below one hour.
_ONE_HOUR = 3600
#: §20.19 delta-seconds beyond 2**32-1 are treated as that (RFC 4475 scalar02).
_MAX_DELTA = 2**32 - 1


class Authenticator(Protocol):
    """What the registrar needs of authentication (``DigestAuthenticator`` provides it)."""

    async def authenticate(
        self,
        incoming: ServerRequest,
        *,
        proxy: bool = False,
        identity: str | None = None,
        check_identity: bool = True,
    ) -> str | None: ...


def flow_of(peer: Peer) -> str:
    """The flow name of a connection (``tcp:192.0.2.1:5060#7``), or "" for UDP."""
    if not peer.reliable:
        return ""
    return f"{peer.transport}:{peer.hostport()}#{peer.conn_id}"


def source_of(peer: Peer) -> str:
    """``transport:host:port`` of a peer, IPv6 in brackets."""
    return f"{peer.transport}:{peer.hostport()}"


def peer_of_flow(flow: str) -> Peer:
    """The Peer to send to over the connection a binding's ``flow`` names (RFC 5626 §7)."""
    transport, _, rest = flow.partition(":")
    address, _, conn_id = rest.rpartition("#")
    host, _, port = address.rpartition(":")
    if not transport or not host or not port.isdigit() or not conn_id.isdigit():
        raise ValueError(f"not a flow: {flow!r}")
    return Peer(transport, host.strip("[]"), int(port), int(conn_id))


class _Refusal(Exception):
    """A REGISTER to be answered with an error and no binding change."""

    def __init__(
        self, status: int, reason: str | None = None, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = list(headers)


@dataclass(slots=True)
class _Contact:
    """One Contact of a REGISTER, judged: its URI and what the registrar decided for it."""

    name_addr: NameAddr
    expires: int
    q: float
    instance: str | None
    reg_id: int | None


class _AorLocks:
    """One asyncio.Lock per AOR while some REGISTER for it is in progress.

    §10.3: "REGISTER requests MUST be processed by a registrar in the order that they are
    received"; storage calls await, so two REGISTERs of one AOR could otherwise interleave.
    Locks are dropped when unused, so memory follows the AORs in flight.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, aor: str) -> AsyncIterator[None]:
        entry = self._locks.get(aor)
        if entry is None:
            entry = self._locks[aor] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[aor]


class Registrar:
    """A registrar for ``domains`` (RFC 3261 §10.3) over ``storage``.

    ``min_expires``/``max_expires``/``default_expires`` are seconds; a shorter request than
    ``min_expires`` gets 423, a longer one is cut to ``max_expires``, and a contact without
    any expiry gets ``default_expires``. ``max_bindings`` caps the contacts of one AOR.
    ``path_without_support`` accepts Path from UAs that did not say ``Supported: path``
    (RFC 3327 §5.3 recommends 420 instead, the default). ``node`` is written into bindings.
    """

    def __init__(
        self,
        storage: Storage,
        authenticator: Authenticator,
        domains: Iterable[str],
        *,
        min_expires: int = 60,
        max_expires: int = 3600,
        default_expires: int = 3600,
        max_bindings: int = 20,
        path_without_support: bool = False,
        node: str = "",
        clock: Clock = time.time,
    ) -> None:
        if not 0 < min_expires <= default_expires <= max_expires or min_expires > _ONE_HOUR:
            # §10.3 step 7 allows 423 only below one hour, so no minimum can exceed it.
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires, min <= 1 h")
        self.storage = storage
        self.authenticator = authenticator
        self.domains = frozenset(d.lower() for d in domains)
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_bindings = max_bindings
        self.path_without_support = path_without_support
        self.node = node
        self._clock = clock
        self._locks = _AorLocks()

    # -- REGISTER ------------------------------------------------------------------------

    async def handle(self, incoming: ServerRequest) -> None:
        """Answer one REGISTER (anything else gets 405)."""
        request = incoming.request
        if request.method != "REGISTER":
            incoming.respond(405, headers=[("Allow", "REGISTER")])
            return
        try:
            aor = self._address_of_record(incoming)
            supported = {tag.lower() for tag in request.headers.values("Supported")}
            paths = request.headers.values("Path")
        except _Refusal as refusal:
            incoming.respond(refusal.status, refusal.reason, headers=refusal.headers)
            return
        except ParseError as exc:
            incoming.respond(400, _phrase(exc))
            return
        if paths and "path" not in supported and not self.path_without_support:
            # RFC 3327 §5.3: the recommended policy, which lets the UA notice a proxy that
            # put itself on the path without the UA agreeing.
            incoming.respond(420, headers=[("Unsupported", "path")])
            return
        # §10.3 steps 3-4: authenticate, and only the AOR's owner may change its bindings
        # (third-party registration is not authorised here).
        who = await self.authenticator.authenticate(incoming, identity=aor)
        if who is None:
            return
        async with self._locks.hold(aor):
            try:
                headers = await self._update(incoming, aor, supported, paths)
            except _Refusal as refusal:
                incoming.respond(refusal.status, refusal.reason, headers=refusal.headers)
                return
            except ParseError as exc:
                incoming.respond(400, _phrase(exc))
                return
        incoming.respond(200, headers=headers)

    def _address_of_record(self, incoming: ServerRequest) -> str:
        request = incoming.request
        uri = request.to.uri
        if not isinstance(uri, SipUri):
            # RFC 4475 unksm2: a To that is not a SIP URI cannot name a SIP AOR.
            raise _Refusal(400, "To must be a SIP or SIPS URI")
        domain = uri.host.lower()
        if domain not in self.domains or uri.user is None:
            # §10.3 step 5 (step 1 too: we are not a proxy that forwards elsewhere).
            raise _Refusal(404, "Not a domain of this registrar")
        target = request.uri
        # §10.3 step 5: the AOR must be valid for the Request-URI's domain. A Request-URI
        # naming us by address rather than by one of our domains is not checked.
        target_domain = target.host.lower() if isinstance(target, SipUri) else None
        if target_domain in self.domains and target_domain != domain:
            raise _Refusal(404, "To is not in the domain of the Request-URI")
        # §10.3 step 5: the canonical AOR, unescaped and without parameters.
        return uri.aor

    async def _update(
        self,
        incoming: ServerRequest,
        aor: str,
        supported: set[str],
        paths: list[str],
    ) -> list[tuple[str, str]]:
        request = incoming.request
        now = self._clock()
        existing = await self.storage.get_bindings(aor, now)
        contact_values = request.headers.values("Contact")
        if not contact_values:
            # §10.3 step 6 (no Contact): a query; the 200 lists the bindings.
            return self._ok_headers(existing, now, paths=(), outbound=False)
        call_id = request.call_id
        cseq = request.cseq.seq
        parsed = parse_star_or_contacts(contact_values)
        if parsed is None:
            await self._remove_all(request.expires, existing, aor, call_id, cseq)
            return self._ok_headers([], now, paths=(), outbound=False)

        header_expires = request.expires
        outbound = self._outbound_applies(incoming, supported, paths, parsed)
        contacts = [self._judge(c, header_expires, outbound) for c in parsed]
        brief = [c.expires for c in contacts if 0 < c.expires < self.min_expires]
        if brief:
            # §10.3 step 7 / §21.4.17: refuse rather than silently lengthen, and say what
            # the minimum is.
            raise _Refusal(423, headers=[("Min-Expires", str(self.min_expires))])
        live = [c for c in contacts if c.expires > 0]
        if len(live) > 1 and any(c.reg_id is not None for c in live):
            # RFC 5626 §6: a reg-id registration binds one instance over one flow.
            raise _Refusal(400, "More than one Contact with a reg-id")

        flow = flow_of(incoming.peer)
        source = source_of(incoming.peer)
        user_agent = request.headers.get("User-Agent") or ""
        path = tuple(paths)
        # §10.3 step 7: work out the new set of bindings first, then make all the changes
        # or none.
        final = list(existing)
        fresh: set[int] = set()  # ids of the bindings this request made
        for contact in contacts:
            index = _find(final, contact)
            if index is not None and id(final[index]) not in fresh:
                old = final[index]
                if old.call_id == call_id and cseq <= old.cseq:
                    # §10.3 step 7: the same UA's older (or repeated) REGISTER arriving late
                    # must not undo a newer one; the request fails as a whole.
                    raise _Refusal(500, "Out-of-order REGISTER (CSeq not above the binding's)")
            new: Binding | None = None
            if contact.expires > 0:
                new = Binding(
                    aor=aor,
                    contact=str(contact.name_addr.uri),
                    expires_at=now + contact.expires,
                    q=contact.q,
                    call_id=call_id,
                    cseq=cseq,
                    instance=contact.instance,
                    reg_id=contact.reg_id,
                    path=path,
                    flow=flow,
                    source=source,
                    user_agent=user_agent,
                    node=self.node,
                )
                fresh.add(id(new))
            if index is None:
                if new is not None:
                    final.append(new)
            elif new is None:
                del final[index]
            else:
                final[index] = new  # a refresh; the same contact twice: the later wins
        if len(final) > self.max_bindings and len(final) > len(existing):
            raise _Refusal(403, "Too many registered contacts")
        await self._commit(aor, existing, final)
        bindings = await self.storage.get_bindings(aor, now)
        # RFC 5626 §6: Require: outbound when a reg-id was honoured for a UA that supports it.
        outbound_used = "outbound" in supported and any(c.reg_id is not None for c in contacts)
        return self._ok_headers(bindings, now, paths=path, outbound=outbound_used)

    async def _remove_all(
        self, expires: int | None, existing: list[Binding], aor: str, call_id: str, cseq: int
    ) -> None:
        # §10.3 step 6: "*" only with Expires: 0, and still in CSeq order per binding.
        if expires != 0:
            raise _Refusal(400, "Contact * needs Expires: 0")
        for binding in existing:
            if binding.call_id == call_id and cseq <= binding.cseq:
                raise _Refusal(500, "Out-of-order REGISTER (CSeq not above the binding's)")
        await self.storage.remove_bindings(aor)

    def _outbound_applies(
        self,
        incoming: ServerRequest,
        supported: set[str],
        paths: list[str],
        contacts: list[NameAddr],
    ) -> bool:
        """Whether reg-id parameters are honoured (RFC 5626 §6), or 439 if refused."""
        request = incoming.request
        if len(request.vias) == 1:
            return True  # we are the first hop: the flow is the connection it came on
        first = NameAddr.parse(paths[0]).uri if paths else None
        if isinstance(first, SipUri) and "ob" in first.params:
            return True  # the edge proxy keeps the flow (its Path URI carries a flow token)
        if "outbound" in supported and any("reg-id" in c.params for c in contacts):
            raise _Refusal(439, "First Hop Lacks Outbound Support")
        return False

    def _judge(self, contact: NameAddr, header_expires: int | None, outbound: bool) -> _Contact:
        params = contact.params
        contact.uri  # noqa: B018  (parses the URI, so that a malformed one earns 400)
        # §10.3 step 7: the contact's expires parameter, else the Expires header, else ours.
        expires = _delta_seconds(params.get("expires"), "expires")
        if expires is None:
            expires = self.default_expires if header_expires is None else header_expires
        # "The registrar MAY choose an expiration less than the requested" (step 7).
        expires = min(expires, self.max_expires)
        q_text = params.get("q")
        q = 1.0
        if q_text is not None:
            if _QVALUE_RE.fullmatch(q_text) is None:
                raise _Refusal(400, "Malformed q value in Contact")
            q = float(q_text)
        instance = _instance(params.get("+sip.instance"))
        reg_id = None
        reg_text = params.get("reg-id")
        # RFC 5626 §6: a reg-id without an instance-id, or where outbound does not apply,
        # is ignored.
        if reg_text is not None and instance is not None and outbound:
            reg_id = _delta_seconds(reg_text, "reg-id")
            if reg_id is None or not 1 <= reg_id <= 2**31 - 1:
                raise _Refusal(400, "Malformed reg-id in Contact")
        return _Contact(contact, expires, q, instance, reg_id)

    async def _commit(self, aor: str, existing: list[Binding], final: list[Binding]) -> None:
        """Turn the stored ``existing`` bindings into ``final``; if storage fails midway,
        put back what was there (§10.3 step 7: "all tentative binding updates MUST be
        removed") and answer 500. Storage keys bindings by (aor, Binding.key)."""
        kept = {id(b) for b in existing}
        fresh = [b for b in final if id(b) not in kept]
        written = {b.key for b in fresh}
        remaining = {id(b) for b in final}
        gone = [b for b in existing if id(b) not in remaining and b.key not in written]
        try:
            for binding in gone:
                await self.storage.remove_binding(aor, binding.key)
            for binding in fresh:
                await self.storage.put_binding(binding)
        except Exception as exc:
            before = {b.key for b in existing}
            with contextlib.suppress(Exception):
                for binding in fresh:
                    if binding.key not in before:
                        await self.storage.remove_binding(aor, binding.key)
                for binding in existing:
                    await self.storage.put_binding(binding)
            raise _Refusal(500, "Could not store the bindings") from exc

    def _ok_headers(
        self, bindings: list[Binding], now: float, *, paths: Iterable[str], outbound: bool
    ) -> list[tuple[str, str]]:
        # §10.3 step 8: every current binding with the expiry the registrar chose, and Date.
        headers = [("Contact", _contact_value(b, now)) for b in bindings]
        path = list(paths)
        if path:
            headers.append(("Path", ", ".join(path)))  # RFC 3327 §5.3
        if outbound:
            headers.append(("Require", "outbound"))  # RFC 5626 §6
        headers.append(("Date", formatdate(now, usegmt=True)))
        return headers

    # -- flows and expiry --------------------------------------------------------------------

    async def on_connection_closed(self, peer: Peer) -> list[Binding]:
        """Drop the bindings that ride the connection ``peer`` came over (RFC 5626 §7: "the
        proxy MUST invalidate all the bindings ... that use that flow"); returns them."""
        flow = flow_of(peer)
        if not flow:
            return []
        return await self.storage.remove_flow_bindings(flow)

    async def expire(self) -> list[Binding]:
        """Drop bindings whose time is up; returns them (e.g. for reg event, RFC 3680)."""
        return await self.storage.expire_bindings(self._clock())

    async def run_expiry(self, interval: float = 30.0) -> None:
        """Call :meth:`expire` every ``interval`` seconds until cancelled (a task body).

        Lookups already ignore expired bindings; this only reclaims their storage.
        """
        while True:
            await self.expire()
            await asyncio.sleep(interval)


def _find(bindings: list[Binding], contact: _Contact) -> int | None:
    """The binding ``contact`` refreshes: by instance-id and reg-id when both are present
    (RFC 5626 §6), else by URI comparison (§10.3 step 7, §19.1.4)."""
    if contact.instance is not None and contact.reg_id is not None:
        for i, binding in enumerate(bindings):
            if binding.instance == contact.instance and binding.reg_id == contact.reg_id:
                return i
        return None
    uri = contact.name_addr.uri
    text = str(uri)
    for i, binding in enumerate(bindings):
        if binding.contact == text:
            return i
        try:
            if uri_equal(parse_uri(binding.contact), uri):
                return i
        except ParseError:
            continue
    return None


def _delta_seconds(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if _DIGITS_RE.fullmatch(text) is None:
        raise _Refusal(400, f"Malformed {what} parameter in Contact")
    if len(text) > 10:
        return _MAX_DELTA
    return min(int(text), _MAX_DELTA)


def _instance(value: str | None) -> str | None:
    """The instance-id of a ``+sip.instance`` value, without its quotes (RFC 5626 §4.1)."""
    if value is None:
        return None
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = unquote(value)
    return value or None


def _qvalue(q: float) -> str:
    return f"{q:.3f}".rstrip("0").rstrip(".") or "0"


def _contact_value(binding: Binding, now: float) -> str:
    # The URI always in <>, so its parameters stay URI parameters (RFC 4475 cparam01/02).
    parts = [f"<{binding.contact}>"]
    if binding.q != 1.0:
        parts.append(f";q={_qvalue(binding.q)}")
    if binding.instance is not None:
        parts.append(f";+sip.instance={quote(binding.instance)}")
    if binding.reg_id is not None:
        parts.append(f";reg-id={binding.reg_id}")
    parts.append(f";expires={max(0, math.ceil(binding.expires_at - now))}")
    return "".join(parts)


def _phrase(exc: ParseError) -> str:
    text = "".join(c if c.isprintable() else "?" for c in str(exc))
    return text[:120] or "Bad Request"


__all__ = ["Authenticator", "Registrar", "flow_of", "peer_of_flow", "source_of"]
