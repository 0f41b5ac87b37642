"""Tell the format of a path (`--format auto`) and list the files a format reads there.

A file is judged by its name, then by its first bytes. A folder takes the format of the mail
it holds first (maildir, then .eml, then mbox), then of its other files by count; files of
any other kind in it are counted as skipped, not read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from core.corpus.csv_rows import CSV_SUFFIXES
from core.corpus.files import looks_binary, walk_files
from core.corpus.jsonl import JSONL_SUFFIXES
from core.corpus.maildir import is_maildir
from core.corpus.mbox import is_mbox_start
from core.corpus.text_files import TEXT_SUFFIXES
from core.errors import CorpusError, UsageError

EML_SUFFIXES = (".eml",)
"""One RFC 822 message per file (core.corpus.eml reads them)."""

_HEADER_NAMES = (
    b"from:",
    b"to:",
    b"subject:",
    b"date:",
    b"message-id:",
    b"received:",
    b"return-path:",
    b"mime-version:",
    b"content-type:",
    b"delivered-to:",
    b"x-",
)


def detect_format(path: Path) -> str:
    if path.is_dir():
        return _detect_folder(path)
    return _detect_file(path)


def file_kind(path: Path) -> str | None:
    """The format of one file from its name alone, or None."""
    suffix = path.suffix.lower()
    for kind, suffixes in (
        ("eml", EML_SUFFIXES),
        ("mbox", (".mbox", ".mbx")),
        ("jsonl", JSONL_SUFFIXES),
        ("csv", CSV_SUFFIXES),
        ("text", TEXT_SUFFIXES),
    ):
        if suffix in suffixes:
            return kind
    return None


def _detect_file(path: Path) -> str:
    kind = file_kind(path)
    if kind:
        return kind
    try:
        with open(path, "rb") as handle:
            head = handle.read(8192)
    except OSError as exc:
        raise CorpusError(
            f"{path}: cannot read ({exc.strerror or exc.__class__.__name__}); check its permissions"
        ) from None
    if not head:
        raise CorpusError(f"{path}: the file is empty; nothing to import")
    if looks_binary(head):
        raise CorpusError(f"{path}: binary data, not a mailbox or text; point pa import at mail or text files")
    if is_mbox_start(head):
        return "mbox"
    if _looks_like_message(head):
        return "eml"
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        return "jsonl"
    raise UsageError(
        f"{path}: cannot tell its format from the name or content; pass --format mbox|maildir|eml|text|jsonl|csv"
    )


def _looks_like_message(head: bytes) -> bool:
    """At least two RFC 822 header lines before the first blank line."""
    headers = head.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].split(b"\n")[:40]
    named = sum(1 for line in headers if line.lower().startswith(_HEADER_NAMES))
    return named >= 2 and (b"from:" in head.lower()[:8192])


def _detect_folder(path: Path) -> str:
    if is_maildir(path):
        return "maildir"
    counts: Counter[str] = Counter()
    unnamed = 0
    for file in walk_files(path):
        kind = file_kind(file)
        if kind:
            counts[kind] += 1
        else:
            unnamed += 1
    for preferred in ("eml", "mbox"):
        if counts[preferred]:
            return preferred
    if counts:
        return counts.most_common(1)[0][0]
    if unnamed:
        kind = _unnamed_files_kind(path)
        if kind:
            return kind  # Thunderbird mbox files (`Inbox`, `Sent`), or messages named `1.`, `2.` (Enron)
    if unnamed:
        raise UsageError(
            f"{path}: none of its {unnamed} files has a known extension (.eml .mbox .txt .md .jsonl .csv); "
            "pass --format"
        )
    raise CorpusError(f"{path}: the folder is empty; nothing to import")


def _unnamed_files_kind(path: Path) -> str | None:
    """mbox or eml when the first few files without an extension all look like one of them."""
    kinds: set[str | None] = set()
    checked = 0
    for file in walk_files(path):
        if file_kind(file):
            continue
        try:
            with open(file, "rb") as handle:
                head = handle.read(8192)
        except OSError:
            continue
        kinds.add("mbox" if is_mbox_start(head) else "eml" if _looks_like_message(head) else None)
        checked += 1
        if checked >= 5 or len(kinds) > 1:
            break
    return next(iter(kinds)) if len(kinds) == 1 else None
