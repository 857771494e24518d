"""RFC 3862 ``message/cpim``: an instant message wrapped with end-to-end headers
(From, To, cc, DateTime, Subject, NS, Require and namespaced extension headers such
as RFC 5438's ``imdn.Message-ID``), then a MIME content block and its body.

Layout (§2): message headers, an empty line, the encapsulated MIME object's headers,
an empty line, the content. Lines end with CRLF; bare LF is accepted on input.

Header names are matched case-insensitively (Postel: RFC 3862 §3.1 makes them
case-sensitive, and senders vary) and kept as written. A prefixed name such as
``imdn.Message-ID`` belongs to the namespace its ``NS`` header declares for the prefix
(§3.4); :meth:`CpimMessage.values` can look a header up by namespace URI.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import PayloadError
from .xml import format_datetime, parse_datetime

__all__ = [
    "BASE_NAMESPACE",
    "CONTENT_TYPE",
    "MAX_MESSAGE_BYTES",
    "Address",
    "CpimMessage",
    "Header",
    "message",
    "parse",
    "serialize",
]

CONTENT_TYPE = "message/cpim"
#: §3.4: the namespace of the unprefixed headers defined by RFC 3862.
BASE_NAMESPACE = "urn:ietf:params:cpim-headers:"
MAX_MESSAGE_BYTES = 1024 * 1024

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PHRASE = re.compile(rf"{_TOKEN}(?: {_TOKEN})*")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII without ':' and space


@dataclass(frozen=True)
class Header:
    """One message header. ``name`` is as written, prefix included; ``params`` are the
    §3.1 header parameters between the colon and the value (``Subject:;lang=fr ...``
    has ``("lang=fr",)``)."""

    name: str
    value: str
    params: tuple[str, ...] = ()

    @property
    def prefix(self) -> str | None:
        """The namespace prefix (``"imdn"`` in ``imdn.Message-ID``), if any."""
        prefix, dot, _ = self.name.rpartition(".")
        return prefix if dot else None

    @property
    def local_name(self) -> str:
        return self.name.rpartition(".")[2]


@dataclass(frozen=True)
class Address:
    """§3.3 a From/To/cc value: ``[Formal-name] <URI>``."""

    uri: str
    display_name: str | None = None

    def __str__(self) -> str:
        if not self.display_name:
            return f"<{self.uri}>"
        name = self.display_name
        if not _PHRASE.fullmatch(name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{self.uri}>"

    @classmethod
    def parse(cls, value: str) -> Address:
        """Read ``Name <uri>``, ``"Quoted" <uri>``, ``<uri>`` or a bare URI."""
        text = value.strip()
        if text.endswith(">") and "<" in text:
            head, _, uri = text[:-1].rpartition("<")
            name = head.strip()
            quoted = len(name) >= 2 and name.startswith('"') and name.endswith('"')
            if ">" in uri or (not quoted and ("<" in name or ">" in name)):
                raise PayloadError(f"CPIM address is malformed: {value!r}")
            if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
                name = re.sub(r"\\(.)", r"\1", name[1:-1])
            return cls(uri.strip(), name or None)
        if not text or "<" in text or ">" in text:
            raise PayloadError(f"CPIM address is malformed: {value!r}")
        return cls(text)


def _as_address(value: Address | str) -> Address:
    return value if isinstance(value, Address) else Address.parse(value)


@dataclass(frozen=True)
class CpimMessage:
    """A ``message/cpim`` body. ``headers`` are the message headers in order,
    ``content_headers`` the MIME headers of the encapsulated object (``Content-Type``
    ...), ``body`` its bytes, untouched."""

    headers: tuple[Header, ...]
    content_headers: tuple[tuple[str, str], ...]
    body: bytes

    # -------------------------------------------------------------- lookups

    @property
    def namespaces(self) -> dict[str, str]:
        """§3.4 ``NS`` declarations: prefix -> URI (``""`` for a prefix-less one)."""
        declared: dict[str, str] = {}
        for header in self.headers:
            if header.name.lower() == "ns":
                prefix, uri = _namespace_value(header.value)
                declared[prefix] = uri
        return declared

    def values(self, name: str, namespace: str | None = None) -> tuple[str, ...]:
        """The values of every header called ``name``, in order.

        Without ``namespace``, ``name`` is matched as written (``"imdn.Message-ID"``,
        ``"To"``). With it, ``name`` is the local name and the prefix may be any the
        message's ``NS`` headers declare for that URI (``BASE_NAMESPACE`` means the
        unprefixed RFC 3862 headers).
        """
        if namespace is None:
            wanted = name.lower()
            return tuple(h.value for h in self.headers if h.name.lower() == wanted)
        prefixes = {p for p, uri in self.namespaces.items() if uri == namespace}
        local = name.lower()
        found: list[str] = []
        for header in self.headers:
            if header.local_name.lower() != local:
                continue
            prefix = header.prefix
            if (prefix is None and namespace == BASE_NAMESPACE) or prefix in prefixes:
                found.append(header.value)
        return tuple(found)

    def value(self, name: str, namespace: str | None = None) -> str | None:
        """The first value of ``name`` (see :meth:`values`), or ``None``."""
        found = self.values(name, namespace)
        return found[0] if found else None

    @property
    def sender(self) -> Address | None:
        """§3.3 ``From``."""
        value = self.value("From")
        return Address.parse(value) if value is not None else None

    @property
    def recipients(self) -> tuple[Address, ...]:
        """§3.3 every ``To``."""
        return tuple(Address.parse(v) for v in self.values("To"))

    @property
    def cc(self) -> tuple[Address, ...]:
        """§3.3 every ``cc``."""
        return tuple(Address.parse(v) for v in self.values("cc"))

    @property
    def datetime(self) -> dt.datetime | None:
        """§3.6 ``DateTime``, an RFC 3339 timestamp."""
        value = self.value("DateTime")
        return parse_datetime(value, "CPIM DateTime") if value is not None else None

    @property
    def subjects(self) -> tuple[tuple[str, str | None], ...]:
        """§3.7 every ``Subject`` as ``(text, lang)``."""
        found: list[tuple[str, str | None]] = []
        for header in self.headers:
            if header.name.lower() == "subject":
                lang = next(
                    (p.partition("=")[2] for p in header.params if p.lower().startswith("lang=")),
                    None,
                )
                found.append((header.value, lang))
        return tuple(found)

    @property
    def subject(self) -> str | None:
        """The first ``Subject``."""
        return self.value("Subject")

    @property
    def require(self) -> tuple[str, ...]:
        """§3.9 the header names listed by ``Require``."""
        names: list[str] = []
        for value in self.values("Require"):
            names += [n.strip() for n in value.split(",") if n.strip()]
        return tuple(names)

    def content_header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for n, v in self.content_headers if n.lower() == wanted), None)

    @property
    def content_type(self) -> str | None:
        """The encapsulated object's ``Content-Type``."""
        return self.content_header("Content-Type")


def _namespace_value(value: str) -> tuple[str, str]:
    text = value.strip()
    match = re.fullmatch(r"(?:([^\s<>]+)\s+)?<([^<>]*)>", text)
    if match is None:
        raise PayloadError(f"CPIM NS header is malformed: {value!r}")
    return match[1] or "", match[2].strip()


# --------------------------------------------------------------------------- parsing

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _split_block(data: bytes, what: str) -> tuple[bytes, bytes]:
    if data.startswith((b"\r\n", b"\n")):
        return b"", data[2 if data.startswith(b"\r\n") else 1 :]
    end = _BLANK_LINE.search(data)
    if end is None:
        raise PayloadError(f"CPIM {what} do not end with an empty line")
    return data[: end.start()], data[end.end() :]


def _lines(block: bytes, what: str) -> list[str]:
    try:
        text = block.decode()
    except UnicodeDecodeError:
        raise PayloadError(f"CPIM {what} are not UTF-8") from None
    lines: list[str] = []
    for line in re.split(r"\r?\n", text) if text else []:
        if line[:1] in (" ", "\t") and lines:  # tolerate MIME-style folding
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def _header(line: str) -> Header:
    name, colon, rest = line.partition(":")
    if not colon or not _HEADER_NAME.fullmatch(name):
        raise PayloadError(f"CPIM header line is malformed: {line!r}")
    params: list[str] = []
    if rest.startswith(";"):
        spec, _, rest = rest.partition(" ")
        params = [p for p in spec.split(";") if p]
    return Header(name, rest.lstrip(" \t"), tuple(params))


def _content_header(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon or not _HEADER_NAME.fullmatch(name):
        raise PayloadError(f"CPIM content header line is malformed: {line!r}")
    return name, value.strip()


def parse(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> CpimMessage:
    """Decode a ``message/cpim`` body. Raises :class:`PayloadError` when a header block
    is missing or malformed, or a From/To/cc/NS/DateTime value cannot be read."""
    if len(data) > max_bytes:
        raise PayloadError(f"CPIM message too large ({len(data)} > {max_bytes} bytes)")
    head, rest = _split_block(bytes(data), "message headers")
    if not rest:
        raise PayloadError("CPIM message has no encapsulated content")
    content_head, body = _split_block(rest, "content headers")
    message = CpimMessage(
        tuple(_header(line) for line in _lines(head, "message headers")),
        tuple(_content_header(line) for line in _lines(content_head, "content headers")),
        body,
    )
    # Read the typed headers once, so a bad one is the peer's 400, not our crash later.
    _ = message.sender, message.recipients, message.cc, message.namespaces, message.datetime
    return message


# ----------------------------------------------------------------------- serializing


def _check_line(line: str) -> str:
    if "\r" in line or "\n" in line:
        raise ValueError(f"a CPIM header cannot contain a line break: {line!r}")
    return line


def serialize(message: CpimMessage) -> bytes:
    """Encode ``message`` as a ``message/cpim`` body with CRLF line ends."""
    lines = [
        _check_line(f"{h.name}:{''.join(';' + p for p in h.params)} {h.value}")
        for h in message.headers
    ]
    content = [_check_line(f"{name}: {value}") for name, value in message.content_headers]
    head = "".join(line + "\r\n" for line in lines) + "\r\n"
    return (head + "".join(line + "\r\n" for line in content) + "\r\n").encode() + message.body


def message(
    sender: Address | str,
    recipients: Iterable[Address | str],
    body: bytes,
    content_type: str = "text/plain;charset=UTF-8",
    *,
    cc: Iterable[Address | str] = (),
    datetime: dt.datetime | None = None,
    subject: str | None = None,
    namespaces: Mapping[str, str] | None = None,
    headers: Iterable[Header] = (),
    content_headers: Iterable[tuple[str, str]] = (),
) -> CpimMessage:
    """Build a message: From, To, cc, DateTime, Subject, one ``NS`` per entry of
    ``namespaces`` (prefix -> URI), then ``headers`` (which may use those prefixes);
    the content is ``body`` with its ``Content-Type`` and ``content_headers``."""
    built = [Header("From", str(_as_address(sender)))]
    built += [Header("To", str(_as_address(r))) for r in recipients]
    built += [Header("cc", str(_as_address(r))) for r in cc]
    if datetime is not None:
        built.append(Header("DateTime", format_datetime(datetime)))
    if subject is not None:
        built.append(Header("Subject", subject))
    for prefix, uri in (namespaces or {}).items():
        built.append(Header("NS", f"{prefix} <{uri}>" if prefix else f"<{uri}>"))
    built += headers
    return CpimMessage(tuple(built), (("Content-Type", content_type), *content_headers), body)
