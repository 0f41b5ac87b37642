"""mbox files (mboxo/mboxrd): split on `From ` lines while streaming, never loading the file.

The stdlib `mailbox.mbox` first builds a table of contents of the whole file; this reader
keeps one message in memory at a time, and drops a message over the size limit as it goes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

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
    """One record per message; `From ` lines separate messages, `>From ` is unescaped.

    Two awkward exports are read too rather than run together into one message: lines ending
    in CR alone (classic Mac OS), and a file with no `From ` lines at all (messages separated
    only by a blank line before the next header block, split there).
    """
    try:
        handle = open(path, "rb")
    except OSError as exc:
        yield SourceRecord(str(path), problem=UNREADABLE, detail=exc.strerror or "", size=file_size(path))
        return
    with handle:
        head = handle.peek(1 << 16)[: 1 << 16]
        reader = _CrLines(handle) if b"\r" in head and b"\n" not in head else handle
        lines: list[bytes] = []
        size = 0
        overflow = False
        index = 0
        previous_blank = True
        started = False
        block_start: int | None = None  # without `From ` lines: where a header block may begin
        try:
            for line, length in bounded_lines(reader, max_bytes):
                if line is None:
                    size += length
                    overflow, lines, previous_blank, block_start = True, [], False, None
                    continue
                first = line[:1]
                if first == b"F" and line.startswith(b"From ") and (previous_blank or _FROM_LINE.match(line)):
                    if started or lines:
                        index += 1
                        yield _record(path, index, lines, size, overflow)
                    lines, size, overflow, started = [], length, False, True
                    previous_blank = False
                    continue
                blank = line in _BLANK_LINES
                if not started and not overflow:
                    if previous_blank and _HEADER_START.match(line):
                        block_start = len(lines)
                    elif block_start is not None and blank:
                        if _is_message_head(lines[block_start:]) and any(l.strip() for l in lines[:block_start]):
                            index += 1
                            yield _record(path, index, lines[:block_start], size, False)
                            lines = lines[block_start:]
                            size = sum(len(l) for l in lines)
                        block_start = None
                    elif block_start is not None and not _HEADER_LINE.match(line):
                        block_start = None
                size += length
                previous_blank = blank
                if overflow:
                    continue
                if size > max_bytes:
                    overflow, lines, block_start = True, [], None
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


_HEADER_START = re.compile(rb"(?i)(from|return-path|received|message-id|date|delivered-to|x-[\w-]+)[ \t]*:")
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:|[ \t]")  # a header field, or a folded continuation


def _is_message_head(block: list[bytes]) -> bool:
    """Two or more header lines, a From: among them: the start of the next message."""
    fields = [line for line in block if line[:1] not in (b" ", b"\t")]
    return len(fields) >= 2 and any(line[:5].lower() == b"from:" for line in fields)


class _CrLines:
    """A binary reader whose lines end in CR, read as lines ending in LF (bounded like readline)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.buffer = b""

    def readline(self, limit: int = -1) -> bytes:
        while b"\r" not in self.buffer and (limit < 0 or len(self.buffer) < limit):
            chunk = self.handle.read(1 << 16)
            if not chunk:
                break
            self.buffer += chunk
        end = self.buffer.find(b"\r")
        cut = len(self.buffer) if end < 0 else end + 1
        if limit >= 0:
            cut = min(cut, limit)
        line, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return line[:-1] + b"\n" if line.endswith(b"\r") else line


def _record(path: Path, index: int, lines: list[bytes], size: int, overflow: bool) -> SourceRecord:
    source = f"{path}#{index}"
    if overflow:
        return SourceRecord(source, problem=TOO_LARGE, detail=f"message of {size:,} bytes", size=size)
    return SourceRecord(source, raw=b"".join(lines), size=size)
