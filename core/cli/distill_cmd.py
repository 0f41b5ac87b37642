"""`pa distill` (intents, zero-shot drafts and rules from a profile's texts) and `pa rules show`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from core.cli import common
from core.safe_text import shown

if TYPE_CHECKING:
    from rich.progress import TaskID

    from core.distill import DistillSummary, DocumentDistillation
    from core.events import Progress, ProgressCallback
    from core.style.rule_check import RuleVerdict


class StageChoice(str, Enum):
    intents = "intents"
    drafts = "drafts"
    rules = "rules"
    all = "all"


STATUS_MARKS = {"ok": "[green]ok[/]", "failed": "[red]failed[/]", None: "[dim]-[/]", "n/a": "[dim]n/a[/]"}


def register(app: typer.Typer) -> None:
    app.command("distill")(distill_cmd)
    rules = typer.Typer(help="Read what distillation produced.", no_args_is_help=True)
    rules.command("show")(rules_show)
    app.add_typer(rules, name="rules")


def distill_cmd(
    profile: str = typer.Option(..., "--profile", "-p", help="The profile whose texts to distil."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Only the first N documents (by id)."),
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        "-c",
        min=1,
        max=64,
        help="Model calls in flight (default: distill.concurrency in config).",
    ),
    stage: StageChoice = typer.Option(
        StageChoice.all, "--stage", help="Which stage to run; 'rules' runs both rule variants."
    ),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Give stages that failed before a new round of tries."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="M_L spec for this run (default: models.large in config)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary instead of progress bars and tables."),
    batch_export: Path | None = typer.Option(
        None,
        "--batch-export",
        help="Write every pending call to this JSONL (OpenAI Batch API / vllm run-batch format).",
    ),
    batch_import: Path | None = typer.Option(
        None,
        "--batch-import",
        help="Read a batch engine's output JSONL into the journal and continue (then export again).",
    ),
) -> None:
    """Distil intents, zero-shot drafts and preference rules from a profile's texts (resumable)."""
    import asyncio

    from core.distill import STAGE_CHOICES

    with common.open_workspace() as workspace:
        found = workspace.profile(profile)
        if batch_export or batch_import:
            from core.cli.distill_batch_view import run_batch

            config = workspace.config
            run_batch(
                workspace.store,
                found,
                config,
                model or config.models.large,
                batch_import,
                batch_export,
                stages=STAGE_CHOICES[stage.value],
                limit=limit,
                retry_failed=retry_failed,
                as_json=as_json,
            )
            return
        large = workspace.open_backend(model)

        async def run(on_progress: ProgressCallback) -> DistillSummary:
            return await workspace.distill(
                profile,
                large=large,
                stages=STAGE_CHOICES[stage.value],
                limit=limit,
                concurrency=concurrency,
                retry_failed=retry_failed,
                on_progress=on_progress,
            )

        if large.spec == "embedded" and not as_json:
            common.err_console.print(
                "note: the embedded SmolLM2-135M is far too small to distil well; expect many recorded failures "
                "(most of them zero-shot drafts) and poor rules, or set models.large to a larger model "
                "(ollama:..., openai:...)",
                highlight=False,
            )
        if as_json:
            summary = asyncio.run(run(lambda _: None))
            common.print_json(summary.as_dict())
        else:
            with _ProgressView() as view:
                summary = asyncio.run(run(view.update))
            _print_summary(summary)
        _fail_when_nothing_succeeded(summary)


def rules_show(
    profile: str = typer.Option(..., "--profile", "-p"),
    doc: int | None = typer.Option(
        None, "--doc", "-d", help="One document: its text, intent, draft and rules side by side."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List each document's distillation status, or show one document's results side by side."""
    with common.open_workspace() as workspace:
        items = workspace.distillations(profile, doc)
        checks = workspace.rule_checks(profile, items)
    if as_json:
        common.print_json(
            [{**_item_json(item), "rule_checks": [vars(v) for v in checks.get(item.document.id, [])]} for item in items]
        )
    elif doc is None:
        _print_listing(profile, items)
        _print_rule_checks(checks, one=False)
    else:
        _print_document(items[0])
        _print_rule_checks(checks, one=True)


class _ProgressView:
    """Rich progress bars, one per stage, driven by core.events.Progress (on stderr)."""

    def __enter__(self) -> _ProgressView:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bars = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[errors]} failed[/]"),
            TextColumn("{task.fields[tokens]:>9,} tok"),
            TextColumn("{task.fields[cost]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=common.err_console,
        )
        self.tasks: dict[str, TaskID] = {}
        self.bars.__enter__()
        return self

    def update(self, event: Progress) -> None:
        fields: dict[str, Any] = {
            "errors": event.errors,
            "tokens": event.tokens,
            "cost": f"${event.cost:.4f}" if event.cost is not None else "",
        }
        if event.stage not in self.tasks:
            self.tasks[event.stage] = self.bars.add_task(event.stage, total=event.total, completed=event.done, **fields)
        else:
            self.bars.update(self.tasks[event.stage], total=event.total, completed=event.done, **fields)

    def __exit__(self, *exc_info: object) -> None:
        self.bars.__exit__(*exc_info)  # type: ignore[arg-type]


def _fail_when_nothing_succeeded(summary: DistillSummary) -> None:
    """A run whose every stage failed is a failure (exit 1), whatever was printed before."""
    from core.errors import PaError

    ok = sum(stats.ok for stats in summary.stages.values())
    failed = sum(stats.failed for stats in summary.stages.values())
    if failed and not ok:
        raise PaError(
            f"every stage that ran failed ({failed} failure(s), none ok); the reasons are kept: "
            f"`pa rules show --profile {summary.profile}`, then fix the cause (often the model) and run "
            f"`pa distill --profile {summary.profile} --retry-failed`"
        )


def _print_summary(summary: DistillSummary) -> None:
    from rich.table import Table

    from core.distill import STAGE_LABELS

    table = Table(title=f"distilled {summary.documents} documents of {summary.profile!r} with {summary.model}")
    for column in ("stage", "ok", "failed", "done before", "blocked", "calls", "re-read", "tokens"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, stats in summary.stages.items():
        table.add_row(
            STAGE_LABELS[name],
            str(stats.ok),
            str(stats.failed),
            str(stats.skipped),
            str(stats.blocked),
            str(stats.calls),
            str(stats.replayed),
            f"{stats.tokens:,}",
        )
    common.console.print(table)
    line = f"{summary.calls} model calls in {summary.seconds:.1f}s"
    if summary.cost is not None:
        line += f", estimated cost ${summary.cost:.4f}"
    common.console.print(line, highlight=False)
    for failure in summary.failures[:10]:
        common.console.print(
            f"[red]failed[/] document {failure.document_id} {failure.stage}: {shown(failure.reason)}", highlight=False
        )
    if len(summary.failures) > 10:
        common.console.print(
            f"... and {len(summary.failures) - 10} more failures (see `pa rules show --profile {summary.profile}`)"
        )
    if summary.failures:
        common.console.print(
            f"failed stages are kept; retry them with `pa distill --profile {summary.profile} --retry-failed`"
        )


def _item_json(item: DocumentDistillation) -> dict[str, object]:
    from dataclasses import asdict

    document = item.document
    return {
        "document": {
            "id": document.id,
            "split": document.split,
            "sender": document.sender,
            "recipients": document.recipients,
            "subject": document.subject,
            "date": document.date,
            "text": document.text,
        },
        "stages": {name: asdict(result) for name, result in item.stages.items()},
    }


def _print_rule_checks(checks: dict[int, list[RuleVerdict]], one: bool) -> None:
    from rich.text import Text

    verdicts = [v for found in checks.values() for v in found]
    if not verdicts:
        return
    dropped = [(doc, v) for doc, found in checks.items() for v in found if v.verdict == "dropped"]
    kept = sum(v.verdict == "kept" for v in verdicts)
    common.console.print(
        f"pa checked the rules against the measured style facts and the most similar texts: {kept} held, "
        f"{len(dropped)} dropped, {len(verdicts) - kept - len(dropped)} not testable",
        highlight=False,
    )
    for doc, verdict in dropped if not one else []:
        common.console.print(Text(f"  doc {doc}: dropped {verdict.rule!r}: {verdict.reason}", style="dim"))
    for verdict in verdicts if one else []:
        style = {"dropped": "red", "kept": "green"}.get(verdict.verdict, "dim")
        common.console.print(Text(f"  {verdict.verdict}: {verdict.rule} ({verdict.reason})", style=style))


def _print_listing(profile: str, items: list[DocumentDistillation]) -> None:
    from rich.table import Table

    from core.distill import STAGE_SPLITS, STAGES

    def mark(item: DocumentDistillation, stage: str) -> str:
        if stage in item.stages:
            return STATUS_MARKS[item.stages[stage].status]
        return STATUS_MARKS["n/a" if item.document.split not in STAGE_SPLITS[stage] else None]

    table = Table(title=f"distillation of {profile!r} ({len(items)} documents)")
    table.add_column("doc", justify="right")
    table.add_column("split")
    table.add_column("subject", max_width=30, no_wrap=True)
    for stage in STAGES:
        table.add_column(stage.replace("_", " "), no_wrap=True)
    for item in items:
        table.add_row(
            str(item.document.id),
            item.document.split,
            shown(item.document.subject or ""),
            *(mark(item, stage) for stage in STAGES),
        )
    common.console.print(table)
    common.console.print(f"show one with `pa rules show --profile {profile} --doc ID`", highlight=False)


def _print_document(item: DocumentDistillation) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    document = item.document
    header = " | ".join(
        f"{label}: {shown(value)}"
        for label, value in (
            ("from", document.sender),
            ("to", document.recipients),
            ("subject", document.subject),
            ("date", document.date),
        )
        if value
    )
    common.console.print(f"[bold]document {document.id}[/] ({document.split})  {header}", highlight=False)

    from core.distill import STAGE_SPLITS

    def cell(stage: str) -> Text:
        result = item.stages.get(stage)
        if result is None and document.split not in STAGE_SPLITS[stage]:
            return Text(f"not made for {document.split} documents (only their intent is)", style="dim")
        if result is None:
            return Text("not distilled yet", style="dim")
        if result.status != "ok":
            return Text(f"failed after {result.attempts} attempts: {result.error}", style="red")
        return Text(result.content or "")

    table = Table(show_lines=True, expand=True)
    for title in ("real text", "intent", "zero-shot draft", "rules"):
        table.add_column(title, ratio=1, overflow="fold")
    table.add_row(Text(document.text), cell("intent"), cell("draft"), cell("rules"))
    common.console.print(table)
    rules = item.stages.get("rules")
    if rules is not None and rules.thinking:
        common.console.print(Panel(Text(rules.thinking), title="differences (<thinking> of the rules)"))
    common.console.print(Panel(cell("nobaseline_rules"), title="no-baseline rules"))
    intent = item.stages.get("intent")
    if intent is not None and intent.candidates:
        for candidate in intent.candidates:
            mark = " (kept)" if candidate.get("chosen") else ""
            body = candidate.get("content") or f"failed: {candidate.get('error')}"
            common.console.print(
                Panel(Text(body), title=f"intent candidate at temperature {candidate['temperature']}{mark}")
            )
    for result in item.stages.values():
        common.console.print(
            f"[dim]{result.stage}: {result.template_id} v{result.template_version}, {result.model}, {result.attempts} attempt(s)[/]",
            highlight=False,
        )
        for note in (result.notes or "").splitlines():
            common.console.print(Text(f"  changed by pa: {note}", style="dim"))
