"""The top line: where you are, where F-keys take you, and the profile in use."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.navigation import NAVIGATION


class NavBar(Static):
    def __init__(self, current: str) -> None:
        super().__init__(id="navbar")
        self.current = current

    def on_mount(self) -> None:
        self.refresh_profile()

    def refresh_profile(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        for mode, (key, title) in NAVIGATION.items():
            style = "reverse bold" if mode == self.current else ""
            text.append(f" {key.upper()} ", style="bold" if mode != self.current else style)
            text.append(f"{title} ", style=style)
        profile = getattr(self.app, "session", None) and self.app.session.profile
        text.append(f"│ {profile or 'no profile'}", style="italic")
        self.update(text)
