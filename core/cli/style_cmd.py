"""`pa style`: the style facts pa measured from a profile's texts, with their counts."""

from __future__ import annotations

from typing import Any

import typer

from core.cli import common


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
    data = {"profile": profile, "split": split, "measured_by": "pa (code, no model)", **facts.as_dict()}
    if as_json:
        common.print_json(data)
        return
    _print_facts(data)


def _print_facts(data: dict[str, Any]) -> None:
    """A table of the facts; every form, opener and phrase is data from the corpus (`shown`)."""
    from rich.table import Table

    from core.safe_text import shown

    console = common.console
    console.print(
        f"[bold]{shown(data['profile'])}[/]: {data['texts']} {data['genre']} texts ({data['split']} split), measured by pa"
    )
    if not data["texts"]:
        console.print(f"no texts; import some with `pa import PATH --profile {data['profile']}`", highlight=False)
        return
    table = Table("fact", "form", "texts", "share", show_edge=False)
    for section, key in (("greeting", "forms"), ("closing", "valedictions"), ("closing", "names")):
        if section in data:
            label = section if key == "forms" else f"{section} {key[:-1]}"
            for form, count, share in data[section][key][:5]:
                table.add_row(label, shown(repr(form)) if form != "(none)" else form, str(count), f"{share:.0%}")
                label = ""
    length = data["length"]
    for what in ("words", "sentences", "paragraphs"):
        dist = length[what]
        table.add_row(
            f"{what} per text",
            f"median {dist['median']:g}, 10-90%: {dist['p10']:.0f}-{dist['p90']:.0f}",
            str(dist["n"]),
            "",
        )
    for kind, dist in length["by_kind"].items():
        if dist.get("n"):
            table.add_row(f"words ({kind})", f"median {dist['median']:g}", str(dist["n"]), "")
    for name, habit in data["habits"].items():
        if "share" in habit:
            table.add_row(
                name.replace("_", " "),
                f"{habit['count']} in all, {habit['per_100_words']}/100 words",
                str(habit["texts"]),
                f"{habit['share']:.0%}",
            )
    contractions = data["contractions"]
    if contractions["share"] is not None:
        table.add_row(
            "contractions",
            f"{contractions['contracted']} contracted, {contractions['expanded']} spelt out",
            "",
            f"{contractions['share']:.0%}",
        )
    for form, count, share in data["openers"][:3]:
        table.add_row("opener", shown(repr(form)), str(count), f"{share:.0%}")
    for form, count, share in data["phrases"][:5]:
        table.add_row("phrase", shown(repr(form)), str(count), f"{share:.0%}")
    formality = data["formality"]
    table.add_row(
        "formality",
        f"formal {formality['formal_per_100_words']}/100 words, informal {formality['informal_per_100_words']}/100 words",
        "",
        "",
    )
    if titles := data.get("titles"):
        dist = titles["words"]
        table.add_row(
            "title words",
            f"median {dist['median']:g}, 10-90%: {dist['p10']:.0f}-{dist['p90']:.0f}",
            str(titles["texts"]),
            "",
        )
        for form, count, share in titles["case"][:3]:
            table.add_row("title case", shown(form), str(count), f"{share:.0%}")
    for name, value in data.get("genre_marks", {}).items():
        table.add_row(name.replace("_", " "), str(value), "", "")
    console.print(table)
