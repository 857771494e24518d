"""RFC 3263 server location against a real, tiny DNS server on 127.0.0.1.

The server answers UDP queries on an ephemeral port from a made-up zone (probability.org,
academy.ru) built with dnspython's message classes, and logs every question it receives,
so the tests can check which lookups were (not) made and that the cache spared some.
Every address in the zone is a loopback one; nothing but the DNS server is ever contacted.
No assertion is about how long anything took.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from parley.runtime.resolver import (
    ResolutionError,
    SipResolver,
    SrvRecord,
    Target,
    order_srv,
    parse_route,
    parse_routes,
)
from parley.sip.syntax.uri import parse_sip_uri
from parley.sip.transport.address import Peer

SOA = "ns.probability.org. hostmaster.probability.org. 1 3600 600 86400 60"

# (owner, ttl, type, rdata) - every address is a loopback one.
ZONE: list[tuple[str, int, str, str]] = [
    # probability.org: NAPTR -> SRV -> A/AAAA, with records the client must skip.
    ("probability.org", 300, "SOA", SOA),
    ("probability.org", 300, "NAPTR", '5 10 "u" "E2U+sip" "!^.*$!sip:info@probability.org!" .'),
    ("probability.org", 300, "NAPTR", '10 50 "s" "SIPS+D2T" "" _sips._tcp.probability.org.'),
    ("probability.org", 300, "NAPTR", '20 50 "s" "SIP+D2T" "" _sip._tcp.probability.org.'),
    ("probability.org", 300, "NAPTR", '20 10 "s" "SIP+D2S" "" _sip._sctp.probability.org.'),
    ("probability.org", 300, "NAPTR", '30 50 "s" "SIP+D2U" "" _sip._udp.probability.org.'),
    ("probability.org", 300, "A", "127.0.0.4"),
    ("_sips._tcp.probability.org", 300, "SRV", "0 0 5061 tls.probability.org."),
    ("_sip._tcp.probability.org", 300, "SRV", "10 0 5060 sip1.probability.org."),
    ("_sip._udp.probability.org", 300, "SRV", "10 0 5060 sip1.probability.org."),
    ("_sip._udp.probability.org", 300, "SRV", "20 0 5062 backup.probability.org."),
    ("_sip._sctp.probability.org", 300, "SRV", "0 0 5060 sctp.probability.org."),
    ("tls.probability.org", 300, "A", "127.0.0.3"),
    ("sip1.probability.org", 300, "A", "127.0.0.2"),
    ("sip1.probability.org", 300, "AAAA", "::1"),
    ("backup.probability.org", 300, "A", "127.0.0.6"),
    ("sctp.probability.org", 300, "A", "127.0.0.99"),
    # odds.probability.org: equal NAPTR order, preference decides (RFC 3403 §4.1).
    (
        "odds.probability.org",
        300,
        "NAPTR",
        '10 90 "s" "SIP+D2U" "" _sip._udp.odds.probability.org.',
    ),
    (
        "odds.probability.org",
        300,
        "NAPTR",
        '10 20 "s" "SIP+D2T" "" _sip._tcp.odds.probability.org.',
    ),
    ("_sip._udp.odds.probability.org", 300, "SRV", "0 0 5070 sip1.probability.org."),
    ("_sip._tcp.odds.probability.org", 300, "SRV", "0 0 5071 sip1.probability.org."),
    # academy.ru: SRV without NAPTR; weights and priorities.
    ("academy.ru", 300, "SOA", SOA),
    ("academy.ru", 300, "A", "127.0.0.5"),
    ("_sip._udp.academy.ru", 300, "SRV", "10 60 5070 a.academy.ru."),
    ("_sip._udp.academy.ru", 300, "SRV", "10 40 5071 b.academy.ru."),
    ("_sip._udp.academy.ru", 300, "SRV", "20 0 5072 c.academy.ru."),
    ("_sip._tcp.academy.ru", 300, "SRV", "10 0 5080 a.academy.ru."),
    ("a.academy.ru", 300, "A", "127.0.0.10"),
    ("b.academy.ru", 300, "A", "127.0.0.11"),
    ("c.academy.ru", 300, "A", "127.0.0.12"),
    ("c.academy.ru", 300, "AAAA", "::1"),
    # Address records only.
    ("plain.academy.ru", 300, "A", "127.0.0.20"),
    ("plain.academy.ru", 300, "AAAA", "::1"),
    # SRV "." : service decidedly not available (RFC 2782); its A must not be used.
    ("_sip._udp.closed.academy.ru", 300, "SRV", "0 0 0 ."),
    ("closed.academy.ru", 300, "A", "127.0.0.21"),
    # A name that exists but holds nothing a SIP client can use.
    ("bare.academy.ru", 300, "TXT", '"nothing here"'),
    # TTL 0: never cached.
    ("short.academy.ru", 0, "A", "127.0.0.22"),
    # SRV whose second target never answers: the first one's addresses still come back.
    ("_sip._udp.mixed.academy.ru", 300, "SRV", "10 0 5090 a.academy.ru."),
    ("_sip._udp.mixed.academy.ru", 300, "SRV", "20 0 5091 slow.academy.ru."),
]
#: Names for which the server never answers (timeouts) or answers SERVFAIL.
SILENT = {"slow.academy.ru"}
SERVFAIL = {"broken.academy.ru"}


@dataclass
class ZoneServer(asyncio.DatagramProtocol):
    """An authoritative-looking DNS server over UDP for ZONE, logging each question."""

    zone: Sequence[tuple[str, int, str, str]]
    queries: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's UDP transport does not subclass DatagramTransport at run time.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in SILENT:
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            records = [r for r in self.zone if r[0] == name and r[2] == rdtype]
            if records:
                rrset = dns.rrset.from_text(
                    question.name,
                    min(r[1] for r in records),
                    "IN",
                    rdtype,
                    *(r[3] for r in records),
                )
                response.answer.append(rrset)
            else:
                exists = any(r[0] == name or r[0].endswith("." + name) for r in self.zone)
                if not exists:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                apex = "academy.ru" if name.endswith("academy.ru") else "probability.org"
                response.authority.append(dns.rrset.from_text(apex + ".", 60, "IN", "SOA", SOA))
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)

    def asked(self, name: str, rdtype: str | None = None) -> int:
        return sum(1 for n, t in self.queries if n == name and (rdtype is None or t == rdtype))


@pytest.fixture
async def dns_server() -> AsyncIterator[ZoneServer]:
    loop = asyncio.get_running_loop()
    server = ZoneServer(ZONE)
    transport, _ = await loop.create_datagram_endpoint(lambda: server, local_addr=("127.0.0.1", 0))
    server.port = transport.get_extra_info("sockname")[1]
    try:
        yield server
    finally:
        transport.close()


MakeResolver = Callable[..., SipResolver]


@pytest.fixture
def make_resolver(dns_server: ZoneServer) -> MakeResolver:
    def make(**kwargs: object) -> SipResolver:
        kwargs.setdefault("rng", random.Random(3263))
        kwargs.setdefault("timeout", 3.0)
        return SipResolver(nameservers=[("127.0.0.1", dns_server.port)], **kwargs)  # type: ignore[arg-type]

    return make


async def resolve(resolver: SipResolver, uri: str, size: int = 0) -> list[Target]:
    return await resolver.resolve(parse_sip_uri(uri), message_size=size)


def hostports(targets: list[Target]) -> list[str]:
    return [f"{t.transport}:{t.hostport()}" for t in targets]


# -- NAPTR -> SRV -> A/AAAA ------------------------------------------------------------------


async def test_naptr_srv_address_chain(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    targets = await resolve(make_resolver(), "sip:alice@probability.org")
    assert hostports(targets) == [
        "tls:127.0.0.3:5061",
        "tcp:127.0.0.2:5060",
        "tcp:[::1]:5060",
        "udp:127.0.0.2:5060",
        "udp:[::1]:5060",
        "udp:127.0.0.6:5062",
    ]
    assert targets[0].hostname == "tls.probability.org"
    assert targets[1].hostname == "sip1.probability.org"
    # The E2U record and the SCTP service were skipped, so their targets were never asked.
    assert dns_server.asked("_sip._sctp.probability.org") == 0
    assert dns_server.asked("sctp.probability.org") == 0
    # With NAPTR records present there is no blind SRV or A lookup on the domain itself.
    assert dns_server.asked("probability.org", "A") == 0


async def test_naptr_filtered_to_supported_transports(make_resolver: MakeResolver) -> None:
    resolver = make_resolver(supported_transports=("udp", "tcp"))
    targets = await resolve(resolver, "sip:probability.org")
    assert [t.transport for t in targets] == ["tcp", "tcp", "udp", "udp", "udp"]


async def test_naptr_preference_breaks_order_ties(make_resolver: MakeResolver) -> None:
    targets = await resolve(make_resolver(), "sip:odds.probability.org")
    assert hostports(targets)[:2] == ["tcp:127.0.0.2:5071", "tcp:[::1]:5071"]
    assert hostports(targets)[2:] == ["udp:127.0.0.2:5070", "udp:[::1]:5070"]


# -- SRV without NAPTR ----------------------------------------------------------------------


async def test_srv_only(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    targets = await resolve(make_resolver(), "sip:bob@academy.ru")
    udp = [t for t in targets if t.transport == "udp"]
    assert {t.port for t in udp[:2]} == {5070, 5071}  # priority 10, weighted order
    assert hostports(udp[2:]) == ["udp:127.0.0.12:5072", "udp:[::1]:5072"]  # priority 20
    assert hostports([t for t in targets if t.transport == "tcp"]) == ["tcp:127.0.0.10:5080"]
    # Client preference (supported_transports order): UDP records before TCP ones.
    assert targets.index(udp[-1]) < len(udp)
    assert dns_server.asked("academy.ru", "NAPTR") == 1
    assert dns_server.asked("_sips._tcp.academy.ru", "SRV") == 1
    assert dns_server.asked("academy.ru", "A") == 0  # SRV found: no fallback to A
    # a.academy.ru is the target of two SRV records but was asked only once.
    assert dns_server.asked("a.academy.ru", "A") == 1


async def test_srv_weights_are_random_but_proportional(make_resolver: MakeResolver) -> None:
    resolver = make_resolver(rng=random.Random(2782))
    first_ports = []
    for _ in range(200):
        targets = await resolve(resolver, "sip:academy.ru")
        first_ports.append(targets[0].port)
        assert targets[2].port == 5072  # the priority-20 record always after both
    assert set(first_ports) == {5070, 5071}
    assert first_ports.count(5070) > first_ports.count(5071)  # weight 60 against 40
    # The same seed gives the same order.
    again = make_resolver(rng=random.Random(2782))
    assert [(await resolve(again, "sip:academy.ru"))[0].port for _ in range(20)] == first_ports[:20]


def test_order_srv_follows_rfc2782() -> None:
    class Scripted(random.Random):
        def __init__(self, picks: list[int]) -> None:
            super().__init__(0)
            self.picks = picks
            self.bounds: list[tuple[int, int]] = []

        def randint(self, a: int, b: int) -> int:
            self.bounds.append((a, b))
            return self.picks.pop(0)

    records = [
        SrvRecord(20, 0, 1, "late"),
        SrvRecord(10, 30, 2, "heavy"),
        SrvRecord(10, 0, 3, "zero"),
        SrvRecord(10, 10, 4, "light"),
    ]
    # Priority 10 holds zero(0), heavy(30), light(10) with zero first: running sums 0, 30, 40.
    rng = Scripted([31, 0, 5, 0])
    ordered = order_srv(records, rng)
    assert [r.target for r in ordered] == ["light", "zero", "heavy", "late"]
    assert rng.bounds == [(0, 40), (0, 30), (0, 30), (0, 0)]


# -- A/AAAA only, explicit port, numeric hosts ----------------------------------------------


async def test_address_records_only(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    targets = await resolve(make_resolver(), "sip:plain.academy.ru")
    assert targets == [
        Target("udp", "127.0.0.20", 5060, "plain.academy.ru"),
        Target("udp", "::1", 5060, "plain.academy.ru"),
    ]
    for srv in ("_sip._udp", "_sip._tcp", "_sips._tcp"):
        assert dns_server.asked(f"{srv}.plain.academy.ru", "SRV") == 1


async def test_explicit_port_skips_naptr_and_srv(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    targets = await resolve(make_resolver(), "sip:alice@probability.org:5090")
    assert targets == [Target("udp", "127.0.0.4", 5090, "probability.org")]
    assert {t for _, t in dns_server.queries} == {"A", "AAAA"}
    secure = await resolve(make_resolver(), "sips:alice@probability.org:5091")
    assert secure == [Target("tls", "127.0.0.4", 5091, "probability.org")]


async def test_numeric_hosts_ask_no_dns(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    resolver = make_resolver()
    assert await resolve(resolver, "sip:alice@127.0.0.1") == [Target("udp", "127.0.0.1", 5060)]
    assert await resolve(resolver, "sips:alice@127.0.0.1") == [Target("tls", "127.0.0.1", 5061)]
    assert await resolve(resolver, "sip:127.0.0.1:5070;transport=TCP") == [
        Target("tcp", "127.0.0.1", 5070)
    ]
    assert dns_server.queries == []


async def test_ipv6_literal(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    resolver = make_resolver()
    assert await resolve(resolver, "sip:[::1]") == [Target("udp", "::1", 5060)]
    assert await resolve(resolver, "sip:[0:0::1]:5070;transport=tcp") == [
        Target("tcp", "::1", 5070)
    ]
    targets = await resolve(resolver, "sips:bob@[::1]")
    assert targets == [Target("tls", "::1", 5061)]
    assert targets[0].peer() == Peer("tls", "::1", 5061)
    assert targets[0].hostport() == "[::1]:5061"
    assert dns_server.queries == []


async def test_localhost_is_not_asked_of_dns(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    targets = await resolve(make_resolver(), "sip:localhost")
    assert hostports(targets) == ["udp:127.0.0.1:5060", "udp:[::1]:5060"]
    assert dns_server.queries == []


async def test_maddr_is_the_target(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    resolver = make_resolver()
    assert await resolve(resolver, "sip:bob@probability.org;maddr=127.0.0.9") == [
        Target("udp", "127.0.0.9", 5060)
    ]
    targets = await resolve(resolver, "sip:bob@probability.org:5099;maddr=plain.academy.ru")
    assert hostports(targets) == ["udp:127.0.0.20:5099", "udp:[::1]:5099"]
    assert dns_server.asked("probability.org") == 0


# -- transport parameter and sips -----------------------------------------------------------


async def test_transport_param_queries_that_srv_only(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    resolver = make_resolver()
    targets = await resolve(resolver, "sip:probability.org;transport=tcp")
    assert hostports(targets) == ["tcp:127.0.0.2:5060", "tcp:[::1]:5060"]
    assert dns_server.asked("probability.org", "NAPTR") == 0
    # No SRV for that transport: A/AAAA with the transport's default port.
    assert hostports(await resolve(resolver, "sip:plain.academy.ru;transport=tls")) == [
        "tls:127.0.0.20:5061",
        "tls:[::1]:5061",
    ]
    assert dns_server.asked("_sips._tcp.plain.academy.ru", "SRV") == 1


async def test_unsupported_transport_param(make_resolver: MakeResolver) -> None:
    with pytest.raises(ResolutionError, match="sctp"):
        await resolve(make_resolver(), "sip:probability.org;transport=sctp")
    with pytest.raises(ResolutionError, match="tls"):
        await resolve(make_resolver(supported_transports=("udp", "tcp")), "sip:a;transport=tls")


async def test_sips_is_tls_only(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    resolver = make_resolver()
    assert await resolve(resolver, "sips:alice@probability.org") == [
        Target("tls", "127.0.0.3", 5061, "tls.probability.org")
    ]
    # SRV-only domain without _sips._tcp: A/AAAA of the domain on 5061, never UDP/TCP SRV.
    assert await resolve(resolver, "sips:academy.ru") == [
        Target("tls", "127.0.0.5", 5061, "academy.ru")
    ]
    assert dns_server.asked("_sip._udp.academy.ru") == 0
    # transport=tcp in a sips URI means TLS over TCP (RFC 3261 §26.2.2).
    assert await resolve(resolver, "sips:probability.org;transport=tcp") == [
        Target("tls", "127.0.0.3", 5061, "tls.probability.org")
    ]
    with pytest.raises(ResolutionError, match="needs TLS"):
        await resolve(resolver, "sips:127.0.0.1;transport=udp")
    with pytest.raises(ResolutionError, match="TLS"):
        await resolve(make_resolver(supported_transports=("udp", "tcp")), "sips:probability.org")


# -- RFC 3261 §18.1.1: large requests leave UDP ----------------------------------------------


async def test_large_request_switches_to_tcp(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    resolver = make_resolver()
    assert await resolve(resolver, "sip:127.0.0.1", size=1300) == [Target("udp", "127.0.0.1", 5060)]
    assert await resolve(resolver, "sip:127.0.0.1", size=1301) == [Target("tcp", "127.0.0.1", 5060)]
    assert await resolve(resolver, "sip:127.0.0.1;transport=udp", size=4000) == [
        Target("tcp", "127.0.0.1", 5060)
    ]
    # SRV-only: the UDP SRV records are not even asked for.
    targets = await resolve(resolver, "sip:academy.ru", size=1500)
    assert hostports(targets) == ["tcp:127.0.0.10:5080"]
    assert dns_server.asked("_sip._udp.academy.ru") == 0
    # No SRV at all: the UDP default becomes TCP.
    targets = await resolve(resolver, "sip:plain.academy.ru", size=1500)
    assert {t.transport for t in targets} == {"tcp"}
    # NAPTR: the SIP+D2U record is skipped.
    targets = await resolve(
        make_resolver(supported_transports=("udp", "tcp")), "sip:probability.org", size=1500
    )
    assert {t.transport for t in targets} == {"tcp"}


async def test_large_request_stays_on_udp_without_tcp(make_resolver: MakeResolver) -> None:
    resolver = make_resolver(supported_transports=("udp",))
    assert await resolve(resolver, "sip:127.0.0.1", size=9000) == [Target("udp", "127.0.0.1", 5060)]


async def test_known_path_mtu_sets_the_limit(make_resolver: MakeResolver) -> None:
    resolver = make_resolver(path_mtu=1000)
    assert (await resolve(resolver, "sip:127.0.0.1", size=800))[0].transport == "udp"
    assert (await resolve(resolver, "sip:127.0.0.1", size=801))[0].transport == "tcp"


# -- static routes --------------------------------------------------------------------------


def test_parse_route() -> None:
    assert parse_route("Probability.org.=127.0.0.7:5999;transport=TCP") == (
        "probability.org",
        Target("tcp", "127.0.0.7", 5999, "probability.org"),
    )
    assert parse_route("academy.ru=[::1]:5070") == (
        "academy.ru",
        Target("udp", "::1", 5070, "academy.ru"),
    )
    assert parse_route("academy.ru=127.0.0.8;transport=tls") == (
        "academy.ru",
        Target("tls", "127.0.0.8", 5061, "academy.ru"),
    )
    routes = parse_routes(["academy.ru=127.0.0.8:1", "academy.ru=127.0.0.9:2", "x.ru=[::1]"])
    assert [t.port for t in routes["academy.ru"]] == [1, 2]
    assert routes["x.ru"] == [Target("udp", "::1", 5060, "x.ru")]


@pytest.mark.parametrize(
    "text",
    [
        "academy.ru",
        "=127.0.0.1:5060",
        "academy.ru=sip.academy.ru:5060",
        "academy.ru=::1:5060",
        "academy.ru=[::1:5060",
        "academy.ru=127.0.0.1:0",
        "academy.ru=127.0.0.1:65536",
        "academy.ru=127.0.0.1:50x",
        "academy.ru=127.0.0.1;transport=sctp",
        "academy.ru=127.0.0.1;lr",
        "bad_domain!=127.0.0.1",
    ],
)
def test_parse_route_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="route"):
        parse_route(text)


async def test_static_route_beats_dns(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    resolver = make_resolver(
        static_routes=parse_routes(["probability.org=127.0.0.7:5999;transport=tcp"])
    )
    targets = await resolve(resolver, "sip:alice@PROBABILITY.org")
    assert targets == [Target("tcp", "127.0.0.7", 5999, "probability.org")]
    # Other domains still use DNS.
    assert (await resolve(resolver, "sip:plain.academy.ru"))[0].host == "127.0.0.20"
    assert dns_server.asked("probability.org") == 0


async def test_static_route_with_sips_and_large_requests(make_resolver: MakeResolver) -> None:
    routes = parse_routes(["academy.ru=127.0.0.7:5060", "academy.ru=127.0.0.7:5061;transport=tls"])
    resolver = make_resolver(static_routes=routes)
    assert hostports(await resolve(resolver, "sips:academy.ru")) == ["tls:127.0.0.7:5061"]
    assert hostports(await resolve(resolver, "sip:academy.ru", size=2000)) == [
        "tcp:127.0.0.7:5060",
        "tls:127.0.0.7:5061",
    ]
    udp_only = make_resolver(static_routes=parse_routes(["academy.ru=127.0.0.7"]))
    with pytest.raises(ResolutionError, match="TLS"):
        await resolve(udp_only, "sips:academy.ru")


# -- negative answers, failures ---------------------------------------------------------------


async def test_nxdomain_raises_and_stops_early(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    with pytest.raises(ResolutionError, match=r"nowhere\.academy\.ru does not exist") as info:
        await resolve(make_resolver(), "sip:bob@nowhere.academy.ru")
    assert not info.value.transient
    assert "sip:nowhere.academy.ru" in str(info.value)
    # RFC 8020: nothing exists below an NXDOMAIN name, so no SRV queries follow.
    assert dns_server.queries == [("nowhere.academy.ru", "NAPTR")]


async def test_no_usable_records_raises(make_resolver: MakeResolver) -> None:
    with pytest.raises(ResolutionError, match=r"no A records for bare\.academy\.ru") as info:
        await resolve(make_resolver(), "sip:bare.academy.ru")
    assert "no NAPTR records for bare.academy.ru" in str(info.value)
    assert not info.value.transient
    with pytest.raises(ResolutionError, match="no AAAA records"):
        await resolve(make_resolver(), "sip:bare.academy.ru:5060")


async def test_srv_dot_means_unavailable(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    with pytest.raises(ResolutionError, match="not available"):
        await resolve(make_resolver(), "sip:closed.academy.ru")
    assert dns_server.asked("closed.academy.ru", "A") == 0


async def test_timeout_raises_transient_error(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    resolver = make_resolver(timeout=0.5)
    with pytest.raises(ResolutionError, match="timed out") as info:
        await resolve(resolver, "sip:slow.academy.ru")
    assert info.value.transient
    asked = len(dns_server.queries)
    # A timeout is not cached: the next attempt asks again.
    with pytest.raises(ResolutionError):
        await resolve(resolver, "sip:slow.academy.ru")
    assert len(dns_server.queries) > asked


async def test_servfail_raises_transient_error(make_resolver: MakeResolver) -> None:
    with pytest.raises(ResolutionError, match="SERVFAIL") as info:
        await resolve(make_resolver(), "sip:broken.academy.ru")
    assert info.value.transient


async def test_timeout_of_one_target_keeps_the_others(make_resolver: MakeResolver) -> None:
    targets = await resolve(make_resolver(timeout=0.5), "sip:mixed.academy.ru")
    assert hostports(targets) == ["udp:127.0.0.10:5090"]


# -- cache ------------------------------------------------------------------------------------


async def test_cache_hit_asks_nothing(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    resolver = make_resolver()
    first = await resolve(resolver, "sip:probability.org")
    asked = len(dns_server.queries)
    assert asked > 0
    assert await resolve(resolver, "sip:probability.org") == first
    assert len(dns_server.queries) == asked


async def test_cache_respects_ttl(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    now = [1000.0]
    resolver = make_resolver(clock=lambda: now[0])
    await resolve(resolver, "sip:plain.academy.ru:5060")
    now[0] += 299
    await resolve(resolver, "sip:plain.academy.ru:5060")
    assert dns_server.asked("plain.academy.ru", "A") == 1
    now[0] += 2  # past the 300 s TTL
    await resolve(resolver, "sip:plain.academy.ru:5060")
    assert dns_server.asked("plain.academy.ru", "A") == 2
    # TTL 0 is never cached.
    for _ in range(2):
        await resolve(resolver, "sip:short.academy.ru:5060")
    assert dns_server.asked("short.academy.ru", "A") == 2


async def test_negative_answers_are_cached_for_the_soa_minimum(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    now = [0.0]
    resolver = make_resolver(clock=lambda: now[0])
    for _ in range(2):
        with pytest.raises(ResolutionError):
            await resolve(resolver, "sip:nowhere.academy.ru")
    assert dns_server.asked("nowhere.academy.ru") == 1
    now[0] += 61  # SOA MINIMUM is 60
    with pytest.raises(ResolutionError):
        await resolve(resolver, "sip:nowhere.academy.ru")
    assert dns_server.asked("nowhere.academy.ru") == 2


async def test_cache_is_bounded(dns_server: ZoneServer, make_resolver: MakeResolver) -> None:
    resolver = make_resolver(cache_size=3)
    await resolve(resolver, "sip:probability.org")
    assert resolver.cached_entries == 3
    resolver.clear_cache()
    assert resolver.cached_entries == 0
    uncached = make_resolver(cache_size=0)
    await resolve(uncached, "sip:plain.academy.ru:5060")
    await resolve(uncached, "sip:plain.academy.ru:5060")
    assert dns_server.asked("plain.academy.ru", "A") == 2


async def test_concurrent_resolutions_share_queries(
    dns_server: ZoneServer, make_resolver: MakeResolver
) -> None:
    resolver = make_resolver()
    results = await asyncio.gather(*(resolve(resolver, "sip:academy.ru") for _ in range(5)))
    assert all(len(r) == len(results[0]) for r in results)
    assert len(dns_server.queries) == len(set(dns_server.queries))
