"""Style facts in the store: one row of `TextFacts` per document, measured once.

`refresh_facts` measures only the documents that have no facts yet (or facts of an older
extractor version), so calling it after every import costs time for the new texts alone;
`load_profile_facts` refreshes, then folds the rows into `ProfileFacts`. The training split
is the default: facts that draft and evaluate against held-out texts must not have read them.
Drafting and `pa style` also count the texts the person sent from pa's drafts (`with_sent`);
evaluation and rule verification read the corpus alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from core.store import Profile, Store
from core.style.phrasings import Phrasing, learned_phrasings
from core.style.profile_facts import ProfileFacts
from core.style.text_facts import FACTS_VERSION, TextFacts, measure

BATCH = 500


@dataclass(frozen=True)
class Refreshed:
    measured: int
    seconds: float


def refresh_facts(store: Store, profile: Profile) -> Refreshed:
    """Measure the documents of `profile` whose facts are missing or out of date."""
    started = time.perf_counter()
    rows = store.query(
        "SELECT d.id, d.text, d.signoff, d.subject, d.recipients, d.previous_context FROM documents d "
        "LEFT JOIN style_facts f ON f.document_id = d.id "
        "WHERE d.profile_id = ? AND (f.document_id IS NULL OR f.version != ?) ORDER BY d.id",
        (profile.id, FACTS_VERSION),
    )
    for start in range(0, len(rows), BATCH):
        batch = [
            (
                row["id"],
                profile.id,
                FACTS_VERSION,
                json.dumps(
                    measure(
                        row["text"],
                        signoff=row["signoff"],
                        subject=row["subject"],
                        recipients=row["recipients"],
                        previous=row["previous_context"],
                        genre=profile.genre,
                    ).as_dict(),
                    ensure_ascii=False,
                ),
            )
            for row in rows[start : start + BATCH]
        ]
        with store.transaction() as db:
            db.executemany(
                "INSERT INTO style_facts (document_id, profile_id, version, facts) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (document_id) DO UPDATE SET version = excluded.version, facts = excluded.facts",
                batch,
            )
    return Refreshed(len(rows), time.perf_counter() - started)


def document_facts(store: Store, profile: Profile, split: str | None = "train") -> dict[int, TextFacts]:
    """Stored facts by document id (call `refresh_facts` first)."""
    sql = "SELECT f.document_id, f.facts FROM style_facts f JOIN documents d ON d.id = f.document_id WHERE f.profile_id = ?"
    params: tuple[Any, ...] = (profile.id,)
    if split:
        sql += " AND d.split = ?"
        params = (profile.id, split)
    return {
        row["document_id"]: TextFacts.from_dict(json.loads(row["facts"]))
        for row in store.query(sql + " ORDER BY d.id", params)
    }


def sent_facts(store: Store, profile: Profile) -> tuple[list[TextFacts], list[Phrasing]]:
    """The texts the person sent from pa's drafts, measured, oldest first, and the phrasings
    their edits of pa's finals show (they are few and change with every sent draft: measured
    when asked, never stored)."""
    from core.edits import sent_edits

    edits = sent_edits(store, profile)
    measured = [
        measure(edit.sent, subject=edit.subject, recipients=edit.recipient, previous=edit.previous, genre=profile.genre)
        for edit in edits
    ]
    return measured, learned_phrasings((edit.final or "", edit.sent) for edit in edits)


def load_profile_facts(
    store: Store, profile: Profile, split: str | None = "train", *, with_sent: bool = False
) -> ProfileFacts:
    """The profile's facts, measured up to date first; `split=None` reads every document;
    `with_sent`: the texts the person sent from pa's drafts count too, their newest first
    (`ProfileFacts.latest`)."""
    refresh_facts(store, profile)
    sent, phrasings = sent_facts(store, profile) if with_sent else ([], [])
    return ProfileFacts.of(document_facts(store, profile, split).values(), profile.genre, sent, phrasings)
