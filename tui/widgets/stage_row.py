"""One pipeline stage: its name, a progress bar, and counts / errors / tokens / ETA."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, Static


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def format_tokens(tokens: int) -> str:
    return f"{tokens / 1000:.1f}k" if tokens >= 1000 else str(tokens)


class StageRow(Horizontal):
    DEFAULT_CLASSES = "stage-row"

    def __init__(self, stage: str, title: str) -> None:
        super().__init__(id=f"stage-{stage}")
        self.stage = stage
        self.title = title

    def compose(self) -> ComposeResult:
        yield Label(self.title, classes="stage-name")
        yield ProgressBar(total=None, show_eta=False, show_percentage=True)
        yield Static("", classes="stage-detail")

    def show(self, done: int, total: int | None, detail: str) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=total or 1, progress=done if total else 0)  # never indeterminate: it animates
        self.query_one(".stage-detail", Static).update(detail)

    @property
    def detail(self) -> str:
        return str(self.query_one(".stage-detail", Static).render())
