"""`pa-tui`: the Textual writing assistant, a thin face over `core/` and `finetune/`.

Each screen is a mode (its own stack), so leaving a screen and coming back keeps what it was
doing; screens that show long work re-read its true state from disk when they return.
All worker failures land in one handler and become notifications, never a crash.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from core.errors import PaError
from core.workspace import Workspace
from tui.navigation import NAVIGATION, PLACES
from tui.session import Session

DARK, LIGHT = "textual-dark", "textual-light"


def describe_error(error: BaseException | None) -> str:
    """The one line a writer sees: PaError messages are written for them; others get their type."""
    if error is None:
        return "something failed without saying why"
    if isinstance(error, PaError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class PaApp(App[None]):
    CSS_PATH = "pa.tcss"
    TITLE = "pa"
    SUB_TITLE = "write like you"
    MODES = {place.mode: place.factory() for place in PLACES}
    DEFAULT_MODE = "home"
    BINDINGS = [
        Binding("f1", "help", "Help"),
        *(Binding(key, f"go('{mode}')", title, show=False, priority=True) for mode, (key, title) in NAVIGATION.items()),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, session: Session | None = None) -> None:
        super().__init__()
        self.session = session or Session()
        self.theme = DARK

    @property
    def workspace(self) -> Workspace:
        """The use cases every screen calls (`core.workspace`)."""
        return self.session.workspace

    # -- navigation --------------------------------------------------------------------------------

    def action_go(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen, Section
        from tui.widgets.intent_input import IntentInput

        if isinstance(self.screen, HelpScreen):
            return
        everywhere = [Binding(key, "", title) for key, title in NAVIGATION.values()]
        everywhere += [b for b in self.BINDINGS if b.show]
        everywhere += [Binding("ctrl+t", "", "Toggle light/dark theme"), Binding("ctrl+p", "", "Command palette")]
        sections = [Section("Everywhere", everywhere)]
        for place in PLACES:
            bindings = list(place.load().BINDINGS)
            if place.mode == "draft":
                bindings += list(IntentInput.BINDINGS)
            sections.append(Section(f"{place.heading or place.title} ({place.key.upper()})", bindings))
        self.push_screen(HelpScreen(sections))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action is in the palette: navigation, the app's keys, then the screen's keys."""
        for mode, (key, title) in NAVIGATION.items():
            yield SystemCommand(f"Go to {title}", f"Open the {title} screen ({key.upper()})", lambda m=mode: self.action_go(m))
        yield SystemCommand("Help", "Every key and command (F1)", self.action_help)
        yield SystemCommand("Toggle light/dark theme", "Switch between the light and the dark theme (Ctrl+T)", self.action_toggle_theme)
        for command in getattr(screen, "palette_commands", lambda: [])():
            yield command
        yield from super().get_system_commands(screen)

    # -- the one place worker failures go ------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_state_changed(event)

    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every screen forwards its workers' state here (Textual does not bubble it)."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.log.error(f"worker {event.worker.name!r} failed", error)
            self.notify(describe_error(error), title="Failed", severity="error", timeout=10)

    def on_unmount(self) -> None:
        self.session.close()


def main() -> None:
    """Console-script entry point: `pa-tui`."""
    try:
        app = PaApp(Session())  # a broken config or a newer store is one line here, not a traceback inside the UI
    except PaError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    app.run()
