"""Print several profiles' `pa eval` reports side by side (win rates and similarity per method).

    python benchmarks/eval_summary.py docs/eval-example/*/eval.json [--markdown]

Reads the eval.json files `pa eval` writes (see core/report.py); prints one table of
win/tie/loss per profile and baseline, one of mean BERTScore F1 per profile and method, and
one of pa's model-free measures (attribution, fact match, length error) pooled per method.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.report import mean_ci, percent  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="eval.json files")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args()
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in args.reports]
    print("\n".join(summary_lines(reports, markdown=args.markdown)))


def summary_lines(reports: list[dict], markdown: bool = True) -> list[str]:
    baselines = list(dict.fromkeys(row["baseline"] for r in reports for row in r["pairwise"]))
    methods = list(dict.fromkeys(name for r in reports for name in r["methods"]))
    sep = " | " if markdown else "  "

    def line(cells: list[str]) -> str:
        return ("| " + sep.join(cells) + " |") if markdown else sep.join(f"{c:<22}" for c in cells)

    out = ["Agent vs baseline: win / tie / loss / invalid (n), win rate [95% Wilson]", ""]
    out.append(line(["profile", *baselines]))
    if markdown:
        out.append("|---" * (len(baselines) + 1) + "|")
    total = {b: [0, 0, 0, 0] for b in baselines}
    for report in reports:
        cells = [report["profile"]]
        rows = {row["baseline"]: row for row in report["pairwise"]}
        for b in baselines:
            row = rows.get(b)
            if row is None:
                cells.append("–")
                continue
            for i, kind in enumerate(("win", "tie", "loss", "invalid")):
                total[b][i] += row[kind]
            cells.append(
                f"{row['win']}/{row['tie']}/{row['loss']}/{row['invalid']} ({row['n']}), {percent(row['win_rate'])}"
            )
        out.append(line(cells))
    if len(reports) > 1:
        from core.intervals import wilson

        cells = ["all"]
        for b in baselines:
            win, tie, loss, invalid = total[b]
            n = win + tie + loss + invalid
            cells.append(f"{win}/{tie}/{loss}/{invalid} ({n}), {percent(wilson(win, n).as_dict())}")
        out.append(line(cells))
    out += ["", "Mean BERTScore F1 to the real text [95% bootstrap]", ""]
    out.append(line(["profile", *methods]))
    if markdown:
        out.append("|---" * (len(methods) + 1) + "|")
    for report in reports:
        cells = [report["profile"]]
        for name in methods:
            row = report["methods"].get(name)
            cells.append(mean_ci((row or {}).get("similarity", {}).get("bertscore_f1")) if row else "–")
        out.append(line(cells))
    out += style_lines(reports, line, markdown)
    return out


def style_lines(reports: list[dict], line, markdown: bool) -> list[str]:
    """pa's model-free measures pooled over the profiles: attribution and fact match as counts
    with 95% Wilson intervals, length error as the mean of the profiles' means weighted by n."""
    from core.intervals import wilson
    from core.style.style_eval import FACTS

    measured = [r["style_measures"] for r in reports if r.get("style_measures")]
    if not measured:
        return []
    methods = list(dict.fromkeys(name for m in measured for name in m["methods"]))
    out = [
        "",
        "pa's model-free measures, pooled over the profiles: right / n, share [95% Wilson]"
        " (attribution: whose text a classifier trained on every profile's training texts says it is;"
        " `real`: the held-out texts themselves)",
        "",
        line(["method", "attribution", *(f"{name.replace('_', ' ')} match" for name in FACTS), "length error"]),
    ]
    if markdown:
        out.append("|---" * (len(FACTS) + 3) + "|")
    for method in methods:
        rows = [m["methods"][method] for m in measured if method in m["methods"]]
        cells = [method]
        right = sum(r["attribution"]["right"] for r in rows if "attribution" in r)
        n = sum(r["attribution"]["n"] for r in rows if "attribution" in r)
        cells.append(f"{right}/{n}, {percent(wilson(right, n).as_dict())}" if n else "–")
        for name in FACTS:
            matched = sum(r["fact_match"][name]["matched"] for r in rows)
            total = sum(r["fact_match"][name]["n"] for r in rows)
            cells.append(f"{matched}/{total}, {percent(wilson(matched, total).as_dict())}" if total else "–")
        errors = [(r["length_error"]["estimate"], r["n"]) for r in rows if r.get("length_error")]
        weight = sum(w for _, w in errors)
        cells.append(f"{sum(e * w for e, w in errors) / weight:.2f}" if weight else "–")
        out.append(line(cells))
    return out


if __name__ == "__main__":
    main()
