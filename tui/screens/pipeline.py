"""Placeholder while the screen is being written."""

from __future__ import annotations

from tui.screens.base import PaScreen


class PipelineScreen(PaScreen):
    MODE = "pipeline"
    BINDINGS = []
