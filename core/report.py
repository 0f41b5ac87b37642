"""Evaluation reports on disk: JSON (what the TUI reads), Markdown, and PNG charts.

Files of `pa eval --profile P`, in `paths.reports_dir(P)` (or `--out DIR`):

    eval.json              the report dict of `core.evaluate.evaluate_profile` (kind "pa.eval")
    eval.md                tables: pairwise win/tie/loss with 95% Wilson intervals, similarity
                           means with 95% bootstrap intervals, tokens and cost
    eval-winrates.png      win / tie / loss rate of the agent against each baseline, with intervals
    eval-similarity.png    mean similarity to the real text per method, with intervals

Files of `pa eval permutation`, in `paths.data_dir/reports` (or `--out DIR`):

    permutation.json       kind "pa.eval.permutation": raw, row- and column-normalised matrices
    permutation.md
    permutation.png        heatmaps of the raw and the column-normalised matrix

matplotlib is imported only when a chart is drawn, with the Agg backend (no display needed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.atomic import write_text_atomic
from core.errors import PaError

if TYPE_CHECKING:
    from core.paths import Paths

EVAL_JSON = "eval.json"
EVAL_MD = "eval.md"
WINRATES_PNG = "eval-winrates.png"
SIMILARITY_PNG = "eval-similarity.png"
PERMUTATION_JSON = "permutation.json"
PERMUTATION_MD = "permutation.md"
PERMUTATION_PNG = "permutation.png"
EXAMPLES_SHOWN = 3
"""Documents quoted in eval.md (all of them are in eval.json)."""
METRIC_TITLES = {"bertscore_f1": "BERTScore F1", "cosine": "embedding cosine", "length_ratio": "length ratio"}


def permutation_dir(paths: Paths) -> Path:
    """Where the permutation report goes: it belongs to no one profile."""
    return paths.data_dir / "reports"


def latest_eval_report(paths: Paths, profile: str) -> dict[str, Any] | None:
    """The last `pa eval` report of a profile (for the TUI), or None when there is none yet."""
    return _read_json(paths.reports_dir(profile) / EVAL_JSON)


def latest_permutation_report(paths: Paths) -> dict[str, Any] | None:
    return _read_json(permutation_dir(paths) / PERMUTATION_JSON)


def _read_json(file: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
        return data
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PaError(
            f"{file}: unreadable report ({exc.__class__.__name__}); run the evaluation again to rewrite it"
        ) from None


_write_text = write_text_atomic
"""A reader never sees half a report."""


# -- the rows every view shows ---------------------------------------------------------------

Interval = dict[str, float]
"""{"estimate", "low", "high"}, as core.evaluate writes them."""


@dataclass(frozen=True)
class PairwiseRow:
    """The agent against one baseline: verdict counts and rates (95% Wilson)."""

    baseline: str
    n: int
    win: int
    tie: int
    loss: int
    invalid: int
    flipped: int
    win_rate: Interval | None
    loss_rate: Interval | None
    decisive_win_rate: Interval | None = None
    """wins / (wins + losses), as the paper reports it (ties and invalid verdicts left out)."""


@dataclass(frozen=True)
class MethodRow:
    """One method's texts against the real ones: similarity (95% bootstrap), cost and time."""

    method: str
    title: str
    documents: int
    bertscore_f1: Interval | None
    cosine: Interval | None
    length_ratio: Interval | None
    prompt_tokens: int
    completion_tokens: int
    seconds_mean: float | None
    cost_usd: float | None
    failed: list[str]


def pairwise_rows(report: dict[str, Any]) -> list[PairwiseRow]:
    return [
        PairwiseRow(
            row["baseline"],
            row.get("n", 0),
            row.get("win", 0),
            row.get("tie", 0),
            row.get("loss", 0),
            row.get("invalid", 0),
            row.get("flipped", 0),
            row.get("win_rate"),
            row.get("loss_rate"),
            row.get("decisive_win_rate"),
        )
        for row in report.get("pairwise", [])
    ]


def method_rows(report: dict[str, Any]) -> list[MethodRow]:
    rows = []
    for name, row in report.get("methods", {}).items():
        similarity, tokens = row.get("similarity") or {}, row.get("tokens") or {}
        rows.append(
            MethodRow(
                name,
                row.get("title", name),
                row.get("documents", 0),
                similarity.get("bertscore_f1"),
                similarity.get("cosine"),
                similarity.get("length_ratio"),
                tokens.get("prompt", 0),
                tokens.get("completion", 0),
                row.get("seconds_mean"),
                row.get("cost_usd"),
                list(row.get("failed") or []),
            )
        )
    return rows


# -- formatting ------------------------------------------------------------------------------


def percent(interval: dict[str, float] | None) -> str:
    if not interval:
        return "–"
    return f"{interval['estimate']:.0%} [{interval['low']:.0%}, {interval['high']:.0%}]"


def mean_ci(interval: dict[str, float] | None, digits: int = 3) -> str:
    if not interval:
        return "–"
    return f"{interval['estimate']:.{digits}f} [{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"


def usd(value: float | None) -> str:
    return "local (free)" if value is None else f"${value:.4f}"


# -- pa eval ---------------------------------------------------------------------------------


def eval_markdown(report: dict[str, Any], charts: bool = True) -> str:
    lines = [
        f"# Evaluation of profile `{report['profile']}`",
        "",
        f"- generated: {report['generated_at']}",
        f"- agent: `{report['agent']}`; large model: `{report['models']['large']}`; judge: `{report['models']['judge']}`",
        f"- held-out documents: {report['documents']} ({report['genre']})",
        "",
        "## Agent against each baseline (pairwise judge)",
        "",
        "Every pair is judged twice, with the candidates in both orders. The agent wins or loses a "
        "document only when both orders agree; a verdict that flips with the order is a tie "
        "(position bias). A judge answer that never parsed (after retries) is counted as invalid. "
        "Rates with 95% Wilson intervals. The win rate counts ties and invalid verdicts in the "
        "denominator (conservative); wins/(wins+losses) leaves them out, as the paper reports.",
        "",
        "| baseline | n | win | tie | loss | invalid | flipped | win rate | wins/(wins+losses) | loss rate |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for pair in pairwise_rows(report):
        decisive = percent(pair.decisive_win_rate) if pair.decisive_win_rate is not None else "-"
        lines.append(
            f"| {pair.baseline} | {pair.n} | {pair.win} | {pair.tie} | {pair.loss} | {pair.invalid} | "
            f"{pair.flipped} | {percent(pair.win_rate)} | {decisive} | {percent(pair.loss_rate)} |"
        )
    if not report["pairwise"]:
        lines.append("| (no baseline was available) | | | | | | | | | |")
    if report.get("judge_usage", {}).get("note"):
        lines += ["", f"Judge: {report['judge_usage']['note']}."]
    if charts:
        lines += ["", f"![win rates]({WINRATES_PNG})"]
    lines += [
        "",
        "## Similarity to the real text",
        "",
        "Means over documents with 95% bootstrap intervals. BERTScore-style F1 (greedy matching of "
        "all-MiniLM-L6-v2 token embeddings, no idf, no rescaling), cosine of sentence embeddings, "
        "and length ratio (words generated / words real; 1.0 is the same length).",
        "",
        "| method | n | BERTScore F1 | cosine | length ratio | tokens in / out | s / doc | cost |",
        "|---|---:|---|---|---|---:|---:|---|",
    ]
    for method in method_rows(report):
        seconds = "–" if method.seconds_mean is None else f"{method.seconds_mean:.1f}"
        lines.append(
            f"| {method.method} | {method.documents} | {mean_ci(method.bertscore_f1)} | {mean_ci(method.cosine)} | "
            f"{mean_ci(method.length_ratio, 2)} | {method.prompt_tokens} / {method.completion_tokens} | "
            f"{seconds} | {usd(method.cost_usd)} |"
        )
    if charts:
        lines += ["", f"![similarity]({SIMILARITY_PNG})"]
    usage = report["judge_usage"]
    per_call = usage["per_call"]
    lines += [
        "",
        "## Judge",
        "",
        f"- model: `{usage['model']}`; verdicts: {usage['verdicts']}; calls (with retries): {usage['calls']}",
        f"- verdicts that needed a retry: {usage['retried_verdicts']}; never parsed: {usage['unparseable_verdicts']}",
        f"- tokens: {usage['prompt_tokens']} in / {usage['completion_tokens']} out"
        + (
            f" ({per_call['prompt_tokens']:.0f} / {per_call['completion_tokens']:.1f} per call)"
            if per_call["prompt_tokens"] is not None
            else ""
        ),
        f"- cost: {usd(usage['cost_usd'])}",
    ]
    methods = {name: row["title"] for name, row in report["methods"].items()}
    lines += ["", "## Methods", ""] + [f"- `{name}`: {title}" for name, title in methods.items()]
    if report["skipped"]:
        lines += ["", "## Skipped baselines", ""] + [f"- `{name}`: {why}" for name, why in report["skipped"].items()]
    failed = {name: row["failed"] for name, row in report["methods"].items() if row["failed"]}
    if failed:
        lines += ["", "## Failed generations (retried by the next run)", ""]
        for name, errors in failed.items():
            lines += [f"- `{name}`: {error}" for error in errors]
    lines += _style_lines(report)
    lines += _examples(report)
    return "\n".join(lines) + "\n"


def _examples(report: dict[str, Any], count: int = EXAMPLES_SHOWN) -> list[str]:
    """The first documents side by side, so a reader can see what the numbers are about."""
    details = report.get("details") or []
    if not details:
        return []
    lines = ["", f"## Examples (first {min(count, len(details))} of {len(details)} documents)"]
    for doc in details[:count]:
        lines += ["", f"### Document {doc['document_id']}" + (f": {doc['subject']}" if doc.get("subject") else ""), ""]
        lines += ["Intent:", "", _quote(doc["intent"]), "", "Real text:", "", _quote(doc["real"])]
        for method, text in doc["generations"].items():
            f1 = doc["scores"].get(method, {}).get("bertscore_f1")
            score = f" (BERTScore F1 {f1:.3f})" if f1 is not None else ""
            rules = (doc.get("rules") or {}).get(method)
            if rules:
                lines += ["", f"`{method}` rules (written by its agent):", "", _quote(rules)]
            lines += ["", f"`{method}`{score}:", "", _quote(text)]
        if doc["verdicts"]:
            lines += [
                "",
                "Judge: "
                + "; ".join(
                    f"vs {b}: {v['outcome']} (agent as A: picked {v['agent_first'] or 'nothing parseable'}; agent as B: picked {v['agent_second'] or 'nothing parseable'})"
                    for b, v in doc["verdicts"].items()
                ),
            ]
    return lines


def _quote(text: str, limit: int = 600) -> str:
    body = text.strip()
    if len(body) > limit:
        body = body[:limit].rstrip() + " […]"
    return "\n".join("> " + line if line.strip() else ">" for line in body.splitlines()) or ">"


def write_eval_report(report: dict[str, Any], folder: Path) -> list[Path]:
    """eval.json, eval.md and both charts into `folder`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / EVAL_JSON, folder / EVAL_MD, folder / WINRATES_PNG, folder / SIMILARITY_PNG]
    _write_text(files[0], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _write_text(files[1], eval_markdown(report))
    plot_win_rates(report, files[2])
    plot_similarity(report, files[3])
    return files


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_win_rates(report: dict[str, Any], file: Path) -> None:
    """Grouped bars: win, tie, loss and invalid rate of the agent against each baseline, Wilson intervals."""
    plt = _pyplot()
    rows = report["pairwise"]
    figure, axes = plt.subplots(figsize=(max(5.5, 1.8 * len(rows) + 2), 3.8), dpi=100)
    kinds = [
        ("win_rate", "agent wins", "#2a9d8f"),
        ("tie_rate", "tie", "#b0b0b0"),
        ("loss_rate", "agent loses", "#e76f51"),
        ("invalid_rate", "invalid (judge never parsed)", "#5c677d"),
    ]
    width = 0.2
    for offset, (key, label, colour) in enumerate(kinds):
        xs = [i + (offset - 1.5) * width for i in range(len(rows))]
        estimates = [row[key]["estimate"] for row in rows]
        errors = [
            [row[key]["estimate"] - row[key]["low"] for row in rows],
            [row[key]["high"] - row[key]["estimate"] for row in rows],
        ]
        axes.bar(xs, estimates, width, yerr=errors, capsize=3, label=label, color=colour)
    axes.set_xticks(range(len(rows)), [f"{row['baseline']}\n(n={row['n']})" for row in rows], fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_ylabel("share of documents")
    axes.set_title(
        f"{report['profile']}: agent vs baselines (judge {report['models']['judge']}), 95% Wilson", fontsize=9
    )
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, frameon=False)
    figure.tight_layout()
    file.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(file)
    plt.close(figure)


def plot_similarity(report: dict[str, Any], file: Path) -> None:
    """Bars per method: mean BERTScore F1 and cosine to the real text, bootstrap intervals."""
    plt = _pyplot()
    names = list(report["methods"])
    figure, axes = plt.subplots(figsize=(max(5.5, 1.1 * len(names) + 2), 3.8), dpi=100)
    width = 0.38
    for offset, (metric, colour) in enumerate((("bertscore_f1", "#264653"), ("cosine", "#e9c46a"))):
        xs, estimates, low, high = [], [], [], []
        for index, name in enumerate(names):
            interval = report["methods"][name]["similarity"][metric]
            if interval is None:
                continue
            xs.append(index + (offset - 0.5) * width)
            estimates.append(interval["estimate"])
            low.append(interval["estimate"] - interval["low"])
            high.append(interval["high"] - interval["estimate"])
        axes.bar(xs, estimates, width, yerr=[low, high], capsize=3, label=METRIC_TITLES[metric], color=colour)
    axes.set_xticks(range(len(names)), names, fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_ylabel("similarity to the real text")
    axes.set_title(f"{report['profile']}: similarity to the real text per method, 95% bootstrap", fontsize=9)
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    figure.tight_layout()
    figure.savefig(file)
    plt.close(figure)


# -- pa eval permutation ---------------------------------------------------------------------


def _matrix_table(names: list[str], matrix: list[list[float | None]], digits: int = 3) -> list[str]:
    lines = ["| agent \\ documents | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for name, line in zip(names, matrix):
        cells = []
        for j, value in enumerate(line):
            text = "–" if value is None else f"{value:.{digits}f}"
            cells.append(f"**{text}**" if names[j] == name else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def permutation_markdown(report: dict[str, Any], charts: bool = True) -> str:
    names = report["profiles"]
    diagonal = report["diagonal"]
    metric = METRIC_TITLES.get(report["metric"], report["metric"])
    lines = [
        "# Sender permutation",
        "",
        f"- generated: {report['generated_at']}",
        f"- metric: {metric} of the agent-guided text against the real text (mean over held-out documents)",
        "- rows: the agent of a profile; columns: the held-out documents (intents) of a profile; the diagonal is each agent on its own person",
        "- documents per profile: " + ", ".join(f"{name} {report['documents'][name]}" for name in names),
        "- agents: " + ", ".join(f"`{label}`" for label in report["agents"].values()),
        "",
        "## Raw",
        "",
        *_matrix_table(names, report["raw"]),
        "",
        "## Column-normalised (each column divided by its sum: removes how easy each person's documents are)",
        "",
        *_matrix_table(names, report["column_normalised"]),
        "",
        "## Row-normalised (each row divided by its sum)",
        "",
        *_matrix_table(names, report["row_normalised"]),
        "",
        "## Diagonal",
        "",
        f"- rows with their maximum on the diagonal, column-normalised: {diagonal['rows_max_on_diagonal_column_normalised']} of {diagonal['size']}",
        f"- rows with their maximum on the diagonal, raw: {diagonal['rows_max_on_diagonal_raw']} of {diagonal['size']}",
        f"- columns whose best agent is their own (raw = column-normalised): {diagonal['columns_max_on_diagonal']} of {diagonal['size']}",
        f"- by chance one would expect {diagonal['size'] * diagonal['chance']:.0f} of {diagonal['size']} (1/{diagonal['size']} each); ties for a maximum count as misses",
    ]
    if charts:
        lines += ["", f"![permutation]({PERMUTATION_PNG})"]
    lines += _attribution_lines(report)
    if report["failures"]:
        lines += ["", "## Failed generations (retried by the next run)", ""] + [f"- {f}" for f in report["failures"]]
    return "\n".join(lines) + "\n"


def _style_lines(report: dict[str, Any]) -> list[str]:
    """pa's model-free measures (core.style.style_eval), when the report has them."""
    from core.style.style_eval import measures_markdown

    return measures_markdown(report.get("style_measures"))


def _attribution_lines(report: dict[str, Any]) -> list[str]:
    from core.style.style_eval import attribution_markdown

    return attribution_markdown(report.get("attribution"), report["profiles"])


def write_permutation_report(report: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / PERMUTATION_JSON, folder / PERMUTATION_MD, folder / PERMUTATION_PNG]
    _write_text(files[0], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _write_text(files[1], permutation_markdown(report))
    plot_permutation(report, files[2])
    return files


def plot_permutation(report: dict[str, Any], file: Path) -> None:
    """Two heatmaps side by side: raw and column-normalised, values written in the cells."""
    plt = _pyplot()
    import numpy as np

    names = report["profiles"]
    size = len(names)
    figure, panels = plt.subplots(1, 2, figsize=(4 + 2.2 * size, 1.8 + 0.75 * size), dpi=100)
    for axes, (key, title) in zip(panels, (("raw", "raw"), ("column_normalised", "column-normalised"))):
        matrix = np.array([[np.nan if v is None else v for v in line] for line in report[key]], dtype=float)
        image = axes.imshow(matrix, cmap="viridis")
        for i in range(size):
            for j in range(size):
                if not np.isnan(matrix[i, j]):
                    axes.text(
                        j,
                        i,
                        f"{matrix[i, j]:.3f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if matrix[i, j] < np.nanmean(matrix) else "black",
                        fontweight="bold" if i == j else "normal",
                    )
        axes.set_xticks(range(size), names, rotation=45, ha="right", fontsize=7)
        axes.set_yticks(range(size), names, fontsize=7)
        axes.set_xlabel("held-out documents of", fontsize=8)
        axes.set_ylabel("agent of", fontsize=8)
        axes.set_title(f"{METRIC_TITLES.get(report['metric'], report['metric'])}, {title}", fontsize=9)
        figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    file.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(file)
    plt.close(figure)
