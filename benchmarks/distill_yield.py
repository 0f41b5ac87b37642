"""Distillation yield of the embedded SmolLM2-135M, guided vs unguided, side by side.

With `distill.guided` (the default) pa writes the `<thinking>` / `<rules>` tags into the
embedded model's answer and the model writes what goes inside them; unguided, the model is
only asked for the format. Both runs distil the same real Enron emails (the first N training
emails of each sender named) with the same seeds and settings, each into its own fresh store,
and the table counts the validated results per stage. Yield, not quality: what passes
validation from a 135M model is still poor text.

    python benchmarks/distill_yield.py [--senders allen-p staab-t] [--documents 6]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.config import Config  # noqa: E402
from core.corpus.pipeline import ImportOptions, import_corpus  # noqa: E402
from core.distill import STAGES, distill_profile  # noqa: E402
from core.llm.specs import open_backend  # noqa: E402
from core.store import Store  # noqa: E402

ENRON = REPO.parent / "shared" / "data" / "enron"


def settings(guided: bool) -> Config:
    config = Config()
    config.distill.guided = guided
    config.distill.max_tokens = 200
    config.distill.max_attempts = 2
    config.distill.intent_temperatures = [0.7, 1.0]
    return config


def measure(senders: list[str], documents: int, guided: bool) -> dict[str, object]:
    config = settings(guided)
    large = open_backend("embedded", config)
    counts = {stage: [0, 0] for stage in STAGES}  # ok, attempted
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, Store.open(Path(folder) / "pa.sqlite3") as store:
        for sender in senders:
            import_corpus(store, ENRON / sender / "sent_items", ImportOptions(profile=sender))
            profile = store.get_profile(sender)
            train = store.documents(profile.id, "train", limit=documents)
            # The first `documents` training emails: distil up to the last of them by id.
            limit = len([d for d in store.documents(profile.id) if d.id <= train[-1].id])
            summary = asyncio.run(distill_profile(store, profile, large, config, limit=limit, concurrency=1))
            for stage, stats in summary.stages.items():
                counts[stage][0] += stats.ok
                counts[stage][1] += stats.ok + stats.failed
    return {"counts": counts, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--senders", nargs="+", default=["allen-p", "staab-t"])
    parser.add_argument("--documents", type=int, default=6, help="training emails per sender")
    args = parser.parse_args()
    results = {guided: measure(args.senders, args.documents, guided) for guided in (False, True)}
    print(f"SmolLM2-135M as M_L, {args.documents} training emails each of {', '.join(args.senders)}")
    print(f"{'stage':<18}{'unguided ok':>14}{'guided ok':>14}")
    for stage in STAGES:
        cells = []
        for guided in (False, True):
            ok, attempted = results[guided]["counts"][stage]
            cells.append(f"{ok}/{attempted}" + (f" {100 * ok / attempted:3.0f}%" if attempted else ""))
        print(f"{stage:<18}{cells[0]:>14}{cells[1]:>14}")
    print(f"{'wall time':<18}{results[False]['seconds']:>13.0f}s{results[True]['seconds']:>13.0f}s")


if __name__ == "__main__":
    main()
