"""Rule generation speed and memory of one fine-tuned agent: transformers fp32 vs GGUF Q8_0 vs GGUF Q4_K_M.

    python benchmarks/agent_speed.py --agent-folder PATH   # an exported agent (agents/<kind>/vN)
    python benchmarks/agent_speed.py --profile jeff        # the latest agent of a profile in PA_HOME

From the agent's adapter and base the script builds the three variants of the SAME model
(merged fp32 HF folder; F16 GGUF quantized by llama.cpp to Q8_0 and Q4_K_M), then runs each in
its own subprocess (so peak RSS is that variant's alone): the agent prompt for three intents,
greedy, a fixed number of new tokens (end-of-turn ignored, so every variant does the same
work). It prints generation tokens/s, load time and peak RSS side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

INTENTS = [
    ("- ask Jim for the updated CPUC numbers\n- by Friday", "james.steffes@enron.com", "CPUC numbers"),
    ("- tell Sue the call moved to 3pm", "sue.mara@enron.com", "call"),
    ("- decline the Friday meeting, offer Monday", "mona.petrochko@enron.com", "Friday"),
]


def peak_rss_bytes() -> int:
    """This process's own peak RSS (VmHWM). ru_maxrss would carry the parent's peak across fork+exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(kind: str, path: str, new_tokens: int, threads: int) -> dict:
    """Runs in the subprocess: load, generate, report."""
    from core.agents import agent_messages

    chats = []
    for intent, to, subject in INTENTS:
        messages = agent_messages("agent", intent, recipient=to, subject=subject)
        chats.append([{"role": m.role, "content": m.content} for m in messages])
    start = time.monotonic()
    generated, seconds = 0, 0.0
    if kind == "transformers":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        load = time.monotonic() - start
        for chat in chats:
            ids = tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
            began = time.monotonic()
            with torch.no_grad():
                out = model.generate(
                    ids,
                    max_new_tokens=new_tokens,
                    min_new_tokens=new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            seconds += time.monotonic() - began
            generated += out.shape[1] - ids.shape[1]
    else:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = llama_cpp.Llama(path, n_ctx=1024, n_threads=threads, verbose=False)
        load = time.monotonic() - start
        # The GGUF's own chat template, as llama-cpp-python's chat completion applies it.
        formatter = Jinja2ChatFormatter(
            llm.metadata["tokenizer.chat_template"], eos_token="<|im_end|>", bos_token="<|im_start|>"
        )
        for chat in chats:
            text = formatter(messages=chat).prompt
            ids = llm.tokenize(text.encode(), add_bos=False, special=True)
            llm.reset()
            began = time.monotonic()
            count = 0
            for _ in llm.generate(ids, temp=0.0, top_k=1, reset=True):
                count += 1
                if count == new_tokens:
                    break
            seconds += time.monotonic() - began
            generated += count
    peak = peak_rss_bytes()
    return {
        "variant": kind,
        "tokens": generated,
        "seconds": seconds,
        "tokens_per_s": generated / seconds,
        "load_seconds": load,
        "peak_rss_bytes": peak,
        "file": path,
    }


def build_variants(agent_folder: Path, scratch: Path, threads: int) -> dict[str, Path]:
    from core.agents import MANIFEST
    from finetune.export import merge_adapter, quantize_gguf, save_merged_folder
    from finetune.llama_converters import hf_to_gguf, run_conversions

    manifest = json.loads((agent_folder / MANIFEST).read_text())
    base_folder = Path(manifest["base_model"]["folder"])
    merged = merge_adapter(str(base_folder), agent_folder / "adapter")
    hf_folder = save_merged_folder(merged, base_folder, scratch / "merged-fp32")
    f16 = scratch / "agent-f16.gguf"
    run_conversions([hf_to_gguf(hf_folder, f16, "f16")], scratch / "convert.log")
    del merged
    return {
        "transformers": hf_folder,
        "gguf-q8_0": quantize_gguf(f16, scratch / "agent-q8_0.gguf", "q8_0", threads),
        "gguf-q4_k_m": quantize_gguf(f16, scratch / "agent-q4_k_m.gguf", "q4_k_m", threads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent-folder", type=Path)
    parser.add_argument("--profile")
    parser.add_argument("--tokens", type=int, default=96, help="new tokens per intent")
    parser.add_argument(
        "--threads",
        default=f"1,{os.cpu_count() or 1}",
        help="comma-separated thread counts to try (on a shared CPU, torch with 2 spinning threads can be far slower than 1)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.tokens, int(args.threads))))
        return
    folder = args.agent_folder
    if folder is None:
        from core.agents import require_agent
        from core.paths import resolve_paths

        if not args.profile:
            parser.error("give --agent-folder or --profile")
        folder = require_agent(resolve_paths(), args.profile).folder
    with tempfile.TemporaryDirectory() as scratch:
        threads = [int(t) for t in args.threads.split(",")]
        variants = build_variants(folder, Path(scratch), max(threads))
        results = []
        for kind, path in variants.items():
            for count in threads:
                command = [
                    sys.executable,
                    __file__,
                    "--worker",
                    "transformers" if kind == "transformers" else "gguf",
                    str(path),
                    "--tokens",
                    str(args.tokens),
                    "--threads",
                    str(count),
                ]
                out = (
                    subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
                )
                result = json.loads(out)
                result.update(variant=kind, threads=count)
                result["size_bytes"] = (
                    sum(p.stat().st_size for p in Path(path).glob("*.safetensors"))
                    if Path(path).is_dir()
                    else Path(path).stat().st_size
                )
                results.append(result)
    print(
        f"agent: {folder}; {len(INTENTS)} intents x {args.tokens} new tokens, greedy; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared CPU)\n"
    )
    print(f"{'variant':<16}{'threads':>8}{'tok/s':>9}{'vs best HF':>11}{'load s':>9}{'peak RSS':>11}{'weights':>11}")
    reference = max(r["tokens_per_s"] for r in results if r["variant"] == "transformers")
    for r in results:
        print(
            f"{r['variant']:<16}{r['threads']:>8}{r['tokens_per_s']:>9.1f}{r['tokens_per_s'] / reference:>10.1f}x"
            f"{r['load_seconds']:>9.1f}{r['peak_rss_bytes'] / 2**20:>8.0f} MiB{r['size_bytes'] / 2**20:>8.0f} MiB"
        )


if __name__ == "__main__":
    main()
