"""Drafting latency: time to first token and total time of naive, rules and final.

Side by side: the pipeline as `pa draft` runs it (naive and agent at once, final the moment the
rules are done) against the same three calls one after another. The target is that the
final's first token comes at most 1 s after the rules are done.

    python benchmarks/draft_latency.py --agent PATH.gguf [--large embedded] [--runs 3]
    python benchmarks/draft_latency.py --profile NAME          # the profile's latest agent

Models load in a warm-up call first (load time is reported apart). Greedy decoding with a
fixed token budget, so runs differ only in timing. On a small CPU machine the two models
compete for the same cores: the figures say what overlap buys on *this* machine.

What bounds the final's first token with a local M_L: one llama.cpp context serves one
generation at a time, so when the rules are done before the naive draft, the final waits for
the naive draft to finish; then it reads only the rule block, because the naive prompt shares
its prefix (system + details + intent) and llama.cpp reuses it from the KV cache. With a
server M_L (Ollama, OpenAI-compatible) naive and final run at once and the wait disappears.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Config, load_config  # noqa: E402
from core.drafting import Clock, DraftRequest, DraftTranscript, draft, stream_final, stream_naive, stream_rules  # noqa: E402
from core.llm.base import GenerationOptions  # noqa: E402

REQUEST = DraftRequest(
    "tell Bob the budget meeting moves to Friday at 2pm and ask him to bring the Q3 gas numbers",
    recipient="bob.shults@enron.com",
    subject="budget meeting",
)


async def overlapped(large, agent, text_options, rules_options) -> dict[str, dict[str, float | None]]:
    transcript = DraftTranscript()
    clock = Clock()
    async for event in draft(
        large, agent, REQUEST, text_options=text_options, rules_options=rules_options, clock=clock
    ):
        transcript.apply(event)
    figures = {name: _figures(transcript.streams[name]) for name in ("naive", "rules", "final")}
    figures["total"] = {"first": None, "done": clock.now(), "tokens": None}
    return figures


async def sequential(large, agent, text_options, rules_options) -> dict[str, dict[str, float | None]]:
    """The same calls one after another, each timed from the start of the whole sequence."""
    transcript = DraftTranscript()
    clock = Clock()
    async for event in stream_naive(large, REQUEST, options=text_options, clock=clock):
        transcript.apply(event)
    async for event in stream_rules(agent, REQUEST, options=rules_options, clock=clock):
        transcript.apply(event)
    async for event in stream_final(large, REQUEST, transcript.text("rules") or "", options=text_options, clock=clock):
        transcript.apply(event)
    figures = {name: _figures(transcript.streams[name]) for name in ("naive", "rules", "final")}
    figures["total"] = {"first": None, "done": clock.now(), "tokens": None}
    return figures


def _figures(record) -> dict[str, float | None]:
    return {
        "started": record.started_at,
        "first": record.first_token_at,
        "done": record.done_at,
        "tokens": record.usage.completion_tokens if record.usage else None,
    }


def _median(runs: list[dict], stream: str, key: str) -> float | None:
    values = [run[stream][key] for run in runs if run[stream].get(key) is not None]
    return statistics.median(values) if values else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:6.2f}s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", type=Path, help="the agent GGUF (default: the --profile's latest agent)")
    parser.add_argument("--profile", help="take the latest trained agent of this profile")
    parser.add_argument("--large", default="embedded", help="M_L spec (default: embedded)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens for naive and final")
    parser.add_argument("--rules-max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads per model (default: all cores)")
    args = parser.parse_args(argv)

    from core.llm.specs import open_backend

    config = load_config() if args.profile else Config()
    if args.threads:
        config.embedded.threads = args.threads
    if args.agent is None:
        if not args.profile:
            parser.error("give --agent PATH.gguf or --profile NAME")
        from core.agents import require_agent
        from core.paths import resolve_paths

        args.agent = require_agent(resolve_paths(), args.profile, "agent").gguf
    large = open_backend(args.large, config)
    agent = open_backend(f"gguf:{args.agent}", config)
    text_options = GenerationOptions(temperature=0.0, max_tokens=args.max_tokens)
    rules_options = GenerationOptions(temperature=0.0, max_tokens=args.rules_max_tokens)

    started = time.perf_counter()
    for backend in (large, agent):
        if hasattr(backend, "load"):
            backend.load()
    load_seconds = time.perf_counter() - started
    asyncio.run(sequential(large, agent, text_options, rules_options))  # warm-up: caches, first-call costs

    together, apart = [], []
    for _ in range(args.runs):
        together.append(asyncio.run(overlapped(large, agent, text_options, rules_options)))
        apart.append(asyncio.run(sequential(large, agent, text_options, rules_options)))

    print(f"M_L {large.spec} | agent {agent.spec}")
    print(
        f"cores {os.cpu_count()}, llama.cpp threads per model {config.embedded.threads or os.cpu_count()}, "
        f"runs {args.runs} (medians), models loaded in {load_seconds:.2f}s, max tokens {args.max_tokens}/{args.rules_max_tokens}"
    )
    print()
    header = f"{'stream':<8} {'tokens':>6} | {'overlapped: first':>17} {'done':>8} | {'one after another: first':>24} {'done':>8}"
    print(header)
    print("-" * len(header))
    for stream in ("naive", "rules", "final", "total"):
        tokens = _median(together, stream, "tokens")
        print(
            f"{stream:<8} {('-' if tokens is None else int(tokens)):>6} | {_fmt(_median(together, stream, 'first')):>17} "
            f"{_fmt(_median(together, stream, 'done')):>8} | {_fmt(_median(apart, stream, 'first')):>24} {_fmt(_median(apart, stream, 'done')):>8}"
        )
    gaps = [run["final"]["first"] - run["rules"]["done"] for run in together]
    gap = statistics.median(gaps)
    seq_gaps = [run["final"]["first"] - run["rules"]["done"] for run in apart]
    print()
    print(
        f"final first token after rules done: overlapped {gap:.2f}s (runs: {', '.join(f'{g:.2f}' for g in gaps)}), "
        f"one after another {statistics.median(seq_gaps):.2f}s"
    )
    print(f"target <= 1.00s: {'met' if gap <= 1.0 else 'NOT met'}")
    saved = _median(apart, "total", "done") - _median(together, "total", "done")
    print(f"overlap saves {saved:.2f}s of {_median(apart, 'total', 'done'):.2f}s end to end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
