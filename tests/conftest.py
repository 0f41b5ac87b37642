"""Shared fixtures: every test gets its own PA_HOME, and nothing reaches the network."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENRON = next(
    (base / "shared" / "data" / "enron" for base in (REPO.parent, REPO.parent.parent) if (base / "shared").is_dir()),
    REPO.parent / "shared" / "data" / "enron",
)
"""Beside the checkout, or one folder further up for a git worktree (`/work/wt/NAME`)."""

# No test may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def pa_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty, private pa installation for each test."""
    home = tmp_path / "pa-home"
    monkeypatch.setenv("PA_HOME", str(home))
    monkeypatch.delenv("PA_CONFIG_DIR", raising=False)
    monkeypatch.delenv("PA_DATA_DIR", raising=False)
    return home


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def pa(capsys: pytest.CaptureFixture[str]):
    """Run the `pa` command in-process: `pa("import", path, "--profile", "x")`."""
    from core.cli import run

    def invoke(*args: object) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture(scope="session")
def enron_dir() -> Path:
    """The real Enron sent mails in ../shared; a missing folder fails loudly, never skips."""
    assert ENRON.is_dir(), f"{ENRON} is missing: the shared data folder must sit beside the repo"
    return ENRON


# -- a real OpenAI-compatible server ------------------------------------------------------------


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory):
    """`python -m llama_cpp.server` serving the embedded SmolLM2 on a free loopback port, once per session."""
    from tests.test_backend_openai import start_llama_server

    server = start_llama_server(tmp_path_factory.mktemp("llama-server") / "server.log")
    yield server
    server.stop()


# -- a trained tiny preference agent (finetune) -------------------------------------------------


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real SmolLM2 tokenizer (HF files + GGUF tokenizer metadata), read from the embedded GGUF once."""
    from tests.tiny_agent import make_tokenizer_folder

    return make_tokenizer_folder(tmp_path_factory.mktemp("smollm2-tokenizer"))


@pytest.fixture(scope="session")
def tiny_trained_agent(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path):
    """A tiny agent trained and exported through the real path, once per session (tests.tiny_agent.TinyAgent).

    It lives in its own installation (`.home`, `.paths`, profile `tiny`); `.agent` is its
    AgentInfo, `.gguf` the Q8_0 file, `.float_gguf` the F32 one. For intents shaped like its
    training ones (a short intent + recipient + subject) it answers
    `format_rules_target(RULES, THINKING)` and stops on <|im_end|>; far from them it may babble
    (it is a 2-layer random model). Use `tiny_agent` to get a
    copy inside the current test's PA_HOME.
    """
    from tests.tiny_agent import build_tiny_agent

    return build_tiny_agent(tmp_path_factory.mktemp("tiny-agent-home"), smollm2_tokenizer_dir)


@pytest.fixture
def tiny_agent(tiny_trained_agent, pa_home: Path):
    """The tiny agent installed as profile `tiny` (with its documents) in this test's PA_HOME: an AgentInfo."""
    from core.paths import resolve_paths

    return tiny_trained_agent.install(resolve_paths())
