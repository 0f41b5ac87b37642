"""Guided answers of the embedded model are journalled step by step: a crash between steps asks nothing twice.

The rules stages are guided (pa writes `<thinking>` then `<rules>`, the model writes inside);
each step is one model call. The run is interrupted right after the first step's answer
arrives, as a kill would between the two steps, and resumed with the real SmolLM2.
"""

from __future__ import annotations

import asyncio

import pytest

from core.config import Config
from core.distill import distill_profile
from core.llm.scripted import ScriptedBackend
from core.store import open_store
from tests.test_distill import CountingBackend, add_documents, by_stage


class GuidedCounting(CountingBackend):
    """Counts calls like CountingBackend and, like the embedded model, continues answers."""

    continues_answer = True


def small_config() -> Config:
    config = Config()
    config.distill.max_tokens = 48
    config.distill.max_attempts = 1
    config.embedded.threads = 1
    return config


@pytest.fixture(scope="module")
def smol():
    from core.llm.specs import open_backend

    backend = open_backend("embedded", small_config())
    backend.load()
    return backend


def test_a_run_stopped_between_two_guided_steps_resumes_without_asking_the_first_again(smol):
    with open_store() as store:
        profile = add_documents(store, train=1, test=0)
        asyncio.run(distill_profile(store, profile, ScriptedBackend(by_stage()), small_config(), stages=["intent"]))

        first = GuidedCounting(smol, cancel_after=1)  # stop when the first step (<thinking>) has its answer

        async def interrupted():
            first.victim = asyncio.current_task()
            await distill_profile(store, profile, first, small_config(), stages=["nobaseline_rules"])

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(interrupted())
        assert len(first.completed) == 1
        (step,) = store.query("SELECT * FROM distill_steps")
        assert (step["stage"], step["step"], step["model"]) == ("nobaseline_rules", 0, "embedded")
        assert store.query("SELECT COUNT(*) AS n FROM distill_calls WHERE stage = 'nobaseline_rules'")[0]["n"] == 0

        second = GuidedCounting(smol)
        asyncio.run(distill_profile(store, profile, second, small_config(), stages=["nobaseline_rules"]))
        assert set(first.completed).isdisjoint(second.completed), "the resumed run asked for a step it had"
        assert len(second.completed) == 1  # only the <rules> step was left
        (call,) = store.query("SELECT * FROM distill_calls WHERE stage = 'nobaseline_rules'")
        assert call["raw"].startswith("<thinking>\n" + step["text"])
        assert store.query("SELECT COUNT(*) AS n FROM distill_steps")[0]["n"] == 0  # folded into the whole answer
