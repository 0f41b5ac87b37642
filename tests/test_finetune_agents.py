"""core.agents: the on-disk layout of trained agents, read without importing any model library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.agents import KINDS, latest_agent, list_agents, next_version_dir, require_agent
from core.errors import NotTrainedError, UsageError
from core.paths import resolve_paths


def _write_agent(folder, gguf_name="agent-q8_0.gguf", manifest=True):
    folder.mkdir(parents=True)
    (folder / gguf_name).write_bytes(b"GGUF")
    if manifest:
        (folder / "manifest.json").write_text(json.dumps({"gguf": gguf_name, "quant": "q8_0"}))


def test_no_agent_names_the_training_command():
    paths = resolve_paths()
    assert list_agents(paths, "alice") == []
    assert latest_agent(paths, "alice") is None
    with pytest.raises(NotTrainedError, match=r"pa train --profile alice --kind naive"):
        require_agent(paths, "alice", "naive")


def test_latest_version_wins_and_incomplete_exports_are_ignored():
    paths = resolve_paths()
    assert next_version_dir(paths, "alice", "agent").name == "v1"
    _write_agent(next_version_dir(paths, "alice", "agent"))
    _write_agent(next_version_dir(paths, "alice", "agent"))
    _write_agent(next_version_dir(paths, "alice", "agent"), manifest=False)  # v3: crashed export
    assert next_version_dir(paths, "alice", "agent").name == "v4"
    agent = require_agent(paths, "alice")
    assert (agent.version, agent.kind, agent.quant, agent.label) == (2, "agent", "q8_0", "alice/agent/v2")
    assert agent.gguf.read_bytes() == b"GGUF"
    assert [a.version for a in list_agents(paths, "alice")] == [1, 2]
    assert latest_agent(paths, "alice", "no-baseline") is None


def test_bad_kind_and_profile_are_usage_errors():
    paths = resolve_paths()
    with pytest.raises(UsageError, match="not one of"):
        latest_agent(paths, "alice", "teacher")
    with pytest.raises(UsageError, match="profile name"):
        list_agents(paths, "../etc")
    assert KINDS == ("agent", "naive", "no-baseline")


def test_module_is_light():
    code = "import sys, core.agents; print(any(m in sys.modules for m in ('torch', 'transformers', 'llama_cpp')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
