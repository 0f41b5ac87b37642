"""Config, paths and store: the ground every other part stands on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.config import Config, load_config, parse_config
from core.errors import ConfigError, StoreError, UsageError
from core.paths import resolve_paths
from core.store import SCHEMA_VERSION, Store


def test_pa_home_moves_config_and_data(tmp_path: Path):
    paths = resolve_paths({"PA_HOME": str(tmp_path)})
    assert paths.config_file == tmp_path / "config.toml"
    assert paths.store_file.parent == tmp_path / "data"


def test_config_and_data_dirs_move_alone(tmp_path: Path):
    paths = resolve_paths({"PA_CONFIG_DIR": str(tmp_path / "c"), "PA_DATA_DIR": str(tmp_path / "d")})
    assert paths.config_dir == tmp_path / "c" and paths.data_dir == tmp_path / "d"


def test_missing_config_file_gives_defaults(pa_home: Path):
    assert load_config(resolve_paths()) == Config()


def test_config_values_are_typed():
    config = parse_config('[models]\nlarge = "ollama:llama3.1:8b"\n[distill]\nconcurrency = 8\n')
    assert config.models.large == "ollama:llama3.1:8b"
    assert config.distill.concurrency == 8
    assert config.judge_spec == "ollama:llama3.1:8b"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[models]\nlarg = 'x'\n", "models.larg: unknown key"),
        ("[distill]\nconcurrency = 'lots'\n", "distill.concurrency"),
        ("[distill]\nconcurrency = 0\n", "distill.concurrency"),
        ("[models\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(text: str, named: str):
    with pytest.raises(ConfigError) as err:
        parse_config(text, "config.toml")
    assert named in str(err.value)
    assert "\n" not in str(err.value)


def test_config_commands(pa, pa_home: Path):
    result = pa("config", "path")
    assert result.exit_code == 0 and str(pa_home) in result.stdout
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text('[models]\nlarge = "openai:gpt-4o-mini"\n')
    shown = pa("config", "show")
    assert 'large = "openai:gpt-4o-mini"' in shown.stdout
    (pa_home / "config.toml").write_text("[models]\nlarge = 3\n")
    bad = pa("config", "show")
    assert bad.exit_code == 2 and "models.large" in bad.stderr


def test_store_migrates_to_current_schema(tmp_path: Path):
    with Store.open(tmp_path / "s.db") as store:
        assert store.schema_version == SCHEMA_VERSION
    with Store.open(tmp_path / "s.db") as store:  # reopening migrates nothing twice
        assert store.schema_version == SCHEMA_VERSION


def test_store_from_newer_pa_is_refused(tmp_path: Path):
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer pa"):
        Store.open(tmp_path / "s.db")


def test_transaction_rolls_back_on_interrupt(tmp_path: Path):
    with Store.open(tmp_path / "s.db") as store:
        store.create_profile("kept")
        with pytest.raises(KeyboardInterrupt):
            with store.transaction() as db:
                db.execute("INSERT INTO profiles (name) VALUES ('lost')")
                raise KeyboardInterrupt
        assert [p.name for p in store.list_profiles()] == ["kept"]


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "with space", "x" * 65, ".hidden"])
def test_profile_names_with_path_characters_are_refused(tmp_path: Path, name: str):
    with Store.open(tmp_path / "s.db") as store, pytest.raises(UsageError, match="not allowed"):
        store.create_profile(name)


def test_profile_rename_and_delete(tmp_path: Path):
    with Store.open(tmp_path / "s.db") as store:
        store.create_profile("a")
        store.rename_profile("a", "b")
        assert [p.name for p in store.list_profiles()] == ["b"]
        store.delete_profile("b")
        assert store.list_profiles() == []
