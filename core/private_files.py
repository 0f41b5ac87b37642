"""pa's data is the most personal text people have: only its owner may read it.

Everything pa writes under its data folder is private: folders 0700, files 0600. New files
get it from the process umask (set here, inherited by the training process), so SQLite's
`-wal`/`-shm` files, `train.jsonl`, checkpoints, agents and reports are covered without each
writer remembering it. Files made by an older pa (0644, 0755) are fixed when the store is
opened, and the caller is told how many, so the user hears of it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.errors import StoreError

PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700


def restrict_new_files() -> None:
    """From now on this process (and its children) create files 0600 and folders 0700."""
    os.umask(PRIVATE_UMASK | os.umask(PRIVATE_UMASK))


def make_private(root: Path) -> list[Path]:
    """Create `root` private if missing; take group/other access off everything under it.

    Returns the paths whose mode was changed (empty when all was private already). Symbolic
    links are not followed: pa's tree holds none, and a link must not let pa chmod elsewhere.
    """
    restrict_new_files()
    try:
        root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    except OSError as exc:
        raise StoreError(
            f"{root}: cannot create pa's data folder ({exc.strerror or exc.__class__.__name__}); "
            "set PA_HOME (or PA_DATA_DIR) to a folder you can write to"
        ) from None
    fixed: list[Path] = []
    if _restrict(root):
        fixed.append(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            if _restrict(path):
                fixed.append(path)
    return fixed


def _restrict(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:  # removed meanwhile (a SQLite -shm file of a closing reader)
        return False
    if stat.S_ISLNK(mode) or not mode & 0o077:
        return False
    try:
        os.chmod(path, stat.S_IMODE(mode) & 0o700)
    except PermissionError:  # not ours: leave it, the store open will say what is wrong
        return False
    return True


def fixed_note(fixed: list[Path], root: Path) -> str:
    """The line that tells the user what was made private."""
    return (
        f"note: {len(fixed)} file(s) and folder(s) under {root} were readable by other users; "
        "pa made them private to you (folders 0700, files 0600)"
    )
