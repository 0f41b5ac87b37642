"""The CLI's rich console, safe for data: no terminal escapes, no markup crash.

Commands escape what they interpolate (`core.safe_text.shown`); this console is the net under
them. Every text segment it writes has terminal control sequences removed (rich's own styling
is added after, so colours still work), and a string whose markup does not parse is printed
as plain text instead of raising after the work was done.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.errors import MarkupError
from rich.segment import Segment
from rich.text import Text

from core.safe_text import plain


class SafeConsole(Console):
    def render_str(self, text: str, **kwargs: Any) -> Text:
        text = plain(text)  # before rich drops the BEL that ends a title sequence
        try:
            return super().render_str(text, **kwargs)
        except MarkupError:
            return super().render_str(text, **{**kwargs, "markup": False})

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(plain(segment.text), segment.style, segment.control)
            for segment in buffer
        )
