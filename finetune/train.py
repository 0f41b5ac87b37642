"""LoRA training of M_S on one run folder, in its own process: `python -m finetune.train RUN [--resume]`.

CPU: fp32 LoRA (bf16 is ~30x slower on CPUs without native bf16). CUDA: QLoRA, the base in
4-bit NF4 through bitsandbytes. Loss is taken on the target tokens only (the prompt is
masked). Batches group examples of similar length so little compute goes to padding.
Progress goes to the run folder as JSON lines; a checkpoint is written every few minutes and
at each epoch end; Ctrl-C (SIGINT) finishes the current step, checkpoints and exits 130;
`--resume` continues from the checkpoint at the same batch. When training ends the adapter is
merged and exported (finetune.export) to a versioned agent folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.config import TrainConfig
from core.errors import PaError
from core.paths import Paths, resolve_paths
from core.context_window import AgentBudget
from finetune.dataset import Dataset, Encoded, encode_examples
from finetune.runs import PROGRESS_FILE, STATUS_FILE, Run
from finetune.step import enable_gradient_checkpointing, training_loss

CHECKPOINT_SECONDS = 180.0
MEGABATCH = 50
"""Batches of similar length are drawn from shuffled windows of MEGABATCH batches."""


class ProgressLog:
    """Appends one JSON object per line to the run's progress file, flushed at once."""

    def __init__(self, run: Run, echo: Callable[[dict[str, Any]], None] | None = None):
        self.file = run.folder / PROGRESS_FILE
        self.echo = echo

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": time.time(), **fields}
        with self.file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        if self.echo:
            self.echo(record)


class StopRequested:
    """Set by SIGINT; the loop checks it between steps so a checkpoint is never half-written."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, *_: object) -> None:
        self.requested = True


# -- batching ---------------------------------------------------------------------------------


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches whose members have similar lengths (sorted inside shuffled windows)."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * MEGABATCH
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def shuffled_batches(count: int, batch_size: int, seed: int) -> list[list[int]]:
    """Plain shuffled batches (the padding-to-max baseline of benchmarks/train_throughput.py)."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, count, batch_size)]


def collate(examples: list[Encoded], pad_id: int, pad_to: int | None = None):
    """Right-padded tensors; padding is masked out of attention and loss."""
    import torch

    width = pad_to or max(e.length for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = example.length
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        attention[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


# -- model ------------------------------------------------------------------------------------


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_base_for_training(folder: str, device: str):
    """fp32 on CPU; 4-bit NF4 (QLoRA) on CUDA."""
    import torch
    from transformers import AutoModelForCausalLM

    if device == "cpu":
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise PaError("QLoRA on CUDA needs bitsandbytes; install it with `pip install bitsandbytes`") from None
    from peft import prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True,
    )
    model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=quantization, device_map={"": 0})
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def add_lora(model, hp: TrainConfig):
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in hp.target_modules if m not in present]
    if missing:
        raise PaError(f"train.target_modules: {missing} are not modules of the base model; fix them in config.toml")
    config = LoraConfig(
        r=hp.lora_r, lora_alpha=hp.lora_alpha, lora_dropout=hp.lora_dropout,
        target_modules=list(hp.target_modules), task_type="CAUSAL_LM", bias="none",
    )
    return get_peft_model(model, config)


def evaluate_loss(model, examples: list[Encoded], batch_size: int, pad_id: int, device: str) -> float | None:
    """Token-weighted mean loss on the held-out examples."""
    import torch

    if not examples:
        return None
    model.eval()
    total, tokens = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: examples[i].length)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = collate([examples[i] for i in order[start:start + batch_size]], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            count = int((batch["labels"][:, 1:] != -100).sum())
            total += float(training_loss(model, batch)) * count
            tokens += count
    model.train()
    return total / max(tokens, 1)


# -- checkpoints ------------------------------------------------------------------------------


def save_checkpoint(run: Run, model, optimizer, scheduler, position: dict[str, Any]) -> None:
    """Adapter + optimizer + scheduler + position, swapped in whole (a crash keeps the old one)."""
    import torch

    partial = run.folder / "checkpoint.partial"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial / "adapter")
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
         "torch_rng": torch.get_rng_state(), "position": position},
        partial / "state.pt",
    )
    final = run.folder / "checkpoint"
    old = run.folder / "checkpoint.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    partial.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(run: Run, model, optimizer, scheduler) -> dict[str, Any]:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = run.folder / "checkpoint"
    if not (folder / "state.pt").is_file():
        raise PaError(f"{run.folder}: no checkpoint to resume from; start a new run without --resume")
    weights = load_file(str(folder / "adapter" / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    state = load_state_file(folder / "state.pt")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return state["position"]


def load_state_file(file: Path) -> dict[str, Any]:
    """A checkpoint's optimizer/scheduler/position state, read without running any code.

    `weights_only=True` unpickles tensors and plain containers only, which is all pa saves; a
    file that needs more (a crafted one that would run code) is refused, never executed.
    """
    import pickle

    import torch

    try:
        state = torch.load(file, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise PaError(
            f"{file}: not a checkpoint pa wrote ({exc.__class__.__name__}); pa will not load it: "
            "delete the run's checkpoint folder and train again without --resume"
        ) from None
    if not isinstance(state, dict) or not {"optimizer", "scheduler", "torch_rng", "position"} <= state.keys():
        raise PaError(f"{file}: not a checkpoint pa wrote (missing parts); train again without --resume")
    return state


# -- the run ----------------------------------------------------------------------------------


def train_run(
    run: Run,
    *,
    resume: bool = False,
    paths: Paths | None = None,
    stop: StopRequested | None = None,
    echo: Callable[[dict[str, Any]], None] | None = None,
    export: bool = True,
):
    """Train the run's adapter, then export the agent; returns its AgentInfo (None if stopped)."""
    import torch
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    from finetune.base_model import resolve_base_model

    paths = paths or resolve_paths()
    stop = stop or StopRequested()
    log = ProgressLog(run, echo)
    spec = run.spec
    hp = TrainConfig(**spec["train"])
    kind = spec["kind"]
    (run.folder / STATUS_FILE).write_text("running", encoding="utf-8")
    threads = spec.get("threads") or os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch.manual_seed(hp.seed)

    log.write("preparing", message=f"loading base model {hp.base_model}")
    base = resolve_base_model(hp.base_model, paths)
    tokenizer = AutoTokenizer.from_pretrained(base.folder)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    dataset = Dataset.load(run.folder / "data")
    report = dataset.report
    report.previous_trimmed = report.dropped_too_long = report.thinking_trimmed = 0
    answer_tokens = spec.get("agent_answer_tokens") or AgentBudget(hp.max_length).answer
    train_set = encode_examples(tokenizer, kind, dataset.train, hp.max_length, report, answer_tokens)
    eval_set = encode_examples(tokenizer, kind, dataset.eval, hp.max_length, report, answer_tokens)
    if not train_set:
        raise PaError(f"every training example is longer than train.max_length={hp.max_length}; raise it in config.toml")

    device = pick_device()
    model = add_lora(load_base_for_training(base.folder, device), hp)
    if device == "cpu":
        model.to(torch.float32)
    if hp.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train_set) / hp.batch_size)
    total = steps_per_epoch * hp.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, min(10, max(1, total // 20)), total)

    position = {"epoch": 0, "batch": 0, "step": 0, "eval_losses": [], "train_seconds": 0.0, "tokens": 0}
    if resume:
        position = load_checkpoint(run, model, optimizer, scheduler)
    lengths = [e.length for e in train_set]
    log.write(
        "start", total=total, step=position["step"], epochs=hp.epochs, device=device,
        mode="qlora-4bit" if device == "cuda" else "lora-fp32", threads=threads,
        train_examples=len(train_set), eval_examples=len(eval_set), resumed=resume,
        trainable_parameters=sum(p.numel() for p in trainable), dataset=asdict(report),
    )

    session_start = time.monotonic()
    session_steps = 0
    last_checkpoint = time.monotonic()
    loss_value = None
    eval_loss = position["eval_losses"][-1] if position["eval_losses"] else None
    stopped = False
    for epoch in range(position["epoch"], hp.epochs):
        batches = length_grouped_batches(lengths, hp.batch_size, hp.seed * 1000 + epoch)
        for batch_index in range(position["batch"] if epoch == position["epoch"] else 0, len(batches)):
            step_start = time.monotonic()
            batch = collate([train_set[i] for i in batches[batch_index]], pad_id)
            tokens = int(batch["attention_mask"].sum())
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = training_loss(model, batch)  # the LM head only where labels count (finetune.step)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise PaError(f"training diverged (loss {loss_value}) at step {position['step'] + 1}; lower train.learning_rate")
            position.update(epoch=epoch, batch=batch_index + 1, step=position["step"] + 1)
            position["train_seconds"] += time.monotonic() - step_start
            position["tokens"] += tokens
            session_steps += 1
            elapsed = time.monotonic() - session_start
            eta = elapsed / session_steps * (total - position["step"])
            log.write(
                "step", step=position["step"], total=total, epoch=epoch + 1, loss=round(loss_value, 4),
                eval_loss=eval_loss, lr=scheduler.get_last_lr()[0],
                tokens_per_s=round(position["tokens"] / max(position["train_seconds"], 1e-9), 1),
                elapsed=round(position["train_seconds"], 1), eta=round(eta, 1),
            )
            if stop.requested:
                stopped = True
                break
            if time.monotonic() - last_checkpoint > CHECKPOINT_SECONDS:
                save_checkpoint(run, model, optimizer, scheduler, position)
                log.write("checkpoint", step=position["step"], total=total)
                last_checkpoint = time.monotonic()
        if stopped:
            break
        eval_loss = evaluate_loss(model, eval_set, hp.batch_size, pad_id, device)
        position["eval_losses"].append(eval_loss)
        position.update(epoch=epoch + 1, batch=0)
        log.write("eval", epoch=epoch + 1, step=position["step"], total=total, eval_loss=eval_loss, loss=loss_value)
        save_checkpoint(run, model, optimizer, scheduler, position)
        last_checkpoint = time.monotonic()

    if stopped:
        save_checkpoint(run, model, optimizer, scheduler, position)
        (run.folder / STATUS_FILE).write_text("interrupted", encoding="utf-8")
        log.write("interrupted", step=position["step"], total=total,
                  message=f"stopped at step {position['step']}/{total}; continue with --resume")
        return None

    model.save_pretrained(run.folder / "adapter")
    summary = {
        "final_train_loss": loss_value,
        "eval_losses": position["eval_losses"],
        "steps": position["step"],
        "train_seconds": round(position["train_seconds"], 1),
        "tokens_per_s": round(position["tokens"] / max(position["train_seconds"], 1e-9), 1),
        "device": device,
    }
    log.write("trained", **summary)
    del model, optimizer
    if not export:
        (run.folder / STATUS_FILE).write_text("done", encoding="utf-8")
        return None

    from finetune.export import export_agent

    agent = export_agent(
        paths, spec["profile"], kind, base, run.folder / "adapter",
        quant=spec.get("quant", "auto"), threads=threads,
        keep_float=bool(spec.get("keep_float", False)), float_type=spec.get("float_type", "f16"),
        manifest={
            "data_hash": spec["data_hash"], "hyperparameters": hp.model_dump(), "training": summary,
            "dataset": asdict(report), "run": str(run.folder),
        },
        on_stage=lambda stage, message: log.write("export", stage=stage, message=message),
    )
    (run.folder / STATUS_FILE).write_text("done", encoding="utf-8")
    log.write("done", agent=str(agent.folder), version=agent.version, gguf=str(agent.gguf), quant=agent.quant,
              size=agent.gguf.stat().st_size)
    return agent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune.train", description=__doc__.splitlines()[0])
    parser.add_argument("run_folder", type=Path)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    run = Run(args.run_folder)
    stop = StopRequested()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        agent = train_run(run, resume=args.resume, stop=stop)
    except PaError as err:
        (run.folder / STATUS_FILE).write_text("failed", encoding="utf-8")
        ProgressLog(run).write("failed", message=str(err))
        return err.exit_code
    except Exception as exc:  # noqa: BLE001 - the UI must learn why the process died
        (run.folder / STATUS_FILE).write_text("failed", encoding="utf-8")
        traceback.print_exc()
        ProgressLog(run).write("failed", message=f"{exc.__class__.__name__}: {exc} (details in {run.folder / 'train.log'})")
        return 1
    return 0 if agent is not None or not stop.requested else 130


if __name__ == "__main__":
    sys.exit(main())
