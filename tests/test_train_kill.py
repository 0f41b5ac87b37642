"""`pa train` killed with -9 at any moment: one logical run, resumable, and one agent from it.

The real command runs in its own process and starts the real trainer (tiny base model of
tests/tiny_agent.py); the test kills it with SIGKILL, as a crash, the OOM killer or a closed
terminal would, then resumes with `pa train --resume`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.agents import list_agents
from core.paths import resolve_paths
from finetune.runs import Run, runs_of
from tests.tiny_agent import seed_home

REPO = Path(__file__).resolve().parent.parent
TRAIN = ["train", "--profile", "tiny", "--kind", "agent", "--quant", "q8_0"]


def start_pa_train() -> subprocess.Popen:
    """`pa train` in its own process group (the test's PA_HOME), as a user starts it in a terminal."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", *TRAIN, "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def wait_for_event(kind: str, parent: subprocess.Popen, timeout: float = 180) -> Run:
    """The profile's run once its progress has an event of `kind` (the command still running)."""
    paths = resolve_paths()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = runs_of(paths, "tiny", "agent")
        if runs and any(event["event"] == kind for event in runs[-1].events()):
            return runs[-1]
        assert parent.poll() is None, parent.stderr.read().decode()[-2000:] if parent.stderr else ""
        time.sleep(0.02)
    raise AssertionError(f"no {kind!r} event within {timeout} s")


def wait_until_released(run: Run, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while run.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not run.alive(), "the trainer outlived its parent"


def test_a_trainer_whose_parent_is_killed_before_export_publishes_nothing_and_resume_makes_the_one_agent(
    pa, tiny_trained_agent
):
    paths = seed_home(resolve_paths(), tiny_trained_agent.base_folder, epochs=2, batch_size=6, max_length=256)
    parent = start_pa_train()
    run = wait_for_event("trained", parent)  # training is over; the export (seconds) is starting
    os.kill(parent.pid, signal.SIGKILL)  # the `pa train` process alone: its trainer is orphaned
    parent.wait()

    resumed = pa(*TRAIN, "--resume")  # at once: it lets the orphaned trainer stop before taking the run
    assert resumed.exit_code == 0, resumed.stderr
    events = run.events()
    stopped = next(i for i, e in enumerate(events) if e["event"] == "interrupted")
    assert "nothing was published" in events[stopped]["message"]
    assert not any(e["event"] == "done" for e in events[:stopped]), "the orphan exported an agent"
    assert [e["event"] for e in events[stopped + 1 :]][:2] == ["preparing", "start"]
    assert "tiny/agent/v1" in resumed.stdout
    assert [(a.kind, a.version) for a in list_agents(paths, "tiny")] == [("agent", 1)]
    assert [r.folder for r in runs_of(paths, "tiny", "agent")] == [run.folder] and run.status == "done"
    assert not [p for p in paths.data_dir.rglob("*") if p.name.endswith(".partial")]

    again = pa(*TRAIN, "--resume")  # a resume of the finished run reports its agent, exports nothing
    assert again.exit_code == 0 and "tiny/agent/v1" in again.stdout, again.stderr
    assert [a.version for a in list_agents(paths, "tiny")] == [1]


def test_a_run_killed_before_its_first_checkpoint_trains_again_in_the_same_run_on_resume(pa, tiny_trained_agent):
    paths = seed_home(resolve_paths(), tiny_trained_agent.base_folder, epochs=2, batch_size=6, max_length=256)
    parent = start_pa_train()
    run = wait_for_event("preparing", parent)  # the trainer is loading the base model
    os.killpg(parent.pid, signal.SIGKILL)  # `pa train` and its trainer both, as a closed terminal
    parent.wait()
    wait_until_released(run)
    assert not (run.folder / "checkpoint").exists() and not (run.folder / "checkpoint.old").exists()

    resumed = pa(*TRAIN, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    events = run.events()
    restart = [i for i, e in enumerate(events) if e["event"] == "start"][-1]
    assert events[restart]["step"] == 0 and not events[restart]["resumed"]
    assert any("before its first checkpoint" in e.get("message", "") for e in events[:restart])
    assert [e["step"] for e in events[restart:] if e["event"] == "step"] == [1, 2]
    assert [r.folder for r in runs_of(paths, "tiny", "agent")] == [run.folder] and run.status == "done"
    assert [(a.kind, a.version) for a in list_agents(paths, "tiny")] == [("agent", 1)]


HOLDER = """
import fcntl, sys, time
handle = open(sys.argv[1], "a+b")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_resume_right_after_the_kill_waits_for_the_orphaned_trainer_instead_of_refusing():
    import json

    from finetune.runs import resumable_run

    paths = resolve_paths()
    folder = paths.runs_dir("tiny") / "agent-20260101-000000"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"profile": "tiny", "kind": "agent"}), encoding="utf-8")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # the `pa train` that started the trainer: dead and reaped
    (folder / "parent").write_text(str(gone.pid), encoding="ascii")
    trainer = subprocess.Popen(  # the orphan, holding the run while it checkpoints
        [sys.executable, "-c", HOLDER, str(folder / "train.lock"), "1.5"], stdout=subprocess.PIPE, text=True
    )
    assert trainer.stdout is not None and trainer.stdout.readline().strip() == "held"
    assert Run(folder).alive() and Run(folder).orphaned()
    started = time.monotonic()
    assert resumable_run(paths, "tiny", "agent").folder == folder
    assert time.monotonic() - started > 0.5 and not Run(folder).alive()
    trainer.wait()
