"""SVG snapshots of every screen at 80x24 with fixture data (no clock, no model output).

Regenerate after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest

from core.paths import resolve_paths
from tests.tui import fixture_data
from tui.app import PaApp
from tui.session import Session

SIZE = (80, 24)
LAYOUTS = [
    pytest.param((80, 24), "textual-dark", id="80x24-dark"),
    pytest.param((80, 24), "textual-light", id="80x24-light"),
    pytest.param((120, 36), "textual-dark", id="120x36-dark"),
    pytest.param((120, 36), "textual-light", id="120x36-light"),
]
"""The five working screens at the smallest supported and a common size, in both themes."""


@pytest.fixture
def fixture_app(store, tmp_path):
    paths = resolve_paths()
    fixture_data.populate(store, paths)
    session = Session()
    session.choose_profile(fixture_data.PROFILE)
    session.browse_root = fixture_data.corpus_copy(tmp_path)
    return PaApp(session)


def themed(app: PaApp, theme: str) -> PaApp:
    app.theme = theme
    return app


@pytest.mark.parametrize(("size", "theme"), LAYOUTS)
def test_home(fixture_app, snap_compare, size, theme):
    assert snap_compare(themed(fixture_app, theme), terminal_size=size)


def test_style_facts(fixture_app, snap_compare):
    """The profile's measured style facts (f on the home screen), marked as pa's."""
    assert snap_compare(fixture_app, terminal_size=SIZE, press=["f"])


def test_help(fixture_app, snap_compare):
    assert snap_compare(fixture_app, terminal_size=SIZE, press=["f1"])


@pytest.mark.parametrize(("size", "theme"), LAYOUTS)
def test_import_preview(fixture_app, snap_compare, size, theme):
    async def preview(pilot):
        await pilot.press("f3")
        screen = pilot.app.screen
        screen.query_one("#import-path").value = str(pilot.app.session.browse_root)
        screen.action_preview()
        await settle(pilot)
        screen.query_one("#import-path").value = "corpus"  # the real path holds the temp folder
        screen.query_one("#import-preview").focus()
        await pilot.press("down", "down", "down")
        await steady(pilot)

    assert snap_compare(themed(fixture_app, theme), terminal_size=size, run_before=preview)


@pytest.mark.parametrize(("size", "theme"), LAYOUTS)
def test_pipeline(fixture_app, snap_compare, size, theme):
    async def open_panel(pilot):
        await pilot.press("f4")
        pilot.app.screen.query_one("#distill-limit").value = "4"
        await steady(pilot)

    assert snap_compare(themed(fixture_app, theme), terminal_size=size, run_before=open_panel)


@pytest.mark.parametrize(("size", "theme"), LAYOUTS)
def test_draft(fixture_app, snap_compare, size, theme):
    async def fill(pilot):
        await pilot.press("f5")
        screen = pilot.app.screen
        screen.query_one("#draft-to").value = "Jonas"
        screen.query_one("#draft-subject").value = "Delivery on Friday"
        await screen.pane("naive").show(fixture_data.NAIVE)
        await screen.pane("rules").show(fixture_data.RULES)
        await screen.pane("final").show(fixture_data.FINAL)
        screen._show_sent("- tell Jonas the delivery moves to Friday")
        screen.query_one("#intent").text = "- and the van comes at nine"
        await steady(pilot)

    assert snap_compare(themed(fixture_app, theme), terminal_size=size, run_before=fill)


@pytest.mark.parametrize(("size", "theme"), [LAYOUTS[0], LAYOUTS[3]])
def test_draft_editing_the_final(fixture_app, snap_compare, size, theme):
    """Ctrl+F: the final pane is an editor (Ctrl+S accepts the text as sent, Esc leaves)."""

    async def edit(pilot):
        await pilot.press("f5")
        screen = pilot.app.screen
        await screen.pane("naive").show(fixture_data.NAIVE)
        await screen.pane("rules").show(fixture_data.RULES)
        await screen.pane("final").show(fixture_data.FINAL)
        screen._show_sent("- tell Jonas the delivery moves to Friday")
        screen.draft_id = 1  # what the panes show is a stored draft (nothing is stored here)
        await pilot.press("ctrl+f")
        editor = screen.query_one("#final-editor")
        editor.text = fixture_data.FINAL.replace("**Friday morning**", "Friday morning")
        editor.move_cursor((2, 0))
        await steady(pilot)

    assert snap_compare(themed(fixture_app, theme), terminal_size=size, run_before=edit)


@pytest.mark.parametrize(("size", "theme"), LAYOUTS)
def test_compare(fixture_app, snap_compare, size, theme):
    async def fill(pilot):
        from tui.hints import with_tui_keys

        await pilot.press("f6")
        screen = pilot.app.screen
        context = pilot.app.workspace.draft_context(fixture_data.PROFILE)
        for method in ("agent", "small", "large", "few-shot", "naive-finetune", "no-baseline"):
            why = context.unavailable(method)
            if why:
                await screen.pane(method).show(f"unavailable: {with_tui_keys(why)}", state="unavailable")
            else:
                await screen.pane(method).show(fixture_data.FINAL, note="1.0s")
        from tui.screens.compare import rules_line

        screen.query_one("#compare-rules").update(rules_line(fixture_data.RULES))
        screen._status("done in 6.0s: 4 ran (one at a time), 2 unavailable")
        await steady(pilot)

    assert snap_compare(themed(fixture_app, theme), terminal_size=size, run_before=fill)


def test_evaluation(fixture_app, snap_compare):
    assert snap_compare(fixture_app, terminal_size=SIZE, press=["f7"])


async def steady(pilot) -> None:
    """No blinking cursors: a blink caught mid-way would make the snapshot differ run to run."""
    from textual.widgets import Input, TextArea

    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, (Input, TextArea)):
            widget.cursor_blink = False
    await pilot.pause()


async def settle(pilot) -> None:
    """Wait for the screen's own workers (the directory tree's loader never ends)."""
    for _ in range(3):
        mine = [w for w in pilot.app.workers if w.group != "_loader"]
        if mine:
            await pilot.app.workers.wait_for_complete(mine)
        await pilot.pause()
