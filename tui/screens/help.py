"""Every key, read from the bindings themselves so the help can never drift from them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
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


def _rows(bindings) -> list[tuple[str, str]]:
    rows = []
    for binding in bindings:
        key, description = (binding[0], binding[2]) if isinstance(binding, tuple) else (binding.key, binding.tooltip or binding.description)
        if description:
            rows.append((key_label(key), description))
    return rows


def help_markdown() -> str:
    from tui.app import NAVIGATION, PaApp
    from tui.screens.compare import CompareScreen
    from tui.screens.draft import DraftScreen
    from tui.screens.evaluation import EvaluationScreen
    from tui.screens.home import HomeScreen
    from tui.screens.import_corpus import ImportScreen
    from tui.screens.pipeline import PipelineScreen
    from tui.widgets.intent_input import IntentInput

    parts = [INTRO, "## Everywhere\n", "| key | action |", "|---|---|"]
    parts += [f"| {key.upper()} / Alt+{index} | {title} (or click its tab) |" for index, (key, title) in enumerate(NAVIGATION.values(), 1)]
    parts += [f"| {key} | {what} |" for key, what in _rows(b for b in PaApp.BINDINGS if b.show)]
    parts += ["| Ctrl+T | Toggle light/dark theme |", "| Ctrl+P | Command palette |", ""]
    screens = [
        ("Profiles (F2)", HomeScreen.BINDINGS),
        ("Import (F3)", ImportScreen.BINDINGS),
        ("Pipeline (F4)", PipelineScreen.BINDINGS),
        ("Draft (F5)", list(DraftScreen.BINDINGS) + list(IntentInput.BINDINGS)
         + [("tab", "", "Next field: To, Subject, the panes, the intent")]),
        ("Compare (F6)", CompareScreen.BINDINGS),
        ("Evaluation (F7)", EvaluationScreen.BINDINGS),
    ]
    for title, bindings in screens:
        parts += [f"## {title}\n", "| key | action |", "|---|---|"]
        parts += [f"| {key} | {what} |" for key, what in _rows(bindings)]
        parts.append("")
    return "\n".join(parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(help_markdown())

    def action_close(self) -> None:
        self.dismiss(None)
