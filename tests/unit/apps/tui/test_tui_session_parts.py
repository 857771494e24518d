"""The session adapter's pieces that need no network: addresses, the local buddy list."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.apps.tui.session import LocalBuddies, SessionError, aor_of, sip_uri


@pytest.mark.parametrize(
    ("uri", "aor"),
    [
        ("sip:bob@example.com", "bob@example.com"),
        ("<sips:bob@example.com;transport=tls>", "bob@example.com"),
        ("SIP:bob@example.com?subject=x", "bob@example.com"),
        ("bob@example.com", "bob@example.com"),
    ],
)
def test_aor_of(uri: str, aor: str) -> None:
    assert aor_of(uri) == aor


def test_sip_uri() -> None:
    assert sip_uri("bob@example.com") == "sip:bob@example.com"
    assert sip_uri("sip:bob@example.com") == "sip:bob@example.com"


async def test_local_buddies_round_trip(tmp_path: Path) -> None:
    store = LocalBuddies(tmp_path / "dir" / "buddies.json")
    assert await store.buddies() == []
    await store.add_buddy("sip:bob@example.com", "Bob")
    await store.add_buddy("sip:carol@example.com")
    await store.add_buddy("sip:bob@example.com", "Bobby")  # no duplicates: renamed
    await store.remove_buddy("sip:carol@example.com")
    again = LocalBuddies(tmp_path / "dir" / "buddies.json")
    assert [(b.uri, b.name) for b in await again.buddies()] == [("sip:bob@example.com", "Bobby")]


async def test_local_buddies_cannot_answer_friend_requests(tmp_path: Path) -> None:
    store = LocalBuddies(tmp_path / "buddies.json")
    with pytest.raises(SessionError, match="XCAP"):
        await store.allow("sip:carol@example.com")
    with pytest.raises(SessionError, match="XCAP"):
        await store.block("sip:carol@example.com")
