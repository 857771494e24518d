"""Where a NOTIFY goes: the transport address of its next hop (RFC 3261 §8.1.2, §12.2.1.1).

The notifier's NOTIFYs leave from the server itself, so they take the route a proxy would
give a request with the same Route and Request-URI (§16.6 step 7: the top Route, else the
Request-URI), reusing the proxy's knowledge:

1. a flow the proxy knows for that URI (``ProxyService.contacts``: a client on a TCP, TLS
   or WebSocket connection, or behind a NAT, is reached over the connection it used,
   RFC 5626 §5.3);
2. for a watcher of ours with no Route, the registered binding whose Contact is the remote
   target: over its flow, or to the address its REGISTER came from (``location.target_of``);
3. else RFC 3263 resolution (or the static ``route`` of a federated domain) with the
   proxy's resolver.

This mirrors ``ProxyService._forward_to_next_hop``; a public ``ProxyService.next_hop(request)
-> Peer`` would let both share one implementation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from parley.runtime.resolver import ResolutionError
from parley.services.location import target_of
from parley.services.proxy import ProxyService
from parley.sip.errors import ParseError
from parley.sip.syntax import Request, SipUri, parse_uri, uri_equal
from parley.sip.transport.address import Peer


class NoRoute(Exception):
    """No next hop could be found for a NOTIFY; ``transient`` as in ResolutionError."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class NextHop:
    """Finds the next hop of requests the server originates, through ``proxy``'s flows,
    bindings (``clock`` is the storage's wall clock) and resolver."""

    def __init__(self, proxy: ProxyService, *, clock: Callable[[], float] = time.time) -> None:
        self.proxy = proxy
        self.clock = clock

    async def peer_for(self, request: Request) -> Peer:
        """The transport address to send ``request`` to; NoRoute when there is none."""
        try:
            routes = request.routes
            next_hop = routes[0].uri if routes else request.uri
        except ParseError as exc:
            raise NoRoute(f"unreadable Route or Request-URI: {exc.reason}") from exc
        proxy = self.proxy
        peer = proxy.contacts.find(next_hop)
        if peer is not None:
            return peer
        if not isinstance(next_hop, SipUri):
            raise NoRoute(f"not a SIP URI: {next_hop}")
        if not routes:
            peer = await self._registered(request, next_hop)
            if peer is not None:
                return peer
        try:
            found = await proxy.resolver.resolve(next_hop, message_size=len(request.body) + 600)
        except ResolutionError as exc:
            raise NoRoute(str(exc), transient=exc.transient) from exc
        return found[0].peer()

    async def _registered(self, request: Request, target: SipUri) -> Peer | None:
        """The flow or source address of the watcher's binding whose Contact is
        ``target`` (§10.3: a binding is how a registered device is reached)."""
        try:
            aor = self.proxy.aor_of(request.to.uri)
        except ParseError:
            return None
        if aor is None:
            return None
        for binding in await self.proxy.storage.get_bindings(aor, self.clock()):
            try:
                same = binding.contact == str(target) or uri_equal(
                    parse_uri(binding.contact), target
                )
            except ParseError:
                continue
            if same:
                found = target_of(binding)
                return None if found is None else found.peer
        return None


__all__ = ["NextHop", "NoRoute"]
