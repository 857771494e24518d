"""The one error every payload codec raises on bad input."""

from __future__ import annotations


class PayloadError(ValueError):
    """A body could not be decoded: not well formed, forbidden XML, too big, or not
    what its RFC allows.

    ``reason`` is a short human-readable phrase, safe to put in a response's reason text
    or a log line. The server answers such a body with ``status_hint`` (400 Bad Request).
    Codecs raise only this on bad input: a peer's bytes must never surface as another
    exception type.
    """

    status_hint = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
