"""Every use case of pa, headless: what `pa` (the CLI) and `pa-tui` both call.

A `Workspace` is one installation opened: its paths, config and store. Each use case is a
method (or an async generator of typed events) that a view calls and renders; a view never
opens models, builds the draft flow, saves history, starts training or queries the store by
itself. Groups, in the order of the pipeline:

- profiles and their pipeline state: `profile_states`, `pipeline_state`, create/rename/delete
- import: `preview_import`, `import_corpus`
- distil: `distill`, `distillations`
- train: `start_training`, `follow_training`, `training`, `stop_training` (resume: `start_training(resume=True)`)
- draft: `draft` (naive ‖ rules → final), `rewrite` (final from edited rules), `save_draft`, `keep`
- compare: `compare_methods`, `stream_method`, `compare`
- history: `history`, `history_entry`
- evaluate: `evaluate`, `permutation`, `latest_report`

An untrained agent: `draft` refuses with `NotTrainedError` (the message names `pa train`)
before any model loads, in both views. A silent naive fallback would hand the writer a text
that is not in their style while looking like pa's answer; `compare` is where the untrained
baselines are offered, each labelled.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import Config, load_config
from core.errors import BackendError, NotTrainedError, PaError, UsageError
from core.events import ignore_progress
from core.paths import Paths, resolve_paths
from core.pipeline_state import PipelineState, ProfileState, read_pipeline_state
from core.store import Document, Profile, Store

if TYPE_CHECKING:
    from core.agents import AgentInfo
    from core.corpus import ImportOptions, ImportReport
    from core.distill import DistillSummary, DocumentDistillation
    from core.drafting import DraftContext, DraftEvent, DraftRequest, DraftTranscript
    from core.edit_learning import EditLearning
    from core.edits import SentEdit
    from core.events import Progress
    from core.history import DraftRecord
    from core.llm.base import Backend
    from core.llm.health import RoleCheck
    from core.llm.ollama_backend import OllamaModel
    from core.locks import Writer
    from core.style.profile_facts import ProfileFacts
    from core.style.rule_check import RuleVerdict
    from finetune.runs import Run
    from finetune.transcript import TrainingEvent, TrainingTranscript

ProgressCallback = Callable[["Progress"], None]


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
    report: ImportReport
    """The dry run's counts, drop reasons and senders."""
    items: list[PreviewItem]


@dataclass(frozen=True)
class DraftStart:
    """What a draft runs with: the agent that writes the rules and the events to render."""

    agent: AgentInfo
    events: AsyncIterator[DraftEvent]


@dataclass(frozen=True)
class CompareRow:
    """One method of `compare`: its text and timings, why it cannot run, or how it failed."""

    method: str
    title: str
    available: bool
    reason: str | None = None
    error: str | None = None
    text: str | None = None
    rules: str | None = None
    model: str | None = None
    seconds: float | None = None
    first_token_seconds: float | None = None
    completion_tokens: int | None = None
    checks: dict[str, Any] | None = None
    """pa's checks of a checked final (the agent's method), when it made them."""

    def as_dict(self) -> dict[str, object]:
        if not self.available:
            return {"method": self.method, "title": self.title, "available": False, "reason": self.reason}
        if self.error is not None:
            return {"method": self.method, "title": self.title, "available": True, "error": self.error}
        return {
            "method": self.method,
            "title": self.title,
            "available": True,
            "text": self.text,
            "rules": self.rules,
            "model": self.model,
            "seconds": self.seconds,
            "first_token_seconds": self.first_token_seconds,
            "completion_tokens": self.completion_tokens,
            "checks": self.checks,  # pa's checked final (agent only)
        }


class Workspace:
    """One pa installation, opened: the use cases both views call."""

    def __init__(self, paths: Paths, config: Config, store: Store):
        self.paths = paths
        self.config = config
        self.store = store
        self._contexts: dict[str, DraftContext] = {}

    @classmethod
    def open(cls, paths: Paths | None = None, config: Config | None = None) -> Workspace:
        """The installation PA_HOME (or the platform folders) points at; a bad config or store is one PaError."""
        paths = paths or resolve_paths()
        config = config or load_config(paths)
        return cls(paths, config, Store.open(paths.store_file))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- profiles --------------------------------------------------------------------------------

    def profile(self, name: str) -> Profile:
        """The profile, or a UsageError naming the command that creates it."""
        return self.store.get_profile(name)

    def has_profile(self, name: str) -> bool:
        return self.store.find_profile(name) is not None

    def profile_states(self) -> list[ProfileState]:
        from core.agents import latest_agent

        states = []
        for profile in self.store.list_profiles():
            splits = self.store.count_documents(profile.id)
            counts = self.store.stage_counts(profile.id)
            agent = latest_agent(self.paths, profile.name, "agent")
            try:
                report = self.latest_report(profile.name)
            except PaError:
                report = {"generated_at": "unreadable"}
            states.append(
                ProfileState(
                    name=profile.name,
                    sender=profile.sender,
                    documents=splits["train"] + splits["test"],
                    held_out=splits["test"],
                    distilled=counts.get(("rules", "ok"), 0),
                    failed=counts.get(("rules", "failed"), 0),
                    agent=agent.label if agent else None,
                    last_eval=str(report.get("generated_at", "?"))[:10] if report else None,
                )
            )
        return states

    def pipeline_state(self, profile: str) -> PipelineState:
        """Distillation counts and the latest training run's transcript (alive or not, whoever started it)."""
        return read_pipeline_state(self.store, self.paths, profile)

    def create_profile(self, name: str, genre: str = "email") -> Profile:
        return self.store.create_profile(name, genre)

    def rename_profile(self, old: str, new: str) -> Profile:
        """Renames the profile and moves its folder (agents, runs, reports) with it."""
        profile = self.store.rename_profile(old, new)
        old_dir, new_dir = self.paths.profile_dir(old), self.paths.profile_dir(new)
        if old_dir.exists() and not new_dir.exists():
            shutil.move(str(old_dir), str(new_dir))
        self._contexts.pop(old, None)
        return profile

    def delete_profile(self, name: str) -> None:
        """Deletes the profile, its documents and everything made from them."""
        self.store.delete_profile(name)
        shutil.rmtree(self.paths.profile_dir(name), ignore_errors=True)
        self._contexts.pop(name, None)

    def corpus_stats(self, profile: str) -> dict[str, Any]:
        """Documents per split, words, dates, sign-offs and past imports."""
        owner = self.profile(profile)
        counts = self.store.count_documents(owner.id)
        words = sorted(self.store.document_words(owner.id))
        return {
            "profile": owner.name,
            "genre": owner.genre,
            "sender": owner.sender,
            "documents": counts["train"] + counts["test"],
            "train": counts["train"],
            "test": counts["test"],
            "median_words": words[len(words) // 2] if words else 0,
            "mean_words": round(sum(words) / len(words), 1) if words else 0,
            **self.store.document_facts(owner.id),
            "imports": self.store.import_log(owner.id),
        }

    def style_facts(self, profile: str, split: str | None = "train") -> ProfileFacts:
        """The style facts pa measured from the profile's texts (`core.style`), with their counts."""
        from core.style.facts_store import load_profile_facts

        return load_profile_facts(self.store, self.profile(profile), split, with_sent=True)

    def documents(self, profile: str, split: str | None = None, limit: int | None = None) -> list[Document]:
        if split not in (None, "train", "test"):
            raise UsageError(f"split {split!r}: use train or test")
        return self.store.documents(self.profile(profile).id, split=split, limit=limit)

    def document(self, profile: str, document_id: int) -> Document:
        owner = self.profile(profile)
        document = self.store.get_document(document_id)
        if document.profile_id != owner.id:
            raise UsageError(
                f"document {document_id} is not in profile {profile!r}; list them with `pa corpus list --profile {profile}`"
            )
        return document

    def writer(self, profile: str, command: str) -> AbstractContextManager[Writer]:
        """Hold the profile's writer lock (core.locks): a second pa command writing to it is refused."""
        from core.locks import profile_writer

        return profile_writer(self.paths.data_dir, profile, command)

    # -- models per role ---------------------------------------------------------------------------

    def ollama_configured(self) -> bool:
        return bool(self.config.ollama.host or os.environ.get("OLLAMA_HOST"))

    async def ollama_models(self, host: str | None = None) -> list[OllamaModel]:
        """The models the Ollama server has pulled (`core.llm.ollama_backend.OllamaModel`)."""
        from core.llm.ollama_backend import list_models

        return await list_models(host or self.config.ollama.host, timeout=min(self.config.ollama.timeout, 30.0))

    def save_models(self, large: str, agent: str, judge: str | None) -> None:
        """Check each spec, then set only the roles that changed in config.toml (the writer's
        comments and order are kept: `core.config_edit`)."""
        from core.config_edit import edit_config_file
        from core.llm.specs import parse_spec

        specs: dict[str, str | None] = {"large": large, "agent": agent, "judge": judge or None}
        for role, spec in specs.items():
            if spec is not None:
                specs[role] = str(parse_spec(spec)) if not spec.startswith("gguf:") else spec.strip()
        current = self.config.models
        changes = {f"models.{role}": spec for role, spec in specs.items() if spec != getattr(current, role)}
        if changes:
            self.config = edit_config_file(self.paths.config_file, changes)
            self._contexts.clear()

    async def check_models(self) -> list[RoleCheck]:
        """`pa doctor`: each configured role probed (`core.llm.health.RoleCheck`)."""
        from core.llm.health import check_roles

        return await check_roles(self.config)

    def gguf_export_tools(self) -> tuple[bool, str]:
        """`pa doctor`: whether llama.cpp's converters that export agents are installed, and their version."""
        from finetune.llama_converters import describe_converters

        return describe_converters()

    def open_backend(self, spec: str | None = None) -> Backend:
        """A backend for `spec` (default: M_L, `models.large`)."""
        from core.llm.specs import open_backend

        return open_backend(spec or self.config.models.large, self.config)

    # -- import ------------------------------------------------------------------------------------

    def import_options(self, profile: str, senders: Sequence[str] = (), **options: Any) -> ImportOptions:
        from core.corpus import ImportOptions

        return ImportOptions(profile=profile, senders=tuple(senders), corpus=self.config.corpus, **options)

    def preview_import(self, profile: str, path: Path, sender: str | None = None, limit: int = 200) -> ImportPreview:
        """What an import of `path` would keep and drop, and why, storing nothing (blocking)."""
        from core.corpus import Dropped, preview_import

        options = self.import_options(profile, (sender,) if sender else (), dry_run=True)
        report, outcomes = preview_import(self.store, path, options, limit)
        items = [
            PreviewItem(o.source, False, o.reason + (f" ({o.detail})" if o.detail else ""), "")
            if isinstance(o, Dropped)
            else PreviewItem(o.source, True, o.subject or "", o.text)
            for o in outcomes
        ]
        return ImportPreview(report, items)

    def import_corpus(
        self, path: Path, options: ImportOptions, on_progress: ProgressCallback | None = None
    ) -> ImportReport:
        """Import `path` as `options` say (blocking: a thread worker in the TUI)."""
        from core.corpus import import_corpus

        if on_progress is None:
            return import_corpus(self.store, path, options)
        return import_corpus(self.store, path, options, on_progress)

    # -- distil ------------------------------------------------------------------------------------

    async def distill(
        self,
        profile: str,
        *,
        large: Backend | None = None,
        stages: tuple[str, ...] | None = None,
        limit: int | None = None,
        concurrency: int | None = None,
        retry_failed: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> DistillSummary:
        """Intents, zero-shot drafts and rules for the profile's texts (resumable: answers are journaled)."""
        from core.distill import distill_profile

        options: dict[str, Any] = {"limit": limit, "concurrency": concurrency, "retry_failed": retry_failed}
        if stages is not None:
            options["stages"] = stages
        return await distill_profile(
            self.store,
            self.profile(profile),
            large or self.open_backend(),
            self.config,
            on_progress=on_progress or ignore_progress,
            **options,
        )

    def distillations(self, profile: str, document_id: int | None = None) -> list[DocumentDistillation]:
        from core.distill import read_distillations

        return read_distillations(self.store, self.profile(profile), document_id)

    def rule_checks(self, profile: str, items: list[DocumentDistillation]) -> dict[int, list[RuleVerdict]]:
        """pa's verdicts on each document's rules (kept, dropped with the reason, unchecked): core.style.rule_check."""
        from core.style.rule_check import check_profile_rules, rule_verdicts

        owner = self.profile(profile)
        check_profile_rules(self.store, owner)
        return {
            item.document.id: rule_verdicts(self.store, item.document.id) for item in items if "rules" in item.stages
        }

    # -- train -------------------------------------------------------------------------------------

    def start_training(
        self,
        profile: str,
        kind: str = "agent",
        *,
        resume: bool = False,
        quant: str = "auto",
        epochs: int | None = None,
        update: bool = False,
    ) -> tuple[Run, Any]:
        """Start training in its own process: a new run, or (resume) the newest one, whatever stopped it.

        `update`: continue the current agent's adapter on the examples it has not seen (the rules
        learned from edits, repeated as recent, and new distilled texts) instead of training a
        fresh one; the result is a new version, the old one stays (finetune.update).
        Refused with TrainingBusyError when a process already trains this profile's `kind`.
        Returns the run and the process (`subprocess.Popen`).
        """
        from finetune.runs import prepare_run, resumable_run, start_training

        self.profile(profile)
        if resume and update:
            raise UsageError("--resume and --update do not go together: --resume continues any unfinished run")
        if resume:
            run = resumable_run(self.paths, profile, kind)
        elif update:
            from finetune.update import prepare_update_run

            run = prepare_update_run(self.paths, self.store, self.config, profile, kind, quant=quant, epochs=epochs)
        else:
            run = prepare_run(self.paths, self.store, self.config, profile, kind, quant=quant, epochs=epochs)
        return run, start_training(run, resume=resume)

    def follow_training(
        self, run: Run, process: Any, transcript: TrainingTranscript | None = None, poll_seconds: float = 0.3
    ) -> Iterator[TrainingEvent]:
        """The run's typed events as they arrive until `process` exits, each folded into `transcript`."""
        from finetune.runs import watch
        from finetune.transcript import parse_event

        for record in watch(run, process, poll_seconds):
            event = parse_event(record)
            if event is None:
                continue
            if transcript is not None:
                transcript.apply(event)
            yield event

    def training(self, profile: str, kind: str = "agent") -> TrainingTranscript:
        """The latest run of `kind` as it stands: events folded, alive or not."""
        from finetune.runs import latest_run
        from finetune.transcript import read_transcript

        return read_transcript(latest_run(self.paths, profile, kind))

    def stop_training(self, profile: str, kind: str = "agent") -> bool:
        """Ask the live trainer of the profile (whoever started it) to checkpoint and stop."""
        from finetune.runs import live_run

        run = live_run(self.paths, profile, kind)
        return run is not None and run.stop()

    def agents(self, profile: str) -> list[AgentInfo]:
        from core.agents import list_agents

        self.profile(profile)
        return list_agents(self.paths, profile)

    def current_agent(self, profile: str, kind: str = "agent") -> AgentInfo | None:
        """The version drafts use (`pa agents use`'s choice, else the newest), or None before training."""
        from core.agents import latest_agent

        self.profile(profile)
        return latest_agent(self.paths, profile, kind)

    def use_agent(self, profile: str, version: str | int, kind: str = "agent") -> AgentInfo:
        """Make `version` the one drafts use (rollback, or forward again); no version is deleted."""
        from core.agents import use_agent

        self.profile(profile)
        return use_agent(self.paths, profile, version, kind)

    # -- draft -------------------------------------------------------------------------------------

    def draft_context(self, profile: str) -> DraftContext:
        """The profile's models, agents and examples, opened once per workspace and reused."""
        from core.drafting import DraftContext

        context = self._contexts.get(profile)
        if context is None or context.config is not self.config:
            context = DraftContext(self.paths, self.config, self.store, self.profile(profile))
            self._contexts[profile] = context
        return context

    def draft(self, profile: str, request: DraftRequest, *, naive: bool = True) -> DraftStart:
        """Naive draft and the agent's rules at once, then the final from the rules (`naive=False`:
        no naive draft, for a caller that only wants the final, e.g. benchmarks/edit_loop.py).

        Raises NotTrainedError before any model loads when the profile has no usable agent.
        Models load lazily when the events are first awaited (a view runs them in a worker).
        """
        from core.drafting import draft

        context = self.draft_context(profile)
        info = context.agent_info("agent")

        async def events() -> AsyncIterator[DraftEvent]:
            import asyncio

            large = await asyncio.to_thread(context.large)
            agent = await asyncio.to_thread(context.agent, "agent")
            # pa's checked final (drafting.check_final), by the facts of the person's texts and of those they sent
            checker = await asyncio.to_thread(context.final_checker, request, with_sent=True)
            learned = await asyncio.to_thread(context.edit_rule_candidates, request)  # from the person's edits
            source = draft(
                large,
                agent,
                request,
                genre=context.genre,
                text_options=context.text_options,
                rules_options=context.rules_options,
                checker=checker,
                edit_rules=learned,
                naive=naive,
            )
            try:
                async for event in source:
                    yield event
            finally:
                await source.aclose()

        return DraftStart(info, events())

    async def rewrite(self, profile: str, request: DraftRequest, rules: str) -> AsyncIterator[DraftEvent]:
        """Only the final again, from rules the writer edited."""
        import asyncio

        from core.drafting import stream_final

        context = self.draft_context(profile)
        large = await asyncio.to_thread(context.large)
        source = stream_final(large, request, rules, genre=context.genre, options=context.text_options)
        try:
            async for event in source:
                yield event
        finally:
            await source.aclose()

    def save_draft(
        self,
        profile: str,
        request: DraftRequest,
        transcript: DraftTranscript,
        *,
        agent: str | None = None,
        rules: str | None = None,
        edited_rules: str | None = None,
        parent_id: int | None = None,
    ) -> int:
        """Record one draft (or a rewrite from edited rules, with its parent) in the history; returns its id."""
        from core.history import save_draft

        return save_draft(
            self.store,
            self.profile(profile).id,
            request,
            transcript,
            agent_version=agent,
            rules=rules,
            edited_rules=edited_rules,
            parent_id=parent_id,
        )

    def keep(self, draft_id: int, chosen: str) -> None:
        """Remember which text the writer kept: naive, final, or their own edit."""
        from core.history import record_choice

        record_choice(self.store, draft_id, chosen)

    def record_sent(self, profile: str, draft_id: int, sent: str, *, source: str) -> int:
        """Store the text the person really sent for draft `draft_id` (no model call); returns the sent edit's id.

        `source`: tui | editor | feedback. An unknown draft, another profile's or an empty text is a UsageError.
        """
        from core.edits import record_sent

        sent_id = record_sent(self.store, self.profile(profile), draft_id, sent, source=source)
        if profile in self._contexts:
            self._contexts[profile].forget_style_facts()  # the final's checks count the sent text
        return sent_id

    def sent_edits(self, profile: str, draft_id: int | None = None) -> list[SentEdit]:
        """The texts the person sent for the profile's drafts (or one draft's), oldest first."""
        from core.edits import sent_edits

        found = sent_edits(self.store, self.profile(profile))
        return [edit for edit in found if draft_id is None or edit.draft_id == draft_id]

    def pending_edits(self, profile: str) -> int:
        """Sent texts not learned from yet (`learn_from_edits` would ask M_L about them)."""
        from core.edits import sent_edits

        return len(sent_edits(self.store, self.profile(profile), undistilled=True))

    async def learn_from_edits(
        self, profile: str, *, progress: ProgressCallback | None = None, large: Backend | None = None
    ) -> EditLearning:
        """Distil rules from every sent edit of the profile not learned from yet (M_L: `large`,
        default `models.large`): distillation's rules prompt, validation and journal
        (`core.edit_learning`), so an interrupted call resumes without asking twice."""
        import asyncio

        from core.edit_learning import learn_from_edits

        owner = self.profile(profile)
        context = self.draft_context(profile)
        if large is None:
            large = await asyncio.to_thread(context.large)  # the drafting M_L, loaded once per workspace
        summary = await learn_from_edits(self.store, owner, large, self.config, on_progress=progress or ignore_progress)
        if summary.learned:
            context.forget_edit_rules()  # the next draft retrieves the new rules
        return summary

    def save_final_file(self, profile: str, draft_id: int, text: str) -> Path:
        """Write a kept draft where the writer can pick it up: <profile>/drafts/draft-<id>.md."""
        from core.atomic import write_text_atomic

        file = self.paths.profile_dir(profile) / "drafts" / f"draft-{draft_id}.md"
        write_text_atomic(file, text.rstrip() + "\n")
        return file

    # -- history -----------------------------------------------------------------------------------

    def history(self, profile: str, limit: int | None = 100) -> list[DraftRecord]:
        """The profile's drafts, newest first."""
        from core.history import list_drafts

        return list_drafts(self.store, self.profile(profile).id, limit)

    def history_entry(self, profile: str, draft_id: int) -> DraftRecord:
        from core.history import get_draft

        owner = self.profile(profile)
        entry = get_draft(self.store, draft_id)
        if entry.profile_id != owner.id:
            raise UsageError(
                f"draft #{draft_id} belongs to another profile; list this one's with `pa history --profile {profile}`"
            )
        return entry

    # -- compare -----------------------------------------------------------------------------------

    def unavailable(self, profile: str, method: str) -> str | None:
        """Why `method` cannot run for the profile yet (naming the command that fixes it), or None."""
        return self.draft_context(profile).unavailable(method)

    def stream_method(self, profile: str, method: str, request: DraftRequest) -> AsyncIterator[DraftEvent]:
        from core.drafting import stream_method

        return stream_method(method, request, self.draft_context(profile))

    async def compare(
        self,
        profile: str,
        request: DraftRequest,
        methods: Sequence[str] | None = None,
        on_method: Callable[[str], None] | None = None,
    ) -> list[CompareRow]:
        """Every chosen method for one intent, one after another (so each timing is its own)."""
        from core.drafting import METHODS, generate, method_of

        names = list(methods or METHODS)
        for name in names:
            method_of(name)
        context = self.draft_context(profile)
        rows: list[CompareRow] = []
        for name in names:
            title = METHODS[name].title
            reason = context.unavailable(name)
            if reason is not None:
                rows.append(CompareRow(name, title, False, reason=reason))
                continue
            if on_method is not None:
                on_method(name)
            try:
                result = await generate(name, request, context)
            except NotTrainedError as err:
                rows.append(CompareRow(name, title, False, reason=str(err)))
                continue
            except BackendError as err:  # one method failing must not hide the others' results
                rows.append(CompareRow(name, title, True, error=str(err)))
                continue
            rows.append(
                CompareRow(
                    name,
                    title,
                    True,
                    text=result.text,
                    rules=result.rules,
                    model=result.model,
                    seconds=round(result.seconds, 3),
                    first_token_seconds=None
                    if result.first_token_seconds is None
                    else round(result.first_token_seconds, 3),
                    completion_tokens=result.usage.completion_tokens if result.usage else None,
                    checks=result.checks.as_dict() if result.checks else None,
                )
            )
        return rows

    # -- evaluate ----------------------------------------------------------------------------------

    async def evaluate(
        self,
        profile: str,
        *,
        judge: str | None = None,
        baselines: Sequence[str] | None = None,
        limit: int | None = None,
        out: Path | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> tuple[dict[str, Any], list[Path]]:
        """Generate, score and judge the agent and the baselines on held-out texts; writes the report files."""
        from core.evaluate import evaluate_profile
        from core.report import write_eval_report

        judge_backend = self.open_backend(judge or self.config.judge_spec)
        report = await evaluate_profile(
            self.store,
            self.paths,
            self.config,
            profile,
            judge=judge_backend,
            baselines=list(baselines) if baselines else None,
            limit=limit,
            on_progress=on_progress or ignore_progress,
        )
        return report, write_eval_report(report, out or self.paths.reports_dir(profile))

    async def permutation(
        self,
        profiles: Sequence[str],
        *,
        limit: int | None = None,
        metric: str = "bertscore_f1",
        out: Path | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> tuple[dict[str, Any], list[Path]]:
        """Each profile's agent on every profile's held-out intents, scored against the real texts."""
        from core.evaluate import permutation
        from core.report import permutation_dir, write_permutation_report

        report = await permutation(
            self.store,
            self.paths,
            self.config,
            list(profiles),
            limit=limit,
            metric=metric,
            on_progress=on_progress or ignore_progress,
        )
        return report, write_permutation_report(report, out or permutation_dir(self.paths))

    def latest_report(self, profile: str) -> dict[str, Any] | None:
        """The profile's last evaluation report, read from disk."""
        from core.report import latest_eval_report

        return latest_eval_report(self.paths, profile)
