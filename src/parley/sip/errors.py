"""The exceptions of the SIP core, split as h11 splits them.

``RemoteProtocolError`` means the peer broke the RFC; it carries ``status_hint``, the response
a UAS should answer with (400, 413, 416, 420, 481, 505...). ``LocalProtocolError`` means our
own caller asked for something illegal; it is a bug to fix, not input to answer.
"""

from __future__ import annotations


class SipError(Exception):
    """Base of every error the SIP core raises on purpose."""


class RemoteProtocolError(SipError):
    """The peer sent something RFC 3261 does not allow.

    ``status_hint`` is the status code a server should answer a request with; ``reason`` is a
    short human-readable phrase suitable for the response's Reason-Phrase.
    """

    def __init__(self, reason: str, status_hint: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint


class ParseError(RemoteProtocolError):
    """Bytes that are not a well-formed SIP message, or a header value that is malformed."""


class LocalProtocolError(SipError):
    """Our caller asked the core to do something the RFC forbids."""
