"""The identifiers a user agent mints: tags (RFC 3261 §19.3), Call-IDs (§8.1.1.4), branches
(§8.1.1.7).

Randomness is injected, never drawn here: every function takes ``random_bytes``, a callable
that returns exactly the number of bytes asked for (the runtime passes ``os.urandom`` or
``secrets.token_bytes``; tests pass a deterministic source). The core stays sans-I/O and its
tests stay reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parley.sip.errors import LocalProtocolError
from parley.sip.syntax import MAGIC_COOKIE
from parley.sip.syntax.abnf import CALL_ID_RE

#: A source of random bytes: ``random_bytes(n)`` returns ``n`` bytes.
RandomBytes = Callable[[int], bytes]

#: §19.3: a tag MUST carry at least 32 bits of randomness. 64 keeps the chance that two of a
#: busy server's tags collide negligible (they must be globally unique, not just unguessable).
TAG_BYTES = 8
#: §8.1.1.4 recommends cryptographically random Call-IDs; 128 bits makes them unique without
#: coordination between boxes.
CALL_ID_BYTES = 16
#: §8.1.1.7: a branch must be unique across space and time for all requests a UA sends.
BRANCH_BYTES = 12


def _draw(random_bytes: RandomBytes, count: int) -> str:
    data = random_bytes(count)
    if len(data) != count:
        # A short read would silently shrink the randomness §19.3 asks for.
        raise LocalProtocolError(f"random source returned {len(data)} bytes, not {count}")
    # Hex digits are in every grammar involved: token (tag, branch) and word (Call-ID).
    return data.hex()


def new_tag(random_bytes: RandomBytes) -> str:
    """A From or To tag (§19.3): globally unique, cryptographically random."""
    return _draw(random_bytes, TAG_BYTES)


def new_call_id(random_bytes: RandomBytes, host: str | None = None) -> str:
    """A Call-ID (§8.1.1.4, §20.8): random, optionally in the ``localid@host`` form.

    ``host`` is only decoration (the random part alone is unique); it must be a ``word``
    (§25.1), which IPv6 references and host names are.
    """
    call_id = _draw(random_bytes, CALL_ID_BYTES)
    if host is not None:
        call_id = f"{call_id}@{host}"
    if CALL_ID_RE.fullmatch(call_id) is None:
        raise LocalProtocolError(f"host {host!r} cannot stand in a Call-ID")
    return call_id


def new_branch(random_bytes: RandomBytes) -> str:
    """A Via branch (§8.1.1.7): the magic cookie ``z9hG4bK`` followed by random hex, so that
    servers match transactions by branch (§17.2.3) rather than by RFC 2543's rules."""
    return MAGIC_COOKIE + _draw(random_bytes, BRANCH_BYTES)


@dataclass(frozen=True, slots=True)
class IdGenerator:
    """The three generators bound to one random source, for the stack to hand around."""

    random_bytes: RandomBytes
    #: Put after the magic cookie of every branch: the server's worker processes mark the
    #: requests they send so that the process reading the socket hands the responses back.
    branch_prefix: str = ""

    def tag(self) -> str:
        return new_tag(self.random_bytes)

    def call_id(self, host: str | None = None) -> str:
        return new_call_id(self.random_bytes, host)

    def branch(self) -> str:
        if self.branch_prefix:
            return MAGIC_COOKIE + self.branch_prefix + _draw(self.random_bytes, BRANCH_BYTES)
        return new_branch(self.random_bytes)
