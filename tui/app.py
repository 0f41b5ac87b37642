"""`pa-tui`: the Textual writing assistant (filled in by its issue)."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("pa-tui is not built yet")
