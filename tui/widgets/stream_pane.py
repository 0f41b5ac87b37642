"""One streaming answer: a title, the text exactly as it will be sent, and its speed.

The text is shown as plain text, not rendered: line breaks, a sign-off on its own line, `*` and
`<` all appear as the writer will paste them (Markdown rendering joined lines and hid HTML).
The pane follows new text only while the reader is at the bottom: scrolling up stops it,
scrolling back down resumes it.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static


def shown(text: str) -> Text:
    """Model text as the reader sees it: every character, no markup, lines as written."""
    return Text(text, no_wrap=False, end="")


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

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, classes="pane-title")
        with VerticalScroll(classes="pane-scroll", can_focus=True):
            yield Static("", classes="pane-text")

    @property
    def scroller(self) -> VerticalScroll:
        return self.query_one(".pane-scroll", VerticalScroll)

    @property
    def body(self) -> Static:
        return self.query_one(".pane-text", Static)

    @property
    def following(self) -> bool:
        """True while the pane scrolls with new text: the reader is at (or within a line of) the bottom."""
        scroller = self.scroller
        return scroller.scroll_y >= scroller.max_scroll_y - 1

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    async def reset(self, state: str = "waiting") -> None:
        self.text, self.tokens, self.seconds = "", 0, 0.0
        self._set_state(state)
        self.body.update("")
        self.scroller.scroll_home(animate=False)

    async def append(self, fragment: str) -> None:
        if not fragment:
            return
        if self.state != "streaming":
            self._set_state("streaming")
        follow = self.following
        self.text += fragment
        self.body.update(shown(self.text))
        if follow:
            self.scroller.call_after_refresh(self.scroller.scroll_end, animate=False)

    async def finish(
        self, text: str | None = None, tokens: int = 0, seconds: float = 0.0, *, note: str | None = None
    ) -> None:
        """The stream ended: show the full text, record its speed (`note` goes in the title)."""
        if text is not None:
            self.text = text
        self.tokens, self.seconds = tokens, seconds
        follow = self.following
        self.body.update(shown(self.text))
        if follow:
            self.scroller.call_after_refresh(self.scroller.scroll_end, animate=False)
        self._set_state("done", note)

    async def show(self, text: str, state: str = "done", *, note: str | None = None) -> None:
        """Show a finished text (from history or an edit) without streaming it, from its top."""
        self.text, self.tokens, self.seconds = text, 0, 0.0
        self.body.update(shown(text))
        self.scroller.scroll_home(animate=False)
        self._set_state(state, note)

    async def stop(self, state: str) -> None:
        """The stream was cancelled or failed: keep what arrived, say why it stopped."""
        self._set_state(state)

    def _set_state(self, state: str, note: str | None = None) -> None:
        self.state = state
        self.set_class(state == "streaming", "-streaming")
        self.set_class(state.startswith(("failed", "unavailable")), "-failed")
        label = note if note is not None else (state if state not in ("idle", "done") else None)
        self.query_one(".pane-title", Static).update(Text(f"{self.title_text} · {label}" if label else self.title_text))
