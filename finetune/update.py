"""`pa train --update`: the current agent's LoRA adapter continues on what it has not seen yet.

A full run trains a fresh adapter on every distilled text; after a few edits that would take
the whole run again. An update starts from the adapter of the agent drafts use now
(`core.agents.latest_agent`, which `pa agents use` picks), trains it on the new examples only,
and exports the result as a new version (the old one stays for rollback):

* new examples: the rules learned from the person's edits (`Store.edit_training_rows`) and the
  distilled texts that the adapter was not trained on (the agent's manifest lists what it was
  trained on as `trained_on` keys; an agent exported before that field existed is read from
  its run folder's `data/train.jsonl`);
* weighted as recent: each edit example is repeated `train.edit_repeats` times (as in a full
  run, finetune.dataset), and every pass goes in time order, distilled texts first, then the
  edits oldest to newest, so the newest edit is the last thing the adapter learns (no
  shuffling in an update);
* the step count continues from the previous run (the new run starts at its last step); the
  learning-rate schedule is a fresh warm-up and decay over the update's own steps, and the
  optimizer starts anew (the previous run's Adam moments belong to other data).

Light (no torch): the CLI prepares the run here and `finetune.train` trains it in its process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.agents import AgentInfo, require_agent
from core.config import Config, TrainConfig
from core.errors import PaError, UsageError
from core.paths import Paths
from core.store import Store
from finetune.dataset import Dataset, DatasetReport, collect_for_training
from finetune.runs import Run, prepare_run

ADAPTER_FILE = "adapter_model.safetensors"
ADAPTER_SETTINGS = ("base_model", "lora_r", "lora_alpha", "target_modules", "max_length", "rules_only")
"""Hyperparameters an update takes from the agent it continues, not from the config."""


def update_source(agent: AgentInfo) -> dict[str, Any]:
    """What an update continues from: the agent's adapter folder, version and last step.

    The adapter is the copy export keeps inside the agent folder (`<vN>/adapter`), so an update
    works after the run folder is gone; an agent without one cannot be continued.
    """
    adapter = agent.folder / "adapter"
    if not (adapter / ADAPTER_FILE).is_file():
        raise PaError(
            f"{agent.label} has no LoRA adapter in {adapter} to continue from; train a new agent with "
            f"`pa train --profile {agent.profile} --kind {agent.kind}`"
        )
    training = agent.manifest.get("training") or {}
    return {
        "agent": str(agent.folder),
        "label": agent.label,
        "version": agent.version,
        "adapter": str(adapter),
        "steps": int(training.get("steps") or 0),
    }


def trained_on(agent: AgentInfo) -> set[str]:
    """The example keys (`document:ID`, `edit:ID`) the agent's adapter has learned, as far as known.

    From the manifest's `trained_on`; for an agent exported before that list existed, the
    documents of its run folder's training data. Nothing readable: empty (every example is new).
    """
    listed = agent.manifest.get("trained_on")
    if isinstance(listed, list):
        return {str(key) for key in listed}
    run = agent.manifest.get("run")
    data = Path(str(run)) / "data" / "train.jsonl" if run else None
    if data is None or not data.is_file():
        return set()
    keys = set()
    for line in data.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            keys.add(f"{record.get('origin', 'document')}:{record['document_id']}")
    return keys


def update_dataset(store: Store, train: TrainConfig, profile: str, kind: str, seen: set[str]) -> Dataset:
    """The examples the adapter has not seen, in time order: new distilled texts once, then the
    edits oldest to newest, each `train.edit_repeats` times (one pass after another).

    Raises UsageError when there is nothing new (the message says how to get something)."""
    collected = collect_for_training(store, profile, kind, train)
    examples = [e for e in collected.train if e.key not in seen]
    if not examples:
        raise UsageError(
            f"the current {kind} of {profile!r} has already learned every example; record an edit "
            f"(`pa feedback DRAFT_ID --file TEXT`) or distil more texts (`pa distill --profile {profile}`) first"
        )
    documents = len({e.key for e in examples if e.origin == "document"})
    edits = len({e.key for e in examples if e.origin == "edit"})
    report = DatasetReport(kind=kind, documents=documents, train=len(examples), eval=0, edits=edits)
    report.eval_source = "none"
    report.notes.append(
        f"update: {documents} new distilled texts once and {edits} edits x{train.edit_repeats}, "
        "oldest to newest in every pass (the newest edit last); no evaluation loss"
    )
    return Dataset(kind, examples, [], report, train.rules_only)


def prepare_update_run(
    paths: Paths,
    store: Store,
    config: Config,
    profile: str,
    kind: str = "agent",
    *,
    quant: str = "auto",
    epochs: int | None = None,
) -> Run:
    """A run folder that continues the current agent's adapter on the new examples."""
    agent = require_agent(paths, profile, kind)
    source = update_source(agent)
    seen = trained_on(agent)
    hyper = agent.manifest.get("hyperparameters") or {}
    # The adapter's own base, shape and target form (it only fits them); how long and how fast from config.
    kept = {k: hyper[k] for k in ADAPTER_SETTINGS if k in hyper}
    train = config.train.model_copy(update={**kept, "epochs": epochs or config.train.update_epochs})
    dataset = update_dataset(store, train, profile, kind, seen)
    source["trained_on"] = sorted(seen)
    return prepare_run(
        paths,
        store,
        config,
        profile,
        kind,
        quant=quant,
        dataset=dataset,
        train=train,
        extra={"update_from": source, "batch_order": "recent_last"},
    )
