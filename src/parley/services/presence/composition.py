"""What a presentity's watchers are told: its publications composed into one PIDF document,
or, for users whose clients never PUBLISH, a document derived from their registrations.

RFC 3903 §4 leaves composition to the presence agent. Parley's policy:

* publications exist: :func:`parley.payloads.pidf.compose` merges them (tuples and devices
  of every source, the person element of the most recent one, RFC 4479 data model);
* no publication: every registered device is an ``open`` tuple whose ``<contact>`` is the
  binding's Contact (RFC 3863 §4.1.5); with no binding at all, one ``closed`` tuple. So
  registering turns a watcher's NOTIFY from closed to open, as in the seed, and losing the
  last binding turns it back;
* a politely blocked watcher (RFC 5025 §3.2.1) always gets the same closed document,
  :func:`neutral_presence`, so that it sees nothing ever change.

Everything here is pure: bindings and publications come in, documents go out.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from parley.payloads import pidf
from parley.payloads.errors import PayloadError
from parley.services.storage import Binding, Publication

log = logging.getLogger(__name__)

#: The media types a presence document can be rendered in, in the package's order.
PIDF = pidf.CONTENT_TYPE
CPIM_PIDF = pidf.CPIM_PIDF_CONTENT_TYPE


def entity_of(aor: str) -> str:
    """The ``entity`` of a presentity's documents: its SIP URI (RFC 3863 §4.1.1 allows
    ``pres:``; the seed and most clients use ``sip:``)."""
    return f"sip:{aor}"


def _stable_id(prefix: str, *parts: str) -> str:
    # Tuple ids must stay the same across documents (RFC 3863 §4.1.2) so that watchers can
    # tell a changed tuple from a new one; a hash of what identifies it keeps them stable.
    return prefix + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]


def registration_presence(aor: str, bindings: Iterable[Binding]) -> pidf.Presence:
    """The document of a presentity that published nothing: one ``open`` tuple per
    registered device (one per ``+sip.instance``, RFC 5626 §7), or one ``closed`` tuple."""
    entity = entity_of(aor)
    tuples: list[pidf.Tuple] = []
    seen: set[str] = set()
    for binding in bindings:
        key = binding.instance or binding.contact
        if key in seen:
            continue
        seen.add(key)
        priority = None if binding.q == 1.0 else binding.q
        tuples.append(
            pidf.Tuple(
                _stable_id("t", aor, key),
                pidf.Status(pidf.Basic.OPEN),
                pidf.Contact(binding.contact, priority),
            )
        )
    if not tuples:
        return neutral_presence(aor)
    return pidf.Presence(entity, tuple(tuples))


def neutral_presence(aor: str) -> pidf.Presence:
    """A single ``closed`` tuple without contact: offline, revealing nothing. It is what a
    presentity without devices looks like, and what politely blocked watchers always see."""
    return pidf.Presence(
        entity_of(aor), (pidf.Tuple(_stable_id("t", aor), pidf.Status(pidf.Basic.CLOSED)),)
    )


def compose_presence(
    aor: str, publications: Iterable[Publication], bindings: Iterable[Binding]
) -> pidf.Presence:
    """The presentity's document: its publications composed (RFC 4479), or, when it has
    none that can be read, what its registrations say."""
    sources: list[pidf.Publication] = []
    for publication in publications:
        try:
            document = pidf.parse(publication.document)
        except PayloadError as exc:  # accepted once, so only a codec change can do this
            log.warning("stored publication %s of %s unreadable: %s", publication.etag, aor, exc)
            continue
        sources.append(pidf.Publication(document, publication.published))
    if not sources:
        return registration_presence(aor, bindings)
    return pidf.compose(sources, entity_of(aor))


def render(presence: pidf.Presence, content_type: str) -> bytes:
    """``presence`` in the flavour a subscription negotiated: ``application/pidf+xml``
    (RFC 3863) or the seed's ``application/cpim-pidf+xml``."""
    return pidf.serialize(presence, content_type=content_type, pretty=True)


__all__ = [
    "CPIM_PIDF",
    "PIDF",
    "compose_presence",
    "entity_of",
    "neutral_presence",
    "registration_presence",
    "render",
]
