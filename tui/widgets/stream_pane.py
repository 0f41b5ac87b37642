"""One streaming answer: a title, Markdown that grows token by token, and its speed.

Tokens go through `Markdown.get_stream` (which batches fragments when they arrive faster than
they render); when the stream ends the whole text is rendered once more, so the final view
is exactly the Markdown of the full answer. The pane follows new text only while the reader
is at the bottom: scrolling up stops it, scrolling back down resumes it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream


def shown(text: str) -> str:
    """Model text as Markdown that shows every character: raw HTML (`<details>`, `<br>`) would
    otherwise be swallowed by the renderer, so `<` is written as an entity."""
    return text.replace("<", "&lt;")


class StreamPane(Vertical):
    DEFAULT_CLASSES = "stream-pane"

    def __init__(self, stream: str, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id or f"pane-{stream}")
        self.stream = stream
        self.title_text = title
        self.text = ""
        self.state = "idle"
        self.tokens = 0
        self.seconds = 0.0
        self._markdown_stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, classes="pane-title")
        with VerticalScroll(classes="pane-scroll", can_focus=True):
            yield Markdown("", classes="pane-markdown")

    @property
    def scroller(self) -> VerticalScroll:
        return self.query_one(".pane-scroll", VerticalScroll)

    @property
    def markdown(self) -> Markdown:
        return self.query_one(".pane-markdown", Markdown)

    @property
    def following(self) -> bool:
        """True while the pane scrolls with new text: the reader is at (or within a line of) the bottom."""
        scroller = self.scroller
        return scroller.scroll_y >= scroller.max_scroll_y - 1

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    async def reset(self, state: str = "waiting") -> None:
        await self._stop_stream()
        self.text, self.tokens, self.seconds = "", 0, 0.0
        self._set_state(state)
        await self.markdown.update("")
        self.scroller.scroll_home(animate=False)

    async def append(self, fragment: str) -> None:
        if not fragment:
            return
        if self._markdown_stream is None:
            self._markdown_stream = Markdown.get_stream(self.markdown)
            self._set_state("streaming")
        follow = self.following
        self.text += fragment
        await self._markdown_stream.write(shown(fragment))
        if follow:
            self.scroller.scroll_end(animate=False)

    async def finish(self, text: str | None = None, tokens: int = 0, seconds: float = 0.0, *, note: str | None = None) -> None:
        """The stream ended: render the full text once, record its speed (`note` goes in the title)."""
        await self._stop_stream()
        if text is not None:
            self.text = text
        self.tokens, self.seconds = tokens, seconds
        follow = self.following
        await self.markdown.update(shown(self.text))
        if follow:
            self.scroller.scroll_end(animate=False)
        self._set_state("done", note)

    async def show(self, text: str, state: str = "done", *, note: str | None = None) -> None:
        """Show a finished text (from history or an edit) without streaming it, from its top."""
        await self._stop_stream()
        self.text, self.tokens, self.seconds = text, 0, 0.0
        await self.markdown.update(shown(text))
        self.scroller.scroll_home(animate=False)
        self._set_state(state, note)

    async def stop(self, state: str) -> None:
        """The stream was cancelled or failed: keep what arrived, say why it stopped."""
        await self._stop_stream()
        self._set_state(state)

    async def _stop_stream(self) -> None:
        if self._markdown_stream is not None:
            stream, self._markdown_stream = self._markdown_stream, None
            await stream.stop()

    def _set_state(self, state: str, note: str | None = None) -> None:
        self.state = state
        self.set_class(state == "streaming", "-streaming")
        self.set_class(state.startswith(("failed", "unavailable")), "-failed")
        shown = note if note is not None else (state if state not in ("idle", "done") else None)
        self.query_one(".pane-title", Static).update(f"{self.title_text} · {shown}" if shown else self.title_text)
