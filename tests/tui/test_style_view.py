"""The profile's style facts in pa-tui: the same facts `pa style` prints, marked as pa's measurement."""

from __future__ import annotations

from textual.widgets import DataTable

TEXTS = [
    "Hi Sam,\n\nThe numbers are in. Can you look tonight?\n\nBest,\nTheresa",
    "Hi Sam,\n\nMoved the call to 3pm.\n\nBest,\nTheresa",
    "Hi Sam,\n\nSigned, finally!\n\nBest,\nTheresa",
    "Hi Dana,\n\nThe draft is attached for Monday.\n\nBest,\nTheresa",
    "Hi Dana,\n\nI will send the filing tomorrow morning.\n\nBest,\nTheresa",
    "Dana,\n\nNo change on our side for the filing.\n\nBest,\nTheresa",
]
"""Five of six open with 'Hi NAME,', all six close 'Best,' + 'Theresa', one has an exclamation mark."""


def add_texts(store, name: str) -> None:
    profile = store.create_profile(name)
    with store.transaction() as db:
        for index, text in enumerate(TEXTS):
            db.execute(
                "INSERT INTO documents (profile_id, text, content_hash, split) VALUES (?, ?, ?, 'train')",
                (profile.id, text, f"style-{index}"),
            )


def table_rows(table: DataTable) -> list[tuple[str, ...]]:
    return [tuple(str(cell) for cell in table.get_row_at(index)) for index in range(table.row_count)]


async def test_the_profile_shows_the_measured_facts_marked_as_pa_s(make_app, store):
    from core.style.fact_rows import fact_rows
    from tui.screens.style_facts import StyleFacts

    add_texts(store, "theresa")
    app = make_app("theresa")
    async with app.run_test(size=(100, 36)) as pilot:
        await pilot.pause()
        line = str(app.screen.query_one("#profile-facts").render())
        assert line.startswith("Measured by pa")
        assert "greets with 'Hi NAME,' (5 of 6 texts)" in line

        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, StyleFacts)
        title = str(app.screen.query_one(".dialog-title").render())
        assert title == "Style facts of theresa: measured by pa (code, no model) from 6 train texts"
        rows = table_rows(app.screen.query_one(DataTable))
        assert ("greeting", "'Hi NAME,'", "5", "83%") in rows
        assert ("closing valediction", "'Best,'", "6", "100%") in rows
        assert ("closing name", "'Theresa'", "6", "100%") in rows
        assert next(r for r in rows if r[0] == "exclamations")[2:] == ("1", "17%")
        expected = fact_rows(app.workspace.style_facts("theresa").as_dict())  # what `pa style` prints
        assert [r[0] for r in rows] == [r.fact for r in expected]

        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "HomeScreen"


async def test_a_profile_without_texts_says_so_instead_of_facts(make_app, store):
    store.create_profile("empty")
    app = make_app("empty")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert str(app.screen.query_one("#profile-facts").render()) == ""
        await pilot.press("f")
        await pilot.pause()
        assert "No texts yet" in str(app.screen.query_one("#style-facts-empty").render())
