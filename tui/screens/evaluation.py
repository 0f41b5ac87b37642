"""The latest evaluation report of the profile: win rates against each baseline, similarity to
the real text, and what the judge cost. `pa eval` writes the report; this screen only reads it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from core.report import PairwiseRow, method_rows, pairwise_rows
from tui.screens.base import PaScreen

BAR_WIDTH = 36


def rate(interval: dict[str, float] | None) -> str:
    if not interval:
        return "–"
    return f"{interval['estimate']:.0%} [{interval['low']:.0%}–{interval['high']:.0%}]"


def mean(interval: dict[str, float] | None) -> str:
    return "–" if not interval else f"{interval['estimate']:.3f}"


def win_tie_loss_chart(pairwise: list[PairwiseRow]) -> Text:
    """One stacked bar per baseline: agent wins █, ties ▒, losses ░ (invalid verdicts left blank)."""
    chart = Text()
    for row in pairwise:
        n = row.n
        chart.append(f"{row.baseline[:14]:<15}")
        if not n:
            chart.append("no verdicts\n", style="dim")
            continue
        widths = [round(BAR_WIDTH * count / n) for count in (row.win, row.tie, row.loss)]
        chart.append("█" * widths[0], style="green")
        chart.append("▒" * widths[1], style="yellow")
        chart.append("░" * widths[2], style="red")
        chart.append(" " * max(0, BAR_WIDTH - sum(widths)))
        chart.append(f" {row.win / n:.0%} win\n")
    chart.append("█ agent wins  ▒ tie  ░ baseline wins", style="dim")
    return chart


class EvaluationScreen(PaScreen):
    MODE = "evaluation"
    BINDINGS = [Binding("ctrl+r", "reload_report", "Reload")]

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="evaluation"):
            yield Static("", id="eval-summary")
            yield DataTable(id="eval-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="eval-chart")
            yield DataTable(id="eval-methods", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#eval-table", DataTable).add_columns(
            "baseline", "n", "win", "tie", "loss", "flipped", "win rate [95%]"
        )
        self.query_one("#eval-methods", DataTable).add_columns(
            "method", "docs", "BERTScore", "cosine", "length", "s/doc"
        )
        self.reload()

    def action_reload_report(self) -> None:
        self.reload()
        self.notify("report reloaded", timeout=2)

    def reload(self) -> None:
        profile = self.session.profile
        report = self.workspace.latest_report(profile) if profile else None
        summary = self.query_one("#eval-summary", Static)
        table = self.query_one("#eval-table", DataTable)
        methods = self.query_one("#eval-methods", DataTable)
        table.clear()
        methods.clear()
        if report is None:
            summary.update(
                f"No evaluation report for {profile} yet: evaluation runs outside pa-tui, with "
                f"`pa eval --profile {profile}` in a shell; then Ctrl+R here reloads it."
                if profile
                else "No profile: pick one on the Profiles screen (F2)."
            )
            self.query_one("#eval-chart", Static).update("")
            return
        judge = report.get("judge_usage", {})
        summary.update(
            f"{report['profile']}: agent {report.get('agent')} on {report.get('documents')} held-out documents, "
            f"judge {report.get('models', {}).get('judge')} ({judge.get('verdicts', 0)} verdicts, "
            f"{judge.get('unparseable_verdicts', 0)} unparseable) · {str(report.get('generated_at', ''))[:16]}"
        )
        pairs = pairwise_rows(report)
        for pair in pairs:
            table.add_row(
                pair.baseline,
                str(pair.n),
                str(pair.win),
                str(pair.tie),
                str(pair.loss),
                str(pair.flipped),
                rate(pair.win_rate),
            )
        self.query_one("#eval-chart", Static).update(win_tie_loss_chart(pairs))
        for method in method_rows(report):
            seconds = method.seconds_mean
            methods.add_row(
                method.method,
                str(method.documents),
                mean(method.bertscore_f1),
                mean(method.cosine),
                mean(method.length_ratio),
                f"{seconds:.1f}" if seconds is not None else "–",
            )
        for name, _why in (report.get("skipped") or {}).items():
            methods.add_row(name, "–", "skipped", "", "", "")
