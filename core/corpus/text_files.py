"""Folders of `.txt` / `.md` files: one document per file, the file name as its subject."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.corpus.files import decode_text, file_size, looks_binary, read_bounded, walk_files
from core.corpus.records import BINARY, SourceRecord

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")


def text_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    return [file for file in walk_files(path) if file.suffix.lower() in TEXT_SUFFIXES]


def iter_text(files: list[Path], max_bytes: int) -> Iterator[SourceRecord]:
    for file in files:
        data, problem, detail = read_bounded(file, max_bytes)
        size = file_size(file)
        if data is None:
            yield SourceRecord(str(file), problem=problem, detail=detail, size=size)
        elif looks_binary(data):
            yield SourceRecord(str(file), problem=BINARY, size=size)
        else:
            text, title = _strip_front_matter(decode_text(data))
            yield SourceRecord(str(file), text=text, metadata={"subject": title or file.stem}, size=size)


def _strip_front_matter(text: str) -> tuple[str, str | None]:
    """Markdown front matter (`---` … `---`) is metadata, not writing; its title is kept."""
    if not text.startswith("---\n"):
        return text, None
    end = text.find("\n---", 4)
    if end < 0 or end > 4000:
        return text, None
    title = None
    for line in text[4:end].splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "title":
            title = value.strip().strip("'\"") or None
    return text[end + 4 :].lstrip("-\n"), title
