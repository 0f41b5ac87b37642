"""Text from a person's corpus shown in a terminal: it may neither style nor steer the terminal.

A subject line is data. Printed raw, `[/]` in it broke rich's markup parser (a traceback after the
import was committed), `[link=...]` would style the output, and an escape sequence
(`ESC ] 0 ; title BEL`, cursor moves, colour codes) would reach the terminal itself. `plain`
removes terminal control sequences and control characters (newlines and tabs stay);
`shown` also escapes rich markup, for text put into a markup string.
"""

from __future__ import annotations

import re
from typing import overload

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/SOS/PM/APC strings, other two-byte
# escapes, 8-bit C1 controls, and C0 controls other than tab and newline (CR too: it rewrites lines).
_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c\s]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-Z\\-_]?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]",
)


def plain(text: object) -> str:
    """The text without terminal control sequences or control characters (keeps \\n and \\t)."""
    return _SEQUENCES.sub("", "" if text is None else str(text))


@overload
def storable(text: str) -> str: ...
@overload
def storable(text: None) -> None: ...
@overload
def storable(text: str | None) -> str | None: ...
def storable(text: str | None) -> str | None:
    """Text SQLite can store: bytes a file name or header could not decode (Python keeps them as
    lone surrogates) become visible `\\xff` escapes instead of failing the whole batch."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def shown(text: object) -> str:
    """`plain(text)` with rich markup escaped, to put data inside a markup string."""
    from rich.markup import escape

    return escape(plain(text))
