"""`pa import PATH --profile NAME` and `pa corpus list|show|stats`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core.cli import common
from core.errors import CorpusError
from core.safe_text import shown

if TYPE_CHECKING:
    from core.corpus import ImportOptions, ImportReport
    from core.events import Progress as ProgressEvent
    from core.workspace import Workspace

FORMAT_HELP = "auto, mbox, maildir, eml, text, jsonl or csv (auto: from names and content)"


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)
    group = typer.Typer(help="Inspect the documents a profile holds.", no_args_is_help=True)
    group.command("list")(list_cmd)
    group.command("show")(show_cmd)
    group.command("stats")(stats_cmd)
    app.add_typer(group, name="corpus")


def import_cmd(
    path: Path = typer.Argument(
        ..., metavar="PATH", help="An mbox file, a maildir, a folder of .eml/.txt/.md files, a JSONL or CSV file."
    ),
    profile: str = typer.Option(
        ..., "--profile", "-p", metavar="NAME", help="Profile (one person's voice) to import into."
    ),
    sender: list[str] | None = typer.Option(
        None,
        "--sender",
        "-s",
        metavar="ADDRESS",
        help="Keep mail from this address (repeat for more); default: the most frequent From.",
    ),
    format: str = typer.Option("auto", "--format", "-f", metavar="FORMAT", help=FORMAT_HELP),
    text_field: str | None = typer.Option(
        None,
        "--text-field",
        metavar="COLUMN",
        help="JSONL/CSV column holding the text (default: text, body, content or message).",
    ),
    field: list[str] | None = typer.Option(
        None,
        "--field",
        metavar="KEY=COLUMN",
        help="JSONL/CSV metadata column, KEY=COLUMN with KEY in sender, recipients, subject, date, message_id, previous_context.",
    ),
    genre: str | None = typer.Option(
        None, "--genre", metavar="GENRE", help="email, post or review (for a new profile; default email)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Read and clean everything, store nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import someone's writing into a profile: cleaned, de-duplicated, split 80/20."""
    from core.corpus.fields import parse_field_options

    with common.open_workspace() as workspace:
        options = workspace.import_options(
            profile,
            sender or (),
            format=format.lower(),
            text_field=text_field,
            fields=parse_field_options(field or []),
            genre=genre,
            dry_run=dry_run,
        )
        if as_json or not common.err_console.is_terminal:
            report = workspace.import_corpus(path, options)
        else:
            report = _import_with_progress(workspace, path, options)
    if as_json:
        common.print_json(report.to_dict())
    else:
        _print_summary(report)
    if report.usable == 0:
        reasons = ", ".join(f"{reason} {count}" for reason, count in report.dropped.most_common()) or "no items"
        raise CorpusError(f"{path}: nothing imported ({report.messages_seen} items read; dropped: {reasons})")


def _import_with_progress(workspace: Workspace, path: Path, options: ImportOptions) -> ImportReport:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
    )
    with Progress(*columns, console=common.err_console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(event: ProgressEvent) -> None:
            if event.stage not in tasks:
                label = "scanning senders" if event.stage == "scan" else "importing"
                tasks[event.stage] = bar.add_task(label, total=event.total, note="")
            bar.update(tasks[event.stage], completed=event.done, total=event.total, note=event.message)

        return workspace.import_corpus(path, options, on_progress)


def _print_summary(report: ImportReport) -> None:
    from rich.table import Table

    from core.corpus.records import DROP_REASONS

    console = common.console
    title = f"{'[dry run] ' if report.dry_run else ''}{shown(report.source)} → profile {report.profile} ({report.format}, {report.genre})"
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files seen", str(report.files_seen))
    table.add_row("items read", str(report.messages_seen))
    table.add_row("[bold]imported[/]", f"[bold]{report.imported}[/] (train {report.train}, test {report.test})")
    for reason, count in report.dropped.most_common():
        table.add_row(f"dropped: {reason}", str(count), style="dim" if reason == "duplicate" else None)
    console.print(table)
    if report.senders:
        console.print(
            f"sender: {shown(', '.join(report.senders))} [dim]({shown(report.sender_choice)})[/]", highlight=False
        )
    elif report.sender_choice:
        console.print(f"sender: [dim]{shown(report.sender_choice)}[/]", highlight=False)
    if report.seen_by_sender:
        senders = Table(title="per sender", title_justify="left")
        senders.add_column("From")
        senders.add_column("read", justify="right")
        senders.add_column("imported", justify="right")
        for address, seen in report.seen_by_sender.most_common(10):
            senders.add_row(shown(address), str(seen), str(report.imported_by_sender.get(address, 0)))
        if len(report.seen_by_sender) > 10:
            senders.add_row(f"… {len(report.seen_by_sender) - 10} more", "", "")
        console.print(senders)
    for reason, examples in report.examples.items():
        if reason in ("duplicate", "other_format"):
            continue
        console.print(
            f"[dim]{reason} ({DROP_REASONS.get(reason, '')}), e.g. {shown(examples[0])}[/]",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"[dim]{report.messages_seen / max(report.seconds, 1e-9):,.0f} items/s in {report.seconds:.2f}s[/]")


def list_cmd(
    profile: str = typer.Option(..., "--profile", "-p"),
    split: str | None = typer.Option(None, "--split", help="train or test"),
    limit: int = typer.Option(50, "--limit", "-n", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List a profile's documents: id, split, date, subject and first words."""
    from rich.table import Table

    if split not in (None, "train", "test"):
        raise typer.BadParameter("--split must be train or test")
    with common.open_workspace() as workspace:
        documents = workspace.documents(profile, split=split, limit=limit)
    if as_json:
        common.print_json(
            [
                {
                    "id": d.id,
                    "split": d.split,
                    "date": d.date,
                    "subject": d.subject,
                    "sender": d.sender,
                    "words": len(d.text.split()),
                    "text": d.text,
                }
                for d in documents
            ]
        )
        return
    table = Table(title=f"profile {profile}: {len(documents)} document(s)", title_justify="left")
    widths = {"id": 6, "split": 5, "date": 10, "subject": 24, "words": 5}
    widths["text"] = max(20, common.console.width - sum(widths.values()) - 3 * len(widths) - 4)
    for name, width in widths.items():
        table.add_column(
            name, justify="right" if name in ("id", "words") else "left", no_wrap=True, overflow="ellipsis", width=width
        )
    for d in documents:
        preview = " ".join(d.text.split())[:70]
        table.add_row(
            str(d.id),
            d.split,
            shown((d.date or "")[:10]),
            shown((d.subject or "")[:30]),
            str(len(d.text.split())),
            shown(preview),
        )
    common.console.print(table)


def show_cmd(
    document_id: int = typer.Argument(..., help="Document id (see `pa corpus list`)."),
    profile: str = typer.Option(..., "--profile", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show one document: its cleaned text, sign-off, previous context and metadata."""
    from dataclasses import asdict

    with common.open_workspace() as workspace:
        document = workspace.document(profile, document_id)
    if as_json:
        common.print_json(asdict(document))
        return
    console = common.console
    for label in ("subject", "sender", "recipients", "date", "split", "source_path"):
        console.print(f"[bold]{label}:[/] {shown(getattr(document, label) or '')}", highlight=False, soft_wrap=True)
    console.print()
    console.print(document.text, highlight=False, markup=False)
    if document.signature:
        console.print("\n[dim]signature (cut from the text, stored apart):[/]")
        console.print(document.signature, style="dim", highlight=False, markup=False)
    if document.previous_context:
        console.print("\n[dim]previous message (context):[/]")
        console.print(document.previous_context, style="dim", highlight=False, markup=False)


def stats_cmd(
    profile: str = typer.Option(..., "--profile", "-p"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Counts for a profile: documents per split, words, senders, and past imports."""
    with common.open_workspace() as workspace:
        stats = workspace.corpus_stats(profile)
    if as_json:
        common.print_json(stats)
        return
    from rich.table import Table

    console = common.console
    table = Table(title=f"profile {stats['profile']} ({stats['genre']})", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("documents", str(stats["documents"]))
    table.add_row("train / test", f"{stats['train']} / {stats['test']}")
    table.add_row("words (median / mean)", f"{stats['median_words']} / {stats['mean_words']}")
    table.add_row("with previous context", str(stats["with_previous_context"]))
    table.add_row("with sign-off", str(stats["with_signoff"]))
    table.add_row("sender", shown(str(stats["sender"] or "(any)")))
    table.add_row("dates", f"{stats['first_date'] or '?'} … {stats['last_date'] or '?'}")
    console.print(table)
    if stats["imports"]:
        imports = Table(title="imports", title_justify="left")
        for name in ("id", "source", "format", "seen", "imported", "status", "finished"):
            imports.add_column(name)
        for row in stats["imports"]:
            imports.add_row(
                str(row["id"]),
                shown(row["source"]),
                row["format"],
                str(row["seen"]),
                str(row["imported"]),
                row["status"],
                row["finished_at"] or "",
            )
        console.print(imports)
