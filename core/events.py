"""Progress events that long work in `core` emits; the CLI renders them with rich, the TUI in its panel.

Core never prints: it calls the `on_progress` callback it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    stage: str
    """What is running: import, intents, drafts, rules, training, export, eval..."""
    done: int
    total: int | None
    tokens: int = 0
    errors: int = 0
    message: str = ""
    cost: float | None = None
    """Estimated USD spent so far, when the backend has a price configured."""


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """The default callback for callers that do not show progress."""
