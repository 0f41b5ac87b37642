"""How much of the message replied to a model sees: one window for distillation, drafting and the agent.

The same text has to reach M_L when it distils (the zero-shot draft, the rules) and when it
drafts, and the agent has to see at training time exactly what it sees when asked; so every
prompt takes the previous message through `previous_window`, never through its own cut.
"""

from __future__ import annotations

PREVIOUS_MAX_CHARS = 2000
"""The newest part of the message replied to that any prompt shows (the start is cut, marked)."""
TRIM_MARK = "[...] "


def previous_window(text: str | None, limit: int = PREVIOUS_MAX_CHARS) -> str | None:
    """The message replied to, cut to its last `limit` characters (at a word) with a mark; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    space = tail.find(" ")
    if 0 <= space < 40:
        tail = tail[space + 1 :]
    return TRIM_MARK + tail.lstrip()
