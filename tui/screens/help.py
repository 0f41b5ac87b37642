"""Every key, read from the bindings it is handed, so the help can never drift from them.

The app hands it what it describes (one section per place, see `tui.navigation`); the help
screen imports neither the app nor the other screens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from tui.keys import key_label

INTRO = """\
# pa-tui

Import a corpus, distill it, train an agent, then type an intent and watch the
**naive**, **rules** and **final** drafts side by side. `Ctrl+P` opens the command
palette: every action below is there too.
"""


@dataclass(frozen=True)
class Section:
    title: str
    bindings: Sequence[BindingType]


def _rows(bindings: Sequence[BindingType]) -> list[tuple[str, str]]:
    rows = []
    for binding in bindings:
        key, description = (
            (binding[0], binding[2])
            if isinstance(binding, tuple)
            else (binding.key, binding.tooltip or binding.description)
        )  # type: ignore[misc]
        if description:
            rows.append((key_label(key), description))
    return rows


def help_markdown(sections: Sequence[Section]) -> str:
    parts = [INTRO]
    for section in sections:
        parts += [f"## {section.title}\n", "| key | action |", "|---|---|"]
        parts += [f"| {key} | {what} |" for key, what in _rows(section.bindings)]
        parts.append("")
    return "\n".join(parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Close")]

    def __init__(self, sections: Sequence[Section]) -> None:
        super().__init__()
        self.markdown = help_markdown(sections)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(self.markdown)

    def action_close(self) -> None:
        self.dismiss(None)
