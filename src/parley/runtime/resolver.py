"""Locating SIP servers (RFC 3263 §4): a ``sip:``/``sips:`` URI becomes an ordered list of
``Target`` (transport, IP address, port) to try in turn.

The steps, as RFC 3263 §4 lays them out:

* TARGET is the URI's ``maddr`` parameter when present, else its host (§4).
* Transport (§4.1): an explicit ``transport=`` parameter wins; else a numeric TARGET or an
  explicit port means UDP for ``sip:`` and TLS (over TCP) for ``sips:``; else NAPTR records for
  TARGET are filtered to the services this client supports (``SIP+D2U``, ``SIP+D2T``,
  ``SIPS+D2T``; only ``SIPS+...`` ones for a ``sips:`` URI) and taken in order/preference
  order; with no NAPTR records, SRV records are queried for each supported transport
  (``_sip._udp``, ``_sip._tcp``, ``_sips._tcp``); with none either, UDP (TLS for ``sips:``).
* Port and address (§4.2): a numeric TARGET is used as is, with the URI's port or the
  transport's default (5060, 5061 for TLS); a name with an explicit port is looked up with
  A then AAAA; otherwise the SRV records (of the chosen NAPTR replacement, or of
  ``_sip(s)._<proto>.TARGET``) are ordered by priority and weighted at random (RFC 2782) and
  each SRV target's A then AAAA records give the addresses; with no SRV records, TARGET's
  A/AAAA records with the default port.
* RFC 3261 §18.1.1: a request larger than 1300 bytes (or within 200 bytes of a known path
  MTU) MUST go over a congestion-controlled transport, so when UDP would be chosen and TCP is
  supported, TCP is used instead (UDP NAPTR/SRV records are skipped, UDP defaults become TCP).
  The caller then writes the transport it actually used in its Via.

Beyond the RFC:

* Static routes (``--route DOMAIN=HOST:PORT[;transport=tcp]``, see ``parse_route``) replace
  DNS entirely for their domain (matched against TARGET, case-insensitively).
* ``localhost`` and names under it resolve to 127.0.0.1 and ::1 without DNS (RFC 6761 §6.3).
* Every NAPTR record the client supports contributes targets, most preferred first, so the
  list doubles as the failover order of RFC 3263 §4.3 across transports as well as hosts.

Failure policy: ``resolve`` never returns an empty list. When no target can be found —
NXDOMAIN, no usable records, an SRV "." (service explicitly unavailable, RFC 2782), a DNS
timeout or server failure — it raises ``ResolutionError`` whose message says which lookups
failed and why; ``transient`` is True when a timeout or server failure was involved (so a
caller may answer 503 with Retry-After rather than 404/604). A timeout of one lookup does
not abort the others: targets found elsewhere are still returned. An NXDOMAIN for TARGET's
NAPTR query ends the search at once (RFC 8020 §2: nothing exists below that name either).
``timeout`` is the budget of one whole ``resolve`` call, not of each query.

Caching: answers (positive and negative) are kept in a bounded LRU cache for their TTL; the
TTL of a negative answer comes from the SOA in its authority section (RFC 2308 §5), capped
by ``negative_ttl``. Timeouts and server failures are never cached. The random SRV weighting
is redone on every ``resolve``, from cached records too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.NAPTR import NAPTR
from dns.rdtypes.IN.SRV import SRV

from parley.sip.syntax.uri import SipUri
from parley.sip.transport.address import Peer

__all__ = [
    "DEFAULT_PORTS",
    "KNOWN_TRANSPORTS",
    "UDP_SIZE_LIMIT",
    "ResolutionError",
    "SipResolver",
    "SrvRecord",
    "Target",
    "order_srv",
    "parse_route",
    "parse_routes",
]

#: Transports this resolver knows how to locate (RFC 3263 covers UDP, TCP, TLS over TCP).
KNOWN_TRANSPORTS = ("udp", "tcp", "tls")
#: RFC 3261 §19.1.2 / RFC 3263 §4.2: default ports; 5061 for TLS.
DEFAULT_PORTS: Mapping[str, int] = {"udp": 5060, "tcp": 5060, "tls": 5061}
#: RFC 3261 §18.1.1: above this size (path MTU unknown) a request must not go over UDP.
UDP_SIZE_LIMIT = 1300
#: RFC 3261 §18.1.1: "within 200 bytes of the path MTU" when the MTU is known.
_MTU_MARGIN = 200

#: RFC 3263 §4.1 and the IANA registry it creates: NAPTR service field -> transport.
#: SCTP (D2S) and WebSocket (D2W) services exist but are not transports we locate.
_NAPTR_SERVICES: Mapping[str, str] = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}
#: RFC 3263 §4.1/§4.2: SRV owner name prefix per transport; TLS uses "_sips" even for a
#: ``sip:`` URI ("For a SIP URI, if the client wishes to use TLS, it also uses _sips").
_SRV_PREFIX: Mapping[str, str] = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}

_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class ResolutionError(Exception):
    """No target could be found for a URI; the message says which lookups failed and why.

    ``transient`` is True when a DNS timeout or server failure took part, i.e. trying again
    later might succeed; False for authoritative negative answers and unusable URIs.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Target:
    """One place to send a request: ``host`` is an IP literal (IPv6 without brackets).

    ``hostname`` is the DNS name whose address records gave ``host`` (an SRV target or the
    URI's host), the route's domain for a static route, or None for a numeric URI host. Note
    that RFC 5922 §4 checks a TLS server's certificate against the URI's domain, not this.
    """

    transport: str
    host: str
    port: int
    hostname: str | None = None

    def peer(self) -> Peer:
        return Peer(self.transport, self.host, self.port)

    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """The fields of one SRV record (RFC 2782) that ordering needs; ``target`` without the
    final dot, "." for the root (service not available)."""

    priority: int
    weight: int
    port: int
    target: str


def order_srv(records: Iterable[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782 "Usage rules": lowest priority first; within one priority, a weighted random
    order in which a record's chance of coming next is proportional to its weight (zero
    weights placed first, so that they keep a small chance of being picked)."""
    groups: dict[int, list[SrvRecord]] = {}
    for record in records:
        groups.setdefault(record.priority, []).append(record)
    ordered: list[SrvRecord] = []
    for priority in sorted(groups):
        # DNS gives records in no fixed order; sort them (zero weights first, as RFC 2782
        # asks, then by name) so that a seeded rng always yields the same order.
        remaining = sorted(
            groups[priority], key=lambda r: (r.weight != 0, r.target, r.port, r.weight)
        )
        while remaining:
            total = sum(r.weight for r in remaining)
            # "a uniform random number between 0 and the sum of the weights (inclusive)";
            # the first record whose running sum reaches it is the next one.
            pick = rng.randint(0, total)
            running = 0
            chosen = len(remaining) - 1
            for index, record in enumerate(remaining):
                running += record.weight
                if running >= pick:
                    chosen = index
                    break
            ordered.append(remaining.pop(chosen))
    return ordered


def _ip_literal(text: str) -> str | None:
    """The compressed form of an IP address literal, or None for a name."""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


def _is_localhost(name: str) -> bool:
    # RFC 6761 §6.3: "localhost." and names under it are the loopback; not asked of DNS.
    return name == "localhost" or name.endswith(".localhost")


def _normalise_domain(text: str) -> str:
    name = text.strip().lower()
    return name[:-1] if name.endswith(".") else name


def parse_route(text: str) -> tuple[str, Target]:
    """Parse ``DOMAIN=HOST[:PORT][;transport=udp|tcp|tls]`` (the ``--route`` option).

    HOST must be an IP literal (IPv6 in brackets); PORT defaults to the transport's default
    port and the transport to UDP. Raises ValueError with a message fit for a command line.
    """
    domain_text, eq, rest = text.partition("=")
    domain = _normalise_domain(domain_text)
    if not eq or not domain:
        raise ValueError(f"route {text!r}: expected DOMAIN=HOST:PORT[;transport=tcp]")
    if len(domain) > 253 or not all(_LABEL_RE.fullmatch(label) for label in domain.split(".")):
        raise ValueError(f"route {text!r}: {domain_text.strip()!r} is not a domain name")
    hostport, *params = rest.strip().split(";")
    transport = "udp"
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() != "transport":
            raise ValueError(f"route {text!r}: unknown parameter {name.strip()!r}")
        transport = value.strip().lower()
        if transport not in KNOWN_TRANSPORTS:
            raise ValueError(f"route {text!r}: transport must be one of udp, tcp, tls")
    port_text: str | None = None
    if hostport.startswith("["):
        close = hostport.find("]")
        host_text = hostport[1:close] if close > 0 else ""
        after = hostport[close + 1 :] if close > 0 else ""
        if after:
            if not after.startswith(":"):
                raise ValueError(f"route {text!r}: junk after the IPv6 address")
            port_text = after[1:]
        host = _ip_literal(host_text) if ":" in host_text else None
    else:
        host_text, colon, port_part = hostport.partition(":")
        if colon:
            port_text = port_part
        host = _ip_literal(host_text) if ":" not in host_text else None
    if host is None:
        raise ValueError(
            f"route {text!r}: the host must be an IPv4 address or an IPv6 address in [ ]"
        )
    if port_text is None:
        port = DEFAULT_PORTS[transport]
    else:
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise ValueError(f"route {text!r}: bad port {port_text!r}")
        port = int(port_text)
    return domain, Target(transport, host, port, domain)


def parse_routes(texts: Iterable[str]) -> dict[str, list[Target]]:
    """Several ``--route`` values; routes for one domain keep their order (failover)."""
    routes: dict[str, list[Target]] = {}
    for text in texts:
        domain, target = parse_route(text)
        routes.setdefault(domain, []).append(target)
    return routes


@dataclass(frozen=True, slots=True)
class _Lookup:
    """The outcome of one DNS question: the records, or why there are none."""

    records: tuple[dns.rdata.Rdata, ...] = ()
    problem: str | None = None
    transient: bool = False
    nxdomain: bool = False


class _Notes:
    """What went wrong along one resolution, for the ResolutionError message."""

    __slots__ = ("problems", "transient")

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.transient = False

    def add(self, lookup: _Lookup) -> None:
        if lookup.problem is not None and lookup.problem not in self.problems:
            self.problems.append(lookup.problem)
        self.transient = self.transient or lookup.transient


class SipResolver:
    """RFC 3263 server location over dnspython's asyncio resolver (see the module doc).

    ``nameservers``: (address, port) pairs to ask instead of the system's resolv.conf (tests
    and deployments with a dedicated resolver). ``supported_transports`` is also the order
    of preference used when the server's DNS states none (SRV without NAPTR). ``timeout``
    bounds one ``resolve`` call's DNS work as a whole, in seconds. ``rng`` drives the SRV
    weighting (inject a seeded one for reproducible orders); ``clock`` drives cache expiry.
    ``path_mtu``, when known, replaces the 1300-byte UDP limit by ``path_mtu - 200``.
    """

    def __init__(
        self,
        nameservers: Sequence[tuple[str, int]] | None = None,
        static_routes: Mapping[str, Sequence[Target]] | None = None,
        supported_transports: Sequence[str] = KNOWN_TRANSPORTS,
        timeout: float = 5.0,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = 512,
        negative_ttl: float = 60.0,
        max_ttl: float = 86400.0,
        path_mtu: int | None = None,
    ) -> None:
        transports = tuple(t.lower() for t in supported_transports)
        unknown = [t for t in transports if t not in KNOWN_TRANSPORTS]
        if unknown or not transports:
            raise ValueError(f"supported transports must be among {KNOWN_TRANSPORTS}: {unknown}")
        if timeout <= 0 or cache_size < 0:
            raise ValueError("timeout must be positive and cache_size not negative")
        self.supported_transports = transports
        self.timeout = timeout
        self.static_routes: dict[str, list[Target]] = {
            _normalise_domain(domain): list(targets)
            for domain, targets in (static_routes or {}).items()
        }
        self.udp_size_limit = UDP_SIZE_LIMIT if path_mtu is None else path_mtu - _MTU_MARGIN
        self._nameservers = None if nameservers is None else list(nameservers)
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self._cache_size = cache_size
        self._negative_ttl = negative_ttl
        self._max_ttl = max_ttl
        self._cache: OrderedDict[tuple[str, int], tuple[float, _Lookup]] = OrderedDict()
        self._inflight: dict[tuple[str, int], asyncio.Task[_Lookup]] = {}
        self._resolver: dns.asyncresolver.Resolver | None = None

    # -- public ---------------------------------------------------------------------------

    @property
    def cached_entries(self) -> int:
        """How many DNS answers the cache holds now (expired ones included until touched)."""
        return len(self._cache)

    def clear_cache(self) -> None:
        self._cache.clear()

    async def resolve(self, uri: SipUri, *, message_size: int = 0) -> list[Target]:
        """The targets for ``uri`` in the order to try them; never empty.

        ``message_size`` is the size in bytes of the request to be sent (RFC 3261 §18.1.1:
        a large request is not sent over UDP). Raises ResolutionError when nothing is found.
        """
        secure = uri.secure
        maddr = uri.params.get("maddr")
        # RFC 3263 §4: "TARGET [is] the value of the maddr parameter of the URI, if present,
        # otherwise, the host value of the hostport component of the URI".
        raw = maddr.strip("[]") if maddr else uri.host_bare
        name = _normalise_domain(raw)
        where = f"{uri.scheme}:{uri.hostport()}" + (f";maddr={maddr}" if maddr else "")
        large = message_size > self.udp_size_limit

        routes = self.static_routes.get(name)
        if routes is not None:
            return self._static(where, routes, secure, large)

        transport = self._explicit_transport(uri, where)
        numeric = _ip_literal(name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        notes = _Notes()

        if numeric is not None or uri.port is not None or _is_localhost(name):
            # RFC 3263 §4.1: numeric TARGET or explicit port: UDP for sip, TCP (TLS) for sips.
            chosen = self._oversize(transport or self._default_transport(secure, where), large)
            port = uri.port if uri.port is not None else DEFAULT_PORTS[chosen]
            if numeric is not None:
                # §4.2: "If TARGET is a numeric IP address, the client uses that address."
                return [Target(chosen, numeric, port, None)]
            # §4.2: a name with a port: A/AAAA lookups, that port.
            addresses = await self._addresses(name, deadline, notes)
            return self._done(where, notes, [Target(chosen, a, port, name) for a in addresses])

        if transport is not None:
            # §4.2: transport given, no port: SRV for that transport, else A/AAAA + default.
            chosen = self._oversize(transport, large)
            targets = await self._srv_or_address(name, [chosen], chosen, deadline, notes)
            return self._done(where, notes, targets)

        fallback = self._oversize(self._default_transport(secure, where), large)
        allowed = self._allowed(secure, large)
        naptr = await self._lookup(name, dns.rdatatype.NAPTR, deadline)
        notes.add(naptr)
        if naptr.nxdomain:
            # RFC 8020 §2: NXDOMAIN means no name exists at or below TARGET, so the SRV
            # owners "_sip._udp.TARGET"... do not either: stop here.
            return self._done(where, notes, [])
        usable = self._usable_naptr(naptr.records, secure, allowed)
        if usable:
            # §4.1: NAPTR processing picks the most preferred transport the client
            # supports; §4.2: SRV on its replacement. Less preferred ones follow as failover.
            _, targets = await self._srv(usable, deadline, notes)
            return self._done(where, notes, targets)
        # §4.1: "If no NAPTR records are found, the client constructs SRV queries for those
        # transport protocols it supports, and does a query for each."
        targets = await self._srv_or_address(name, allowed, fallback, deadline, notes)
        return self._done(where, notes, targets)

    # -- transport choice -----------------------------------------------------------------

    def _explicit_transport(self, uri: SipUri, where: str) -> str | None:
        transport = uri.transport
        if transport is None:
            return None
        if uri.secure:
            # RFC 3261 §26.2.2: a sips URI with transport=tcp means TLS over TCP; RFC 3263
            # §4.1: a sips URI never resolves to anything but TLS.
            if transport not in ("tcp", "tls"):
                raise ResolutionError(
                    f"cannot resolve {where}: a sips URI needs TLS, not {transport.upper()}"
                )
            transport = "tls"
        if transport not in self.supported_transports:
            raise ResolutionError(
                f"cannot resolve {where}: transport {transport!r} is not "
                f"supported (only {', '.join(self.supported_transports)})"
            )
        return transport

    def _default_transport(self, secure: bool, where: str) -> str:
        # RFC 3263 §4.1: "the client SHOULD use UDP for a SIP URI, and TCP for a SIPS URI"
        # (TCP carrying TLS); a client without UDP uses TCP.
        for candidate in ("tls",) if secure else ("udp", "tcp", "tls"):
            if candidate in self.supported_transports:
                return candidate
        raise ResolutionError(
            f"cannot resolve {where}: a sips URI needs TLS, which is not "
            "among the supported transports"
        )

    def _oversize(self, transport: str, large: bool) -> str:
        # RFC 3261 §18.1.1: a request over the size limit MUST go over a congestion-
        # controlled transport such as TCP.
        if transport == "udp" and large and "tcp" in self.supported_transports:
            return "tcp"
        return transport

    def _allowed(self, secure: bool, large: bool) -> list[str]:
        """The transports a DNS-driven choice may pick, in this client's preference order."""
        allowed = [t for t in self.supported_transports if not secure or t == "tls"]
        if large and "tcp" in allowed:
            allowed = [t for t in allowed if t != "udp"]
        return allowed

    @staticmethod
    def _usable_naptr(
        records: Iterable[dns.rdata.Rdata], secure: bool, allowed: Sequence[str]
    ) -> list[tuple[str, str]]:
        """(transport, SRV name) of the NAPTR records to follow, in order/preference order."""
        candidates: list[tuple[int, int, str, str]] = []
        for record in records:
            if not isinstance(record, NAPTR):
                continue
            service = record.service.decode("ascii", "replace").upper()
            transport = _NAPTR_SERVICES.get(service)
            # §4.1: discard services that are not SIP+D2X / SIPS+D2X for a supported X; a
            # sips URI discards those without "SIPS". Only the terminal "s" flag with an
            # empty regexp (the replacement is an SRV name) is part of RFC 3263.
            if (
                transport is None
                or transport not in allowed
                or (secure and not service.startswith("SIPS+"))
                or record.flags.lower() != b"s"
                or record.regexp
                or record.replacement == dns.name.root
            ):
                continue
            replacement = record.replacement.to_text(omit_final_dot=True).lower()
            candidates.append((record.order, record.preference, transport, replacement))
        # RFC 3403 §4.1: lowest order first, then lowest preference.
        candidates.sort(key=lambda c: (c[0], c[1]))
        seen: set[tuple[str, str]] = set()
        usable: list[tuple[str, str]] = []
        for _, _, transport, replacement in candidates:
            if (transport, replacement) not in seen:
                seen.add((transport, replacement))
                usable.append((transport, replacement))
        return usable

    # -- SRV and addresses ----------------------------------------------------------------

    async def _srv_or_address(
        self,
        name: str,
        transports: Sequence[str],
        fallback: str,
        deadline: float,
        notes: _Notes,
    ) -> list[Target]:
        """SRV for each transport (§4.1/§4.2); with no SRV records at all, TARGET's A/AAAA
        records with ``fallback`` and its default port (§4.2)."""
        plans = [(t, f"{_SRV_PREFIX[t]}.{name}") for t in transports]
        had_records, targets = await self._srv(plans, deadline, notes)
        if had_records:
            return targets
        addresses = await self._addresses(name, deadline, notes)
        port = DEFAULT_PORTS[fallback]
        return [Target(fallback, address, port, name) for address in addresses]

    async def _srv(
        self, plans: Sequence[tuple[str, str]], deadline: float, notes: _Notes
    ) -> tuple[bool, list[Target]]:
        """Follow SRV owner names, each with its transport, in the order given.

        Returns whether any SRV records exist and the targets they lead to. The lookups run
        concurrently but the random ordering (RFC 2782) is done in ``plans`` order, so that a
        seeded ``rng`` gives the same result whatever order the answers arrived in.
        """
        lookups = await asyncio.gather(
            *(self._lookup(srv_name, dns.rdatatype.SRV, deadline) for _, srv_name in plans)
        )
        had_records = False
        steps: list[tuple[str, SrvRecord]] = []
        for (transport, srv_name), lookup in zip(plans, lookups, strict=True):
            notes.add(lookup)
            records = [
                SrvRecord(
                    r.priority, r.weight, r.port, r.target.to_text(omit_final_dot=True).lower()
                )
                for r in lookup.records
                if isinstance(r, SRV)
            ]
            if not records:
                continue
            had_records = True
            if len(records) == 1 and records[0].target == ".":
                # RFC 2782: a single SRV record whose target is "." means "decidedly not
                # available at this domain"; no fallback to address records.
                notes.problems.append(f'{srv_name} says the service is not available (SRV ".")')
                continue
            steps += [(transport, r) for r in order_srv(records, self._rng) if r.target != "."]
        # §4.2: each SRV target's addresses, all looked up at once, kept in SRV order.
        addresses = await asyncio.gather(
            *(self._addresses(record.target, deadline, notes) for _, record in steps)
        )
        targets = [
            Target(transport, address, record.port, record.target)
            for (transport, record), found in zip(steps, addresses, strict=True)
            for address in found
        ]
        return had_records, targets

    async def _addresses(self, name: str, deadline: float, notes: _Notes) -> list[str]:
        """A then AAAA addresses of ``name`` (RFC 3263 §4.2: "A or AAAA record lookup")."""
        if _is_localhost(name):
            return ["127.0.0.1", "::1"]
        v4, v6 = await asyncio.gather(
            self._lookup(name, dns.rdatatype.A, deadline),
            self._lookup(name, dns.rdatatype.AAAA, deadline),
        )
        addresses = [r.address for r in v4.records if isinstance(r, A)]
        addresses += [r.address for r in v6.records if isinstance(r, AAAA)]
        if not addresses:
            notes.add(v4)
            notes.add(v6)
            if v4.problem is None and v6.problem is None:
                notes.problems.append(f"no A or AAAA records for {name}")
        return addresses

    # -- results --------------------------------------------------------------------------

    def _static(
        self, where: str, routes: Sequence[Target], secure: bool, large: bool
    ) -> list[Target]:
        targets = [t for t in routes if not secure or t.transport == "tls"]
        if not targets:
            raise ResolutionError(
                f"cannot resolve {where}: the static route for this domain "
                "has no TLS target, which a sips URI requires"
            )
        adjusted = [
            Target(self._oversize(t.transport, large), t.host, t.port, t.hostname) for t in targets
        ]
        return _unique(adjusted)

    @staticmethod
    def _done(where: str, notes: _Notes, targets: list[Target]) -> list[Target]:
        if targets:
            return _unique(targets)
        why = "; ".join(notes.problems) or "no usable DNS records"
        raise ResolutionError(f"cannot resolve {where}: {why}", transient=notes.transient)

    # -- DNS with a cache -----------------------------------------------------------------

    def _dns(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            if self._nameservers is None:
                resolver = dns.asyncresolver.Resolver()  # the system's resolv.conf
            else:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(host, port) for host, port in self._nameservers
                ]
            resolver.cache = None  # ours below, which also keeps negative answers
            resolver.timeout = self.timeout
            resolver.lifetime = self.timeout
            self._resolver = resolver
        return self._resolver

    async def _lookup(self, name: str, rdtype: dns.rdatatype.RdataType, deadline: float) -> _Lookup:
        key = (name, int(rdtype))
        entry = self._cache.get(key)
        if entry is not None:
            expires, lookup = entry
            if self._clock() < expires:
                self._cache.move_to_end(key)
                return lookup
            del self._cache[key]
        task = self._inflight.get(key)
        if task is None:
            # Concurrent identical questions (two SRV records naming one host) share a query.
            task = asyncio.ensure_future(self._query(name, rdtype, deadline))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: tuple[str, int], task: asyncio.Task[_Lookup]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType, deadline: float) -> _Lookup:
        kind = dns.rdatatype.to_text(rdtype)
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return _Lookup(problem=f"no time left to look up {kind} {name}", transient=True)
        try:
            answer = await self._dns().resolve(
                dns.name.from_text(name),
                rdtype,
                raise_on_no_answer=False,
                search=False,
                lifetime=remaining,
            )
        except dns.resolver.NXDOMAIN as exc:
            lookup = _Lookup(problem=f"{name} does not exist (NXDOMAIN)", nxdomain=True)
            # NXDOMAIN.responses() is untyped; its kwargs hold the same {qname: response}.
            responses = exc.kwargs.get("responses") or {}
            negative = [r for r in responses.values() if isinstance(r, dns.message.Message)]
            self._store(name, rdtype, lookup, self._negative_ttl_of(negative))
            return lookup
        except dns.exception.Timeout:
            return _Lookup(problem=f"{kind} lookup of {name} timed out", transient=True)
        except dns.resolver.NoNameservers:
            return _Lookup(
                problem=f"{kind} lookup of {name} failed at every DNS server (SERVFAIL or refused)",
                transient=True,
            )
        except dns.exception.DNSException as exc:
            return _Lookup(problem=f"{kind} lookup of {name} failed: {exc}", transient=True)
        if answer.rrset is None:
            # NOERROR with no records of this type ("NODATA", RFC 2308 §2.2).
            lookup = _Lookup(problem=f"no {kind} records for {name}")
            self._store(name, rdtype, lookup, self._negative_ttl_of([answer.response]))
            return lookup
        lookup = _Lookup(records=tuple(answer.rrset))
        # The smallest TTL along the answer (a CNAME chain included) bounds the whole.
        ttl = min(rrset.ttl for rrset in answer.response.answer)
        self._store(name, rdtype, lookup, float(ttl))
        return lookup

    def _negative_ttl_of(self, responses: Iterable[dns.message.Message]) -> float:
        # RFC 2308 §5: a negative answer lives for min(SOA TTL, SOA MINIMUM) of the SOA in
        # the authority section; without one we use our own (also the cap, RFC 2308 §5).
        for response in responses:
            for rrset in response.authority:
                for soa in rrset:
                    if isinstance(soa, SOA):
                        return min(float(rrset.ttl), float(soa.minimum), self._negative_ttl)
        return self._negative_ttl

    def _store(
        self, name: str, rdtype: dns.rdatatype.RdataType, lookup: _Lookup, ttl: float
    ) -> None:
        ttl = min(ttl, self._max_ttl)
        if ttl <= 0 or self._cache_size == 0:
            return  # TTL 0: use once, never cache (RFC 1035 §3.2.1)
        key = (name, int(rdtype))
        self._cache[key] = (self._clock() + ttl, lookup)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _unique(targets: Iterable[Target]) -> list[Target]:
    """Drop repeats of a (transport, host, port), keeping the first (most preferred)."""
    seen: set[tuple[str, str, int]] = set()
    unique: list[Target] = []
    for target in targets:
        key = (target.transport, target.host, target.port)
        if key not in seen:
            seen.add(key)
            unique.append(target)
    return unique
