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

from parley.runtime.endpoint import ServerRequest
from parley.services.digest_verifier import (
    SUPPORTED_ALGORITHMS,
    DigestVerifier,
    Outcome,
    domain_realm,
)
from parley.services.storage.interface import Account
from parley.sip.auth.digest import compute_ha1
from parley.sip.errors import ParseError
from parley.sip.syntax import SipUri, parse_uri, uri_equal

LOCKED_OUT = "Forbidden (too many failed attempts)"


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


class DigestAuthenticator(DigestVerifier):
    """Challenges SIP requests and checks their Digest credentials against ``storage``
    (the options are :class:`~parley.services.digest_verifier.DigestVerifier`'s)."""

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
        field = "Proxy-Authorization" if proxy else "Authorization"
        verdict = await self.verify(
            request.headers.get_all(field),
            identity=identity,
            method=request.method,
            body=request.body,
            covers=lambda uri: _same_uri(uri, request.request_uri),
            source=incoming.peer.host,
        )
        outcome = verdict.outcome
        if outcome is Outcome.PROVEN and verdict.account is not None:
            if check_identity and verdict.account.aor != identity:
                # §10.3 step 4 / §22: authenticated, but not as whom the request claims.
                incoming.respond(403, "Authenticated user does not match the address of record")
                return None
            return verdict.account.aor
        if outcome is Outcome.LOCKED_OUT:
            incoming.respond(403, LOCKED_OUT)
        elif outcome is Outcome.MALFORMED:
            incoming.respond(400, f"Malformed {field}")
        elif outcome is Outcome.URI_MISMATCH:
            incoming.respond(400, "Digest uri does not match the Request-URI")
        else:
            self._challenge(incoming, verdict.realm, proxy=proxy, stale=outcome is Outcome.STALE)
        return None

    def challenge(self, incoming: ServerRequest, realm: str, *, proxy: bool = False) -> None:
        """Answer ``incoming`` with a fresh 401 (or 407) challenge for ``realm``."""
        self._challenge(incoming, realm, proxy=proxy, stale=False)

    def _challenge(self, incoming: ServerRequest, realm: str, *, proxy: bool, stale: bool) -> None:
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        headers = [(name, value) for value in self.challenge_values(realm, stale=stale)]
        incoming.respond(407 if proxy else 401, headers=headers)


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
