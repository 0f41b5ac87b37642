"""`pa draft`, `pa compare`, `pa history`: the drafting core on the command line.

A thin shell over `core.drafting` and `core.history`: it renders the same events the TUI
renders, live with rich on a terminal and once per finished stream otherwise (pipes, tests).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from core.cli import common
from core.errors import BackendError, NotTrainedError, UsageError
from core.history import CHOICES

if TYPE_CHECKING:
    from rich.console import Group

    from core.drafting import DraftEvent, DraftTranscript, StreamRecord
    from core.history import DraftRecord

STREAM_TITLES = {
    "naive": "Naive draft (M_L zero-shot)",
    "rules": "Rules (preference agent)",
    "final": "Final (M_L following the rules)",
}


def register(app: typer.Typer) -> None:
    app.command("draft")(draft_command)
    app.command("compare")(compare_command)
    app.command("history")(history_command)


# -- pa draft --------------------------------------------------------------------------------


def draft_command(
    intent: str = typer.Argument(..., help="What you want to say."),
    profile: str = typer.Option(..., "--profile", "-p", help="Whose style to write in."),
    to: str | None = typer.Option(None, "--to", help="Recipient."),
    subject: str | None = typer.Option(None, "--subject", help="Subject line."),
    previous: str | None = typer.Option(None, "--previous", help="The message you reply to (text, or @FILE)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of live output."),
    edit_rules: bool = typer.Option(
        False, "--edit-rules", help="Edit the rules in $EDITOR afterwards and rewrite the final."
    ),
    keep: str | None = typer.Option(None, "--keep", help="Record which text you keep: naive or final."),
    edit: bool = typer.Option(
        False,
        "--edit",
        help="Open the final in $VISUAL/$EDITOR; what you save is recorded as the text you sent (and learned from).",
    ),
) -> None:
    """Write INTENT in the profile's style: naive draft and agent rules at once, then the final."""
    from core.drafting import DraftRequest

    if not intent.strip():
        raise UsageError(
            'the intent is empty; say what the text should say, e.g. pa draft "ask Bob to move the meeting"'
        )
    if keep is not None and keep not in CHOICES:
        raise UsageError(f"--keep {keep!r}: use {' or '.join(CHOICES)}")
    request = DraftRequest(intent.strip(), recipient=to, subject=subject, previous=_read_previous(previous))
    if edit:
        from core.cli.editor import editor_command

        editor_command()  # no editor set: say so before any model loads
    with common.open_workspace() as workspace:
        started = workspace.draft(profile, request)  # NotTrainedError (exit 1, names `pa train`) before any model loads
        label = started.agent.label
        view = _StreamView(as_json)
        transcript = asyncio.run(view.run(started.events, ("naive", "rules", "final")))
        draft_id = workspace.save_draft(profile, request, transcript, agent=label)
        result: dict[str, object] = {"draft_id": draft_id, "agent": label, **_transcript_json(transcript)}
        kept_id = draft_id
        final = transcript.text("final") or ""
        if edit_rules:
            agent_rules = transcript.text("rules") or ""
            followed = transcript.final_rules() or ""  # with the rules learned from edits, as the final had them
            edited = _edit_in_editor(followed)
            if edited is not None and edited.strip() != followed.strip():
                regenerated = asyncio.run(
                    view.run(
                        workspace.rewrite(profile, request, edited),
                        ("final",),
                        titles={"final": "Final (M_L following your edited rules)"},
                    )
                )
                kept_id = workspace.save_draft(
                    profile,
                    request,
                    regenerated,
                    agent=label,
                    rules=agent_rules,
                    edited_rules=edited.strip(),
                    parent_id=draft_id,
                )
                result["edited"] = {
                    "draft_id": kept_id,
                    "edited_rules": edited.strip(),
                    **_transcript_json(regenerated),
                }
                final = regenerated.text("final") or ""
            elif not as_json:
                common.err_console.print("rules unchanged; nothing to rewrite")
        if keep:
            workspace.keep(kept_id, keep)
            result["chosen"] = {"draft_id": kept_id, "chosen": keep}
        if edit:
            result["sent"] = _edit_and_record(workspace, profile, kept_id, final, as_json)
    if as_json:
        common.print_json(result)
    else:
        common.console.print(f"[dim]saved as draft #{kept_id} (agent {label}); see `pa history --profile {profile}`[/]")


def _edit_and_record(workspace: Any, profile: str, draft_id: int, final: str, quiet: bool) -> dict[str, Any]:
    """The final in the writer's editor; what they saved is recorded as sent, then learned from."""
    from core.cli.editor import edit_text
    from core.cli.feedback_cmd import learn_now
    from core.errors import PaError

    try:
        sent = edit_text(final, name=f"draft-{draft_id}.txt")
    except PaError as err:
        raise type(err)(
            f"{err} (draft #{draft_id} is saved; record what you send with `pa feedback {draft_id} --profile {profile} --file FILE`)"
        ) from None
    sent_id = workspace.record_sent(profile, draft_id, sent, source="editor")
    changed = " ".join(sent.split()) != " ".join(final.split())
    out: dict[str, Any] = {"draft_id": draft_id, "sent_edit_id": sent_id, "changed": changed}
    if not quiet:
        common.console.print(
            f"recorded the text you kept for draft #{draft_id} (edit #{sent_id}{', edited' if changed else ', unchanged'})"
        )
    if changed and workspace.config.drafting.learn_from_edits:
        out["learning"] = learn_now(workspace, profile, quiet).as_dict()
    return out


def _read_previous(previous: str | None) -> str | None:
    if previous is None or not previous.startswith("@"):
        return previous
    path = Path(previous[1:]).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"--previous {path}: cannot read ({exc.__class__.__name__}); give a readable UTF-8 file"
        ) from None


def _edit_in_editor(rules: str) -> str | None:
    """The rules after $EDITOR; None when the editor was closed without saving."""
    import click

    try:
        return click.edit(rules, extension=".md", require_save=True)
    except click.ClickException as exc:
        raise UsageError(f"cannot open an editor for the rules ({exc.message}); set $EDITOR") from None


def _transcript_json(transcript: DraftTranscript) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, record in transcript.streams.items():
        out[name] = record.text
        if name == "rules" and record.thinking:
            out["thinking"] = record.thinking
        if record.notes:  # what pa cut from the model's answer, or that it asked again
            out.setdefault("notes", {})[name] = list(record.notes)
        if record.checks is not None:
            out[f"{name}_checks"] = record.checks.as_dict()
    if transcript.edit_rules:  # pa's: learned from the writer's edits, merged into the agent's rules
        out["edit_rules"] = [use.as_dict() for use in transcript.edit_rules]
        out["final_rules"] = transcript.final_rules()
    out["models"] = transcript.models()
    out["timings"] = transcript.timings()
    return out


class _StreamView:
    """Shows draft events: live panels on a terminal, each stream once it is done elsewhere."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    async def run(
        self, events: AsyncIterator[DraftEvent], streams: tuple[str, ...], titles: dict[str, str] | None = None
    ) -> DraftTranscript:
        from core.drafting import DraftTranscript

        titles = {**STREAM_TITLES, **(titles or {})}
        transcript = DraftTranscript()
        console = common.console
        if self.quiet or not console.is_terminal:
            async for event in events:
                record = transcript.apply(event)
                if event.kind == "done" and not self.quiet:
                    console.rule(f"[bold]{titles[event.stream]}[/]")
                    console.print(record.text, markup=False, highlight=False)
                    console.print(f"[dim]{_timing_line(record)}[/]")
                    _print_edit_rules(record)
                    _print_checks(record)
            return transcript
        from rich.live import Live

        with Live(self._render(transcript, streams, titles), console=console, refresh_per_second=10) as live:
            async for event in events:
                transcript.apply(event)
                live.update(self._render(transcript, streams, titles))
        for record in transcript.streams.values():
            _print_edit_rules(record)
            _print_checks(record)
        return transcript

    @staticmethod
    def _render(transcript: DraftTranscript, streams: tuple[str, ...], titles: dict[str, str]) -> Group:
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        panels = []
        for name in streams:
            record = transcript.streams.get(name)
            if record is None:
                body, subtitle = Text("waiting for the rules..." if name == "final" else "starting...", style="dim"), ""
            else:
                body = Text((record.text or "") if record.done else record.live_text)
                subtitle = _timing_line(record)
            panels.append(
                Panel(
                    body,
                    title=titles[name],
                    subtitle=subtitle,
                    subtitle_align="right",
                    border_style="green" if record and record.done else "blue",
                )
            )
        return Group(*panels)


def _print_edit_rules(record: StreamRecord) -> None:
    """The rules pa merged in from the writer's edits, each with the edit it came from."""
    if not record.edit_rules:
        return
    from core.safe_text import shown

    console = common.console
    console.print("[bold]pa added rules learned from your edits (the final followed them):[/]")
    for use in record.edit_rules:
        replaced = f"; replaces the agent's {', '.join(repr(r) for r in use.replaced)}" if use.replaced else ""
        console.print(f"  {shown(use.rule)}  [dim]{shown(use.label + replaced)}[/]", highlight=False)


def _print_checks(record: StreamRecord) -> None:
    """pa's checks of a checked final, one line each (passed, repaired by pa, failed)."""
    if record.checks is None:
        return
    from core.safe_text import shown

    console = common.console
    console.print(
        f"[bold]pa checked the final against the measured style facts:[/] {shown(record.checks.summary())}",
        highlight=False,
    )
    for check in record.checks.checks:
        mark = "[green]repaired[/]" if check.repaired else "[green]ok[/]" if check.passed else "[red]failed[/]"
        console.print(
            f"  {mark} {shown(f'{check.name}: expected {check.expected}, found {check.found} ({check.evidence})')}",
            highlight=False,
        )


def _timing_line(record: StreamRecord) -> str:
    parts = []
    if record.model:
        parts.append(record.model if len(record.model) < 40 else "..." + record.model[-37:])
    if record.first_token_at is not None and record.started_at is not None:
        parts.append(f"first token {record.first_token_at:.2f}s")
    if record.done_at is not None:
        parts.append(f"done {record.done_at:.2f}s")
    if record.usage is not None:
        parts.append(f"{record.usage.completion_tokens} tok, {record.usage.tokens_per_second:.1f} tok/s")
    return " · ".join(parts)


# -- pa compare ------------------------------------------------------------------------------


def compare_command(
    intent: str = typer.Argument(..., help="What you want to say."),
    profile: str = typer.Option(..., "--profile", "-p", help="Whose style to write in."),
    baselines: list[str] | None = typer.Option(
        None,
        "--baselines",
        "-b",
        help="Methods to run (repeat or comma-separate); default: the agent and every baseline.",
    ),
    to: str | None = typer.Option(None, "--to", help="Recipient."),
    subject: str | None = typer.Option(None, "--subject", help="Subject line."),
    previous: str | None = typer.Option(None, "--previous", help="The message you reply to (text, or @FILE)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every method of the paper's Table 2 for one intent, side by side, with timings.

    Methods run one after another so each one's timing is its own; a method whose model is not
    trained is shown as unavailable with the command that trains it.
    """
    from core.drafting import DraftRequest

    if not intent.strip():
        raise UsageError("the intent is empty; say what the text should say")
    request = DraftRequest(intent.strip(), recipient=to, subject=subject, previous=_read_previous(previous))
    with common.open_workspace() as workspace:
        announce = None if as_json else (lambda name: common.err_console.print(f"[dim]running {name}...[/]"))
        found = asyncio.run(workspace.compare(profile, request, _method_names(baselines) or None, on_method=announce))
    rows = [row.as_dict() for row in found]
    if as_json:
        common.print_json({"intent": request.intent, "profile": profile, "methods": rows})
    else:
        _print_compare_table(rows)
    failed = [row.method for row in found if row.error]
    if failed:
        raise BackendError(f"{len(failed)} method(s) failed: {', '.join(failed)}; their errors are in the table above")
    if not any(row.available for row in found):
        raise NotTrainedError("none of the chosen methods can run yet; train or distill as listed above")


def _method_names(values: list[str] | None) -> list[str]:
    names: list[str] = []
    for value in values or []:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return list(dict.fromkeys(names))


def _print_compare_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Methods side by side", show_lines=True, expand=True)
    table.add_column("method", style="bold", min_width=16, max_width=20)
    table.add_column("text", ratio=1)
    table.add_column("first token", justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    for row in rows:
        label = Text(f"{row['method']}\n", style="bold")
        label.append(str(row["title"]), style="dim")
        if not row["available"]:
            table.add_row(label, Text(f"unavailable: {row['reason']}", style="yellow"), "-", "-", "-")
            continue
        if row.get("error"):
            table.add_row(label, Text(f"failed: {row['error']}", style="red"), "-", "-", "-")
            continue
        text = Text(str(row["text"]))
        if row.get("rules"):
            text = Text.assemble(("rules:\n", "dim"), (str(row["rules"]) + "\n\n", "dim italic"), str(row["text"]))
        if row.get("checks"):
            text.append(f"\n\npa's checks: {row['checks']['summary']}", style="dim")
        first = row["first_token_seconds"]
        table.add_row(
            label,
            text,
            "-" if first is None else f"{first:.2f}s",
            f"{row['seconds']:.2f}s",
            str(row["completion_tokens"] or "-"),
        )
    common.console.print(table)


# -- pa history ------------------------------------------------------------------------------


def history_command(
    profile: str = typer.Option(..., "--profile", "-p", help="Whose drafts to list."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many, newest first."),
    draft_id: int | None = typer.Option(None, "--id", help="Show one draft in full."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The profile's drafts: intent, rules, edits and the text kept."""
    from dataclasses import asdict

    with common.open_workspace() as workspace:
        drafts = (
            [workspace.history_entry(profile, draft_id)] if draft_id is not None else workspace.history(profile, limit)
        )
        sent = workspace.sent_edits(profile, draft_id) if draft_id is not None else []
    if as_json:
        if draft_id is not None:
            common.print_json([asdict(drafts[0]) | {"sent": [asdict(edit) for edit in sent]}])
        else:
            common.print_json([asdict(d) for d in drafts])
        return
    if not drafts:
        common.console.print(f'no drafts for {profile} yet; write one with `pa draft "..." --profile {profile}`')
        return
    if draft_id is not None:
        _print_draft(drafts[0])
        for edit in sent:
            common.console.print(f"[bold]sent[/] [dim](recorded {edit.created_at} via {edit.source})[/]")
            common.console.print(edit.sent, markup=False, highlight=False)
        return
    from rich.table import Table

    table = Table(title=f"Drafts of {profile}", expand=True)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("when", no_wrap=True)
    table.add_column("intent", ratio=2)
    table.add_column("final", ratio=3)
    table.add_column("edited", no_wrap=True)
    table.add_column("kept", no_wrap=True)
    for d in drafts:
        kept = d.chosen if d.chosen in ("naive", "final", None) else "own text"
        table.add_row(
            str(d.id),
            d.created_at,
            _short(d.intent),
            _short(d.final or ""),
            f"from #{d.parent_id}" if d.parent_id else ("yes" if d.edited_rules else ""),
            kept or "",
        )
    common.console.print(table)


def _print_draft(d: DraftRecord) -> None:
    console = common.console
    console.rule(f"draft #{d.id} · {d.created_at} · agent {d.agent_version or '-'}")
    for label, value in (
        ("intent", d.intent),
        ("to", d.recipient),
        ("subject", d.subject),
        ("naive", d.naive),
        ("rules", d.rules),
        ("edited rules", d.edited_rules),
        ("final", d.final),
        ("kept", d.chosen),
    ):
        if value:
            console.print(f"[bold]{label}[/]")
            console.print(value, markup=False, highlight=False)
        if label == "rules" and d.edit_rules:
            console.print("[bold]rules pa added from your edits[/]")
            for use in d.edit_rules:
                console.print(f"{use['rule']}  ({use['label']})", markup=False, highlight=False)
    if d.timings:
        console.print(f"[dim]timings: {json.dumps(d.timings)}[/]")


def _short(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
