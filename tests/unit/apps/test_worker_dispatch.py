"""``worker_for``: which process of ``parley serve --workers N`` handles a SIP message,
decided from its bytes before parsing (responses by the branch prefix of their top Via,
MESSAGEs to online local users by the hash of their nonce or Call-ID, the rest by process 0).
"""

from __future__ import annotations

import zlib

import pytest

from parley.apps.workers import branch_prefix, worker_for

BOB = b"sip:bob@example.com"


def always(uri: bytes) -> bool:
    return True


def never(uri: bytes) -> bool:
    return False


def response(*branches: str, status: bytes = b"200 OK") -> bytes:
    """A response with one Via per branch, the first on top."""
    vias = b"".join(
        b"Via: SIP/2.0/UDP 192.0.2.%d:5060;branch=%s\r\n" % (10 + i, branch.encode())
        for i, branch in enumerate(branches)
    )
    return (
        b"SIP/2.0 " + status + b"\r\n" + vias + b"From: <sip:alice@example.com>;tag=a1\r\n"
        b"To: <sip:bob@example.com>;tag=b1\r\n"
        b"Call-ID: response-call-id\r\n"
        b"CSeq: 7 MESSAGE\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n"
    )


def request(
    call_id: str = "a84b4c76e66710@client.example.com",
    *,
    method: bytes = b"MESSAGE",
    uri: bytes = BOB,
    extra: bytes = b"",
    call_id_name: bytes = b"Call-ID",
    body: bytes = b"hello",
) -> bytes:
    return (
        method + b" " + uri + b" SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK776asdhds\r\n"
        b"Max-Forwards: 70\r\n"
        b"From: <sip:alice@example.com>;tag=1928301774\r\n"
        b"To: <sip:bob@example.com>\r\n"
        + call_id_name
        + b": "
        + call_id.encode()
        + b"\r\n"
        + b"CSeq: 1 "
        + method
        + b"\r\n"
        + extra
        + b"Content-Type: text/plain\r\n"
        + b"Content-Length: %d\r\n" % len(body)
        + b"\r\n"
        + body
    )


def expected(value: str, count: int) -> int:
    return zlib.crc32(value.encode()) % count


def call_id_for(worker: int, count: int, prefix: str = "cid") -> str:
    """The first Call-ID ``prefix-N`` that hashes to ``worker`` of ``count``."""
    for n in range(10_000):
        candidate = f"{prefix}-{n}@client.example.com"
        if expected(candidate, count) == worker:
            return candidate
    raise AssertionError("no Call-ID found")  # pragma: no cover


# -- responses ------------------------------------------------------------------------------


def test_branch_prefix_names_the_worker() -> None:
    assert branch_prefix(1) == "W1-"
    assert branch_prefix(12) == "W12-"


@pytest.mark.parametrize("status", [b"100 Trying", b"200 OK", b"486 Busy Here"])
def test_a_response_goes_to_the_worker_in_its_top_branch(status: bytes) -> None:
    data = response("z9hG4bKW1-0f3a9c2d1e", "z9hG4bKclient", status=status)
    assert worker_for(data, 2, never) == 1
    assert worker_for(data, 3, never) == 1


def test_a_branch_made_with_branch_prefix_comes_back_to_its_worker() -> None:
    for worker in (1, 2, 7, 12):
        data = response(f"z9hG4bK{branch_prefix(worker)}5d8e1f", "z9hG4bKclient")
        assert worker_for(data, 16, never) == worker


@pytest.mark.parametrize(("marker", "count"), [(1, 1), (2, 2), (3, 2), (5, 3), (99, 4)])
def test_a_marker_beyond_the_workers_goes_to_process_0(marker: int, count: int) -> None:
    data = response(f"z9hG4bKW{marker}-0f3a9c2d1e")
    assert worker_for(data, count, never) == 0


@pytest.mark.parametrize(
    "branch",
    [
        "z9hG4bK0f3a9c2d1e",  # ours, process 0's
        "z9hG4bKWx-0f3a9c",  # not a number
        "z9hG4bKW-0f3a9c",  # no number
        "z9hG4bKW1abcdefgh",  # no dash after it
        "z9hG4bKw1-0f3a9c",  # the marker is an upper-case W
        "1",  # RFC 2543 branch
    ],
)
def test_a_response_without_a_worker_marker_goes_to_process_0(branch: str) -> None:
    assert worker_for(response(branch), 2, always) == 0


def test_only_the_top_via_counts() -> None:
    data = response("z9hG4bKprocess0branch", "z9hG4bKW1-0f3a9c2d1e")
    assert worker_for(data, 2, never) == 0


def test_a_response_without_any_branch_goes_to_process_0() -> None:
    data = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060\r\n"
        b"Call-ID: x\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
    )
    assert worker_for(data, 2, always) == 0


# -- MESSAGE requests -------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 3, 5])
def test_a_message_goes_to_the_worker_its_call_id_hashes_to(count: int) -> None:
    for n in range(50):
        call_id = f"{n:08x}deadbeef@client.example.com"
        data = request(call_id)
        worker = worker_for(data, count, always)
        assert worker == expected(call_id, count)
        # The same bytes (a retransmission) always land on the same worker.
        assert worker_for(bytes(data), count, always) == worker


@pytest.mark.parametrize("count", [2, 3])
def test_different_call_ids_reach_every_worker(count: int) -> None:
    seen = {worker_for(request(f"spread-{n}@client"), count, always) for n in range(200)}
    assert seen == set(range(count))


def test_the_call_id_value_is_what_follows_the_colon_and_blanks() -> None:
    call_id = call_id_for(1, 2)
    for spacing in (b"Call-ID:", b"Call-ID:  ", b"Call-ID \t: \t", b"CALL-ID: ", b"call-id:"):
        data = request(call_id).replace(b"Call-ID: ", spacing)
        assert worker_for(data, 2, always) == 1, spacing


@pytest.mark.parametrize("count", [2, 3])
def test_the_compact_form_i_works(count: int) -> None:
    for n in range(30):
        call_id = f"compact-{n}@client.example.com"
        compact = request(call_id, call_id_name=b"i")
        assert worker_for(compact, count, always) == expected(call_id, count)
        assert worker_for(compact, count, always) == worker_for(request(call_id), count, always)


def test_relayable_sees_the_request_uri() -> None:
    seen: list[bytes] = []

    def relayable(uri: bytes) -> bool:
        seen.append(uri)
        return True

    uri = b"sip:bob@example.com;transport=udp"
    worker_for(request(uri=uri), 2, relayable)
    assert seen == [uri]


def test_a_message_that_is_not_relayable_stays_in_process_0() -> None:
    data = request(call_id_for(1, 2))
    assert worker_for(data, 2, always) == 1
    assert worker_for(data, 2, never) == 0


def _authorization(nonce: str, header: bytes = b"Proxy-Authorization") -> bytes:
    return (
        header + b': Digest username="alice", realm="example.com", '
        b'nonce="' + nonce.encode() + b'", uri="sip:bob@example.com", '
        b'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, '
        b'cnonce="0a4f113b", qop=auth, nc=00000001\r\n'
    )


@pytest.mark.parametrize("header", [b"Proxy-Authorization", b"Authorization"])
def test_the_nonce_takes_precedence_over_the_call_id(header: bytes) -> None:
    count = 2
    nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093.1700000000"
    one = request(call_id_for(0, count, "first"), extra=_authorization(nonce, header))
    other = request(call_id_for(1, count, "second"), extra=_authorization(nonce, header))
    assert worker_for(one, count, always) == expected(nonce, count)
    assert worker_for(other, count, always) == expected(nonce, count)


def test_every_nonce_has_its_worker() -> None:
    call_id = "fixed@client.example.com"
    workers = {
        worker_for(request(call_id, extra=_authorization(f"nonce-{n}")), 3, always)
        for n in range(100)
    }
    assert workers == {0, 1, 2}


@pytest.mark.parametrize(
    "template",
    [
        # RFC 3261 §25.1: digest-response parameters come in any order; cnonce first must
        # not be taken for the nonce.
        b'Digest cnonce="client-%d", username="alice", realm="example.com", nonce="%s", '
        b'uri="sip:bob@example.com", response="6629fae49393a05397450978507c4ef1", qop=auth, '
        b"nc=00000001",
        b'Digest nonce="%s", cnonce="client-%d", username="alice", realm="example.com", '
        b'uri="sip:bob@example.com", response="6629fae49393a05397450978507c4ef1"',
        b'Digest username="alice",cnonce="client-%d",nonce="%s",realm="example.com"',
        b'Digest username="alice", cnonce="client-%d",\tnonce = "%s", realm="example.com"',
    ],
)
def test_the_nonce_is_found_whatever_the_parameter_order(template: bytes) -> None:
    count = 2
    nonce = b"dcd98b7102dd2f0e8b11d0f600bfb0c093.1700000000"
    workers = set()
    for n in range(20):
        if template.startswith(b'Digest nonce="%s"'):
            value = template % (nonce, n)
        else:
            value = template % (n, nonce)
        credentials = b"Proxy-Authorization: " + value + b"\r\n"
        workers.add(worker_for(request(f"call-{n}", extra=credentials), count, always))
    assert workers == {zlib.crc32(nonce) % count}


def test_a_message_with_a_route_stays_in_process_0() -> None:
    call_id = call_id_for(1, 2)
    routed = request(call_id, extra=b"Route: <sip:proxy.example.net;lr>\r\n")
    assert worker_for(routed, 2, always) == 0
    lower = request(call_id, extra=b"route : <sip:proxy.example.net;lr>\r\n")
    assert worker_for(lower, 2, always) == 0


@pytest.mark.parametrize(
    "method", [b"REGISTER", b"SUBSCRIBE", b"INVITE", b"OPTIONS", b"NOTIFY", b"PUBLISH"]
)
def test_other_methods_stay_in_process_0(method: bytes) -> None:
    for n in range(20):
        data = request(f"other-{n}", method=method)
        assert worker_for(data, 2, always) == 0
        assert worker_for(data, 3, always) == 0


def test_a_truncated_message_stays_in_process_0() -> None:
    call_id = call_id_for(1, 2)
    whole = request(call_id)
    assert worker_for(whole, 2, always) == 1
    head = whole[: whole.index(b"\r\n\r\n")]
    assert worker_for(head, 2, always) == 0
    assert worker_for(head + b"\r\n", 2, always) == 0
    assert worker_for(b"MESSAGE " + BOB, 2, always) == 0


def test_a_call_id_in_the_body_does_not_count() -> None:
    body = b"\r\nCall-ID: " + call_id_for(1, 2).encode() + b"\r\n"
    data = request(call_id_for(1, 2), body=body).replace(b"\r\nCall-ID: ", b"\r\nX-Id: ", 1)
    assert b"\r\nCall-ID: " in data.split(b"\r\n\r\n", 1)[1]
    assert worker_for(data, 2, always) == 0


def test_a_single_process_takes_everything() -> None:
    for n in range(20):
        assert worker_for(request(f"single-{n}"), 1, always) == 0
