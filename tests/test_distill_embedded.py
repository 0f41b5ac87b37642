"""Distillation with the real embedded SmolLM2-135M on real Enron mail.

SmolLM2-135M is far too small for this task and often writes no tags at all; what is
checked is that pa records every outcome honestly (a validated result or a failure with its
reason), resumes an interrupted run without asking the model twice, and keeps the corpus
text fenced in the prompts the model really receives. Kept small (one intent temperature,
one attempt, short answers) so the whole file stays well under a minute of CPU.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest

from core.config import Config
from core.distill import STAGE_SPLITS, STAGES, distill_profile, stage_parser, template_id
from core.llm.scripted import ScriptedBackend
from core.store import open_store
from core.tagged import Parsed, parse_intent
from tests.test_distill import INJECTION, CountingBackend, add_documents, by_stage

pytestmark = pytest.mark.slow

SENDER = "staab-t"


def small_config() -> Config:
    config = Config()
    config.distill.max_tokens = 96
    config.drafting.max_tokens = 96  # the draft stage is drafting's zero-shot call, with drafting's options
    config.distill.max_attempts = 1
    config.distill.intent_temperatures = [1.0]
    # One llama.cpp thread: on a shared CI box, threads that spin-wait on each other burn
    # CPU without progress whenever one of them is descheduled.
    config.embedded.threads = 1
    return config


@pytest.fixture(scope="module")
def smol():
    """The embedded model, loaded once for this file."""
    from core.llm.specs import open_backend

    backend = open_backend("embedded", small_config())
    backend.load()
    return backend


def import_staab(pa, enron_dir, tmp_path, count: int) -> None:
    source = tmp_path / "mail"
    source.mkdir()
    for file in sorted((enron_dir / SENDER / "sent_items").glob("*.eml"), key=lambda p: int(p.stem))[:count]:
        shutil.copy(file, source / file.name)
    imported = pa("import", source, "--profile", "staab", "--json")
    assert imported.exit_code == 0, imported.stderr


def check_outcomes(store, documents) -> dict:
    """Every stage of every document is a validated result, a failure with its reason, or
    not run because an earlier stage failed (which says why)."""
    rows = {(r["document_id"], r["stage"]): r for r in store.query("SELECT * FROM distillations")}
    for document in documents:
        for stage in STAGES:
            if document.split not in STAGE_SPLITS[stage]:
                continue
            row = rows.get((document.id, stage))
            if row is None:
                earlier = [rows.get((document.id, s)) for s in ("intent", "draft") if (document.id, s) in rows]
                assert any(r["status"] == "failed" and r["error"] for r in earlier), (document.id, stage)
                continue
            assert row["template_id"] == template_id(
                "email", stage, "plain"
            )  # the embedded model gets the plain draft prompt
            if row["status"] == "ok":
                # A stored result is one the validator accepts, never a raw guess.
                assert isinstance(stage_parser(stage, document)(row["raw"], "stop"), Parsed) and row["content"]
            else:
                assert row["error"] and row["content"] is None
    return rows


def test_ten_enron_emails_end_distilled_or_failed_and_a_killed_run_resumes_without_repeats(
    pa, enron_dir, tmp_path, smol
):
    import_staab(pa, enron_dir, tmp_path, 10)
    config = small_config()

    with open_store() as store:
        profile = store.get_profile("staab")
        documents = store.documents(profile.id)
        assert len(documents) == 10

        first = CountingBackend(smol, cancel_after=4)

        async def interrupted():
            first.victim = asyncio.current_task()
            await distill_profile(store, profile, first, config, concurrency=2)

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(interrupted())
        journalled = store.query("SELECT COUNT(*) AS n FROM distill_calls")[0]["n"]
        assert journalled == len(first.completed) >= 4

        second = CountingBackend(smol)
        summary = asyncio.run(distill_profile(store, profile, second, config, concurrency=2))
        assert set(first.completed).isdisjoint(second.completed), "the resumed run asked for an answer it had"
        # Every answer was journalled exactly once: none was asked for twice across the runs.
        journalled = store.query("SELECT COUNT(*) AS n FROM distill_calls")[0]["n"]
        assert len(first.completed) + len(second.completed) == journalled == summary.calls + len(first.completed)

        rows = check_outcomes(store, documents)
        assert {row["model"] for row in rows.values()} == {"embedded"}

    shown = pa("rules", "show", "--profile", "staab")
    assert shown.exit_code == 0


def test_drafts_and_rules_from_the_real_model_are_validated_or_failed(pa, enron_dir, tmp_path, smol):
    """SmolLM2 rarely writes a usable intent, so intents come from a scripted M_L here and the
    real model writes the drafts, rules and no-baseline rules from them."""
    import_staab(pa, enron_dir, tmp_path, 3)
    with open_store() as store:
        profile = store.get_profile("staab")
        documents = store.documents(profile.id)
        asyncio.run(distill_profile(store, profile, ScriptedBackend(by_stage()), small_config(), stages=["intent"]))
        real = CountingBackend(smol)
        summary = asyncio.run(
            distill_profile(store, profile, real, small_config(), stages=["draft", "rules", "nobaseline_rules"])
        )
        trained = sum(1 for d in documents if d.split == "train")
        assert summary.stages["draft"].ok + summary.stages["draft"].failed == trained
        assert summary.stages["nobaseline_rules"].ok + summary.stages["nobaseline_rules"].failed == trained
        assert len(real.completed) == summary.calls >= 2 * trained
        rows = check_outcomes(store, documents)
        assert {row["model"] for (_, stage), row in rows.items() if stage != "intent"} == {"embedded"}


def test_the_real_model_receives_the_email_inside_its_fence(store_with_injection, smol):
    store, profile = store_with_injection
    seen = CountingBackend(smol)
    summary = asyncio.run(distill_profile(store, profile, seen, small_config(), stages=["intent"]))
    (messages,) = seen.prompts
    user = messages[-1].content
    assert (
        user.index("<email>")
        < user.index("IGNORE PREVIOUS INSTRUCTIONS")
        < user.rindex("</email>")
        < user.index("Task:")
    )
    assert user.count("</email>") == 1
    (row,) = store.query("SELECT * FROM distillations")
    if row["status"] == "ok":
        assert isinstance(parse_intent(row["raw"], "stop"), Parsed) and row["content"].startswith("- ")
    else:
        assert row["error"] and summary.stages["intent"].failed == 1


@pytest.fixture
def store_with_injection():
    with open_store() as store:
        yield store, add_documents(store, train=1, test=0, text=INJECTION)
