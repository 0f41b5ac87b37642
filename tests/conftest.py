"""Shared fixtures: every test gets its own PA_HOME, and nothing reaches the network."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENRON = REPO.parent / "shared" / "data" / "enron"

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
    from core.cli import common

    common.paths.cache_clear()
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
