"""The project's seed: the Chebychev/Poisson flow of RFC 3856 presence (SUBSCRIBE, 202,
two NOTIFYs with PIDF) and RFC 3428 pager-mode MESSAGEs, all over TCP.

``tests/vectors/seed/*.sip`` are the ten messages of ``/work/shared/seeds/000_*.txt`` as a
replay sends them, repaired per the seed's README: the colon the blog lost after ``Via``
restored, the folded Via lines of the responses given their leading white space, header
lines ended with CRLF, and Content-Length recomputed for the bodies as printed (PIDF bodies
of 274 and 352 octets, LF line ends and the blog's no-break spaces kept, no final newline).
"""

from __future__ import annotations

import pytest
from syntax_vectors import VECTORS, parse_vector, vector

from parley.sip.syntax import Request, Response, SipUri, validate_message

SEED = sorted(path.name for path in VECTORS.glob("seed/*.sip"))
KNOWN = frozenset({"SUBSCRIBE", "NOTIFY", "MESSAGE", "ACK", "INVITE", "CANCEL", "BYE"})

CHEBYCHEV = "sip:chebychev@academy.ru"
POISSON = "sip:poisson@probability.org"
POISSON_DEVICE = "sip:s.possion@dist.probability.org;transport=tcp"
ALLOW = ["ACK", "INVITE", "CANCEL", "BYE", "NOTIFY", "SUBSCRIBE", "MESSAGE"]

#: name -> (start line, top Via (host, port, branch, received), From (name, URI, tag),
#:          To (name, URI, tag), Call-ID, CSeq, body length)
FLOW = {
    "01_subscribe.sip": (
        "SUBSCRIBE sip:poisson@probability.org SIP/2.0",
        ("lecturehall21.academy.ru", 5060, "z9hG4bK348471123", None),
        ("P. L. Chebychev", CHEBYCHEV, "21171"), ("M. Poisson", POISSON, None),
        "58dkfj34924lk34452k592520", (3412, "SUBSCRIBE"), 0,
    ),
    "02_subscribe_202.sip": (
        "SIP/2.0 202 Accepted",
        ("lecturehall21.academy.ru", 5060, "z9hG4bK348471123", "19.34.3.1"),
        ("P. L. Chebychev", CHEBYCHEV, "21171"), ("M. Poisson", POISSON, "25140"),
        "58dkfj34924lk34452k592520", (3412, "SUBSCRIBE"), 0,
    ),
    "03_notify_closed.sip": (
        "NOTIFY sip:pafnuty@lecturehall21.academy.ru SIP/2.0",
        ("dist.probablilty.org", 5060, "z9hG4bK4321", None),  # the seed's typo, kept
        ("M. Poisson", POISSON, "25140"), ("P. L. Chebychev", CHEBYCHEV, "21171"),
        "58dkfj34924lk34452k592520", (1026, "NOTIFY"), 274,
    ),
    "04_notify_closed_200.sip": (
        "SIP/2.0 200 OK",
        ("dist.probablilty.org", 5060, "z9hG4bK4321", "24.32.1.3"),
        ("M. Poisson", POISSON, "25140"), ("P. L. Chebychev", CHEBYCHEV, "21171"),
        "58dkfj34924lk34452k592520", (1026, "NOTIFY"), 0,
    ),
    "05_notify_open.sip": (
        "NOTIFY sip:pafnuty@lecturehall21.academy.ru SIP/2.0",
        ("dist.probablilty.org", 5060, "z9hG4bK334241", None),
        ("M. Poisson", POISSON, "25140"), ("P. L. Chebychev", CHEBYCHEV, "21171"),
        "58dkfj34924lk34452k592520", (1027, "NOTIFY"), 352,
    ),
    "06_notify_open_200.sip": (
        "SIP/2.0 200 OK",
        ("dist.probablilty.org", 5060, "z9hG4bK334241", "24.32.1.3"),
        ("M. Poisson", POISSON, "25140"), ("P. L. Chebychev", CHEBYCHEV, "21171"),
        "58dkfj34924lk34452k592520", (1027, "NOTIFY"), 0,
    ),
    "07_message.sip": (
        "MESSAGE sip:s.possion@dist.probability.org SIP/2.0",
        ("lecturehall21.academy.ru", 5060, "z9hG4bK3gtr2", None),
        ("P. L. Chebychev", CHEBYCHEV, "4542"),
        ("M. Poisson", "sip:s.possion@dist.probability.org", None),
        "9dkei93vjq1ei3", (15, "MESSAGE"), 9,
    ),
    "08_message_200.sip": (
        "SIP/2.0 200 OK",
        ("lecturehall21.academy.ru", 5060, "z9hG4bK3gtr2", "19.34.3.1"),
        ("P. L. Chebychev", CHEBYCHEV, "4542"),
        ("M. Poisson", "sip:s.possion@dist.probability.org", "2321"),
        "9dkei93vjq1ei3", (15, "MESSAGE"), 0,
    ),
    "09_message_reply.sip": (
        "MESSAGE sip:chebychev@academy.ru SIP/2.0",
        ("dist.probablilty.org", 5060, "z9hG4bK4526245", None),
        ("M. Poisson", "sip:s.possion@dist.probability.org", "14083"),
        ("P. L. Chebychev", CHEBYCHEV, None),
        "lk34452k592520", (2321, "MESSAGE"), 30,
    ),
    "10_message_reply_200.sip": (
        "SIP/2.0 200 OK",
        ("dist.probablilty.org", 5060, "z9hG4bK4526245", "24.32.1.3"),
        ("M. Poisson", "sip:s.possion@dist.probability.org", "14083"),
        ("P. L. Chebychev", CHEBYCHEV, "mc3bg5q77wms"),
        "lk34452k592520", (2321, "MESSAGE"), 0,
    ),
}  # fmt: skip


def test_the_vectors_are_the_whole_flow() -> None:
    assert sorted(FLOW) == SEED


@pytest.mark.parametrize("name", SEED)
def test_seed_message_values(name: str) -> None:
    start, via, from_, to, call_id, cseq, body_length = FLOW[name]
    msg = parse_vector(f"seed/{name}")
    validate_message(msg, known_methods=KNOWN)
    assert msg.start_line() == start
    top = msg.top_via
    assert (top.transport, top.host, top.port, top.branch, top.received) == ("TCP", *via)
    assert top.rfc3261_branch
    assert (msg.from_.display_name, str(msg.from_.uri), msg.from_.tag) == from_
    assert (msg.to.display_name, str(msg.to.uri), msg.to.tag) == to
    assert msg.call_id == call_id
    assert (msg.cseq.seq, msg.cseq.method) == cseq
    assert len(msg.body) == body_length == msg.content_length
    if isinstance(msg, Request):
        assert msg.max_forwards == 70
        assert msg.method == msg.cseq.method


def test_responses_fold_their_via_and_unfold_to_one_element() -> None:
    msg = parse_vector("seed/02_subscribe_202.sip")
    assert isinstance(msg, Response) and msg.reason == "Accepted"
    assert msg.headers.get_all("Via") == [
        "SIP/2.0/TCP lecturehall21.academy.ru:5060 ;branch=z9hG4bK348471123;received=19.34.3.1"
    ]
    assert len(msg.vias) == 1
    assert msg.headers.get("Expires") == "3600" and msg.expires == 3600
    assert msg.event == "presence"


def test_subscribe() -> None:
    msg = parse_vector("seed/01_subscribe.sip")
    assert isinstance(msg, Request)
    assert msg.event == "presence" and msg.headers.values("Allow-Events") == ["presence"]
    assert msg.headers.values("Allow") == ALLOW
    assert msg.expires is None  # absent: the notifier picks (3600 in the seed's 202)
    (contact,) = msg.contacts
    uri = contact.uri
    assert isinstance(uri, SipUri)
    assert (uri.user, uri.host, uri.transport) == ("pafnuty", "lecturehall21.academy.ru", "tcp")
    assert list(contact.params) == []  # transport=tcp is the URI's, inside <>
    assert msg.body == b"" and msg.content_type is None


@pytest.mark.parametrize(
    ("name", "basic", "expires", "allow_events"),
    [
        ("03_notify_closed.sip", b"<basic>closed</basic>", "3600", ["dialog"]),
        ("05_notify_open.sip", b"<basic>open</basic>", "1800", ["presence"]),
    ],
)
def test_notify_with_pidf(name: str, basic: bytes, expires: str, allow_events: list[str]) -> None:
    msg = parse_vector(f"seed/{name}")
    assert msg.headers.get("Subscription-State") == f"active;expires={expires}"
    assert msg.headers.values("Allow-Events") == allow_events
    assert msg.event == "presence"
    assert msg.content_type == "application/cpim-pidf+xml"  # the legacy type, as sent
    assert str(msg.contacts[0].uri) == POISSON_DEVICE
    # The body is exactly the octets after the empty line: the PIDF as printed.
    data = vector(f"seed/{name}")
    assert msg.body == data.split(b"\r\n\r\n", 1)[1]
    assert msg.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns=')
    assert msg.body.endswith(b"</presence>")
    assert basic in msg.body
    assert "\u00a0".encode() in msg.body  # the blog's no-break spaces travel untouched
    assert msg.to_bytes().endswith(b"\r\n\r\n" + msg.body)


def test_pidf_contact_text_spans_a_line_break() -> None:
    msg = parse_vector("seed/05_notify_open.sip")
    text = msg.body.decode("utf-8")
    start = text.index("<contact>") + len("<contact>")
    end = text.index("</contact>")
    assert text[start:end] == POISSON_DEVICE + "\n" + "\u00a0" * 5 + " "
    assert msg.to_bytes().count(b"transport=tcp\n") == 1


@pytest.mark.parametrize(
    ("name", "text"),
    [("07_message.sip", b"Hi There!"), ("09_message_reply.sip", b"Well, hello there to you, too!")],
)
def test_pager_mode_message(name: str, text: bytes) -> None:
    msg = parse_vector(f"seed/{name}")
    assert msg.content_type == "text/plain"
    assert msg.body == text
    assert "Contact" not in msg.headers and msg.contacts == []
    assert msg.to.tag is None  # outside any dialog (RFC 3428 §4)
