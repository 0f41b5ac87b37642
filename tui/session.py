"""What the app knows between screens: paths, config, store, the chosen profile.

Screens ask the session, the session asks `core`. It never builds prompts, parses corpora or
talks HTTP; everything heavy (models, training) stays behind core functions that workers call.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.config import Config, load_config
from core.errors import PaError
from core.paths import Paths, resolve_paths
from core.store import Store

STATE_FILE = "tui-state.json"


@dataclass(frozen=True)
class ProfileState:
    """One row of the home screen: how far a profile has come."""

    name: str
    sender: str | None
    documents: int
    held_out: int
    distilled: int
    failed: int
    agent: str | None
    """Label of the latest trained agent (`profile/agent/vN`), None when untrained."""
    last_eval: str | None
    """Date of the last evaluation report, None when never evaluated."""

    @property
    def next_step(self) -> str:
        if not self.documents:
            return "import a corpus"
        if self.distilled < self.documents:
            return "distill"
        if not self.agent:
            return "train"
        if not self.last_eval:
            return "evaluate or draft"
        return "draft"


class Session:
    """Opened once per app; screens share it through `app.session`."""

    def __init__(self, paths: Paths | None = None, config: Config | None = None):
        self.paths = paths or resolve_paths()
        self.config = config or load_config(self.paths)
        self._store: Store | None = None
        self.profile: str | None = self._load_state().get("profile")
        self.current_intent: str | None = None
        """The intent last sent from the draft screen (the compare screen offers it)."""

    # -- store ---------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.paths.store_file)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- chosen profile, remembered across restarts ---------------------------------------------

    def choose_profile(self, name: str | None) -> None:
        self.profile = name
        self._update_state(profile=name)

    def theme(self) -> str | None:
        """The theme the writer chose last time (Ctrl+T), None before they ever chose one."""
        theme = self._load_state().get("theme")
        return theme if isinstance(theme, str) else None

    def remember_theme(self, theme: str) -> None:
        self._update_state(theme=theme)

    def training_pid(self, profile: str) -> int | None:
        """The training process this app (or a previous run of it) started for `profile`."""
        pid = self._load_state().get("training", {}).get(profile)
        return pid if isinstance(pid, int) else None

    def remember_training_pid(self, profile: str, pid: int | None) -> None:
        training = dict(self._load_state().get("training", {}))
        training[profile] = pid
        self._update_state(training=training)

    def _update_state(self, **changes) -> None:
        self._save_state({**self._load_state(), **changes})

    def require_profile(self) -> str:
        from core.errors import UsageError

        if not self.profile:
            raise UsageError("no profile chosen; pick or create one on the home screen (F2)")
        return self.profile

    def _state_file(self) -> Path:
        return self.paths.data_dir / STATE_FILE

    def _load_state(self) -> dict:
        try:
            data = json.loads(self._state_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_state(self, data: dict) -> None:
        file = self._state_file()
        file.parent.mkdir(parents=True, exist_ok=True)
        temporary = file.with_suffix(".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, file)

    # -- profiles --------------------------------------------------------------------------------

    def profile_states(self) -> list[ProfileState]:
        from core.agents import latest_agent

        states = []
        for profile in self.store.list_profiles():
            counts = self.store.count_documents(profile.id)
            rows = self.store.query(
                "SELECT d.status AS status, COUNT(*) AS n FROM distillations d "
                "JOIN documents doc ON doc.id = d.document_id "
                "WHERE doc.profile_id = ? AND d.stage = 'rules' GROUP BY d.status",
                (profile.id,),
            )
            by_status = {row["status"]: row["n"] for row in rows}
            agent = latest_agent(self.paths, profile.name, "agent")
            try:
                report = self.latest_report(profile.name)
            except PaError:
                report = {"generated_at": "unreadable"}
            states.append(
                ProfileState(
                    name=profile.name,
                    sender=profile.sender,
                    documents=counts["train"] + counts["test"],
                    held_out=counts["test"],
                    distilled=by_status.get("ok", 0),
                    failed=by_status.get("failed", 0),
                    agent=agent.label if agent else None,
                    last_eval=str(report.get("generated_at", "?"))[:10] if report else None,
                )
            )
        return states

    def create_profile(self, name: str) -> None:
        self.store.create_profile(name)
        self.choose_profile(name)

    def rename_profile(self, old: str, new: str) -> None:
        import shutil

        self.store.rename_profile(old, new)
        old_dir, new_dir = self.paths.profile_dir(old), self.paths.profile_dir(new)
        if old_dir.exists() and not new_dir.exists():
            shutil.move(str(old_dir), str(new_dir))
        if self.profile == old:
            self.choose_profile(new)

    def delete_profile(self, name: str) -> None:
        import shutil

        self.store.delete_profile(name)
        shutil.rmtree(self.paths.profile_dir(name), ignore_errors=True)
        if self.profile == name:
            self.choose_profile(None)

    # -- reports ---------------------------------------------------------------------------------

    def latest_report(self, profile: str) -> dict | None:
        """The profile's last `pa eval` report, read from disk (the eval command writes it)."""
        from core.report import latest_eval_report

        return latest_eval_report(self.paths, profile)

    # -- models per role ---------------------------------------------------------------------------

    def ollama_configured(self) -> bool:
        return bool(self.config.ollama.host or os.environ.get("OLLAMA_HOST"))

    async def ollama_models(self) -> list[str]:
        """Model names the configured Ollama server has pulled (network: call from an async worker)."""
        from core.llm.ollama_backend import list_models

        return [model.name for model in await list_models(self.config.ollama.host, self.config.ollama.timeout)]

    def save_models(self, large: str, agent: str, judge: str | None) -> None:
        """Check each spec, then set only the roles that changed in config.toml (comments and the
        order of the writer's file are kept: `core.config_edit`)."""
        from core.config_edit import edit_config_file
        from core.llm.specs import parse_spec

        specs = {"large": large, "agent": agent, "judge": judge or None}
        for role, spec in specs.items():
            if spec is not None:
                specs[role] = str(parse_spec(spec)) if not spec.startswith("gguf:") else spec.strip()
        current = self.config.models
        changes = {f"models.{role}": spec for role, spec in specs.items() if spec != getattr(current, role)}
        if changes:
            self.config = edit_config_file(self.paths.config_file, changes)

    # -- drafting ----------------------------------------------------------------------------------

    def draft_context(self):
        """The profile's DraftContext (models, agents, examples), opened once and reused."""
        from core.drafting import DraftContext

        profile = self.require_profile()
        cached = getattr(self, "_draft_context", None)
        if cached is None or cached.profile.name != profile or cached.config is not self.config:
            cached = DraftContext.open(profile, paths=self.paths, config=self.config, store=self.store)
            self._draft_context = cached
        return cached

    def save_draft(self, request, transcript, *, agent: str | None = None, rules: str | None = None,
                   edited_rules: str | None = None, parent_id: int | None = None) -> int:
        """Record one draft (or a regeneration from edited rules) in the history; returns its id."""
        from core.history import save_draft

        profile = self.store.get_profile(self.require_profile())
        return save_draft(self.store, profile.id, request, transcript, agent_version=agent, rules=rules,
                          edited_rules=edited_rules, parent_id=parent_id)

    def choose_draft_text(self, draft_id: int, chosen: str) -> None:
        from core.history import record_choice

        record_choice(self.store, draft_id, chosen)

    def draft_history(self, limit: int = 100):
        """The profile's drafts (`core.history.DraftRecord`), newest first."""
        from core.history import list_drafts

        profile = self.store.get_profile(self.require_profile())
        return list_drafts(self.store, profile.id, limit)

    def save_final_file(self, draft_id: int, text: str) -> Path:
        """Write a kept draft where the writer can pick it up: <profile>/drafts/draft-<id>.md."""
        folder = self.paths.profile_dir(self.require_profile()) / "drafts"
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / f"draft-{draft_id}.md"
        file.write_text(text.rstrip() + "\n", encoding="utf-8")
        return file

    # -- import ------------------------------------------------------------------------------------

    def import_options(self, profile: str, sender: str | None = None, *, dry_run: bool = False):
        from core.corpus import ImportOptions

        return ImportOptions(profile=profile, senders=(sender,) if sender else (), dry_run=dry_run, corpus=self.config.corpus)

    def preview_import(self, path: Path, sender: str | None = None, limit: int = 200) -> ImportPreview:
        """What an import of `path` would keep and drop, and why, storing nothing (blocking)."""
        from core.corpus import Dropped, preview_import

        options = self.import_options(self.require_profile(), sender, dry_run=True)
        report, outcomes = preview_import(self.store, path, options, limit)
        items = [
            PreviewItem(o.source, False, o.reason + (f" ({o.detail})" if o.detail else ""), "")
            if isinstance(o, Dropped) else PreviewItem(o.source, True, o.subject or "", o.text)
            for o in outcomes
        ]
        return ImportPreview(report, items)

    def run_import(self, path: Path, sender: str | None, on_progress):
        """Import `path` into the chosen profile (blocking: call from a thread worker)."""
        from core.corpus import import_corpus

        profile = self.require_profile()
        return import_corpus(self.store, path, self.import_options(profile, sender), on_progress)


@dataclass(frozen=True)
class PreviewItem:
    source: str
    kept: bool
    note: str
    """The subject of a kept message, or why it was dropped."""
    text: str
    """The cleaned text that would be stored (empty when dropped)."""


@dataclass(frozen=True)
class ImportPreview:
    report: object
    """The dry run's `core.corpus.ImportReport` (counts, drop reasons, senders)."""
    items: list[PreviewItem]
