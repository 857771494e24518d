"""The pure parts of the SDK's connectivity: backoff delays and granted expiry."""

from __future__ import annotations

import random

from parley.client.connectivity import ReconnectPolicy, granted_expires
from parley.sip.syntax import Response, parse_message


def take(policy: ReconnectPolicy, count: int, seed: int = 7) -> list[float]:
    delays = policy.delays(random.Random(seed))
    return [next(delays) for _ in range(count)]


def test_backoff_doubles_up_to_the_cap_with_jitter_below_each_step() -> None:
    policy = ReconnectPolicy(initial=1.0, maximum=8.0, multiplier=2.0, jitter=0.5)
    steps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for delay, step in zip(take(policy, len(steps)), steps, strict=True):
        assert step / 2 <= delay <= step


def test_backoff_without_jitter_is_exact() -> None:
    policy = ReconnectPolicy(initial=0.5, maximum=3.0, jitter=0.0)
    assert take(policy, 5) == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_spreads_clients_apart() -> None:
    policy = ReconnectPolicy()
    assert len({round(take(policy, 1, seed)[0], 6) for seed in range(20)}) > 10


CONTACT = "<sip:alice@127.0.0.1:5070;transport=tcp>"


def ok(*headers: str) -> Response:
    head = "\r\n".join(
        [
            "SIP/2.0 200 OK",
            "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1",
            "From: <sip:alice@example.com>;tag=1",
            "To: <sip:alice@example.com>;tag=2",
            "Call-ID: c1",
            "CSeq: 2 REGISTER",
            *headers,
            "Content-Length: 0",
        ]
    )
    message = parse_message((head + "\r\n\r\n").encode())
    assert isinstance(message, Response)
    return message


def test_granted_expiry_prefers_our_contact_then_expires_then_what_we_asked() -> None:
    other = "Contact: <sip:alice@10.0.0.9:5060>;expires=30"
    ours = f"Contact: {CONTACT};expires=120"
    assert granted_expires(ok(other, ours, "Expires: 900"), CONTACT, 600) == 120
    assert granted_expires(ok(other, "Expires: 900"), CONTACT, 600) == 900
    assert granted_expires(ok(other), CONTACT, 600) == 600
