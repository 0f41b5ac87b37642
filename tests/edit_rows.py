"""Edits as pa stores them once learned (schema 7): the draft, the text the person sent for it,
and the rules M_L distilled from the difference (`edit_rules`, status ok).

For tests and benchmarks of what is done with learned edits (`pa train --update`), without
running the model that learns them (tests/test_edits.py covers that part).
"""

from __future__ import annotations

from core.store import Store


def add_learned_edit(
    store: Store,
    profile: str,
    *,
    intent: str,
    rules: str,
    recipient: str | None = None,
    subject: str | None = None,
    final: str = "Hello!\nThe draft pa wrote.\nBest regards",
    sent: str = "Hi,\nThe text as sent.\nCheers,\nJeff",
    thinking: str | None = None,
) -> int:
    """One learned edit of `profile`; returns the sent edit's id (the `id` of `Store.edit_training_rows`)."""
    record = store.get_profile(profile)
    draft_id = store.insert_draft(
        {
            "profile_id": record.id,
            "intent": intent,
            "recipient": recipient,
            "subject": subject,
            "rules": "- the agent's rules",
            "final": final,
        }
    )
    sent_id = store.insert_sent_edit(draft_id, record.id, sent, "feedback")
    with store.transaction() as db:
        db.execute(
            "INSERT INTO edit_rules (sent_edit_id, profile_id, intent, recipient, status, rules, thinking, model, "
            "template_id, template_version) VALUES (?, ?, ?, ?, 'ok', ?, ?, 'test', 'email.rules', 1)",
            (sent_id, record.id, intent, recipient, rules, thinking),
        )
    return sent_id
