"""Folders of `.eml` files, at any depth (one RFC 822 message per file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.corpus.detect import EML_SUFFIXES, file_kind
from core.corpus.files import file_size, read_bounded, walk_files
from core.corpus.records import SourceRecord


def eml_files(path: Path) -> list[Path]:
    """`.eml` files; a folder with none takes every file (exports name messages `1.`, `2.`)."""
    if not path.is_dir():
        return [path]
    files = list(walk_files(path))
    named = [file for file in files if file.suffix.lower() in EML_SUFFIXES]
    if named:
        return named
    return [file for file in files if file_kind(file) is None]


def iter_eml(files: list[Path], max_bytes: int) -> Iterator[SourceRecord]:
    for file in files:
        data, problem, detail = read_bounded(file, max_bytes)
        yield SourceRecord(str(file), raw=data, problem=problem, detail=detail, size=file_size(file))
