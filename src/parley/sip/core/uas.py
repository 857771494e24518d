"""UAS request checks of RFC 3261 §8.2, in the order the RFC gives them.

``check_request`` decides whether a request can be processed at all, and if not, which
response it gets: 405/501 (method), 416 (URI scheme), 420 (Require), 415 (Content-Type
and Content-Encoding). Pure policy: the caller sends the response it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parley.sip.errors import ParseError
from parley.sip.syntax import Request, Response, make_response, validate_message

#: Methods of RFC 3261 and its extensions that Parley knows about, whether or not a given
#: element accepts them: an unknown method gets 501, a known but refused one 405 (§8.2.1).
KNOWN_METHODS = frozenset(
    "INVITE ACK CANCEL BYE OPTIONS REGISTER SUBSCRIBE NOTIFY PUBLISH MESSAGE REFER INFO "
    "UPDATE PRACK".split()
)


@dataclass(frozen=True, slots=True)
class UasPolicy:
    """What this UAS accepts; ``accept`` maps a method to the media types its bodies may
    carry (methods absent from it accept any body)."""

    allow: frozenset[str] = frozenset({"OPTIONS", "MESSAGE", "ACK", "CANCEL"})
    supported: frozenset[str] = frozenset()
    accept: dict[str, frozenset[str]] = field(default_factory=dict)
    accept_encodings: frozenset[str] = frozenset({"identity"})
    schemes: frozenset[str] = frozenset({"sip", "sips"})

    def allow_header(self) -> tuple[str, str]:
        return ("Allow", ", ".join(sorted(self.allow)))


def check_request(request: Request, policy: UasPolicy, to_tag: str) -> Response | None:
    """The error response ``request`` must get, or None when it may be processed.

    Malformed requests get 400 (or the status their ParseError hints, 505 for a wrong SIP
    version) with the parse error as reason phrase, so the sender learns what is wrong.
    """
    try:
        validate_message(request, known_methods=KNOWN_METHODS)
    except ParseError as exc:
        return _error(request, exc.status_hint, exc.reason, to_tag, policy)
    # §8.2.1: method inspection.
    if request.method not in policy.allow:
        status = 405 if request.method in KNOWN_METHODS else 501
        return make_response(request, status, to_tag=to_tag, extra=[policy.allow_header()])
    # §8.2.2.1: the Request-URI scheme.
    uri = request.uri
    if uri.scheme not in policy.schemes:
        return make_response(request, 416, to_tag=to_tag)
    del uri
    # §8.2.2.3: Require lists extensions we must support; ACK and CANCEL are exempt.
    if request.method not in ("ACK", "CANCEL"):
        try:
            required = request.headers.values("Require")
        except ParseError as exc:
            return _error(request, 400, exc.reason, to_tag, policy)
        unsupported = [tag for tag in required if tag.lower() not in policy.supported]
        if unsupported:
            return make_response(
                request, 420, to_tag=to_tag, extra=[("Unsupported", ", ".join(unsupported))]
            )
    # §8.2.3: content processing.
    if request.body:
        media = request.content_type
        accepted = policy.accept.get(request.method)
        if accepted is not None and (media is None or media not in accepted):
            return make_response(
                request, 415, to_tag=to_tag, extra=[("Accept", ", ".join(sorted(accepted)))]
            )
        encoding = request.headers.get("Content-Encoding")
        if encoding is not None:
            codings = [c.strip().lower() for c in encoding.split(",")]
            if any(c not in policy.accept_encodings for c in codings):
                return make_response(
                    request,
                    415,
                    to_tag=to_tag,
                    extra=[("Accept-Encoding", ", ".join(sorted(policy.accept_encodings)))],
                )
    return None


def _error(
    request: Request, status: int, reason: str, to_tag: str, policy: UasPolicy
) -> Response | None:
    """An error response built from whatever of the request is readable; None when the
    request lacks what a response needs (§8.2.6.2), so it can only be dropped."""
    extra = [policy.allow_header()] if status in (405, 501) else None
    try:
        return make_response(request, status, _phrase(reason), to_tag=to_tag, extra=extra)
    except ParseError:
        return None


def _phrase(reason: str) -> str:
    # A reason phrase is one line of text; keep it short and printable.
    cleaned = "".join(c if c.isprintable() else "?" for c in reason)
    return cleaned[:120] or "Bad Request"
