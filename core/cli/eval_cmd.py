"""`pa eval` and `pa eval permutation`: the evaluation on the command line.

A thin shell over `core.evaluate` (the work) and `core.report` (the files): progress on
stderr, a rich table (or `--json`) on stdout, and the report files written to the profile's
report folder (or `--out DIR`).

`--baselines` and `--profiles` take several values after one flag (`--profiles A B C`), as
well as comma lists and repeated flags.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from core.cli import common
from core.errors import UsageError
from core.safe_text import shown

if TYPE_CHECKING:
    from rich.progress import Progress

    from core.config import Config
    from core.events import Progress as ProgressEvent

GREEDY_OPTIONS = ("--baselines", "--profiles")


class _GreedyListGroup(TyperGroup):
    """Lets `--profiles A B C` mean three values: the words after a greedy flag are joined by commas."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, join_greedy(args))


def join_greedy(args: list[str]) -> list[str]:
    out: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        out.append(word)
        index += 1
        if word in GREEDY_OPTIONS:
            values = []
            while index < len(args) and not args[index].startswith("-"):
                values.append(args[index])
                index += 1
            if values:
                out.append(",".join(values))
    return out


def split_list(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


eval_app = typer.Typer(
    cls=_GreedyListGroup,
    invoke_without_command=True,
    no_args_is_help=False,
    help="Judge the agent against the baselines on held-out texts; `pa eval permutation` for the sender permutation.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


@eval_app.callback()
def eval_command(
    ctx: typer.Context,
    profile: str | None = typer.Option(None, "--profile", "-p", help="The profile to evaluate."),
    judge: str | None = typer.Option(
        None,
        "--judge",
        help="Judge model spec (default: models.judge, else the first of models.others that is not models.large, else models.large).",
    ),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=1, help="Held-out documents to use (default: eval.limit)."
    ),
    baselines: list[str] | None = typer.Option(
        None,
        "--baselines",
        "-b",
        help="Baselines to judge against (default: eval.baselines, else every available one).",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the report files here instead of the profile's report folder."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Generate, score and judge the agent and the baselines on the profile's held-out documents."""
    if ctx.invoked_subcommand is not None:
        if any(value for value in (profile, judge, limit, baselines, out, as_json)):
            raise UsageError(f"put the options of `pa eval {ctx.invoked_subcommand}` after its name")
        return
    if not profile:
        raise UsageError(
            "name the profile to evaluate: pa eval --profile NAME (or `pa eval permutation --profiles A B ...`)"
        )
    with common.open_workspace() as workspace, _progress(as_json) as on_progress:
        _say_when_the_judge_is_large(workspace.config, judge)
        report, files = asyncio.run(
            workspace.evaluate(
                profile,
                judge=judge,
                baselines=split_list(baselines) or None,
                limit=limit,
                out=out,
                on_progress=on_progress,
            )
        )
    if as_json:
        common.print_json({**report, "files": [str(f) for f in files]})
        return
    _print_eval(report)
    common.console.print(f"[dim]report: {files[1]} (JSON {files[0]}, charts {files[2].name}, {files[3].name})[/]")


def _say_when_the_judge_is_large(config: Config, judge: str | None) -> None:
    """Before an evaluation that may take long: a judge that is M_L is said first, not only at the end."""
    spec = (judge or config.judge_spec).strip()
    if spec == config.models.large.strip():
        common.err_console.print(
            f"[yellow]note[/]: the judge is M_L itself ({shown(spec)}): it may prefer texts written like its "
            "own; set models.judge, or list another model you have in models.others"
        )


@eval_app.command("permutation", context_settings={"allow_extra_args": False})
def permutation_command(
    profiles: list[str] = typer.Option(..., "--profiles", help="Two or more profiles, e.g. --profiles A B C."),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=1, help="Held-out documents per profile (default: eval.limit)."
    ),
    metric: str = typer.Option("bertscore_f1", "--metric", help="bertscore_f1, cosine or length_ratio."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the report files here instead of the data folder's reports/."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Apply each profile's agent to every profile's held-out intents and score against the real texts."""
    names = split_list(profiles)
    with common.open_workspace() as workspace, _progress(as_json) as on_progress:
        report, files = asyncio.run(
            workspace.permutation(names, limit=limit, metric=metric, out=out, on_progress=on_progress)
        )
    if as_json:
        common.print_json({**report, "files": [str(f) for f in files]})
        return
    _print_permutation(report)
    common.console.print(f"[dim]report: {files[1]} (JSON {files[0]}, heatmap {files[2].name})[/]")


# -- output ----------------------------------------------------------------------------------


class _progress:
    """A rich progress bar on stderr (one task per stage) while the evaluation runs."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Progress | None = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Callable[[ProgressEvent], None]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[note]}"),
            console=common.err_console,
            transient=True,
            disable=self.quiet or not common.err_console.is_terminal,
        )
        self.bar.__enter__()
        return self.update

    def update(self, event: ProgressEvent) -> None:
        assert self.bar is not None, "update() runs inside the with block"
        task = self.tasks.get(event.stage)
        if task is None:
            task = self.tasks[event.stage] = self.bar.add_task(event.stage, total=event.total, note="")
        self.bar.update(task, completed=event.done, total=event.total, note=event.message[:60])

    def __exit__(self, *exc_info: Any) -> None:
        assert self.bar is not None
        self.bar.__exit__(*exc_info)


def _print_eval(report: dict[str, Any]) -> None:
    from rich.table import Table

    from core.report import mean_ci, method_rows, pairwise_rows, percent, usd

    console = common.console
    console.print(
        f"[bold]{report['profile']}[/]: agent {report['agent']}, {report['documents']} held-out documents, judge {report['models']['judge']}"
        + (" [yellow](M_L itself)[/]" if report["judge_usage"].get("same_as_large") else "")
    )
    table = Table(title="Agent vs baselines (both orders; flips count as ties; 95% Wilson)", title_justify="left")
    for column in (
        "baseline",
        "n",
        "win",
        "tie",
        "loss",
        "invalid",
        "flipped",
        "win rate",
        "wins/(wins+losses)",
        "loss rate",
    ):
        table.add_column(
            column, justify="left" if column in ("baseline", "win rate", "wins/(wins+losses)", "loss rate") else "right"
        )
    for pair in pairwise_rows(report):
        table.add_row(
            pair.baseline,
            str(pair.n),
            str(pair.win),
            str(pair.tie),
            str(pair.loss),
            str(pair.invalid),
            str(pair.flipped),
            percent(pair.win_rate),
            percent(pair.decisive_win_rate),
            percent(pair.loss_rate),
        )
    console.print(table)
    similarity = Table(title="Similarity to the real text (mean, 95% bootstrap)", title_justify="left")
    for column in ("method", "n", "BERTScore F1", "cosine", "length ratio", "tokens in/out", "cost"):
        similarity.add_column(column, justify="right" if column in ("n", "tokens in/out") else "left")
    methods = method_rows(report)
    for method in methods:
        similarity.add_row(
            method.method,
            str(method.documents),
            mean_ci(method.bertscore_f1),
            mean_ci(method.cosine),
            mean_ci(method.length_ratio, 2),
            f"{method.prompt_tokens}/{method.completion_tokens}",
            usd(method.cost_usd),
        )
    console.print(similarity)
    _print_style_lines(report)
    usage = report["judge_usage"]
    if usage.get("same_as_large"):
        common.err_console.print(f"[yellow]note[/]: {usage['note']}")
    console.print(
        f"judge: {usage['verdicts']} verdicts in {usage['calls']} calls, {usage['unparseable_verdicts']} never parsed; "
        f"tokens {usage['prompt_tokens']} in / {usage['completion_tokens']} out; cost {usd(usage['cost_usd'])}"
    )
    for name, why in report["skipped"].items():
        common.err_console.print(f"[yellow]skipped baseline {name}[/]: {why}")
    for method in methods:
        for error in method.failed:
            common.err_console.print(f"[yellow]{method.method} failed[/] on {error} (the next run retries it)")


def _print_permutation(report: dict[str, Any]) -> None:
    from rich.table import Table

    names = report["profiles"]
    for key, title in (("raw", "raw"), ("column_normalised", "column-normalised")):
        table = Table(
            title=f"Permutation, {report['metric']} ({title}); rows: agent of, columns: documents of",
            title_justify="left",
        )
        table.add_column("agent \\ docs")
        for name in names:
            table.add_column(name, justify="right")
        for i, line in enumerate(report[key]):
            cells = []
            for j, value in enumerate(line):
                text = "–" if value is None else f"{value:.3f}"
                cells.append(f"[bold]{text}[/]" if i == j else text)
            table.add_row(names[i], *cells)
        common.console.print(table)
    diagonal = report["diagonal"]
    common.console.print(
        f"rows with their maximum on the diagonal (column-normalised): {diagonal['rows_max_on_diagonal_column_normalised']} of "
        f"{diagonal['size']}; columns whose own agent is best: {diagonal['columns_max_on_diagonal']} of {diagonal['size']} "
        f"(chance: {diagonal['size'] * diagonal['chance']:.0f})"
    )
    _print_style_lines(report)
    for failure in report["failures"]:
        common.err_console.print(f"[yellow]failed[/]: {failure} (the next run retries it)")


def _print_style_lines(report: dict[str, Any]) -> None:
    """pa's model-free measures (attribution, fact match, length error), as the report writes them."""
    from core.style.style_eval import attribution_markdown, measures_markdown

    lines = (
        measures_markdown(report.get("style_measures"))
        if "style_measures" in report
        else attribution_markdown(report.get("attribution"), report.get("profiles", []))
    )
    for line in lines:
        common.console.print(line, markup=False, highlight=False)
