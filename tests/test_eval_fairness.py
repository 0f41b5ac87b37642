"""Fair comparisons in `pa eval` (issue 13, item 6): what is reported, what is cached, what is seeded."""

from __future__ import annotations

import pytest

from core.intervals import wilson
from core.llm.scripted import ScriptedBackend
from tests.test_evaluate import content_judge, run, setup, similarity  # noqa: F401  (fixtures)


def test_wins_over_decided_pairs_are_reported_beside_the_conservative_rate(setup, similarity):  # noqa: F811
    judge = ScriptedBackend(
        lambda m, o: "A" if "budget numbers are final and" in m[-1].content.split("<candidate_b>")[0] else "B",
        spec="fair",
    )
    report = run(setup, similarity, judge, baselines=["large"])
    row = report["pairwise"][0]
    assert row["decisive_win_rate"] == pytest.approx(wilson(row["win"], row["win"] + row["loss"]).as_dict())
    assert row["decisive_win_rate"]["estimate"] == 1.0 and row["win"] == 3


def test_a_judge_that_is_m_l_is_said_to_be(setup, similarity):  # noqa: F811
    *_, backends, _ = setup
    report = run(setup, similarity, backends["large"], baselines=["large"])
    assert report["judge_usage"]["same_as_large"] is True and "M_L itself" in report["judge_usage"]["note"]
    other = run(setup, similarity, ScriptedBackend(content_judge, spec="fair"), baselines=["large"])
    assert other["judge_usage"]["same_as_large"] is False


def test_the_judge_defaults_to_another_model_you_have_never_silently_to_m_l():
    from core.config import parse_config

    alone = parse_config('[models]\nlarge = "ollama:llama3.1:8b"\n')
    assert (alone.judge_spec, alone.judge_is_large) == ("ollama:llama3.1:8b", True)
    others = parse_config(
        '[models]\nlarge = "ollama:llama3.1:8b"\nothers = ["ollama:llama3.1:8b", "openai:gpt-4o-mini"]\n'
    )
    assert (others.judge_spec, others.judge_is_large) == ("openai:gpt-4o-mini", False)  # the first that is not M_L
    chosen = parse_config(
        '[models]\nlarge = "ollama:llama3.1:8b"\njudge = "ollama:qwen2.5:7b"\nothers = ["openai:gpt-4o-mini"]\n'
    )
    assert chosen.judge_spec == "ollama:qwen2.5:7b"  # models.judge, when set, is the judge
    only_m_l = parse_config('[models]\nlarge = "ollama:llama3.1:8b"\nothers = [" ollama:llama3.1:8b"]\n')
    assert only_m_l.judge_is_large


def test_eval_seed_seeds_generation_and_a_new_seed_regenerates(setup, similarity):  # noqa: F811
    paths, store, config, profile, backends, context = setup
    judge = ScriptedBackend(content_judge, spec="fair")
    run(setup, similarity, judge, baselines=["large"])
    assert {options.seed for _, options in backends["large"].calls} == {config.eval.seed}
    calls = len(backends["large"].calls)
    again = run(setup, similarity, judge, baselines=["large"])
    assert again["run"]["generated"] == 0 and len(backends["large"].calls) == calls
    config.eval.seed = 7
    reseeded = run(setup, similarity, judge, baselines=["large"])
    assert reseeded["run"]["generated"] == 6  # agent and large, 3 documents: the cache key holds the seed
    assert {options.seed for _, options in backends["large"].calls[calls:]} == {7}


def test_the_cache_key_names_templates_options_and_seed(setup):  # noqa: F811
    from core.evaluate import generation_key

    *_, context = setup
    key = generation_key(context, "agent")
    assert "drafting.final@" in key and "agent.rules@" in key and "seed=" in key and "max=" in key
    assert "drafting.zero_shot@" in generation_key(context, "large")
