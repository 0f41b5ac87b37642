"""How far each profile has come, read from disk: the store for documents and distillation,
the run folders for training and export, the report folder for evaluation.

Both views show this (the CLI's status lines, the TUI's home screen and pipeline panel), so
leaving a screen, restarting the app or training from another terminal never loses track of
work done or still running.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.paths import Paths
from core.store import Profile, Store
from finetune.runs import latest_run
from finetune.transcript import TrainingTranscript, read_transcript

DISTILL_STAGES = (
    ("intent", "intents", ("train", "test")),
    ("draft", "drafts", ("train",)),
    ("rules", "rules", ("train",)),
    ("nobaseline_rules", "no-baseline rules", ("train",)),
)
"""(stage in the store, label in `Progress.stage`, document splits it covers)."""
STAGE_TITLES = {"intent": "intents", "draft": "drafts", "rules": "rules", "nobaseline_rules": "no-baseline"}
TRAIN_KIND = "agent"
"""The kind the pipeline trains (the other kinds are baselines: `pa train --kind`)."""


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
class PipelineState:
    documents: int
    stages: list[StageCount]
    training: TrainingTranscript

    @property
    def distilled(self) -> bool:
        return bool(self.documents) and all(s.done >= s.total for s in self.stages)


@dataclass(frozen=True)
class ProfileState:
    """One row of the profiles list: how far a profile has come."""

    name: str
    sender: str | None
    documents: int
    held_out: int
    distilled: int
    failed: int
    agent: str | None
    """Label of the latest trained agent (`profile/agent/vN`), None when untrained."""
    last_eval: str | None
    """Date of the last evaluation report, None when never evaluated."""

    @property
    def next_step(self) -> str:
        if not self.documents:
            return "import a corpus"
        if self.distilled < self.documents:
            return "distill"
        if not self.agent:
            return "train"
        if not self.last_eval:
            return "evaluate or draft"
        return "draft"


def stage_counts(store: Store, profile: Profile) -> tuple[int, list[StageCount]]:
    """(documents, one StageCount per distillation stage)."""
    splits = store.count_documents(profile.id)
    counts = store.stage_counts(profile.id)
    stages = [
        StageCount(
            label, counts.get((stage, "ok"), 0), counts.get((stage, "failed"), 0), sum(splits[s] for s in covered)
        )
        for stage, label, covered in DISTILL_STAGES
    ]
    return splits["train"] + splits["test"], stages


def read_pipeline_state(store: Store, paths: Paths, profile: str) -> PipelineState:
    documents, stages = stage_counts(store, store.get_profile(profile))
    return PipelineState(documents, stages, read_transcript(latest_run(paths, profile, TRAIN_KIND)))
