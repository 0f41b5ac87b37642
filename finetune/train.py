"""LoRA training of M_S on one run folder, in its own process: `python -m finetune.train RUN [--resume]`.

CPU: LoRA on the fp32 base, its matrix products in bf16 where the CPU has native bf16
(`train.precision`, finetune.step.computing_in), fp32 elsewhere. CUDA: QLoRA, the base in
4-bit NF4 through bitsandbytes. Loss is taken on the target tokens only (the prompt is
masked). Batches group examples of similar length so little compute goes to padding.
Progress goes to the run folder as JSON lines; a checkpoint is written every few minutes and
at each epoch end; Ctrl-C (SIGINT) finishes the current step, checkpoints and exits 130;
`--resume` continues from the checkpoint at the same batch. When training ends the adapter is
merged and exported (finetune.export) to a versioned agent folder. The process holds the run
(lock, pid, heartbeat: see finetune.runs) while it works, and with `--parent PID` it stops at a
checkpoint as soon as the process that started it is gone.
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
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.config import TrainConfig
from core.context_window import AgentBudget
from core.errors import PaError, TrainingBusyError
from core.paths import Paths, resolve_paths
from finetune.dataset import Dataset, Encoded, encode_examples
from finetune.memory import return_freed_blocks_to_the_system
from finetune.runs import (
    HEARTBEAT_FILE,
    HEARTBEAT_SECONDS,
    LOCK_FILE,
    PARENT_FILE,
    PID_FILE,
    PROGRESS_FILE,
    STATUS_FILE,
    Run,
)
from finetune.step import (
    batch_width,
    computing_in,
    enable_gradient_checkpointing,
    resolve_precision,
    training_loss,
)
from finetune.transcript import (
    Checkpointed,
    Evaluated,
    Exporting,
    Failed,
    Finished,
    Interrupted,
    Preparing,
    Started,
    Stepped,
    Trained,
    TrainingEvent,
)

CHECKPOINT_SECONDS = 180.0
MEGABATCH = 50
"""Batches of similar length are drawn from shuffled windows of MEGABATCH batches."""


class ProgressLog:
    """Appends one JSON object per line to the run's progress file, flushed at once."""

    def __init__(self, run: Run, echo: Callable[[dict[str, Any]], None] | None = None):
        self.file = run.folder / PROGRESS_FILE
        self.echo = echo

    def emit(self, event: TrainingEvent) -> None:
        """Write a typed event (stamped with the time now)."""
        record = event.to_record()
        record["time"] = time.time()
        self._append(record)

    def _append(self, record: dict[str, Any]) -> None:
        with self.file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        if self.echo:
            self.echo(record)


class StopRequested:
    """Set by SIGINT/SIGTERM or by the parent's death; the loop checks it between steps (so a
    checkpoint is never half-written) and before each export stage (so no agent is published
    by a trainer nobody follows any more)."""

    def __init__(self, parent: int | None = None) -> None:
        self.requested = False
        self.parent = parent
        """The process that started training (`--parent`); None when nobody is watched."""

    def __call__(self, *_: object) -> None:
        self.requested = True

    def check(self) -> bool:
        """True when training must stop now: asked to, or the parent is gone at this very moment
        (read now, not at the parent watcher's next poll)."""
        if not self.requested and self.parent is not None and os.getppid() != self.parent:
            print(f"parent process {self.parent} is gone; stopping at a checkpoint", file=sys.stderr, flush=True)
            self.requested = True
        return self.requested


class ExportStopped(Exception):
    """Raised between export stages when the stop is requested; nothing is published."""


# -- batching ---------------------------------------------------------------------------------


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches whose members have similar lengths (sorted inside shuffled windows)."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * MEGABATCH
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def shuffled_batches(count: int, batch_size: int, seed: int) -> list[list[int]]:
    """Plain shuffled batches (the padding-to-max baseline of benchmarks/train_throughput.py)."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, count, batch_size)]


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
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16,
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
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=list(hp.target_modules),
        task_type="CAUSAL_LM",
        bias="none",
    )
    return get_peft_model(model, config)


def continue_lora(model, adapter: str):
    """The base with a saved LoRA adapter loaded trainable: `pa train --update` goes on from it."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter, is_trainable=True)


def warmup_steps(steps: int) -> int:
    """The first 5% of the steps warm up (at most 10). None under 20 steps: a warm-up step runs at
    a learning rate of 0, and a short run (`pa train --update` on a few edits) would learn nothing."""
    return min(10, steps // 20)


def learning_rate_schedule(optimizer, steps: int):
    """Linear warm-up (`warmup_steps`), then linear decay to 0 at the last step."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, warmup_steps(steps), steps)


def ordered_batches(count: int, batch_size: int) -> list[list[int]]:
    """Batches in the dataset's own order (an update's: oldest to newest, the newest edit last)."""
    return [list(range(i, min(i + batch_size, count))) for i in range(0, count, batch_size)]


def padded_batch(examples: list[Encoded], pad_id: int, precision: str):
    """The batch tensors of these examples, as wide as a step in `precision` wants them (finetune.step.batch_width)."""
    return collate(examples, pad_id, pad_to=batch_width([e.length for e in examples], precision))


def forward_backward(model, examples: list[Encoded], pad_id: int, device: str, precision: str) -> tuple[Any, int]:
    """One batch's loss, with its gradients accumulated; and its real (non-padding) tokens."""
    batch = padded_batch(examples, pad_id, precision)
    tokens = int(batch["attention_mask"].sum())
    batch = {k: v.to(device) for k, v in batch.items()}
    with computing_in(precision, device):
        loss = training_loss(model, batch)  # the LM head only where labels count (finetune.step)
    loss.backward()
    return loss, tokens


def evaluate_loss(
    model, examples: list[Encoded], batch_size: int, pad_id: int, device: str, precision: str = "fp32"
) -> float | None:
    """Token-weighted mean loss on the held-out examples, in the precision the run trains in."""
    import torch

    if not examples:
        return None
    model.eval()
    total, tokens = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: examples[i].length)
    with torch.no_grad(), computing_in(precision, device):
        for start in range(0, len(order), batch_size):
            batch = padded_batch([examples[i] for i in order[start : start + batch_size]], pad_id, precision)
            batch = {k: v.to(device) for k, v in batch.items()}
            count = int((batch["labels"][:, 1:] != -100).sum())
            total += float(training_loss(model, batch)) * count
            tokens += count
    model.train()
    return total / max(tokens, 1)


# -- checkpoints ------------------------------------------------------------------------------

CHECKPOINT, CHECKPOINT_OLD, CHECKPOINT_PARTIAL = "checkpoint", "checkpoint.old", "checkpoint.partial"


def _complete(folder: Path) -> bool:
    return (folder / "state.pt").is_file() and (folder / "adapter" / "adapter_model.safetensors").is_file()


def checkpoint_folder(run: Run) -> Path | None:
    """The newest complete checkpoint: `checkpoint/`, or `checkpoint.old/` when a crash came
    between the two renames of `save_checkpoint` (the new one was not in place yet)."""
    for name in (CHECKPOINT, CHECKPOINT_OLD):
        if _complete(run.folder / name):
            return run.folder / name
    return None


def save_checkpoint(run: Run, model, optimizer, scheduler, position: dict[str, Any]) -> None:
    """Adapter + optimizer + scheduler + position, swapped in whole.

    Written to `checkpoint.partial/`, then `checkpoint/` becomes `checkpoint.old/` and the
    partial one becomes `checkpoint/`. A crash at any point leaves one complete checkpoint that
    `checkpoint_folder` finds: the old one is only deleted once the new one is in place.
    """
    import torch

    partial = run.folder / CHECKPOINT_PARTIAL
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial / "adapter")
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "position": position,
        },
        partial / "state.pt",
    )
    final = run.folder / CHECKPOINT
    old = run.folder / CHECKPOINT_OLD
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    partial.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(run: Run, model, optimizer, scheduler) -> dict[str, Any]:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = checkpoint_folder(run)
    if folder is None:
        raise PaError(f"{run.folder}: no checkpoint to resume from; start a new run without --resume")
    weights = load_file(str(folder / "adapter" / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    state = load_state_file(folder / "state.pt")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():  # LoRA dropout on the GPU draws from these
        torch.cuda.set_rng_state_all(state["cuda_rng"])
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


class TrainingLoop:
    """One run's training, in the steps a reader follows: `step`, `evaluate`, `checkpoint`,
    `finish` (adapter + export). `run()` drives them over the epochs; `prepare()` loads the
    base model, the dataset and the optimizer (resuming from the checkpoint when asked)."""

    def __init__(self, run: Run, *, resume: bool, paths: Paths, stop: StopRequested, log: ProgressLog):
        self.run_folder = run
        self.resume = resume
        self.paths = paths
        self.stop = stop
        self.log = log
        self.spec = run.spec
        self.hp = TrainConfig(**self.spec["train"])
        self.kind = self.spec["kind"]
        self.threads = self.spec.get("threads") or os.cpu_count() or 1
        self.update_from: dict[str, Any] | None = self.spec.get("update_from")
        """The agent whose adapter this run continues (`pa train --update`, finetune.update), or None."""
        self.first_step = int(self.update_from["steps"]) if self.update_from else 0
        self.position: dict[str, Any] = {
            "epoch": 0,
            "batch": 0,
            "step": self.first_step,  # an update's step count continues from the run it continues
            "eval_losses": [],
            "train_seconds": 0.0,
            "tokens": 0,
        }
        self.loss_value: float | None = None
        self.eval_loss: float | None = None
        self.session_steps = 0
        self.session_start = time.monotonic()
        self.last_checkpoint = time.monotonic()

    def prepare(self) -> None:
        import torch
        from transformers import AutoTokenizer

        from finetune.base_model import resolve_base_model

        hp = self.hp
        return_freed_blocks_to_the_system()
        torch.set_num_threads(self.threads)
        torch.manual_seed(hp.seed)
        self.log.emit(Preparing(message=f"loading base model {hp.base_model}"))
        self.base = resolve_base_model(hp.base_model, self.paths)
        tokenizer = AutoTokenizer.from_pretrained(self.base.folder)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        dataset = Dataset.load(self.run_folder.folder / "data")
        self.report = report = dataset.report
        report.previous_trimmed = report.dropped_too_long = report.thinking_trimmed = report.rules_over_budget = 0
        answer_tokens = self.spec.get("agent_answer_tokens") or AgentBudget(hp.max_length).answer
        self.train_set = encode_examples(tokenizer, self.kind, dataset.train, hp.max_length, report, answer_tokens)
        self.eval_set = encode_examples(tokenizer, self.kind, dataset.eval, hp.max_length, report, answer_tokens)
        if not self.train_set:
            raise PaError(
                f"every training example is longer than train.max_length={hp.max_length}; raise it in config.toml"
            )

        self.device = pick_device()
        self.precision = resolve_precision(hp.precision, self.device)
        base = load_base_for_training(self.base.folder, self.device)
        self.model = continue_lora(base, self.update_from["adapter"]) if self.update_from else add_lora(base, hp)
        if self.device == "cpu":
            self.model.to(torch.float32)
        if hp.gradient_checkpointing:
            enable_gradient_checkpointing(self.model)
        self.model.train()
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=hp.learning_rate, weight_decay=0.0)
        steps = math.ceil(len(self.train_set) / hp.batch_size) * hp.epochs
        self.total = self.first_step + steps
        self.scheduler = learning_rate_schedule(self.optimizer, steps)
        restarted = self.resume and checkpoint_folder(self.run_folder) is None
        if restarted:
            # Killed (kill -9, power loss) before its first checkpoint: the same run trains again
            # from its first step, as a clean run would (same seed); no second run, no second agent.
            self.log.emit(
                Preparing(message="this run stopped before its first checkpoint: training it again from the start")
            )
        elif self.resume:
            self.position = load_checkpoint(self.run_folder, self.model, self.optimizer, self.scheduler)
        self.eval_loss = self.position["eval_losses"][-1] if self.position["eval_losses"] else None
        self.log.emit(
            Started(
                total=self.total,
                step=self.position["step"],
                epochs=hp.epochs,
                device=self.device,
                mode="qlora-4bit" if self.device == "cuda" else f"lora-{self.precision}",
                threads=self.threads,
                train_examples=len(self.train_set),
                eval_examples=len(self.eval_set),
                resumed=self.resume and not restarted,
                trainable_parameters=sum(p.numel() for p in self.trainable),
                dataset=asdict(report),
            )
        )

    def run(self, *, export: bool = True):
        """Every epoch from the saved position; returns the agent, or None when stopped or not exported."""
        self.prepare()
        if self.stop.check():  # stopped (or orphaned) while the model loaded
            return self.interrupted()
        lengths = [e.length for e in self.train_set]
        for epoch in range(self.position["epoch"], self.hp.epochs):
            if self.spec.get("batch_order") == "recent_last":
                batches = ordered_batches(len(lengths), self.hp.batch_size)
            else:
                batches = length_grouped_batches(lengths, self.hp.batch_size, self.hp.seed * 1000 + epoch)
            first = self.position["batch"] if epoch == self.position["epoch"] else 0
            for batch_index in range(first, len(batches)):
                self.step(epoch, batch_index, batches[batch_index])
                if self.stop.check():
                    return self.interrupted()
                if time.monotonic() - self.last_checkpoint > CHECKPOINT_SECONDS:
                    self.checkpoint(announce=True)
            self.evaluate(epoch)
            self.checkpoint()
        return self.finish(export=export)

    def step(self, epoch: int, batch_index: int, members: list[int]) -> float:
        """One optimizer step on one batch; logs loss, speed and ETA."""
        import torch

        position, total = self.position, self.total
        step_start = time.monotonic()
        examples = [self.train_set[i] for i in members]
        loss, tokens = forward_backward(self.model, examples, self.pad_id, self.device, self.precision)
        torch.nn.utils.clip_grad_norm_(self.trainable, 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss_value = self.loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise PaError(
                f"training diverged (loss {loss_value}) at step {position['step'] + 1}; lower train.learning_rate"
            )
        position.update(epoch=epoch, batch=batch_index + 1, step=position["step"] + 1)
        position["train_seconds"] += time.monotonic() - step_start
        position["tokens"] += tokens
        self.session_steps += 1
        elapsed = time.monotonic() - self.session_start
        eta = elapsed / self.session_steps * (total - position["step"])
        self.log.emit(
            Stepped(
                step=position["step"],
                total=total,
                epoch=epoch + 1,
                loss=round(loss_value, 4),
                eval_loss=self.eval_loss,
                lr=self.scheduler.get_last_lr()[0],
                tokens_per_s=self.tokens_per_s,
                elapsed=round(position["train_seconds"], 1),
                eta=round(eta, 1),
            )
        )
        return loss_value

    @property
    def tokens_per_s(self) -> float:
        return round(self.position["tokens"] / max(self.position["train_seconds"], 1e-9), 1)

    def evaluate(self, epoch: int) -> None:
        """Held-out loss at the end of an epoch."""
        self.eval_loss = evaluate_loss(
            self.model, self.eval_set, self.hp.batch_size, self.pad_id, self.device, self.precision
        )
        self.position["eval_losses"].append(self.eval_loss)
        self.position.update(epoch=epoch + 1, batch=0)
        self.log.emit(
            Evaluated(
                epoch=epoch + 1,
                step=self.position["step"],
                total=self.total,
                eval_loss=self.eval_loss,
                loss=self.loss_value,
            )
        )

    def checkpoint(self, *, announce: bool = False) -> None:
        save_checkpoint(self.run_folder, self.model, self.optimizer, self.scheduler, self.position)
        self.last_checkpoint = time.monotonic()
        if announce:
            self.log.emit(Checkpointed(step=self.position["step"], total=self.total))

    def interrupted(self) -> None:
        """Stop asked (Ctrl-C, x, the parent gone): checkpoint, say how to continue."""
        self.checkpoint()
        step, total = self.position["step"], self.total
        set_status(self.run_folder, "interrupted")
        self.log.emit(
            Interrupted(step=step, total=total, message=f"stopped at step {step}/{total}; continue with --resume")
        )
        return None

    def finish(self, *, export: bool = True):
        """Save the adapter, then merge and export it to a versioned agent folder.

        Not when the stop is requested or the parent is gone: checked here and before each
        export stage, so an orphaned trainer never publishes an agent; the run stays resumable
        (its last checkpoint holds the final position) and `--resume` exports it.
        """
        run = self.run_folder
        if self.stop.check():
            return self.interrupted()
        self.model.save_pretrained(run.folder / "adapter")
        summary = {
            "final_train_loss": self.loss_value,
            "eval_losses": self.position["eval_losses"],
            "steps": self.position["step"],
            "train_seconds": round(self.position["train_seconds"], 1),
            "tokens_per_s": self.tokens_per_s,
            "device": self.device,
            "precision": self.precision,
        }
        self.log.emit(Trained(**summary))
        del self.model, self.optimizer
        if not export:
            set_status(run, "done")
            return None

        from finetune.export import export_agent
        from finetune.runs import published_agent

        spec = self.spec
        agent = published_agent(self.paths, run)  # exported before a crash that hid it from the status
        if agent is not None:
            return finished(run, self.log, agent)

        def on_stage(stage: str, message: str) -> None:
            if stage != "done" and self.stop.check():  # "done": already published, nothing to stop
                raise ExportStopped
            self.log.emit(Exporting(stage=stage, message=message))

        try:
            agent = export_agent(
                self.paths,
                spec["profile"],
                self.kind,
                self.base,
                run.folder / "adapter",
                quant=spec.get("quant", "auto"),
                threads=self.threads,
                keep_float=bool(spec.get("keep_float", False)),
                float_type=spec.get("float_type", "f16"),
                manifest={
                    "data_hash": spec["data_hash"],
                    "hyperparameters": self.hp.model_dump(),
                    "training": summary,
                    "dataset": asdict(self.report),
                    "run": str(run.folder),
                    "trained_on": self.trained_on(),
                    **({"updated_from": self.update_from["label"]} if self.update_from else {}),
                },
                on_stage=on_stage,
            )
        except ExportStopped:
            step, total = self.position["step"], self.total
            set_status(run, "interrupted")
            self.log.emit(
                Interrupted(
                    step=step,
                    total=total,
                    message="stopped before the export finished, nothing was published; --resume exports it",
                )
            )
            return None
        return finished(run, self.log, agent)

    def trained_on(self) -> list[str]:
        """Every example key the adapter has learned, the continued agent's included (finetune.update)."""
        earlier = set(self.update_from.get("trained_on", [])) if self.update_from else set()
        dataset = Dataset.load(self.run_folder.folder / "data")
        return sorted(earlier | {example.key for example in dataset.train})


def finished(run: Run, log: ProgressLog, agent):
    """The run is done: its agent is published (just now, or before a crash)."""
    set_status(run, "done")
    log.emit(
        Finished(
            agent=str(agent.folder),
            version=agent.version,
            gguf=str(agent.gguf),
            quant=agent.quant,
            size=agent.gguf.stat().st_size,
        )
    )
    return agent


def set_status(run: Run, status: str) -> None:
    (run.folder / STATUS_FILE).write_text(status, encoding="utf-8")


def train_run(
    run: Run,
    *,
    resume: bool = False,
    paths: Paths | None = None,
    stop: StopRequested | None = None,
    echo: Callable[[dict[str, Any]], None] | None = None,
    export: bool = True,
):
    """Train the run's adapter, then export the agent; returns its AgentInfo (None if stopped).

    Holds the run (its lock, pid and heartbeat) while it works, so every view sees it alive and
    no second trainer can start on it. Resuming a run whose agent is already exported only
    reports that agent (a resume after a crash never makes a second version).
    """
    from finetune.runs import published_agent

    paths = paths or resolve_paths()
    log = ProgressLog(run, echo)
    stop = stop or StopRequested()
    with hold_run(run, stop.parent):
        agent = published_agent(paths, run) if resume and export else None
        if agent is not None:
            log.emit(Preparing(message=f"this run already exported {agent.label}; nothing left to train"))
            return finished(run, log, agent)
        set_status(run, "running")
        loop = TrainingLoop(run, resume=resume, paths=paths, stop=stop, log=log)
        return loop.run(export=export)


# -- holding a run: lock, pid, heartbeat, parent watch ---------------------------------------------


@contextmanager
def hold_run(run: Run, parent: int | None = None) -> Iterator[None]:
    """The run's lock for as long as this process trains it, with its pid, its parent's and a heartbeat."""
    import fcntl

    handle = (run.folder / LOCK_FILE).open("a+b")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise TrainingBusyError(
                f"{run.folder.name} is already being trained by process {run.pid() or '?'}; "
                "stop it before starting another"
            ) from None
        (run.folder / PID_FILE).write_text(str(os.getpid()), encoding="ascii")
        parent_file = run.folder / PARENT_FILE
        if parent is None:
            parent_file.unlink(missing_ok=True)
        else:
            parent_file.write_text(str(parent), encoding="ascii")
        beating = threading.Event()

        def beat_once() -> None:
            beat_file = run.folder / HEARTBEAT_FILE  # replaced whole: a reader never sees it half-written
            partial = beat_file.with_name(HEARTBEAT_FILE + ".partial")
            partial.write_text(f"{time.time():.3f}", encoding="ascii")
            os.replace(partial, beat_file)

        def beat() -> None:
            while not beating.wait(HEARTBEAT_SECONDS):
                beat_once()

        beat_once()  # before the run counts as held: a reader never finds it held without a heartbeat
        heart = threading.Thread(target=beat, name="heartbeat", daemon=True)
        heart.start()
        try:
            yield
        finally:
            beating.set()
            heart.join(timeout=5)
    finally:
        handle.close()  # releases the lock


def watch_parent(parent: int, stop: StopRequested, poll_seconds: float = 0.2) -> threading.Thread:
    """Stop at the next step once the process that started training is gone.

    When the parent dies the child is re-parented, so `os.getppid()` changes; polling it works
    on every POSIX system and, unlike PR_SET_PDEATHSIG, does not fire when merely the parent's
    starting thread (a TUI worker thread) ends. The stop is the same as Ctrl-C: a checkpoint
    first, so `--resume` loses nothing.
    """

    stop.parent = parent

    def poll() -> None:
        while not stop.check():
            time.sleep(poll_seconds)

    watcher = threading.Thread(target=poll, name="parent-watch", daemon=True)
    watcher.start()
    return watcher


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune.train", description=__doc__.splitlines()[0])
    parser.add_argument("run_folder", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--parent", type=int, default=None, help="stop at a checkpoint when this process is gone")
    args = parser.parse_args(argv)
    run = Run(args.run_folder)
    stop = StopRequested(parent=args.parent)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if args.parent is not None:
        watch_parent(args.parent, stop)
    try:
        agent = train_run(run, resume=args.resume, stop=stop)
    except TrainingBusyError as err:  # another process has the run: leave its status alone
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except PaError as err:
        set_status(run, "failed")
        ProgressLog(run).emit(Failed(message=str(err)))
        return err.exit_code
    except Exception as exc:  # noqa: BLE001 - the UI must learn why the process died
        set_status(run, "failed")
        traceback.print_exc()
        ProgressLog(run).emit(
            Failed(message=f"{exc.__class__.__name__}: {exc} (details in {run.folder / 'train.log'})")
        )
        return 1
    return 0 if agent is not None or not stop.requested else 130


if __name__ == "__main__":
    sys.exit(main())
