"""How a buddy's presence looks in the chat client: four groups (online, away, busy,
offline), each with a colour AND a symbol (colour alone fails colour-blind users and
monochrome terminals), and the statuses one can choose for oneself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

#: RPID activities (RFC 4480 §3.2) read as "away": not at the keyboard.
AWAY_ACTIVITIES = frozenset(
    {"away", "vacation", "sleeping", "holiday", "travel", "steering", "permanent-absence"}
)
#: RPID activities read as "busy": there, but don't expect an answer soon.
BUSY_ACTIVITIES = frozenset(
    {"busy", "on-the-phone", "meeting", "appointment", "performance", "presentation", "worship"}
)


class Status(Enum):
    """A buddy-list group, in display order."""

    ONLINE = "online"
    AWAY = "away"
    BUSY = "busy"
    OFFLINE = "offline"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def colour(self) -> str:
        return _COLOURS[self]

    @property
    def title(self) -> str:
        return self.value.capitalize()


_SYMBOLS = {Status.ONLINE: "●", Status.AWAY: "◐", Status.BUSY: "⊘", Status.OFFLINE: "○"}
_COLOURS = {
    Status.ONLINE: "green",
    Status.AWAY: "yellow",
    Status.BUSY: "red",
    Status.OFFLINE: "grey50",
}


def classify(basic: str | None, activities: Iterable[str] = ()) -> Status:
    """The group of a presentity whose PIDF says ``basic`` (``open``/``closed``, None when
    we may not see it yet) with these RPID ``activities``; busy wins over away."""
    if basic != "open":
        return Status.OFFLINE
    values = set(activities)
    if values & BUSY_ACTIVITIES:
        return Status.BUSY
    if values & AWAY_ACTIVITIES:
        return Status.AWAY
    return Status.ONLINE


@dataclass(frozen=True, slots=True)
class OwnStatus:
    """A status one can publish: its label, PIDF basic ``open``, and RPID activity."""

    key: str
    label: str
    open: bool
    activity: str | None

    @property
    def status(self) -> Status:
        return classify("open" if self.open else "closed", [self.activity or ""])


OWN_STATUSES = (
    OwnStatus("available", "Available", True, None),
    OwnStatus("away", "Away", True, "away"),
    OwnStatus("busy", "Busy", True, "busy"),
    OwnStatus("on-the-phone", "On the phone", True, "on-the-phone"),
    OwnStatus("offline", "Appear offline", False, None),
)
OWN_STATUS_BY_KEY = {choice.key: choice for choice in OWN_STATUSES}
