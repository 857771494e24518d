"""Pure codecs for the bodies SIP SIMPLE carries, one module per RFC.

Each module has a ``CONTENT_TYPE`` constant, ``parse(bytes) -> value`` and
``serialize(value) -> bytes`` over frozen dataclasses, and raises only
:class:`~parley.payloads.errors.PayloadError` on bad input (the server answers 400).
XML goes through :mod:`parley.payloads.xml` (no DTDs, no entities, size and depth
caps); unknown extension elements are kept for round trips.

=================  =========================================================
``pidf``           RFC 3863 + RFC 4479 presence (and ``application/cpim-pidf+xml``)
``rpid``           RFC 4480 rich presence, registered onto PIDF
``cipid``          RFC 4482 contact information, registered onto PIDF
``watcherinfo``    RFC 3858 watcher information
``resourcelists``  RFC 4826 resource lists
``rlmi``           RFC 4662 resource list meta-information
``multipart``      RFC 2387 ``multipart/related`` (RLS NOTIFY bodies)
``presrules``      RFC 5025 presence authorization over RFC 4745 common policy
``cpim``           RFC 3862 ``message/cpim``
``imdn``           RFC 5438 disposition notifications
``iscomposing``    RFC 3994 composing indications
=================  =========================================================

This package imports nothing from ``parley.sip``, ``runtime``, ``services`` or ``apps``.
"""

from __future__ import annotations

# Importing the extension modules here registers them with PIDF whichever module a
# caller imports first.
from . import (
    cipid,
    cpim,
    imdn,
    iscomposing,
    multipart,
    pidf,
    presrules,
    resourcelists,
    rlmi,
    rpid,
    watcherinfo,
)
from .errors import PayloadError

__all__ = [
    "PayloadError",
    "cipid",
    "cpim",
    "imdn",
    "iscomposing",
    "multipart",
    "pidf",
    "presrules",
    "resourcelists",
    "rlmi",
    "rpid",
    "watcherinfo",
]
