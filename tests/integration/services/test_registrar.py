"""The registrar (RFC 3261 §10.3, RFC 3327, RFC 5626) over real loopback UDP and TCP.

A server Endpoint routes REGISTER to a Registrar backed by SqliteStorage; client Endpoints
send REGISTERs built with ``build_request`` and answer the Digest challenges with
``build_authorization``. Time as the registrar sees it is a ``FakeClock`` the tests move by
hand; nothing sleeps and nothing asserts how long anything took. The harness at the top is
shared with ``test_auth.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from parley.runtime.endpoint import Endpoint, ServerRequest
from parley.runtime.transports import Listener, ListenSpec
from parley.services.auth import DigestAuthenticator, make_account
from parley.services.registrar import Registrar, flow_of, peer_of_flow
from parley.services.storage.interface import Binding
from parley.services.storage.sqlite import SqliteStorage
from parley.sip.auth.challenge import (
    DigestChallenge,
    DigestCredentials,
    parse_challenges,
    serialize_credentials,
)
from parley.sip.auth.digest import build_authorization, choose_challenges
from parley.sip.core.uac import build_request
from parley.sip.core.uas import UasPolicy
from parley.sip.syntax import Request, Response
from parley.sip.transport.address import Peer

DOMAIN = "example.com"
REGISTRAR_URI = f"sip:{DOMAIN}"
PASSWORDS = {"alice": "wonderland", "bob": "builder"}
#: Every wait on the network is bounded, so a broken build fails instead of hanging.
WAIT = 10.0


class FakeClock:
    """Wall-clock seconds for the registrar and authenticator, moved only by the test."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Server:
    endpoint: Endpoint
    registrar: Registrar
    authenticator: DigestAuthenticator
    storage: SqliteStorage
    clock: FakeClock
    listeners: list[Listener]
    closed_flows: list[Peer] = field(default_factory=list)

    def peer(self, transport: str) -> Peer:
        for listener in self.listeners:
            if listener.transport == transport:
                return Peer(transport, listener.host, listener.port)
        raise LookupError(transport)

    async def bindings(self, aor: str = f"alice@{DOMAIN}") -> list[Binding]:
        return await self.storage.get_bindings(aor, self.clock())


@contextlib.asynccontextmanager
async def running_server(tmp_path: Path, **auth_options: Any) -> AsyncIterator[Server]:
    """A registrar on 127.0.0.1 (UDP and TCP) for example.com, with alice and bob.

    REGISTER goes to the registrar; MESSAGE is authenticated as a proxy would (407) and
    OPTIONS as a UAS (401), then answered 200 with the authenticated AOR in a header.
    """
    clock = FakeClock()
    storage = SqliteStorage(tmp_path / "parley.db")
    await storage.open()
    for user, password in PASSWORDS.items():
        await storage.add_account(make_account(f"{user}@{DOMAIN}", password))
    authenticator = DigestAuthenticator(storage, clock=clock, **auth_options)
    registrar = Registrar(storage, authenticator, [DOMAIN], clock=clock)
    tasks: set[asyncio.Task[Any]] = set()

    async def handle(incoming: ServerRequest) -> None:
        method = incoming.request.method
        if method == "REGISTER":
            await registrar.handle(incoming)
            return
        who = await authenticator.authenticate(incoming, proxy=method == "MESSAGE")
        if who is not None:
            incoming.respond(200, headers=[("X-Authenticated", who)])

    def connection_closed(peer: Peer, local: Listener) -> None:
        running.closed_flows.append(peer)
        task = asyncio.get_running_loop().create_task(registrar.on_connection_closed(peer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    policy = UasPolicy(
        allow=frozenset({"REGISTER", "MESSAGE", "OPTIONS", "ACK", "CANCEL"}),
        supported=frozenset({"path", "outbound"}),
    )
    endpoint = Endpoint(handle, policy=policy, on_connection_closed=connection_closed)
    listeners = await endpoint.start(
        [ListenSpec("udp", "127.0.0.1", 0), ListenSpec("tcp", "127.0.0.1", 0)]
    )
    running = Server(endpoint, registrar, authenticator, storage, clock, listeners)
    try:
        yield running
    finally:
        await endpoint.close()
        for task in list(tasks):
            with contextlib.suppress(Exception):
                await task
        await storage.close()


def challenges_of(response: Response, proxy: bool = False) -> list[DigestChallenge]:
    name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    return [c for value in response.headers.get_all(name) for c in parse_challenges(value)]


@dataclass
class Client:
    """A UA registering one user over one transport from one local address."""

    endpoint: Endpoint
    server: Peer
    user: str = "alice"
    call_id: str = ""
    cseq: int = 0
    from_tag: str = ""
    cnonce_count: int = 0
    last_challenge: DigestChallenge | None = None
    last_credentials: DigestCredentials | None = None
    last_request: Request | None = None

    def __post_init__(self) -> None:
        ids = self.endpoint.stack.ids
        self.call_id = self.call_id or ids.call_id()
        self.from_tag = ids.tag()

    @property
    def transport(self) -> str:
        return self.server.transport

    def build(
        self,
        method: str = "REGISTER",
        *,
        contacts: Sequence[str] = (),
        expires: int | None = None,
        headers: Iterable[tuple[str, str]] = (),
        to: str | None = None,
        cseq: int | None = None,
        from_user: str | None = None,
        uri: str = REGISTRAR_URI,
    ) -> Request:
        """The next request of this UA (CSeq goes up unless given)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        else:
            self.cseq = cseq
        fields = [("Contact", c) for c in contacts]
        if expires is not None:
            fields.append(("Expires", str(expires)))
        fields.extend(headers)
        aor = f"sip:{from_user or self.user}@{DOMAIN}"
        return build_request(
            method,
            uri,
            from_=f"<{aor}>;tag={self.from_tag}",
            to=to or f"<sip:{self.user}@{DOMAIN}>",
            sent_by=self.endpoint.sent_by(self.transport),
            ids=self.endpoint.stack.ids,
            cseq=cseq,
            call_id=self.call_id,
            headers=fields,
        )

    async def send(self, request: Request) -> Response:
        self.last_request = request
        return await asyncio.wait_for(self.endpoint.request(request, self.server), WAIT)

    def credentials(
        self,
        challenge: DigestChallenge,
        method: str,
        uri: str,
        *,
        username: str | None = None,
        password: str | None = None,
        nc: int = 1,
    ) -> DigestCredentials:
        self.cnonce_count += 1
        return build_authorization(
            challenge,
            username or self.user,
            PASSWORDS.get(self.user, "") if password is None else password,
            method,
            uri,
            f"cnonce{self.cnonce_count}",
            nc,
        )

    async def request(
        self,
        method: str = "REGISTER",
        *,
        username: str | None = None,
        password: str | None = None,
        algorithms: Sequence[str] | None = None,
        **build: Any,
    ) -> Response:
        """Send, and answer one 401/407 with credentials (RFC 3261 §22.2, §22.3).

        ``algorithms`` restricts what this UA understands (an MD5-only UA passes
        ``("MD5",)``); it takes the topmost challenge it supports (RFC 8760 §2.4).
        """
        response = await self.send(self.build(method, **build))
        if response.status not in (401, 407):
            return response
        proxy = response.status == 407
        offered = challenges_of(response, proxy)
        if algorithms is not None:
            wanted = {a.lower() for a in algorithms}
            offered = [c for c in offered if (c.algorithm or "MD5").lower() in wanted]
        (challenge,) = choose_challenges(offered)
        self.last_challenge = challenge
        uri = build.get("uri", REGISTRAR_URI)
        credentials = self.credentials(challenge, method, uri, username=username, password=password)
        self.last_credentials = credentials
        name = "Proxy-Authorization" if proxy else "Authorization"
        headers = [*build.pop("headers", ()), (name, serialize_credentials(credentials))]
        build.pop("cseq", None)
        return await self.send(self.build(method, headers=headers, **build))

    async def register(self, *contacts: str, **options: Any) -> Response:
        return await self.request("REGISTER", contacts=contacts, **options)


@contextlib.asynccontextmanager
async def client_endpoint(
    transport: str = "udp", host: str = "127.0.0.1"
) -> AsyncIterator[Endpoint]:
    """A UA endpoint bound to ``host`` (127.0.0.2 is a second source address on Linux)."""

    def refuse(incoming: ServerRequest) -> None:
        incoming.respond(405)

    endpoint = Endpoint(refuse)
    await endpoint.start([ListenSpec(transport, host, 0)])
    try:
        yield endpoint
    finally:
        await endpoint.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running_server(tmp_path) as running:
        yield running


@pytest.fixture
async def alice(server: Server) -> AsyncIterator[Client]:
    async with client_endpoint() as endpoint:
        yield Client(endpoint, server.peer("udp"))


def contacts_of(response: Response) -> list[tuple[str, dict[str, str | None]]]:
    """The 200's bindings: URI text and header parameters, in order."""
    return [(str(c.uri), dict(c.params)) for c in response.contacts]


A = "<sip:alice@192.0.2.1:5060>"
B = "<sip:alice@192.0.2.2:5060;transport=tcp>"


# -- §10.3: add, refresh, query, remove ------------------------------------------------------


async def test_register_refresh_query_and_remove(server: Server, alice: Client) -> None:
    response = await alice.register(A, expires=600)
    assert response.status == 200
    assert contacts_of(response) == [("sip:alice@192.0.2.1:5060", {"expires": "600"})]
    # §10.3 step 8: the 200 SHOULD carry a Date header.
    assert (response.headers.get("Date") or "").endswith(" GMT")
    (binding,) = await server.bindings()
    assert binding.expires_at == server.clock() + 600
    assert binding.call_id == alice.call_id and binding.cseq == alice.cseq
    assert binding.flow == ""  # UDP: no connection to ride
    assert binding.source.startswith("udp:127.0.0.1:")

    server.clock.advance(100)
    response = await alice.register(A, expires=1200)
    assert contacts_of(response) == [("sip:alice@192.0.2.1:5060", {"expires": "1200"})]

    server.clock.advance(200)
    query = await alice.register()  # no Contact: a query (§10.2.3)
    assert query.status == 200
    assert contacts_of(query) == [("sip:alice@192.0.2.1:5060", {"expires": "1000"})]

    removed = await alice.register(A, expires=0)
    assert removed.status == 200
    assert removed.contacts == []
    assert await server.bindings() == []


async def test_contact_expires_parameter_overrides_the_header(
    server: Server, alice: Client
) -> None:
    response = await alice.register(f"{A};expires=120", B, expires=900)
    assert response.status == 200
    expires = {uri: params["expires"] for uri, params in contacts_of(response)}
    assert expires == {
        "sip:alice@192.0.2.1:5060": "120",
        "sip:alice@192.0.2.2:5060;transport=tcp": "900",
    }
    # Neither given: the registrar's default (3600 here).
    response = await alice.register("<sip:alice@192.0.2.3>")
    expires = {uri: params["expires"] for uri, params in contacts_of(response)}
    assert expires["sip:alice@192.0.2.3"] == "3600"


async def test_removing_one_contact_keeps_the_others(server: Server, alice: Client) -> None:
    await alice.register(A, B, expires=600)
    response = await alice.register(f"{B};expires=0")
    assert [uri for uri, _ in contacts_of(response)] == ["sip:alice@192.0.2.1:5060"]


async def test_refresh_matches_contacts_by_uri_comparison(server: Server, alice: Client) -> None:
    # §19.1.4: host case does not matter, nor a parameter only one side has (other than
    # user, ttl, method, maddr, transport), so these refresh one binding.
    await alice.register("<sip:alice@PC33.example.com>", expires=600)
    response = await alice.register("<sip:alice@pc33.example.com>", expires=700)
    assert contacts_of(response) == [("sip:alice@pc33.example.com", {"expires": "700"})]
    response = await alice.register("<sip:alice@pc33.example.com;lr>", expires=800)
    assert len(response.contacts) == 1
    # A different transport is a different contact.
    response = await alice.register("<sip:alice@pc33.example.com;transport=tcp>", expires=800)
    assert len(response.contacts) == 2


async def test_star_removes_every_binding(server: Server, alice: Client) -> None:
    await alice.register(A, B, expires=600)
    assert len(await server.bindings()) == 2
    response = await alice.register("*", expires=0)
    assert response.status == 200
    assert response.contacts == []
    assert await server.bindings() == []


@pytest.mark.parametrize(
    ("contacts", "expires"),
    [
        (("*",), 300),  # §10.3 step 6: "*" needs Expires: 0 ...
        (("*",), None),
        (("*", A), 0),  # ... and must stand alone
    ],
)
async def test_star_misuse_is_refused(
    server: Server, alice: Client, contacts: tuple[str, ...], expires: int | None
) -> None:
    await alice.register(A, expires=600)
    response = await alice.register(*contacts, expires=expires)
    assert response.status == 400
    assert len(await server.bindings()) == 1


# -- §10.3 step 7: expiry bounds -----------------------------------------------------------


async def test_interval_too_brief(server: Server, alice: Client) -> None:
    response = await alice.register(A, expires=10)
    assert response.status == 423
    assert response.headers.get("Min-Expires") == "60"
    assert await server.bindings() == []
    response = await alice.register(f"{A};expires=30", expires=600)
    assert response.status == 423


async def test_long_intervals_are_shortened_to_the_maximum(server: Server, alice: Client) -> None:
    response = await alice.register(A, expires=999_999)
    assert response.status == 200
    assert contacts_of(response)[0][1]["expires"] == "3600"
    # RFC 4475 scalar02: an Expires beyond 2**32-1 is treated as absent.
    response = await alice.register(A, expires=2**40)
    assert response.status == 200
    assert contacts_of(response)[0][1]["expires"] == "3600"


async def test_expired_bindings_vanish_and_expire_reclaims_them(
    server: Server, alice: Client
) -> None:
    await alice.register(A, expires=60)
    await alice.register(B, expires=600)
    server.clock.advance(61)
    query = await alice.register()
    assert [uri for uri, _ in contacts_of(query)] == ["sip:alice@192.0.2.2:5060;transport=tcp"]
    dropped = await server.registrar.expire()
    assert [b.contact for b in dropped] == ["sip:alice@192.0.2.1:5060"]


# -- §10.3 step 7: Call-ID and CSeq ordering ---------------------------------------------------


async def test_out_of_order_register_of_the_same_call_id_fails(
    server: Server, alice: Client
) -> None:
    await alice.register(A, expires=600, cseq=10)
    stored = alice.cseq
    # A late, older REGISTER of the same Call-ID must not undo the newer one.
    late = await alice.register(A, expires=0, cseq=5)
    assert late.status == 500
    (binding,) = await server.bindings()
    assert binding.cseq == stored
    # A higher CSeq goes through.
    removed = await alice.register(A, expires=0, cseq=stored + 10)
    assert removed.status == 200
    assert await server.bindings() == []


async def test_star_respects_cseq_order_too(server: Server, alice: Client) -> None:
    await alice.register(A, expires=600, cseq=10)
    assert (await alice.register("*", expires=0, cseq=3)).status == 500
    assert len(await server.bindings()) == 1


async def test_another_call_id_may_update_with_any_cseq(server: Server, alice: Client) -> None:
    await alice.register(A, expires=600, cseq=50)
    async with client_endpoint() as endpoint:
        other = Client(endpoint, server.peer("udp"))  # a new Call-ID (e.g. after a reboot)
        response = await other.register(A, expires=900, cseq=1)
    assert response.status == 200
    (binding,) = await server.bindings()
    assert binding.call_id == other.call_id
    assert binding.expires_at == server.clock() + 900


# -- q values and contact parameters -----------------------------------------------------------


async def test_bindings_are_listed_highest_q_first(server: Server, alice: Client) -> None:
    response = await alice.register(
        "<sip:alice@192.0.2.10>;q=0.1",
        "<sip:alice@192.0.2.11>;q=0.9",
        "<sip:alice@192.0.2.12>",
        expires=600,
    )
    assert response.status == 200
    assert contacts_of(response) == [
        ("sip:alice@192.0.2.12", {"expires": "600"}),
        ("sip:alice@192.0.2.11", {"q": "0.9", "expires": "600"}),
        ("sip:alice@192.0.2.10", {"q": "0.1", "expires": "600"}),
    ]
    assert [b.q for b in await server.bindings()] == [1.0, 0.9, 0.1]


@pytest.mark.parametrize("q", ["1.5", "abc", "0.1234", "-1"])
async def test_malformed_q_is_refused(server: Server, alice: Client, q: str) -> None:
    response = await alice.register(f"{A};q={q}", expires=600)
    assert response.status == 400
    assert await server.bindings() == []


async def test_cparam01_header_parameter_is_not_a_uri_parameter(
    server: Server, alice: Client
) -> None:
    # RFC 4475 §3.3.12: without <>, ";unknownparam" is a contact-param. It must not show up
    # as a url-parameter of the binding, now or in later fetches.
    response = await alice.register("sip:+19725552222@gw1.example.net;unknownparam")
    assert response.status == 200
    assert [uri for uri, _ in contacts_of(response)] == ["sip:+19725552222@gw1.example.net"]
    (binding,) = await server.bindings()
    assert binding.contact == "sip:+19725552222@gw1.example.net"
    query = await alice.register()
    assert [uri for uri, _ in contacts_of(query)] == ["sip:+19725552222@gw1.example.net"]


async def test_cparam02_uri_parameter_is_kept(server: Server, alice: Client) -> None:
    # RFC 4475 §3.3.13: inside <> the parameter belongs to the URI and is kept with it.
    response = await alice.register("<sip:+19725552222@gw1.example.net;unknownparam>")
    assert response.status == 200
    (contact,) = response.contacts
    assert str(contact.uri) == "sip:+19725552222@gw1.example.net;unknownparam"
    assert "unknownparam" not in contact.params
    query = await alice.register()
    assert str(query.contacts[0].uri) == "sip:+19725552222@gw1.example.net;unknownparam"


async def test_regescrt_escaped_uri_header_is_kept_as_sent(server: Server, alice: Client) -> None:
    # RFC 4475 §3.3.14: the escaped header is part of the contact and comes back as sent.
    contact = "sip:user@example.com?Route=%3Csip:sip.example.com%3E"
    response = await alice.register(f"<{contact}>")
    assert response.status == 200
    assert str(response.contacts[0].uri) == contact


# -- To, domains and authorisation ----------------------------------------------------------


async def test_to_must_be_a_sip_uri(server: Server, alice: Client) -> None:
    # RFC 4475 unksm2: a REGISTER whose To is not a SIP URI is a 400.
    response = await alice.register(A, to="<tel:+15551234567>")
    assert response.status == 400


async def test_to_outside_our_domains_is_not_found(server: Server, alice: Client) -> None:
    response = await alice.register(A, to="<sip:alice@elsewhere.example.org>")
    assert response.status == 404


async def test_only_the_owner_may_register_an_aor(server: Server, alice: Client) -> None:
    # Alice proves her password but asks to bind Bob's AOR: §10.3 step 4, 403.
    response = await alice.register(A, to=f"<sip:bob@{DOMAIN}>")
    assert response.status == 403
    assert await server.bindings(f"bob@{DOMAIN}") == []


# -- Path (RFC 3327) ----------------------------------------------------------------------


async def test_path_without_support_gets_420(server: Server, alice: Client) -> None:
    response = await alice.register(A, headers=[("Path", "<sip:edge.example.com;lr>")])
    assert response.status == 420
    assert response.headers.get("Unsupported") == "path"


async def test_path_is_stored_and_echoed(server: Server, alice: Client) -> None:
    path = ["<sip:p1.example.net;lr>", "<sip:p3.example.com;lr>"]
    response = await alice.register(
        A,
        expires=600,
        headers=[("Supported", "path"), ("Path", path[0]), ("Path", path[1])],
    )
    assert response.status == 200
    assert response.headers.values("Path") == path
    (binding,) = await server.bindings()
    assert binding.path == tuple(path)


# -- outbound (RFC 5626) and flows ------------------------------------------------------------

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"


async def test_outbound_registration_over_tcp_records_instance_reg_id_and_flow(
    server: Server,
) -> None:
    async with client_endpoint("tcp") as endpoint:
        ua = Client(endpoint, server.peer("tcp"))
        first = f'<sip:alice@192.0.2.2;transport=tcp;ob>;+sip.instance="{INSTANCE}";reg-id=1'
        response = await ua.register(first, expires=600, headers=[("Supported", "path, outbound")])
        assert response.status == 200
        assert response.headers.get("Require") == "outbound"
        ((uri, params),) = contacts_of(response)
        assert uri == "sip:alice@192.0.2.2;transport=tcp;ob"
        assert params["+sip.instance"] == f'"{INSTANCE}"'
        assert params["reg-id"] == "1"
        (binding,) = await server.bindings()
        assert (binding.instance, binding.reg_id) == (INSTANCE, 1)
        # The flow names the server's side of this connection, so that requests for
        # Alice can go back over it.
        flow_peer = peer_of_flow(binding.flow)
        assert flow_of(flow_peer) == binding.flow
        assert (flow_peer.transport, flow_peer.host) == ("tcp", "127.0.0.1")
        assert flow_peer.conn_id > 0

        # RFC 5626 §6: the binding is (AOR, instance, reg-id), whatever the Contact URI.
        moved = f'<sip:alice@192.0.2.9;transport=tcp;ob>;+sip.instance="{INSTANCE}";reg-id=1'
        response = await ua.register(moved, expires=600, headers=[("Supported", "outbound")])
        assert [uri for uri, _ in contacts_of(response)] == ["sip:alice@192.0.2.9;transport=tcp;ob"]


async def test_two_reg_id_contacts_in_one_register_are_refused(
    server: Server, alice: Client
) -> None:
    response = await alice.register(
        f'<sip:alice@192.0.2.2>;+sip.instance="{INSTANCE}";reg-id=1',
        f'<sip:alice@192.0.2.3>;+sip.instance="{INSTANCE}";reg-id=2',
        expires=600,
        headers=[("Supported", "outbound")],
    )
    assert response.status == 400


async def test_reg_id_without_instance_is_ignored(server: Server, alice: Client) -> None:
    response = await alice.register(f"{A};reg-id=1", expires=600)
    assert response.status == 200
    assert response.headers.get("Require") is None
    (binding,) = await server.bindings()
    assert binding.reg_id is None


async def test_binding_is_dropped_when_its_tcp_connection_closes(server: Server) -> None:
    async with client_endpoint("tcp") as endpoint:
        ua = Client(endpoint, server.peer("tcp"))
        response = await ua.register("<sip:alice@192.0.2.2;transport=tcp>", expires=600)
        assert response.status == 200
        (binding,) = await server.bindings()
        assert binding.flow.startswith("tcp:127.0.0.1:")
    # The client endpoint is closed: its connection goes, and with it the binding (RFC 5626
    # §7). Poll with a generous bound: this waits for an event, it does not time one.
    async with asyncio.timeout(WAIT):
        while await server.bindings():
            await asyncio.sleep(0.01)
    assert server.closed_flows


async def test_udp_bindings_survive_tcp_closures(server: Server, alice: Client) -> None:
    await alice.register(A, expires=600)
    assert await server.registrar.on_connection_closed(Peer("tcp", "127.0.0.1", 9, 1)) == []
    assert await server.registrar.on_connection_closed(Peer("udp", "127.0.0.1", 9)) == []
    assert len(await server.bindings()) == 1


@pytest.mark.parametrize(
    "peer",
    [Peer("tcp", "127.0.0.1", 5060, 7), Peer("wss", "2001:db8::1", 443, 12)],
)
def test_flow_names_round_trip(peer: Peer) -> None:
    assert peer_of_flow(flow_of(peer)) == peer


async def test_one_instance_on_two_flows_keeps_two_bindings(server: Server) -> None:
    contact = "<sip:alice@192.0.2.2;transport=tcp;ob>"
    async with client_endpoint("tcp") as first, client_endpoint("tcp") as second:
        for endpoint, reg_id in ((first, 1), (second, 2)):
            ua = Client(endpoint, server.peer("tcp"))
            response = await ua.register(
                f'{contact};+sip.instance="{INSTANCE}";reg-id={reg_id}',
                expires=600,
                headers=[("Supported", "outbound")],
            )
            assert response.status == 200
        assert sorted(b.reg_id or 0 for b in await server.bindings()) == [1, 2]
