"""The true state of a profile's pipeline, read from disk: the store for distillation, the
newest run folder for training and export. The panel shows this, so leaving the screen or
restarting the app never loses track of work done or still running in another process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.paths import Paths
from core.store import Store

DISTILL_STAGES = (("intent", "intents", ("train", "test")), ("draft", "drafts", ("train",)),
                  ("rules", "rules", ("train",)), ("nobaseline_rules", "no-baseline rules", ("train",)))
"""(stage in the store, label in `Progress.stage`, document splits it covers)."""
STAGE_TITLES = {"intent": "intents", "draft": "drafts", "rules": "rules", "nobaseline_rules": "no-baseline"}
TRAIN_KIND = "agent"


@dataclass
class StageCount:
    label: str
    ok: int = 0
    failed: int = 0
    total: int = 0

    @property
    def done(self) -> int:
        return self.ok + self.failed


@dataclass
class TrainingState:
    run: Path | None = None
    status: str = "none"
    """none | new | running | interrupted | failed | done (from the run folder), or `stopped` when
    the folder says running but its process is gone."""
    step: int = 0
    total: int = 0
    eta: float | None = None
    tokens_per_s: float | None = None
    losses: list[float] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)
    export_stage: str | None = None
    export_done: bool = False
    agent: str | None = None
    message: str = ""
    log: list[str] = field(default_factory=list)


@dataclass
class PipelineState:
    documents: int
    stages: list[StageCount]
    training: TrainingState

    @property
    def distilled(self) -> bool:
        return bool(self.documents) and all(s.done >= s.total for s in self.stages)


def read_pipeline_state(store: Store, paths: Paths, profile: str, pid: int | None = None) -> PipelineState:
    record = store.get_profile(profile)
    splits = store.count_documents(record.id)
    rows = store.query(
        "SELECT d.stage AS stage, d.status AS status, COUNT(*) AS n FROM distillations d "
        "JOIN documents doc ON doc.id = d.document_id WHERE doc.profile_id = ? GROUP BY d.stage, d.status",
        (record.id,),
    )
    counts = {(row["stage"], row["status"]): row["n"] for row in rows}
    stages = [
        StageCount(label, counts.get((stage, "ok"), 0), counts.get((stage, "failed"), 0), sum(splits[s] for s in covered))
        for stage, label, covered in DISTILL_STAGES
    ]
    return PipelineState(splits["train"] + splits["test"], stages, read_training(paths, profile, pid))


def latest_run(paths: Paths, profile: str) -> Path | None:
    folders = sorted(paths.runs_dir(profile).glob(f"{TRAIN_KIND}-*"), key=lambda p: p.name)
    return folders[-1] if folders else None


def read_training(paths: Paths, profile: str, pid: int | None = None) -> TrainingState:
    from finetune.runs import Run

    folder = latest_run(paths, profile)
    state = TrainingState()
    if folder is None:
        return state
    run = Run(folder)
    state.run, state.status = folder, run.status
    for event in run.events():
        apply_event(state, event)
    if state.status == "running" and not process_alive(pid):
        state.status = "stopped"
        state.message = "the training process is gone; press s to resume from its last checkpoint"
    return state


def apply_event(state: TrainingState, event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind in ("start", "step", "eval", "checkpoint", "interrupted"):
        state.step = int(event.get("step") or state.step)
        state.total = int(event.get("total") or state.total)
    if kind == "start" and not event.get("resumed"):
        state.losses.clear()
    if kind == "step":
        if isinstance(event.get("loss"), (int, float)):
            state.losses.append(float(event["loss"]))
        state.eta = event.get("eta")
        state.tokens_per_s = event.get("tokens_per_s")
    elif kind == "eval" and isinstance(event.get("eval_loss"), (int, float)):
        state.eval_losses.append(float(event["eval_loss"]))
    elif kind == "export":
        state.export_stage = str(event.get("stage") or "")
    elif kind == "done":
        state.export_done = True
        state.agent = f"v{event.get('version')}" if event.get("version") is not None else event.get("agent")
    elif kind in ("failed", "interrupted"):
        state.message = str(event.get("message") or kind)
    line = describe_event(event)
    if line:
        state.log.append(line)


def describe_event(event: dict[str, Any]) -> str | None:
    kind = event.get("event")
    if kind == "step":
        return None  # the bar and the curve show steps; the log keeps the milestones
    if kind == "start":
        return f"training: {event.get('total')} steps on {event.get('device')} ({event.get('mode')})" + (" (resumed)" if event.get("resumed") else "")
    if kind == "eval":
        return f"epoch {event.get('epoch')}: eval loss {event.get('eval_loss')}"
    if kind == "checkpoint":
        return f"checkpoint at step {event.get('step')}/{event.get('total')}"
    if kind == "trained":
        return f"trained: final loss {event.get('final_train_loss')}, {event.get('train_seconds')} s"
    if kind == "export":
        return f"export: {event.get('stage')}: {event.get('message', '')}".rstrip(": ")
    if kind == "done":
        return f"done: agent v{event.get('version')} ({event.get('quant')})"
    if kind in ("failed", "interrupted", "preparing"):
        return f"{kind}: {event.get('message', '')}"
    return None


def process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process counts as gone
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return True
