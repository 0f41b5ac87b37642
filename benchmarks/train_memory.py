"""Where a 135M LoRA training run's peak memory goes, and what the contained fixes save.

Each variant runs in its own process (peak RSS only grows, so phases are read as the peak
after each phase): Python + torch + transformers imported; the fp32 base loaded (the GGUF is
dequantized into a cached HF folder once, outside the measurement); LoRA added; `--steps`
training steps of batch x length tokens (synthetic ids, the first `--prompt-share` of each
row labelled -100 like a prompt). Variants, side by side in one run:

- release: `model(**batch).loss` (logits for every position), no checkpointing
- labelled head: finetune.step.training_loss (the LM head only where labels count)
- checkpointing: gradient checkpointing, logits everywhere
- both: labelled head + gradient checkpointing
- with `pa train`'s malloc: glibc's mmap threshold fixed and huge pages for its mappings
  (finetune.memory.training_environment), so freed activations leave the process instead of
  staying resident in the heap; with the labelled head (`pa train`'s default) and with both
- the same in bf16 (`train.precision = "auto"` on a CPU with native bf16): the products under
  bf16 autocast, weights and optimizer fp32

    python benchmarks/train_memory.py [--batch 4] [--length 512] [--steps 2] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VARIANTS = {  # (labelled head, checkpointing, pa train's malloc, bf16 products)
    "release": (False, False, False, False),
    "labelled head": (True, False, False, False),
    "checkpointing": (False, True, False, False),
    "labelled head + checkpointing": (True, True, False, False),
    "head + pa's malloc": (True, False, True, False),
    "head + ckpt + pa's malloc": (True, True, True, False),
    "head + ckpt + malloc + bf16": (True, True, True, True),
}


def peak_mb() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it is not inherited from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker(
    folder: str,
    labelled: bool,
    checkpointing: bool,
    fixed_threshold: bool,
    bf16: bool,
    batch: int,
    length: int,
    steps: int,
    prompt_share: float,
    threads: int,
) -> dict:
    phases = {"python started": peak_mb()}
    import peft  # noqa: F401
    import torch
    import transformers  # noqa: F401

    from core.config import TrainConfig
    from finetune.step import computing_in, enable_gradient_checkpointing, training_loss
    from finetune.train import add_lora, load_base_for_training

    if fixed_threshold and "glibc.malloc." not in os.environ.get("GLIBC_TUNABLES", ""):
        raise SystemExit("pa's malloc variants need the training environment (finetune.memory)")
    torch.set_num_threads(threads)
    phases["torch, transformers, peft"] = peak_mb()
    model = load_base_for_training(folder, "cpu")
    phases["base loaded (fp32)"] = peak_mb()
    model = add_lora(model, TrainConfig(lora_dropout=0.0))
    if checkpointing:
        enable_gradient_checkpointing(model)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=2e-4)
    phases["LoRA + optimizer"] = peak_mb()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(100, 40000, (batch, length), generator=generator)
    labels = ids.clone()
    labels[:, : int(length * prompt_share)] = -100
    data = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    losses, started = [], time.perf_counter()
    for _ in range(steps):
        with computing_in("bf16" if bf16 else "fp32", "cpu"):
            loss = training_loss(model, data) if labelled else model(**data).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    seconds = (time.perf_counter() - started) / steps
    phases["training steps"] = peak_mb()
    phases["after steps, now"] = current_mb()
    return {"phases": phases, "step_s": seconds, "losses": losses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--prompt-share", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="release vs pa train's settings with and without checkpointing, one step"
    )
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        folder, labelled, checkpointing, fixed, bf16 = args.worker[0], *(flag == "1" for flag in args.worker[1:])
        print(
            json.dumps(
                worker(
                    folder,
                    labelled,
                    checkpointing,
                    fixed,
                    bf16,
                    args.batch,
                    args.length,
                    args.steps,
                    args.prompt_share,
                    args.threads,
                )
            )
        )
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from core.paths import resolve_paths
    from finetune.base_model import resolve_base_model
    from finetune.memory import training_environment

    base = resolve_base_model("embedded", resolve_paths())  # converts the GGUF once, cached under PA_HOME
    variants = dict(VARIANTS)
    if args.quick:
        args.steps = 1
        variants = {
            k: v
            for k, v in VARIANTS.items()
            if k in ("release", "head + pa's malloc", "head + ckpt + pa's malloc", "head + ckpt + malloc + bf16")
        }
    from finetune.step import cpu_has_native_bf16

    if not cpu_has_native_bf16():  # pa trains in fp32 there (bf16 would be emulated): the last column is pa's
        variants = {k: v for k, v in variants.items() if not v[3]}
    load_before = os.getloadavg()[0]
    results = {}
    for name, (labelled, checkpointing, fixed, bf16) in variants.items():
        command = [
            sys.executable,
            __file__,
            "--worker",
            base.folder,
            str(int(labelled)),
            str(int(checkpointing)),
            str(int(fixed)),
            str(int(bf16)),
            "--batch",
            str(args.batch),
            "--length",
            str(args.length),
            "--steps",
            str(args.steps),
            "--prompt-share",
            str(args.prompt_share),
            "--threads",
            str(args.threads),
        ]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**(training_environment(os.environ) if fixed else os.environ), "PYTHONPATH": str(REPO)},
        )
        if done.returncode != 0:
            raise SystemExit(f"{name} failed: {done.stderr.strip()[-500:]}")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"LoRA step memory, SmolLM2-135M (fp32 weights), batch {args.batch} x {args.length} tokens "
        f"({args.prompt_share:.0%} prompt), {args.steps} step(s), {args.threads} thread(s); "
        f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    names = list(results)
    print(f"{'peak RSS after (MB)':<26}" + "".join(f"{n:>31}" for n in names))
    for phase in results[names[0]]["phases"]:
        print(f"{phase:<26}" + "".join(f"{results[n]['phases'][phase]:>31.0f}" for n in names))
    print(f"{'seconds per step':<26}" + "".join(f"{results[n]['step_s']:>31.2f}" for n in names))
    print(f"{'first loss':<26}" + "".join(f"{results[n]['losses'][0]:>31.4f}" for n in names))
    logits = args.batch * args.length * 49152 * 4 / 2**20
    print(f"(for scale: fp32 logits of every position are {logits:.0f} MB per copy; the fp32 base weights ~515 MB)")
    release, best = results["release"], results[names[-1]]
    grown = lambda r: r["phases"]["training steps"] - r["phases"]["LoRA + optimizer"]  # noqa: E731
    print(f"training steps add {grown(release):.0f} MB (release) vs {grown(best):.0f} MB ({names[-1]})")
    print(
        f"peak RSS of the run {best['phases']['training steps']:.0f} MB ({names[-1]}; release {release['phases']['training steps']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
