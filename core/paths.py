"""Where pa keeps its config and data.

`PA_HOME` moves everything under one folder (tests use it to isolate state);
`PA_CONFIG_DIR` and `PA_DATA_DIR` move each one alone. Otherwise platformdirs decides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "pa"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def store_file(self) -> Path:
        return self.data_dir / "pa.sqlite3"

    def profile_dir(self, profile: str) -> Path:
        """Per-profile files (agents, training runs, reports). `profile` must be validated."""
        return self.data_dir / "profiles" / profile

    def agents_dir(self, profile: str) -> Path:
        return self.profile_dir(profile) / "agents"

    def runs_dir(self, profile: str) -> Path:
        return self.profile_dir(profile) / "runs"

    def reports_dir(self, profile: str) -> Path:
        return self.profile_dir(profile) / "reports"

    @property
    def models_cache_dir(self) -> Path:
        """Derived model files pa makes once and reuses (e.g. an fp32 copy of a GGUF base)."""
        return self.data_dir / "cache" / "models"


def resolve_paths(env: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    home = env.get("PA_HOME")
    if home:
        base = Path(home).expanduser()
        config_dir, data_dir = base, base / "data"
    else:
        import platformdirs

        config_dir = Path(platformdirs.user_config_dir(APP_NAME))
        data_dir = Path(platformdirs.user_data_dir(APP_NAME))
    if env.get("PA_CONFIG_DIR"):
        config_dir = Path(env["PA_CONFIG_DIR"]).expanduser()
    if env.get("PA_DATA_DIR"):
        data_dir = Path(env["PA_DATA_DIR"]).expanduser()
    return Paths(config_dir=config_dir, data_dir=data_dir)
