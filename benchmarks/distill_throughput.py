"""Distillation throughput: documents per minute at concurrency 1 vs 8 (and any others asked).

M_L is a loopback OpenAI-compatible server on 127.0.0.1 that answers every request after a
fixed delay (tests/openai_loopback.py, run in its own process so it does not share this
one's CPU or GIL), reached through pa's real OpenAI backend. It stands for a remote API:
what is measured is pa's own concurrency and bookkeeping (one SQLite commit per answer,
progress events, the openai client parsing one chunk per word), not model speed. The CPU
column is this process's CPU time per call: when calls x CPU approaches the wall time, the
client is CPU-bound and more concurrency cannot help. Each document takes six calls (three
intent candidates, draft, rules, no-baseline rules), so at concurrency 1 the ceiling is
60 / (6 x delay) documents per minute, and ideally it grows linearly with concurrency.

    python benchmarks/distill_throughput.py [--documents 24] [--delay 0.2] [--concurrency 1 8]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.config import Config  # noqa: E402
from core.distill import distill_profile  # noqa: E402
from core.llm.specs import open_backend  # noqa: E402
from core.store import Store  # noqa: E402
from tests.openai_loopback import MODEL  # noqa: E402

CALLS_PER_DOCUMENT = 6


def make_store(folder: Path, documents: int) -> tuple[Store, object]:
    store = Store.open(folder / "pa.sqlite3")
    profile = store.create_profile("bench")
    with store.transaction() as db:
        for index in range(documents):
            db.execute(
                "INSERT INTO documents (profile_id, text, sender, recipients, subject, date, content_hash, split) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'train')",
                (
                    profile.id,
                    f"Ruth,\nHere is estimate {index}. Call me if you have any questions.\nThanks,\nTheresa",
                    "theresa.staab@enron.com",
                    "rmr@vcn.com",
                    f"Estimate {index}",
                    "2001-11-28",
                    f"h{index}",
                ),
            )
    return store, profile


def measure(base_url: str, documents: int, concurrency: int) -> dict[str, float]:
    config = Config()
    config.openai.base_url = base_url
    config.openai.max_retries = 0
    backend = open_backend(f"openai:{MODEL}", config)
    with tempfile.TemporaryDirectory() as folder:
        store, profile = make_store(Path(folder), documents)
        with store:
            started, cpu_started = time.perf_counter(), time.process_time()
            summary = asyncio.run(distill_profile(store, profile, backend, config, concurrency=concurrency))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            failed = sum(stats.failed for stats in summary.stages.values())
            assert failed == 0, f"{failed} stages failed: {summary.failures[:3]}"
            assert summary.calls == documents * CALLS_PER_DOCUMENT
    return {
        "seconds": seconds,
        "calls": summary.calls,
        "per_minute": documents / seconds * 60,
        "cpu_ms": cpu / summary.calls * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=24)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the server waits before answering")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_loopback", "--delay", str(args.delay)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().strip()
        measure(base_url, 2, 2)  # warm up: imports, the client, the server's /models check
        results = {c: measure(base_url, args.documents, c) for c in args.concurrency}
    finally:
        server.stdin.close()
        server.wait(10)

    base = results[args.concurrency[0]]["per_minute"]
    ceiling = 60 / (CALLS_PER_DOCUMENT * args.delay)
    print(
        f"distill throughput: {args.documents} documents x {CALLS_PER_DOCUMENT} calls, server delay {args.delay:.2f}s per call"
    )
    print(
        f"{'concurrency':>11} {'seconds':>8} {'calls':>6} {'docs/min':>9} {'speed-up':>9} {'ideal':>7} {'of ideal':>9} {'CPU/call':>9}"
    )
    for concurrency, result in results.items():
        speedup = result["per_minute"] / base
        ideal = concurrency / args.concurrency[0]
        print(
            f"{concurrency:>11} {result['seconds']:>8.2f} {result['calls']:>6} {result['per_minute']:>9.1f} "
            f"{speedup:>8.2f}x {ideal:>6.0f}x {speedup / ideal:>8.0%} {result['cpu_ms']:>6.1f} ms"
        )
    print(f"(ceiling at concurrency 1: {ceiling:.1f} docs/min; bookkeeping overhead is the gap to it)")


if __name__ == "__main__":
    main()
