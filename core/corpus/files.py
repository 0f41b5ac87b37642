"""File-system helpers every reader shares: sorted walks, bounded reads, binary sniffing.

Memory stays flat however large the input: files are read in bounded pieces, and an item over
the size limit is skipped (counted as too_large) without ever being held whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

READ_CHUNK = 1 << 16
TEXT_CHARSETS = ("utf-8-sig", "cp1252", "latin-1")


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


def bounded_lines(handle, max_bytes: int) -> Iterator[tuple[bytes | None, int]]:
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


def looks_binary(data: bytes) -> bool:
    """NUL bytes, or mostly control bytes, in the first 8 KiB: not text of any charset."""
    sample = data[:8192]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return control / len(sample) > 0.1


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else cp1252, else latin-1 (which always succeeds)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for charset in TEXT_CHARSETS:
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # pragma: no cover - latin-1 is in TEXT_CHARSETS
