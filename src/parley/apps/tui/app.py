"""``parley chat``: the Textual application. It talks to the network only through a
:class:`~parley.apps.tui.session.ChatSession` and keeps conversations in a
:class:`~parley.apps.tui.history.History`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Input, Label, Select, Static, TabbedContent, TabPane

from .buddies import BuddyList, BuddyRow, RequestList
from .chat import ChatPane
from .history import ChatLine, Delivery, Direction, History
from .screens import AddBuddyScreen
from .session import (
    ChatSession,
    MessageArrived,
    PresenceSeen,
    RequestsSeen,
    SendOutcome,
    SessionError,
    SessionEvent,
    TypingSeen,
)
from .status import OWN_STATUS_BY_KEY, OWN_STATUSES, OwnStatus


def pane_id(aor: str) -> str:
    """A widget id for ``aor``'s chat (ids allow letters, digits, ``-`` and ``_``)."""
    return "chat-" + re.sub(r"[^A-Za-z0-9_-]", lambda m: f"_{ord(m.group()):x}_", aor)


def own_status_prompt(choice: OwnStatus) -> Text:
    return Text.assemble((choice.status.symbol, choice.status.colour), " ", choice.label)


class ChatApp(App[None]):
    """Buddy list and friend requests on the left, chat tabs on the right, one's own
    status and note at the top left. ``clock`` stamps messages (tests fix it)."""

    TITLE = "Parley"
    CSS = """
    #sidebar { width: 44; border-right: solid $primary; }
    #own-status { height: auto; padding: 0 1; }
    #own-status Select { width: 1fr; }
    .section { padding: 0 1; text-style: bold; background: $boost; width: 1fr; }
    #buddies { height: 2fr; border: none; }
    #requests { height: 1fr; border: none; }
    #chats { width: 1fr; }
    #placeholder { width: 1fr; height: 1fr; content-align: center middle; color: $text-muted; }
    """
    BINDINGS = [
        Binding("ctrl+n", "add_buddy", "Add buddy"),
        Binding("ctrl+b", "focus_buddies", "Buddies"),
        Binding("ctrl+t", "focus_status", "Status"),
        Binding("ctrl+r", "focus_requests", "Requests"),
        Binding("ctrl+g", "close_chat", "Close chat"),
        Binding("ctrl+pagedown", "next_chat", "Next chat", show=False),
        Binding("ctrl+pageup", "previous_chat", "Previous chat", show=False),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(
        self,
        session: ChatSession,
        history: History,
        *,
        status: OwnStatus = OWN_STATUSES[0],
        note: str | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        super().__init__()
        self.session = session
        self.history = history
        self.own_status = status
        self.own_note = note or ""
        self.clock = clock
        self.unread: dict[str, int] = {}
        self.sub_title = session.aor

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        with Horizontal():
            with Vertical(id="sidebar"):
                with Vertical(id="own-status"):
                    yield Select(
                        [(own_status_prompt(s), s.key) for s in OWN_STATUSES],
                        value=self.own_status.key,
                        allow_blank=False,
                        id="status-select",
                    )
                    yield Input(self.own_note, placeholder="Note (Enter to publish)", id="note")
                yield Label("Buddies", classes="section")
                yield BuddyList(id="buddies")
                yield Label("Friend requests", classes="section")
                yield RequestList(id="requests")
            with Vertical(id="chats"):
                yield Static(
                    "Pick a buddy and press Enter to chat (Ctrl+N adds one)", id="placeholder"
                )
                yield TabbedContent(id="tabs")
        yield Footer()

    @property
    def buddy_list(self) -> BuddyList:
        return self.query_one(BuddyList)

    @property
    def request_list(self) -> RequestList:
        return self.query_one(RequestList)

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    def on_mount(self) -> None:
        self.buddy_list.now = self.clock()
        self.tabs.display = False
        self.buddy_list.focus()
        self.load_buddies()
        self.read_events()

    # -- the network's news ----------------------------------------------------------------

    @work(group="session", exclusive=False)
    async def load_buddies(self) -> None:
        try:
            buddies = await self.session.buddies()
        except SessionError as exc:
            self.notify(escape(str(exc)), title="Buddy list", severity="error")
            return
        for buddy in buddies:
            if buddy.aor not in self.buddy_list.rows:
                self.buddy_list.put(BuddyRow(buddy.aor, buddy.name))

    @work(group="session", exclusive=False)
    async def read_events(self) -> None:
        while True:
            event = await self.session.events.get()
            await self.apply(event)

    async def apply(self, event: SessionEvent) -> None:
        self.buddy_list.now = self.clock()
        if isinstance(event, PresenceSeen):
            row = self.buddy_list.rows.get(event.aor) or BuddyRow(event.aor)
            self.buddy_list.put(
                replace(
                    row,
                    status=event.status,
                    note=event.note,
                    changed_at=event.at,
                    pending=event.pending,
                )
            )
            self._retitle(event.aor)
        elif isinstance(event, MessageArrived):
            await self.received(event)
        elif isinstance(event, TypingSeen):
            self.buddy_list.change(event.sender, typing=event.active)
            pane = self.pane(event.sender)
            if pane is not None:
                pane.show_typing(event.active, event.refresh)
        elif isinstance(event, RequestsSeen):
            new = [aor for aor in event.requests if aor not in self.request_list.requests]
            self.request_list.show(event.requests)
            for aor in new:
                self.notify(
                    f"{escape(aor)} asks to see your status (Ctrl+R, then A/B)",
                    title="Friend request",
                )

    async def received(self, event: MessageArrived) -> None:
        line = ChatLine(uuid.uuid4().hex, event.at, Direction.IN, event.text, Delivery.RECEIVED)
        self.history.append(event.sender, line)
        pane = self.pane(event.sender)
        if pane is None:
            # The history just written includes this message. The first chat opened is
            # shown at once (a tab strip shows one tab active), but never takes the focus.
            pane = await self.open_chat(event.sender, activate=False)
        else:
            pane.add(line)
        self.buddy_list.change(event.sender, typing=False)
        shown = self.tabs.active == f"tab-{pane.id}"
        if not shown:
            self.unread[event.sender] = self.unread.get(event.sender, 0) + 1
            self._retitle(event.sender)
        if not shown or self.focused is not pane.input:
            self.notify(escape(event.text), title=f"Message from {escape(event.sender)}")

    # -- chats -----------------------------------------------------------------------------

    def pane(self, aor: str) -> ChatPane | None:
        found = self.query(f"#{pane_id(aor)}")
        return found.first(ChatPane) if found else None

    async def open_chat(self, aor: str, *, activate: bool = True) -> ChatPane:
        """Open (or go to) the chat with ``aor``; ``activate`` shows it and focuses its
        input line."""
        pane = self.pane(aor)
        if pane is None:
            pane = ChatPane(aor, self.session.aor, self.history.load(aor), id=pane_id(aor))
            await self.tabs.add_pane(TabPane(self._tab_title(aor), pane, id=f"tab-{pane.id}"))
            self.tabs.display = True
            self.query_one("#placeholder").display = False
        if activate:
            self.tabs.active = f"tab-{pane.id}"
            pane.focus_input()
            self.mark_read(aor)
        return pane

    def mark_read(self, aor: str) -> None:
        if self.unread.pop(aor, 0):
            self._retitle(aor)

    def _tab_title(self, aor: str) -> str:
        row = self.buddy_list.rows.get(aor)
        symbol = f"[{row.status.colour}]{row.status.symbol}[/] " if row is not None else ""
        count = self.unread.get(aor, 0)
        user = escape(aor.partition("@")[0])
        return f"{symbol}{user} ({count})" if count else f"{symbol}{user}"

    def tab_label(self, aor: str) -> str:
        """The text on ``aor``'s chat tab (its status symbol, user, unread count)."""
        return self.tabs.get_tab(f"tab-{pane_id(aor)}").label_text

    def _retitle(self, aor: str) -> None:
        self.buddy_list.change(aor, unread=self.unread.get(aor, 0))
        if self.pane(aor) is not None:
            self.tabs.get_tab(f"tab-{pane_id(aor)}").label = self._tab_title(aor)

    @on(TabbedContent.TabActivated)
    def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane.query_one(ChatPane)
        self.mark_read(pane.buddy)

    @on(BuddyList.OptionSelected, "#buddies")
    async def buddy_chosen(self, event: BuddyList.OptionSelected) -> None:
        aor = self.buddy_list.selected_aor
        if aor is not None:
            await self.open_chat(aor)

    @on(ChatPane.Send)
    def send(self, event: ChatPane.Send) -> None:
        line = ChatLine(uuid.uuid4().hex, self.clock(), Direction.OUT, event.text, Delivery.SENDING)
        self.history.append(event.buddy, line)
        pane = self.pane(event.buddy)
        if pane is not None:
            pane.add(line)
        self.deliver(event.buddy, line)

    @work(group="send", exclusive=False, exit_on_error=False)
    async def deliver(self, buddy: str, line: ChatLine) -> None:
        try:
            outcome = await self.session.send(buddy, line.text)
        except Exception as exc:  # whatever went wrong, the line must not stay "sending"
            outcome = SendOutcome(Delivery.FAILED, str(exc) or type(exc).__name__)
        self.history.update(buddy, line.id, outcome.state, outcome.reason)
        pane = self.pane(buddy)
        if pane is not None:
            pane.set_state(line.id, outcome.state, outcome.reason)
        if outcome.state is Delivery.FAILED:
            self.notify(
                f"to {escape(buddy)}: {escape(outcome.reason)}",
                title="Not delivered",
                severity="error",
            )

    @on(ChatPane.Typing)
    def typing(self, event: ChatPane.Typing) -> None:
        self.tell_typing(event.buddy, event.active)

    @work(group="typing", exclusive=False, exit_on_error=False)
    async def tell_typing(self, buddy: str, active: bool) -> None:
        try:
            await self.session.set_typing(buddy, active)
        except (SessionError, OSError):
            pass  # a lost typing indication is not worth a word to the user

    # -- own status ------------------------------------------------------------------------

    @on(Select.Changed, "#status-select")
    def status_chosen(self, event: Select.Changed) -> None:
        choice = OWN_STATUS_BY_KEY.get(str(event.value))
        if choice is not None and choice != self.own_status:
            self.own_status = choice
            self.publish()

    @on(Input.Submitted, "#note")
    def note_entered(self, event: Input.Submitted) -> None:
        self.own_note = event.value.strip()
        self.publish()

    @work(group="status", exclusive=True, exit_on_error=False)
    async def publish(self) -> None:
        try:
            await self.session.set_status(self.own_status, self.own_note or None)
        except (SessionError, OSError) as exc:
            self.notify(escape(str(exc)), title="Status", severity="error")
            return
        said = self.own_status.label + (f": {self.own_note}" if self.own_note else "")
        self.notify(escape(said), title="Status published")

    # -- buddies and requests ----------------------------------------------------------------

    def action_add_buddy(self) -> None:
        self.push_screen(AddBuddyScreen(), self._add_buddy)

    def _add_buddy(self, aor: str | None) -> None:
        if aor:
            self.add_buddy(aor)

    @work(group="buddies", exclusive=False, exit_on_error=False)
    async def add_buddy(self, aor: str) -> None:
        try:
            await self.session.add_buddy(aor)
        except SessionError as exc:
            self.notify(escape(str(exc)), title="Add buddy", severity="error")
            return
        if aor not in self.buddy_list.rows:
            self.buddy_list.put(BuddyRow(aor))
        self.notify(f"{escape(aor)} added", title="Buddies")

    @on(BuddyList.RemoveRequested)
    def remove_requested(self, event: BuddyList.RemoveRequested) -> None:
        self.remove_buddy(event.aor)

    @work(group="buddies", exclusive=False, exit_on_error=False)
    async def remove_buddy(self, aor: str) -> None:
        try:
            await self.session.remove_buddy(aor)
        except SessionError as exc:
            self.notify(escape(str(exc)), title="Remove buddy", severity="error")
            return
        self.buddy_list.drop(aor)
        self.notify(f"{escape(aor)} removed", title="Buddies")

    @on(RequestList.Answered)
    def request_answered(self, event: RequestList.Answered) -> None:
        self.answer(event.aor, event.allow)

    @work(group="buddies", exclusive=False, exit_on_error=False)
    async def answer(self, aor: str, allow: bool) -> None:
        try:
            if allow:
                await self.session.allow(aor)
            else:
                await self.session.block(aor)
        except SessionError as exc:
            self.notify(escape(str(exc)), title="Friend request", severity="error")
            return
        self.request_list.show(tuple(r for r in self.request_list.requests if r != aor))
        self.notify(f"{escape(aor)} {'allowed' if allow else 'blocked'}", title="Friend request")

    # -- keys ------------------------------------------------------------------------------

    def action_focus_buddies(self) -> None:
        self.buddy_list.focus()

    def action_focus_requests(self) -> None:
        self.request_list.focus()

    def action_focus_status(self) -> None:
        self.query_one("#status-select", Select).focus()

    def action_next_chat(self) -> None:
        self._step_chat(1)

    def action_previous_chat(self) -> None:
        self._step_chat(-1)

    def _step_chat(self, step: int) -> None:
        panes = [pane.id for pane in self.tabs.query(TabPane) if pane.id]
        if self.tabs.active in panes:
            index = (panes.index(self.tabs.active) + step) % len(panes)
            self.tabs.active = panes[index]
            shown = self.tabs.active_pane
            if shown is not None:
                shown.query_one(ChatPane).focus_input()

    async def action_close_chat(self) -> None:
        active = self.tabs.active
        if not active:
            return
        await self.tabs.remove_pane(active)
        if self.tabs.tab_count == 0:
            self.tabs.display = False
            self.query_one("#placeholder").display = True
            self.buddy_list.focus()
