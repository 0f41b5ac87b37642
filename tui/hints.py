"""What a writer reads when something fails: one line, with the pa-tui key that fixes it.

Kept apart from the app so screens and widgets can use it without importing the app."""

from __future__ import annotations

from core.errors import PaError

TUI_KEYS = (
    ("--kind agent`", " (here: F4 Pipeline, then s)"),
    ("`pa distill --profile", " (here: F4 Pipeline, then s)"),
    ("`pa import PATH --profile", " (here: F3 Import)"),
)
"""Core's messages name the CLI command that fixes a problem; inside pa-tui they also name the key."""


def with_tui_keys(message: str) -> str:
    """`message` with the pa-tui key that does what its CLI command does (the command stays)."""
    for command, keys in TUI_KEYS:
        if command in message and keys not in message:
            message += keys
    return message


def describe_error(error: BaseException | None) -> str:
    """The one line a writer sees: PaError messages are written for them; others get their type."""
    if error is None:
        return "something failed without saying why"
    if isinstance(error, PaError):
        return with_tui_keys(str(error))
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
