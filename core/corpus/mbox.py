"""mbox files (mboxo/mboxrd): split on `From ` lines while streaming, never loading the file.

The stdlib `mailbox.mbox` first builds a table of contents of the whole file; this reader
keeps one message in memory at a time, and drops a message over the size limit as it goes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from core.corpus.files import bounded_lines, file_size
from core.corpus.records import TOO_LARGE, UNREADABLE, SourceRecord

_BLANK_LINES = (b"\n", b"\r\n", b"\r")
_FROM_LINE = re.compile(rb"From \S+ +\S{3} \S{3} +\d")


def is_mbox_start(head: bytes) -> bool:
    """An mbox starts with a `From sender date` line."""
    return head.startswith(b"From ") and bool(_FROM_LINE.match(head))


def mbox_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    from core.corpus.files import walk_files

    found = []
    for file in walk_files(path):
        if file.suffix.lower() in (".mbox", ".mbx") or _starts_like_mbox(file):
            found.append(file)
    return found


def _starts_like_mbox(file: Path) -> bool:
    try:
        with open(file, "rb") as handle:
            return is_mbox_start(handle.read(200))
    except OSError:
        return False


def iter_mbox(path: Path, max_bytes: int) -> Iterator[SourceRecord]:
    """One record per message; `From ` lines separate messages, `>From ` is unescaped."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        yield SourceRecord(str(path), problem=UNREADABLE, detail=exc.strerror or "", size=file_size(path))
        return
    with handle:
        lines: list[bytes] = []
        size = 0
        overflow = False
        index = 0
        previous_blank = True
        started = False
        try:
            for line, length in bounded_lines(handle, max_bytes):
                if line is None:
                    size += length
                    overflow, lines, previous_blank = True, [], False
                    continue
                first = line[:1]
                if first == b"F" and line.startswith(b"From ") and (previous_blank or _FROM_LINE.match(line)):
                    if started or lines:
                        index += 1
                        yield _record(path, index, lines, size, overflow)
                    lines, size, overflow, started = [], length, False, True
                    previous_blank = False
                    continue
                size += length
                previous_blank = line in _BLANK_LINES
                if overflow:
                    continue
                if size > max_bytes:
                    overflow, lines = True, []
                    continue
                if first == b">" and line.lstrip(b">").startswith(b"From "):
                    line = line[1:]
                lines.append(line)
        except OSError as exc:
            yield SourceRecord(f"{path}#{index + 1}", problem=UNREADABLE, detail=exc.strerror or "", size=size)
            return
        if started or any(l.strip() for l in lines) or overflow:
            index += 1
            yield _record(path, index, lines, size, overflow)


def _record(path: Path, index: int, lines: list[bytes], size: int, overflow: bool) -> SourceRecord:
    source = f"{path}#{index}"
    if overflow:
        return SourceRecord(source, problem=TOO_LARGE, detail=f"message of {size:,} bytes", size=size)
    return SourceRecord(source, raw=b"".join(lines), size=size)
