"""Model-free measures for `pa eval` and `pa eval permutation`, beside the judge and similarity.

- attribution: the share of a method's drafts that a classifier trained on every profile's
  training texts (`core.style.attribution`) attributes to the right person, Wilson interval;
- fact match: the share of drafts whose greeting, closing and length band match the person's
  measured facts (`core.style.final_check.check_text`), Wilson intervals;
- length error: |words(draft) - words(real)| / words(real), bootstrap interval of the mean.

The held-out real texts are measured the same way (the `real` row): the ceiling a method
can reach with these facts and this classifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.errors import UsageError
from core.intervals import bootstrap_mean, wilson
from core.style.final_check import Expectations, check_text, expectations_for
from core.style.text_facts import body_of, count_words

if TYPE_CHECKING:
    from core.store import Profile, Store
    from core.style.attribution import Attributor

REAL = "real"
FACTS = ("greeting", "closing", "length_band")


def fact_match(text: str, expected: Expectations, signoff: str | None = None) -> dict[str, bool | None]:
    """Whether the text's greeting, closing (valediction and name) and length match; None
    where the facts say nothing clear. `signoff`: a stored document's separate closing."""
    checks = {c.name: c.passed for c in check_text(text, expected, signoff)}
    closing = [checks[name] for name in ("valediction", "signed_name") if name in checks]
    return {
        "greeting": checks.get("greeting"),
        "closing": all(closing) if closing else None,
        "length_band": checks.get("length"),
    }


def length_error(draft: str, real: str, signoff: str | None = None) -> float | None:
    """Relative error of the draft's body length against the real text's; None for an empty real text."""
    real_words = count_words(body_of(real, signoff))
    if not real_words:
        return None
    return abs(count_words(body_of(draft)) - real_words) / real_words


def train_attributor(
    store: Store, profile_names: Sequence[str] | None = None, seed: int = 0
) -> tuple[Attributor | None, str | None]:
    """(the classifier over the store's profiles, None) or (None, why it cannot be trained)."""
    from core.style.attribution import Attributor, profile_training_texts

    try:
        return Attributor.train(profile_training_texts(store, profile_names), seed=seed), None
    except UsageError as err:
        return None, str(err)


def profile_measures(
    store: Store,
    profile: Profile,
    documents: Sequence[Any],
    texts: Mapping[str, Mapping[int, str]],
    *,
    seed: int = 0,
    samples: int = 2000,
    attributor: Attributor | None = None,
) -> dict[str, Any]:
    """The measures per method for one profile's evaluation.

    `documents`: the held-out `Document`s; `texts`: {method: {document id: generated text}}.
    """
    from core.style.facts_store import load_profile_facts

    facts = load_profile_facts(store, profile)
    why_not = None
    if attributor is None:
        attributor, why_not = train_attributor(store, seed=seed)
    by_id = {d.id: d for d in documents}
    rows: dict[str, Any] = {}
    for method, generated in {REAL: {d.id: d.text for d in documents}, **texts}.items():
        ids = [i for i in generated if i in by_id]
        row: dict[str, Any] = {"n": len(ids)}
        if attributor is not None and ids:
            predicted = attributor.attribute([generated[i] for i in ids])
            right = sum(p == profile.name for p in predicted)
            row["attribution"] = {"right": right, "n": len(ids), "share": wilson(right, len(ids)).as_dict()}
        matches: dict[str, list[bool]] = {name: [] for name in FACTS}
        for i in ids:
            document = by_id[i]
            expected = expectations_for(facts, document.recipients, document.subject, document.previous_context)
            signoff = document.signoff if method == REAL else None
            for name, value in fact_match(generated[i], expected, signoff).items():
                if value is not None:
                    matches[name].append(value)
        row["fact_match"] = {
            name: {"matched": sum(values), "n": len(values), "share": wilson(sum(values), len(values)).as_dict()}
            for name, values in matches.items()
        }
        errors = [e for i in ids if (e := length_error(generated[i], by_id[i].text, by_id[i].signoff)) is not None]
        row["length_error"] = bootstrap_mean(errors, samples, seed).as_dict() if errors else None
        rows[method] = row
    return {
        "by": "pa (model-free)",
        "attribution": None
        if attributor is None
        else {"profiles": attributor.labels, "trained_on": attributor.trained_on},
        "attribution_unavailable": why_not,
        "methods": rows,
    }


def attribution_matrix(
    attributor: Attributor, names: Sequence[str], texts_by_agent: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """Row i: the drafts of profile i's agent (on every profile's intents); column j: the share
    attributed to profile j. A row whose maximum is on the diagonal reads like its own person."""
    counts = []
    for name in names:
        predicted = attributor.attribute(list(texts_by_agent.get(name, ())))
        counts.append([sum(p == other for p in predicted) for other in names])
    shares = [[(c / sum(line)) if sum(line) else None for c in line] for line in counts]
    on_diagonal = 0
    for i, line in enumerate(shares):
        present = [v for v in line if v is not None]
        if present and line[i] == max(present) and sum(1 for v in present if v == line[i]) == 1:
            on_diagonal += 1
    return {
        "by": "pa (model-free)",
        "rows": "agent of profile",
        "columns": "attributed to profile",
        "counts": counts,
        "shares": shares,
        "right": {
            name: {"right": counts[i][i], "n": sum(counts[i]), "share": wilson(counts[i][i], sum(counts[i])).as_dict()}
            for i, name in enumerate(names)
        },
        "rows_max_on_diagonal": on_diagonal,
        "size": len(names),
        "classifier_profiles": attributor.labels,
    }


def measures_markdown(measures: dict[str, Any] | None) -> list[str]:
    """The `pa eval` report section for the model-free measures."""
    if not measures:
        return []
    lines = [
        "",
        "## Model-free measures (pa)",
        "",
        (
            "Attribution: share of texts a classifier (character 2-4-grams + function words, trained on every "
            "profile's training texts) attributes to this person. Fact match: share of texts whose greeting, "
            "closing and length band match the person's measured facts (where the facts show a clear habit). "
            "Length error: |words(draft) - words(real)| / words(real). `real` is the held-out text itself. "
            "95% intervals."
        ),
        "",
        "| method | n | attribution | greeting | closing | length band | length error |",
        "|---|---:|---|---|---|---|---|",
    ]
    for method, row in measures["methods"].items():
        attribution = (
            _percent(row["attribution"]["share"]) + f" ({row['attribution']['right']}/{row['attribution']['n']})"
            if "attribution" in row
            else "–"
        )
        facts = [
            f"{_percent(row['fact_match'][name]['share'])} ({row['fact_match'][name]['matched']}/{row['fact_match'][name]['n']})"
            if row["fact_match"][name]["n"]
            else "–"
            for name in FACTS
        ]
        lines.append(
            f"| {method} | {row['n']} | {attribution} | {' | '.join(facts)} | {_mean(row['length_error'], 2) if row['length_error'] else '–'} |"
        )
    if measures.get("attribution_unavailable"):
        lines += ["", f"Attribution not measured: {measures['attribution_unavailable']}"]
    return lines


def attribution_markdown(matrix: dict[str, Any] | None, names: Sequence[str]) -> list[str]:
    """The `pa eval permutation` report section for the attribution matrix."""
    if not matrix:
        return []
    if "unavailable" in matrix:
        return ["", "## Attribution (pa, model-free)", "", f"Not measured: {matrix['unavailable']}"]
    lines = [
        "",
        "## Attribution (pa, model-free)",
        "",
        (
            "Rows: the drafts of a profile's agent (on every profile's intents); columns: the share a classifier "
            "trained on every profile's training texts attributes to each person."
        ),
        "",
        "| agent \\ attributed to | " + " | ".join(names) + " | right (95%) |",
        "|---|" + "---:|" * len(names) + "---|",
    ]
    for i, name in enumerate(names):
        cells = ["–" if v is None else f"{v:.2f}" for v in matrix["shares"][i]]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_percent(matrix['right'][name]['share'])} |")
    lines += ["", f"- rows with their maximum on the diagonal: {matrix['rows_max_on_diagonal']} of {matrix['size']}"]
    return lines


def _percent(interval: dict[str, float]) -> str:
    return f"{interval['estimate']:.0%} [{interval['low']:.0%}, {interval['high']:.0%}]"


def _mean(interval: dict[str, float], digits: int = 2) -> str:
    return f"{interval['estimate']:.{digits}f} [{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"
