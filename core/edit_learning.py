"""Rules from the person's edits: M_L compares the final pa wrote with the text the person sent.

Exactly distillation's rules stage (`core.distill`, the paper's draft-vs-real comparison) with
pa's final in the place of the zero-shot draft and the sent text in the place of the real
text: the same `<genre>.rules` prompt, the same validation (`core.tagged.parse_rules`, with the
sent text's counted length), the same retries and the same guided steps. The stage code is
`core.distill._Run`'s own; only where it journals differs: answers go to `edit_calls` and
finished guided steps to `edit_steps` (distillation's journals, keyed by the sent edit instead
of a corpus document), so a run killed at any point never asks for an answer twice, and the
result of each edit is one row of `edit_rules`.

A text sent as pa wrote it (whitespace aside) has no difference to learn from: it is recorded
as `unchanged` without a model call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core.config import Config
from core.distill import Failure, _Answer, _Row, _Run, first_part, stage_messages, template_id
from core.edits import SentEdit, sent_edits
from core.events import ProgressCallback, ignore_progress
from core.llm.base import Backend
from core.locks import writes_profile
from core.prompts import Template, load_template
from core.store import Document, Profile, Store
from core.tagged import Parsed, Rejected

STAGE = "rules"
"""The distillation stage an edit runs: its prompt, parser and journal stage name."""
PROGRESS_STAGE = "edit rules"


@dataclass
class EditLearning:
    """What one `learn_from_edits` call did."""

    profile: str
    model: str
    edits: int
    """Sent texts not learned from before this call."""
    learned: int = 0
    failed: int = 0
    unchanged: int = 0
    """Sent as pa wrote them: recorded without a model call."""
    calls: int = 0
    """Model calls made in this call."""
    replayed: int = 0
    """Answers re-read from the journal of an interrupted call instead of asked again."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: list[Failure] = field(default_factory=list)
    """Edits whose rules failed, with the reason (`document_id` is the sent edit's id)."""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = [{"sent_edit_id": f.document_id, "reason": f.reason} for f in self.failures]
        data["seconds"] = round(self.seconds, 3)
        return data


def edit_document(profile: Profile, edit: SentEdit) -> Document:
    """The sent text in the shape distillation's stage code reads (a document that is no corpus row)."""
    return Document(
        id=edit.id,
        profile_id=profile.id,
        text=edit.sent,
        sender=profile.sender,
        recipients=edit.recipient,
        subject=edit.subject,
        date=None,
        previous_context=edit.previous,
        source_path=None,
        message_id=None,
        content_hash="",
        split="train",
    )


class _EditRun(_Run):
    """Distillation's run over sent edits: its own journal tables and result table."""

    calls_table = "edit_calls"
    steps_table = "edit_steps"
    key_column = "sent_edit_id"
    stage_labels = {STAGE: PROGRESS_STAGE}

    def load_edits(self, edits: list[SentEdit]) -> None:
        """What an interrupted call left in the journal for these edits (this model's answers only)."""
        ids = {edit.id for edit in edits}
        for row in self.store.query(
            "SELECT c.* FROM edit_calls c JOIN sent_edits e ON e.id = c.sent_edit_id "
            "WHERE e.profile_id = ? AND c.model = ?",
            (self.profile.id, self.large.spec),
        ):
            if row["sent_edit_id"] in ids:
                self.journal.setdefault((row["sent_edit_id"], row["stage"], row["slot"]), {})[row["attempt"]] = row
        for row in self.store.query(
            "SELECT s.* FROM edit_steps s JOIN sent_edits e ON e.id = s.sent_edit_id "
            "WHERE e.profile_id = ? AND s.model = ?",
            (self.profile.id, self.large.spec),
        ):
            if row["sent_edit_id"] in ids:
                key = (row["sent_edit_id"], row["stage"], row["slot"], row["attempt"], row["step"])
                self.steps[key] = row
        self.stats[STAGE].total = len(edits)

    async def learn(self, edit: SentEdit) -> None:
        template = load_template(template_id(self.profile.genre, STAGE, self.form))
        if edit.unchanged:
            self.record(edit, "unchanged", _Answer(Rejected("sent as pa wrote it"), "", 0), template)
            return
        document = edit_document(self.profile, edit)
        shown = document
        if len(document.text) > self.settings.max_document_chars:
            shown, self.cut_notes[document.id] = first_part(document, self.settings.max_document_chars)
        _, messages = stage_messages(
            STAGE, shown, self.profile.genre, intent=edit.intent, draft=edit.final or "", form=self.form
        )
        answer = await self.ask(shown, STAGE, 0, template, messages, None, 1, length_of=document.text)
        self.record(edit, "ok" if isinstance(answer.result, Parsed) else "failed", answer, template)

    def record(self, edit: SentEdit, status: str, answer: _Answer, template: Template) -> None:
        """Commit one edit's outcome: its rules, the reason they failed, or unchanged."""
        result = answer.result
        if isinstance(result, Parsed) and edit.id in self.cut_notes:
            result = replace(result, notes=(*result.notes, self.cut_notes[edit.id]))
        parsed = result if isinstance(result, Parsed) else None
        reason = result.reason if isinstance(result, Rejected) and status == "failed" else None
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO edit_rules (sent_edit_id, profile_id, intent, recipient, status, rules, thinking, error, "
                "raw, notes, model, template_id, template_version, attempts, prompt_tokens, completion_tokens) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    edit.id,
                    self.profile.id,
                    edit.intent,
                    edit.recipient,
                    status,
                    parsed.content if parsed else None,
                    parsed.thinking if parsed else None,
                    reason,
                    answer.raw or None,
                    "\n".join(parsed.notes) if parsed and parsed.notes else None,
                    self.large.spec,
                    template.id,
                    template.version,
                    answer.attempts,
                    answer.prompt_tokens,
                    answer.completion_tokens,
                ),
            )
        self.rows[(edit.id, STAGE)] = _Row(status, parsed.content if parsed else None, answer.attempts, None)
        stats = self.stats[STAGE]
        if status == "failed":
            stats.failed += 1
            self.failures.append(Failure(edit.id, STAGE, str(reason)))
            self.report(STAGE, f"edit #{edit.id} (draft #{edit.draft_id}): {reason}")
        else:
            stats.ok += 1
            self.report(STAGE)


@writes_profile("pa feedback --learn", lambda args: args["profile"].name)
async def learn_from_edits(
    store: Store,
    profile: Profile,
    large: Backend,
    config: Config,
    *,
    on_progress: ProgressCallback = ignore_progress,
) -> EditLearning:
    """Distil rules from every sent edit of the profile not learned from yet, one after another.

    Resumable like distillation: calling again after a crash or Ctrl-C re-reads the journalled
    answers and asks only for what is missing. A `BackendError` stops the call (a re-run continues).
    """
    template_id(profile.genre, STAGE)  # an unknown genre fails before any work
    edits = sent_edits(store, profile, undistilled=True)
    started = time.perf_counter()
    run = _EditRun(store, profile, large, config, (STAGE,), 1, False, on_progress)
    run.load_edits(edits)
    summary = EditLearning(profile=profile.name, model=large.spec, edits=len(edits))
    if edits:
        run.report(STAGE)
    try:
        for edit in edits:
            await run.learn(edit)
    finally:
        if run.closing:
            await asyncio.gather(*run.closing, return_exceptions=True)
    stats = run.stats[STAGE]
    outcomes = {row["sent_edit_id"]: row["status"] for row in _outcomes(store, [edit.id for edit in edits])}
    summary.learned = sum(1 for status in outcomes.values() if status == "ok")
    summary.failed = sum(1 for status in outcomes.values() if status == "failed")
    summary.unchanged = sum(1 for status in outcomes.values() if status == "unchanged")
    summary.calls, summary.replayed = stats.calls, stats.replayed
    summary.prompt_tokens, summary.completion_tokens = stats.prompt_tokens, stats.completion_tokens
    summary.failures = run.failures
    summary.seconds = time.perf_counter() - started
    return summary


def _outcomes(store: Store, ids: list[int]) -> list[Any]:
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    return store.query(f"SELECT sent_edit_id, status FROM edit_rules WHERE sent_edit_id IN ({marks})", tuple(ids))
