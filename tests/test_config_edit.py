"""config.toml edits keep what the writer wrote: comments, order, untouched keys."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.config_edit import edit_config_file
from core.errors import ConfigError

HAND_WRITTEN = """\
# my pa settings
[models]
large = "ollama:llama3.1:8b"  # the big one
agent = "embedded"
"""


def test_only_the_changed_key_is_rewritten_and_comments_stay(pa_home):
    file = pa_home / "config.toml"
    pa_home.mkdir(parents=True, exist_ok=True)
    file.write_text(HAND_WRITTEN, encoding="utf-8")
    config = edit_config_file(file, {"models.agent": "ollama:qwen2.5:0.5b"})
    assert file.read_text(encoding="utf-8") == HAND_WRITTEN.replace(
        'agent = "embedded"', 'agent = "ollama:qwen2.5:0.5b"'
    )
    assert config.models.agent == "ollama:qwen2.5:0.5b"
    assert load_config().models.large == "ollama:llama3.1:8b"


def test_a_new_key_is_added_and_none_removes_one(pa_home):
    file = pa_home / "config.toml"
    pa_home.mkdir(parents=True, exist_ok=True)
    file.write_text(HAND_WRITTEN, encoding="utf-8")
    edit_config_file(file, {"models.judge": "embedded"})
    assert file.read_text(encoding="utf-8").startswith(HAND_WRITTEN)
    edit_config_file(file, {"models.judge": None})
    assert file.read_text(encoding="utf-8").rstrip() == HAND_WRITTEN.rstrip()


def test_a_missing_file_gets_only_the_edited_key(pa_home):
    file = pa_home / "config.toml"
    edit_config_file(file, {"models.large": "embedded"})
    assert file.read_text(encoding="utf-8").split() == ["[models]", "large", "=", '"embedded"']


def test_an_invalid_result_writes_nothing(pa_home):
    file = pa_home / "config.toml"
    pa_home.mkdir(parents=True, exist_ok=True)
    file.write_text(HAND_WRITTEN, encoding="utf-8")
    with pytest.raises(ConfigError, match="models.lage"):
        edit_config_file(file, {"models.lage": "embedded"})
    assert file.read_text(encoding="utf-8") == HAND_WRITTEN
