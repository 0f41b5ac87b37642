"""`pa --help` start-up: lazy command registration vs importing every command module (the old way).

Each variant is a fresh `python` process, timed from spawn to exit, run alternately so both
sides see the same machine load; the median of `--runs` is printed with the load average.

- bare python: `python -c pass` (the floor)
- pa --help, lazy: what `pa --help` does now (core.cli.COMMANDS lists the commands)
- pa --help, eager: every command module imported first, as registration at import did
- pa --help, lazy, no rich: with TYPER_USE_RICH=0; since pa's app sets `rich_markup_mode=None`
  (plain click help: the rich renderer alone doubled the time) it equals the lazy line
- pa COMMAND --help for every command (lazy): the slowest one is shown

    python benchmarks/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EAGER = "import core.cli as c, sys; [c.load_command(n) for n in c.COMMANDS]; sys.argv[1:] = ['--help']; c.main()"


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}")
    return seconds


def measure(runs: int) -> dict[str, float]:
    from core.cli import COMMANDS

    python = sys.executable
    variants = {
        "bare python": ([python, "-c", "pass"], None),
        "pa --help, lazy (now)": ([python, "-m", "core.cli", "--help"], None),
        "pa --help, eager (before)": ([python, "-c", EAGER], None),
        "pa --help, lazy, no rich help": ([python, "-m", "core.cli", "--help"], {"TYPER_USE_RICH": "0"}),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, (argv, env) in variants.items():
            times[name].append(timed(argv, env))
    result = {name: statistics.median(values) for name, values in times.items()}
    per_command = {name: timed([python, "-m", "core.cli", name, "--help"]) for name in COMMANDS}
    slowest = max(per_command, key=per_command.__getitem__)
    result[f"pa {slowest} --help (slowest command, 1 run)"] = per_command[slowest]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    before = os.getloadavg()[0]
    result = measure(args.runs)
    print(
        f"pa start-up, median of {args.runs} alternating runs; load average {before:.2f} -> {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} cores"
    )
    print(f"{'variant':<46}{'seconds':>9}")
    for name, seconds in result.items():
        print(f"{name:<46}{seconds:>9.3f}")
    print(f"lazy vs eager: {result['pa --help, eager (before)'] / result['pa --help, lazy (now)']:.2f}x faster")


if __name__ == "__main__":
    main()
