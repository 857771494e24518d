"""SIP message syntax (RFC 3261 §7, §19, §20, §25; RFC 5118): sans-I/O parse and serialise."""

from parley.sip.syntax.headers import Headers, canonical_name
from parley.sip.syntax.message import (
    REASON_PHRASES,
    Message,
    Request,
    Response,
    make_response,
    parse_message,
    validate_message,
)
from parley.sip.syntax.params import Params
from parley.sip.syntax.uri import (
    AbsoluteUri,
    SipUri,
    Uri,
    format_host,
    parse_sip_uri,
    parse_uri,
    uri_equal,
)
from parley.sip.syntax.values import MAGIC_COOKIE, CSeq, NameAddr, Via

__all__ = [
    "MAGIC_COOKIE",
    "REASON_PHRASES",
    "AbsoluteUri",
    "CSeq",
    "Headers",
    "Message",
    "NameAddr",
    "Params",
    "Request",
    "Response",
    "SipUri",
    "Uri",
    "Via",
    "canonical_name",
    "format_host",
    "make_response",
    "parse_message",
    "parse_sip_uri",
    "parse_uri",
    "uri_equal",
    "validate_message",
]
