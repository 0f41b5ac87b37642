"""The import screen's file picker: a directory tree in natural order (mail2 before mail10), and
path completion for the typed path (→ accepts the suggestion)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from textual.suggester import Suggester
from textual.widgets import DirectoryTree

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """`mail10` after `mail9`: digit runs compare as numbers, the rest without case."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in _DIGITS.split(name) if part)


def natural_order(paths: Iterable[Path]) -> list[Path]:
    """Folders first, then files, each in natural order."""

    def key(path: Path) -> tuple:
        try:
            is_dir = path.is_dir()
        except OSError:
            is_dir = False
        return (not is_dir, natural_key(path.name))

    return sorted(paths, key=key)


class NaturalDirectoryTree(DirectoryTree):
    def _populate_node(self, node, content: Iterable[Path]) -> None:
        super()._populate_node(node, natural_order(content))


class PathSuggester(Suggester):
    """Completes the last part of a typed path from what is on disk (the first in natural order)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, stem = (typed, "") if value.endswith(("/", "\\")) else (typed.parent, typed.name)
        try:
            names = [p.name + ("/" if p.is_dir() else "") for p in natural_order(folder.iterdir())]
        except OSError:
            return None
        match = next((name for name in names if name.startswith(stem) and name != stem), None)
        if match is None:
            return None
        return value + match[len(stem) :]
