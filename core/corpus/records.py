"""What readers hand to the import pipeline, and what the pipeline makes of it.

A reader only finds items and reads their bytes; it never decides what to keep. Every item
ends as exactly one `Candidate` (a document to store) or one `Dropped` (with its reason), so
the summary always adds up: seen = imported + duplicates + dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EMAIL_FORMATS = ("mbox", "maildir", "eml")
FORMATS = ("mbox", "maildir", "eml", "text", "jsonl", "csv")

# Drop reasons: stable identifiers (they appear in --json output and import_log.dropped).
UNREADABLE = "unreadable"
TOO_LARGE = "too_large"
BINARY = "binary"
BAD_RECORD = "bad_record"
MISSING_TEXT = "missing_text_field"
NOT_FROM_SENDER = "not_from_sender"
NO_SENDER = "no_sender"
EMPTY = "empty"
TOO_SHORT = "too_short"
FORWARD_ONLY = "forward_only"
DUPLICATE = "duplicate"
OTHER_FORMAT = "other_format"
UNREADABLE_FOLDER = "unreadable_folder"

DROP_REASONS = {
    UNREADABLE: "could not be opened or read",
    TOO_LARGE: "larger than corpus.max_message_bytes",
    BINARY: "binary data, not text",
    BAD_RECORD: "not valid JSON / CSV",
    MISSING_TEXT: "record has no text field",
    NOT_FROM_SENDER: "sent by someone else",
    NO_SENDER: "no From address",
    EMPTY: "nothing written after cleaning",
    TOO_SHORT: "shorter than corpus.min_words",
    FORWARD_ONLY: "a forward with no text of their own",
    DUPLICATE: "same Message-ID or text as one already stored",
    OTHER_FORMAT: "file of another format in the folder",
    UNREADABLE_FOLDER: "a folder that could not be listed (permissions): its files were not read",
}


@dataclass
class SourceRecord:
    """One item found by a reader: an RFC 822 message (`raw`) or a text with metadata."""

    source: str
    """Where it came from: a file path, with `#n` for the n-th message or line in a file."""
    raw: bytes | None = None
    text: str | None = None
    metadata: dict[str, str | None] = field(default_factory=dict)
    """sender, recipients, subject, date, message_id, previous_context (text records)."""
    problem: str | None = None
    """A drop reason the reader already knows (unreadable, too_large, bad_record...)."""
    detail: str = ""
    size: int = 0
    """Bytes this item took in its file, for progress."""


@dataclass
class Candidate:
    """A cleaned document ready to be stored."""

    text: str
    content_hash: str
    source: str
    sender: str | None = None
    recipients: str | None = None
    subject: str | None = None
    date: str | None = None
    message_id: str | None = None
    previous_context: str | None = None
    signoff: str | None = None
    """The closing (valediction and name), also the end of `text`, apart for display."""
    signature: str | None = None
    """The signature block cut from the text (title, company, phone...), apart for display."""


@dataclass
class Dropped:
    """An item that is not stored, and why."""

    reason: str
    source: str
    detail: str = ""
    sender: str | None = None
