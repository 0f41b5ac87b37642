"""What the app remembers between screens: UI state only.

The chosen profile (kept across restarts in `tui-state.json`), the intent last drafted (the
compare screen offers it) and where the file tree starts. Every use case — profiles, import,
distil, train, draft, history, evaluate — is a `core.workspace.Workspace` method; the session
only carries the workspace the app was opened on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.atomic import write_text_atomic
from core.errors import UsageError
from core.workspace import Workspace

STATE_FILE = "tui-state.json"


class Session:
    """Opened once per app; screens reach it as `self.session`, the use cases as `self.workspace`."""

    def __init__(self, workspace: Workspace | None = None):
        self.workspace = workspace or Workspace.open()
        self.profile: str | None = self._load_state().get("profile")
        self.current_intent: str | None = None
        """The intent last sent from the draft screen (the compare screen offers it)."""
        self.browse_root: Path | None = None
        """Where the import screen's file tree starts (default: the working directory)."""

    def close(self) -> None:
        self.workspace.close()

    def choose_profile(self, name: str | None) -> None:
        self.profile = name
        self._update_state(profile=name)

    def theme(self) -> str | None:
        """The theme the writer chose last time (Ctrl+T), None before they ever chose one."""
        theme = self._load_state().get("theme")
        return theme if isinstance(theme, str) else None

    def remember_theme(self, theme: str) -> None:
        self._update_state(theme=theme)

    def _update_state(self, **changes: Any) -> None:
        self._save_state({**self._load_state(), **changes})

    def require_profile(self) -> str:
        if not self.profile:
            raise UsageError("no profile chosen; pick or create one on the home screen (F2)")
        return self.profile

    def _state_file(self) -> Path:
        return self.workspace.paths.data_dir / STATE_FILE

    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_state(self, data: dict[str, Any]) -> None:
        write_text_atomic(self._state_file(), json.dumps(data))
