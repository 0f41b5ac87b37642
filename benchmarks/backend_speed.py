"""Tokens per second: the embedded llama.cpp backend vs transformers fp32, same weights.

Both run SmolLM2-135M-Instruct from the same Q4_1 GGUF (transformers dequantizes it to fp32
with `gguf_file=`), with the same chat template, the same ~200-token prompt, greedy
decoding, 128 generated tokens and the same thread count. Prints both side by side with the
ratio.

    python benchmarks/backend_speed.py [--threads N] [--new-tokens 128] [--repeats 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.llm.base import GenerationOptions, Message  # noqa: E402
from core.llm.embedded import EmbeddedBackend  # noqa: E402
from core.llm.specs import embedded_model_path  # noqa: E402

SYSTEM = "You are a helpful assistant who writes long, detailed, well organised answers."
REQUEST = (
    "I am preparing notes for a team meeting about our quarterly energy trading results. "
    "Please write a long and thorough explanation of how natural gas prices are formed, "
    "covering supply from production basins, pipeline capacity and transport costs, storage "
    "injections and withdrawals, weather-driven demand for heating and cooling, the role of "
    "power generation, liquefied natural gas exports, futures markets and hedging by producers "
    "and utilities, and how regional price differences between trading hubs arise and close. "
    "Use plain language that a new analyst can follow, give concrete examples for each factor, "
    "and finish with a short list of the indicators a trader should check every morning before "
    "the market opens, explaining briefly why each indicator matters for the day's prices. "
    "Several people in the meeting come from the power desk, so where it helps, compare the gas "
    "market with electricity markets they already know."
)
MESSAGES = [Message("system", SYSTEM), Message("user", REQUEST)]


@dataclass
class Run:
    prompt_tokens: int
    new_tokens: int
    first_token_s: float
    total_s: float

    @property
    def prompt_tok_s(self) -> float:
        return self.prompt_tokens / self.first_token_s

    @property
    def decode_tok_s(self) -> float:
        """Tokens after the first, over the time after the first (prefill excluded)."""
        return (self.new_tokens - 1) / (self.total_s - self.first_token_s)

    @property
    def overall_tok_s(self) -> float:
        return self.new_tokens / self.total_s


def bench_llama_cpp(threads: int, new_tokens: int, repeats: int) -> tuple[float, list[Run]]:
    backend = EmbeddedBackend(embedded_model_path(), n_ctx=2048, threads=threads)
    started = time.perf_counter()
    backend.load()
    load_s = time.perf_counter() - started
    model = backend.load()

    async def once(max_tokens: int) -> Run:
        usage = None
        async for chunk in backend.stream(MESSAGES, GenerationOptions(temperature=0.0, max_tokens=max_tokens)):
            usage = chunk.usage or usage
        assert usage is not None
        return Run(usage.prompt_tokens, usage.completion_tokens, usage.first_token_seconds or 0.0, usage.seconds)

    asyncio.run(once(4))  # warm-up
    runs = []
    for _ in range(repeats):
        # No prompt-cache reuse between runs (the context's, nor a kept state): both sides read the whole prompt.
        model.llama.reset()
        model.prefixes.clear()
        runs.append(asyncio.run(once(new_tokens)))
    return load_s, runs


def bench_transformers(threads: int, new_tokens: int, repeats: int) -> tuple[float, list[Run]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.generation.streamers import BaseStreamer

    torch.set_num_threads(threads)
    gguf = embedded_model_path()
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    load_s = time.perf_counter() - started
    chat = [{"role": m.role, "content": m.content} for m in MESSAGES]
    encoded = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    input_ids = encoded["input_ids"]

    class Clock(BaseStreamer):
        """Notes when the first new token arrives (the first put() is the prompt)."""

        def __init__(self) -> None:
            self.puts = 0
            self.first: float | None = None

        def put(self, value) -> None:
            self.puts += 1
            if self.puts == 2:
                self.first = time.perf_counter()

        def end(self) -> None:
            pass

    def once(count: int) -> Run:
        clock = Clock()
        begin = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(
                input_ids,
                attention_mask=encoded["attention_mask"],
                max_new_tokens=count,
                min_new_tokens=count,
                do_sample=False,
                repetition_penalty=1.1,
                streamer=clock,
                pad_token_id=tokenizer.eos_token_id,
            )
        end = time.perf_counter()
        generated = output.shape[1] - input_ids.shape[1]
        return Run(input_ids.shape[1], generated, (clock.first or end) - begin, end - begin)

    once(4)  # warm-up
    return load_s, [once(new_tokens) for _ in range(repeats)]


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.decode_tok_s)[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    print(
        f"SmolLM2-135M-Instruct {embedded_model_path().name}, threads={args.threads}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
        f"load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    llama_load, llama_runs = bench_llama_cpp(args.threads, args.new_tokens, args.repeats)
    print("llama.cpp done; loading transformers (dequantizing the GGUF to fp32)...", flush=True)
    hf_load, hf_runs = bench_transformers(args.threads, args.new_tokens, args.repeats)
    lc, hf = median_run(llama_runs), median_run(hf_runs)

    rows = [
        ("load (s)", llama_load, hf_load, hf_load / llama_load),
        ("prompt tokens", lc.prompt_tokens, hf.prompt_tokens, None),
        ("generated tokens", lc.new_tokens, hf.new_tokens, None),
        ("time to first token (s)", lc.first_token_s, hf.first_token_s, hf.first_token_s / lc.first_token_s),
        ("prompt tok/s", lc.prompt_tok_s, hf.prompt_tok_s, lc.prompt_tok_s / hf.prompt_tok_s),
        ("generation tok/s", lc.decode_tok_s, hf.decode_tok_s, lc.decode_tok_s / hf.decode_tok_s),
        ("overall tok/s (incl. prefill)", lc.overall_tok_s, hf.overall_tok_s, lc.overall_tok_s / hf.overall_tok_s),
    ]
    print()
    print(f"{'':32}{'llama.cpp Q4_1':>16}{'transformers fp32':>20}{'llama.cpp advantage':>22}")
    for name, left, right, ratio in rows:
        fmt = (lambda v: f"{v:>16d}") if isinstance(left, int) else (lambda v: f"{v:>16.2f}")
        ratio_text = f"{ratio:>21.1f}x" if ratio is not None else ""
        print(f"{name:32}{fmt(left)}{fmt(right):>20}{ratio_text}")
    if args.repeats > 1:
        spread = (
            statistics.pstdev(r.decode_tok_s for r in llama_runs),
            statistics.pstdev(r.decode_tok_s for r in hf_runs),
        )
        print(
            f"generation tok/s spread over {args.repeats} runs: llama.cpp ±{spread[0]:.2f}, transformers ±{spread[1]:.2f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f} (figures shrink when other work shares the cores)")


if __name__ == "__main__":
    main()
