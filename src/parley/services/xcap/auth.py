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

from collections.abc import Sequence
from dataclasses import dataclass

from parley.services.digest_verifier import AccountLookup, DigestVerifier, Outcome

__all__ = ["AccountLookup", "AuthFailure", "HttpDigestAuth"]


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """How to answer a request that did not authenticate: ``status`` (400, 401 or 429),
    a reason phrase, and headers (the ``WWW-Authenticate`` challenges of a 401)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


class HttpDigestAuth(DigestVerifier):
    """Checks ``Authorization: Digest`` against the accounts in ``storage`` (the options
    are :class:`~parley.services.digest_verifier.DigestVerifier`'s). Its nonces have a key
    of their own, so HTTP nonces are never valid SIP nonces and the reverse."""

    nonce_label = b"parley xcap nonces"

    def challenge(self, realm: str, *, stale: bool = False) -> AuthFailure:
        """A 401 asking for credentials in ``realm`` (RFC 7616 §3.3, §3.7)."""
        values = self.challenge_values(realm, stale=stale)
        return AuthFailure(401, "Unauthorized", tuple(("WWW-Authenticate", v) for v in values))

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
        verdict = await self.verify(
            authorization,
            identity=identity,
            method=method,
            covers=lambda uri: uri == target,
            source=source,
        )
        outcome = verdict.outcome
        if outcome is Outcome.PROVEN and verdict.account is not None:
            return verdict.account.aor
        if outcome is Outcome.LOCKED_OUT:
            return AuthFailure(429, "Too many failed attempts")
        if outcome is Outcome.MALFORMED:
            return AuthFailure(400, "Malformed Authorization")
        if outcome is Outcome.URI_MISMATCH:
            return AuthFailure(400, "Digest uri does not match the request-target")
        return self.challenge(verdict.realm, stale=outcome is Outcome.STALE)
