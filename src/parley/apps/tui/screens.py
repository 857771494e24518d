"""Small dialogs of the chat client."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class AddBuddyScreen(ModalScreen[str | None]):
    """Ask for a buddy's address; dismissed with it, or None on Escape."""

    DEFAULT_CSS = """
    AddBuddyScreen { align: center middle; }
    AddBuddyScreen > Vertical {
        width: 60; height: auto; border: round $accent; padding: 1 2; background: $surface;
    }
    AddBuddyScreen .error { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Add a buddy: their address (user@domain), then Enter")
            yield Input(placeholder="bob@example.com", id="buddy-address")
            yield Label("", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        address = event.value.strip().removeprefix("sip:")
        user, at, domain = address.partition("@")
        if not (user and at and domain) or " " in address:
            self.query_one(".error", Label).update("expected an address like bob@example.com")
            return
        self.dismiss(address)

    def action_cancel(self) -> None:
        self.dismiss(None)
