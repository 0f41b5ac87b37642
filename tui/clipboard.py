"""Copy text where the writer can paste it: the terminal (OSC 52) and, when one is installed,
the system clipboard tool, because many terminals (and tmux without set-clipboard) drop OSC 52
without a word."""

from __future__ import annotations

import os
import shutil
import subprocess

TOOLS = (
    ("pbcopy",),
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "--clipboard", "--input"),
    ("clip.exe",),
)


def system_copy(text: str) -> str | None:
    """Put `text` on the system clipboard with the first tool that works; its name, or None."""
    for command in TOOLS:
        if command[0] == "wl-copy" and not os.environ.get("WAYLAND_DISPLAY"):
            continue
        if command[0] in ("xclip", "xsel") and not os.environ.get("DISPLAY"):
            continue
        path = shutil.which(command[0])
        if path is None:
            continue
        try:
            subprocess.run(
                [path, *command[1:]],
                input=text.encode("utf-8"),
                check=True,
                timeout=3,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        return command[0]
    return None
