"""`pa import`: read a source, keep the person's own writing, store it in batches.

Streaming from end to end: readers yield one item at a time, documents are written in
transactions of `corpus.batch_size`, and the only state that grows is a few counters. A crash
keeps every committed batch (and the import_log row that counts them); a rerun skips what is
stored already (the unique Message-ID and text-hash indexes make inserts idempotent).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from core.config import CorpusConfig
from core.corpus.csv_rows import csv_files, iter_csv
from core.corpus.detect import detect_format
from core.corpus.documents import CleaningRules, document_from_record
from core.corpus.email_cleaning import SenderNames
from core.corpus.email_parsing import sender_of
from core.corpus.eml import eml_files, iter_eml
from core.corpus.files import file_size, unreadable_folders, walk_files
from core.corpus.jsonl import iter_jsonl, jsonl_files
from core.corpus.maildir import iter_maildir, maildir_files
from core.corpus.mbox import iter_mbox, mbox_files
from core.corpus.records import (
    DUPLICATE,
    EMAIL_FORMATS,
    FORMATS,
    OTHER_FORMAT,
    UNREADABLE_FOLDER,
    Candidate,
    Dropped,
    SourceRecord,
)
from core.corpus.text_files import iter_text, text_files
from core.errors import CorpusError, UsageError
from core.events import Progress, ProgressCallback, ignore_progress
from core.locks import writes_profile
from core.safe_text import storable
from core.store import GENRES, Store, validate_profile_name

PROGRESS_EVERY_S = 0.1
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass
class ImportOptions:
    profile: str
    format: str = "auto"
    senders: tuple[str, ...] = ()
    """Keep mail from these addresses; empty means the profile's, else the most frequent From."""
    text_field: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    """Metadata columns of JSONL/CSV sources: {"sender": "author", ...}."""
    genre: str | None = None
    dry_run: bool = False
    corpus: CorpusConfig = field(default_factory=lambda: CorpusConfig())


@dataclass
class ImportReport:
    """What an import did; `to_dict()` is the `--json` output."""

    profile: str
    source: str
    format: str
    genre: str
    dry_run: bool
    senders: list[str] = field(default_factory=list)
    sender_choice: str = ""
    files_seen: int = 0
    messages_seen: int = 0
    imported: int = 0
    train: int = 0
    test: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    """A few sources per drop reason, so a user can look at what was left out."""
    seen_by_sender: Counter[str] = field(default_factory=Counter)
    imported_by_sender: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0
    seconds: float = 0.0
    import_id: int | None = None

    @property
    def duplicates(self) -> int:
        return self.dropped.get(DUPLICATE, 0)

    @property
    def usable(self) -> int:
        """Documents that are in the store after this run: new ones plus ones already there."""
        return self.imported + self.duplicates

    def to_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "source": self.source,
            "format": self.format,
            "genre": self.genre,
            "dry_run": self.dry_run,
            "senders": self.senders,
            "sender_choice": self.sender_choice,
            "files_seen": self.files_seen,
            "messages_seen": self.messages_seen,
            "imported": self.imported,
            "train": self.train,
            "test": self.test,
            "dropped": dict(sorted(self.dropped.items())),
            "examples": self.examples,
            "per_sender": [
                {"sender": sender, "seen": seen, "imported": self.imported_by_sender.get(sender, 0)}
                for sender, seen in self.seen_by_sender.most_common(20)
            ],
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "import_id": self.import_id,
        }


@dataclass
class Source:
    """A path, its format, and the files that format reads there."""

    path: Path
    format: str
    files: list[Path]
    other_files: int = 0
    unreadable: list[Path] = field(default_factory=list)
    """Folders that could not be listed: whatever they hold was not read (counted as drops)."""

    @cached_property
    def total_bytes(self) -> int:
        return sum(file_size(f) for f in self.files)


def open_source(path: Path, fmt: str = "auto") -> Source:
    """Check the path and find its files; one-line errors for every way this can fail."""
    if fmt != "auto" and fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of auto, {', '.join(FORMATS)}")
    if not path.exists():
        if path.is_symlink():
            raise CorpusError(f"{path}: a broken link; point pa import at the file it meant")
        raise UsageError(f"{path}: no such file or folder; check the path")
    if path.is_file() and not os.access(path, os.R_OK):
        raise CorpusError(f"{path}: cannot read the file (permission denied); check its permissions")
    if path.is_dir() and not os.access(path, os.R_OK | os.X_OK):
        raise CorpusError(f"{path}: cannot read the folder (permission denied); check its permissions")
    if path.is_file() and file_size(path) == 0:
        raise CorpusError(f"{path}: the file is empty; nothing to import")
    if path.is_dir() and not any(walk_files(path)):
        raise CorpusError(f"{path}: the folder is empty; nothing to import")
    chosen = detect_format(path) if fmt == "auto" else fmt
    files = _files_for(path, chosen)
    if not files:
        raise CorpusError(f"{path}: no {chosen} files in it; pass --format if they have other names")
    other = 0
    if path.is_dir():
        chosen_set = set(files)
        other = sum(1 for file in walk_files(path) if file not in chosen_set and not _inside_maildir(file, chosen))
    return Source(path, chosen, files, other, unreadable_folders(path))


def _files_for(path: Path, fmt: str) -> list[Path]:
    if fmt == "maildir":
        if not path.is_dir():
            raise UsageError(f"{path}: a maildir is a folder with cur/ and new/; this is a file")
        return maildir_files(path)
    return {"mbox": mbox_files, "eml": eml_files, "text": text_files, "jsonl": jsonl_files, "csv": csv_files}[fmt](path)


def _inside_maildir(file: Path, fmt: str) -> bool:
    return fmt == "maildir" and file.parent.name == "tmp"


def iter_records(source: Source, options: ImportOptions) -> Iterator[SourceRecord]:
    limit = options.corpus.max_message_bytes
    if source.format == "mbox":
        for file in source.files:
            yield from iter_mbox(file, limit)
    elif source.format == "maildir":
        yield from iter_maildir(source.files, limit)
    elif source.format == "eml":
        yield from iter_eml(source.files, limit)
    elif source.format == "text":
        yield from iter_text(source.files, limit)
    elif source.format == "jsonl":
        yield from iter_jsonl(source.files, limit, options.text_field, options.fields)
    else:
        yield from iter_csv(source.files, limit, options.text_field, options.fields)


# -- choosing whose mail to keep ------------------------------------------------------------


@dataclass
class SenderChoice:
    addresses: frozenset[str]
    how: str
    names: SenderNames


def record_sender(record: SourceRecord) -> tuple[str | None, str | None]:
    """(address, display name) of an item, reading only its headers."""
    if record.problem:
        return None, None
    if record.raw is not None:
        match = _HEADER_END.search(record.raw, 0, 256_000)
        return sender_of(record.raw[: match.start()] if match else record.raw[:256_000])
    from core.corpus.documents import _address, _display_name

    value = record.metadata.get("sender")
    return _address(value), _display_name(value)


def choose_senders(
    source: Source, options: ImportOptions, stored: str | None, on_progress: ProgressCallback
) -> SenderChoice:
    """--sender, else the profile's stored senders, else the most frequent From of the source
    together with the other addresses that carry the same full name."""
    if options.senders:
        addresses = frozenset(a.strip().lower() for a in options.senders if a.strip())
        return SenderChoice(addresses, "--sender", SenderNames())
    if stored:
        addresses = frozenset(a.strip() for a in stored.split(",") if a.strip())
        return SenderChoice(addresses, "the profile's sender", SenderNames())
    counts: Counter[str] = Counter()
    display: dict[str, Counter[str]] = {}
    done = 0
    last = time.monotonic()
    for record in iter_records(source, options):
        done += record.size
        address, name = record_sender(record)
        if address:
            counts[address] += 1
            if name:
                display.setdefault(address, Counter())[name] += 1
        if time.monotonic() - last > PROGRESS_EVERY_S:
            last = time.monotonic()
            on_progress(Progress("scan", done, source.total_bytes, message="finding the most frequent sender"))
    if not counts:
        return SenderChoice(frozenset(), "no sender in the source: every item kept", SenderNames())
    top, top_count = counts.most_common(1)[0]
    key = _person_key(top, display.get(top))
    chosen = {top}
    if len(key) >= 2:
        chosen.update(a for a in counts if a != top and _person_key(a, display.get(a)) == key)
    total = sum(counts.values())
    how = f"most frequent From ({top_count} of {total} messages)"
    if len(chosen) > 1:
        how += f" and {len(chosen) - 1} more address(es) with the same name"
    names = [n for a in chosen for n in (display.get(a) or {})]
    return SenderChoice(frozenset(chosen), how, SenderNames.from_identity(top, names))


def _person_key(address: str, names: Counter[str] | None) -> frozenset[str]:
    """Full-name tokens (two or more letters) of the address's commonest display name."""
    from core.corpus.email_cleaning import _name_order

    if names:
        tokens = [t for t in _name_order(names.most_common(1)[0][0]) if len(t) >= 2]
    else:
        local = address.split("@", 1)[0]
        tokens = [t for t in re.split(r"[._+-]+", local.lower()) if len(t) >= 2 and t.isalpha()]
    return frozenset(tokens)


# -- the import ------------------------------------------------------------------------------


def split_order(content_hash: str, seed: int) -> bytes:
    """Seeded sort key: a batch is split in this order, so the split does not depend on the
    order the source lists its messages in (an mbox and a maildir of the same mail agree)."""
    return hashlib.sha256(f"{seed}:{content_hash}".encode()).digest()


def next_split(counts: dict[str, int], test_share: float) -> str:
    """test while the profile's test share is below target, else train: 20 documents give
    exactly 4 test ones, and documents already stored never move."""
    total = counts["train"] + counts["test"] + 1
    return "test" if counts["test"] < int(test_share * total + 0.5) else "train"


@writes_profile("pa import", lambda args: None if args["options"].dry_run else args["options"].profile)
def import_corpus(
    store: Store,
    path: Path | str,
    options: ImportOptions,
    on_progress: ProgressCallback = ignore_progress,
    on_outcome: Callable[[Candidate | Dropped], None] | None = None,
) -> ImportReport:
    """Import one source into one profile and return what happened.

    Raises UsageError/CorpusError for problems with the command or the source as a whole;
    problems with single items are counted in `report.dropped` with their reason.
    `on_outcome` sees every item's cleaned document or drop (before de-duplication).
    """
    validate_profile_name(options.profile)
    if options.genre is not None and options.genre not in GENRES:
        raise UsageError(f"--genre {options.genre!r} is not one of {', '.join(GENRES)}")
    started = time.monotonic()
    source = open_source(Path(path).expanduser(), options.format)
    profile = store.find_profile(options.profile)
    if profile and options.genre and options.genre != profile.genre:
        raise UsageError(
            f"profile {options.profile!r} holds {profile.genre} texts; drop --genre or import into another profile"
        )
    genre = profile.genre if profile else (options.genre or "email")
    choice = choose_senders(source, options, profile.sender if profile else None, on_progress)
    rules = CleaningRules(
        senders=choice.addresses,
        names=choice.names,
        email_like=genre == "email" or source.format in EMAIL_FORMATS,
        min_words=options.corpus.min_words,
    )
    report = ImportReport(
        profile=options.profile,
        source=storable(str(source.path)),
        format=source.format,
        genre=genre,
        dry_run=options.dry_run,
        senders=sorted(choice.addresses),
        sender_choice=choice.how,
        files_seen=len(source.files) + source.other_files,
    )
    if source.other_files:
        report.dropped[OTHER_FORMAT] = source.other_files
    for folder in source.unreadable:
        _count_drop(report, Dropped(UNREADABLE_FOLDER, storable(str(folder)) or "", "its files were not read"))
    writer = _Writer(store, options, report, profile.id if profile else None, choice, genre)
    total = source.total_bytes
    last = 0.0
    try:
        for record in iter_records(source, options):
            report.messages_seen += 1
            report.bytes_read += record.size
            outcome = document_from_record(record, rules)
            if on_outcome is not None:
                on_outcome(outcome)
            if outcome.sender:
                report.seen_by_sender[outcome.sender] += 1
            if isinstance(outcome, Dropped):
                _count_drop(report, outcome)
            else:
                writer.add(outcome)
            now = time.monotonic()
            if now - last > PROGRESS_EVERY_S:
                last = now
                on_progress(_progress(report, total))
        writer.finish()
        if not options.dry_run and writer.profile_id is not None:
            _measure_style(store, options.profile)
    except BaseException:
        writer.abandon()
        raise
    report.seconds = time.monotonic() - started
    on_progress(_progress(report, total))
    return report


def _measure_style(store: Store, profile: str) -> None:
    """Measure the style facts of the texts this import added (`pa style` shows them)."""
    from core.style.facts_store import refresh_facts

    refresh_facts(store, store.get_profile(profile))


def preview_import(
    store: Store, path: Path | str, options: ImportOptions, limit: int = 200
) -> tuple[ImportReport, list[Candidate | Dropped]]:
    """What an import would do, storing nothing: the dry-run report and the first `limit`
    outcomes (cleaned documents and drops with their reasons), for UIs that show a preview."""
    from dataclasses import replace

    outcomes: list[Candidate | Dropped] = []

    def keep(outcome: Candidate | Dropped) -> None:
        if len(outcomes) < limit:
            outcomes.append(outcome)

    report = import_corpus(store, path, replace(options, dry_run=True), on_outcome=keep)
    return report, outcomes


def _progress(report: ImportReport, total: int) -> Progress:
    dropped = sum(report.dropped.values()) - report.duplicates
    return Progress(
        "import",
        report.bytes_read,
        total,
        errors=dropped,
        message=f"{report.messages_seen} read, {report.imported} imported, {dropped} dropped",
    )


def _count_drop(report: ImportReport, dropped: Dropped) -> None:
    report.dropped[dropped.reason] += 1
    examples = report.examples.setdefault(dropped.reason, [])
    if len(examples) < 5:
        examples.append(dropped.source + (f" ({dropped.detail})" if dropped.detail else ""))


class _Writer:
    """Batches documents into transactions; creates the profile and its import_log row with
    the first batch, so an import that stores nothing leaves no trace."""

    def __init__(
        self,
        store: Store,
        options: ImportOptions,
        report: ImportReport,
        profile_id: int | None,
        choice: SenderChoice,
        genre: str,
    ):
        self.store = store
        self.options = options
        self.report = report
        self.profile_id = profile_id
        self.choice = choice
        self.genre = genre
        self.pending: list[Candidate] = []
        self.seen_hashes: set[str] = set()
        self.seen_ids: set[str] = set()
        self.dry_counts: dict[str, int] | None = None
        self.split_counts: dict[str, int] | None = None

    def add(self, candidate: Candidate) -> None:
        self.pending.append(candidate)
        if len(self.pending) >= self.options.corpus.batch_size:
            self._dry_flush() if self.options.dry_run else self._flush()

    def finish(self) -> None:
        if self.options.dry_run:
            self._dry_flush()
        elif self.pending or self.profile_id is not None:
            self._flush(final=True)

    def abandon(self) -> None:
        """Mark the run as interrupted; the batches already committed stay."""
        if self.options.dry_run or self.report.import_id is None:
            return
        try:
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE import_log SET status = 'failed', finished_at = datetime('now') WHERE id = ?",
                    (self.report.import_id,),
                )
        except sqlite3.Error:
            pass  # the store is what failed; the row stays 'running', which says the same

    def _flush(self, final: bool = False) -> None:
        report = self.report
        with self.store.transaction() as db:
            if self.profile_id is None:
                db.execute("INSERT INTO profiles (name, genre) VALUES (?, ?)", (self.options.profile, self.genre))
                self.profile_id = db.execute(
                    "SELECT id FROM profiles WHERE name = ?", (self.options.profile,)
                ).fetchone()[0]
            if self.choice.addresses and self.choice.how != "the profile's sender":
                db.execute(
                    "UPDATE profiles SET sender = ? WHERE id = ? AND sender IS NULL",
                    (", ".join(sorted(self.choice.addresses)), self.profile_id),
                )
            if report.import_id is None:
                report.import_id = db.execute(
                    "INSERT INTO import_log (profile_id, source, format) VALUES (?, ?, ?)",
                    (self.profile_id, report.source, report.format),
                ).lastrowid
                # This import holds the profile's writer lock: a row still 'running' is from one that crashed.
                db.execute(
                    "UPDATE import_log SET status = 'failed' WHERE profile_id = ? AND status = 'running' AND id != ?",
                    (self.profile_id, report.import_id),
                )
            seed, share = self.options.corpus.split_seed, self.options.corpus.test_share
            if self.split_counts is None:
                # Counted once: a GROUP BY per batch would rescan the profile and grow with it.
                self.split_counts = {"train": 0, "test": 0}
                for row in db.execute(
                    "SELECT split, COUNT(*) FROM documents WHERE profile_id = ? GROUP BY split", (self.profile_id,)
                ):
                    self.split_counts[row[0]] = row[1]
            counts = dict(self.split_counts)
            imported = Counter[str]()
            splits = self._assign_splits(db, counts, seed, share)
            for candidate, split in zip(self.pending, splits):
                cursor = db.execute(
                    "INSERT OR IGNORE INTO documents (profile_id, text, sender, recipients, subject, date, "
                    "previous_context, signoff, signature, source_path, message_id, content_hash, split) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.profile_id,
                        *map(
                            storable,
                            (
                                candidate.text,
                                candidate.sender,
                                candidate.recipients,
                                candidate.subject,
                                candidate.date,
                                candidate.previous_context,
                                candidate.signoff,
                                candidate.signature,
                                candidate.source,
                                candidate.message_id,
                            ),
                        ),
                        candidate.content_hash,
                        split,
                    ),
                )
                if cursor.rowcount:
                    imported[split] += 1
                    if candidate.sender:
                        imported[f"sender:{candidate.sender}"] += 1
                else:
                    _count_drop(report, Dropped(DUPLICATE, candidate.source, sender=candidate.sender))
            db.execute(
                "UPDATE import_log SET seen = ?, imported = ?, dropped = ?, status = ?, finished_at = "
                "CASE WHEN ? THEN datetime('now') END WHERE id = ?",
                (
                    report.messages_seen,
                    report.imported + imported["train"] + imported["test"],
                    json.dumps(dict(report.dropped)),
                    "done" if final else "running",
                    final,
                    report.import_id,
                ),
            )
        # Counted only once the transaction has committed.
        self.split_counts = counts
        report.train += imported["train"]
        report.test += imported["test"]
        report.imported += imported["train"] + imported["test"]
        for key, count in imported.items():
            if key.startswith("sender:"):
                report.imported_by_sender[key[7:]] += count
        self.pending = []

    def _assign_splits(self, db: sqlite3.Connection, counts: dict[str, int], seed: int, share: float) -> list[str]:
        """The split of each pending document, decided in seeded hash order (so it does not
        depend on the source's order) while documents are still inserted in source order."""
        hashes = [c.content_hash for c in self.pending]
        ids = [c.message_id for c in self.pending if c.message_id]
        stored_hashes = (
            {
                row[0]
                for row in db.execute(
                    f"SELECT content_hash FROM documents WHERE profile_id = ? AND content_hash IN ({','.join('?' * len(hashes))})",
                    (self.profile_id, *hashes),
                )
            }
            if hashes
            else set()
        )
        stored_ids = (
            {
                row[0]
                for row in db.execute(
                    f"SELECT message_id FROM documents WHERE profile_id = ? AND message_id IN ({','.join('?' * len(ids))})",
                    (self.profile_id, *ids),
                )
            }
            if ids
            else set()
        )
        splits = ["train"] * len(self.pending)
        seen_hashes: set[str] = set()
        seen_ids: set[str] = set()
        for index in sorted(range(len(self.pending)), key=lambda i: split_order(hashes[i], seed)):
            candidate = self.pending[index]
            if (
                candidate.content_hash in stored_hashes
                or candidate.content_hash in seen_hashes
                or (candidate.message_id and (candidate.message_id in stored_ids or candidate.message_id in seen_ids))
            ):
                continue  # a duplicate: the insert will be ignored, the counts must not move
            seen_hashes.add(candidate.content_hash)
            if candidate.message_id:
                seen_ids.add(candidate.message_id)
            splits[index] = next_split(counts, share)
            counts[splits[index]] += 1
        return splits

    def _dry_flush(self) -> None:
        """The same decisions as `_flush`, against the store read-only and in-memory sets."""
        report = self.report
        if self.dry_counts is None:
            self.dry_counts = {"train": 0, "test": 0}
            if self.profile_id is not None:
                self.dry_counts.update(self.store.count_documents(self.profile_id))
        seed = self.options.corpus.split_seed
        for candidate in sorted(self.pending, key=lambda c: split_order(c.content_hash, seed)):
            duplicate = candidate.content_hash in self.seen_hashes or (
                candidate.message_id is not None and candidate.message_id in self.seen_ids
            )
            if not duplicate and self.profile_id is not None:
                duplicate = bool(
                    self.store.query(
                        "SELECT 1 FROM documents WHERE profile_id = ? AND (content_hash = ? OR message_id = ?) LIMIT 1",
                        (self.profile_id, candidate.content_hash, candidate.message_id),
                    )
                )
            if duplicate:
                _count_drop(report, Dropped(DUPLICATE, candidate.source, sender=candidate.sender))
                continue
            self.seen_hashes.add(candidate.content_hash)
            if candidate.message_id:
                self.seen_ids.add(candidate.message_id)
            split = next_split(self.dry_counts, self.options.corpus.test_share)
            self.dry_counts[split] += 1
            setattr(report, split, getattr(report, split) + 1)
            report.imported += 1
            if candidate.sender:
                report.imported_by_sender[candidate.sender] += 1
        self.pending = []
