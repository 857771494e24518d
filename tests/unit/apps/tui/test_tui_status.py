"""Buddy-list groups from PIDF basic status and RPID activities, and how rows look."""

from __future__ import annotations

from datetime import datetime

import pytest

from parley.apps.tui.buddies import BuddyRow, render_row, when
from parley.apps.tui.status import OWN_STATUSES, Status, classify

NOW = datetime(2026, 11, 25, 14, 30)


@pytest.mark.parametrize(
    ("basic", "activities", "expected"),
    [
        ("open", (), Status.ONLINE),
        ("open", ("away",), Status.AWAY),
        ("open", ("vacation",), Status.AWAY),
        ("open", ("on-the-phone",), Status.BUSY),
        ("open", ("away", "meeting"), Status.BUSY),  # busy wins
        ("open", ("unknown-activity",), Status.ONLINE),
        ("closed", ("away",), Status.OFFLINE),
        (None, (), Status.OFFLINE),
    ],
)
def test_classify(basic: str | None, activities: tuple[str, ...], expected: Status) -> None:
    assert classify(basic, activities) is expected


def test_every_group_has_its_own_symbol_and_colour() -> None:
    assert len({s.symbol for s in Status}) == len({s.colour for s in Status}) == len(Status)


def test_own_statuses_map_to_groups() -> None:
    assert [s.status for s in OWN_STATUSES] == [
        Status.ONLINE,
        Status.AWAY,
        Status.BUSY,
        Status.BUSY,
        Status.OFFLINE,
    ]


def test_row_text() -> None:
    row = BuddyRow("bob@example.com", None, Status.AWAY, "lunch", datetime(2026, 11, 25, 13, 5))
    assert render_row(row, NOW).plain == "◐ bob@example.com\n  lunch · 13:05"
    busy = BuddyRow("carol@example.com", "Carol", Status.BUSY, unread=3, typing=True)
    assert render_row(busy, NOW).plain == "⊘ Carol  (3)  ✎"
    pending = BuddyRow("dan@example.com", None, Status.OFFLINE, "x", pending=True)
    assert render_row(pending, NOW).plain == "○ dan@example.com\n  waiting for approval"


def test_change_times_show_the_date_unless_today() -> None:
    assert when(datetime(2026, 11, 25, 9, 1), NOW) == "09:01"
    assert when(datetime(2026, 11, 24, 22, 15), NOW) == "24 Nov 22:15"
