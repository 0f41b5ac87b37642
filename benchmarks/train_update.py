"""`pa train --update` on a handful of edits vs a full run from scratch, on CPU.

    python benchmarks/train_update.py [--bases tiny,embedded] [--documents 24] [--edits 5]

For each base model (`tiny`: the 2-layer test model of tests/tiny_agent.py, trained with its
fixture's settings; `embedded`: the real SmolLM2-135M base with pa's default [train] settings,
rules verification off), in a fresh PA_HOME:

1. a profile of D distilled documents (tests/tiny_agent.py's examples, cycled with numbered
   intents) gets its first agent, v1: a full run;
2. E edits whose rules were learned are added (tests/edit_rows.py);
3. `pa train --update`'s path (finetune.update.prepare_update_run, then the training process's
   own train_run, in this process) continues v1's adapter on them -> v2;
4. with --full-rerun, a full run from scratch on everything (documents + edits, as `pa train`
   collects them) -> v3; without it, v1's full run on the documents alone is the comparison (a
   retrain with the edits costs at least that).

Printed for each run: examples, optimizer steps, and seconds to prepare the data, load the
base, train, and merge + convert + quantize (export), then the wall time; and the load average.
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

EDIT_RULES = [
    "- Greet with Hi and the first name.\n- No exclamation marks.\n- Sign off: Cheers, Jeff",
    "- Keep it under 60 words.\n- Say 'about', never 'regarding'.\n- Sign off: Cheers, Jeff",
]


def documents(count: int) -> list[tuple]:
    from tests.tiny_agent import EXAMPLES

    rows = []
    for number in range(count):
        intent, to, subject, previous, thinking, rules, text, _ = EXAMPLES[number % len(EXAMPLES)]
        rows.append((f"{intent} ({number + 1})", to, subject, previous, thinking, rules, text, "train"))
    return rows


def timed_run(paths, prepare) -> dict[str, float | int | str]:
    """Prepare a run, train and export it in this process; seconds per phase from its progress events."""
    from finetune.train import train_run

    started = time.time()
    run = prepare()
    prepared = time.time()
    agent = train_run(run, paths=paths)
    finished = time.time()
    if agent is None:
        raise SystemExit(f"{run.folder}: training stopped before the export")
    events = run.events()
    at = {event["event"]: event["time"] for event in events}
    steps = [event for event in events if event["event"] == "step"]
    return {
        "agent": agent.label,
        "examples": next(e["train_examples"] for e in events if e["event"] == "start"),
        "steps": len(steps),
        "last step": steps[-1]["step"] if steps else 0,
        "prepare": prepared - started,
        "load": at["start"] - prepared,
        "train": at["trained"] - at["start"],
        "export": at["done"] - at["trained"],
        "wall": finished - started,
    }


def bench_base(base: str, document_count: int, edit_count: int, full_rerun: bool) -> list[tuple[str, dict]]:
    from core.config import Config, TrainConfig
    from core.paths import resolve_paths
    from core.store import Store
    from finetune.runs import prepare_run
    from finetune.update import prepare_update_run
    from tests.edit_rows import add_learned_edit
    from tests.tiny_agent import EXAMPLES, make_tiny_base, make_tokenizer_folder, seed_store, tiny_train_config

    home = Path(tempfile.mkdtemp(prefix=f"pa-train-update-{base}-"))
    os.environ["PA_HOME"] = str(home)
    paths = resolve_paths()
    if base == "tiny":
        train = tiny_train_config(make_tiny_base(home / "tiny-base", make_tokenizer_folder(home / "tokenizer")))
    else:
        train = TrainConfig(base_model="embedded", verify_rules=False)
    config = Config(train=train)
    rows: list[tuple[str, dict]] = []
    with Store.open(paths.store_file) as store:
        seed_store(store, "bench", documents(document_count))
        rows.append(
            ("v1: full run on the documents", timed_run(paths, lambda: prepare_run(paths, store, config, "bench")))
        )
        for number in range(edit_count):
            intent, to, subject = EXAMPLES[number % len(EXAMPLES)][:3]
            add_learned_edit(
                store,
                "bench",
                intent=f"{intent} (edit {number + 1})",
                recipient=to,
                subject=subject,
                rules=EDIT_RULES[number % len(EDIT_RULES)],
                thinking="The person rewrote the greeting and the closing.",
            )
        rows.append(
            (
                f"v2: update on {edit_count} edits",
                timed_run(paths, lambda: prepare_update_run(paths, store, config, "bench")),
            )
        )
        if full_rerun:
            rows.append(
                (
                    "v3: full run, documents + edits",
                    timed_run(paths, lambda: prepare_run(paths, store, config, "bench")),
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bases", default="tiny,embedded", help="comma-separated: tiny, embedded")
    parser.add_argument("--documents", type=int, default=24)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--full-rerun", action="store_true", help="also time a full run on documents + edits")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    results = [
        (base, name, row)
        for base in args.bases.split(",")
        for name, row in bench_base(base, args.documents, args.edits, args.full_rerun)
    ]
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"\n{args.documents} documents, {args.edits} edits; cpus {os.cpu_count()}; load {' '.join(load_before)} -> {' '.join(load_after)}"
    )
    header = ("base", "run", "examples", "steps", "last step", "prepare s", "load s", "train s", "export s", "wall s")
    print(" | ".join(header))
    for base, name, row in results:
        cells = [base, name, row["examples"], row["steps"], row["last step"]]
        cells += [f"{row[key]:.1f}" for key in ("prepare", "load", "train", "export", "wall")]
        print(" | ".join(str(c) for c in cells))


if __name__ == "__main__":
    main()
