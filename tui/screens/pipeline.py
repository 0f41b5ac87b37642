"""The pipeline panel: distill (intents, drafts, rules), train, export, in one place.

What it shows is `Workspace.pipeline_state`, read from disk (store + run folder) on every
tick, so it is true after leaving and coming back, restarting the app, or training from
`pa train` in another terminal (the run folder says whether its process is alive). Distillation
runs in an async worker here; training runs in its own process and its events are folded by
the same `TrainingTranscript` that `pa train` renders. Cancel stops distillation between calls
and asks training to checkpoint (SIGINT), whoever started it; start again resumes both.
"""

from __future__ import annotations

import asyncio
import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Log, Static
from textual.worker import Worker, WorkerState

from core.events import Progress
from core.pipeline_state import DISTILL_STAGES, STAGE_TITLES, PipelineState
from tui.messages import ProgressReported
from tui.screens.base import PaScreen
from tui.widgets.stage_row import StageRow, format_seconds, format_tokens

TICK_SECONDS = 0.5


class PipelineScreen(PaScreen):
    MODE = "pipeline"
    AUTO_FOCUS = "#pipeline-log"
    """Not the limit box: the panel's letter keys (s, t, x) must reach the screen."""
    BINDINGS = [
        Binding("s", "start", "Start / resume"),
        Binding("t", "train_now", "Train now", tooltip="Stop distilling and train on what is done"),
        Binding("x", "cancel", "Cancel"),
        Binding("l", "focus_limit", "Limit", tooltip="Set how many documents to distil"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.state: PipelineState | None = None
        self.live: dict[str, Progress] = {}
        """The latest Progress per distill stage from the running worker (tokens, errors)."""
        self._rates: dict[str, tuple[float, int]] = {}
        self._log_lines_shown = 0
        self._shown_profile: str | None = None
        """The profile whose log and counts are on screen (another one clears them)."""
        self._outcome: str | None = None
        """How the last run in this panel ended (cancelled, failed), until the next start."""
        self._stopping = False
        self._train_after_cancel = False

    def compose_body(self) -> ComposeResult:
        from textual_plotext import PlotextPlot

        with Vertical(id="pipeline"):
            with Horizontal(id="distill-limit-row"):
                yield Label("documents to distil", id="distill-limit-label")
                yield Input(placeholder="all", type="integer", id="distill-limit", compact=True)
                yield Static("", id="distill-limit-note")
            for stage, _, _ in DISTILL_STAGES:
                yield StageRow(stage, STAGE_TITLES[stage])
            yield StageRow("training", "training")
            yield StageRow("export", "export")
            yield PlotextPlot(id="loss-chart")
            yield Log(id="pipeline-log", max_lines=200)
            yield Static("", id="pipeline-status")

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        # is_current, not `app.screen is self`: a tick may land while the app is closing (no screen at all)
        if self.is_current and (self._busy() or (self.state and self.state.training.status == "running")):
            self.reload()

    def _busy(self) -> bool:
        return any(w.group == "pipeline" and w.is_running for w in self.workers)

    # -- showing the true state ----------------------------------------------------------------

    def reload(self) -> None:
        profile = self.session.profile
        if profile != self._shown_profile:
            self._forget_shown()
            self._shown_profile = profile
        if not profile or not self.workspace.has_profile(profile):
            self.state = None
            self.query_one("#pipeline-status", Static).update("No profile: pick one on the Profiles screen (F2).")
            return
        self.state = self.workspace.pipeline_state(profile)
        self._show(self.state)

    def _forget_shown(self) -> None:
        """Another profile is chosen: nothing of the previous one's log, tokens or curve stays."""
        self.live.clear()
        self._rates.clear()
        self._log_lines_shown = 0
        self._outcome = None
        self.query_one(Log).clear()
        for stage, _, _ in DISTILL_STAGES:
            self.query_one(f"#stage-{stage}", StageRow).show(0, None, "")
        self.query_one("#stage-training", StageRow).show(0, None, "")
        self.query_one("#stage-export", StageRow).show(0, None, "")
        self._show_loss([])

    def limit(self) -> int | None:
        """The documents-to-distil limit typed in the panel (None: all of them)."""
        text = self.query_one("#distill-limit", Input).value.strip()
        try:
            value = int(text) if text else None
        except ValueError:
            value = None
        return value if value and value > 0 else None

    def action_focus_limit(self) -> None:
        self.query_one("#distill-limit", Input).focus()

    @on(Input.Submitted, "#distill-limit")
    def _limit_submitted(self) -> None:
        self.set_focus(None)
        if self.state is not None:
            self._show(self.state)

    @on(Input.Changed, "#distill-limit")
    def _limit_changed(self) -> None:
        if self.state is not None:
            self._show(self.state)

    def _show(self, state: PipelineState) -> None:
        for count, (stage, label, _) in zip(state.stages, DISTILL_STAGES):
            live = self.live.get(label)
            parts = [f"{count.done}/{count.total}"]
            if count.failed:
                parts.append(f"{count.failed} failed")
            if live is not None:
                parts.append(f"{format_tokens(live.tokens)} tok")
                eta = self._eta(label, live.done, live.total)  # what this run was asked to do (the limit)
                if eta is not None and live.done < live.total:
                    parts.append(f"ETA {format_seconds(eta)}")
                if live.cost:
                    parts.append(f"${live.cost:.2f}")
            self.query_one(f"#stage-{stage}", StageRow).show(count.done, count.total, " · ".join(parts))
        training = state.training
        detail = [training.status]
        if training.total:
            detail.insert(0, f"{training.step}/{training.total}")
        if training.losses:
            detail.append(f"loss {training.losses[-1]:.3f}")
        if training.status == "running" and training.eta is not None:
            detail.append(f"ETA {format_seconds(training.eta)}")
        if training.tokens_per_s:
            detail.append(f"{training.tokens_per_s:.0f} tok/s")
        self.query_one("#stage-training", StageRow).show(training.step, training.total, " · ".join(detail))
        export_done = 1 if training.export_done else 0
        export_detail = f"agent {training.agent}" if training.export_done else (training.export_stage or "waiting")
        self.query_one("#stage-export", StageRow).show(export_done, 1, export_detail)
        self._show_loss(training.losses)
        log = self.query_one(Log)
        for line in training.log[self._log_lines_shown :]:
            log.write_line(line)
        self._log_lines_shown = len(training.log)
        self.query_one("#pipeline-status", Static).update(self._status_line(state))
        limit = self.limit()
        note = (
            f"of {state.documents}: the first {min(limit, state.documents)} by import order"
            if limit
            else f"of {state.documents} (type a number to stop sooner; t trains on what is done)"
        )
        self.query_one("#distill-limit-note", Static).update(note)

    def _show_loss(self, losses: list[float]) -> None:
        from textual_plotext import PlotextPlot

        chart = self.query_one("#loss-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.title("training loss")
        if losses:
            plt.plot(list(range(1, len(losses) + 1)), losses, marker="braille")
        chart.refresh()

    def _status_line(self, state: PipelineState) -> str:
        if not state.documents:
            return "No documents: import a corpus first (F3)."
        if self._stopping:
            return "Stopping… the call in flight finishes, work done so far is kept."
        if self._busy():
            return "Running… x cancels, t trains on what is done (work done so far is kept)."
        training = state.training
        if training.status == "running":
            return f"Training in its own process (pid {training.pid})… x asks it to stop at a checkpoint."
        if training.status == "done":
            return f"Agent {training.agent} is ready: draft with it (F5)."
        if training.status == "stopped":
            return "Training stopped: its process is gone; s resumes from its last checkpoint."
        if training.status in ("interrupted", "failed"):
            return f"Training {training.status}: {training.message or ''} s resumes."
        if self._outcome:
            return self._outcome
        if state.distilled:
            return "Distilled. s trains the agent."
        if any(stage.done for stage in state.stages):
            return "Partly distilled. s continues, t trains on what is done."
        return "s starts (or resumes) distillation, then training."

    def _eta(self, label: str, done: int, total: int) -> float | None:
        started = self._rates.get(label)
        if started is None:
            self._rates[label] = (time.perf_counter(), done)
            return None
        began, done_then = started
        elapsed, progressed = time.perf_counter() - began, done - done_then
        return elapsed / progressed * (total - done) if progressed > 0 else None

    # -- running ---------------------------------------------------------------------------------

    @on(ProgressReported)
    def _progress_reported(self, message: ProgressReported) -> None:
        self.live[message.progress.stage] = message.progress
        if self.state is not None:
            self._show(self.state)

    def action_start(self) -> None:
        if self._busy():
            self.notify("already running; x cancels", severity="warning", timeout=3)
            return
        if self.state is None:
            self.notify("pick a profile first (F2)", severity="warning", timeout=4)
            return
        if self.state.training.status == "running":
            self.notify("training is running in its own process; x stops it", severity="warning", timeout=4)
            return
        self.live.clear()
        self._rates.clear()
        self._outcome = None
        self.run_pipeline(self.session.require_profile(), self.limit())

    def action_train_now(self) -> None:
        """Stop distilling (if it runs) and train on the documents distilled so far."""
        if self.state is None:
            self.notify("pick a profile first (F2)", severity="warning", timeout=4)
            return
        if not any(stage.ok for stage in self.state.stages):
            self.notify(
                "nothing distilled yet: s starts distilling (set a limit first to stop sooner)",
                severity="warning",
                timeout=5,
            )
            return
        if self.state.training.status == "running":
            self.notify("training is already running", severity="warning", timeout=3)
            return
        if self._busy():
            self._train_after_cancel = True
            self._stopping = True
            self.workers.cancel_group(self, "pipeline")
            self.query_one("#pipeline-status", Static).update(self._status_line(self.state))
            return
        self._outcome = None
        self.run_training(self.session.require_profile())

    @work(exclusive=True, group="pipeline", exit_on_error=False)
    async def run_training(self, profile: str) -> None:
        self.query_one(Log).write_line("training on what is distilled so far")
        await self._train(profile, fresh=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The status line follows the worker: when it ends, say how, and re-read the truth.
        (Textual also calls ForwardsWorkerFailures' handler, which reports a failure once.)"""
        if event.worker.group != "pipeline":
            return
        if event.state is WorkerState.RUNNING:
            self.reload()
            return
        if event.state not in (WorkerState.CANCELLED, WorkerState.ERROR, WorkerState.SUCCESS):
            return
        self._stopping = False
        if event.state is WorkerState.CANCELLED:
            self._outcome = "Cancelled: work done so far is kept; s resumes, t trains on what is done."
        elif event.state is WorkerState.ERROR:
            from tui.hints import describe_error

            self._outcome = f"Failed: {describe_error(event.worker.error)}; s tries again."
        self.reload()
        if self._train_after_cancel and event.state is WorkerState.CANCELLED:
            self._train_after_cancel = False
            self._outcome = None
            self.run_training(self.session.require_profile())

    @work(exclusive=True, group="pipeline", exit_on_error=False)
    async def run_pipeline(self, profile: str, limit: int | None = None) -> None:
        workspace = self.workspace
        state = workspace.pipeline_state(profile)
        log = self.query_one(Log)
        new_work = False
        if not state.distilled:
            chosen = min(limit, state.documents) if limit else state.documents
            log.write_line(f"distilling {chosen} of {state.documents} documents with {workspace.config.models.large}")
            large = await asyncio.to_thread(workspace.open_backend)
            summary = await workspace.distill(
                profile, large=large, limit=limit, on_progress=lambda p: self.post_message(ProgressReported(p))
            )
            failed = sum(stats.failed for stats in summary.stages.values())
            log.write_line(f"distilled in {summary.seconds:.1f} s ({summary.calls} calls, {failed} failed)")
            new_work = summary.calls > 0
            self.reload()
        if self.state is not None and self.state.training.status == "done" and not new_work:
            self.notify("the agent is trained on everything distilled; t trains it again", timeout=5)
            return
        await self._train(profile)

    async def _train(self, profile: str, fresh: bool = False) -> None:
        training = self.state.training if self.state else None
        log = self.query_one(Log)
        resume = not fresh and training is not None and training.status in ("interrupted", "failed", "stopped")
        run, process = await asyncio.to_thread(self.workspace.start_training, profile, "agent", resume=resume)
        log.write_line(f"{'resuming' if resume else 'starting'} training in {run.folder.name}")
        self._log_lines_shown = 0
        try:
            while process.poll() is None:
                await asyncio.sleep(TICK_SECONDS)
        except asyncio.CancelledError:
            self.workspace.stop_training(profile)
            raise
        finally:
            self.reload()
        if process.returncode != 0:
            training = self.state.training if self.state else None
            from core.errors import PaError

            raise PaError(
                f"training stopped: {training.message if training and training.message else 'see train.log in ' + str(run.folder)}"
            )
        self.notify("agent trained and exported", timeout=5)

    def action_cancel(self) -> None:
        profile = self.session.profile
        stopped = False
        if self._busy():
            self.workers.cancel_group(self, "pipeline")
            stopped = True
        elif profile and self.state and self.state.training.status == "running":
            stopped = self.workspace.stop_training(profile)
        if stopped:
            self._stopping = self._busy()
            if self.state is not None:
                self.query_one("#pipeline-status", Static).update(
                    self._status_line(self.state)
                    if self._stopping
                    else "Asked training to stop at its next checkpoint; s resumes from it."
                )
            self.notify("stopping; press s to resume later", timeout=4)
        else:
            self.notify("nothing is running", severity="warning", timeout=3)
