"""The intent box: several lines, Enter sends, Shift+Enter or Ctrl+J starts a new line, Up on
the first line recalls earlier intents (Down on the last line goes forward again)."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import TextArea

from tui.messages import IntentSubmitted

NEWLINE_KEYS = ("shift+enter", "ctrl+j", "newline")


class IntentInput(TextArea):
    # Shown in the footer and the help; the keys themselves are handled in `_on_key`,
    # because TextArea treats Enter as text before any binding sees it.
    BINDINGS = [
        Binding("enter", "submit", "Send"),
        Binding("shift+enter,ctrl+j", "newline", "New line", show=False),
        Binding("up", "recall", "Earlier intent", show=False, tooltip="Earlier intent (Up on the first line)"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.intents: list[str] = []
        """Intents sent before, oldest first."""
        self._recalled: int | None = None
        self._unsent = ""

    def remember(self, intent: str) -> None:
        if intent and (not self.intents or self.intents[-1] != intent):
            self.intents.append(intent)
        self._recalled = None

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
        elif event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.action_newline()
        elif event.key == "up" and self.cursor_location[0] == 0 and self.intents:
            event.stop()
            event.prevent_default()
            self.action_recall()
        elif (
            event.key == "down"
            and self._recalled is not None
            and self.cursor_location[0] == self.document.line_count - 1
        ):
            event.stop()
            event.prevent_default()
            self._recall_newer()

    def action_submit(self) -> None:
        self.post_message(IntentSubmitted(self.text))

    def action_newline(self) -> None:
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)

    def action_recall(self) -> None:
        """One intent further back in the history."""
        if not self.intents:
            return
        if self._recalled is None:
            self._unsent = self.text
            self._recalled = len(self.intents) - 1
        else:
            self._recalled = max(0, self._recalled - 1)
        self._put(self.intents[self._recalled])

    def _recall_newer(self) -> None:
        assert self._recalled is not None
        self._recalled += 1
        if self._recalled >= len(self.intents):
            self._recalled = None
            self._put(self._unsent)
        else:
            self._put(self.intents[self._recalled])

    def _put(self, text: str) -> None:
        self.text = text
        self.move_cursor((0, 0) if self._recalled is not None else self.document.end)
