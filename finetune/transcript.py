"""Training events, typed, and the one transcript every view folds them into.

The training process appends JSON lines to its run folder (`finetune.train`); `parse_event`
gives each line its type and `TrainingTranscript.apply` folds them into what a view shows:
state, step, loss curve, ETA, export stage, the agent made and a log of milestones. `pa train`
and the TUI's pipeline panel both render a transcript, so they never disagree about a run.

Light on purpose (no torch): the CLI and the TUI import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

TERMINAL = ("done", "failed", "interrupted")
"""Event kinds after which a training process writes nothing more."""


@dataclass(frozen=True, kw_only=True)
class TrainingEvent:
    """One line of `progress.jsonl`; `kind` is its `event` field."""

    KIND: ClassVar[str] = ""
    time: float | None = None

    @property
    def kind(self) -> str:
        return self.KIND

    def to_record(self) -> dict[str, Any]:
        """The JSON object written to the run folder (and printed by `pa train --json`)."""
        record: dict[str, Any] = {"event": self.kind}
        record.update({f.name: getattr(self, f.name) for f in fields(self)})
        return record


@dataclass(frozen=True, kw_only=True)
class Preparing(TrainingEvent):
    KIND: ClassVar[str] = "preparing"
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Started(TrainingEvent):
    KIND: ClassVar[str] = "start"
    step: int = 0
    total: int = 0
    epochs: int = 0
    device: str = ""
    mode: str = ""
    threads: int | None = None
    train_examples: int = 0
    eval_examples: int = 0
    resumed: bool = False
    trainable_parameters: int | None = None
    dataset: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Stepped(TrainingEvent):
    KIND: ClassVar[str] = "step"
    step: int = 0
    total: int = 0
    epoch: int = 0
    loss: float | None = None
    eval_loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    elapsed: float | None = None
    eta: float | None = None


@dataclass(frozen=True, kw_only=True)
class Evaluated(TrainingEvent):
    KIND: ClassVar[str] = "eval"
    epoch: int = 0
    step: int = 0
    total: int = 0
    eval_loss: float | None = None
    loss: float | None = None


@dataclass(frozen=True, kw_only=True)
class Checkpointed(TrainingEvent):
    KIND: ClassVar[str] = "checkpoint"
    step: int = 0
    total: int = 0


@dataclass(frozen=True, kw_only=True)
class Interrupted(TrainingEvent):
    KIND: ClassVar[str] = "interrupted"
    step: int = 0
    total: int = 0
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Trained(TrainingEvent):
    KIND: ClassVar[str] = "trained"
    final_train_loss: float | None = None
    eval_losses: list[float | None] = field(default_factory=list)
    steps: int = 0
    train_seconds: float = 0.0
    tokens_per_s: float = 0.0
    device: str = ""
    precision: str = ""
    """What the steps computed in (finetune.step.resolve_precision): fp32, bf16 or nf4."""


@dataclass(frozen=True, kw_only=True)
class Exporting(TrainingEvent):
    KIND: ClassVar[str] = "export"
    stage: str = ""
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Finished(TrainingEvent):
    KIND: ClassVar[str] = "done"
    agent: str = ""
    version: int | None = None
    gguf: str = ""
    quant: str | None = None
    size: int | None = None


@dataclass(frozen=True, kw_only=True)
class Failed(TrainingEvent):
    KIND: ClassVar[str] = "failed"
    message: str = ""


EVENT_TYPES: dict[str, type[TrainingEvent]] = {
    cls.KIND: cls
    for cls in (Preparing, Started, Stepped, Evaluated, Checkpointed, Interrupted, Trained, Exporting, Finished, Failed)
}


def parse_event(record: dict[str, Any]) -> TrainingEvent | None:
    """The typed event of one progress line; None for a kind this pa does not know."""
    cls = EVENT_TYPES.get(str(record.get("event")))
    if cls is None:
        return None
    known = {f.name for f in fields(cls)}
    return cls(**{key: value for key, value in record.items() if key in known and value is not None})


def describe(event: TrainingEvent) -> str | None:
    """The log line a milestone gets (steps are shown by the bar and the curve, not logged)."""
    if isinstance(event, Started):
        return f"training: {event.total} steps on {event.device} ({event.mode})" + (
            " (resumed)" if event.resumed else ""
        )
    if isinstance(event, Evaluated):
        return f"epoch {event.epoch}: eval loss {event.eval_loss}"
    if isinstance(event, Checkpointed):
        return f"checkpoint at step {event.step}/{event.total}"
    if isinstance(event, Trained):
        return f"trained: final loss {event.final_train_loss}, {event.train_seconds} s"
    if isinstance(event, Exporting):
        return f"export: {event.stage}: {event.message}".rstrip(": ")
    if isinstance(event, Finished):
        return f"done: agent v{event.version} ({event.quant})"
    if isinstance(event, (Failed, Interrupted, Preparing)):
        return f"{event.kind}: {event.message}"
    return None


def dataset_notes(report: dict[str, Any]) -> list[str]:
    """What the dataset report says the writer should know (skipped, trimmed, dropped examples)."""
    notes = list(report.get("notes") or [])
    if report.get("missing_intent") or report.get("missing_target"):
        notes.append(
            f"skipped {report.get('missing_intent', 0)} documents without an intent and "
            f"{report.get('missing_target', 0)} without a target; run `pa distill` to add them"
        )
    if report.get("previous_trimmed"):
        notes.append(f"{report['previous_trimmed']} examples had their previous context cut to fit train.max_length")
    if report.get("dropped_too_long"):
        notes.append(f"{report['dropped_too_long']} examples were longer than train.max_length and left out")
    if report.get("thinking_trimmed"):
        notes.append(
            f"{report['thinking_trimmed']} targets had their thinking cut to fit the agent's answer budget "
            f"({report.get('answer_tokens')} tokens, 3/8 of train.max_length)"
        )
    if report.get("rules_over_budget"):
        notes.append(
            f"{report['rules_over_budget']} targets have rules longer than the agent's answer budget "
            f"({report.get('answer_tokens')} tokens): kept, without thinking; raise train.max_length to fit them"
        )
    return notes


@dataclass
class TrainingTranscript:
    """Everything known about one run, folded from its events (and its folder's liveness)."""

    run: Path | None = None
    status: str = "none"
    """none | new | running | interrupted | failed | done (from the run folder), or `stopped`
    when the folder says running but no process holds the run any more."""
    alive: bool = False
    """A training process holds this run right now (any process: `pa train`, the TUI, ...)."""
    pid: int | None = None
    step: int = 0
    total: int = 0
    epoch: int = 0
    eta: float | None = None
    tokens_per_s: float | None = None
    device: str | None = None
    mode: str | None = None
    train_examples: int | None = None
    losses: list[float] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    export_stage: str | None = None
    export_message: str | None = None
    export_done: bool = False
    agent: str | None = None
    """`vN` of the exported agent once the run is done."""
    finished: Finished | None = None
    message: str = ""
    log: list[str] = field(default_factory=list)
    last: TrainingEvent | None = None

    def apply(self, event: TrainingEvent) -> None:
        self.last = event
        if isinstance(event, (Started, Stepped, Evaluated, Checkpointed, Interrupted)):
            self.step = event.step or self.step
            self.total = event.total or self.total
        if isinstance(event, Started):
            if not event.resumed:
                self.losses.clear()
                self.eval_losses.clear()
            self.device, self.mode, self.train_examples = event.device, event.mode, event.train_examples
            if event.dataset:
                self.notes = dataset_notes(event.dataset)
        elif isinstance(event, Stepped):
            if event.loss is not None:
                self.losses.append(float(event.loss))
            self.epoch, self.eta, self.tokens_per_s = event.epoch, event.eta, event.tokens_per_s
        elif isinstance(event, Evaluated) and event.eval_loss is not None:
            self.eval_losses.append(float(event.eval_loss))
        elif isinstance(event, Exporting):
            self.export_stage, self.export_message = event.stage, event.message
        elif isinstance(event, Finished):
            self.export_done, self.finished = True, event
            self.agent = f"v{event.version}" if event.version is not None else event.agent
        elif isinstance(event, (Failed, Interrupted)):
            self.message = event.message or event.kind
        line = describe(event)
        if line:
            self.log.append(line)

    def apply_record(self, record: dict[str, Any]) -> TrainingEvent | None:
        event = parse_event(record)
        if event is not None:
            self.apply(event)
        return event

    @property
    def terminal(self) -> TrainingEvent | None:
        """The event that ended the process (done, failed, interrupted), once it came."""
        return self.last if self.last is not None and self.last.kind in TERMINAL else None


def read_transcript(run: Any | None) -> TrainingTranscript:
    """The transcript of a run folder as it stands now (`finetune.runs.Run`), or an empty one."""
    transcript = TrainingTranscript()
    if run is None:
        return transcript
    transcript.run, transcript.status = run.folder, run.status
    for record in run.events():
        transcript.apply_record(record)
    transcript.alive = run.alive()
    transcript.pid = run.pid() if transcript.alive else None
    if transcript.status == "running" and not transcript.alive:
        transcript.status = "stopped"
        transcript.message = "the training process is gone; resume from its last checkpoint"
    elif transcript.alive:
        transcript.status = "running"
    return transcript
