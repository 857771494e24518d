"""One conversation: its messages with their delivery state, the typing indicator, and
the line where one writes."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from .history import ChatLine, Delivery, Direction

_STATE_MARKS = {
    Delivery.SENDING: ("… sending", "dim"),
    Delivery.DELIVERED: ("✓ delivered", "green"),
    Delivery.STORED: ("✓ stored for offline delivery", "yellow"),
    Delivery.FAILED: ("✗ failed", "bold red"),
}


def render_line(line: ChatLine, me: str, buddy: str) -> Text:
    who = me if line.direction is Direction.OUT else buddy
    colour = "cyan" if line.direction is Direction.OUT else "magenta"
    text = Text.assemble((line.at.strftime("%H:%M "), "dim"), (who, f"bold {colour}"), ": ")
    text.append(line.text)
    mark = _STATE_MARKS.get(line.state)
    if mark is not None:
        label, style = mark
        if line.state is Delivery.FAILED and line.reason:
            label = f"{label}: {line.reason}"
        text.append(f"  {label}", style=style)
    return text


class MessageView(Static):
    """One message; its delivery mark changes as the answer comes."""

    def __init__(self, line: ChatLine, me: str, buddy: str) -> None:
        super().__init__(render_line(line, me, buddy), classes=line.direction.value)
        self.line = line
        self.me = me
        self.buddy = buddy

    def set_state(self, state: Delivery, reason: str) -> None:
        self.line = ChatLine(
            self.line.id, self.line.at, self.line.direction, self.line.text, state, reason
        )
        self.update(render_line(self.line, self.me, self.buddy))


class ChatPane(Vertical):
    """The conversation with ``buddy``."""

    DEFAULT_CSS = """
    ChatPane { height: 1fr; }
    ChatPane > VerticalScroll { height: 1fr; }
    ChatPane .typing { height: 1; color: $text-muted; text-style: italic; padding: 0 1; }
    ChatPane MessageView { padding: 0 1; }
    """

    class Send(Message):
        def __init__(self, buddy: str, text: str) -> None:
            super().__init__()
            self.buddy = buddy
            self.text = text

    class Typing(Message):
        def __init__(self, buddy: str, active: bool) -> None:
            super().__init__()
            self.buddy = buddy
            self.active = active

    def __init__(self, buddy: str, me: str, lines: list[ChatLine], *, id: str) -> None:
        super().__init__(id=id)
        self.buddy = buddy
        self.me = me
        self._initial = lines
        self._views: dict[str, MessageView] = {}
        self._clearing = False
        self._focus_when_mounted = False
        self._typing_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            for line in self._initial:
                view = MessageView(line, self.me, self.buddy)
                self._views[line.id] = view
                yield view
        yield Label("", classes="typing")
        yield Input(placeholder=f"Message {self.buddy} (Enter to send)")

    def on_mount(self) -> None:
        if self._focus_when_mounted:
            self.input.focus()

    def focus_input(self) -> None:
        """Put the cursor on the line where one writes (once it exists)."""
        if self.is_mounted and self.query(Input):
            self.input.focus()
        else:
            self._focus_when_mounted = True

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def lines(self) -> list[ChatLine]:
        return [view.line for view in self.query(MessageView)]

    def add(self, line: ChatLine) -> None:
        view = MessageView(line, self.me, self.buddy)
        self._views[line.id] = view
        scroll = self.query_one(VerticalScroll)
        scroll.mount(view)
        scroll.scroll_end(animate=False)
        if line.direction is Direction.IN:
            self.show_typing(False)

    def set_state(self, line_id: str, state: Delivery, reason: str = "") -> None:
        view = self._views.get(line_id)
        if view is not None:
            view.set_state(state, reason)

    def show_typing(self, active: bool, refresh: float = 120.0) -> None:
        label = self.query_one(".typing", Label)
        label.update(f"{self.buddy} is typing…" if active else "")
        if self._typing_timer is not None:
            self._typing_timer.stop()
            self._typing_timer = None
        if active:
            # §4.2: without a refresh in time the indication lapses by itself.
            self._typing_timer = self.set_timer(refresh, lambda: label.update(""))

    @property
    def typing_shown(self) -> str:
        return str(self.query_one(".typing", Label).content)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._clearing:
            self._clearing = False
            return
        # Every keystroke is told: the SDK decides when an indication is news.
        self.post_message(self.Typing(self.buddy, bool(event.value)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        # RFC 3994 §3.2: the message itself tells the other side we stopped composing, so
        # emptying the line after sending is not a keystroke to report.
        self._clearing = True
        event.input.value = ""
        self.post_message(self.Send(self.buddy, text))
