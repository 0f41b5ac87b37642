"""Is a path a GGUF model file? Checked before llama.cpp ever sees it, so a wrong path is one line."""

from __future__ import annotations

from pathlib import Path

from core.errors import UsageError

GGUF_MAGIC = b"GGUF"


def check_gguf_file(path: Path, what: str = "model") -> Path:
    """A readable file that starts with the GGUF magic."""
    if not path.exists():
        raise UsageError(f"{path}: no such {what} file; check the path")
    if not path.is_file():
        raise UsageError(f"{path}: is a folder, not a GGUF {what} file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read ({exc.strerror or exc.__class__.__name__}); check its permissions"
        ) from None
    if magic != GGUF_MAGIC:
        raise UsageError(
            f"{path}: not a GGUF file (it does not start with 'GGUF'); convert it to GGUF or pick another file"
        )
    return path
