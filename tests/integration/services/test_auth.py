"""Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760) and its throttling, over real
loopback UDP: the registrar's 401s, a proxy's 407s, and lock-outs of guessing sources.

Clients answer challenges with ``build_authorization``. The nonce clock and the throttle
clock are the harness's ``FakeClock``; nothing sleeps. A second source address is
127.0.0.2, which Linux routes over the loopback interface like 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_registrar import (
    DOMAIN,
    REGISTRAR_URI,
    Client,
    Server,
    challenges_of,
    client_endpoint,
    running_server,
)

from parley.services.throttle import ThrottleConfig
from parley.sip.auth.challenge import DigestChallenge, serialize_credentials

A = "<sip:alice@192.0.2.1:5060>"
LOCKOUT = 300.0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    config = ThrottleConfig(
        window=60.0, ip_threshold=8, user_threshold=4, pair_threshold=3, lockout=LOCKOUT
    )
    async with running_server(tmp_path, throttle_config=config) as running:
        yield running


@pytest.fixture
async def alice(server: Server) -> AsyncIterator[Client]:
    async with client_endpoint() as endpoint:
        yield Client(endpoint, server.peer("udp"))


# -- challenges ------------------------------------------------------------------------------


async def test_challenge_offers_sha256_then_md5_with_qop_auth(
    server: Server, alice: Client
) -> None:
    response = await alice.send(alice.build(contacts=[A]))
    assert response.status == 401
    challenges = challenges_of(response)
    # RFC 8760 §2.3: one challenge per algorithm, most preferred first; §2.6 item 8: qop.
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert all(c.realm == DOMAIN and c.qop == ("auth",) and not c.stale for c in challenges)
    assert len({c.nonce for c in challenges}) == 2


async def test_sha256_client_registers(server: Server, alice: Client) -> None:
    response = await alice.register(A)
    assert response.status == 200
    assert alice.last_credentials is not None
    # The topmost supported challenge is taken (RFC 8760 §2.4).
    assert alice.last_credentials.algorithm == "SHA-256"
    assert len(alice.last_credentials.response) == 64


async def test_md5_only_client_registers(server: Server, alice: Client) -> None:
    response = await alice.register(A, algorithms=("MD5",))
    assert response.status == 200
    assert alice.last_credentials is not None
    assert alice.last_credentials.algorithm == "MD5"


async def test_server_offering_only_sha256_refuses_md5_credentials(tmp_path: Path) -> None:
    async with (
        running_server(tmp_path, algorithms=("SHA-256",)) as server,
        client_endpoint() as endpoint,
    ):
        ua = Client(endpoint, server.peer("udp"))
        first = await ua.send(ua.build(contacts=[A]))
        assert [c.algorithm for c in challenges_of(first)] == ["SHA-256"]
        # A downgrade: MD5 credentials for the SHA-256 nonce. Not offered, so challenged.
        md5 = dataclasses.replace(challenges_of(first)[0], algorithm="MD5")
        credentials = ua.credentials(md5, "REGISTER", REGISTRAR_URI)
        response = await ua.send(
            ua.build(contacts=[A], headers=[("Authorization", serialize_credentials(credentials))])
        )
        assert response.status == 401


async def test_wrong_password_is_challenged_again(server: Server, alice: Client) -> None:
    response = await alice.register(A, password="not-wonderland")
    assert response.status == 401
    assert [c.algorithm for c in challenges_of(response)] == ["SHA-256", "MD5"]
    assert not any(c.stale for c in challenges_of(response))
    assert await server.bindings() == []


async def test_unknown_user_gets_the_same_challenge_as_a_known_one(server: Server) -> None:
    def shape(challenges: list[DigestChallenge]) -> list[DigestChallenge]:
        # Everything but the nonce, which is fresh every time.
        return [dataclasses.replace(c, nonce="") for c in challenges]

    async with client_endpoint() as endpoint:
        known = Client(endpoint, server.peer("udp"), user="alice")
        unknown = Client(endpoint, server.peer("udp"), user="mallory")
        known_first = await known.send(known.build(contacts=[A]))
        unknown_first = await unknown.send(unknown.build(contacts=[A]))
        assert known_first.status == unknown_first.status == 401
        assert shape(challenges_of(known_first)) == shape(challenges_of(unknown_first))

        # And after credentials: a wrong password and an unknown user read alike.
        wrong = await known.register(A, password="guess")
        nobody = await unknown.register(A, password="guess")
        assert (wrong.status, wrong.reason) == (401, "Unauthorized")
        assert (nobody.status, nobody.reason) == (401, "Unauthorized")
        assert shape(challenges_of(wrong)) == shape(challenges_of(nobody))


async def test_digest_uri_must_match_the_request_uri(server: Server, alice: Client) -> None:
    first = await alice.send(alice.build(contacts=[A]))
    (challenge, _) = challenges_of(first)
    credentials = alice.credentials(challenge, "REGISTER", "sip:other.example.com")
    response = await alice.send(
        alice.build(contacts=[A], headers=[("Authorization", serialize_credentials(credentials))])
    )
    assert response.status == 400


# -- nonces: stale and replayed ---------------------------------------------------------------


async def test_expired_nonce_gets_stale_true(server: Server, alice: Client) -> None:
    assert (await alice.register(A)).status == 200
    challenge = alice.last_challenge
    assert challenge is not None
    server.clock.advance(301)  # past the default nonce lifetime of 300 s
    credentials = alice.credentials(challenge, "REGISTER", REGISTRAR_URI, nc=2)
    response = await alice.send(
        alice.build(contacts=[A], headers=[("Authorization", serialize_credentials(credentials))])
    )
    assert response.status == 401
    assert all(c.stale for c in challenges_of(response))
    # The client answers the fresh nonce without asking its user, and gets in.
    assert (await alice.register(A)).status == 200


async def test_replayed_nonce_count_is_rejected(server: Server, alice: Client) -> None:
    assert (await alice.register(A)).status == 200
    assert alice.last_credentials is not None
    replayed = serialize_credentials(alice.last_credentials)  # same nonce, same nc
    response = await alice.send(alice.build(contacts=[A], headers=[("Authorization", replayed)]))
    assert response.status == 401
    assert all(c.stale for c in challenges_of(response))
    # The nonce is still good with a higher count (RFC 7616 §3.4).
    challenge = alice.last_challenge
    assert challenge is not None
    credentials = alice.credentials(challenge, "REGISTER", REGISTRAR_URI, nc=2)
    fresh = await alice.send(
        alice.build(contacts=[A], headers=[("Authorization", serialize_credentials(credentials))])
    )
    assert fresh.status == 200


# -- 407 for proxied requests and the From identity check -----------------------------------


async def test_proxy_challenge_and_from_identity(server: Server, alice: Client) -> None:
    uri = f"sip:bob@{DOMAIN}"
    response = await alice.request("MESSAGE", uri=uri, to=f"<{uri}>")
    assert response.status == 200
    assert response.headers.get("X-Authenticated") == f"alice@{DOMAIN}"
    assert alice.last_credentials is not None
    assert alice.last_request is not None
    assert "Proxy-Authorization" in alice.last_request.headers

    # Bob's password proves Bob, but the MESSAGE claims to come from Alice: 403.
    spoof = await alice.request(
        "MESSAGE", uri=uri, to=f"<{uri}>", username="bob", password="builder"
    )
    assert spoof.status == 403


async def test_uas_challenge_uses_401(server: Server, alice: Client) -> None:
    first = await alice.send(alice.build("OPTIONS", uri=f"sip:{DOMAIN}"))
    assert first.status == 401
    assert "Proxy-Authenticate" not in first.headers
    response = await alice.request("OPTIONS", uri=f"sip:{DOMAIN}")
    assert response.status == 200


# -- throttling ------------------------------------------------------------------------------


async def test_guessing_ip_is_locked_out_for_the_user_but_the_user_is_not(
    server: Server, alice: Client
) -> None:
    async with client_endpoint(host="127.0.0.2") as endpoint:
        attacker = Client(endpoint, server.peer("udp"), user="alice")
        # pair_threshold=3 wrong guesses for alice from 127.0.0.2 ...
        statuses = [(await attacker.register(A, password=f"guess{i}")).status for i in range(3)]
        assert statuses == [401, 401, 403]
        # ... and now even the right password from there is refused,
        assert (await attacker.register(A)).status == 403
        # while 127.0.0.2 may still sign in as someone else,
        bob = Client(endpoint, server.peer("udp"), user="bob")
        assert (await bob.register("<sip:bob@192.0.2.7>")).status == 200
        # and the real alice, elsewhere, is not affected.
        assert (await alice.register(A)).status == 200

        # The lock-out ends.
        server.clock.advance(LOCKOUT + 1)
        assert (await attacker.register(A)).status == 200


async def test_distributed_guessing_locks_only_the_attacking_addresses(
    server: Server, alice: Client
) -> None:
    async with (
        client_endpoint(host="127.0.0.2") as first,
        client_endpoint(host="127.0.0.3") as second,
    ):
        one = Client(first, server.peer("udp"), user="alice")
        two = Client(second, server.peer("udp"), user="alice")
        # Two addresses, each below pair_threshold=3, together reach user_threshold=4.
        for client in (one, two, one, two):
            await client.register(A, password="guess")
        assert (await one.register(A)).status == 403
        assert (await two.register(A)).status == 403
        assert (await alice.register(A)).status == 200


async def test_ip_guessing_many_users_is_locked_out_completely(
    server: Server, alice: Client
) -> None:
    async with client_endpoint(host="127.0.0.2") as endpoint:
        # ip_threshold=8 failures, spread over users so no per-user limit trips first.
        for i in range(8):
            guesser = Client(endpoint, server.peer("udp"), user=f"user{i}")
            await guesser.register(f"<sip:user{i}@192.0.2.1>", password="guess")
        bob = Client(endpoint, server.peer("udp"), user="bob")
        response = await bob.send(bob.build(contacts=["<sip:bob@192.0.2.7>"]))
        # Refused before any challenge: the address is shut out for everyone.
        assert response.status == 403
    assert (await alice.register(A)).status == 200
