"""Digest access authentication for SIP: the hashes, the UAC answer and the UAS check.

RFC 3261 §22 takes HTTP Digest (RFC 2617, now RFC 7616) into SIP; RFC 8760 adds SHA-256 and
SHA-512/256 to it. Everything here is a pure function of its arguments: the caller brings the
cnonce, the password or the stored H(A1), and the request's method, Request-URI and body.

Syntax lives in :mod:`parley.sip.auth.challenge`; nonces and replay in
:mod:`parley.sip.auth.nonce`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from parley.sip.auth.challenge import DigestChallenge, DigestCredentials
from parley.sip.errors import LocalProtocolError

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "build_authorization",
    "choose_challenges",
    "compute_ha1",
    "compute_response",
    "compute_userhash",
    "find_algorithm",
    "is_supported",
    "verify",
]


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A Digest ``algorithm`` value (RFC 7616 §3.3, §6.1; RFC 8760 §2.1).

    ``name`` is the registered spelling; ``hash_name`` the :mod:`hashlib` name of H;
    ``session`` marks the "-sess" variants, whose H(A1) also covers nonce and cnonce
    (RFC 7616 §3.4.2).
    """

    name: str
    hash_name: str
    session: bool

    def hash(self, data: str | bytes) -> str:
        """H(data) as lower-case hex (RFC 7616 §3.4.1)."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        # usedforsecurity=False keeps MD5 usable on FIPS builds: MD5 here is interop, and the
        # caller chooses SHA-256 where security matters (RFC 8760 §1).
        return hashlib.new(self.hash_name, raw, usedforsecurity=False).hexdigest()


MD5 = Algorithm("MD5", "md5", session=False)
MD5_SESS = Algorithm("MD5-sess", "md5", session=True)
SHA_256 = Algorithm("SHA-256", "sha256", session=False)
SHA_256_SESS = Algorithm("SHA-256-sess", "sha256", session=True)
SHA_512_256 = Algorithm("SHA-512-256", "sha512_256", session=False)
SHA_512_256_SESS = Algorithm("SHA-512-256-sess", "sha512_256", session=True)

#: Supported algorithms by lower-cased name. The names are matched case-insensitively because
#: peers send "md5" and "MD5" alike.
ALGORITHMS: Mapping[str, Algorithm] = {
    alg.name.lower(): alg
    for alg in (MD5, MD5_SESS, SHA_256, SHA_256_SESS, SHA_512_256, SHA_512_256_SESS)
}

#: The qop-values this module computes (RFC 7616 §3.3).
QOP_AUTH = "auth"
QOP_AUTH_INT = "auth-int"


def find_algorithm(name: str | None) -> Algorithm | None:
    """The algorithm named ``name``, ``None`` if unsupported.

    An absent algorithm parameter (``None``) means MD5 (RFC 7616 §3.3, RFC 3261 §25.1).
    """
    if name is None:
        return MD5
    return ALGORITHMS.get(name.lower())


def _algorithm(name: str | None) -> Algorithm:
    algorithm = find_algorithm(name)
    if algorithm is None:
        raise LocalProtocolError(f"unsupported Digest algorithm {name!r}")
    return algorithm


def compute_ha1(username: str, realm: str, password: str, algorithm: str | None = "MD5") -> str:
    """H(A1) = H(username ":" realm ":" password) (RFC 7616 §3.4.2), what a server stores.

    For a "-sess" algorithm this is still the plain H(A1) with that algorithm's hash; the
    session step needs nonce and cnonce and is done by :func:`compute_response`. Strings are
    hashed as UTF-8 (RFC 7616 §3.4.2 with charset=UTF-8; RFC 3261 §25.1 text is UTF-8).
    """
    return _algorithm(algorithm).hash(f"{username}:{realm}:{password}")


def compute_userhash(username: str, realm: str, algorithm: str | None = "MD5") -> str:
    """The hashed ``username`` sent when a challenge has userhash=true (RFC 7616 §3.4.4)."""
    return _algorithm(algorithm).hash(f"{username}:{realm}")


def compute_response(
    *,
    ha1: str,
    algorithm: str | None,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` (request-digest) as lower-case hex (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1).

    ``ha1`` is H(username ":" realm ":" password) for ``algorithm``'s hash. With ``qop`` None
    this is the RFC 2069 form, KD(H(A1), nonce ":" H(A2)), which old clients still send;
    ``nc`` and ``cnonce`` are then ignored. ``body`` matters only for auth-int, where an empty
    body hashes as H("") (RFC 3261 §22.4 item 7, with the algorithm's own H per RFC 8760).
    """
    alg = _algorithm(algorithm)
    ha1 = ha1.lower()  # hex is written lower-case (RFC 7616 §3.4.1); stored values may not be
    if alg.session:
        # "-sess" needs cnonce, which only exists with qop (RFC 3261 §22.4 item 8).
        if qop is None or cnonce is None:
            raise LocalProtocolError(f"{alg.name} needs qop and a cnonce")
        ha1 = alg.hash(f"{ha1}:{nonce}:{cnonce}")  # RFC 7616 §3.4.2
    if qop is None:
        a2 = f"{method}:{uri}"
        return alg.hash(f"{ha1}:{nonce}:{alg.hash(a2)}")
    kind = qop.lower()
    if kind == QOP_AUTH:
        a2 = f"{method}:{uri}"
    elif kind == QOP_AUTH_INT:
        a2 = f"{method}:{uri}:{alg.hash(body)}"  # RFC 7616 §3.4.3
    else:
        raise LocalProtocolError(f"unsupported qop {qop!r}")
    if nc is None or cnonce is None:
        raise LocalProtocolError("qop needs nc and cnonce")
    # KD(secret, data) = H(secret ":" data), with the qop value as sent (RFC 7616 §3.4.1).
    return alg.hash(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{alg.hash(a2)}")


def _usable_qop(offered: tuple[str, ...]) -> list[str]:
    return [item for item in offered if item.lower() in (QOP_AUTH, QOP_AUTH_INT)]


def is_supported(challenge: DigestChallenge) -> bool:
    """Whether this module can answer ``challenge``: known algorithm and a usable qop.

    A qop list with only unknown values, or a "-sess" algorithm without qop (RFC 3261 §22.4
    item 8), cannot be answered.
    """
    algorithm = find_algorithm(challenge.algorithm)
    if algorithm is None:
        return False
    if not challenge.qop:
        return not algorithm.session
    return bool(_usable_qop(challenge.qop))


def choose_challenges(challenges: Iterable[DigestChallenge]) -> tuple[DigestChallenge, ...]:
    """The challenges a UAC should answer: the topmost supported one per realm.

    A UAS lists its algorithms in preference order and the UAC takes the topmost it supports
    (RFC 8760 §2.3-§2.4); challenges of several realms, e.g. from forked proxies, are each
    answered (RFC 3261 §22.3).
    """
    chosen: dict[str, DigestChallenge] = {}
    for challenge in challenges:
        if challenge.realm not in chosen and is_supported(challenge):
            chosen[challenge.realm] = challenge
    return tuple(chosen.values())


def _choose_qop(offered: tuple[str, ...], wanted: str | None) -> str | None:
    if not offered:
        if wanted is not None:
            raise LocalProtocolError("the challenge offers no qop")
        return None  # RFC 2069 style: no qop, nc or cnonce (RFC 2617 §3.2.2)
    if wanted is not None:
        for item in offered:
            if item.lower() == wanted.lower():
                return item  # echo the server's spelling: it is hashed as text
        raise LocalProtocolError(f"the challenge does not offer qop {wanted!r}")
    usable = _usable_qop(offered)
    if not usable:
        raise LocalProtocolError("the challenge offers no qop this client supports")
    # Prefer "auth": proxies may legally rewrite bodies in ways auth-int would reject, and
    # servers offering both accept it (RFC 3261 §22.4 leaves the choice to the client).
    for item in usable:
        if item.lower() == QOP_AUTH:
            return item
    return usable[0]


def build_authorization(
    challenge: DigestChallenge,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nc: int,
    body: bytes = b"",
    *,
    qop: str | None = None,
) -> DigestCredentials:
    """The credentials a UAC sends in answer to ``challenge`` (RFC 3261 §22.2, §22.3).

    ``uri`` is the Request-URI of the new request and ``method`` its method (RFC 3261 §22.4);
    ``cnonce`` is a fresh random string from the caller and ``nc`` the count of requests sent
    with this nonce, starting at 1 (RFC 7616 §3.4). ``qop`` forces "auth" or "auth-int";
    by default "auth" is chosen when offered. Raises :class:`LocalProtocolError` when the
    challenge is not :func:`is_supported` or the arguments are out of range.
    """
    alg = _algorithm(challenge.algorithm)
    chosen_qop = _choose_qop(challenge.qop, qop)
    nc_value: str | None = None
    sent_cnonce: str | None = None
    if chosen_qop is not None:
        if not 1 <= nc <= 0xFFFFFFFF:
            raise LocalProtocolError("nc must fit 8 hex digits and start at 1")
        if not cnonce:
            raise LocalProtocolError("a cnonce is required with qop")
        nc_value = f"{nc:08x}"
        sent_cnonce = cnonce
    response = compute_response(
        ha1=compute_ha1(username, challenge.realm, password, alg.name),
        algorithm=alg.name,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=chosen_qop,
        nc=nc_value,
        cnonce=sent_cnonce,
        body=body,
    )
    return DigestCredentials(
        username=(
            compute_userhash(username, challenge.realm, alg.name)
            if challenge.userhash
            else username
        ),
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,  # echoed as the server spelled it, or left out
        cnonce=sent_cnonce,
        # opaque "MUST be returned by the client unchanged" (RFC 7616 §3.3).
        opaque=challenge.opaque,
        qop=chosen_qop,
        nc=nc_value,
        userhash=challenge.userhash,
    )


def verify(credentials: DigestCredentials, method: str, ha1: str, body: bytes = b"") -> bool:
    """Whether ``credentials`` prove knowledge of the password behind ``ha1`` (UAS side).

    ``ha1`` is the stored H(username ":" realm ":" password) computed with the hash of
    ``credentials.algorithm`` (see :func:`compute_ha1`); ``method`` and ``body`` come from the
    request. Unsupported algorithms or qop values give False rather than an exception: they
    are the peer's choice. The caller still checks the nonce (:mod:`parley.sip.auth.nonce`),
    that ``credentials.realm`` is its own and that ``credentials.uri`` matches the Request-URI
    (RFC 3261 §22.4, RFC 7616 §3.4.6).
    """
    alg = find_algorithm(credentials.algorithm)
    if alg is None:
        return False
    qop = credentials.qop
    if qop is None:
        if alg.session:
            return False  # "-sess" without qop cannot be computed (RFC 3261 §22.4 item 8)
    elif qop.lower() not in (QOP_AUTH, QOP_AUTH_INT) or None in (
        credentials.nc,
        credentials.cnonce,
    ):
        return False
    expected = compute_response(
        ha1=ha1,
        algorithm=alg.name,
        nonce=credentials.nonce,
        method=method,
        uri=credentials.uri,
        qop=qop,
        nc=credentials.nc,
        cnonce=credentials.cnonce,
        body=body,
    )
    # Constant-time comparison, so timing does not leak how much of a guess was right.
    return hmac.compare_digest(
        expected.encode("ascii"), credentials.response.lower().encode("utf-8", "replace")
    )
