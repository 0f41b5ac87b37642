"""`pa feedback`: record the text you really sent for a draft, and learn rules from the edit.

A thin view over `Workspace.record_sent` and `Workspace.learn_from_edits` (`core.edits`,
`core.edit_learning`).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from core.cli import common
from core.errors import PaError, UsageError

if TYPE_CHECKING:
    from core.edit_learning import EditLearning
    from core.workspace import Workspace


def register(app: typer.Typer) -> None:
    app.command("feedback")(feedback_command)


def feedback_command(
    draft_id: int | None = typer.Argument(None, help="The draft you sent (its id in `pa history`)."),
    profile: str = typer.Option(..., "--profile", "-p", help="Whose draft it is."),
    file: str | None = typer.Option(
        None, "--file", "-f", help="The text you sent: a UTF-8 file, or - for stdin (the default when piped)."
    ),
    learn: bool | None = typer.Option(
        None, "--learn/--no-learn", help="Learn rules from the recorded edits now (default: drafting.learn_from_edits)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Record the text you really sent for a draft (edited elsewhere) and learn rules from the edit."""
    if draft_id is None and not learn:
        raise UsageError("give the DRAFT_ID you sent and its text (--file PATH or stdin), or --learn alone")
    with common.open_workspace() as workspace:
        result: dict[str, Any] = {"profile": profile}
        if draft_id is not None:
            sent = read_sent(file)
            sent_id = workspace.record_sent(profile, draft_id, sent, source="feedback")
            result["recorded"] = {"draft_id": draft_id, "sent_edit_id": sent_id}
            if not as_json:
                common.console.print(f"recorded the text you sent for draft #{draft_id} (edit #{sent_id})")
        if learn if learn is not None else workspace.config.drafting.learn_from_edits:
            result["learning"] = learn_now(workspace, profile, as_json).as_dict()
    if as_json:
        common.print_json(result)


def read_sent(file: str | None) -> str:
    """The sent text from `file`, or from stdin for `-` (and when piped with no --file)."""
    if file is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("give the text you sent with --file PATH, or pipe it in (--file -)")
        file = "-"
    if file == "-":
        try:
            return sys.stdin.read()
        except UnicodeDecodeError:
            raise UsageError("stdin: the sent text is not UTF-8; save it as UTF-8 and pass it with --file") from None
    path = Path(file).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--file {path}: cannot read ({exc.__class__.__name__}); give a readable UTF-8 file") from None


def learn_now(workspace: Workspace, profile: str, quiet: bool) -> EditLearning:
    """Learn from every recorded edit not learned from yet; the failure says the edits are kept."""
    if not quiet:
        common.err_console.print("[dim]learning rules from your edits with M_L...[/]")
    try:
        summary = asyncio.run(workspace.learn_from_edits(profile))
    except PaError as err:  # model unreachable, or another pa command writing to the profile
        raise type(err)(
            f"{err}; your sent texts are stored: learn from them later with `pa feedback --profile {profile} --learn`"
        ) from None
    if not quiet:
        print_learning(summary)
    return summary


def print_learning(summary: EditLearning) -> None:
    console = common.console
    if summary.edits == 0:
        console.print("no edits left to learn from")
        return
    console.print(
        f"learned rules from {summary.learned} edit(s); {summary.unchanged} sent as pa wrote them; "
        f"{summary.failed} failed ({summary.calls} model call(s), {summary.replayed} re-read from the journal)"
    )
    for failure in summary.failures:
        console.print(f"  edit #{failure.document_id}: {failure.reason}", markup=False, highlight=False)
