"""Maildir trees (cur/ and new/ under any folder, Maildir++ subfolders included)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from core.corpus.files import file_size, read_bounded
from core.corpus.records import SourceRecord


def is_maildir(path: Path) -> bool:
    return path.is_dir() and any(_maildir_folders(path))


def _maildir_folders(root: Path) -> Iterator[Path]:
    for folder, dirnames, _ in os.walk(root):
        dirnames.sort()
        if "cur" in dirnames or "new" in dirnames:
            yield Path(folder)


def maildir_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for folder in _maildir_folders(root):
        for sub in ("cur", "new"):
            box = folder / sub
            if box.is_dir():
                files.extend(sorted(p for p in box.iterdir() if not p.name.startswith(".") and not p.is_dir()))
    return files


def iter_maildir(files: list[Path], max_bytes: int) -> Iterator[SourceRecord]:
    for file in files:
        data, problem, detail = read_bounded(file, max_bytes)
        yield SourceRecord(str(file), raw=data, problem=problem, detail=detail, size=file_size(file))
