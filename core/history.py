"""Draft history: every draft, its rules, the user's edits and the text they kept.

Rows of the `drafts` table are future training signal (edited rules are corrections of the
agent), so each regeneration from edited rules is its own row pointing at the draft it came
from (`parent_id`), and no final text is ever overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import UsageError

if TYPE_CHECKING:
    from core.drafting import DraftRequest, DraftTranscript
    from core.store import Store

CHOICES = ("naive", "final")
"""What `chosen` holds: which stream the user kept, or the text itself when they edited it."""


@dataclass(frozen=True)
class DraftRecord:
    id: int
    profile_id: int
    intent: str
    recipient: str | None
    subject: str | None
    previous: str | None
    naive: str | None
    rules: str | None
    edited_rules: str | None
    final: str | None
    chosen: str | None
    agent_version: str | None
    models: dict[str, str | None]
    timings: dict[str, dict[str, float | int | None]]
    parent_id: int | None
    created_at: str
    edit_rules: list[dict[str, Any]] = field(default_factory=list)
    """The rules learned from earlier edits that were merged into this draft's rules (`core.edit_rules`)."""


def save_draft(
    store: Store,
    profile_id: int,
    request: DraftRequest,
    transcript: DraftTranscript,
    *,
    agent_version: str | None = None,
    rules: str | None = None,
    edited_rules: str | None = None,
    parent_id: int | None = None,
    chosen: str | None = None,
) -> int:
    """Store one draft (naive, rules, final as the transcript has them) and return its id.

    For a regeneration from edited rules, pass the agent's `rules`, the `edited_rules` and the
    `parent_id` of the draft they were edited from; the transcript then holds only the final.
    """
    if transcript.text("final") is None and transcript.text("naive") is None:
        raise UsageError("nothing to save: the draft has neither a naive nor a final text (was it cancelled?)")
    return store.insert_draft(
        {
            "profile_id": profile_id,
            "intent": request.intent,
            "recipient": request.recipient,
            "subject": request.subject,
            "previous": request.previous,
            "naive": transcript.text("naive"),
            "rules": rules if rules is not None else transcript.text("rules"),
            "edited_rules": edited_rules,
            "final": transcript.text("final"),
            "chosen": chosen,
            "agent_version": agent_version,
            "models": json.dumps(transcript.models()),
            "timings": json.dumps(transcript.timings()),
            "parent_id": parent_id,
            "edit_rules": json.dumps([use.as_dict() for use in transcript.edit_rules])
            if transcript.edit_rules
            else None,
        }
    )


def record_choice(store: Store, draft_id: int, chosen: str) -> None:
    """Remember what the user kept: "naive", "final", or the text they edited and kept."""
    if not chosen.strip():
        raise UsageError("the chosen text is empty; pick naive or final, or keep some text")
    if not store.set_draft_choice(draft_id, chosen):
        raise UsageError(f"no draft with id {draft_id}; list them with `pa history --profile NAME`")


def get_draft(store: Store, draft_id: int) -> DraftRecord:
    row = store.draft_row(draft_id)
    if row is None:
        raise UsageError(f"no draft with id {draft_id}; list them with `pa history --profile NAME`")
    return _record(row)


def list_drafts(store: Store, profile_id: int, limit: int | None = 20) -> list[DraftRecord]:
    """The profile's drafts, newest first."""
    return [_record(row) for row in store.draft_rows(profile_id, limit)]


def _record(row: Mapping[str, Any]) -> DraftRecord:
    data = dict(row)
    data["models"] = json.loads(data["models"] or "{}")
    data["timings"] = json.loads(data["timings"] or "{}")
    data["edit_rules"] = json.loads(data.get("edit_rules") or "[]")
    return DraftRecord(**data)
