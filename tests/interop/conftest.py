"""Interop tests drive third-party SIP software installed from Debian packages."""

from __future__ import annotations

import shutil

import pytest


def require_tool(name: str) -> str:
    """The tool's path; skip the test where it is not installed (scripts/test installs it)."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/install-system-deps installs it)")
    return path
