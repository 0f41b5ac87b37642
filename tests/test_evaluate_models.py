"""Evaluation with real models: the MiniLM similarity metrics, and `pa eval` end to end with
the embedded SmolLM2 (writer and judge) and a really trained tiny agent, on few tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import resolve_paths
from core.similarity import SimilarityModel, model_folder, shared_model

REPO = Path(__file__).resolve().parent.parent

# -- similarity ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def similarity() -> SimilarityModel:
    return shared_model()


def test_identical_text_scores_one(similarity: SimilarityModel):
    text = "Jim, the gas numbers for Monday are attached. Call me if the curve looks off. Phillip"
    scores = similarity.score(text, text)
    assert scores.bertscore_f1 == pytest.approx(1.0, abs=1e-6)
    assert scores.bertscore_precision == pytest.approx(1.0, abs=1e-6)
    assert scores.cosine == pytest.approx(1.0, abs=1e-6)
    assert scores.length_ratio == 1.0


def test_paraphrase_scores_between_unrelated_text_and_the_same_text(similarity: SimilarityModel):
    real = "Jim, the gas numbers for Monday are attached. Call me if the curve looks off. Phillip"
    paraphrase = "Jim - attached are Monday's gas numbers; ring me if the curve seems wrong. Phillip"
    unrelated = "The quarterly softball tournament has been moved to the north field."
    close, far = similarity.score(paraphrase, real), similarity.score(unrelated, real)
    assert far.bertscore_f1 < close.bertscore_f1 < 1.0
    assert far.cosine < close.cosine < 1.0
    assert far.length_ratio == pytest.approx(len(unrelated.split()) / len(real.split()))


def test_precision_and_recall_follow_which_text_is_covered(similarity: SimilarityModel):
    real = "Please send the signed contract to Sara by Friday. Thanks, Phillip"
    short = "Please send the signed contract."
    scores = similarity.score(short, real)
    # Every token of the short candidate is in the real text; not every real token is in it.
    assert scores.bertscore_precision > scores.bertscore_recall
    assert scores.length_ratio < 1


def test_long_texts_are_encoded_whole_in_windows(similarity: SimilarityModel):
    long_text = " ".join(f"Item {n}: the Malin curve moved {n} cents." for n in range(80))
    encoded = similarity.encode(long_text)
    assert encoded.tokens.shape[0] > 256  # more than one window, nothing cut off
    tail_only = " ".join(f"Item {n}: the Malin curve moved {n} cents." for n in range(70, 80))
    # The tail of the long text is matched by its own tokens, which a truncating encoder would lose.
    assert similarity.score(tail_only, long_text).bertscore_precision > 0.9
    assert similarity.score(long_text, long_text).bertscore_f1 == pytest.approx(1.0, abs=1e-6)


def test_sentence_vectors_are_the_sentence_transformers_model(similarity: SimilarityModel):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_folder()), device="cpu", local_files_only=True)
    text = "Can you move the budget review to Friday? -J"
    reference = model.encode([text], normalize_embeddings=True)[0]
    assert float(reference @ similarity.encode(text).sentence) == pytest.approx(1.0, abs=1e-5)


def test_importing_evaluation_loads_no_heavy_library():
    code = (
        "import sys, core.evaluate, core.similarity, core.report, core.judging, core.cli.eval_cmd\n"
        "heavy = [m for m in ('torch', 'transformers', 'matplotlib', 'sentence_transformers', 'llama_cpp') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# -- pa eval with SmolLM2 and a trained tiny agent -------------------------------------------

EVAL_CONFIG = """
[drafting]
max_tokens = 24
rules_max_tokens = 48
retriever = "bm25"
few_shot_k = 2

[eval]
judge_attempts = 2
judge_max_tokens = 12
"""


@pytest.fixture
def installed(tiny_trained_agent, pa_home: Path):
    """Two profiles with held-out, distilled emails, each with the really trained tiny agent."""
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(EVAL_CONFIG, encoding="utf-8")
    paths = resolve_paths()
    for name in ("tiny", "tiny2"):
        tiny_trained_agent.install(paths, name)
    return paths


@pytest.mark.slow
def test_pa_eval_end_to_end_with_the_embedded_models_and_resume(pa, installed):
    first = pa("eval", "--profile", "tiny", "--limit", "1", "--baselines", "large", "--json")
    assert first.exit_code == 0, first.stderr
    assert "the judge is M_L itself (embedded)" in first.stderr  # said before the evaluation runs
    report = json.loads(first.stdout)
    assert report["documents"] == 1 and report["agent"] == "tiny/agent/v1"
    assert report["models"]["judge"] == "embedded"
    row = report["pairwise"][0]
    assert row["baseline"] == "large" and row["n"] == 1
    assert row["win"] + row["tie"] + row["loss"] + row["invalid"] == 1
    assert report["judge_usage"]["verdicts"] == 2 and report["judge_usage"]["calls"] >= 2
    assert report["judge_usage"]["prompt_tokens"] > 100  # real token counts from llama.cpp
    for method in ("agent", "large"):
        assert report["methods"][method]["tokens"]["completion"] > 0
        assert 0 < report["methods"][method]["similarity"]["bertscore_f1"]["estimate"] <= 1
    assert report["run"]["generated"] == 2
    folder = installed.reports_dir("tiny")
    assert {p.name for p in folder.iterdir()} >= {"eval.json", "eval.md", "eval-winrates.png", "eval-similarity.png"}

    again = pa("eval", "--profile", "tiny", "--limit", "1", "--baselines", "large")
    assert again.exit_code == 0, again.stderr
    assert "Agent vs baselines" in again.stdout and "large" in again.stdout
    assert "## Model-free measures (pa)" in again.stdout  # attribution, fact match, length error beside the judge
    stored = json.loads((folder / "eval.json").read_text())
    assert stored["run"] == {"generated": 0, "reused_generations": 2, "judged": 0, "reused_verdicts": 2}
    assert stored["pairwise"] == report["pairwise"]
    assert stored["style_measures"]["methods"]["agent"]["fact_match"]["greeting"]["n"] == 1
    assert "(M_L itself)" in again.stdout and "models.others" in again.stderr

    # Another model you have becomes the judge: the generations are reused, only the verdicts are new.
    from core.agents import latest_agent

    other = f"gguf:{latest_agent(installed, 'tiny').gguf}"  # a model on this machine that is not M_L
    installed.config_file.write_text(EVAL_CONFIG + f'[models]\nothers = ["embedded", "{other}"]\n', encoding="utf-8")
    judged = pa("eval", "--profile", "tiny", "--limit", "1", "--baselines", "large", "--json")
    assert judged.exit_code == 0, judged.stderr
    assert "M_L itself" not in judged.stderr
    third = json.loads(judged.stdout)
    assert third["models"]["judge"] == other and third["judge_usage"]["same_as_large"] is False
    assert third["run"]["reused_generations"] == 2 and third["run"]["judged"] == 2


@pytest.mark.slow
def test_pa_eval_permutation_with_the_embedded_models(pa, installed, tmp_path: Path):
    from core.llm.embedded import clear_model_cache

    clear_model_cache()  # KV reused from an earlier test's prompt changes greedy tokens of a 135M model
    out = tmp_path / "perm"
    result = pa("eval", "permutation", "--profiles", "tiny", "tiny2", "--limit", "1", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["profiles"] == ["tiny", "tiny2"] and report["counts"] == [[1, 1], [1, 1]]
    assert all(0 < value <= 1 for line in report["raw"] for value in line)
    assert {p.name for p in out.iterdir()} == {"permutation.json", "permutation.md", "permutation.png"}
