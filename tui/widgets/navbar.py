"""The top line: where you are, where F-keys (or a click) take you, and the profile in use."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static

from tui.navigation import NAVIGATION


class NavBar(Static):
    def __init__(self, current: str) -> None:
        super().__init__(id="navbar")
        self.current = current
        self.tabs: list[tuple[int, int, str]] = []
        """(first column, end column, mode) of each tab, for clicks."""

    def on_mount(self) -> None:
        self.refresh_profile()

    def refresh_profile(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        self.tabs = []
        for mode, (key, title) in NAVIGATION.items():
            start = len(text)
            style = "reverse bold" if mode == self.current else ""
            text.append(f" {key.upper()} ", style="bold" if mode != self.current else style)
            text.append(f"{title} ", style=style)
            self.tabs.append((start, len(text), mode))
        profile = getattr(self.app, "session", None) and self.app.session.profile
        text.append(f"│ {profile or 'no profile'}", style="italic")
        self.update(text)

    def on_click(self, event: events.Click) -> None:
        for start, end, mode in self.tabs:
            if start <= event.x < end:
                event.stop()
                self.app.action_go(mode)  # type: ignore[attr-defined]
                return
