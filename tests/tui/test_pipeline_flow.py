"""The pipeline panel end to end: distill what is missing with the embedded model, train and
export the tiny agent in its own process, cancel, resume, and show the true state afterwards
(also in a freshly started app)."""

from __future__ import annotations

from pathlib import Path

from core.agents import latest_agent
from core.paths import resolve_paths
from tests.tui.test_flows import settle
from tui.app import PaApp
from tui.session import Session

SIZE = (100, 30)


def pipeline_config(base: Path) -> str:
    return f"""
[distill]
max_tokens = 16
max_attempts = 1
concurrency = 1

[train]
base_model = "{base}"
lora_r = 4
lora_alpha = 8
lora_dropout = 0.0
learning_rate = 0.01
epochs = 12
batch_size = 1
max_length = 256
"""


async def wait_until(pilot, condition, what: str, rounds: int = 20000) -> None:
    """Pump the app until `condition()` holds (the panel re-reads the run folder on its tick)."""
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"gave up waiting for {what}")


async def test_pipeline_distills_trains_cancels_resumes_and_survives_a_restart(
    pa_home, tiny_trained_agent, tui_large_model
):
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(pipeline_config(tiny_trained_agent.base_folder), encoding="utf-8")
    paths = resolve_paths()
    tiny_trained_agent.install(paths, "jeff")  # documents with intents and rules, no drafts yet
    session = Session()
    session.choose_profile("jeff")
    app = PaApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        panel = app.screen
        drafts = panel.state.stages[1]
        assert (drafts.label, drafts.done) == ("drafts", 0)
        assert panel.state.training.status == "none"

        await pilot.press("s")
        await wait_until(
            pilot,
            lambda: panel.state.training.status == "running" and panel.state.training.step >= 1,
            "training to start",
        )
        drafts = panel.state.stages[1]
        assert drafts.done == drafts.total > 0  # every train document went through the draft stage
        await pilot.press("x")  # asks the training process to stop at a checkpoint
        await settle(pilot)
        await wait_until(
            pilot, lambda: (panel.reload(), panel.state.training.status)[1] == "interrupted", "training to stop"
        )
        stopped_at = panel.state.training.step
        assert 1 <= stopped_at < panel.state.training.total
        assert "s resumes" in str(panel.query_one("#pipeline-status").render())

        await pilot.press("s")
        await settle(pilot)
        training = panel.state.training
        assert training.status == "done" and training.export_done
        assert training.step == training.total and len(training.losses) >= training.total
        assert any(line.startswith("done: agent v2") for line in training.log)
        assert "agent v2" in panel.query_one("#stage-export").detail
    assert latest_agent(paths, "jeff").version == 2

    restarted = PaApp(Session())
    async with restarted.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        state = restarted.screen.state
        assert state.training.status == "done" and state.training.agent == "v2"
        assert state.training.step == state.training.total
        assert "Agent v2 is ready" in str(restarted.screen.query_one("#pipeline-status").render())
