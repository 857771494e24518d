"""RFC 2387 ``multipart/related`` bodies (RFC 2046 §5.1 framing), as RFC 4662 §5 RLS
NOTIFYs carry them: an RLMI root part followed by one part per resource state, each
found by its ``Content-ID``.

A body and its Content-Type header value go together, so :func:`serialize` returns both
and :func:`parse` takes both. Content-IDs are handled without their angle brackets,
as RLMI's ``cid`` attributes hold them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .errors import PayloadError

__all__ = [
    "CONTENT_TYPE",
    "MAX_BODY_BYTES",
    "MAX_PARTS",
    "Part",
    "Related",
    "parse",
    "parse_content_type",
    "serialize",
]

CONTENT_TYPE = "multipart/related"
MAX_BODY_BYTES = 1024 * 1024
MAX_PARTS = 1000


@dataclass(frozen=True)
class Part:
    """One body part. ``content_type`` is the Content-Type header value as written
    (parameters included; RFC 2046 §5.1's ``text/plain`` when absent); ``content_id``
    has no angle brackets; ``headers`` are the part's other MIME headers in order
    (e.g. ``("Content-Transfer-Encoding", "binary")``)."""

    content_type: str
    body: bytes
    content_id: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def media_type(self) -> str:
        """The content type without parameters, in lower case."""
        return self.content_type.split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Related:
    """A ``multipart/related`` body. ``type`` is the root part's media type, ``start``
    the root's Content-ID (``None``: the first part is the root). ``boundary`` is how the
    body was framed; it is not part of the value (it does not take part in equality)
    and :func:`serialize` derives one when it is ``None``."""

    parts: tuple[Part, ...]
    type: str
    start: str | None = None
    boundary: str | None = field(default=None, compare=False)

    @property
    def root(self) -> Part:
        """The root part (RFC 2387 §3.2): the one named by ``start``, else the first."""
        if self.start is not None:
            part = self.part(self.start)
            if part is not None:
                return part
        if not self.parts:
            raise PayloadError("multipart/related body has no part")
        return self.parts[0]

    def part(self, content_id: str) -> Part | None:
        """The part whose Content-ID is ``content_id`` (brackets optional), or ``None``."""
        wanted = _strip_brackets(content_id)
        return next((p for p in self.parts if p.content_id == wanted), None)


def _strip_brackets(content_id: str) -> str:
    value = content_id.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


# ------------------------------------------------------------------ Content-Type

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_MEDIA_TYPE = re.compile(rf"\s*({_TOKEN})/({_TOKEN})\s*")
# Unquoted values are read leniently (``type=application/rlmi+xml`` is common, though
# RFC 2045 wants '/' quoted).
_PARAMETER = re.compile(rf';\s*({_TOKEN})\s*=\s*(?:([^\s;"]+)|"((?:[^"\\\r\n]|\\.)*)")\s*')


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``'multipart/related;type="a/b";boundary=x'`` ->
    ``("multipart/related", {"type": "a/b", "boundary": "x"})``: the media type and
    parameter names in lower case, quoted values unquoted."""
    match = _MEDIA_TYPE.match(value)
    if match is None:
        raise PayloadError(f"not a content type: {value!r}")
    params: dict[str, str] = {}
    position = match.end()
    while position < len(value):
        param = _PARAMETER.match(value, position)
        if param is None:
            raise PayloadError(f"malformed content type parameters: {value!r}")
        name, token, quoted = param.groups()
        params[name.lower()] = token if token is not None else re.sub(r"\\(.)", r"\1", quoted)
        position = param.end()
    return f"{match[1]}/{match[2]}".lower(), params


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------- parsing

_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _part(raw: bytes) -> Part:
    if not raw:
        return Part("text/plain", b"")
    if raw.startswith((b"\r\n", b"\n")):  # no header at all
        head, body = b"", raw[2 if raw.startswith(b"\r\n") else 1 :]
    else:
        end = _HEADER_END.search(raw)
        if end is None:
            raise PayloadError("multipart body part has no end of headers")
        head, body = raw[: end.start()], raw[end.end() :]
    try:
        text = head.decode()
    except UnicodeDecodeError:
        raise PayloadError("multipart part headers are not UTF-8") from None
    headers: list[list[str]] = []
    for line in re.split(r"\r?\n", text) if text else []:
        if line[:1] in (" ", "\t") and headers:  # RFC 5322 folding
            headers[-1][1] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not re.fullmatch(r"[!-9;-~]+", name):
            raise PayloadError(f"malformed multipart part header: {line!r}")
        headers.append([name, value.strip()])
    content_type = "text/plain"
    content_id: str | None = None
    others: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() == "content-type":
            content_type = value
        elif name.lower() == "content-id":
            content_id = _strip_brackets(value)
        else:
            others.append((name, value))
    return Part(content_type, body, content_id, tuple(others))


def parse(
    content_type: str,
    body: bytes,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_parts: int = MAX_PARTS,
) -> Related:
    """Split a ``multipart/related`` ``body`` framed as its ``content_type`` header
    value says. Raises :class:`PayloadError` for a bad header, a body without its
    closing delimiter, or more than ``max_bytes`` / ``max_parts``."""
    if len(body) > max_bytes:
        raise PayloadError(f"multipart body too large ({len(body)} > {max_bytes} bytes)")
    media_type, params = parse_content_type(content_type)
    if media_type != CONTENT_TYPE:
        raise PayloadError(f"not multipart/related: {media_type}")
    boundary = params.get("boundary")
    if boundary is None or not _BOUNDARY.fullmatch(boundary):
        raise PayloadError(f"multipart/related without a valid boundary: {boundary!r}")
    delimiter = re.compile(
        rb"(?:\A|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?:\r?\n|\Z)"
    )
    parts: list[Part] = []
    start_of_part: int | None = None
    for match in delimiter.finditer(body):
        if start_of_part is not None:
            if len(parts) >= max_parts:
                raise PayloadError(f"multipart body has more than {max_parts} parts")
            parts.append(_part(body[start_of_part : match.start()]))
        if match.group(1):  # the close delimiter; the epilogue after it is ignored
            break
        start_of_part = match.end()
    else:
        raise PayloadError("multipart body lacks its closing boundary")
    start = params.get("start")
    root_type = params.get("type")
    related = Related(
        tuple(parts),
        root_type or "",
        _strip_brackets(start) if start else None,
        boundary,
    )
    if root_type is None:  # RFC 2387 requires it; fall back on what the root says
        related = Related(related.parts, related.root.media_type, related.start, boundary)
    return related


# -------------------------------------------------------------------- serializing


def _boundary_for(parts: tuple[Part, ...]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.body)
    return "parley-" + digest.hexdigest()[:32]


def serialize(related: Related) -> tuple[str, bytes]:
    """Frame ``related`` and return ``(content_type_header_value, body)``.

    Without a ``boundary`` one is derived from the parts, so the same value always
    gives the same bytes. Raises ``ValueError`` if the boundary occurs in a part.
    """
    boundary = related.boundary or _boundary_for(related.parts)
    if not _BOUNDARY.fullmatch(boundary):
        raise ValueError(f"not a valid MIME boundary: {boundary!r}")
    marker = b"--" + boundary.encode()
    out: list[bytes] = []
    for part in related.parts:
        if marker in part.body:
            raise ValueError("the multipart boundary occurs inside a part")
        lines = [f"Content-Type: {part.content_type}"]
        if part.content_id is not None:
            lines.append(f"Content-ID: <{part.content_id}>")
        lines += [f"{name}: {value}" for name, value in part.headers]
        if any("\r" in line or "\n" in line for line in lines):
            raise ValueError("a multipart part header contains a line break")
        head = "".join(line + "\r\n" for line in lines)
        out.append(marker + b"\r\n" + head.encode() + b"\r\n" + part.body + b"\r\n")
    out.append(marker + b"--\r\n")
    params = [f"type={_quote(related.type)}"]
    if related.start is not None:
        params.append(f"start={_quote('<' + related.start + '>')}")
    params.append(f"boundary={_quote(boundary)}")
    return CONTENT_TYPE + ";" + ";".join(params), b"".join(out)
