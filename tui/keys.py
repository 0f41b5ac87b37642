"""How keys are written for people: `ctrl+r` is Ctrl+R, `escape` is Esc, `f5` is F5."""

from __future__ import annotations

AGAIN = "ctrl+g"
"""The one key that runs the same request again, wherever there is one (draft, compare); no
screen gives it another meaning (tests/tui/test_architecture.py checks)."""

NAMES = {"escape": "Esc", "enter": "Enter", "tab": "Tab", "space": "Space", "delete": "Del", "question_mark": "?"}


def key_label(key: str) -> str:
    """One binding's keys (comma-separated) as people write them."""
    return " / ".join(_one(part.strip()) for part in key.split(","))


def _one(key: str) -> str:
    *modifiers, name = key.split("+")
    name = NAMES.get(name, name.upper() if len(name) <= 3 else name.capitalize())
    return "+".join([m.capitalize() for m in modifiers] + [name])
