"""A profile's style facts, as `pa style` shows them: measured by pa from the person's texts, by
code, with their counts. The title says so, so no fact is taken for the model's."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from core.style.fact_rows import MEASURED_BY, fact_rows

COLUMNS = (("fact", 20), ("form", 34), ("texts", 5), ("share", 5))
"""Longer forms (phrases, openers) end in an ellipsis, so the counts stay in sight at 80 columns."""


def facts_heading(profile: str, data: dict[str, Any], split: str = "train") -> str:
    return f"Style facts of {profile}: measured by {MEASURED_BY} from {data['texts']} {split} texts"


class StyleFacts(ModalScreen[None]):
    """Every fact with its form, how many texts show it and their share; Esc closes."""

    BINDINGS = [Binding("escape,f,q", "close", "Close")]

    def __init__(self, profile: str, data: dict[str, Any]) -> None:
        super().__init__()
        self.profile = profile
        self.data = data

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="style-facts"):
            yield Label(Text(facts_heading(self.profile, self.data)), classes="dialog-title")
            if self.data["texts"]:
                yield DataTable(id="style-facts-table", cursor_type="row", zebra_stripes=True)
            else:
                yield Static("No texts yet: import some on the Import screen (F3).", id="style-facts-empty")
            yield Static(
                "Forms in quotes are the person's own words; counts are texts. Esc closes.", classes="dialog-note"
            )

    def on_mount(self) -> None:
        if not self.data["texts"]:
            return
        table = self.query_one(DataTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        for row in fact_rows(self.data):
            form = Text(repr(row.form) if row.quoted else row.form, no_wrap=True, overflow="ellipsis")
            form.truncate(COLUMNS[1][1], overflow="ellipsis")
            table.add_row(row.fact, form, row.texts, row.share)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
