"""How well the e-mail cleaner keeps each zone of real messages: per-zone precision/recall/F1 and leaks.

Reads the hand-made line labels in `benchmarks/data/cleaning_zones.tsv` (99 Enron messages of the
5 shared senders; only file names, line numbers and zones are committed, never mail text), runs
`core.corpus.email_cleaning.clean_body` on each message and scores every labelled non-blank line:

    predicted zone = closing    the line is in the cleaner's closing (today's code: its sign-off field)
                     text       the line is in the text and not in the closing
                     signature  the line is in the separated signature block (today's code has none)
                     quoted     anything else (dropped from the person's text)

Printed: precision, recall and F1 per zone, macro F1 over the four zones, macro F1 of "kept as the
person's words" (text + closing against signature + quoted), and the leak rate: the share of
messages where a quoted line (any, and a quoted header line `From:/To:/Sent:/Subject:/Cc:`) ends
up in the person's text. `--before PATH` runs the same on another checkout (e.g. main) and prints
the two side by side:

    python benchmarks/cleaning_zones.py --before /path/to/main/checkout
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABELS = REPO / "benchmarks" / "data" / "cleaning_zones.tsv"
ENRON = next(
    (base / "shared" / "data" / "enron" for base in (REPO.parent, REPO.parent.parent) if (base / "shared").is_dir()),
    REPO.parent / "shared" / "data" / "enron",
)
"""The shared Enron senders: beside the checkout (or one folder up, for a worktree)."""
ZONES = ("text", "closing", "signature", "quoted")
HEADER_LINE = re.compile(r"^\s*\*?(from|to|sent|cc|subject|date)\s*:", re.I)


def read_labels(path: Path = LABELS) -> dict[str, dict[int, str]]:
    labels: dict[str, dict[int, str]] = {}
    for row in path.read_text(encoding="utf-8").splitlines():
        if not row.strip() or row.startswith("#"):
            continue
        file, zone, ranges = row.split("\t")
        if zone not in ZONES:
            raise SystemExit(f"{path}: unknown zone {zone!r} for {file}")
        for part in ranges.split(","):
            first, _, last = part.partition("-")
            for number in range(int(first), int(last or first) + 1):
                labels.setdefault(file, {})[number] = zone
    return labels


def _match(lines: list[str], wanted: list[str], start: int) -> list[int]:
    """Input line numbers (1-based) of `wanted` lines, matched in order from `start`."""
    found, cursor = [], start
    for line in wanted:
        if not line.strip():
            continue
        for index in range(cursor, len(lines)):
            if lines[index].strip() == line.strip():
                found.append(index + 1)
                cursor = index + 1
                break
    return found


def predict(raw: bytes) -> tuple[list[str], dict[int, str]]:
    """The body lines and the zone the cleaner gave each (line number -> zone; absent = quoted)."""
    from core.corpus.email_cleaning import SenderNames, clean_body, normalise_lines
    from core.corpus.email_parsing import parse_email

    parsed = parse_email(raw)
    lines = normalise_lines(parsed.body)
    cleaned = clean_body(parsed.body, SenderNames.from_identity(parsed.sender, [parsed.sender_name]))
    zones: dict[int, str] = {}
    text_lines = _match(lines, cleaned.text.splitlines(), 0)
    for number in text_lines:
        zones[number] = "text"
    after = text_lines[-1] if text_lines else 0
    if hasattr(cleaned, "closing"):  # this branch: the closing is the end of the text; the signature apart
        closing = [line for line in (cleaned.closing or "").splitlines() if line.strip()]
        for number in text_lines[len(text_lines) - len(closing) :] if closing else []:
            zones[number] = "closing"
        for number in _match(lines, (cleaned.signature or "").splitlines(), after):
            zones.setdefault(number, "signature")
    else:  # today's code: the sign-off field holds closing and signature, cut from the text
        for number in _match(lines, (cleaned.signoff or "").splitlines(), after):
            zones.setdefault(number, "closing")
    return lines, zones


def score(labels: dict[str, dict[int, str]], enron: Path = ENRON) -> dict[str, object]:
    pairs: list[tuple[str, str]] = []
    leaks = header_leaks = 0
    for file, truth in sorted(labels.items()):
        lines, zones = predict((enron / file).read_bytes())
        leaked = header_leaked = False
        for number, zone in sorted(truth.items()):
            if number > len(lines) or not lines[number - 1].strip():
                continue
            predicted = zones.get(number, "quoted")
            pairs.append((zone, predicted))
            if zone == "quoted" and predicted in ("text", "closing"):
                leaked = True
                header_leaked = header_leaked or bool(HEADER_LINE.match(lines[number - 1]))
        leaks += leaked
        header_leaks += header_leaked
    per_zone = {zone: _prf(pairs, {zone}) for zone in ZONES}
    kept = _prf(
        [
            (("kept" if t in ("text", "closing") else "cut"), ("kept" if p in ("text", "closing") else "cut"))
            for t, p in pairs
        ],
        {"kept"},
    )
    cut = _prf(
        [
            (("kept" if t in ("text", "closing") else "cut"), ("kept" if p in ("text", "closing") else "cut"))
            for t, p in pairs
        ],
        {"cut"},
    )
    return {
        "messages": len(labels),
        "lines": len(pairs),
        "zones": per_zone,
        "macro_f1": sum(v["f1"] for v in per_zone.values()) / len(ZONES),
        "kept_macro_f1": (kept["f1"] + cut["f1"]) / 2,
        "leak_rate": leaks / len(labels),
        "header_leak_rate": header_leaks / len(labels),
    }


def _prf(pairs: list[tuple[str, str]], positive: set[str]) -> dict[str, float]:
    tp = sum(1 for t, p in pairs if t in positive and p in positive)
    fp = sum(1 for t, p in pairs if t not in positive and p in positive)
    fn = sum(1 for t, p in pairs if t in positive and p not in positive)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout of pa to score beside this one (e.g. main)")
    parser.add_argument(
        "--code", type=Path, default=REPO, help="the checkout whose cleaner is scored (default: this one)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    figures = {"this branch": score(read_labels())}
    if args.json:
        print(json.dumps(figures["this branch"]))
        return
    if args.before:
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--code", str(args.before.resolve()), "--json"],
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(args.before.resolve())},
        )
        figures = {"before": json.loads(out.stdout.strip().splitlines()[-1]), **figures}
    names = list(figures)
    first = figures[names[0]]
    print(f"cleaning zones on {first['messages']} hand-labelled Enron messages, {first['lines']} non-blank lines")
    print(f"{'zone':<10} {'support':>7}  " + "  ".join(f"{name:>22}" for name in names))
    print(f"{'':<10} {'':>7}  " + "  ".join(f"{'P     R     F1':>22}" for _ in names))
    for zone in ZONES:
        cells = [figures[n]["zones"][zone] for n in names]
        print(
            f"{zone:<10} {cells[0]['support']:>7}  "
            + "  ".join(f"{c['precision']:>10.3f}{c['recall']:>6.3f}{c['f1']:>6.3f}" for c in cells)
        )
    for key, label in (
        ("macro_f1", "macro F1 (4 zones)"),
        ("kept_macro_f1", "macro F1 kept/cut"),
        ("leak_rate", "messages leaking a quoted line"),
        ("header_leak_rate", "messages leaking a quoted header"),
    ):
        print(f"{label:<34}" + "  ".join(f"{figures[n][key]:>22.3f}" for n in names))


if __name__ == "__main__":
    main()
