"""HTML bodies to plain text, keeping line structure and marking <blockquote> as '>' quotes.

HTML-only mail is common from webmail and phones. The cleaner downstream works on lines, so
block elements become line breaks, and quoted replies (blockquote) become '>' lines that the
cleaner knows how to move into the previous context.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIPPED = {"script", "style", "head", "title", "noscript", "template", "svg"}
_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "table",
    "tr",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "hr",
    "dl",
    "dt",
    "dd",
    "address",
    "center",
    "form",
}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.pre_depth = 0

    def _break(self) -> None:
        text = "".join(self.current)
        self.current = []
        if self.pre_depth == 0:
            text = _SPACES.sub(" ", text).strip()
        prefix = "> " * self.quote_depth
        self.lines.append((prefix + text).rstrip() if text or prefix else "")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skip_depth += 1
        elif tag == "br":
            self._break()
        elif tag == "blockquote":
            self._break()
            self.quote_depth += 1
        elif tag in _BLOCKS:
            self._break()
            if tag == "pre":
                self.pre_depth += 1
            if tag == "li":
                self.current.append("- ")
        elif tag in ("td", "th"):
            self.current.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "blockquote":
            self._break()
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag in _BLOCKS:
            self._break()
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            parts = data.split("\n")
            for part in parts[:-1]:
                self.current.append(part)
                self._break()
            self.current.append(parts[-1])
        else:
            self.current.append(data.replace("\n", " "))


def html_to_text(html: str) -> str:
    """Readable text from HTML; malformed markup degrades to its text, never raises."""
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup
        pass
    collector._break()
    text = "\n".join(collector.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
