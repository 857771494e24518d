"""The checks of a Digest answer that SIP and HTTP share (RFC 7616, RFC 8760).

:class:`DigestVerifier` takes the credentials a request carries and says what they prove:
an account, or why not (none for our realm, malformed, an algorithm we did not offer, a
digest ``uri`` that is not the request's, a wrong password, an old or replayed nonce, a
locked-out source). It never answers anything itself: the SIP authenticator
(:mod:`parley.services.auth`) turns a :class:`Verdict` into 401/407/400/403, the XCAP one
(:mod:`parley.services.xcap.auth`) into 401/400/429.

Unknown users get the very same verdict and the same work (a lookup, an H(A1)-sized hash, a
verify) as known users with a wrong password, so nothing tells which users exist. Wrong
passwords are counted per source and per user by a :class:`~parley.services.throttle.Throttle`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

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

#: Algorithms whose H(A1) an :class:`Account` stores (``ha1_md5``, ``ha1_sha256``); the
#: "-sess" variants derive from the same H(A1) (RFC 7616 §3.4.2).
SUPPORTED_ALGORITHMS = frozenset({"md5", "md5-sess", "sha-256", "sha-256-sess"})


def domain_realm(aor: str) -> str:
    """The default realm of ``aor``: its domain (RFC 3261 §22.1 suggests the host name)."""
    return aor.rpartition("@")[2].lower()


class AccountLookup(Protocol):
    """The part of the storage interface authentication needs."""

    async def get_account(self, aor: str) -> Account | None: ...


class Outcome(enum.Enum):
    PROVEN = "proven"
    #: No credentials for our realm, an algorithm we did not offer, or a wrong password:
    #: challenge afresh.
    CHALLENGE = "challenge"
    #: The password was right, the nonce old or replayed: challenge with ``stale=true``
    #: (RFC 7616 §3.3) so that the client retries without asking its user.
    STALE = "stale"
    #: Right password, but a nonce that is not ours: challenge, not stale.
    BAD_NONCE = "bad nonce"
    MALFORMED = "malformed credentials"
    #: RFC 7616 §3.4.6: the digest covers another request-target.
    URI_MISMATCH = "digest uri mismatch"
    #: Too many failures from this source (or for this user from it).
    LOCKED_OUT = "locked out"


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    realm: str
    account: Account | None = None


class DigestVerifier:
    """Issues challenges and checks answers against the accounts in ``storage``.

    ``realm_for(aor)`` names the realm protecting an AOR (default: its domain; it must match
    the ``realm`` of the stored accounts). ``algorithms`` are offered in that order of
    preference, each from :data:`SUPPORTED_ALGORITHMS`. ``secret`` keys the nonces (give all
    nodes of a cluster, and restarts of one, the same secret so their nonces stay valid);
    ``nonce_label``, when given, derives a key of its own from it so that nonces of one
    protocol are never valid in another. ``clock`` gives wall-clock seconds (nonces embed
    their issue time); ``random_bytes`` the nonce salt.
    """

    #: The default ``nonce_label`` of a class (a subclass for another protocol sets one).
    nonce_label: bytes | None = None

    def __init__(
        self,
        storage: AccountLookup,
        *,
        realm_for: Callable[[str], str] = domain_realm,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        nonce_lifetime: float = 300.0,
        secret: bytes | None = None,
        nonce_label: bytes | None = None,
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
        self.algorithms: tuple[Algorithm, ...] = tuple(offered)
        self._offered = frozenset(a.name.lower() for a in offered)
        secret = os.urandom(32) if secret is None else secret
        label = self.nonce_label if nonce_label is None else nonce_label
        key = secret if label is None else hmac.new(secret, label, hashlib.sha256).digest()
        self._issuer = NonceIssuer(key=key, lifetime=nonce_lifetime)
        # A separate key for the stand-in H(A1) of unknown users, so it reveals nothing
        # about the nonce key.
        self._pepper = hmac.new(secret, b"parley unknown user", hashlib.sha256).hexdigest()
        self._counts: NonceCountStore = nonce_counts or InMemoryNonceCounts()
        self._clock = clock
        self._random = random_bytes
        self.throttle = throttle or Throttle(throttle_config, clock=clock)

    def challenge_values(self, realm: str, *, stale: bool = False) -> list[str]:
        """One challenge per offered algorithm, most preferred first (RFC 8760 §2.3)."""
        return self._issuer.challenge_values(
            realm, self._clock(), self._random, [a.name for a in self.algorithms], stale=stale
        )

    async def verify(
        self,
        values: Sequence[str],
        *,
        identity: str,
        method: str,
        body: bytes = b"",
        covers: Callable[[str], bool],
        source: str,
    ) -> Verdict:
        """What the Authorization values ``values`` prove.

        ``identity`` is the AOR the request acts for: its realm protects the request, and a
        digest username without "@" is a user of its domain. ``body`` is the entity body
        (for qop=auth-int). ``covers(uri)`` says whether the digest ``uri`` names this
        request's target. ``source`` is the client's address, for the throttle.
        """
        throttle = self.throttle
        domain = domain_realm(identity)
        realm = self.realm_for(identity)
        if throttle.is_blocked(source):
            return Verdict(Outcome.LOCKED_OUT, realm)
        credentials: DigestCredentials | None = None
        for value in values:
            scheme = value.split(None, 1)[0].lower() if value.strip() else ""
            if scheme != "digest":
                # RFC 3261 §22.1, RFC 4475 regaut01: a scheme we do not know is ignored;
                # the challenge offers one we do.
                continue
            try:
                parsed = parse_credentials(value)
            except ParseError:
                throttle.record_failure(source)
                return Verdict(Outcome.MALFORMED, realm)
            # RFC 3261 §22.3: a request may carry credentials for several realms; use ours.
            if parsed.realm == realm:
                credentials = parsed
                break
        if credentials is None:
            return Verdict(Outcome.CHALLENGE, realm)

        username = credentials.username
        user_aor = _user_aor(username, domain)
        if throttle.is_blocked(source, user_aor):
            return Verdict(Outcome.LOCKED_OUT, realm)
        algorithm = find_algorithm(credentials.algorithm)
        if algorithm is None or algorithm.name.lower() not in self._offered:
            # Not one we offered (a downgrade to an algorithm we refused, or garbage): ask
            # again. No password was tested, so nothing is counted.
            return Verdict(Outcome.CHALLENGE, realm)
        if not covers(credentials.uri):
            # RFC 7616 §3.4.6: or a captured answer could be replayed against another
            # resource.
            return Verdict(Outcome.URI_MISMATCH, realm)

        account = await self.storage.get_account(user_aor)
        stand_in = algorithm.hash(f"{username}:{realm}:{self._pepper}")
        ha1 = stand_in
        if account is not None and account.realm == realm:
            stored = account.ha1_sha256 if algorithm.hash_name == "sha256" else account.ha1_md5
            ha1 = stored or stand_in
        proven = verify(credentials, method, ha1, body) and ha1 is not stand_in
        if not proven or account is None:
            throttle.record_failure(source, user_aor)
            if throttle.is_blocked(source, user_aor):
                return Verdict(Outcome.LOCKED_OUT, realm)
            return Verdict(Outcome.CHALLENGE, realm)
        status = check_nonce(self._issuer, self._counts, credentials, self._clock())
        if status is not NonceStatus.VALID:
            stale = status in (NonceStatus.STALE, NonceStatus.REPLAYED)
            return Verdict(Outcome.STALE if stale else Outcome.BAD_NONCE, realm)
        throttle.record_success(source, user_aor)
        return Verdict(Outcome.PROVEN, realm, account)


def _user_aor(username: str, domain: str) -> str:
    """The AOR a digest username names: "alice" in the identity's domain, or a full AOR."""
    user, at, host = username.rpartition("@")
    if at and user:
        return f"{user}@{host.lower()}"
    return f"{username}@{domain}"


__all__ = [
    "SUPPORTED_ALGORITHMS",
    "AccountLookup",
    "DigestVerifier",
    "Outcome",
    "Verdict",
    "domain_realm",
]
