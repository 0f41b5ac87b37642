"""Placeholder while the screen is being written."""

from __future__ import annotations

from tui.screens.base import PaScreen


class CompareScreen(PaScreen):
    MODE = "compare"
    BINDINGS = []
