"""Digest authentication: RFC 7616 / RFC 2617 vectors, syntax round trips, nonces, replay."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.sip.auth.challenge import (
    AuthParam,
    DigestChallenge,
    DigestCredentials,
    parse_challenge,
    parse_challenges,
    parse_credentials,
    serialize_challenge,
    serialize_credentials,
)
from parley.sip.auth.digest import (
    build_authorization,
    choose_challenges,
    compute_ha1,
    compute_response,
    compute_userhash,
    find_algorithm,
    is_supported,
    verify,
)
from parley.sip.auth.nonce import (
    SALT_SIZE,
    InMemoryNonceCounts,
    NonceIssuer,
    NonceStatus,
    check_nonce,
)
from parley.sip.errors import LocalProtocolError, ParseError

# --- RFC 7616 §3.9.1 --------------------------------------------------------------------------

RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_REALM = "http-auth@example.org"
# Erratum 4495: "of" is lower case here, unlike RFC 2617's "Circle Of Life".
RFC7616_PASSWORD = "Circle of Life"
RFC7616_MD5 = "8ca523f5e9506fed4657c9700eebdbec"
RFC7616_SHA256 = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def rfc7616_challenge_header(algorithm: str) -> str:
    # As printed in the RFC: one parameter per folded line.
    return (
        "Digest\r\n"
        f'    realm="{RFC7616_REALM}",\r\n'
        '    qop="auth, auth-int",\r\n'
        f"    algorithm={algorithm},\r\n"
        f'    nonce="{RFC7616_NONCE}",\r\n'
        f'    opaque="{RFC7616_OPAQUE}"'
    )


@pytest.mark.parametrize(
    ("algorithm", "expected"), [("SHA-256", RFC7616_SHA256), ("MD5", RFC7616_MD5)]
)
def test_rfc7616_example_client_response(algorithm: str, expected: str) -> None:
    challenge = parse_challenge(rfc7616_challenge_header(algorithm))
    assert challenge.qop == ("auth", "auth-int")
    assert challenge.algorithm == algorithm
    credentials = build_authorization(
        challenge,
        "Mufasa",
        RFC7616_PASSWORD,
        "GET",
        "/dir/index.html",
        cnonce=RFC7616_CNONCE,
        nc=1,
    )
    assert credentials.response == expected
    assert credentials.qop == "auth"
    assert credentials.nc == "00000001"
    assert credentials.opaque == RFC7616_OPAQUE
    assert credentials.algorithm == algorithm


@pytest.mark.parametrize(
    ("algorithm", "expected"), [("SHA-256", RFC7616_SHA256), ("MD5", RFC7616_MD5)]
)
def test_rfc7616_example_server_verifies_printed_authorization(
    algorithm: str, expected: str
) -> None:
    header = (
        'Digest username="Mufasa",\r\n'
        f'    realm="{RFC7616_REALM}",\r\n'
        '    uri="/dir/index.html",\r\n'
        f"    algorithm={algorithm},\r\n"
        f'    nonce="{RFC7616_NONCE}",\r\n'
        "    nc=00000001,\r\n"
        f'    cnonce="{RFC7616_CNONCE}",\r\n'
        "    qop=auth,\r\n"
        f'    response="{expected}",\r\n'
        f'    opaque="{RFC7616_OPAQUE}"'
    )
    credentials = parse_credentials(header)
    ha1 = compute_ha1("Mufasa", RFC7616_REALM, RFC7616_PASSWORD, algorithm)
    assert verify(credentials, "GET", ha1)
    assert not verify(credentials, "POST", ha1)
    wrong = compute_ha1("Mufasa", RFC7616_REALM, "Circle Of Life", algorithm)
    assert not verify(credentials, "GET", wrong)


def test_rfc7616_two_challenges_topmost_supported_is_chosen() -> None:
    # RFC 8760 §2.4: take the topmost challenge whose algorithm is supported.
    unknown = rfc7616_challenge_header("SHA3-512")
    sha = rfc7616_challenge_header("SHA-256")
    md5 = rfc7616_challenge_header("MD5")
    challenges = [parse_challenge(value) for value in (unknown, sha, md5)]
    assert not is_supported(challenges[0])
    assert choose_challenges(challenges) == (challenges[1],)


# --- RFC 2617 §3.5 ----------------------------------------------------------------------------


def test_rfc2617_classic_vector() -> None:
    challenge = parse_challenge(
        "Digest\r\n"
        '        realm="testrealm@host.com",\r\n'
        '        qop="auth,auth-int",\r\n'
        '        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n'
        '        opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert challenge.algorithm is None  # absent means MD5
    credentials = build_authorization(
        challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", "0a4f113b", 1
    )
    assert credentials.response == "6629fae49393a05397450978507c4ef1"
    printed = parse_credentials(
        'Digest username="Mufasa",\r\n'
        '        realm="testrealm@host.com",\r\n'
        '        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n'
        '        uri="/dir/index.html",\r\n'
        "        qop=auth,\r\n"
        "        nc=00000001,\r\n"
        '        cnonce="0a4f113b",\r\n'
        '        response="6629fae49393a05397450978507c4ef1",\r\n'
        '        opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert printed == credentials
    assert verify(printed, "GET", compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life"))


# --- Computations against an independent spelling of the formulas ------------------------------


def h(name: str, data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.new(name, raw).hexdigest()


def test_rfc2069_style_without_qop() -> None:
    challenge = DigestChallenge(realm="biloxi.com", nonce="abc123")
    credentials = build_authorization(
        challenge, "bob", "zanzibar", "REGISTER", "sip:biloxi.com", "ignored", 7
    )
    ha1 = h("md5", "bob:biloxi.com:zanzibar")
    assert credentials.response == h("md5", f"{ha1}:abc123:{h('md5', 'REGISTER:sip:biloxi.com')}")
    # RFC 2617 §3.2.2: no cnonce or nc without qop.
    assert credentials.qop is None and credentials.nc is None and credentials.cnonce is None
    text = serialize_credentials(credentials)
    assert "nc=" not in text and "cnonce" not in text and "qop" not in text
    assert verify(parse_credentials(text), "REGISTER", ha1)


@pytest.mark.parametrize(
    ("algorithm", "hash_name"),
    [("MD5-sess", "md5"), ("SHA-256-sess", "sha256"), ("SHA-512-256-sess", "sha512_256")],
)
def test_session_algorithms(algorithm: str, hash_name: str) -> None:
    challenge = DigestChallenge(realm="r", nonce="n0", algorithm=algorithm, qop=("auth",))
    credentials = build_authorization(challenge, "u", "p", "MESSAGE", "sip:u@r", "c0", 2)
    base = h(hash_name, "u:r:p")
    session = h(hash_name, f"{base}:n0:c0")
    ha2 = h(hash_name, "MESSAGE:sip:u@r")
    assert credentials.response == h(hash_name, f"{session}:n0:00000002:c0:auth:{ha2}")
    assert verify(credentials, "MESSAGE", compute_ha1("u", "r", "p", algorithm))


def test_sha512_256_and_uppercase_algorithm_token() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n", algorithm=sha-512-256, qop=auth')
    credentials = build_authorization(challenge, "u", "p", "SUBSCRIBE", "sip:r", "c", 1)
    assert credentials.algorithm == "sha-512-256"  # echoed as the server spelled it
    assert len(credentials.response) == 64
    assert verify(credentials, "SUBSCRIBE", compute_ha1("u", "r", "p", "SHA-512-256"))


def test_auth_int_covers_the_body() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    challenge = DigestChallenge(realm="r", nonce="n", algorithm="SHA-256", qop=("auth-int",))
    credentials = build_authorization(challenge, "u", "p", "INVITE", "sip:b@r", "c", 1, body)
    ha1 = h("sha256", "u:r:p")
    ha2 = h("sha256", f"INVITE:sip:b@r:{h('sha256', body)}")
    assert credentials.response == h("sha256", f"{ha1}:n:00000001:c:auth-int:{ha2}")
    assert verify(credentials, "INVITE", ha1, body)
    assert not verify(credentials, "INVITE", ha1, body + b"a=sendonly\r\n")


def test_auth_int_empty_body_hashes_empty_string() -> None:
    # RFC 3261 §22.4 item 7: H(entity-body) of no body is H("").
    response = compute_response(
        ha1="0" * 32,
        algorithm="MD5",
        nonce="n",
        method="BYE",
        uri="sip:a@b",
        qop="auth-int",
        nc="00000001",
        cnonce="c",
    )
    ha2 = h("md5", "BYE:sip:a@b:d41d8cd98f00b204e9800998ecf8427e")
    assert response == h("md5", f"{'0' * 32}:n:00000001:c:auth-int:{ha2}")


def test_qop_preference_and_override() -> None:
    challenge = DigestChallenge(realm="r", nonce="n", qop=("auth-int", "auth"))
    assert build_authorization(challenge, "u", "p", "M", "sip:r", "c", 1).qop == "auth"
    forced = build_authorization(challenge, "u", "p", "M", "sip:r", "c", 1, qop="AUTH-INT")
    assert forced.qop == "auth-int"


def test_userhash() -> None:
    challenge = DigestChallenge("r", "n", algorithm="SHA-256", qop=("auth",), userhash=True)
    credentials = build_authorization(challenge, "Mufasa", "p", "M", "sip:r", "c", 1)
    assert credentials.username == h("sha256", "Mufasa:r")
    assert credentials.username == compute_userhash("Mufasa", "r", "SHA-256")
    assert credentials.userhash
    assert parse_credentials(serialize_credentials(credentials)) == credentials


def test_unanswerable_challenges_raise_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        build_authorization(DigestChallenge("r", "n", algorithm="X-9"), "u", "p", "M", "s", "c", 1)
    with pytest.raises(LocalProtocolError):  # -sess needs qop (RFC 3261 §22.4 item 8)
        build_authorization(
            DigestChallenge("r", "n", algorithm="MD5-sess"), "u", "p", "M", "s", "c", 1
        )
    with pytest.raises(LocalProtocolError):
        build_authorization(DigestChallenge("r", "n", qop=("x-qop",)), "u", "p", "M", "s", "c", 1)
    with pytest.raises(LocalProtocolError):
        build_authorization(DigestChallenge("r", "n", qop=("auth",)), "u", "p", "M", "s", "c", 0)


def test_verify_rejects_what_it_cannot_compute() -> None:
    good = build_authorization(
        DigestChallenge("r", "n", qop=("auth",)), "u", "p", "M", "sip:r", "c", 1
    )
    ha1 = compute_ha1("u", "r", "p")
    assert verify(good, "M", ha1)
    assert verify(good, "M", ha1.upper())
    assert not verify(replace(good, algorithm="X-9"), "M", ha1)
    assert not verify(replace(good, qop="x-qop"), "M", ha1)
    assert not verify(replace(good, response=good.response.upper() + "0"), "M", ha1)
    assert verify(replace(good, response=good.response.upper()), "M", ha1)
    assert not verify(replace(good, algorithm="MD5-sess", qop=None), "M", ha1)
    assert find_algorithm(None) == find_algorithm("md5")


# --- Syntax -----------------------------------------------------------------------------------


def test_rfc3261_example_challenge() -> None:
    # RFC 3261 §20.44.
    challenge = parse_challenge(
        'Digest realm="atlanta.com",\r\n domain="sip:boxesbybob.com", qop="auth",\r\n'
        ' nonce="f84f1cec41e6cbe5aea9c8e88d359",\r\n opaque="", stale=FALSE, algorithm=MD5'
    )
    assert challenge == DigestChallenge(
        realm="atlanta.com",
        nonce="f84f1cec41e6cbe5aea9c8e88d359",
        domain=("sip:boxesbybob.com",),
        opaque="",
        stale=False,
        algorithm="MD5",
        qop=("auth",),
    )
    assert parse_challenge(serialize_challenge(challenge)) == challenge


def test_escaped_quotes_round_trip() -> None:
    value = r'Digest realm="say \"hi\" \\ to \a", nonce="n\"1", x-note="a\\b"'
    challenge = parse_challenge(value)
    assert challenge.realm == 'say "hi" \\ to a'
    assert challenge.nonce == 'n"1'
    assert challenge.params == (AuthParam("x-note", "a\\b", quoted=True),)
    text = serialize_challenge(challenge)
    assert r'realm="say \"hi\" \\ to a"' in text
    assert parse_challenge(text) == challenge


def test_odd_whitespace_case_and_empty_elements() -> None:
    value = 'dIgEsT \t REALM = "r" ,,\tNonce="n" ,  STALE=True , QOP = auth ,Algorithm="SHA-256",'
    challenge = parse_challenge(value)
    assert challenge == DigestChallenge(
        realm="r", nonce="n", stale=True, qop=("auth",), algorithm="SHA-256"
    )
    assert serialize_challenge(challenge) == (
        'Digest realm="r", nonce="n", stale=true, algorithm=SHA-256, qop="auth"'
    )


def test_unknown_params_are_kept() -> None:
    value = 'Digest realm="r", nonce="n", charset=UTF-8, X-Extra="two words", flag=on'
    challenge = parse_challenge(value)
    assert challenge.params == (
        AuthParam("charset", "UTF-8", quoted=False),
        AuthParam("x-extra", "two words", quoted=True),
        AuthParam("flag", "on", quoted=False),
    )
    text = serialize_challenge(challenge)
    assert text.endswith('charset=UTF-8, x-extra="two words", flag=on')
    assert parse_challenge(text) == challenge


def test_credentials_round_trip_and_lenient_quoting() -> None:
    value = (
        'digest USERNAME="alice", Realm="atlanta.com", nonce="a=b/c", URI="sip:bob@biloxi.com", '
        'response="0123456789ABCDEF0123456789abcdef", qop="auth", NC=0000000A, cnonce="x y", '
        'algorithm="MD5", opaque="", x-foo=bar'
    )
    credentials = parse_credentials(value)
    assert credentials == DigestCredentials(
        username="alice",
        realm="atlanta.com",
        nonce="a=b/c",
        uri="sip:bob@biloxi.com",
        response="0123456789ABCDEF0123456789abcdef",
        algorithm="MD5",
        cnonce="x y",
        opaque="",
        qop="auth",
        nc="0000000A",
        params=(AuthParam("x-foo", "bar", quoted=False),),
    )
    assert credentials.nonce_count == 10
    text = serialize_credentials(credentials)
    assert "qop=auth," in text and "nc=0000000A" in text  # unquoted, RFC 3261 §25.1
    assert parse_credentials(text) == credentials


def test_unquoted_uri_and_nonce_are_tolerated() -> None:
    credentials = parse_credentials(
        "Digest username=bob, realm=biloxi.com, nonce=YWJj==, uri=sip:bob@biloxi.com;transport=tcp,"
        " response=00ff"
    )
    assert credentials.nonce == "YWJj=="
    assert credentials.uri == "sip:bob@biloxi.com;transport=tcp"
    assert parse_credentials(serialize_credentials(credentials)) == credentials


def test_several_challenges_in_one_value() -> None:
    value = (
        'Basic realm="legacy", Digest realm="a", nonce="1", algorithm=SHA-256, qop="auth", '
        'Bearer abc==, Digest realm="b", nonce="2", Negotiate'
    )
    challenges = parse_challenges(value)
    assert [(c.realm, c.nonce) for c in challenges] == [("a", "1"), ("b", "2")]
    assert challenges[0].qop == ("auth",)
    assert parse_challenges("Basic realm=x") == ()
    with pytest.raises(ParseError):
        parse_challenge(value)


def test_utf8_in_quoted_strings() -> None:
    challenge = parse_challenge('Digest realm="café ☕", nonce="n"')
    assert challenge.realm == "café ☕"
    assert parse_challenge(serialize_challenge(challenge)) == challenge


def test_serialize_refuses_header_injection() -> None:
    with pytest.raises(LocalProtocolError):
        serialize_challenge(DigestChallenge(realm="r\r\nVia: evil", nonce="n"))
    with pytest.raises(LocalProtocolError):
        serialize_challenge(DigestChallenge(realm="r", nonce="n", algorithm="MD5 x"))
    with pytest.raises(LocalProtocolError):
        serialize_challenge(DigestChallenge("r", "n", params=(AuthParam("nonce", "again"),)))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "Digest",
        'Digest realm="r"',
        'Digest nonce="n"',
        'Digest realm="r, nonce="n"',
        'Digest realm="r" nonce="n"',
        'Digest realm="r", realm="s", nonce="n"',
        'Digest realm=, nonce="n"',
        'Digest realm="r", nonce="n", stale',
        'Digest realm="r", nonce="n", qop="auth;x"',
        'Digest realm="r", nonce="n", algorithm="MD5 sess"',
        'Digest realm="r\\',
        'Digest realm="r\x01", nonce="n"',
        'Digest realm="r\ud800", nonce="n"',
        'Digest realm="r"\n, nonce="n"',
        'Digest realm="r", nonce="n"\r\n',
        "Digest abc==",
        'Digest"realm"',
        "Basic dXNlcjpwYXNz",
        '=realm="r"',
        'Digest realm="r", nonce="n", Basic',
    ],
)
def test_malformed_challenges_raise_parse_error(value: str) -> None:
    with pytest.raises(ParseError):
        parse_challenge(value)


_CREDS = 'Digest username="u", realm="r", nonce="n", uri="sip:r", response="00ff"'


@pytest.mark.parametrize(
    "value",
    [
        'Digest realm="r", nonce="n", uri="sip:r", response="00ff"',
        'Digest username="u", realm="r", nonce="n", uri="sip:r"',
        _CREDS.replace("00ff", "zz"),
        _CREDS.replace("00ff", ""),
        _CREDS + ", qop=auth",
        _CREDS + ', qop=auth, nc=00000001, cnonce="c", nc=00000002',
        _CREDS + ', qop=auth, nc=1, cnonce="c"',
        _CREDS + ', qop=auth, nc=0000000g, cnonce="c"',
        _CREDS + ', qop="a b", nc=00000001, cnonce="c"',
        _CREDS + ", " + _CREDS,
        _CREDS.replace("Digest", "Basic"),
    ],
)
def test_malformed_credentials_raise_parse_error(value: str) -> None:
    with pytest.raises(ParseError):
        parse_credentials(value)


# --- Property tests ---------------------------------------------------------------------------

_NASTY = st.text(
    alphabet=st.sampled_from(list('Digest realm=nonce,"\\ \t\r\nqop=auth xyz\x00é\ud800=,;')),
    max_size=60,
)


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=80), _NASTY, _NASTY.map(lambda tail: "Digest " + tail)))
def test_parsers_raise_only_parse_error(value: str) -> None:
    for parser in (parse_challenge, parse_challenges, parse_credentials):
        with contextlib.suppress(ParseError):
            parser(value)
    # Whatever does parse writes back to a value that parses to the same thing.
    with contextlib.suppress(ParseError):
        credentials = parse_credentials(value)
        assert parse_credentials(serialize_credentials(credentials)) == credentials
    with contextlib.suppress(ParseError):
        for challenge in parse_challenges(value):
            assert parse_challenge(serialize_challenge(challenge)) == challenge


_FREE_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"))
_TOKEN = st.text(alphabet="abcXYZ019-.!%*_+`'~", min_size=1, max_size=12)


@settings(max_examples=200)
@given(
    realm=_FREE_TEXT,
    nonce=_FREE_TEXT,
    opaque=st.none() | _FREE_TEXT,
    stale=st.booleans(),
    algorithm=st.none() | _TOKEN,
    qop=st.lists(_TOKEN, max_size=3).map(tuple),
    domain=st.lists(st.text(alphabet="sip:ab.c/@", min_size=1, max_size=10), max_size=3).map(tuple),
    extra=st.lists(st.tuples(_TOKEN, _FREE_TEXT, st.booleans()), max_size=3),
)
def test_challenge_round_trip(
    realm: str,
    nonce: str,
    opaque: str | None,
    stale: bool,
    algorithm: str | None,
    qop: tuple[str, ...],
    domain: tuple[str, ...],
    extra: list[tuple[str, str, bool]],
) -> None:
    known = {"realm", "domain", "nonce", "opaque", "stale", "algorithm", "qop", "userhash"}
    params: dict[str, AuthParam] = {}
    for name, value, quoted in extra:
        name = "x-" + name.lower()
        if name not in known:
            params[name] = AuthParam(name, value, quoted or not value)
    challenge = DigestChallenge(
        realm=realm,
        nonce=nonce,
        domain=domain,
        opaque=opaque,
        stale=stale,
        algorithm=algorithm,
        qop=qop,
        params=tuple(params.values()),
    )
    parsed = parse_challenge(serialize_challenge(challenge))
    # A bare value that is not a token is sent quoted; compare what goes on the wire.
    assert serialize_challenge(parsed) == serialize_challenge(challenge)
    assert (parsed.realm, parsed.nonce, parsed.opaque, parsed.qop) == (realm, nonce, opaque, qop)


# --- Nonces and replay ------------------------------------------------------------------------

KEY = b"k" * 32
SALT = bytes(range(SALT_SIZE))
REALM = "parley.example"


def signed(issuer: NonceIssuer, now: float, nc: int = 1) -> DigestCredentials:
    challenge = issuer.challenge(REALM, now, SALT)
    return build_authorization(challenge, "alice", "pw", "REGISTER", "sip:x", "c", nc)


def test_nonce_valid_then_stale() -> None:
    issuer = NonceIssuer(KEY, lifetime=60.0)
    nonce = issuer.issue(REALM, 1_000.0, SALT)
    assert issuer.check(nonce, REALM, 1_000.0) is NonceStatus.VALID
    assert issuer.check(nonce, REALM, 1_060.0) is NonceStatus.VALID
    assert issuer.check(nonce, REALM, 1_060.5) is NonceStatus.STALE
    assert issuer.check(nonce, REALM, 900.0) is NonceStatus.STALE  # from the future
    assert issuer.expires_at(nonce) == 1_060.0
    assert all(char.isalnum() or char in "-_" for char in nonce)


def test_nonce_forgeries_are_rejected() -> None:
    issuer = NonceIssuer(KEY)
    nonce = issuer.issue(REALM, 1_000.0, SALT)
    flipped = nonce[:10] + ("A" if nonce[10] != "A" else "B") + nonce[11:]
    for bad in (flipped, nonce + "A", nonce[:-1], "", "abc", "+" * len(nonce), "é" * len(nonce)):
        assert issuer.check(bad, REALM, 1_000.0) is NonceStatus.FORGED
    assert issuer.check(nonce, "other.realm", 1_000.0) is NonceStatus.FORGED
    assert NonceIssuer(b"x" * 32).check(nonce, REALM, 1_000.0) is NonceStatus.FORGED
    # A non-canonical spelling of the same bytes does not pass either.
    last = nonce[-1]
    twin = nonce[:-1] + chr(ord(last) ^ 1)
    assert issuer.check(twin, REALM, 1_000.0) is NonceStatus.FORGED


def test_nonce_key_rollover_is_stale() -> None:
    old = NonceIssuer(KEY)
    nonce = old.issue(REALM, 1_000.0, SALT)
    new = NonceIssuer(b"n" * 32, old_keys=(KEY,))
    assert new.check(nonce, REALM, 1_000.0) is NonceStatus.STALE


def test_nonce_issuer_rejects_bad_setup() -> None:
    with pytest.raises(LocalProtocolError):
        NonceIssuer(b"short")
    with pytest.raises(LocalProtocolError):
        NonceIssuer(KEY, lifetime=0)
    with pytest.raises(LocalProtocolError):
        NonceIssuer(KEY).issue(REALM, 1.0, b"few")
    with pytest.raises(LocalProtocolError):
        NonceIssuer(KEY).issue(REALM, float("nan"), SALT)


def test_check_nonce_increasing_nc_accepted_and_replay_rejected() -> None:
    issuer = NonceIssuer(KEY)
    counts = InMemoryNonceCounts()
    first = signed(issuer, 1_000.0, nc=1)
    assert verify(first, "REGISTER", compute_ha1("alice", REALM, "pw", "SHA-256"))
    assert check_nonce(issuer, counts, first, 1_001.0) is NonceStatus.VALID
    assert check_nonce(issuer, counts, first, 1_002.0) is NonceStatus.REPLAYED
    assert check_nonce(issuer, counts, signed(issuer, 1_000.0, 2), 1_003.0) is NonceStatus.VALID
    assert check_nonce(issuer, counts, signed(issuer, 1_000.0, 5), 1_004.0) is NonceStatus.VALID
    assert check_nonce(issuer, counts, signed(issuer, 1_000.0, 3), 1_005.0) is NonceStatus.REPLAYED
    assert check_nonce(issuer, counts, signed(issuer, 1_000.0, 6), 2_000.0) is NonceStatus.STALE


def test_check_nonce_forged_and_rfc2069() -> None:
    issuer = NonceIssuer(KEY)
    counts = InMemoryNonceCounts()
    credentials = signed(issuer, 1_000.0)
    forged = replace(credentials, nonce=NonceIssuer(b"z" * 32).issue(REALM, 1_000.0, SALT))
    assert check_nonce(issuer, counts, forged, 1_000.0) is NonceStatus.FORGED
    old_style = build_authorization(
        DigestChallenge(REALM, issuer.issue(REALM, 1_000.0, SALT)), "a", "p", "M", "s", "", 1
    )
    assert check_nonce(issuer, counts, old_style, 1_000.0) is NonceStatus.VALID
    assert len(counts) == 0


def test_in_memory_counts_are_bounded_and_never_reopen_a_replay() -> None:
    counts = InMemoryNonceCounts(max_entries=2)
    assert counts.advance("a", 1, expires_at=100.0, now=0.0)
    assert counts.advance("b", 1, expires_at=110.0, now=0.0)
    assert counts.advance("c", 1, expires_at=120.0, now=0.0)  # evicts "a"
    assert len(counts) == 2
    # "a" was forgotten: it must not start afresh at nc=1, nor at any nc.
    assert not counts.advance("a", 1, expires_at=100.0, now=1.0)
    assert not counts.advance("a", 9, expires_at=100.0, now=1.0)
    assert counts.advance("c", 2, expires_at=120.0, now=1.0)
    # Expired entries are pruned before anything live is evicted.
    assert counts.advance("d", 1, expires_at=300.0, now=115.0)
    assert len(counts) == 2
    assert not counts.advance("d", 1, expires_at=300.0, now=116.0)
    assert not counts.advance("e", 1, expires_at=200.0, now=250.0)  # already expired
    assert not counts.advance("f", 0, expires_at=400.0, now=250.0)  # nc starts at 1
