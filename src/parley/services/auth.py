"""Digest authentication of incoming requests (RFC 3261 §22, RFC 7616, RFC 8760).

:class:`DigestAuthenticator` is the server side of the handshake for a registrar, a UAS or a
proxy. ``authenticate`` either returns the AOR the request proved to own, or has already
answered the request (401/407 challenge, 400, 403) and returns None:

* challenges carry one WWW-Authenticate (or Proxy-Authenticate) per configured algorithm,
  most preferred first, each with its own nonce and ``qop="auth"`` (RFC 8760 §2.3);
* an expired or replayed nonce with a correct digest gets a fresh challenge with
  ``stale=true``, so the client retries without asking its user (RFC 7616 §3.3, §3.4);
* an unknown user gets the very same challenge and the same work (a lookup and a hash) as a
  known one with a wrong password: nothing tells an attacker which users exist;
* wrong passwords are counted per source address and per user by a
  :class:`~parley.services.throttle.Throttle`, and locked-out sources get 403.

Why 403 for a lock-out and not 429: in SIP, 429 is "Provide Referrer Identity" (RFC 3892),
not HTTP's "Too Many Requests", so a SIP client would misread it; 503 with Retry-After
would tell a UA to fail over to another server (RFC 3263 §4.3) and is meant for overload,
not refusal. 403 is final for the client (RFC 3261 §21.4.4: "authorization will not help,
and the request SHOULD NOT be repeated"), which is exactly what a guessing source should
hear; the reason phrase says why, for the administrator of a real client caught by it.

``now`` comes from ``clock()``: wall-clock seconds, since nonces embed their issue time and
every server sharing ``secret`` must agree on it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Sequence

from parley.runtime.endpoint import ServerRequest
from parley.services.storage.interface import Account, Storage
from parley.services.throttle import Throttle, ThrottleConfig
from parley.sip.auth.challenge import (
    DigestCredentials,
    parse_credentials,
)
from parley.sip.auth.digest import Algorithm, compute_ha1, find_algorithm, verify
from parley.sip.auth.nonce import (
    InMemoryNonceCounts,
    NonceCountStore,
    NonceIssuer,
    NonceStatus,
    check_nonce,
)
from parley.sip.errors import ParseError
from parley.sip.syntax import SipUri, parse_uri, uri_equal

Clock = Callable[[], float]
RandomBytes = Callable[[int], bytes]

#: Algorithms whose H(A1) an :class:`Account` stores (``ha1_md5``, ``ha1_sha256``); the
#: "-sess" variants derive from the same H(A1) (RFC 7616 §3.4.2).
SUPPORTED_ALGORITHMS = frozenset({"md5", "md5-sess", "sha-256", "sha-256-sess"})

LOCKED_OUT = "Forbidden (too many failed attempts)"


def domain_realm(aor: str) -> str:
    """The default realm of ``aor``: its domain (RFC 3261 §22.1 suggests the host name)."""
    return aor.rpartition("@")[2].lower()


def make_account(
    aor: str, password: str, *, realm: str | None = None, created: float = 0.0
) -> Account:
    """An :class:`Account` for ``aor`` ("alice@example.com") holding only H(A1) hashes.

    The digest username is the user part ("alice"), as UAs send it (RFC 3261 §22.4), and the
    realm defaults to the domain, as :func:`domain_realm` gives it.
    """
    user, at, domain = aor.rpartition("@")
    if not at or not user or not domain:
        raise ValueError(f"an AOR is user@domain, not {aor!r}")
    aor = f"{user}@{domain.lower()}"
    realm = domain_realm(aor) if realm is None else realm
    return Account(
        aor=aor,
        realm=realm,
        ha1_md5=compute_ha1(user, realm, password, "MD5"),
        ha1_sha256=compute_ha1(user, realm, password, "SHA-256"),
        created=created,
    )


class DigestAuthenticator:
    """Challenges requests and checks their Digest credentials against ``storage``.

    ``realm_for(aor)`` names the realm protecting an AOR (default: its domain; it must match
    the ``realm`` of the stored accounts). ``algorithms`` are offered in that order of
    preference, each from :data:`SUPPORTED_ALGORITHMS`. ``secret`` keys the nonces (give all
    nodes of a cluster, and restarts of one, the same secret so their nonces stay valid);
    ``nonce_lifetime`` is in seconds. ``clock`` gives wall-clock seconds; ``random_bytes``
    the nonce salt.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        realm_for: Callable[[str], str] = domain_realm,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        nonce_lifetime: float = 300.0,
        secret: bytes | None = None,
        clock: Clock = time.time,
        random_bytes: RandomBytes = os.urandom,
        throttle: Throttle | None = None,
        throttle_config: ThrottleConfig | None = None,
        nonce_counts: NonceCountStore | None = None,
    ) -> None:
        if not algorithms:
            raise ValueError("at least one Digest algorithm must be offered")
        offered: list[Algorithm] = []
        for name in algorithms:
            algorithm = find_algorithm(name)
            if algorithm is None or algorithm.name.lower() not in SUPPORTED_ALGORITHMS:
                raise ValueError(f"cannot offer Digest algorithm {name!r}: no stored H(A1)")
            offered.append(algorithm)
        self.storage = storage
        self.realm_for = realm_for
        self.algorithms: tuple[Algorithm, ...] = tuple(offered)
        self._offered = frozenset(a.name.lower() for a in offered)
        self._secret = os.urandom(32) if secret is None else secret
        self._issuer = NonceIssuer(key=self._secret, lifetime=nonce_lifetime)
        # A separate key for the stand-in H(A1) of unknown users, so it reveals nothing
        # about the nonce key.
        self._pepper = hmac.new(self._secret, b"parley unknown user", hashlib.sha256).hexdigest()
        self._counts: NonceCountStore = nonce_counts or InMemoryNonceCounts()
        self._clock = clock
        self._random = random_bytes
        self.throttle = throttle or Throttle(throttle_config, clock=clock)

    async def authenticate(
        self,
        incoming: ServerRequest,
        *,
        proxy: bool = False,
        identity: str | None = None,
        check_identity: bool = True,
    ) -> str | None:
        """The AOR whose password the request proved, or None once it has been answered.

        ``identity`` is the AOR the request claims to act for: by default the From AOR, a
        registrar passes the To AOR (RFC 3261 §10.3 steps 3-4). Its realm protects the
        request, and a username without "@" is a user of its domain. With
        ``check_identity`` (the default) proving another user's password earns 403.
        ``proxy`` selects 407/Proxy-Authenticate/Proxy-Authorization (§22.3) over
        401/WWW-Authenticate/Authorization (§22.2).
        """
        request = incoming.request
        ip = incoming.peer.host
        throttle = self.throttle
        if throttle.is_blocked(ip):
            incoming.respond(403, LOCKED_OUT)
            return None
        if identity is None:
            try:
                uri = request.from_.uri
            except ParseError:
                incoming.respond(400, "Malformed From")
                return None
            if not isinstance(uri, SipUri) or uri.user is None:
                incoming.respond(403, "From is not a SIP address of record")
                return None
            identity = uri.aor
        domain = domain_realm(identity)
        realm = self.realm_for(identity)

        credentials: DigestCredentials | None = None
        field = "Proxy-Authorization" if proxy else "Authorization"
        for value in request.headers.get_all(field):
            scheme = value.split(None, 1)[0].lower() if value.strip() else ""
            if scheme != "digest":
                # §22.1, RFC 4475 regaut01: a scheme we do not know is ignored; the
                # challenge below offers one we do.
                continue
            try:
                parsed = parse_credentials(value)
            except ParseError:
                throttle.record_failure(ip)
                incoming.respond(400, f"Malformed {field}")
                return None
            # §22.3: a request may carry credentials for several realms; use ours.
            if parsed.realm == realm:
                credentials = parsed
                break
        if credentials is None:
            self._challenge(incoming, realm, proxy=proxy, stale=False)
            return None

        username = credentials.username
        user_aor = _user_aor(username, domain)
        if throttle.is_blocked(ip, user_aor):
            incoming.respond(403, LOCKED_OUT)
            return None
        algorithm = find_algorithm(credentials.algorithm)
        if algorithm is None or algorithm.name.lower() not in self._offered:
            # Not one we offered (a downgrade to an algorithm we refused, or garbage): ask
            # again. No password was tested, so nothing is counted.
            self._challenge(incoming, realm, proxy=proxy, stale=False)
            return None
        if not _same_uri(credentials.uri, request.request_uri):
            # RFC 7616 §3.4.6: the digest must cover the Request-URI it arrived with, or a
            # captured response could be replayed against another resource.
            incoming.respond(400, "Digest uri does not match the Request-URI")
            return None

        account = await self.storage.get_account(user_aor)
        # The same work for unknown and known users: one lookup, one H(A1)-sized hash, one
        # verify, so neither the answer nor its timing tells which users exist.
        stand_in = algorithm.hash(f"{username}:{realm}:{self._pepper}")
        ha1 = stand_in
        if account is not None and account.realm == realm:
            stored = account.ha1_sha256 if algorithm.hash_name == "sha256" else account.ha1_md5
            ha1 = stored or stand_in
        proven = verify(credentials, request.method, ha1, request.body) and ha1 is not stand_in
        if not proven or account is None:
            throttle.record_failure(ip, user_aor)
            if throttle.is_blocked(ip, user_aor):
                incoming.respond(403, LOCKED_OUT)
            else:
                self._challenge(incoming, realm, proxy=proxy, stale=False)
            return None

        status = check_nonce(self._issuer, self._counts, credentials, self._clock())
        if status is not NonceStatus.VALID:
            # The password was right but the nonce is old, replayed (nc not above the last
            # seen) or not ours: a fresh nonce, with stale=true where the client may retry
            # at once (RFC 7616 §3.3).
            stale = status in (NonceStatus.STALE, NonceStatus.REPLAYED)
            self._challenge(incoming, realm, proxy=proxy, stale=stale)
            return None
        throttle.record_success(ip, user_aor)
        if check_identity and account.aor != identity:
            # §10.3 step 4 / §22: authenticated, but not as whom the request claims to be.
            incoming.respond(403, "Authenticated user does not match the address of record")
            return None
        return account.aor

    def challenge(self, incoming: ServerRequest, realm: str, *, proxy: bool = False) -> None:
        """Answer ``incoming`` with a fresh 401 (or 407) challenge for ``realm``."""
        self._challenge(incoming, realm, proxy=proxy, stale=False)

    def _challenge(self, incoming: ServerRequest, realm: str, *, proxy: bool, stale: bool) -> None:
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        values = self._issuer.challenge_values(
            realm, self._clock(), self._random, [a.name for a in self.algorithms], stale=stale
        )
        headers = [(name, value) for value in values]
        incoming.respond(407 if proxy else 401, headers=headers)


def _user_aor(username: str, domain: str) -> str:
    """The AOR a digest username names: "alice" in the identity's domain, or a full AOR."""
    user, at, host = username.rpartition("@")
    if at and user:
        return f"{user}@{host.lower()}"
    return f"{username}@{domain}"


def _same_uri(digest_uri: str, request_uri: str) -> bool:
    if digest_uri == request_uri:
        return True
    try:
        return uri_equal(parse_uri(digest_uri), parse_uri(request_uri))
    except ParseError:
        return False


__all__ = [
    "LOCKED_OUT",
    "SUPPORTED_ALGORITHMS",
    "DigestAuthenticator",
    "domain_realm",
    "make_account",
]
