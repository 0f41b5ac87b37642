"""What the person really sent for a draft: capture (`record_sent`) and reading back.

Each text pa drafted and the person then sent, as pa wrote it or after editing, is stored
beside the draft in `sent_edits` (the draft row itself is never overwritten). Those pairs,
pa's final against the sent text, are what `core.edit_learning` distils rules from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import UsageError

if TYPE_CHECKING:
    from core.store import Profile, Store

SOURCES = ("tui", "editor", "feedback")
"""Where a sent text was captured: the TUI's final pane, `pa draft --edit`, or `pa feedback`."""


@dataclass(frozen=True)
class SentEdit:
    """A sent text with the draft it was made from."""

    id: int
    draft_id: int
    sent: str
    source: str
    created_at: str
    intent: str
    recipient: str | None
    subject: str | None
    previous: str | None
    final: str | None
    """The text pa wrote (the naive draft where the draft has no final)."""
    rules: str | None
    """The rules the final was written from (the edited rules when the writer edited them)."""

    @property
    def unchanged(self) -> bool:
        """Sent as pa wrote it (whitespace aside): nothing to learn from the difference."""
        return " ".join((self.final or "").split()) == " ".join(self.sent.split())


def record_sent(store: Store, profile: Profile, draft_id: int, sent: str, *, source: str) -> int:
    """Store `sent` as the text the person sent for draft `draft_id`; returns the sent edit's id.

    No model is called. The same text recorded again for the same draft is the same row.
    """
    if source not in SOURCES:
        raise UsageError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    row = store.draft_row(draft_id)
    if row is None:
        raise UsageError(f"no draft with id {draft_id}; list them with `pa history --profile {profile.name}`")
    if row["profile_id"] != profile.id:
        raise UsageError(
            f"draft #{draft_id} belongs to another profile; list {profile.name!r}'s with `pa history --profile {profile.name}`"
        )
    if not sent.strip():
        raise UsageError(f"the sent text for draft #{draft_id} is empty; nothing was stored")
    return store.insert_sent_edit(draft_id, profile.id, sent.strip("\n").rstrip(), source)


def sent_edits(store: Store, profile: Profile, *, undistilled: bool = False) -> list[SentEdit]:
    """The profile's sent texts, oldest first (`undistilled`: only those not learned from yet)."""
    return [
        SentEdit(
            id=int(row["id"]),  # type: ignore[call-overload]
            draft_id=int(row["draft_id"]),  # type: ignore[call-overload]
            sent=str(row["sent"]),
            source=str(row["source"]),
            created_at=str(row["created_at"]),
            intent=str(row["intent"]),
            recipient=_text(row["recipient"]),
            subject=_text(row["subject"]),
            previous=_text(row["previous"]),
            final=_text(row["final"]) or _text(row["naive"]),  # a draft kept without a final: its naive text
            rules=_text(row["edited_rules"]) or _text(row["draft_rules"]),
        )
        for row in store.sent_edit_rows(profile.id, undistilled=undistilled)
    ]


def _text(value: object) -> str | None:
    return None if value is None else str(value)
