"""`pa train` and `pa agents list` through the real training process, on the tiny base model."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from core.config import Config
from core.paths import resolve_paths
from core.store import Store
from finetune.runs import Run, prepare_run, start_training
from tests.tiny_agent import seed_home, tiny_train_config


def _seed_home(pa_home, base_folder, **train):
    return seed_home(resolve_paths(), base_folder, **train)


def test_pa_train_exports_an_agent_and_lists_it(pa, pa_home, tiny_trained_agent):
    _seed_home(pa_home, tiny_trained_agent.base_folder, epochs=2, batch_size=6, max_length=256)
    result = pa("train", "--profile", "tiny", "--quant", "q8_0")
    assert result.exit_code == 0, result.stderr
    assert "tiny/agent/v1" in result.stdout and "q8_0" in result.stdout
    listed = pa("agents", "list", "--profile", "tiny", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["kind"], r["version"], r["quant"]) for r in rows] == [("agent", 1, "q8_0")]
    assert rows[0]["eval_loss"] is not None and rows[0]["train_examples"] == 6
    assert pa("agents", "list", "--profile", "tiny").exit_code == 0


def test_pa_train_bad_input_is_one_line(pa, pa_home):
    missing = pa("train", "--profile", "nobody")
    assert missing.exit_code == 2 and "no profile named 'nobody'" in missing.stderr
    with Store.open(resolve_paths().store_file) as store:
        store.create_profile("empty")
    empty = pa("train", "--profile", "empty", "--kind", "naive")
    assert empty.exit_code == 1 and "pa distill --profile empty" in empty.stderr
    assert "Traceback" not in empty.stderr
    bad_quant = pa("train", "--profile", "empty", "--quant", "q2")
    assert bad_quant.exit_code == 2
    resume = pa("train", "--profile", "empty", "--resume")
    assert resume.exit_code == 2 and "no unfinished agent training run" in resume.stderr


def _wait_for(run: Run, predicate, process, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = run.events()
        if any(predicate(e) for e in events):
            return events
        assert process.poll() is None, (run.folder / "train.log").read_text()[-2000:]
        time.sleep(0.2)
    raise AssertionError("training process did not get there in time")


def test_ctrl_c_checkpoints_and_resume_continues(pa_home, tiny_trained_agent):
    paths = _seed_home(pa_home, tiny_trained_agent.base_folder)
    config = Config(
        train=tiny_train_config(tiny_trained_agent.base_folder).model_copy(update={"batch_size": 1, "epochs": 4})
    )
    with Store.open(paths.store_file) as store:
        run = prepare_run(paths, store, config, "tiny", "no-baseline", quant="q8_0")
    process = start_training(run)
    _wait_for(run, lambda e: e["event"] == "step" and e["step"] >= 2, process)
    environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
    assert any(b"glibc.malloc.mmap_threshold=" in line for line in environ)  # finetune.memory's settings
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    stopped = run.events()[-1]
    assert stopped["event"] == "interrupted" and run.status == "interrupted"
    assert (run.folder / "checkpoint" / "state.pt").is_file()

    resumed = start_training(run, resume=True)
    assert resumed.wait(timeout=300) == 0, (run.folder / "train.log").read_text()[-2000:]
    events = run.events()
    restart = [i for i, e in enumerate(events) if e["event"] == "start"][-1]
    steps_after = [e["step"] for e in events[restart:] if e["event"] == "step"]
    assert steps_after[0] == stopped["step"] + 1 and steps_after[-1] == stopped["total"] == 24
    assert events[-1]["event"] == "done" and run.status == "done"
    assert "no-baseline/v1" in events[-1]["agent"].replace("\\", "/")
