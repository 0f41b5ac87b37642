"""Every figure of issue 18's table in one run, side by side with the previous release's.

Runs the benchmarks under benchmarks/ (each in its own process, in its quick mode with
`--quick`), reads the figure each prints, and prints one table: the release's figure from
benchmarks/baseline.json, the figure now, the change, and the target. A figure more than 25%
worse than the release's is marked WORSE, so a regression shows. Rows that need a trained
agent run only when one is given (`--agent-folder`, `--agent`). Quick figures are measured on
smaller work than the release's full runs (the mode column says which), and every figure
depends on the machine's load: the load average is printed before and after.

    python benchmarks/all.py --quick [--agent-folder PATH] [--agent PATH.gguf] [--only pa_help import_rate]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORSE_BY = 0.25


@dataclass
class Row:
    key: str
    script: str
    quick: list[str]
    full: list[str]
    read: Callable[[str], float]
    needs: str | None = None
    """An option of this script (agent_folder, agent) without which the row is not run."""


def number(pattern: str) -> Callable[[str], float]:
    def read(output: str) -> float:
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            raise ValueError(f"no line matching {pattern!r}")
        return float(found.group(1).replace(",", ""))

    return read


def agent_ratio(output: str) -> float:
    ratios = [
        float(m.group(1))
        for m in re.finditer(r"^\S*q8\S*\s+\d+\s+[\d.]+\s+([\d.]+)x", output, re.MULTILINE | re.IGNORECASE)
    ]
    if not ratios:
        raise ValueError("no Q8_0 row")
    return max(ratios)


def train_tok_s(output: str) -> float:
    """The full `pa train` run's tokens/s when it ran, else pa's own step (its precision) in the quick part."""
    full = re.search(r"; ([\d.]+) tok/s; eval loss", output)
    return (
        float(full.group(1))
        if full
        else number(r"^pa's step \(train.precision = auto: \w+ here\): ([\d.]+) tok/s")(output)
    )


ROWS = [
    Row(
        "distill_embedded",
        "embedded_distill.py",
        ["--part", "quickstart"],
        ["--part", "calls", "distill", "quickstart", "--documents", "8"],
        number(r"^quickstart speed-up ([\d.]+)x"),
    ),
    Row(
        "prefill_ratio",
        "backend_speed.py",
        ["--new-tokens", "32"],
        [],
        number(r"^prompt tok/s\s+[\d.]+\s+[\d.]+\s+([\d.]+)x"),
    ),
    Row(
        "generation_ratio",
        "backend_speed.py",
        ["--new-tokens", "32"],
        [],
        number(r"^generation tok/s\s+[\d.]+\s+[\d.]+\s+([\d.]+)x"),
    ),
    Row("agent_ratio", "agent_speed.py", ["--tokens", "32"], [], agent_ratio, needs="agent_folder"),
    Row("pa_help", "cli_startup.py", ["--runs", "3"], [], number(r"^pa --help, lazy \(now\)\s+([\d.]+)")),
    Row("train_tok_s", "train_throughput.py", ["--steps", "2", "--precision-steps", "4"], ["--full"], train_tok_s),
    Row("train_peak_rss", "train_memory.py", ["--quick"], [], number(r"^peak RSS of the run\s+([\d.]+) MB")),
    Row(
        "length_grouped",
        "train_throughput.py",
        ["--steps", "2", "--precision-steps", "4"],
        ["--full"],
        number(r"^speed-up in real tokens/s: ([\d.]+)x"),
    ),
    Row(
        "import_rate",
        "import_throughput.py",
        ["--sizes", "5000"],
        [],
        number(r"^\s*\d+\s+[\d.]+\s+pa import\s+([\d,]+)"),
    ),
    Row(
        "tui_first_frame",
        "tui_startup.py",
        ["--runs", "1"],
        [],
        number(r"^first frame in a terminal, median of \d+\s+([\d.]+)s"),
    ),
    Row("draft_first_token", "draft_latency.py", ["--runs", "1"], [], number(r"overlapped ([\d.]+)s"), needs="agent"),
]


def run_script(script: str, extra: list[str], cache: dict[tuple[str, ...], str]) -> str:
    """The script's stdout (one run per distinct command line, shared by the rows that read it)."""
    key = (script, *extra)
    if key not in cache:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(HERE / script), *extra],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        print(
            f"  ran {script} {' '.join(extra)} in {time.perf_counter() - started:.0f} s (exit {done.returncode})",
            flush=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        cache[key] = done.stdout
    return cache[key]


def change(now: float, then: float, higher_is_better: bool) -> tuple[str, bool]:
    ratio = now / then if then else float("inf")
    better = ratio if higher_is_better else (1 / ratio if ratio else float("inf"))
    return f"{better:.2f}x {'better' if better >= 1 else 'worse'}", better < 1 - WORSE_BY


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode (minutes, not hours)")
    parser.add_argument("--agent-folder", type=Path, help="an exported agent folder, for agent_speed.py")
    parser.add_argument("--agent", type=Path, help="an agent GGUF, for draft_latency.py")
    parser.add_argument("--only", nargs="+", metavar="ROW", help=f"only these rows: {' '.join(r.key for r in ROWS)}")
    args = parser.parse_args()
    baseline = json.loads((HERE / "baseline.json").read_text())
    rows = list(ROWS)
    load_before = os.getloadavg()
    print(
        f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} on {os.cpu_count()} cores; "
        f"mode {'quick' if args.quick else 'full'}",
        flush=True,
    )
    cache: dict[tuple[str, ...], str] = {}
    results: dict[str, float | str] = {}
    for row in rows:
        if args.only and row.key not in args.only:
            results[row.key] = "not run (not in --only)"
            continue
        if row.needs and getattr(args, row.needs) is None:
            results[row.key] = f"not run (give --{row.needs.replace('_', '-')})"
            continue
        if not (HERE / row.script).exists():
            results[row.key] = f"not run ({row.script} is missing)"
            continue
        extra = list(row.quick if args.quick else row.full)
        if row.needs:
            extra += [f"--{row.needs.replace('_', '-')}", str(getattr(args, row.needs))]
        try:
            results[row.key] = row.read(run_script(row.script, extra, cache))
        except (RuntimeError, ValueError) as exc:
            results[row.key] = f"FAILED: {exc}"
    load_after = os.getloadavg()
    print()
    print(f"{'what':<58}{'release':>10}{'now':>10}  {'change':<20}{'target'}")
    worse = failed = 0
    for row in rows:
        base = baseline["rows"][row.key]
        now = results[row.key]
        unit = base["unit"]
        if isinstance(now, float):
            text, is_worse = change(now, base["value"], base["higher_is_better"])
            worse += is_worse
            shown = f"{now:,.2f}" if now < 100 else f"{now:,.0f}"
            print(
                f"{base['what'][:57]:<58}{base['value']:>9,g}{unit if unit == 'x' else ''}{shown:>10}{unit if unit == 'x' else ''}  "
                f"{text + (' WORSE' if is_worse else ''):<20}{base['target']}  [{unit}]"
            )
        else:
            failed += now.startswith("FAILED")
            print(f"{base['what'][:57]:<58}{base['value']:>9,g}{'':>10}  {now}")
    print(
        f"\nload average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; release figures: {baseline['release']}"
    )
    print(
        "release notes: "
        + "; ".join(f"{k}: {v['note']}" for k, v in baseline["rows"].items() if v["note"] and k in results)
    )
    if worse:
        print(
            f"{worse} figure(s) more than {WORSE_BY:.0%} worse than the release's (check the load average before blaming code)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
