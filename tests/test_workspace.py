"""The use cases both views call (`core.workspace.Workspace`), headless: no Textual, no typer.

Real parts: the sample corpus, a store on disk, the embedded SmolLM2 as M_L and the tiny
trained agent (tests/tiny_agent.py). `pa` and `pa-tui` are thin views over these methods, so
what is specified here holds for both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from core.config import Config
from core.drafting import DraftRequest, DraftTranscript
from core.errors import NotTrainedError, TrainingBusyError, UsageError
from core.workspace import Workspace
from finetune.transcript import Interrupted, TrainingTranscript
from tests.tui import fixture_data

SHORT_DRAFTS = Config.model_validate(
    {
        "drafting": {"max_tokens": 48, "rules_max_tokens": 40, "retriever": "bm25", "temperature": 0.0, "seed": 0},
    }
)


@pytest.fixture
def workspace(pa_home):
    opened = Workspace.open()
    yield opened
    opened.close()


def test_profiles_their_state_and_their_folders(workspace):
    workspace.create_profile("maya")
    (state,) = workspace.profile_states()
    assert (state.name, state.documents, state.agent, state.next_step) == ("maya", 0, None, "import a corpus")
    folder = workspace.paths.profile_dir("maya")
    (folder / "runs").mkdir(parents=True)
    workspace.rename_profile("maya", "maya2")
    assert [s.name for s in workspace.profile_states()] == ["maya2"]
    assert workspace.paths.profile_dir("maya2").joinpath("runs").is_dir() and not folder.exists()
    workspace.delete_profile("maya2")
    assert workspace.profile_states() == [] and not workspace.paths.profile_dir("maya2").exists()
    with pytest.raises(UsageError, match="no profile named 'maya2'"):
        workspace.pipeline_state("maya2")


def test_import_preview_stores_nothing_then_import_stores_and_counts(workspace, tmp_path):
    corpus = fixture_data.corpus_copy(tmp_path)
    profile = workspace.create_profile("maya")
    preview = workspace.preview_import("maya", corpus)
    assert any(item.kept for item in preview.items) and any(
        not item.kept and "not_from_sender" in item.note for item in preview.items
    )
    assert workspace.store.count_documents(profile.id) == {"train": 0, "test": 0}
    report = workspace.import_corpus(corpus, workspace.import_options("maya", preview.report.senders))
    assert report.imported == 20
    stats = workspace.corpus_stats("maya")
    assert (stats["documents"], stats["train"] + stats["test"]) == (20, 20) and stats["median_words"] > 0
    assert [entry["imported"] for entry in stats["imports"]] == [20]
    state = workspace.pipeline_state("maya")
    assert state.documents == 20 and not state.distilled
    assert [(s.label, s.done, s.total) for s in state.stages][0] == ("intents", 0, 20)
    assert state.training.status == "none"


def test_draft_without_an_agent_is_refused_before_any_model_loads(workspace):
    workspace.create_profile("jeff")
    with pytest.raises(NotTrainedError, match="pa train --profile jeff --kind agent"):
        workspace.draft("jeff", DraftRequest("ask Bob to move the meeting"))
    assert workspace.draft_context("jeff")._backends == {}  # nothing was opened


async def test_draft_rewrite_keep_and_history(pa_home, tiny_agent):
    workspace = Workspace.open(config=SHORT_DRAFTS)
    request = DraftRequest("- tell Sue the call moved to 3pm", recipient="sue.mara@enron.com", subject="call")
    started = workspace.draft("tiny", request)
    assert started.agent.label == "tiny/agent/v1"
    transcript = DraftTranscript()
    async for event in started.events:
        transcript.apply(event)
    assert all(transcript.text(stream) for stream in ("naive", "rules", "final"))
    assert transcript.streams["final"].started_at >= transcript.streams["rules"].done_at
    first = workspace.save_draft("tiny", request, transcript, agent=started.agent.label)

    rewritten = DraftTranscript()
    async for event in workspace.rewrite("tiny", request, "- Open with 'Sue,'"):
        rewritten.apply(event)
    assert set(rewritten.streams) == {"final"} and rewritten.text("final")
    second = workspace.save_draft(
        "tiny",
        request,
        rewritten,
        agent=started.agent.label,
        rules=transcript.text("rules"),
        edited_rules="- Open with 'Sue,'",
        parent_id=first,
    )
    workspace.keep(second, "final")
    file = workspace.save_final_file("tiny", second, rewritten.text("final"))
    assert file.read_text(encoding="utf-8").strip() == rewritten.text("final").strip()

    newest, oldest = workspace.history("tiny")
    assert (newest.id, newest.parent_id, newest.chosen, newest.rules) == (
        second,
        first,
        "final",
        transcript.text("rules"),
    )
    assert oldest.final == transcript.text("final") and oldest.agent_version == "tiny/agent/v1"
    assert workspace.history_entry("tiny", first) == oldest
    workspace.create_profile("other")
    with pytest.raises(UsageError, match="belongs to another profile"):
        workspace.history_entry("other", first)
    workspace.close()


async def test_compare_runs_what_can_run_and_names_the_command_for_the_rest(pa_home, tiny_agent):
    workspace = Workspace.open(config=SHORT_DRAFTS)
    rows = await workspace.compare(
        "tiny", DraftRequest("- tell Sue the call moved to 3pm"), ["large", "naive-finetune"]
    )
    large, naive = rows
    assert large.available and large.text and large.seconds > 0 and large.error is None
    assert not naive.available and "pa train --profile tiny --kind naive" in naive.reason
    with pytest.raises(UsageError, match="unknown method 'gpt5'"):
        await workspace.compare("tiny", DraftRequest("hi"), ["gpt5"])
    workspace.close()


# -- training: one truth about a run, whoever started it ---------------------------------------


def _prepared_run(workspace, base_folder, **train):
    from finetune.runs import prepare_run
    from tests.tiny_agent import seed_store, tiny_train_config

    seed_store(workspace.store)
    config = Config(train=tiny_train_config(base_folder).model_copy(update=train))
    return prepare_run(workspace.paths, workspace.store, config, "tiny", "agent", quant="q8_0")


def test_a_held_run_is_alive_for_every_view_and_a_second_trainer_is_refused(workspace, tiny_trained_agent):
    """The lock the training process holds is what every view reads (here held in-process)."""
    from finetune.train import hold_run

    run = _prepared_run(workspace, tiny_trained_agent.base_folder)
    (run.folder / "status").write_text("running", encoding="utf-8")
    with hold_run(run):
        training = workspace.training("tiny")
        assert (training.status, training.alive, training.pid) == ("running", True, os.getpid())
        assert workspace.pipeline_state("tiny").training.alive
        with pytest.raises(TrainingBusyError, match=f"{run.folder.name} is already being trained by process"):
            workspace.start_training("tiny", resume=True)
        with pytest.raises(TrainingBusyError):
            workspace.start_training("tiny")  # nor a new run of the same kind beside it
        assert run.heartbeat_age() is not None and run.heartbeat_age() < 5
    after = workspace.training("tiny")
    assert (after.status, after.alive) == ("stopped", False)  # the folder says running, nobody holds it


PARENT = """
import time
from core.workspace import Workspace
from finetune.transcript import Interrupted, TrainingTranscript

with Workspace.open() as workspace:
    run, process = workspace.start_training("tiny")
    print(run.folder, flush=True)
    while not any(event["event"] == "step" for event in run.events()):
        assert process.poll() is None, "the trainer died before its first step"
        time.sleep(0.05)
# this process ends here, while its trainer is mid-run
"""


def test_the_trainer_stops_at_a_checkpoint_when_its_parent_dies_and_resumes_from_a_half_swapped_checkpoint(
    workspace, tiny_trained_agent, pa_home
):
    import subprocess
    import time

    from finetune.runs import Run
    from tests.tiny_agent import seed_store

    paths = workspace.paths
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(
        f'[train]\nbase_model = "{tiny_trained_agent.base_folder}"\nbatch_size = 1\nepochs = 40\nlora_r = 4\nmax_length = 256\nverify_rules = false\n',
        encoding="utf-8",
    )
    seed_store(workspace.store)
    parent = subprocess.run([sys.executable, "-c", PARENT], capture_output=True, text=True, timeout=300)
    assert parent.returncode == 0, parent.stderr[-2000:]
    run = Run(Path(parent.stdout.strip()))
    deadline = time.monotonic() + 120
    while run.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not run.alive(), "the trainer outlived its parent"
    events = run.events()
    assert events[-1]["event"] == "interrupted" and run.status == "interrupted"
    stopped_at = events[-1]["step"]

    # A crash between the two renames of a checkpoint swap: only checkpoint.old is complete.
    (run.folder / "checkpoint").rename(run.folder / "checkpoint.old")
    resumed, process = workspace.start_training("tiny", resume=True)
    assert resumed.folder == run.folder
    transcript = TrainingTranscript()
    first_new_step = None
    for event in workspace.follow_training(resumed, process, transcript):
        if event.kind == "step" and event.step > stopped_at and first_new_step is None:
            first_new_step = event.step
            assert workspace.training("tiny").alive and workspace.stop_training("tiny")
    assert first_new_step == stopped_at + 1  # it went on from the old checkpoint's position
    assert process.wait(timeout=120) == 130, (run.folder / "train.log").read_text()[-2000:]
    assert isinstance(transcript.terminal, Interrupted) and transcript.step > stopped_at
    assert (run.folder / "checkpoint" / "state.pt").is_file() and not (run.folder / "checkpoint.old").exists()
