"""The project store: one SQLite file (WAL) per installation.

Every write happens inside `transaction()`, so a crash leaves the last committed state intact
and a re-run continues from it. The schema is versioned; `MIGRATIONS[i]` takes version i to i+1.
The questions the rest of pa asks (stage counts, intent pairs, held-out documents, training
rows, draft history, corpus statistics) are named methods here; the journals of distillation
and evaluation still write through `transaction()`. Nothing outside `core` touches SQL
(an import-linter contract keeps `sqlite3` out of `tui` and `core.cli`).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import StoreError, UsageError

if TYPE_CHECKING:
    from core.paths import Paths

PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")  # \Z: `$` would let a trailing newline in
GENRES = ("email", "post", "review")

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema.
    """
    CREATE TABLE profiles (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        genre       TEXT NOT NULL DEFAULT 'email',
        sender      TEXT,
        created_at  TEXT NOT NULL DEFAULT (datetime('now'))
    );
    CREATE TABLE documents (
        id               INTEGER PRIMARY KEY,
        profile_id       INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        text             TEXT NOT NULL,
        sender           TEXT,
        recipients       TEXT,
        subject          TEXT,
        date             TEXT,
        previous_context TEXT,
        signoff          TEXT,             -- the closing (valediction, name); since schema 4 also in the text
        source_path      TEXT,
        message_id       TEXT,
        content_hash     TEXT NOT NULL,
        split            TEXT NOT NULL CHECK (split IN ('train', 'test')),
        created_at       TEXT NOT NULL DEFAULT (datetime('now')),
        UNIQUE (profile_id, content_hash)
    );
    CREATE UNIQUE INDEX documents_message_id ON documents(profile_id, message_id)
        WHERE message_id IS NOT NULL;
    CREATE TABLE import_log (
        id          INTEGER PRIMARY KEY,
        profile_id  INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        source      TEXT NOT NULL,
        format      TEXT NOT NULL,
        started_at  TEXT NOT NULL DEFAULT (datetime('now')),
        finished_at TEXT,
        seen        INTEGER NOT NULL DEFAULT 0,
        imported    INTEGER NOT NULL DEFAULT 0,
        dropped     TEXT NOT NULL DEFAULT '{}',  -- JSON: reason -> count
        status      TEXT NOT NULL DEFAULT 'running'  -- running | done | failed
    );
    -- One row per document and stage: intent | draft | rules | nobaseline_rules.
    CREATE TABLE distillations (
        id                INTEGER PRIMARY KEY,
        document_id       INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        stage             TEXT NOT NULL,
        status            TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        content           TEXT,          -- the intent bullets, the draft, or the rules
        thinking          TEXT,          -- scratchpad / <thinking> part, when the stage has one
        candidates        TEXT,          -- JSON: alternatives (e.g. the three intents)
        raw               TEXT,          -- the model's last raw answer
        error             TEXT,          -- why it failed, when status = 'failed'
        template_id       TEXT NOT NULL,
        template_version  INTEGER NOT NULL,
        model             TEXT NOT NULL,
        attempts          INTEGER NOT NULL DEFAULT 1,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        created_at        TEXT NOT NULL DEFAULT (datetime('now')),
        UNIQUE (document_id, stage)
    );
    -- Every answer distillation got from the model, committed as it arrives: a resumed run
    -- re-reads these instead of asking the model again. slot: the intent candidate (one per
    -- temperature), else 0; verdict: NULL when the answer was accepted, else why not.
    CREATE TABLE distill_calls (
        id                INTEGER PRIMARY KEY,
        document_id       INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        stage             TEXT NOT NULL,
        slot              INTEGER NOT NULL DEFAULT 0,
        attempt           INTEGER NOT NULL,
        raw               TEXT NOT NULL,
        finish_reason     TEXT,
        verdict           TEXT,
        model             TEXT NOT NULL,
        template_id       TEXT NOT NULL,
        template_version  INTEGER NOT NULL,
        temperature       REAL,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        seconds           REAL,
        created_at        TEXT NOT NULL DEFAULT (datetime('now')),
        UNIQUE (document_id, stage, slot, attempt)
    );
    -- Draft history: every draft, its rules, the user's edits and the chosen result.
    CREATE TABLE drafts (
        id             INTEGER PRIMARY KEY,
        profile_id     INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        intent         TEXT NOT NULL,
        recipient      TEXT,
        subject        TEXT,
        previous       TEXT,
        naive          TEXT,
        rules          TEXT,
        edited_rules   TEXT,
        final          TEXT,
        chosen         TEXT,            -- naive | final | edited text the user kept
        agent_version  TEXT,
        models         TEXT,            -- JSON: role -> spec
        timings        TEXT,            -- JSON: stream -> seconds
        parent_id      INTEGER REFERENCES drafts(id) ON DELETE SET NULL,  -- the draft whose rules were edited
        created_at     TEXT NOT NULL DEFAULT (datetime('now'))
    );
    -- Evaluation: generations per held-out document and method, pairwise verdicts, scores.
    CREATE TABLE eval_generations (
        id                INTEGER PRIMARY KEY,
        profile_id        INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        document_id       INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        method            TEXT NOT NULL,
        text              TEXT NOT NULL,
        model             TEXT NOT NULL,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        seconds           REAL,
        cost_usd          REAL,            -- NULL when no priced (remote) model took part
        created_at        TEXT NOT NULL DEFAULT (datetime('now')),
        UNIQUE (profile_id, document_id, method, model)
    );
    CREATE TABLE eval_verdicts (
        id                INTEGER PRIMARY KEY,
        profile_id        INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        document_id       INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        method_a          TEXT NOT NULL,   -- shown first
        method_b          TEXT NOT NULL,   -- shown second
        judge             TEXT NOT NULL,
        winner            TEXT,            -- method_a | method_b | tie | NULL when unparseable
        raw               TEXT,
        attempts          INTEGER NOT NULL DEFAULT 1,  -- judge calls until it parsed (or gave up)
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        created_at        TEXT NOT NULL DEFAULT (datetime('now')),
        UNIQUE (profile_id, document_id, method_a, method_b, judge)
    );
    CREATE TABLE eval_scores (
        id           INTEGER PRIMARY KEY,
        profile_id   INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        method       TEXT NOT NULL,
        metric       TEXT NOT NULL,
        value        REAL NOT NULL,
        created_at   TEXT NOT NULL DEFAULT (datetime('now')),
        UNIQUE (profile_id, document_id, method, metric)
    );
    """,
    # 1 -> 2: what pa changed in a model's answer before accepting it (core.tagged Parsed.notes).
    """
    ALTER TABLE distillations ADD COLUMN notes TEXT;
    """,
    # 2 -> 3: the rules an agent wrote for an evaluated text, so a report can show why it won or lost.
    """
    ALTER TABLE eval_generations ADD COLUMN rules TEXT;
    """,
    # 3 -> 4: each finished step of a guided answer (core.distill), committed as it ends, so a
    # crash between steps never asks the model for a step again. Rows go once the answer is in
    # distill_calls.
    """
    CREATE TABLE distill_steps (
        id                INTEGER PRIMARY KEY,
        document_id       INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        stage             TEXT NOT NULL,
        slot              INTEGER NOT NULL,
        attempt           INTEGER NOT NULL,
        step              INTEGER NOT NULL,
        text              TEXT NOT NULL,
        finish_reason     TEXT,
        model             TEXT NOT NULL,
        template_id       TEXT NOT NULL,
        template_version  INTEGER NOT NULL,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        seconds           REAL,
        UNIQUE (document_id, stage, slot, attempt, step)
    );
    """,
    # 4 -> 5: the closing stays in the text (`signoff` now holds it apart, for display only); the
    # signature block cut from the text is kept apart in its own column (issue 13).
    """
    ALTER TABLE documents ADD COLUMN signature TEXT;
    """,
    # 5 -> 6: measured style facts per document (core.style.facts_store) and the checks of
    # distilled rules against them (core.style.rule_check).
    """
    CREATE TABLE style_facts (
        document_id  INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        profile_id   INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        version      INTEGER NOT NULL,
        facts        TEXT NOT NULL             -- JSON: core.style.text_facts.TextFacts
    );
    CREATE INDEX style_facts_profile ON style_facts(profile_id);
    CREATE TABLE rule_checks (
        id           INTEGER PRIMARY KEY,
        document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        stage        TEXT NOT NULL,            -- rules | nobaseline_rules
        position     INTEGER NOT NULL,         -- the rule's place in the distilled rules
        rule         TEXT NOT NULL,
        verdict      TEXT NOT NULL,            -- kept | dropped | unchecked
        reason       TEXT,
        created_at   TEXT NOT NULL DEFAULT (datetime('now')),
        UNIQUE (document_id, stage, position)
    );
    """,
    # 6 -> 7: learning from edits (issue 16). The text the person really sent for a draft
    # (`drafts` is never overwritten), the rules M_L distilled from pa's final against it, the
    # journal of those model calls (the shape of distill_calls / distill_steps, keyed by the
    # sent edit instead of a corpus document), and which edit rules a draft's final followed.
    """
    CREATE TABLE sent_edits (
        id          INTEGER PRIMARY KEY,
        draft_id    INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
        profile_id  INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        sent        TEXT NOT NULL,
        source      TEXT NOT NULL CHECK (source IN ('tui', 'editor', 'feedback')),
        created_at  TEXT NOT NULL DEFAULT (datetime('now'))
    );
    CREATE INDEX sent_edits_profile ON sent_edits(profile_id);
    -- One row per distilled edit. status: ok (rules learned), failed (the model's answers were
    -- unusable: the reason is in error), unchanged (sent as pa wrote it: nothing to learn, no call).
    CREATE TABLE edit_rules (
        id                INTEGER PRIMARY KEY,
        sent_edit_id      INTEGER NOT NULL UNIQUE REFERENCES sent_edits(id) ON DELETE CASCADE,
        profile_id        INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        intent            TEXT NOT NULL,
        recipient         TEXT,
        status            TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'unchanged')),
        rules             TEXT,
        thinking          TEXT,
        error             TEXT,
        raw               TEXT,
        notes             TEXT,
        model             TEXT NOT NULL,
        template_id       TEXT NOT NULL,
        template_version  INTEGER NOT NULL,
        attempts          INTEGER NOT NULL DEFAULT 0,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        created_at        TEXT NOT NULL DEFAULT (datetime('now'))
    );
    CREATE INDEX edit_rules_profile ON edit_rules(profile_id);
    CREATE TABLE edit_calls (
        id                INTEGER PRIMARY KEY,
        sent_edit_id      INTEGER NOT NULL REFERENCES sent_edits(id) ON DELETE CASCADE,
        stage             TEXT NOT NULL,
        slot              INTEGER NOT NULL DEFAULT 0,
        attempt           INTEGER NOT NULL,
        raw               TEXT NOT NULL,
        finish_reason     TEXT,
        verdict           TEXT,
        model             TEXT NOT NULL,
        template_id       TEXT NOT NULL,
        template_version  INTEGER NOT NULL,
        temperature       REAL,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        seconds           REAL,
        created_at        TEXT NOT NULL DEFAULT (datetime('now')),
        UNIQUE (sent_edit_id, stage, slot, attempt)
    );
    CREATE TABLE edit_steps (
        id                INTEGER PRIMARY KEY,
        sent_edit_id      INTEGER NOT NULL REFERENCES sent_edits(id) ON DELETE CASCADE,
        stage             TEXT NOT NULL,
        slot              INTEGER NOT NULL,
        attempt           INTEGER NOT NULL,
        step              INTEGER NOT NULL,
        text              TEXT NOT NULL,
        finish_reason     TEXT,
        model             TEXT NOT NULL,
        template_id       TEXT NOT NULL,
        template_version  INTEGER NOT NULL,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        seconds           REAL,
        UNIQUE (sent_edit_id, stage, slot, attempt, step)
    );
    ALTER TABLE drafts ADD COLUMN edit_rules TEXT;  -- JSON: the rules learned from edits merged into this draft's
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def validate_profile_name(name: str) -> str:
    if not PROFILE_NAME.match(name or ""):
        raise UsageError(
            f"profile name {name!r} is not allowed; use letters, digits, '.', '_' or '-' "
            "(no slashes or spaces, at most 64 characters)"
        )
    return name


@dataclass(frozen=True)
class Profile:
    id: int
    name: str
    genre: str
    sender: str | None
    created_at: str


@dataclass(frozen=True)
class Document:
    id: int
    profile_id: int
    text: str
    sender: str | None
    recipients: str | None
    subject: str | None
    date: str | None
    previous_context: str | None
    source_path: str | None
    message_id: str | None
    content_hash: str
    split: str
    signoff: str | None = None
    """The closing (valediction and name), which is also the end of `text`."""
    signature: str | None = None
    """The signature block cut from the text (title, company, phone...), for display."""


class Store:
    """A thread-safe handle on the SQLite store. Open with `Store.open(path)`."""

    busy_timeout_s: float = 30.0
    """How long a write waits for another process's write to end before it is a StoreError."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self.connection = connection
        self.path = path
        self._lock = threading.RLock()
        self.made_private: list[Path] = []
        """Files and folders under the data folder that were readable by others until this open."""

    @classmethod
    def open(cls, path: Path) -> Store:
        from core.private_files import make_private

        made_private = make_private(path.parent)
        try:
            connection = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=cls.busy_timeout_s
            )
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise store_error(path, exc) from None
        store = cls(connection, path)
        store.made_private = made_private
        try:
            store._migrate()
        except BaseException:
            connection.close()
            raise
        return store

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; rolled back whole on any exception (Ctrl-C included)."""
        with self._lock:
            try:
                self.connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise store_error(self.path, exc) from None
            try:
                yield self.connection
            except BaseException as exc:
                self.connection.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise store_error(self.path, exc) from None
                raise
            else:
                try:
                    self.connection.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    self.connection.execute("ROLLBACK")
                    raise store_error(self.path, exc) from None

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self.connection.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise store_error(self.path, exc) from None

    @property
    def schema_version(self) -> int:
        return int(self.connection.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: made by a newer pa (schema {current}, this pa knows {SCHEMA_VERSION}); upgrade pa"
            )
        for version in range(current, SCHEMA_VERSION):
            with self.transaction() as db:
                if db.execute("PRAGMA user_version").fetchone()[0] > version:
                    continue  # another pa process migrated it meanwhile
                for statement in _split_sql(MIGRATIONS[version]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version + 1}")

    # -- profiles ---------------------------------------------------------------------------

    def create_profile(self, name: str, genre: str = "email") -> Profile:
        validate_profile_name(name)
        if genre not in GENRES:
            raise UsageError(f"genre {genre!r} is not one of {', '.join(GENRES)}")
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO profiles (name, genre) VALUES (?, ?)", (name, genre))
        return self.get_profile(name)

    def get_profile(self, name: str) -> Profile:
        validate_profile_name(name)
        rows = self.query("SELECT * FROM profiles WHERE name = ?", (name,))
        if not rows:
            raise UsageError(f"no profile named {name!r}; create it with `pa import PATH --profile {name}`")
        return Profile(**dict(rows[0]))

    def find_profile(self, name: str) -> Profile | None:
        rows = self.query("SELECT * FROM profiles WHERE name = ?", (validate_profile_name(name),))
        return Profile(**dict(rows[0])) if rows else None

    def list_profiles(self) -> list[Profile]:
        return [Profile(**dict(row)) for row in self.query("SELECT * FROM profiles ORDER BY name")]

    def set_profile_sender(self, profile_id: int, sender: str | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE profiles SET sender = ? WHERE id = ?", (sender, profile_id))

    def rename_profile(self, old: str, new: str) -> Profile:
        profile = self.get_profile(old)
        validate_profile_name(new)
        if self.find_profile(new):
            raise UsageError(f"a profile named {new!r} already exists; pick another name")
        with self.transaction() as db:
            db.execute("UPDATE profiles SET name = ? WHERE id = ?", (new, profile.id))
        return self.get_profile(new)

    def delete_profile(self, name: str) -> None:
        profile = self.get_profile(name)
        with self.transaction() as db:
            db.execute("DELETE FROM profiles WHERE id = ?", (profile.id,))

    # -- documents --------------------------------------------------------------------------

    def documents(self, profile_id: int, split: str | None = None, limit: int | None = None) -> list[Document]:
        sql = "SELECT * FROM documents WHERE profile_id = ?"
        params: list[object] = [profile_id]
        if split:
            sql += " AND split = ?"
            params.append(split)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_document(row) for row in self.query(sql, tuple(params))]

    def get_document(self, document_id: int) -> Document:
        rows = self.query("SELECT * FROM documents WHERE id = ?", (document_id,))
        if not rows:
            raise UsageError(f"no document with id {document_id}; list them with `pa corpus list`")
        return _document(rows[0])

    def count_documents(self, profile_id: int) -> dict[str, int]:
        rows = self.query(
            "SELECT split, COUNT(*) AS n FROM documents WHERE profile_id = ? GROUP BY split", (profile_id,)
        )
        counts = {"train": 0, "test": 0}
        counts.update({row["split"]: row["n"] for row in rows})
        return counts

    def document_words(self, profile_id: int, page: int = 2000) -> Iterator[int]:
        """Word count of each document, read in pages so a large profile is never loaded whole."""
        last_id = 0
        while True:
            rows = self.query(
                "SELECT id, text FROM documents WHERE profile_id = ? AND id > ? ORDER BY id LIMIT ?",
                (profile_id, last_id, page),
            )
            if not rows:
                return
            yield from (len(row["text"].split()) for row in rows)
            last_id = rows[-1]["id"]

    def document_facts(self, profile_id: int) -> dict[str, object]:
        """How many documents have a previous context or a sign-off, and their date range."""
        row = self.query(
            "SELECT SUM(previous_context IS NOT NULL) AS prev, SUM(signoff IS NOT NULL) AS signoff, "
            "MIN(date) AS first, MAX(date) AS last FROM documents WHERE profile_id = ?",
            (profile_id,),
        )[0]
        return {
            "with_previous_context": row["prev"] or 0,
            "with_signoff": row["signoff"] or 0,
            "first_date": row["first"],
            "last_date": row["last"],
        }

    def import_log(self, profile_id: int) -> list[dict[str, object]]:
        """Every import into the profile, oldest first (`dropped`: reason -> count)."""
        import json

        return [
            dict(row) | {"dropped": json.loads(row["dropped"] or "{}")}
            for row in self.query("SELECT * FROM import_log WHERE profile_id = ? ORDER BY id", (profile_id,))
        ]

    # -- distillation results -----------------------------------------------------------------

    def stage_counts(self, profile_id: int) -> dict[tuple[str, str], int]:
        """(stage, status) -> how many of the profile's documents have it (status: ok | failed)."""
        rows = self.query(
            "SELECT d.stage AS stage, d.status AS status, COUNT(*) AS n FROM distillations d "
            "JOIN documents doc ON doc.id = d.document_id WHERE doc.profile_id = ? GROUP BY d.stage, d.status",
            (profile_id,),
        )
        return {(row["stage"], row["status"]): row["n"] for row in rows}

    def intent_pairs(self, profile_id: int, split: str, limit: int | None = None) -> list[IntentPair]:
        """(document, intent, text) of the split's documents whose intent distilled ok, by id:
        few-shot examples come from `train`, evaluation's held-out documents from `test`."""
        sql = """
            SELECT d.id AS document_id, s.content AS intent, d.text AS text
            FROM documents d JOIN distillations s ON s.document_id = d.id
            WHERE d.profile_id = ? AND d.split = ? AND s.stage = 'intent' AND s.status = 'ok'
              AND s.content IS NOT NULL AND TRIM(s.content) != ''
            ORDER BY d.id
            """
        params: tuple[Any, ...] = (profile_id, split)
        if limit is not None:
            sql += " LIMIT ?"
            params = (profile_id, split, limit)
        return [IntentPair(row["document_id"], row["intent"], row["text"]) for row in self.query(sql, params)]

    def training_rows(
        self, profile_id: int, target_stage: str | None, other_stage: str | None = None
    ) -> list[dict[str, object]]:
        """Each document with its ok intent, its ok `target_stage` result (None: the text is the
        target) and, as `other_rules`, its ok `other_stage` result."""
        rows = self.query(
            """
            SELECT d.id, d.split, d.text, d.recipients, d.subject, d.previous_context,
                   i.content AS intent, t.content AS target, t.thinking AS thinking, o.content AS other_rules
            FROM documents d
            LEFT JOIN distillations i ON i.document_id = d.id AND i.stage = 'intent' AND i.status = 'ok'
            LEFT JOIN distillations t ON t.document_id = d.id AND t.stage = ? AND t.status = 'ok'
            LEFT JOIN distillations o ON o.document_id = d.id AND o.stage = ? AND o.status = 'ok'
            WHERE d.profile_id = ?
            ORDER BY d.id
            """,
            (target_stage or "", other_stage or "", profile_id),
        )
        return [dict(row) for row in rows]

    # -- draft history -------------------------------------------------------------------------

    def insert_draft(self, values: dict[str, object]) -> int:
        """One row of `drafts` (columns as keys); returns its id."""
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction() as db:
            cursor = db.execute(f"INSERT INTO drafts ({columns}) VALUES ({marks})", tuple(values.values()))
            return int(cursor.lastrowid or 0)

    def set_draft_choice(self, draft_id: int, chosen: str) -> bool:
        """Record what the user kept; False when there is no such draft."""
        with self.transaction() as db:
            return bool(db.execute("UPDATE drafts SET chosen = ? WHERE id = ?", (chosen, draft_id)).rowcount)

    def draft_row(self, draft_id: int) -> dict[str, object] | None:
        rows = self.query("SELECT * FROM drafts WHERE id = ?", (draft_id,))
        return dict(rows[0]) if rows else None

    def draft_rows(self, profile_id: int, limit: int | None = 20) -> list[dict[str, object]]:
        """The profile's drafts, newest first."""
        sql = "SELECT * FROM drafts WHERE profile_id = ? ORDER BY id DESC"
        params: tuple[Any, ...] = (profile_id,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (profile_id, limit)
        return [dict(row) for row in self.query(sql, params)]

    # -- sent texts and edits (issue 16) ---------------------------------------------------------

    def insert_sent_edit(self, draft_id: int, profile_id: int, sent: str, source: str) -> int:
        """Store the text sent for a draft; the same text for the same draft again is the same row."""
        with self.transaction() as db:
            same = db.execute("SELECT id FROM sent_edits WHERE draft_id = ? AND sent = ?", (draft_id, sent)).fetchone()
            if same is not None:
                return int(same["id"])
            cursor = db.execute(
                "INSERT INTO sent_edits (draft_id, profile_id, sent, source) VALUES (?, ?, ?, ?)",
                (draft_id, profile_id, sent, source),
            )
            return int(cursor.lastrowid or 0)

    def sent_edit_rows(self, profile_id: int, *, undistilled: bool = False) -> list[dict[str, object]]:
        """The profile's sent texts with their draft (intent, recipient, subject, previous, rules,
        final, naive), oldest first; `undistilled`: only those with no `edit_rules` row yet."""
        sql = (
            "SELECT e.id AS id, e.draft_id, e.sent, e.source, e.created_at, d.intent, d.recipient, d.subject, "
            "d.previous, d.rules AS draft_rules, d.edited_rules, d.edit_rules AS draft_edit_rules, d.final, d.naive "
            "FROM sent_edits e JOIN drafts d ON d.id = e.draft_id WHERE e.profile_id = ?"
        )
        if undistilled:
            sql += " AND NOT EXISTS (SELECT 1 FROM edit_rules r WHERE r.sent_edit_id = e.id)"
        return [dict(row) for row in self.query(sql + " ORDER BY e.id", (profile_id,))]

    def edit_rule_rows(self, profile_id: int, status: str | None = "ok") -> list[dict[str, object]]:
        """Rules learned from the profile's edits (with the draft they came from), newest first."""
        sql = (
            "SELECT r.*, e.draft_id, e.sent, e.created_at AS sent_at FROM edit_rules r "
            "JOIN sent_edits e ON e.id = r.sent_edit_id WHERE r.profile_id = ?"
        )
        params: tuple[Any, ...] = (profile_id,)
        if status is not None:
            sql += " AND r.status = ?"
            params = (profile_id, status)
        return [dict(row) for row in self.query(sql + " ORDER BY r.sent_edit_id DESC", params)]

    def edit_training_rows(self, profile_id: int) -> list[dict[str, object]]:
        """intent -> rules examples learned from edits, newest first, for (update) training.

        Keys as `training_rows` has them (`id` is the sent edit's, `text` the sent text, `target`
        the rules, `split` always train) plus `draft_id` and `created_at` (when it was sent), so
        the dataset code can take them as they are and weight them by recency.
        """
        rows = self.query(
            """
            SELECT e.id, 'train' AS split, e.sent AS text, d.recipient AS recipients, d.subject,
                   d.previous AS previous_context, r.intent, r.rules AS target, r.thinking,
                   NULL AS other_rules, e.draft_id, e.created_at
            FROM edit_rules r JOIN sent_edits e ON e.id = r.sent_edit_id JOIN drafts d ON d.id = e.draft_id
            WHERE r.profile_id = ? AND r.status = 'ok' AND r.rules IS NOT NULL AND TRIM(r.rules) != ''
            ORDER BY e.id DESC
            """,
            (profile_id,),
        )
        return [dict(row) for row in rows]


@dataclass(frozen=True)
class IntentPair:
    """A document's distilled intent beside its real text."""

    document_id: int
    intent: str
    text: str


def store_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """One line that says what is wrong with the store file and what to do, by SQLite's reason."""
    reason = str(exc)
    if "locked" in reason or "busy" in reason:
        return StoreError(
            f"{path} stayed locked by another program for {Store.busy_timeout_s:g} s; "
            "wait for other pa commands to finish (or close what holds it) and try again"
        )
    if "readonly" in reason or "read-only" in reason:
        return StoreError(
            f"{path} is read-only ({reason}); pa must write to it and its folder: check their permissions"
        )
    if "unable to open" in reason:
        return StoreError(
            f"{path}: cannot open the store ({reason}); check that its folder exists and you may write to it"
        )
    if "disk" in reason and "full" in reason:
        return StoreError(
            f"{path}: the disk is full; free some space and run the command again (nothing stored was lost)"
        )
    if isinstance(exc, sqlite3.OperationalError):
        return StoreError(
            f"{path}: the store failed ({reason}); run the command again, and if it persists move the file aside"
        )
    return StoreError(f"{path}: not a pa store ({reason}); move it aside or set PA_HOME elsewhere")


def _document(row: sqlite3.Row) -> Document:
    data = dict(row)
    data.pop("created_at", None)
    return Document(**data)


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.executescript would commit on its own)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def open_store(paths: Paths | None = None) -> Store:
    """Open the installation's store (resolving PA_HOME and friends)."""
    from core.paths import resolve_paths

    return Store.open((paths or resolve_paths()).store_file)
