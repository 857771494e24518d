"""The left-hand side of the chat window: the buddy list grouped by status, and the
friend requests waiting for an answer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from .status import Status

#: The id prefix of buddy options (headings have no id).
BUDDY = "buddy:"


@dataclass(frozen=True, slots=True)
class BuddyRow:
    """What the buddy list knows of one buddy."""

    aor: str
    name: str | None = None
    status: Status = Status.OFFLINE
    note: str | None = None
    changed_at: datetime | None = None
    pending: bool = False
    unread: int = 0
    typing: bool = False

    @property
    def title(self) -> str:
        return self.name or self.aor


def when(at: datetime, now: datetime) -> str:
    """A change time as a buddy list shows it: the time today, else the date."""
    if at.date() == now.date():
        return at.strftime("%H:%M")
    return at.strftime("%d %b %H:%M")


def render_row(row: BuddyRow, now: datetime) -> Text:
    """``● bob@example.com  (2)`` and, below, the note and the time of the last change."""
    text = Text.assemble((row.status.symbol, row.status.colour), " ", (row.title, "bold"))
    if row.unread:
        text.append(f"  ({row.unread})", style="bold magenta")
    if row.typing:
        text.append("  ✎", style="italic")
    details = []
    if row.pending:
        details.append("waiting for approval")
    elif row.note:
        details.append(row.note)
    if row.changed_at is not None:
        details.append(when(row.changed_at, now))
    if details:
        text.append("\n  " + " · ".join(details), style="dim")
    return text


class BuddyList(OptionList):
    """Buddies under Online / Away / Busy / Offline headings, each row coloured and marked
    with its status symbol. Enter (or a click) opens a chat; Delete removes the buddy."""

    BINDINGS = [
        Binding("enter", "select", "Chat"),
        Binding("delete", "remove", "Remove buddy"),
    ]

    class RemoveRequested(Message):
        def __init__(self, aor: str) -> None:
            super().__init__()
            self.aor = aor

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: dict[str, BuddyRow] = {}
        self.now: datetime = datetime.now()

    def put(self, row: BuddyRow) -> None:
        self.rows[row.aor] = row
        self.redraw()

    def change(self, aor: str, **fields: object) -> None:
        row = self.rows.get(aor)
        if row is not None:
            self.rows[aor] = replace(row, **fields)  # type: ignore[arg-type]
            self.redraw()

    def drop(self, aor: str) -> None:
        if self.rows.pop(aor, None) is not None:
            self.redraw()

    def redraw(self) -> None:
        highlighted = self.highlighted_option
        keep = highlighted.id if highlighted is not None else None
        options: list[Option] = []
        for status in Status:
            members = sorted(
                (r for r in self.rows.values() if r.status is status),
                key=lambda r: r.title.lower(),
            )
            if not members:
                continue
            heading = Text(f"{status.title} ({len(members)})", style=f"bold {status.colour}")
            options.append(Option(heading, disabled=True))
            options.extend(Option(render_row(r, self.now), id=BUDDY + r.aor) for r in members)
        self.set_options(options)
        if keep is not None and keep.removeprefix(BUDDY) in self.rows:
            self.highlighted = self.get_option_index(keep)
        elif self.highlighted is None and self.rows:
            self.action_first()

    @property
    def selected_aor(self) -> str | None:
        option = self.highlighted_option
        if option is None or option.id is None:
            return None
        return option.id.removeprefix(BUDDY)

    def action_remove(self) -> None:
        aor = self.selected_aor
        if aor is not None:
            self.post_message(self.RemoveRequested(aor))


class RequestList(OptionList):
    """People asking to see our presence (RFC 3857 pending watchers): A allows, B blocks."""

    BINDINGS = [
        Binding("a", "answer(True)", "Allow"),
        Binding("b", "answer(False)", "Block"),
    ]

    class Answered(Message):
        def __init__(self, aor: str, allow: bool) -> None:
            super().__init__()
            self.aor = aor
            self.allow = allow

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.requests: tuple[str, ...] = ()

    def show(self, requests: tuple[str, ...]) -> None:
        self.requests = requests
        self.set_options(
            Option(Text.assemble(("? ", "bold cyan"), aor), id=aor) for aor in requests
        )
        if requests:
            self.action_first()

    def action_answer(self, allow: bool) -> None:
        option = self.highlighted_option
        if option is not None and option.id is not None:
            self.post_message(self.Answered(option.id, allow))
