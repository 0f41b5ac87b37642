"""`pa-tui`: the Textual writing assistant, a thin face over `core/` and `finetune/`.

Each screen is a mode (its own stack), so leaving a screen and coming back keeps what it was
doing; screens that show long work re-read its true state from disk when they return.
All worker failures land in one handler and become notifications, never a crash.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from core.errors import PaError
from tui.hints import describe_error, with_tui_keys  # noqa: F401  (screens and tests use them from here too)
from tui.session import Session

DARK, LIGHT = "textual-dark", "textual-light"


def _home() -> Screen:
    from tui.screens.home import HomeScreen

    return HomeScreen()


def _import() -> Screen:
    from tui.screens.import_corpus import ImportScreen

    return ImportScreen()


def _pipeline() -> Screen:
    from tui.screens.pipeline import PipelineScreen

    return PipelineScreen()


def _draft() -> Screen:
    from tui.screens.draft import DraftScreen

    return DraftScreen()


def _compare() -> Screen:
    from tui.screens.compare import CompareScreen

    return CompareScreen()


def _evaluation() -> Screen:
    from tui.screens.evaluation import EvaluationScreen

    return EvaluationScreen()


# Screen name -> (key, title). The nav bar, the help screen and the palette read this; each
# screen is also on Alt+1…6 (terminals and laptops that eat F-keys), in this order.
NAVIGATION = {
    "home": ("f2", "Profiles"),
    "import": ("f3", "Import"),
    "pipeline": ("f4", "Pipeline"),
    "draft": ("f5", "Draft"),
    "compare": ("f6", "Compare"),
    "evaluation": ("f7", "Eval"),
}


SCREEN_CLASSES = {
    "home": ("tui.screens.home", "HomeScreen"),
    "import": ("tui.screens.import_corpus", "ImportScreen"),
    "pipeline": ("tui.screens.pipeline", "PipelineScreen"),
    "draft": ("tui.screens.draft", "DraftScreen"),
    "compare": ("tui.screens.compare", "CompareScreen"),
    "evaluation": ("tui.screens.evaluation", "EvaluationScreen"),
}
"""Where each mode's screen class lives (the palette lists every screen's keys)."""


class PaApp(App[None]):
    CSS_PATH = "pa.tcss"
    TITLE = "pa"
    SUB_TITLE = "write like you"
    MODES = {
        "home": _home,
        "import": _import,
        "pipeline": _pipeline,
        "draft": _draft,
        "compare": _compare,
        "evaluation": _evaluation,
    }
    DEFAULT_MODE = "home"
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help", key_display="?"),
        *(Binding(f"{key},alt+{index}", f"go('{mode}')", title, show=False, priority=True)
          for index, (mode, (key, title)) in enumerate(NAVIGATION.items(), 1)),
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
            names = [profile.name for profile in self.session.store.list_profiles()]
        except PaError:
            return  # the home screen shows what is wrong with the store
        if self.session.profile in names:
            return
        self.session.choose_profile(names[0] if len(names) == 1 else None)

    # -- navigation --------------------------------------------------------------------------------

    def action_go(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK
        self.session.remember_theme(self.theme)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action is in the palette: navigation, the app's keys, then the screen's keys."""
        for mode, (key, title) in NAVIGATION.items():
            yield SystemCommand(f"Go to {title}", f"Open the {title} screen ({key.upper()})", lambda m=mode: self.action_go(m))
        yield SystemCommand("Help", "Every key and command (F1)", self.action_help)
        yield SystemCommand("Toggle light/dark theme", "Switch between the light and the dark theme (Ctrl+T)", self.action_toggle_theme)
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
            module, name = SCREEN_CLASSES[mode]
            screen_class = getattr(importlib.import_module(module), name)
            if not issubclass(screen_class, PaScreen):
                continue
            for binding_title, help_text, action in screen_class.binding_commands():
                yield SystemCommand(f"{title}: {binding_title}", help_text, lambda m=mode, a=action: self._go_and_run(m, a))

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
    parser.add_argument("--profile", metavar="NAME", help="start with this profile (it must exist; create one with n on the home screen)")
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
        session = Session()
        session.store  # a broken or newer store is one line here, not a traceback inside the UI
        if arguments.profile is not None:
            session.store.get_profile(arguments.profile)  # an unknown name is one line, exit code != 0
            session.choose_profile(arguments.profile)
        app = PaApp(session)
    except PaError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    app.run()
