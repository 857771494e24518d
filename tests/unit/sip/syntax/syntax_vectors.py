"""Helpers for the syntax tests: our own byte vectors and a semantic view of a message.

The vectors live in ``tests/vectors/syntax`` (written for Parley, one feature each) and
``tests/vectors/seed`` (the Chebychev/Poisson flow of the project's seed, as a replay sends
it). They are CRLF files kept byte-exact by ``tests/vectors/.gitattributes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parley.sip.syntax import Message, NameAddr, Request, Response, parse_message

VECTORS = Path(__file__).resolve().parents[3] / "vectors"


def vector(name: str) -> bytes:
    """The bytes of ``tests/vectors/<name>`` (e.g. ``"syntax/folding.sip"``)."""
    return (VECTORS / name).read_bytes()


def parse_vector(name: str) -> Request | Response:
    return parse_message(vector(name))


def name_addr_view(value: NameAddr) -> tuple[Any, ...]:
    return (value.display_name, str(value.uri), list(value.params))


def semantic(message: Message) -> tuple[Any, ...]:
    """What a message means, independent of its spelling on the wire: start line, header
    fields in order (Content-Length aside, which a serialiser recomputes), body, and every
    typed view an element reads."""
    headers = [(name, value) for name, value in message.headers if name != "Content-Length"]
    contacts = "*" if message.is_star_contact else [name_addr_view(c) for c in message.contacts]
    return (
        message.start_line(),
        headers,
        message.body,
        [str(via) for via in message.vias],
        name_addr_view(message.from_),
        name_addr_view(message.to),
        message.call_id,
        message.cseq,
        message.max_forwards,
        contacts,
        [name_addr_view(r) for r in message.routes],
        [name_addr_view(r) for r in message.record_routes],
        message.content_type,
        message.event,
        len(message.body),
    )
