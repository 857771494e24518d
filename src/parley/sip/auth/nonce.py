"""Server nonces: stateless issue and check, plus nonce-count replay tracking.

RFC 7616 §3.3 leaves the nonce's content to the server and suggests a time-stamp protected
by a private key; RFC 3261 §22.4 item 4 notes the HTTP ETag idea does not fit SIP. A
:class:`NonceIssuer` therefore makes nonces that carry their issue time and the realm under an
HMAC, so any process holding the key can tell a good nonce, a stale one and a forgery without
shared state.

Replay needs state: the nonce-count (nc) of each nonce must strictly increase (RFC 7616 §3.4
and §5, "Replay Attacks"). :class:`NonceCountStore` is the small interface for that state; the
in-memory :class:`InMemoryNonceCounts` serves one process, and a Redis or PostgreSQL store can
implement the same method with one atomic compare-and-set per request.

Nothing here reads a clock or a random source: the caller passes ``now`` (wall-clock seconds,
the same clock on every server sharing the key) and ``salt`` bytes from a CSPRNG.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from parley.sip.auth.challenge import DigestChallenge, DigestCredentials, serialize_challenge
from parley.sip.errors import LocalProtocolError

__all__ = [
    "SALT_SIZE",
    "InMemoryNonceCounts",
    "NonceCountStore",
    "NonceIssuer",
    "NonceStatus",
    "check_nonce",
]

#: Bytes of caller randomness in each nonce; 128 bits keeps nonces unique across servers.
SALT_SIZE = 16
_VERSION = 1
_MAC_SIZE = 16  # HMAC-SHA-256 cut to 128 bits: ample against forgery, shorter headers
_RAW_SIZE = 1 + 8 + SALT_SIZE + _MAC_SIZE
#: Issue times this far in the future are tolerated (clock steps between servers).
_CLOCK_SKEW = 1.0


class NonceStatus(enum.Enum):
    """What a server makes of a nonce in credentials."""

    #: Issued by us, within its lifetime, and (for :func:`check_nonce`) nc not seen before.
    VALID = "valid"
    #: Issued by us but expired or signed with a retired key: answer with stale=true so the
    #: client retries with a fresh nonce without asking the user again (RFC 7616 §3.3).
    STALE = "stale"
    #: Not a nonce we issued for this realm: tampered, made up or garbage.
    FORGED = "forged"
    #: A nonce-count not above the highest seen for this nonce: a replay (RFC 7616 §3.4, §5).
    REPLAYED = "replayed"


@dataclass(frozen=True, slots=True)
class NonceIssuer:
    """Makes and checks HMAC-signed nonces that embed their issue time.

    A nonce is base64url (no padding) of ``version | issued-ms (8 bytes) | salt | MAC``, where
    MAC = HMAC-SHA-256(key, version | issued-ms | salt | realm) cut to 16 bytes. Binding the
    realm stops a nonce of one realm being used in another. ``old_keys`` are still recognised
    during a key rollover, as stale, so clients move to the new key without a password prompt.
    """

    key: bytes = field(repr=False)
    lifetime: float = 300.0
    old_keys: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if len(self.key) < 16 or any(len(key) < 16 for key in self.old_keys):
            raise LocalProtocolError("nonce keys must be at least 16 bytes")
        if not (math.isfinite(self.lifetime) and self.lifetime > 0):
            raise LocalProtocolError("nonce lifetime must be a positive number of seconds")

    def issue(self, realm: str, now: float, salt: bytes) -> str:
        """A fresh nonce for ``realm``; ``salt`` is :data:`SALT_SIZE` random bytes."""
        if len(salt) != SALT_SIZE:
            raise LocalProtocolError(f"salt must be {SALT_SIZE} random bytes")
        if not (math.isfinite(now) and 0 <= now < 2**53 / 1000):
            raise LocalProtocolError("now must be non-negative wall-clock seconds")
        body = bytes([_VERSION]) + int(now * 1000).to_bytes(8, "big") + salt
        raw = body + _mac(self.key, body, realm)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def check(self, nonce: str, realm: str, now: float) -> NonceStatus:
        """VALID, STALE or FORGED for a nonce received in credentials for ``realm``.

        RFC 7616 §3.3: the server should only set stale=true when the digest was right for
        that nonce, so call :func:`parley.sip.auth.digest.verify` first.
        """
        decoded = _decode(nonce)
        if decoded is None:
            return NonceStatus.FORGED
        body, mac = decoded[:-_MAC_SIZE], decoded[-_MAC_SIZE:]
        if hmac.compare_digest(mac, _mac(self.key, body, realm)):
            issued = int.from_bytes(body[1:9], "big") / 1000
            if issued - _CLOCK_SKEW <= now <= issued + self.lifetime:
                return NonceStatus.VALID
            return NonceStatus.STALE
        for old_key in self.old_keys:
            if hmac.compare_digest(mac, _mac(old_key, body, realm)):
                return NonceStatus.STALE
        return NonceStatus.FORGED

    def expires_at(self, nonce: str) -> float | None:
        """When ``nonce`` stops being valid, or None if it is not one of ours in form.

        This reads the embedded time without checking the MAC; use it after :meth:`check`.
        """
        decoded = _decode(nonce)
        if decoded is None:
            return None
        return int.from_bytes(decoded[1:9], "big") / 1000 + self.lifetime

    def challenge(
        self,
        realm: str,
        now: float,
        salt: bytes,
        *,
        algorithm: str | None = "SHA-256",
        qop: tuple[str, ...] = ("auth",),
        stale: bool = False,
        opaque: str | None = None,
        domain: tuple[str, ...] = (),
    ) -> DigestChallenge:
        """A challenge carrying a fresh nonce, for a 401 or 407 (RFC 3261 §22.2, §22.3).

        RFC 8760 §2.3 has a UAS offering several algorithms send one challenge per algorithm,
        most preferred first; call this once per algorithm (each gets its own nonce).
        """
        return DigestChallenge(
            realm=realm,
            nonce=self.issue(realm, now, salt),
            domain=domain,
            opaque=opaque,
            stale=stale,
            algorithm=algorithm,
            qop=qop,
        )

    def challenge_values(
        self,
        realm: str,
        now: float,
        random_bytes: Callable[[int], bytes],
        algorithms: Iterable[str],
        *,
        stale: bool = False,
    ) -> list[str]:
        """WWW-/Proxy-Authenticate values offering each of ``algorithms``, most preferred
        first (RFC 8760 §2.3), each with its own nonce and ``qop="auth"`` (RFC 8760 §2.6
        item 8: a UAS always sends qop). Shared by the SIP and the HTTP (XCAP) servers."""
        return [
            serialize_challenge(
                self.challenge(
                    realm, now, random_bytes(SALT_SIZE), algorithm=name, qop=("auth",), stale=stale
                )
            )
            for name in algorithms
        ]


def _mac(key: bytes, body: bytes, realm: str) -> bytes:
    message = body + realm.encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_SIZE]


def _decode(nonce: str) -> bytes | None:
    if len(nonce) != (_RAW_SIZE * 4 + 2) // 3:
        return None
    try:
        raw = base64.urlsafe_b64decode(nonce.encode("ascii") + b"=" * (-len(nonce) % 4))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    # Only the canonical spelling counts, so one nonce cannot pose as several in the
    # nonce-count store (the decoder ignores stray characters and unused low bits).
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != nonce:
        return None
    if len(raw) != _RAW_SIZE or raw[0] != _VERSION:
        return None
    return raw


class NonceCountStore(Protocol):
    """Where the highest nonce-count seen per nonce is kept (RFC 7616 §3.4, §5).

    ``advance`` must be atomic: accept and record ``nc`` only if it is above the highest seen
    for ``nonce``. Entries may be forgotten after ``expires_at``, since an expired nonce is
    stale anyway. A Redis store can do this in one Lua script with a TTL; PostgreSQL with an
    ``INSERT ... ON CONFLICT DO UPDATE ... WHERE nc < excluded.nc``.
    """

    def advance(self, nonce: str, nc: int, *, expires_at: float, now: float) -> bool:
        """True if ``nc`` is new and higher than any seen for ``nonce``; then record it."""
        ...


@dataclass(slots=True)
class _Seen:
    highest: int
    expires_at: float


class InMemoryNonceCounts:
    """A bounded, single-process :class:`NonceCountStore`.

    At most ``max_entries`` nonces are tracked. Expired entries go first; if the store is
    still full, the oldest is dropped and every nonce expiring no later than it is refused
    from then on, so forgetting an entry can never re-open a replay (the client just gets a
    stale=true challenge and a new nonce).
    """

    __slots__ = ("_entries", "_floor", "max_entries")

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise LocalProtocolError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Seen] = OrderedDict()
        self._floor = -math.inf

    def __len__(self) -> int:
        return len(self._entries)

    def advance(self, nonce: str, nc: int, *, expires_at: float, now: float) -> bool:
        self._prune(now)
        if now > expires_at:
            return False
        seen = self._entries.get(nonce)
        if seen is not None:
            if nc <= seen.highest:
                return False
            seen.highest = nc
            return True
        if nc < 1 or expires_at <= self._floor:
            return False
        if len(self._entries) >= self.max_entries:
            _, evicted = self._entries.popitem(last=False)
            self._floor = max(self._floor, evicted.expires_at)
        self._entries[nonce] = _Seen(nc, expires_at)
        return True

    def _prune(self, now: float) -> None:
        # Entries are in first-use order, which follows issue order closely, so expired ones
        # gather at the front; stopping at the first live one keeps this O(1) amortised.
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.expires_at >= now:
                break
            self._entries.popitem(last=False)


def check_nonce(
    issuer: NonceIssuer,
    counts: NonceCountStore,
    credentials: DigestCredentials,
    now: float,
) -> NonceStatus:
    """The status of ``credentials.nonce``, including replay of its nonce-count.

    Call after :func:`parley.sip.auth.digest.verify` succeeded. VALID: accept. STALE or
    REPLAYED: answer 401/407 with a fresh challenge and stale=true. FORGED: a fresh challenge
    without stale. Credentials without qop (RFC 2069 style) carry no nc, so only the nonce
    lifetime limits their replay.
    """
    status = issuer.check(credentials.nonce, credentials.realm, now)
    if status is not NonceStatus.VALID or credentials.nc is None:
        return status
    expires_at = issuer.expires_at(credentials.nonce)
    if expires_at is None:  # unreachable after VALID, kept for the type checker
        return NonceStatus.FORGED
    nc = int(credentials.nc, 16)
    if not counts.advance(credentials.nonce, nc, expires_at=expires_at, now=now):
        return NonceStatus.REPLAYED
    return NonceStatus.VALID
