"""Writing a file so that a reader (or a crash) sees either the old content or the new, whole."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(file: Path, text: str) -> None:
    """Write `text` to a temporary file beside `file`, flush it to disk, then rename it over `file`."""
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f".{file.name}.partial")
    with partial.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, file)
