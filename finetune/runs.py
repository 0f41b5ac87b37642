"""Training runs on disk: prepare a run folder, start the training process, follow its progress.

Light (no torch): the CLI and the TUI use it. A run folder holds

    run.json         what to train (profile, kind, base, hyperparameters, export quant)
    data/            the dataset collected from the store (train.jsonl, eval.jsonl, dataset.json)
    progress.jsonl   one JSON object per line, appended while training runs (see below)
    checkpoint/      the latest resumable state (adapter, optimizer, position)
    adapter/         the final LoRA adapter
    status           `running` | `interrupted` | `failed` | `done`
    train.lock       held (flock) by the one training process working on the run
    pid, heartbeat   that process's id, and the time it last said it was alive
    parent           the id of the process that started it (it stops once that one is gone)

Progress lines have an `event`: `start`, `step` (step, total, epoch, loss, eval_loss, lr,
tokens_per_s, elapsed, eta), `eval`, `checkpoint`, `interrupted`, `trained`, `export`,
`done` (agent folder, gguf, version) or `failed` (message). Any UI tails the file and folds
the events with `finetune.transcript.TrainingTranscript`.

Whether a run is alive is read from the folder, not remembered by whoever started it: the
training process holds `train.lock` while it works, so `pa train`, the TUI, or a second copy
of either all see the same truth, and a second trainer on a live run is refused.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.agents import AgentInfo, validate_kind
from core.config import Config, TrainConfig
from core.context_window import AgentBudget
from core.errors import TrainingBusyError, UsageError
from core.paths import Paths
from core.store import Store
from finetune.dataset import Dataset, collect_for_training
from finetune.memory import training_environment

QUANTS = ("auto", "q8_0", "q4_k_m", "f16", "f32")
RUN_FILE = "run.json"
PROGRESS_FILE = "progress.jsonl"
STATUS_FILE = "status"
LOCK_FILE = "train.lock"
PID_FILE = "pid"
HEARTBEAT_FILE = "heartbeat"
PARENT_FILE = "parent"
ORPHAN_WAIT_SECONDS = 60.0
"""How long `--resume` waits for a trainer whose starter was killed to stop at its checkpoint."""
HEARTBEAT_SECONDS = 2.0


@dataclass(frozen=True)
class Run:
    folder: Path

    @property
    def spec(self) -> dict[str, Any]:
        return json.loads((self.folder / RUN_FILE).read_text(encoding="utf-8"))

    @property
    def status(self) -> str:
        try:
            return (self.folder / STATUS_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return "new"

    @property
    def progress_file(self) -> Path:
        return self.folder / PROGRESS_FILE

    def events(self) -> list[dict[str, Any]]:
        return list(read_events(self.progress_file))

    @property
    def kind(self) -> str:
        return str(self.spec["kind"])

    def alive(self) -> bool:
        """A training process holds this run's lock right now (whoever started it)."""
        return lock_is_held(self.folder / LOCK_FILE)

    def pid(self) -> int | None:
        """The id of the process that last trained this run (see `alive()` before trusting it)."""
        try:
            return int((self.folder / PID_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def orphaned(self) -> bool:
        """Alive, while the process that started it is gone (kill -9): it is stopping at a checkpoint by itself."""
        try:
            parent = int((self.folder / PARENT_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return False
        if not self.alive():
            return False
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def wait_while_orphaned(self, timeout: float = ORPHAN_WAIT_SECONDS) -> None:
        """A resume right after a kill: let the orphaned trainer finish its step and checkpoint first."""
        deadline = time.monotonic() + timeout
        while self.orphaned() and time.monotonic() < deadline:
            time.sleep(0.2)

    def heartbeat_age(self) -> float | None:
        """Seconds since the training process last wrote its heartbeat (None: never)."""
        try:
            return max(0.0, time.time() - float((self.folder / HEARTBEAT_FILE).read_text(encoding="ascii")))
        except (OSError, ValueError):
            return None

    def refuse_if_alive(self) -> None:
        """A second trainer on a live run would corrupt its checkpoint: say who has it instead."""
        if self.alive():
            pid = self.pid()
            raise TrainingBusyError(
                f"{self.folder.name} is already being trained by process {pid or '?'}; follow it in pa-tui (F4) "
                f"or stop it (Ctrl-C in its terminal, x in pa-tui) before starting another"
            )

    def stop(self) -> bool:
        """Ask the live training process to checkpoint and stop (SIGINT); False when none runs."""
        pid = self.pid()
        if not self.alive() or pid is None:
            return False
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        return True


def lock_is_held(file: Path) -> bool:
    """True when some process holds an exclusive flock on `file` (a missing file: nobody)."""
    import fcntl

    try:
        handle = file.open("rb")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return True
            raise
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def runs_of(paths: Paths, profile: str, kind: str) -> list[Run]:
    """The profile's run folders of `kind`, oldest first."""
    folders = sorted(paths.runs_dir(profile).glob(f"{kind}-*"), key=lambda p: p.name)
    return [Run(folder) for folder in folders if (folder / RUN_FILE).is_file()]


def latest_run(paths: Paths, profile: str, kind: str = "agent") -> Run | None:
    runs = runs_of(paths, profile, kind)
    return runs[-1] if runs else None


def live_run(paths: Paths, profile: str, kind: str) -> Run | None:
    """The run of this profile and kind that a training process holds now, if any."""
    return next((run for run in reversed(runs_of(paths, profile, kind)) if run.alive()), None)


def prepare_run(
    paths: Paths,
    store: Store,
    config: Config,
    profile: str,
    kind: str = "agent",
    *,
    quant: str = "auto",
    epochs: int | None = None,
    dataset: Dataset | None = None,
    train: TrainConfig | None = None,
    extra: dict[str, Any] | None = None,
) -> Run:
    """Collect the dataset (fails fast when there is none) and write a new run folder.

    `dataset`, `train` and `extra` (more keys for run.json) are for runs that choose their own
    examples and settings: `pa train --update` (finetune.update)."""
    validate_kind(kind)
    busy = live_run(paths, profile, kind)
    if busy is not None:
        busy.refuse_if_alive()
    if quant not in QUANTS:
        raise UsageError(f"--quant {quant!r} is not one of {', '.join(QUANTS)}")
    if train is None:
        train = config.train.model_copy(update={"epochs": epochs}) if epochs else config.train
    if dataset is None:
        dataset = collect_for_training(store, profile, kind, train)
    folder = paths.runs_dir(profile) / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = folder.with_name(f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}")
    dataset.save(folder / "data")
    spec = {
        "profile": profile,
        "kind": kind,
        "quant": quant,
        "train": train.model_dump(),
        "threads": train.threads,
        "data_hash": dataset.data_hash,
        "agent_answer_tokens": AgentBudget.of(config).answer,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    (folder / RUN_FILE).write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return Run(folder)


def resumable_run(paths: Paths, profile: str, kind: str) -> Run:
    """The newest run of this kind, for `--resume`: one logical run, whatever stopped it.

    An unfinished run continues from its checkpoint, or from its first step when it was
    stopped (kill -9) before writing one; a finished run only reports the agent it made
    (`published_agent`). Never an older run, never a new one: a resume after a crash makes
    no second agent version.
    """
    runs = runs_of(paths, profile, kind)
    if not runs:
        raise UsageError(
            f"no unfinished {kind} training run for profile {profile!r} to resume; "
            f"start one with `pa train --profile {profile} --kind {kind}`"
        )
    run = runs[-1]
    run.wait_while_orphaned()
    run.refuse_if_alive()
    return run


def published_agent(paths: Paths, run: Run) -> AgentInfo | None:
    """The agent this run already exported (its manifest names the run folder), if any.

    Export publishes an agent folder whole (one rename); a crash after that rename and before
    the run's status says `done` must not export a second version from the same run.
    """
    from core.agents import list_agents

    spec = run.spec
    folder = run.folder.resolve()
    for agent in reversed(list_agents(paths, spec["profile"], spec["kind"])):
        recorded = agent.manifest.get("run")
        if isinstance(recorded, str) and Path(recorded).resolve() == folder:
            return agent
    return None


def start_training(run: Run, *, resume: bool = False) -> subprocess.Popen:
    """Run training (then export) in its own Python process; it reports through the run folder.

    Refused when another process trains this run. The child watches this process and stops at
    a checkpoint when it goes away, and never exports after it is gone (finetune.train), so no
    trainer outlives the view that started it unseen and no agent appears that nobody asked for.
    Its malloc returns freed activations to the system (finetune.memory).
    """
    run.refuse_if_alive()
    command = [sys.executable, "-m", "finetune.train", str(run.folder), "--parent", str(os.getpid())]
    if resume:
        command.append("--resume")
    with (run.folder / "train.log").open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=training_environment(os.environ))


def watch(run: Run, process: subprocess.Popen, poll_seconds: float = 0.3) -> Iterator[dict[str, Any]]:
    """Events of a running training process as they arrive, until it exits (then the rest)."""
    offset = 0
    while True:
        finished = process.poll() is not None
        for new_offset, event in follow_events(run.progress_file, offset):
            offset = new_offset
            yield event
        if finished:
            return
        time.sleep(poll_seconds)


def read_events(file: Path, offset: int = 0) -> Iterator[dict[str, Any]]:
    """Complete JSON lines from `offset` on (a half-written last line is left for later)."""
    for _, event in follow_events(file, offset):
        yield event


def follow_events(file: Path, offset: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """(offset after the line, event) pairs; pass the last offset back to continue tailing."""
    try:
        with file.open("rb") as handle:
            handle.seek(offset)
            while True:
                line = handle.readline()
                if not line.endswith(b"\n"):
                    return
                offset += len(line)
                try:
                    yield offset, json.loads(line)
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        return
