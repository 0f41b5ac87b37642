"""Where the F-keys go: the one table the app (modes, bindings, palette), the nav bar and the
help screen read. Screens are named by lazy import paths, so starting the app loads only the
first screen, and no screen or widget needs to import the app to know the others."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Place:
    mode: str
    key: str
    title: str
    screen: str
    """`module:Class` of the screen, imported when the mode is first shown."""
    heading: str = ""
    """How the help screen names it (default: the title)."""

    def load(self) -> type[Any]:
        module, _, name = self.screen.partition(":")
        return getattr(importlib.import_module(module), name)

    def factory(self) -> Callable[[], Any]:
        return lambda: self.load()()


PLACES = (
    Place("home", "f2", "Profiles", "tui.screens.home:HomeScreen"),
    Place("import", "f3", "Import", "tui.screens.import_corpus:ImportScreen"),
    Place("pipeline", "f4", "Pipeline", "tui.screens.pipeline:PipelineScreen"),
    Place("draft", "f5", "Draft", "tui.screens.draft:DraftScreen"),
    Place("compare", "f6", "Compare", "tui.screens.compare:CompareScreen"),
    Place("evaluation", "f7", "Eval", "tui.screens.evaluation:EvaluationScreen", "Evaluation"),
)

NAVIGATION = {place.mode: (place.key, place.title) for place in PLACES}
"""Screen name -> (key, title)."""
