"""Small modal dialogs: ask for a line of text, or confirm something that cannot be undone."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from core.errors import PaError


class AskText(ModalScreen[str | None]):
    """One line of text; Enter accepts, Esc gives None.

    `check` runs on the answer before the dialog closes (it may do the work, e.g. create the
    profile); a PaError it raises is shown inside the dialog, which stays open with what was typed.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, question: str, value: str = "", placeholder: str = "", check: Callable[[str], object] | None = None
    ) -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, id="answer")
            yield Static("", id="answer-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._accept(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._accept(self.query_one("#answer", Input).value)
        else:
            self.dismiss(None)

    def _accept(self, value: str) -> None:
        answer = value.strip() or None
        if answer is not None and self.check is not None:
            try:
                self.check(answer)
            except PaError as err:
                self.query_one("#answer-error", Static).update(f"{err}")
                self.query_one("#answer", Input).focus()
                return
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """Yes or no; the safe answer (no) has the focus."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("y", "yes", "Yes"), Binding("n", "cancel", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes", variant="error", id="yes")
                yield Button("No", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
