"""Helpers for the payload tests: the vectors in ``tests/vectors/payloads`` (see the
PROVENANCE file there) and a round-trip check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "payloads"

T = TypeVar("T")


def vector(name: str) -> bytes:
    """The bytes of ``tests/vectors/payloads/<name>``."""
    return (VECTORS / name).read_bytes()


def round_trip(value: T, serialize: Callable[[T], bytes], parse: Callable[[bytes], T]) -> bytes:
    """Serialize, reparse, compare; then check the bytes are stable. Returns them."""
    data = serialize(value)
    again = parse(data)
    assert again == value
    assert serialize(again) == data
    return data
