"""`pa train --update` and agent versions, on the tiny agent (tests/tiny_agent.py).

An update continues the current agent's LoRA adapter on what it has not learned yet (edits,
repeated as recent) and exports a new version; the old one stays, and `pa agents use N` brings
it back for drafting.
"""

from __future__ import annotations

import json
import math

import pytest

from core.agents import latest_agent, list_agents, require_agent, split_agent_output, use_agent
from core.config import Config
from core.drafting import DraftContext
from core.errors import UsageError
from core.paths import resolve_paths
from core.store import Store
from finetune.dataset import Dataset, collect_examples
from finetune.runs import Run, prepare_run
from finetune.train import train_run
from finetune.update import prepare_update_run
from tests.edit_rows import add_learned_edit
from tests.tiny_agent import tiny_train_config

EDIT_RULES = "- No exclamation marks.\n- Sign off: Best, Jeff"
EDITS = [  # oldest first
    ("- tell Paul the filing went in", "paul.kaufman@enron.com", "filing", "He signs off with Best."),
    ("- ask Sue for the call notes", "sue.mara@enron.com", "notes", "He edited out the exclamation mark."),
]


@pytest.fixture
def edits(tiny_agent) -> list[int]:
    """Two edits of profile `tiny` whose rules were learned (sent edit ids, oldest first)."""
    with Store.open(resolve_paths().store_file) as store:
        return [
            add_learned_edit(
                store, "tiny", intent=intent, recipient=to, subject=subject, rules=EDIT_RULES, thinking=why
            )
            for intent, to, subject, why in EDITS
        ]


def _config(tiny_trained_agent, **update) -> Config:
    return Config(train=tiny_train_config(tiny_trained_agent.base_folder).model_copy(update=update))


def _adapter(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def _distance(a, b) -> float:
    return math.sqrt(sum(float(((a[name] - b[name]) ** 2).sum()) for name in a))


def _steps(run: Run) -> list[int]:
    return [event["step"] for event in run.events() if event["event"] == "step"]


def test_update_continues_the_current_adapter_and_keeps_the_old_version(tiny_agent, tiny_trained_agent, edits):
    paths = resolve_paths()
    config = _config(tiny_trained_agent, update_epochs=2, edit_repeats=3)
    v1_steps = tiny_agent.manifest["training"]["steps"]
    with Store.open(paths.store_file) as store:
        run = prepare_update_run(paths, store, config, "tiny")
    spec = run.spec
    assert spec["update_from"]["label"] == "tiny/agent/v1" and spec["batch_order"] == "recent_last"
    data = Dataset.load(run.folder / "data")
    # Only the edits are new (the six documents are in v1's trained_on), each three times, oldest first.
    assert [e.key for e in data.train] == [f"edit:{edits[0]}", f"edit:{edits[1]}"] * 3

    updated = train_run(run, paths=paths)

    assert updated is not None and updated.version == 2
    assert updated.manifest["updated_from"] == "tiny/agent/v1"
    new_steps = math.ceil(6 / 3) * 2
    assert updated.manifest["training"]["steps"] == v1_steps + new_steps
    assert _steps(run) == list(range(v1_steps + 1, v1_steps + new_steps + 1))  # the count continues
    assert {f"edit:{edits[0]}", f"edit:{edits[1]}", "document:1"} <= set(updated.manifest["trained_on"])
    assert [a.version for a in list_agents(paths, "tiny")] == [1, 2]  # v1 kept
    assert require_agent(paths, "tiny") == updated

    # A fresh adapter trained on the very same data and settings ends elsewhere: far from v1,
    # where the update, which started at v1's adapter, stays close to it.
    with Store.open(paths.store_file) as store:
        same = {"dataset": data, "train": config.train.model_copy(update={"epochs": 2})}
        fresh = prepare_run(paths, store, config, "tiny", **same, extra={"batch_order": "recent_last"})
    assert train_run(fresh, paths=paths, export=False) is None
    before, after, scratch = (
        _adapter(tiny_agent.folder / "adapter"),
        _adapter(updated.folder / "adapter"),
        _adapter(fresh.folder / "adapter"),
    )
    assert before.keys() == after.keys() == scratch.keys()
    assert any(not (after[name] == before[name]).all() for name in before)  # it did learn
    assert _distance(after, before) < 0.5 * _distance(scratch, before)
    assert _steps(fresh)[0] == 1

    # Nothing new since v2: an update says so in one line instead of training again.
    with Store.open(paths.store_file) as store, pytest.raises(UsageError, match="already learned every example"):
        prepare_update_run(paths, store, config, "tiny")
    # After a rollback the update continues the agent drafts use again, which has not seen the edits.
    use_agent(paths, "tiny", 1)
    with Store.open(paths.store_file) as store:
        again = prepare_update_run(paths, store, config, "tiny")
    assert again.spec["update_from"]["label"] == "tiny/agent/v1"
    assert len(Dataset.load(again.folder / "data").train) == 6


def test_a_full_run_learns_the_edits_too_weighted_as_recent(tiny_agent, edits):
    with Store.open(resolve_paths().store_file) as store:
        agent = collect_examples(store, "tiny", "agent", verified=False, edit_repeats=3)
        naive = collect_examples(store, "tiny", "naive")
    keys = [e.key for e in agent.train]
    assert keys[:6] == [f"document:{n}" for n in range(1, 7)]  # the documents, then the edits, newest last
    assert keys[6:] == [f"edit:{edits[0]}", f"edit:{edits[1]}"] * 3
    assert agent.report.edits == 2 and any("learned from edits" in note for note in agent.report.notes)
    edit = agent.train[-1]
    assert (edit.intent, edit.recipient, edit.subject) == EDITS[1][:3]
    assert split_agent_output(edit.target) == (EDITS[1][3], EDIT_RULES)
    assert all(e.origin == "document" for e in naive.train)  # edits teach rules, not texts


def test_rollback_restores_the_old_agent_for_drafts(pa, tiny_agent, tiny_trained_agent):
    paths = resolve_paths()
    v2 = tiny_trained_agent.install(paths)  # a second version of the same profile
    assert v2.version == 2 and require_agent(paths, "tiny") == v2

    used = pa("agents", "use", "v1", "--profile", "tiny")

    assert used.exit_code == 0, used.stderr
    assert "tiny/agent/v1" in used.stdout
    assert require_agent(paths, "tiny") == tiny_agent
    with Store.open(paths.store_file) as store:
        context = DraftContext(paths, Config(), store, store.get_profile("tiny"))
        assert context.agent_info("agent").gguf == tiny_agent.gguf  # what drafts load
    rows = json.loads(pa("agents", "list", "--profile", "tiny", "--json").stdout)
    assert [(r["version"], r["current"]) for r in rows] == [(1, True), (2, False)]
    assert [a.version for a in list_agents(paths, "tiny")] == [1, 2]  # nothing deleted

    assert pa("agents", "use", "2", "--profile", "tiny").exit_code == 0
    assert latest_agent(paths, "tiny") == v2


def test_agents_use_refuses_a_version_that_does_not_exist(pa, tiny_agent):
    result = pa("agents", "use", "7", "--profile", "tiny")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "no complete agent v7 (versions: v1)" in result.stderr
    assert pa("agents", "use", "latest", "--profile", "tiny").exit_code == 2
    assert require_agent(resolve_paths(), "tiny") == tiny_agent


def test_pa_train_update_with_nothing_new_says_so_before_starting_a_process(pa, tiny_agent):
    nothing = pa("train", "--profile", "tiny", "--update")
    assert nothing.exit_code == 2 and "already learned every example" in nothing.stderr
    both = pa("train", "--profile", "tiny", "--update", "--resume")
    assert both.exit_code == 2 and "--resume and --update do not go together" in both.stderr
    assert not resolve_paths().runs_dir("tiny").exists()  # no run folder, no training process


def test_an_agent_exported_before_trained_on_existed_is_read_from_its_run_folder(tiny_agent, tiny_trained_agent):
    from dataclasses import replace

    from finetune.update import trained_on

    listed = set(tiny_agent.manifest["trained_on"])
    older = replace(tiny_agent, manifest={**tiny_agent.manifest, "trained_on": None})
    assert older.manifest["run"] == str(tiny_trained_agent.run_folder)
    assert trained_on(older) == listed == {f"document:{n}" for n in range(1, 7)}
    gone = replace(tiny_agent, manifest={**tiny_agent.manifest, "trained_on": None, "run": "/nonexistent/run"})
    assert trained_on(gone) == set()  # nothing known: every example counts as new
