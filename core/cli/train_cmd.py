"""`pa train` (fine-tune and export a profile's small model), `pa agents list` and `pa agents use`.

Training runs in its own process (`python -m finetune.train RUN`); this command starts it,
renders the JSON-lines progress it writes in the run folder, and prints the final table.
Ctrl-C reaches the training process too: it finishes its step, checkpoints and stops, and
`--resume` continues from there. `--update` continues the current agent's adapter on what it
has not learned yet (edits, new texts) and exports a new version; `pa agents use N` picks the
version drafts use (rollback).
"""

from __future__ import annotations

import signal
from enum import Enum
from typing import TYPE_CHECKING, Any

import typer

from core.agents import KINDS
from core.cli import common
from finetune.runs import QUANTS


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A click choice enum made from one of the core's tables, so the two cannot drift apart."""
    return Enum(name, {value.replace("-", "_"): value for value in values}, type=str)  # type: ignore[return-value]


if TYPE_CHECKING:  # mypy cannot follow Enum's functional API: to it these are plain enums
    from core.agents import AgentInfo
    from core.workspace import Workspace
    from finetune.runs import Run
    from finetune.transcript import Finished, TrainingTranscript

    KindChoice = Enum
    QuantChoice = Enum
else:
    KindChoice = choices("KindChoice", KINDS)
    QuantChoice = choices("QuantChoice", QUANTS)


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    agents = typer.Typer(help="Trained preference agents and baselines.", no_args_is_help=True)
    agents.command("list")(agents_list)
    agents.command("use")(agents_use)
    app.add_typer(agents, name="agents")


def train_cmd(
    profile: str = typer.Option(..., "--profile", "-p", help="The profile whose distilled data to train on."),
    kind: KindChoice = typer.Option(
        "agent",
        "--kind",
        "-k",
        help="agent: intent -> rules; naive: intent -> text; no-baseline: intent -> rules without a zero-shot draft.",
    ),
    quant: QuantChoice = typer.Option(
        "auto",
        "--quant",
        "-q",
        help="GGUF type of the exported model; auto: q8_0 when k-quants do not fit the rows (SmolLM2), else q4_k_m.",
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", "-e", min=1, help="Passes over the data (default: train.epochs in config)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the last run of this kind: from its checkpoint, from its start when it was killed before one; a finished run only shows its agent.",
    ),
    update: bool = typer.Option(
        False,
        "--update",
        help="Continue the current agent's adapter on the examples it has not seen (edits, weighted as recent; "
        "new distilled texts) and export a new version; the old one stays (`pa agents use` rolls back).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print progress events and the result as JSON lines."),
) -> None:
    """Fine-tune the profile's small model with LoRA and export it to GGUF (resumable)."""
    from core.errors import PaError
    from finetune.transcript import Failed, Finished, Interrupted, TrainingTranscript

    if update and not resume:  # the two together are refused below, before any model loads
        _learn_pending_edits(profile, as_json)
    with common.open_workspace() as workspace, workspace.writer(profile, "pa train"):  # one writer per profile
        run, process = workspace.start_training(
            profile, kind.value, resume=resume, quant=quant.value, epochs=epochs, update=update
        )
        resume_hint = f"continue with `pa train --profile {profile} --kind {kind.value} --resume`"
        transcript = TrainingTranscript(run=run.folder)
        try:
            _follow(workspace, run, process, transcript, as_json)
        except KeyboardInterrupt:
            # The terminal sent SIGINT to the training process too; make sure, then let it checkpoint.
            process.send_signal(signal.SIGINT)
            process.wait()
            common.err_console.print(f"training stopped and checkpointed; {resume_hint}")
            raise
    code = process.wait()
    final = transcript.terminal
    if final is None or isinstance(final, Failed):
        message = (
            getattr(final, "message", "") or f"training process exited with code {code}; see {run.folder / 'train.log'}"
        )
        raise PaError(message)
    if isinstance(final, Interrupted):
        common.err_console.print(f"training stopped at step {final.step}/{final.total}; {resume_hint}")
        raise KeyboardInterrupt
    if as_json:
        return
    assert isinstance(final, Finished)
    _print_result(run, final)


def _learn_pending_edits(profile: str, quiet: bool) -> None:
    """Before an update: learn rules from the sent texts not learned from yet (`drafting.learn_from_edits`)."""
    from core.cli.feedback_cmd import learn_now

    with common.open_workspace() as workspace:
        if workspace.config.drafting.learn_from_edits and workspace.pending_edits(profile):
            learn_now(workspace, profile, quiet)


def agents_list(
    profile: str = typer.Option(..., "--profile", "-p"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a profile's trained models (every kind and version)."""
    with common.open_workspace() as workspace:
        found = workspace.agents(profile)
        current = {kind: workspace.current_agent(profile, kind) for kind in KINDS}
    in_use = {(a.kind, a.version) for a in current.values() if a is not None}
    if as_json:
        common.print_json([{**_agent_row(a), "current": (a.kind, a.version) in in_use} for a in found])
        return
    if not found:
        common.console.print(f"no trained models for {profile!r}; train one with `pa train --profile {profile}`")
        return
    from rich.table import Table

    table = Table("kind", "version", "current", "from", "quant", "size", "eval loss", "examples", "created", "file")
    for agent in found:
        row = _agent_row(agent)
        table.add_row(
            agent.kind,
            f"v{agent.version}",
            "*" if (agent.kind, agent.version) in in_use else "",
            row["updated_from"] or "-",
            row["quant"] or "-",
            _size(row["size_bytes"]),
            _loss(row["eval_loss"]),
            str(row["train_examples"] or "-"),
            row["created_at"] or "-",
            str(agent.gguf),
        )
    common.console.print(table)


def agents_use(
    version: str = typer.Argument(..., help="The version drafts should use: 2 or v2 (see `pa agents list`)."),
    profile: str = typer.Option(..., "--profile", "-p"),
    kind: KindChoice = typer.Option("agent", "--kind", "-k", help="Which kind of model."),
) -> None:
    """Pick the agent version drafts use: roll back to an older one, or forward again (nothing is deleted)."""
    with common.open_workspace() as workspace:
        agent = workspace.use_agent(profile, version, kind.value)
    common.console.print(f"{agent.label} is now the {agent.kind} drafts use ({agent.gguf})")


def _follow(workspace: Workspace, run: Run, process: Any, transcript: TrainingTranscript, as_json: bool) -> None:
    """Render the run's events (folded into `transcript`) until the process exits."""
    import json

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from finetune.transcript import Evaluated, Exporting, Preparing, Started, Stepped

    if as_json:
        for event in workspace.follow_training(run, process, transcript):
            print(json.dumps(event.to_record(), ensure_ascii=False), flush=True)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=common.err_console, transient=False) as bar:
        task = bar.add_task(f"training {run.kind}", total=None, info="loading")
        for event in workspace.follow_training(run, process, transcript):
            if isinstance(event, Preparing):
                bar.update(task, info=event.message)
            elif isinstance(event, Started):
                bar.update(
                    task, total=event.total, completed=event.step, info=f"{event.train_examples} examples, {event.mode}"
                )
                for note in transcript.notes:
                    common.err_console.print(f"[yellow]{note}[/]")
            elif isinstance(event, Stepped):
                bar.update(
                    task,
                    completed=event.step,
                    info=(
                        f"epoch {event.epoch}  loss {_loss(event.loss)}  eval {_loss(event.eval_loss)}  "
                        f"{event.tokens_per_s or 0:.0f} tok/s  eta {_duration(transcript.eta)}"
                    ),
                )
            elif isinstance(event, Evaluated):
                common.err_console.print(f"epoch {event.epoch}: eval loss {_loss(event.eval_loss)}")
            elif isinstance(event, Exporting):
                bar.update(task, info=f"export: {event.message}")


def _print_result(run: Run, final: Finished) -> None:
    from pathlib import Path

    from rich.table import Table

    from core.agents import read_agent

    spec = run.spec
    agent = read_agent(Path(final.agent), spec["profile"], spec["kind"])
    manifest = agent.manifest if agent else {}
    training = manifest.get("training", {})
    losses = training.get("eval_losses") or []
    table = Table(title=f"{spec['profile']}/{spec['kind']}/v{final.version}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("model file", final.gguf)
    table.add_row("quantization", str(final.quant))
    table.add_row("size", _size(final.size))
    table.add_row("base", str(manifest.get("base_model", {}).get("spec")))
    table.add_row(
        "examples", f"{manifest.get('dataset', {}).get('train')} train, {manifest.get('dataset', {}).get('eval')} eval"
    )
    table.add_row("steps", str(training.get("steps")))
    if manifest.get("updated_from"):
        table.add_row("continued from", f"{manifest['updated_from']} (its adapter; `pa agents use` rolls back)")
    table.add_row("train loss", _loss(training.get("final_train_loss")))
    table.add_row("eval loss", " -> ".join(_loss(x) for x in losses) if losses else "-")
    table.add_row("training time", _duration(training.get("train_seconds")))
    table.add_row("throughput", f"{training.get('tokens_per_s')} tok/s on {training.get('device')}")
    table.add_row("run folder", str(run.folder))
    common.console.print(table)


def _agent_row(agent: AgentInfo) -> dict[str, Any]:
    manifest = agent.manifest
    losses = (manifest.get("training") or {}).get("eval_losses") or []
    return {
        "profile": agent.profile,
        "kind": agent.kind,
        "version": agent.version,
        "gguf": str(agent.gguf),
        "quant": manifest.get("quant"),
        "size_bytes": manifest.get("size_bytes"),
        "eval_loss": losses[-1] if losses else None,
        "train_examples": (manifest.get("dataset") or {}).get("train"),
        "created_at": manifest.get("created_at"),
        "base_model": (manifest.get("base_model") or {}).get("spec"),
        "sha256": manifest.get("sha256"),
        "updated_from": manifest.get("updated_from"),
        "steps": (manifest.get("training") or {}).get("steps"),
    }


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _size(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MiB"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )
