"""Training throughput of M_S (SmolLM2-135M, LoRA fp32 on CPU): length-grouped batches vs padding to max.

    python benchmarks/train_throughput.py [--sender allen-p] [--steps 6] [--precision-steps 25] [--full | --full-only]

Part 1 runs the same number of steps over the same real Enron examples twice, once with
finetune.train's length-grouped batches and once with shuffled batches padded to the longest
example, and prints real (non-padding) tokens per second side by side.
Then pa's step (labelled head, checkpointing) in fp32 vs bf16 autocast on the same batches:
tokens/s, and the held-out loss after those steps (what each precision learned).
Part 2 (--full; --full-only runs it alone, so its peak is the run's own) trains the real `pa train` path (train_run: train + export) on 100 examples x
3 epochs and prints the wall time (target: <= 10 minutes on 2 cores) and the peak RSS of that run
(target: <= 2 GB).

Examples come from the Enron mails imported with pa's own importer. When no distilled rules
exist (this script does not run distillation) the naive kind is used: input = a stand-in intent
built from the subject, target = the real email text. The output says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ENRON = REPO.parent / "shared" / "data" / "enron"


def import_profile(home: Path, sender: str) -> None:
    from core.cli import run

    os.environ["PA_HOME"] = str(home)
    code = run(["import", str(ENRON / sender), "--profile", "bench"])
    if code != 0:
        raise SystemExit(f"import of {ENRON / sender} failed with exit code {code}")


def stand_in_examples(limit: int, split: str = "train"):
    """Naive-kind examples from the store: a subject-based stand-in intent -> the real text."""
    from core.paths import resolve_paths
    from core.store import Store
    from finetune.dataset import Example

    with Store.open(resolve_paths().store_file) as store:
        profile = store.get_profile("bench")
        documents = [d for d in store.documents(profile.id, split=split) if d.text.strip()][:limit]
    return [
        Example(
            d.id,
            d.split,
            f"- write the email about: {d.subject or 'no subject'}",
            d.recipients,
            d.subject,
            d.previous_context,
            d.text.strip(),
        )
        for d in documents
    ]


def measure(model, batches, encoded, pad_id, pad_to, optimizer, trainable):
    import torch

    from finetune.train import collate

    real = padded = 0
    start = time.monotonic()
    for batch_ids in batches:
        batch = collate([encoded[i] for i in batch_ids], pad_id, pad_to=pad_to)
        real += int(batch["attention_mask"].sum())
        padded += batch["input_ids"].numel()
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    seconds = time.monotonic() - start
    return {
        "seconds": seconds,
        "real_tokens": real,
        "padded_tokens": padded,
        "tokens_per_s": real / seconds,
        "steps": len(batches),
    }


def part_one(args) -> None:
    import torch
    from transformers import AutoTokenizer

    from core.config import TrainConfig
    from core.paths import resolve_paths
    from finetune.base_model import resolve_base_model
    from finetune.dataset import DatasetReport, encode_examples
    from finetune.train import add_lora, length_grouped_batches, load_base_for_training, shuffled_batches

    torch.set_num_threads(args.threads)
    hp = TrainConfig(lora_dropout=0.0, max_length=args.max_length)
    base = resolve_base_model("embedded", resolve_paths())
    tokenizer = AutoTokenizer.from_pretrained(base.folder)
    report = DatasetReport("naive")
    examples = stand_in_examples(args.examples)
    encoded = encode_examples(tokenizer, "naive", examples, hp.max_length, report)
    lengths = [e.length for e in encoded]
    need = args.steps * hp.batch_size
    grouped = [b for b in length_grouped_batches(lengths, hp.batch_size, 0) if len(b) == hp.batch_size][: args.steps]
    plain = [b for b in shuffled_batches(len(encoded), hp.batch_size, 0) if len(b) == hp.batch_size][: args.steps]
    print(
        f"data: {len(encoded)} naive-kind examples from Enron {args.sender} (no distilled rules: stand-in intents "
        f"from subjects, targets = real emails); lengths {min(lengths)}-{max(lengths)} tokens, "
        f"mean {sum(lengths) / len(lengths):.0f}; {report.dropped_too_long} dropped over {hp.max_length}; "
        f"{args.steps} steps x batch {hp.batch_size} ({need} examples) per mode; {args.threads} threads"
    )
    results = {}
    for name, batches, pad_to in (("length-grouped (pa)", grouped, None), ("padded to max", plain, max(lengths))):
        model = add_lora(load_base_for_training(base.folder, "cpu"), hp)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate)
        results[name] = measure(model, batches, encoded, tokenizer.pad_token_id, pad_to, optimizer, trainable)
        del model, optimizer
    print(f"\n{'batching':<22}{'steps':>7}{'real tok':>10}{'padded tok':>12}{'seconds':>10}{'real tok/s':>12}")
    for name, r in results.items():
        print(
            f"{name:<22}{r['steps']:>7}{r['real_tokens']:>10}{r['padded_tokens']:>12}{r['seconds']:>10.1f}{r['tokens_per_s']:>12.1f}"
        )
    a, b = results["length-grouped (pa)"], results["padded to max"]
    print(
        f"\nspeed-up in real tokens/s: {a['tokens_per_s'] / b['tokens_per_s']:.2f}x "
        f"(padding share: {1 - a['real_tokens'] / a['padded_tokens']:.0%} vs {1 - b['real_tokens'] / b['padded_tokens']:.0%})"
    )


def part_precision(args) -> None:
    """pa's step (labelled head, checkpointing) in fp32 vs bf16 autocast: speed, and what it learns."""
    import torch
    from transformers import AutoTokenizer

    from core.config import TrainConfig
    from core.paths import resolve_paths
    from finetune.base_model import resolve_base_model
    from finetune.dataset import DatasetReport, encode_examples
    from finetune.step import cpu_has_native_bf16, enable_gradient_checkpointing, resolve_precision
    from finetune.train import (
        add_lora,
        evaluate_loss,
        forward_backward,
        length_grouped_batches,
        load_base_for_training,
    )

    torch.set_num_threads(args.threads)
    hp = TrainConfig(lora_dropout=0.0, max_length=args.max_length)
    base = resolve_base_model("embedded", resolve_paths())
    tokenizer = AutoTokenizer.from_pretrained(base.folder)
    train = encode_examples(tokenizer, "naive", stand_in_examples(args.examples), hp.max_length, DatasetReport("naive"))
    held_out = encode_examples(tokenizer, "naive", stand_in_examples(10, "test"), hp.max_length, DatasetReport("naive"))
    batches = length_grouped_batches([e.length for e in train], hp.batch_size, 0)[: args.precision_steps]
    print(
        f"\nprecision: pa's step (labelled head, checkpointing) on {len(batches)} length-grouped batches, "
        f"then the loss on {len(held_out)} held-out examples; native bf16 on this CPU: {cpu_has_native_bf16()}"
    )
    results = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(hp.seed)
        model = add_lora(load_base_for_training(base.folder, "cpu"), hp)
        enable_gradient_checkpointing(model)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, weight_decay=0.0)
        before = evaluate_loss(model, held_out, hp.batch_size, tokenizer.pad_token_id, "cpu", precision)
        tokens, losses, start = 0, [], time.monotonic()
        for members in batches:
            loss, count = forward_backward(model, [train[i] for i in members], tokenizer.pad_token_id, "cpu", precision)
            tokens += count
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
        seconds = time.monotonic() - start
        after = evaluate_loss(model, held_out, hp.batch_size, tokenizer.pad_token_id, "cpu", precision)
        fp32_after = evaluate_loss(model, held_out, hp.batch_size, tokenizer.pad_token_id, "cpu", "fp32")
        results[precision] = (seconds, tokens / seconds, losses, before, after, fp32_after)
        del model, optimizer
    print(
        f"{'precision':<10}{'seconds':>9}{'tok/s':>8}{'first loss':>12}{'last loss':>11}{'held-out before':>17}"
        f"{'after':>8}{'after, read in fp32':>21}"
    )
    for name, (seconds, rate, losses, before, after, fp32_after) in results.items():
        print(
            f"{name:<10}{seconds:>9.1f}{rate:>8.1f}{losses[0]:>12.4f}{losses[-1]:>11.4f}{before:>17.4f}"
            f"{after:>8.4f}{fp32_after:>21.4f}"
        )
    print(f"bf16 vs fp32: {results['bf16'][1] / results['fp32'][1]:.2f}x tok/s")
    chosen = resolve_precision("auto", "cpu")
    print(f"pa's step (train.precision = auto: {chosen} here): {results[chosen][1]:.1f} tok/s")


def part_two(args) -> None:
    """100 examples x 3 epochs through the real training + export path."""
    from benchmarks.train_memory import peak_mb
    from core.config import Config, TrainConfig
    from core.paths import resolve_paths
    from core.store import Store
    from finetune.dataset import Dataset
    from finetune.runs import prepare_run
    from finetune.train import train_run

    paths = resolve_paths()
    examples = stand_in_examples(100) + stand_in_examples(10, "test")
    config = Config(
        train=TrainConfig(base_model="embedded", epochs=3, max_length=args.max_length, threads=args.threads)
    )
    with Store.open(paths.store_file) as store:
        store.create_profile("bench")
        # The CLI path needs distilled intents; here the stand-in examples are written as the run's dataset.
        with store.transaction() as db:
            for e in examples:
                db.execute(
                    "INSERT OR IGNORE INTO distillations (document_id, stage, status, content, template_id, template_version, model) "
                    "VALUES (?, 'intent', 'ok', ?, 'benchmark-stand-in', 0, 'none')",
                    (e.document_id, e.intent),
                )
        run = prepare_run(paths, store, config, "bench", "naive", quant="q8_0")
    dataset = Dataset.load(run.folder / "data")
    reset_peak_rss()  # part one's training is not this run's
    print(f"\nfull run: {len(dataset.train)} train + {len(dataset.eval)} eval examples (naive kind, stand-in intents)")
    start = time.monotonic()
    peaks: dict[str, float] = {}  # peak RSS when each phase ended

    def echo(e: dict) -> None:
        if e["event"] == "start":
            peaks["model loaded"] = peak_mb()
        elif e["event"] == "trained":
            peaks["training steps"] = peak_mb()
        elif e["event"] == "step" and e["step"] % 10 == 0:
            print(
                f"  step {e['step']}/{e['total']} loss {e['loss']:.3f} {e['tokens_per_s']:.0f} tok/s eta {e['eta']:.0f}s",
                flush=True,
            )

    agent = train_run(run, paths=paths, echo=echo)
    peaks["export"] = peak_mb()
    wall = time.monotonic() - start
    training = agent.manifest["training"]
    print(
        f"\n100 examples x 3 epochs: {training['steps']} steps, training {training['train_seconds']:.0f} s, "
        f"train+export wall {wall:.0f} s ({wall / 60:.1f} min; target <= 10 min on 2 cores); "
        f"{training['tokens_per_s']} tok/s; eval loss {training['eval_losses']}; agent {agent.gguf.name} "
        f"{agent.gguf.stat().st_size / 2**20:.0f} MiB"
    )
    print(
        f"peak RSS of the train + export run: {peak_mb():.0f} MB (target <= 2 GB); "
        f"{training.get('precision', 'fp32')} products; peak when each phase ended: "
        + ", ".join(f"{phase} {mb:.0f} MB" for phase, mb in peaks.items())
    )


def reset_peak_rss() -> None:
    """Start this process's peak RSS (VmHWM) from its current RSS (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sender", default="allen-p")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--full", action="store_true", help="also time 100 examples x 3 epochs (train + export)")
    parser.add_argument(
        "--full-only", action="store_true", help="only the full run, in a fresh process (its peak RSS is the run's own)"
    )
    parser.add_argument(
        "--precision-steps", type=int, default=25, help="steps of the fp32 vs bf16 comparison (0 skips it)"
    )
    parser.add_argument(
        "--home", type=Path, help="PA_HOME to use (default: a temporary one; the fp32 base is cached there)"
    )
    args = parser.parse_args()
    from finetune.memory import training_environment

    tuned = training_environment(os.environ)
    if tuned != dict(os.environ):  # run as `pa train`'s process runs: its malloc settings are read at start
        os.execve(sys.executable, [sys.executable, *sys.argv], tuned)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or Path(scratch)
        import_profile(home, args.sender)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work shares the CPU)\n")
        if not args.full_only:
            part_one(args)
        if args.precision_steps and not args.full_only:
            part_precision(args)
        if args.full or args.full_only:
            part_two(args)
        print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
