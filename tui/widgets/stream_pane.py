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
from textual.widgets import Static, TextArea


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
        self._editing_from = "done"
        self._note: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, classes="pane-title")
        with VerticalScroll(classes="pane-scroll", can_focus=True):
            yield Static("", classes="pane-text")
            yield Static("", classes="pane-extra")

    @property
    def extra(self) -> Static:
        """Under the text, apart from it: what pa adds to the model's answer (never part of `text`)."""
        return self.query_one(".pane-extra", Static)

    def show_extra(self, text: Text | str) -> None:
        self.extra.update(text)
        self.extra.set_class(bool(str(text)), "-shown")

    # -- the edit state (the final pane: the writer makes it what they send) -----------------------

    @property
    def editing(self) -> bool:
        return any(editor.display for editor in self.query(".pane-editor"))

    async def start_editing(self, note: str) -> TextArea:
        """Swap the text for an editor holding it; `note` goes in the title (how to leave).
        The editor is mounted once and then only hidden: a removed TextArea can still be
        painted by a pending screen refresh, which fails in Textual."""
        from tui.widgets.final_editor import FinalEditor

        editors = self.query(FinalEditor)
        if editors:
            editor = editors.first()
            editor.load_text(self.text)
        else:
            editor = FinalEditor(self.text, id=f"{self.stream}-editor", classes="pane-editor")
            await self.mount(editor)
        editor.display = True
        self.scroller.display = False
        self._editing_from = self.state
        self._set_state("editing", note)
        editor.focus()
        return editor

    async def stop_editing(self, text: str | None = None, state: str | None = None, note: str | None = None) -> None:
        """Back to the text: `text` (what was sent) when given, else the text as it was."""
        self._hide_editor()
        if text is not None:
            await self.show(text, state or "done", note=note)
        else:
            self._set_state(state or self._editing_from, note)

    def _hide_editor(self) -> None:
        for editor in self.query(".pane-editor"):
            editor.display = False
        self.scroller.display = True

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
        self._hide_editor()
        self._set_state(state)
        self.body.update("")
        self.show_extra("")
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
        replaced = text is not None and text != self.text
        if text is not None:
            self.text = text
        self.tokens, self.seconds = tokens, seconds
        follow = self.following
        self.body.update(shown(self.text))
        if replaced:  # e.g. the agent's whole answer gives way to its parsed rules: read them from the top
            self.scroller.scroll_home(animate=False)
        elif follow:
            self.scroller.call_after_refresh(self.scroller.scroll_end, animate=False)
        self._set_state("done", note)

    async def show(self, text: str, state: str = "done", *, note: str | None = None) -> None:
        """Show a finished text (from history or an edit) without streaming it, from its top."""
        self._hide_editor()
        self.show_extra("")
        self.text, self.tokens, self.seconds = text, 0, 0.0
        self.body.update(shown(text))
        self.scroller.scroll_home(animate=False)
        self._set_state(state, note)

    def mark(self, state: str, note: str | None = None) -> None:
        """Say what became of the text (sent, ...) without changing it; `note` keeps the title's if None."""
        self._set_state(state, note if note is not None else self._note)

    async def stop(self, state: str) -> None:
        """The stream was cancelled or failed: keep what arrived, say why it stopped."""
        self._set_state(state)

    def _set_state(self, state: str, note: str | None = None) -> None:
        self.state = state
        self.set_class(state == "streaming", "-streaming")
        self.set_class(state.startswith(("failed", "unavailable")), "-failed")
        self._note = note
        label = note if note is not None else (state if state not in ("idle", "done") else None)
        self.query_one(".pane-title", Static).update(Text(f"{self.title_text} · {label}" if label else self.title_text))
