"""Building requests outside a dialog (RFC 3261 §8.1.1): the UAC core's half of the work.

The transaction layer sends what it is given; this module gives it a request with every
mandatory header right: a fresh Call-ID and From tag, CSeq, Max-Forwards 70, and a Via with
our sent-by, a new branch and ``rport`` (RFC 3581).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from parley.sip.dialog.ids import IdGenerator
from parley.sip.syntax import Headers, NameAddr, Request, Uri, parse_uri
from parley.sip.syntax.uri import format_host


@dataclass(frozen=True, slots=True)
class SentBy:
    """Our own transport address as it goes into Via (§18.1.1): transport, host, port."""

    transport: str
    host: str
    port: int

    def via(self, branch: str) -> str:
        host = format_host(self.host)
        return f"SIP/2.0/{self.transport.upper()} {host}:{self.port};branch={branch};rport"


def build_request(
    method: str,
    uri: Uri | str,
    *,
    from_: NameAddr | str,
    to: NameAddr | str | None = None,
    sent_by: SentBy,
    ids: IdGenerator,
    cseq: int = 1,
    call_id: str | None = None,
    contact: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """A new out-of-dialog request (§8.1.1). ``to`` defaults to the Request-URI; ``from_``
    gets a fresh tag unless it already has one. ``now`` plays no part: no timer starts here.
    """
    request_uri = parse_uri(uri) if isinstance(uri, str) else uri
    from_value = from_ if isinstance(from_, NameAddr) else NameAddr.parse(from_)
    if from_value.tag is None:
        from_value.params.set("tag", ids.tag())
    if to is None:
        to_text = f"<{request_uri}>"
    else:
        to_text = str(to) if isinstance(to, NameAddr) else to
    fields = [
        ("Via", sent_by.via(ids.branch())),
        ("Max-Forwards", "70"),
        ("From", str(from_value)),
        ("To", to_text),
        ("Call-ID", call_id or ids.call_id()),
        ("CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        fields.append(("Contact", contact))
    fields.extend(headers)
    if body and content_type is not None:
        fields.append(("Content-Type", content_type))
    return Request(method, request_uri, Headers(fields), body)


def build_ack(request: Request, to_header: str, sent_by: SentBy, ids: IdGenerator) -> Request:
    """The ACK for a 2xx to an INVITE sent outside a dialog layer (§13.2.2.4): its own
    branch, the INVITE's CSeq number, the 2xx's To. Used by simple UACs and tests."""
    h = request.headers
    fields = [
        ("Via", sent_by.via(ids.branch())),
        ("Max-Forwards", "70"),
        ("From", h.get("From") or ""),
        ("To", to_header),
        ("Call-ID", request.call_id),
        ("CSeq", f"{request.cseq.seq} ACK"),
    ]
    fields.extend(("Route", r) for r in h.get_all("Route"))
    return Request("ACK", request.uri, Headers(fields))
