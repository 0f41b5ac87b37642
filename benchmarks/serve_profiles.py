"""Serving N people's agents: N merged models vs one shared base with per-request LoRA adapters.

    python benchmarks/serve_profiles.py                 # N = 1, 4, 16; then pa serve under load
    python benchmarks/serve_profiles.py --counts 1 4 --requests 8 --clients 4

Part 1 (memory, tokens/s). The agent is SmolLM2-135M (the embedded model) with a LoRA adapter
(r=8 on every projection, random weights: size and speed do not depend on their values),
exported the way `pa train` exports it: merged -> F16 GGUF -> llama.cpp Q8_0, and as a
LoRA-adapter GGUF on the embedded Q4_1 base. N profiles are N copies of those files (copies,
not links: each one is mapped and loaded on its own, as N people's agents would be). Each
(mode, N) runs in its own subprocess through pa's own backends (EmbeddedBackend per merged
agent; SharedBasePool + AdapterBackend), generating a fixed number of greedy tokens for every
profile in turn, and prints peak RSS, model files loaded and generation tokens/s side by side.

Part 2 (pa serve under load). A real `pa serve` process on loopback with P profiles (embedded
M_L), merged and --shared-base, takes R chat requests from C concurrent clients; it prints
requests/s and p50/p95 latency, and how many got 429.

Figures depend on the machine's load: note `cat /proc/loadavg` beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

INTENTS = [
    ("- tell Sue the call moved to 3pm", "sue.mara@enron.com", "call"),
    ("- ask Jim for the updated CPUC numbers by Friday", "james.steffes@enron.com", "CPUC numbers"),
]


def peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# -- building the agent files once -------------------------------------------------------------


def build_agent_files(work: Path, threads: int) -> dict[str, Path]:
    """The SmolLM2 agent as pa exports it: merged Q8_0 GGUF and LoRA GGUF (+ PEFT folder), cached in `work`."""
    files = {"merged": work / "agent-q8_0.gguf", "lora": work / "agent-lora.gguf", "adapter": work / "adapter"}
    if all(path.exists() for path in files.values()):
        return files
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.paths import resolve_paths
    from finetune.base_model import resolve_base_model
    from finetune.export import merge_adapter, quantize_gguf
    from tests.gguf_files import write_base_and_adapters

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    base = resolve_base_model("embedded", resolve_paths({"PA_HOME": str(work / "home")}))
    model = AutoModelForCausalLM.from_pretrained(base.folder, dtype=torch.float32)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets, lora_dropout=0.0))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.002)
    peft_model.save_pretrained(files["adapter"])
    merged = merge_adapter(base.folder, files["adapter"])
    merged_folder = work / "merged-hf"
    merged.save_pretrained(merged_folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(base.folder).save_pretrained(merged_folder)
    for extra in Path(base.folder).glob("*.json"):  # pa's tokenizer metadata for its own GGUF writer
        if not (merged_folder / extra.name).exists():
            shutil.copy2(extra, merged_folder / extra.name)
    f16 = work / "agent-f16.gguf"
    write_base_and_adapters(merged_folder, f16, [(files["adapter"], files["lora"])], "f16")
    quantize_gguf(f16, files["merged"], "q8_0", threads)
    f16.unlink()
    shutil.rmtree(merged_folder)
    return files


def copies(source: Path, folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for index in range(count):
        target = folder / f"p{index}-{source.name}"
        if not target.exists():
            shutil.copyfile(source, target)
        made.append(target)
    return made


# -- part 1: one (mode, N) per subprocess -------------------------------------------------------


def worker(mode: str, files: list[str], base: str, tokens: int, threads: int, n_ctx: int) -> dict:
    import asyncio

    from core.agents import AgentInfo, agent_messages
    from core.config import Config, EmbeddedConfig
    from core.llm.base import GenerationOptions, complete
    from core.llm.embedded import EmbeddedBackend

    started = time.monotonic()
    if mode == "merged":
        backends = [EmbeddedBackend(Path(f), n_ctx=n_ctx, threads=threads) for f in files]
    else:
        from core.serve.shared_base import SharedBasePool

        pool = SharedBasePool(None, Config(embedded=EmbeddedConfig(n_ctx=n_ctx, threads=threads)))
        backends = []
        for index, lora in enumerate(files):
            info = AgentInfo(
                f"p{index}",
                "agent",
                1,
                Path(lora).parent,
                Path(lora),
                {"lora_gguf": Path(lora).name, "lora_base_gguf": base},
            )
            backends.append(pool.backend_for(info))
    for backend in backends:
        backend.load()
    load_seconds = time.monotonic() - started
    loaded_rss = peak_rss_bytes()
    # Every token is generated (end-of-turn ignored by a huge max and no stop on the agent prompt).
    options = GenerationOptions(temperature=0.0, max_tokens=tokens)
    prompts = [agent_messages("agent", i, recipient=t, subject=s) for i, t, s in INTENTS]

    async def run() -> tuple[int, float]:
        generated, seconds = 0, 0.0
        for prompt in prompts:
            for backend in backends:  # each request goes to another person's agent
                done = await complete(backend, prompt, options)
                generated += done.usage.completion_tokens
                seconds += done.usage.seconds
        return generated, seconds

    generated, seconds = asyncio.run(run())
    sizes = sum(Path(f).stat().st_size for f in files) + (Path(base).stat().st_size if mode == "shared" else 0)
    return {
        "mode": mode,
        "profiles": len(files),
        "load_s": round(load_seconds, 2),
        "rss_loaded_mb": loaded_rss / 2**20,
        "rss_peak_mb": peak_rss_bytes() / 2**20,
        "files_mb": sizes / 2**20,
        "tokens": generated,
        "tok_per_s": generated / seconds if seconds else 0.0,
        "requests": len(prompts) * len(backends),
    }


def run_worker(mode: str, files: list[Path], base: Path, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--base",
        str(base),
        "--tokens",
        str(args.tokens),
        "--threads",
        str(args.threads),
        "--n-ctx",
        str(args.n_ctx),
        "--files",
        *map(str, files),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if result.returncode != 0:
        raise SystemExit(f"worker {mode} x{len(files)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- part 2: pa serve under concurrent load ---------------------------------------------------


def serve_load(work: Path, files: dict[str, Path], base: Path, shared: bool, args: argparse.Namespace) -> dict:
    import httpx

    from core.agents import template_version
    from core.paths import resolve_paths
    from core.store import Store
    from tests.serve_process import start_serve

    home = work / ("serve-shared" if shared else "serve-merged")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        f"[drafting]\nmax_tokens = {args.tokens}\nrules_max_tokens = {args.tokens}\ntemperature = 0.0\n"
        f"[embedded]\nthreads = {args.threads}\nn_ctx = {args.n_ctx}\n"
    )
    paths = resolve_paths({"PA_HOME": str(home)})
    with Store.open(paths.store_file) as store:
        for index in range(args.serve_profiles):
            store.create_profile(f"p{index}")
            folder = paths.agents_dir(f"p{index}") / "agent" / "v1"
            folder.mkdir(parents=True)
            shutil.copyfile(files["merged"], folder / "agent-q8_0.gguf")
            shutil.copyfile(files["lora"], folder / "agent-lora.gguf")
            (folder / "manifest.json").write_text(
                json.dumps(
                    {
                        "gguf": "agent-q8_0.gguf",
                        "lora_gguf": "agent-lora.gguf",
                        "lora_base_gguf": str(base),
                        "prompt_template": template_version("agent"),
                    }
                )
            )
    served = start_serve(home, "--max-concurrent", str(args.max_concurrent), *(["--shared-base"] if shared else []))
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    counter = iter(range(args.requests))

    def client() -> None:
        with httpx.Client(timeout=600) as http:
            for number in counter:
                intent, to, subject = INTENTS[number % len(INTENTS)]
                body = {
                    "model": f"pa:p{number % args.serve_profiles}",
                    "max_tokens": args.tokens,
                    "temperature": 0.0,
                    "messages": [
                        {"role": "system", "content": f"To: {to}\nSubject: {subject}"},
                        {"role": "user", "content": intent},
                    ],
                }
                started = time.monotonic()
                status = http.post(f"{served.base_url}/chat/completions", json=body).status_code
                with lock:
                    statuses.append(status)
                    if status == 200:
                        latencies.append(time.monotonic() - started)

    try:
        warm = httpx.post(
            f"{served.base_url}/chat/completions",
            timeout=600,
            json={"model": "pa:p0", "max_tokens": 4, "messages": [{"role": "user", "content": INTENTS[0][0]}]},
        )
        assert warm.status_code == 200, warm.text
        started = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
    finally:
        served.stop()
    latencies.sort()
    ok = len(latencies)
    return {
        "mode": "shared base" if shared else "merged",
        "requests": len(statuses),
        "ok": ok,
        "busy_429": statuses.count(429),
        "other_errors": len(statuses) - ok - statuses.count(429),
        "req_per_s": ok / seconds if seconds else 0.0,
        "p50_s": statistics.median(latencies) if latencies else float("nan"),
        "p95_s": latencies[min(ok - 1, int(round(0.95 * (ok - 1))))] if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--tokens", type=int, default=16, help="new tokens per request")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=1024)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pa-bench-serve-profiles")
    parser.add_argument("--serve-profiles", type=int, default=4)
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-concurrent", type=int, default=8)
    parser.add_argument("--skip-serve", action="store_true", help="only part 1")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # On shared, loaded cores OpenMP's spinning threads collapse (core/llm/embedded.py); PASSIVE unless set.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.worker:
        print(json.dumps(worker(args.worker, args.files, args.base, args.tokens, args.threads, args.n_ctx)))
        return

    from core.llm.specs import embedded_model_path

    args.work.mkdir(parents=True, exist_ok=True)
    files = build_agent_files(args.work, args.threads)
    base = embedded_model_path()
    print(
        f"agent: SmolLM2-135M + LoRA r=8; merged Q8_0 {files['merged'].stat().st_size / 2**20:.1f} MB, "
        f"LoRA GGUF {files['lora'].stat().st_size / 2**20:.1f} MB on base {base.name} {base.stat().st_size / 2**20:.1f} MB; "
        f"{args.tokens} tokens per request, threads {args.threads}, n_ctx {args.n_ctx}, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; load {open('/proc/loadavg').read().split()[:3]}"
    )
    print(f"{'N':>3} | {'mode':<12} | {'peak RSS MB':>11} | {'files MB':>8} | {'load s':>6} | {'tok/s':>6} | requests")
    for count in args.counts:
        for mode, source in (("merged", files["merged"]), ("shared", files["lora"])):
            result = run_worker(mode, copies(source, args.work / mode, count), base, args)
            print(
                f"{count:>3} | {mode:<12} | {result['rss_peak_mb']:>11.0f} | {result['files_mb']:>8.1f} | "
                f"{result['load_s']:>6.2f} | {result['tok_per_s']:>6.1f} | {result['requests']}",
                flush=True,
            )
    if args.skip_serve:
        return
    print(
        f"\npa serve on loopback: {args.serve_profiles} profiles, {args.requests} requests from {args.clients} clients, "
        f"--max-concurrent {args.max_concurrent}, embedded M_L; load {open('/proc/loadavg').read().split()[:3]}"
    )
    print(f"{'mode':<12} | {'ok':>3} | {'429':>3} | {'req/s':>6} | {'p50 s':>6} | {'p95 s':>6}")
    for shared in (False, True):
        result = serve_load(args.work, files, base, shared, args)
        print(
            f"{result['mode']:<12} | {result['ok']:>3} | {result['busy_429']:>3} | {result['req_per_s']:>6.2f} | "
            f"{result['p50_s']:>6.2f} | {result['p95_s']:>6.2f}"
            + (f"  ({result['other_errors']} errors)" if result["other_errors"] else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
