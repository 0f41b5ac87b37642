"""The writer's own editor ($VISUAL, else $EDITOR) on a text, for `pa draft --edit`.

Never a guessed editor: with neither variable set, or when the editor exits with an error, the
command stops with one line saying so and nothing is recorded.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from core.errors import PaError, UsageError


def editor_command() -> list[str]:
    """The editor's command line, or a UsageError when none is set."""
    for variable in ("VISUAL", "EDITOR"):
        value = os.environ.get(variable, "").strip()
        if value:
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise UsageError(f"${variable}={value!r} cannot be read as a command ({exc}); fix it") from None
    raise UsageError("--edit needs your editor: set $VISUAL or $EDITOR (e.g. export EDITOR=nano) and run again")


def edit_text(text: str, *, name: str = "draft.txt") -> str:
    """`text` after the writer edited and saved it; PaError when the editor failed (nothing is kept then)."""
    command = editor_command()
    with tempfile.TemporaryDirectory(prefix="pa-edit-") as folder:  # private (0700): the text is personal
        file = Path(folder) / name
        file.write_text(text.rstrip() + "\n", encoding="utf-8")
        try:
            returncode = subprocess.run([*command, str(file)], check=False).returncode
        except OSError as exc:
            raise UsageError(
                f"cannot start the editor {command[0]!r} ({exc.strerror or exc}); check $VISUAL / $EDITOR"
            ) from None
        if returncode != 0:
            raise PaError(f"the editor {command[0]!r} exited with status {returncode}; the edited text was not kept")
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PaError(f"cannot read the edited text back ({exc.__class__.__name__}); save it as UTF-8") from None
