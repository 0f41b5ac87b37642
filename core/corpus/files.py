"""File-system helpers every reader shares: sorted walks, bounded reads, binary sniffing.

Memory stays flat however large the input: files are read in bounded pieces, and an item over
the size limit is skipped (counted as too_large) without ever being held whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

READ_CHUNK = 1 << 16
TEXT_CHARSETS = ("utf-8-sig", "cp1252", "latin-1")
WESTERN_GUESSES = {
    "ascii",
    "utf_8",
    "cp1252",
    "latin_1",
    "iso8859_15",
    "cp1250",
    "iso8859_2",
    "mac_roman",
    "cp850",
    "cp437",
}


def walk_files(root: Path) -> Iterator[Path]:
    """Every file under `root`, depth first, in name order (so imports are reproducible).
    Hidden folders (.git, .cache) are skipped; broken links are yielded so they can be
    reported as unreadable rather than silently missed."""
    for folder, dirnames, filenames in os.walk(root, onerror=None, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") or _is_maildir_folder(Path(folder, d)))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            yield Path(folder, name)


def unreadable_folders(root: Path) -> list[Path]:
    """Folders under `root` that could not be listed: their files are not read, and say so."""
    if not root.is_dir():
        return []
    found: list[Path] = []
    for _ in os.walk(root, onerror=lambda exc: found.append(Path(exc.filename)), followlinks=False):
        pass
    return sorted(found)


def _is_maildir_folder(path: Path) -> bool:
    """Maildir++ subfolders are hidden (`.Sent`); they hold mail, so they are walked."""
    return (path / "cur").is_dir() or (path / "new").is_dir()


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_bounded(path: Path, max_bytes: int) -> tuple[bytes | None, str | None, str]:
    """(data, problem, detail): the whole file, or why not (unreadable, too_large)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return None, "unreadable", exc.strerror or exc.__class__.__name__
    if len(data) > max_bytes:
        return None, "too_large", f"over {max_bytes:,} bytes"
    return data, None, ""


class LineReader(Protocol):
    """A binary file, or anything else that reads lines of bytes up to a limit."""

    def readline(self, limit: int = -1, /) -> bytes: ...


def bounded_lines(handle: LineReader, max_bytes: int) -> Iterator[tuple[bytes | None, int]]:
    """Lines of a binary file as (line, size); a line longer than `max_bytes` comes back as
    (None, size) after being skipped in pieces, so a 100 MB line never sits in memory."""
    while True:
        line = handle.readline(max_bytes + 1)
        if not line:
            return
        if len(line) <= max_bytes or line.endswith(b"\n"):
            yield line, len(line)
            continue
        size = len(line)
        while True:
            piece = handle.readline(READ_CHUNK)
            size += len(piece)
            if not piece or piece.endswith(b"\n"):
                break
        yield None, size


def utf16_encoding(data: bytes) -> str | None:
    """`utf-16` when the data is UTF-16 text (a BOM, or ASCII-range text with every other byte NUL)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = data[:8192]
    if len(sample) < 16 or len(sample) % 2:
        return None
    even, odd = sample[0::2], sample[1::2]
    half = len(sample) // 2
    if odd.count(0) > 0.4 * half and even.count(0) < 0.05 * half:
        return "utf-16-le"
    if even.count(0) > 0.4 * half and odd.count(0) < 0.05 * half:
        return "utf-16-be"
    return None


def looks_binary(data: bytes) -> bool:
    """NUL bytes, or mostly control bytes, in the first 8 KiB: not text of any charset (UTF-16 is text)."""
    sample = data[:8192]
    if not sample or utf16_encoding(sample):
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return control / len(sample) > 0.1


def decode_text(data: bytes) -> str:
    """UTF-16 (by BOM or NUL pattern), UTF-8 (with or without BOM), else the charset the bytes
    show (Shift-JIS, GB18030, KOI8-R... by charset-normalizer), else cp1252, else latin-1."""
    wide = utf16_encoding(data)
    if wide:
        try:
            return data.decode(wide)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    guessed = guess_legacy_text(data)
    if guessed:
        return guessed
    for charset in TEXT_CHARSETS:
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # pragma: no cover - latin-1 is in TEXT_CHARSETS


def guess_legacy_text(data: bytes) -> str | None:
    """The text, when charset-normalizer is confident which legacy charset the bytes are in.

    Decoding Shift-JIS as cp1252 "succeeds" and stores mojibake; a confident guess is better,
    and a single-byte Western guess falls through to the same cp1252 as before.
    """
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a dependency of pa
        return None
    best = from_bytes(data[:200_000]).best()
    if best is None or best.encoding in WESTERN_GUESSES or best.chaos > 0.2:
        return None  # Western text keeps the cp1252 reading it always had
    try:
        return data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        return None
