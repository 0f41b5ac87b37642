"""The final pane's edit state: the writer changes pa's final into what they really send.

Ctrl+S accepts the text as sent (as everywhere in pa-tui, Ctrl+S keeps what you edited); Esc
leaves without storing anything. The screen stores it (`Workspace.record_sent`)."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class FinalEditor(TextArea):
    BINDINGS = [
        Binding("ctrl+s", "accept", "Sent", tooltip="Accept your text as the one you sent"),
        Binding("escape", "leave", "Leave", tooltip="Leave editing; nothing is stored"),
    ]

    class Accepted(Message):
        """The writer accepted `text` as what they send."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Left(Message):
        """The writer left the edit state; nothing is stored."""

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(text, soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)

    def action_accept(self) -> None:
        self.post_message(self.Accepted(self.text))

    def action_leave(self) -> None:
        self.post_message(self.Left())
