"""Embedded distillation throughput: calls decoded one at a time vs together (core.llm.embedded_batch).

Two comparisons, each side by side in one run with the load average:

- calls: the same N chat calls (greedy, the same max_tokens) to the embedded SmolLM2 GGUF,
  awaited one after another with `embedded.parallel = 1`, then all at once with
  `embedded.parallel = P` (one engine, P sequences per forward pass), then all at once with
  `embedded.workers = W` (W engines, one sequence each, threads split between them). Prints
  seconds, calls/s, completion tokens/s, forward passes, and how many answers equal their
  one-at-a-time answer (the yield contract).
- distill: `distill_profile` on the first D real Enron mails of one sender (the README
  quickstart's work: 3 intent candidates, draft, rules, no-baseline rules, guided), with
  concurrency 1, then concurrency P with parallel P, then concurrency P with W workers.
  Prints seconds per email, model calls, tokens/s and the yield (stages ok) of each.
- quickstart: the README quickstart's distillation (`examples/sample-corpus`, limit 8, the
  default config) by this checkout's code and by another commit's (`--against`, default the
  release of issue 18's table, 552a1e7, unpacked with `git archive`), each in a fresh process
  on the same installed packages. Prints seconds, model calls, prompt tokens llama.cpp read,
  tokens it decoded, and stages ok (the yield).
All paths use the same threads in all (`--threads`, default all cores).

    python benchmarks/embedded_distill.py [--part calls distill quickstart] [--calls 8] [--max-tokens 64]
                                          [--documents 3] [--parallel 4] [--workers 2] [--threads 2]
                                          [--against COMMIT] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.config import Config  # noqa: E402
from core.llm.base import GenerationOptions, Message  # noqa: E402
from core.llm.embedded import EmbeddedBackend, clear_model_cache  # noqa: E402
from core.llm.specs import embedded_model_path  # noqa: E402

ENRON = Path(os.environ.get("PA_ENRON_DIR", "/work/shared/data/enron"))
SENDER = "staab-t"
QUESTIONS = [
    "Write three short bullet points about the weather in Paris.",
    "List four fruits that are red, one per line.",
    "Explain in two sentences why the sky is blue.",
    "Write a two-line note asking a colleague to review a contract.",
    "Give three tips for writing a clear email subject line.",
    "Summarise what a natural gas futures contract is.",
    "Write a polite reply declining a meeting on Friday.",
    "Name three things to check before sending an invoice.",
]


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


async def _answer(backend: EmbeddedBackend, question: str, max_tokens: int) -> tuple[str, int]:
    text, tokens = "", 0
    async for chunk in backend.stream(
        [Message("user", question)], GenerationOptions(temperature=0.0, max_tokens=max_tokens)
    ):
        text += chunk.text
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return text, tokens


def measure_calls(calls: int, max_tokens: int, parallel: int, threads: int, workers: int = 1) -> dict:
    questions = [QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" (take {i})") for i in range(calls)]
    backend = EmbeddedBackend(embedded_model_path(), n_ctx=1024, threads=threads, parallel=parallel, workers=workers)
    backend.load()
    asyncio.run(_answer(backend, "Hi", 2))  # warm up (and start the batching engine)

    async def run() -> list[tuple[str, int]]:
        if parallel == 1 and workers == 1:
            return [await _answer(backend, q, max_tokens) for q in questions]
        return list(await asyncio.gather(*(_answer(backend, q, max_tokens) for q in questions)))

    engine_steps = _engine_steps(backend)
    started = time.perf_counter()
    answers = asyncio.run(run())
    seconds = time.perf_counter() - started
    tokens = sum(t for _, t in answers)
    passes = _engine_steps(backend) - engine_steps if parallel > 1 or workers > 1 else tokens
    return {"seconds": seconds, "answers": [a for a, _ in answers], "tokens": tokens, "passes": passes}


def _engine_steps(backend: EmbeddedBackend) -> int:
    from core.llm.embedded_batch import _engines

    engine = _engines.get(id(backend.load().llama))
    return engine.steps if engine else 0


def measure_distill(
    documents: int, concurrency: int, parallel: int, threads: int, max_tokens: int | None, workers: int = 1
) -> dict:
    from core.corpus.pipeline import ImportOptions, import_corpus
    from core.distill import distill_profile
    from core.llm.specs import open_backend
    from core.store import Store

    config = Config()
    config.embedded.threads = threads
    config.embedded.parallel = parallel
    config.embedded.workers = workers
    if max_tokens:
        config.distill.max_tokens = max_tokens
    with tempfile.TemporaryDirectory() as folder:
        mail = Path(folder) / "mail"
        mail.mkdir()
        files = sorted((ENRON / SENDER / "sent_items").glob("*.eml"), key=lambda p: int(p.stem))
        for file in files[: documents * 3]:  # some are dropped as duplicates or too short
            shutil.copy(file, mail / file.name)
        store = Store.open(Path(folder) / "pa.sqlite3")
        with store:
            import_corpus(store, mail, ImportOptions(profile="bench"))
            profile = store.find_profile("bench")
            backend = open_backend("embedded", config)
            backend.load()
            started = time.perf_counter()
            summary = asyncio.run(
                distill_profile(store, profile, backend, config, limit=documents, concurrency=concurrency)
            )
            seconds = time.perf_counter() - started
    ok = sum(stats.ok for stats in summary.stages.values())
    total = sum(stats.total for stats in summary.stages.values())
    tokens = sum(stats.completion_tokens for stats in summary.stages.values())
    return {
        "seconds": seconds,
        "documents": summary.documents,
        "calls": summary.calls,
        "ok": ok,
        "total": total,
        "tokens": tokens,
    }


RELEASE = "552a1e7"
QUICKSTART = """
import asyncio, json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import llama_cpp
from core.config import Config
from core.corpus.pipeline import ImportOptions, import_corpus
from core.distill import distill_profile
from core.llm.embedded import _models
from core.llm.specs import open_backend
from core.store import Store

config = Config()
config.embedded.threads = int(sys.argv[3])
with tempfile.TemporaryDirectory() as folder:
    store = Store.open(Path(folder) / "pa.sqlite3")
    with store:
        import_corpus(store, Path(sys.argv[2]), ImportOptions(profile="sample"))
        backend = open_backend("embedded", config)
        backend.load()
        started = time.perf_counter()
        summary = asyncio.run(distill_profile(store, store.find_profile("sample"), backend, config, limit=8))
        seconds = time.perf_counter() - started
(model,) = _models.values()
perf = llama_cpp.llama_perf_context(model.llama._ctx.ctx)
print(json.dumps({
    "seconds": seconds, "calls": summary.calls, "read": perf.n_p_eval, "decoded": perf.n_eval,
    "ok": sum(s.ok for s in summary.stages.values()), "total": sum(s.total for s in summary.stages.values()),
}))
"""


def measure_quickstart(root: Path, threads: int) -> dict:
    """The quickstart's distillation by the code under `root`, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", QUICKSTART, str(root), str(REPO / "examples" / "sample-corpus"), str(threads)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the quickstart distillation under {root} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def quickstart(against: str, threads: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", against], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        load_before = load()
        old = measure_quickstart(Path(folder), threads)
        load_mid = load()
        new = measure_quickstart(REPO, threads)
    print(f"\nquickstart: distil 8 sample emails, default config (load {load_before} -> {load_mid} -> {load()})")
    print(
        f"{'code':<22} {'seconds':>8} {'calls':>6} {'prompt read':>12} {'decoded':>8} {'stages ok':>10} "
        f"{'s per stage ok':>15}"
    )
    for name, result in ((against, old), ("this checkout", new)):
        print(
            f"{name:<22} {result['seconds']:>8.1f} {result['calls']:>6} {result['read']:>12} {result['decoded']:>8} "
            f"{result['ok']:>5}/{result['total']} {result['seconds'] / max(1, result['ok']):>15.1f}"
        )
    print(f"quickstart speed-up {old['seconds'] / new['seconds']:.2f}x vs {against}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", nargs="+", choices=("calls", "distill", "quickstart"), default=["calls", "distill", "quickstart"]
    )
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64, help="per call in the calls part")
    parser.add_argument("--documents", type=int, default=3)
    parser.add_argument("--distill-max-tokens", type=int, default=None, help="distill.max_tokens (default: config's)")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="engines of the workers path")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp threads in all")
    parser.add_argument("--against", default=RELEASE, help="the commit the quickstart part compares with")
    parser.add_argument("--quick", action="store_true", help="calls part only, 4 calls x 32 tokens")
    args = parser.parse_args()
    if args.quick:
        args.part, args.calls, args.max_tokens = ["calls"], 4, 32

    print(f"load average at start {load()} ({os.cpu_count()} cores), llama.cpp threads {args.threads}")
    if "calls" in args.part:
        one = measure_calls(args.calls, args.max_tokens, 1, args.threads)
        load_mid = load()
        clear_model_cache()
        many = measure_calls(args.calls, args.max_tokens, args.parallel, args.threads)
        clear_model_cache()
        split = measure_calls(args.calls, args.max_tokens, 1, args.threads, workers=args.workers)
        clear_model_cache()
        print(f"\ncalls: {args.calls} greedy calls x max {args.max_tokens} tokens (load {load_mid} -> {load()})")
        print(f"{'path':<34} {'seconds':>8} {'calls/s':>8} {'tok/s':>8} {'passes':>7} {'same tokens':>12}")
        for name, result in (
            (f"one at a time ({args.threads} threads)", one),
            (f"together (parallel {args.parallel})", many),
            (f"{args.workers} workers x {max(1, args.threads // args.workers)} thread(s)", split),
        ):
            same = sum(a == b for a, b in zip(one["answers"], result["answers"]))
            print(
                f"{name:<34} {result['seconds']:>8.2f} {args.calls / result['seconds']:>8.2f} "
                f"{result['tokens'] / result['seconds']:>8.1f} {result['passes']:>7} {same:>7}/{args.calls}"
            )
        print(f"speed-up {one['seconds'] / split['seconds']:.2f}x ({args.workers} workers)")
        print(f"together (parallel {args.parallel}): {one['seconds'] / many['seconds']:.2f}x")
    if "distill" in args.part:
        one = measure_distill(args.documents, 1, 1, args.threads, args.distill_max_tokens)
        load_mid = load()
        clear_model_cache()
        many = measure_distill(args.documents, args.parallel, args.parallel, args.threads, args.distill_max_tokens)
        clear_model_cache()
        split = measure_distill(
            args.documents, args.parallel, 1, args.threads, args.distill_max_tokens, workers=args.workers
        )
        clear_model_cache()
        print(f"\ndistill: {args.documents} Enron mails of {SENDER}, all stages (load {load_mid} -> {load()})")
        print(f"{'path':<34} {'seconds':>8} {'s/email':>8} {'calls':>6} {'out tok/s':>9} {'stages ok':>10}")
        for name, result in (
            ("concurrency 1, parallel 1", one),
            (f"concurrency {args.parallel}, parallel {args.parallel}", many),
            (f"concurrency {args.parallel}, {args.workers} workers", split),
        ):
            print(
                f"{name:<34} {result['seconds']:>8.1f} {result['seconds'] / result['documents']:>8.1f} {result['calls']:>6} "
                f"{result['tokens'] / result['seconds']:>9.1f} {result['ok']:>5}/{result['total']}"
            )
        print(f"speed-up {one['seconds'] / split['seconds']:.2f}x ({args.workers} workers)")
        print(f"together (parallel {args.parallel}): {one['seconds'] / many['seconds']:.2f}x")
    if "quickstart" in args.part:
        quickstart(args.against, args.threads)


if __name__ == "__main__":
    main()
