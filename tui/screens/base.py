"""What every screen shares: the nav bar, the footer, palette commands from its keys,
and a `reload()` that re-reads the true state whenever the screen is shown again."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult, SystemCommand
from textual.screen import Screen
from textual.widgets import Footer

from core.workspace import Workspace
from tui.keys import key_label
from tui.session import Session
from tui.widgets.navbar import NavBar
from tui.widgets.worker_failures import ForwardsWorkerFailures


class PaScreen(ForwardsWorkerFailures, Screen):
    MODE = ""

    @property
    def session(self) -> Session:
        """UI state: the chosen profile, the last intent."""
        return self.app.session  # type: ignore[attr-defined]

    @property
    def workspace(self) -> Workspace:
        """The use cases (`core.workspace`): the only way a screen reaches models, store and runs."""
        return self.session.workspace

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        return iter(())

    def on_screen_resume(self) -> None:
        self.query_one(NavBar).refresh_profile()
        self.reload()

    def reload(self) -> None:
        """Re-read what this screen shows from the store and disk (override)."""

    @classmethod
    def binding_commands(cls) -> Iterable[tuple[str, str, str]]:
        """(title, help, action) of every described key of this screen."""
        for binding in cls.BINDINGS:
            key, action, description = (
                binding
                if isinstance(binding, tuple)
                else (binding.key, binding.action, binding.tooltip or binding.description)
            )
            if description:
                yield description, f"{cls.MODE.capitalize()} screen ({key_label(key)})", action

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Every key of this screen, as a palette command."""
        for title, help_text, action in self.binding_commands():
            yield SystemCommand(title, help_text, lambda a=action: self.run_action(a))
