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
from tui.hints import describe_error, with_tui_keys  # noqa: F401  (screens and tests use them from here too)
from tui.navigation import NAVIGATION, PLACES
from tui.session import Session

DARK, LIGHT = "textual-dark", "textual-light"
PLACE_BY_MODE = {place.mode: place for place in PLACES}


class PaApp(App[None]):
    CSS_PATH = "pa.tcss"
    TITLE = "pa"
    SUB_TITLE = "write like you"
    MODES = {place.mode: place.factory() for place in PLACES}
    DEFAULT_MODE = "home"
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help", key_display="?"),
        *(
            Binding(f"{key},alt+{index}", f"go('{mode}')", title, show=False, priority=True)
            for index, (mode, (key, title)) in enumerate(NAVIGATION.items(), 1)
        ),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, session: Session | None = None) -> None:
        super().__init__()
        self.session = session or Session()
        self.theme = self.session.theme() if self.session.theme() in (DARK, LIGHT) else DARK
        self._choose_profile_on_start()

    def _choose_profile_on_start(self) -> None:
        """A first run lands on a usable profile: the last one used if it still exists, else the
        only one there is (with several and none remembered, the writer picks on the home screen)."""
        try:
            names = [state.name for state in self.workspace.profile_states()]
        except PaError:
            return  # the home screen shows what is wrong with the store
        if self.session.profile in names:
            return
        self.session.choose_profile(names[0] if len(names) == 1 else None)

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
        everywhere = [
            Binding(f"{key},alt+{index}", "", f"{title} (or click its tab)")
            for index, (key, title) in enumerate(NAVIGATION.values(), 1)
        ]
        everywhere += [b for b in self.BINDINGS if b.show]
        everywhere += [Binding("ctrl+t", "", "Toggle light/dark theme"), Binding("ctrl+p", "", "Command palette")]
        sections = [Section("Everywhere", everywhere)]
        for place in PLACES:
            bindings = list(place.load().BINDINGS)
            if place.mode == "draft":
                bindings += list(IntentInput.BINDINGS) + [
                    Binding("tab", "", "Next field: To, Subject, the panes, the intent")
                ]
            sections.append(Section(f"{place.heading or place.title} ({place.key.upper()})", bindings))
        self.push_screen(HelpScreen(sections))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK
        self.session.remember_theme(self.theme)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action is in the palette: navigation, the app's keys, then the screen's keys."""
        for mode, (key, title) in NAVIGATION.items():
            yield SystemCommand(
                f"Go to {title}", f"Open the {title} screen ({key.upper()})", lambda m=mode: self.action_go(m)
            )
        yield SystemCommand("Help", "Every key and command (F1)", self.action_help)
        yield SystemCommand(
            "Toggle light/dark theme", "Switch between the light and the dark theme (Ctrl+T)", self.action_toggle_theme
        )
        yield from getattr(screen, "palette_commands", list)()
        yield from self._other_screens_commands(screen)
        yield from super().get_system_commands(screen)

    def _other_screens_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every other screen's keys too: the command opens that screen, then does the action."""
        from tui.screens.base import PaScreen

        for mode in self.MODES:
            if mode == getattr(screen, "MODE", None):
                continue
            title = NAVIGATION[mode][1]
            screen_class = PLACE_BY_MODE[mode].load()
            if not issubclass(screen_class, PaScreen):
                continue
            for binding_title, help_text, action in screen_class.binding_commands():
                yield SystemCommand(
                    f"{title}: {binding_title}", help_text, lambda m=mode, a=action: self._go_and_run(m, a)
                )

    def _go_and_run(self, mode: str, action: str) -> None:
        self.action_go(mode)
        self.call_after_refresh(lambda: self.run_action(action, self.screen))

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


def parse_arguments(argv: list[str] | None = None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="pa-tui",
        description="pa's terminal app: import a corpus, distil it, train your agent and draft, all in one place. "
        "Inside: F1 or ? for every key, Ctrl+P for the command palette, Ctrl+Q quits.",
    )
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="start with this profile (it must exist; create one with n on the home screen)",
    )
    parser.add_argument("--version", action="version", version=f"pa-tui {package_version()}")
    return parser.parse_args(argv)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pa")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: `pa-tui [--profile NAME]`."""
    arguments = parse_arguments(argv)
    try:
        session = Session()  # a broken config or a newer store is one line here, not a traceback inside the UI
        if arguments.profile is not None:
            session.workspace.profile(arguments.profile)  # an unknown name is one line, exit code != 0
            session.choose_profile(arguments.profile)
        app = PaApp(session)
    except PaError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    app.run()
