"""`pa style`: the style facts pa measured from a profile's texts, with their counts."""

from __future__ import annotations

from typing import Any

import typer

from core.cli import common
from core.style.fact_rows import MEASURED_BY


def register(app: typer.Typer) -> None:
    app.command("style")(style_command)


def style_command(
    profile: str = typer.Option(..., "--profile", "-p", help="Whose texts to measure."),
    split: str = typer.Option("train", "--split", help="train (what drafting and checks use), test, or all."),
    as_json: bool = typer.Option(False, "--json", help="Print the facts as one JSON object."),
) -> None:
    """Show how the profile greets, closes, how long it writes and its punctuation habits (measured, no model)."""
    from core.errors import UsageError

    if split not in ("train", "test", "all"):
        raise UsageError(f"--split {split!r}: use train, test or all")
    with common.open_workspace() as workspace:
        facts = workspace.style_facts(profile, None if split == "all" else split)
    data = {"profile": profile, "split": split, "measured_by": MEASURED_BY, **facts.as_dict()}
    if as_json:
        common.print_json(data)
        return
    _print_facts(data)


def _print_facts(data: dict[str, Any]) -> None:
    """A table of the facts; every form, opener and phrase is data from the corpus (`shown`)."""
    from rich.table import Table

    from core.safe_text import shown
    from core.style.fact_rows import fact_rows

    console = common.console
    console.print(
        f"[bold]{shown(data['profile'])}[/]: {data['texts']} {data['genre']} texts ({data['split']} split), measured by pa"
    )
    if not data["texts"]:
        console.print(f"no texts; import some with `pa import PATH --profile {data['profile']}`", highlight=False)
        return
    table = Table("fact", "form", "texts", "share", show_edge=False)
    for row in fact_rows(data):
        table.add_row(row.fact, shown(repr(row.form) if row.quoted else row.form), row.texts, row.share)
    console.print(table)
