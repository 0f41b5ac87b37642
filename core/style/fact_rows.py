"""The style facts as rows a person reads (fact, form, texts, share): what `pa style` prints and
what pa-tui shows on a profile, built once so the two views never disagree.

A row's form is either pa's own wording (a median, a count) or a form copied from the person's
texts (a greeting, an opener); `quoted` says which, so each view can show corpus text as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.style.phrasings import Phrasing

MEASURED_BY = "pa (code, no model)"
"""Who measured the facts: every view says it, they are never the model's."""


@dataclass(frozen=True)
class FactRow:
    fact: str
    form: str
    texts: str = ""
    share: str = ""
    quoted: bool = False
    """True when `form` is the person's own text (shown quoted, never as markup)."""


def fact_rows(data: dict[str, Any], *, top: int = 5) -> list[FactRow]:
    """Rows of `ProfileFacts.as_dict()`, most telling first; forms and phrases up to `top` each."""
    rows: list[FactRow] = []
    for section, key in (("greeting", "forms"), ("closing", "valedictions"), ("closing", "names")):
        if section in data:
            label = section if key == "forms" else f"{section} {key[:-1]}"
            for form, count, share in data[section][key][:top]:
                rows.append(FactRow(label, str(form), str(count), f"{share:.0%}", quoted=form != "(none)"))
                label = ""
            singular = key[:-1]  # valediction, name
            latest = data[section].get("latest" if key == "forms" else f"latest_{singular}")
            if latest:  # what the person's last texts sent from pa's drafts agree on: it wins
                form = "(none)" if latest["form"] is None else str(latest["form"])
                label = section if key == "forms" else f"{section} {singular}"
                texts = f"last {latest['last_sent_texts']} sent"
                rows.append(FactRow(f"{label} now", form, texts, quoted=form != "(none)"))
    label = "edited phrasing"
    for phrasing in data.get("phrasings", [])[:top]:  # swaps the person makes in pa's finals, newest habit
        form = Phrasing(phrasing["old"], phrasing["new"], phrasing["edits"]).describe()
        rows.append(FactRow(label, form, f"{phrasing['edits']} edits"))  # the person's words quoted inside
        label = ""
    length = data["length"]
    for what in ("words", "sentences", "paragraphs"):
        dist = length[what]
        if dist.get("n"):
            rows.append(
                FactRow(
                    f"{what} per text",
                    f"median {dist['median']:g}, 10-90%: {dist['p10']:.0f}-{dist['p90']:.0f}",
                    str(dist["n"]),
                )
            )
    for kind, dist in length["by_kind"].items():
        if dist.get("n"):
            rows.append(FactRow(f"words ({kind})", f"median {dist['median']:g}", str(dist["n"])))
    for name, habit in data["habits"].items():
        if "share" in habit:
            rows.append(
                FactRow(
                    name.replace("_", " "),
                    f"{habit['count']} in all, {habit['per_100_words']}/100 words",
                    str(habit["texts"]),
                    f"{habit['share']:.0%}",
                )
            )
    contractions = data["contractions"]
    if contractions["share"] is not None:
        rows.append(
            FactRow(
                "contractions",
                f"{contractions['contracted']} contracted, {contractions['expanded']} spelt out",
                share=f"{contractions['share']:.0%}",
            )
        )
    for form, count, share in data["openers"][:3]:
        rows.append(FactRow("opener", str(form), str(count), f"{share:.0%}", quoted=True))
    for form, count, share in data["phrases"][:top]:
        rows.append(FactRow("phrase", str(form), str(count), f"{share:.0%}", quoted=True))
    formality = data["formality"]
    rows.append(
        FactRow(
            "formality",
            f"formal {formality['formal_per_100_words']}/100 words, informal {formality['informal_per_100_words']}/100 words",
        )
    )
    if titles := data.get("titles"):
        dist = titles["words"]
        rows.append(
            FactRow(
                "title words",
                f"median {dist['median']:g}, 10-90%: {dist['p10']:.0f}-{dist['p90']:.0f}",
                str(titles["texts"]),
            )
        )
        for form, count, share in titles["case"][:3]:
            rows.append(FactRow("title case", str(form), str(count), f"{share:.0%}"))
    for name, value in data.get("genre_marks", {}).items():
        rows.append(FactRow(name.replace("_", " "), str(value)))
    return rows


def facts_summary(data: dict[str, Any]) -> str:
    """One line of the habits that matter most when drafting (usual greeting, closing, length)."""
    parts = []
    for section, what in (("greeting", "greets"), ("closing", "closes")):
        latest = (data.get(section) or {}).get("latest")
        found = latest or (data.get(section) or {}).get("usual")
        if found:  # the person's last sent texts, when they agree, else their usual habit
            form = f"with {found['form']!r}" if found["form"] else f"without a {section}"
            evidence = (
                f"last {found['last_sent_texts']} sent texts" if latest else f"{found['texts']} of {found['of']} texts"
            )
            parts.append(f"{what} {form} ({evidence})")
    band = data["length"].get("band")
    words = data["length"]["words"]
    if words.get("n"):
        parts.append(f"median {words['median']:g} words")
    if band:
        source = f" (last {band['texts']} sent texts)" if band.get("sent") else ""
        parts.append(f"usual length {band['low']}-{band['high']} words{source}")
    return "; ".join(parts)
