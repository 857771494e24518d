"""HTTP Digest authentication for XCAP (RFC 4825 §13 requires it; RFC 7616).

The same digest machinery as SIP's (:mod:`parley.sip.auth`: challenges, credentials,
HMAC-signed nonces with nonce-count replay checks) and the same account H(A1)s, answered
the HTTP way: 401 with one ``WWW-Authenticate`` per algorithm, most preferred first
(RFC 7616 §3.7), ``stale=true`` for a correct digest on an old or replayed nonce (§3.3),
and the digest ``uri`` checked against the request-target (§3.4.6).

As in :class:`parley.services.auth.DigestAuthenticator`, unknown users get the very same
challenge and the same work as wrong passwords, and failures are counted by a
:class:`~parley.services.throttle.Throttle` (pass the SIP authenticator's to count
guesses over SIP and HTTP together). A locked-out source gets HTTP 429 Too Many Requests
(RFC 6585 §4), HTTP's own word for it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from parley.services.auth import SUPPORTED_ALGORITHMS, domain_realm
from parley.services.storage.interface import Account
from parley.services.throttle import Throttle, ThrottleConfig
from parley.sip.auth.challenge import DigestCredentials, parse_credentials
from parley.sip.auth.digest import Algorithm, find_algorithm, verify
from parley.sip.auth.nonce import (
    InMemoryNonceCounts,
    NonceCountStore,
    NonceIssuer,
    NonceStatus,
    check_nonce,
)
from parley.sip.errors import ParseError

__all__ = ["AccountLookup", "AuthFailure", "HttpDigestAuth"]


class AccountLookup(Protocol):
    """The part of the storage interface authentication needs."""

    async def get_account(self, aor: str) -> Account | None: ...


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """How to answer a request that did not authenticate: ``status`` (400, 401 or 429),
    a reason phrase, and headers (the ``WWW-Authenticate`` challenges of a 401)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


class HttpDigestAuth:
    """Checks ``Authorization: Digest`` against the accounts in ``storage``.

    ``realm_for(aor)`` names the realm protecting a user's documents (its domain by
    default, which must match the stored accounts' realm); ``algorithms`` are offered in
    that order of preference, each from :data:`SUPPORTED_ALGORITHMS`. ``secret`` keys the
    nonces; ``clock`` gives wall-clock seconds (nonces embed their issue time).
    """

    def __init__(
        self,
        storage: AccountLookup,
        *,
        realm_for: Callable[[str], str] = domain_realm,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        nonce_lifetime: float = 300.0,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
        random_bytes: Callable[[int], bytes] = os.urandom,
        throttle: Throttle | None = None,
        throttle_config: ThrottleConfig | None = None,
        nonce_counts: NonceCountStore | None = None,
    ) -> None:
        offered: list[Algorithm] = []
        for name in algorithms:
            algorithm = find_algorithm(name)
            if algorithm is None or algorithm.name.lower() not in SUPPORTED_ALGORITHMS:
                raise ValueError(f"cannot offer Digest algorithm {name!r}: no stored H(A1)")
            offered.append(algorithm)
        if not offered:
            raise ValueError("at least one Digest algorithm must be offered")
        self.storage = storage
        self.realm_for = realm_for
        self.algorithms = tuple(offered)
        self._offered = frozenset(a.name.lower() for a in offered)
        key = os.urandom(32) if secret is None else secret
        # A key of its own, so HTTP nonces are never valid SIP nonces and the reverse.
        self._issuer = NonceIssuer(
            key=hmac.new(key, b"parley xcap nonces", hashlib.sha256).digest(),
            lifetime=nonce_lifetime,
        )
        self._pepper = hmac.new(key, b"parley unknown user", hashlib.sha256).hexdigest()
        self._counts: NonceCountStore = nonce_counts or InMemoryNonceCounts()
        self._clock = clock
        self._random = random_bytes
        self.throttle = throttle or Throttle(throttle_config, clock=clock)

    def challenge(self, realm: str, *, stale: bool = False) -> AuthFailure:
        """A 401 asking for credentials in ``realm`` (RFC 7616 §3.3, §3.7)."""
        values = self._issuer.challenge_values(
            realm, self._clock(), self._random, [a.name for a in self.algorithms], stale=stale
        )
        headers = tuple(("WWW-Authenticate", value) for value in values)
        return AuthFailure(401, "Unauthorized", headers)

    async def authenticate(
        self,
        *,
        method: str,
        target: str,
        authorization: Sequence[str],
        identity: str,
        source: str,
    ) -> str | AuthFailure:
        """The AOR whose password the request proved, or how to answer it.

        ``target`` is the request-target as sent (path and query, still encoded),
        ``authorization`` the Authorization header values, ``identity`` the AOR whose
        resource is asked for (its realm protects the request, and a username without
        "@" is a user of its domain), ``source`` the client's IP address.
        """
        throttle = self.throttle
        if throttle.is_blocked(source):
            return AuthFailure(429, "Too many failed attempts")
        domain = domain_realm(identity)
        realm = self.realm_for(identity)
        credentials: DigestCredentials | None = None
        for value in authorization:
            scheme = value.split(None, 1)[0].lower() if value.strip() else ""
            if scheme != "digest":
                continue  # Basic and others are not offered: challenge with Digest
            try:
                parsed = parse_credentials(value)
            except ParseError:
                throttle.record_failure(source)
                return AuthFailure(400, "Malformed Authorization")
            if parsed.realm == realm:
                credentials = parsed
                break
        if credentials is None:
            return self.challenge(realm)

        user_aor = _user_aor(credentials.username, domain)
        if throttle.is_blocked(source, user_aor):
            return AuthFailure(429, "Too many failed attempts")
        algorithm = find_algorithm(credentials.algorithm)
        if algorithm is None or algorithm.name.lower() not in self._offered:
            return self.challenge(realm)
        if credentials.uri != target:
            # RFC 7616 §3.4.6: the digest must cover this request-target, or a captured
            # answer could be replayed against another document.
            return AuthFailure(400, "Digest uri does not match the request-target")

        account = await self.storage.get_account(user_aor)
        # The same work for unknown and known users (a lookup, a hash, a verify), so
        # neither the answer nor its timing tells which users exist.
        stand_in = algorithm.hash(f"{credentials.username}:{realm}:{self._pepper}")
        ha1 = stand_in
        if account is not None and account.realm == realm:
            stored = account.ha1_sha256 if algorithm.hash_name == "sha256" else account.ha1_md5
            ha1 = stored or stand_in
        proven = verify(credentials, method, ha1) and ha1 is not stand_in
        if not proven or account is None:
            throttle.record_failure(source, user_aor)
            if throttle.is_blocked(source, user_aor):
                return AuthFailure(429, "Too many failed attempts")
            return self.challenge(realm)
        status = check_nonce(self._issuer, self._counts, credentials, self._clock())
        if status is not NonceStatus.VALID:
            # RFC 7616 §3.3: the password was right, the nonce old or replayed (nc not
            # above the last seen, §3.4): a fresh one, stale so no password prompt.
            stale = status in (NonceStatus.STALE, NonceStatus.REPLAYED)
            return self.challenge(realm, stale=stale)
        throttle.record_success(source, user_aor)
        return account.aor


def _user_aor(username: str, domain: str) -> str:
    user, at, host = username.rpartition("@")
    if at and user:
        return f"{user}@{host.lower()}"
    return f"{username}@{domain}"
