"""The final pane's edit state (issue 16): accept the final as sent, or edit it and accept your
text; either is stored with the draft (`Workspace.record_sent`, source "tui"). A real draft
first: the embedded SmolLM2 as M_L and the tiny trained agent."""

from __future__ import annotations

import pytest

from core.paths import resolve_paths
from tests.tui.test_flows import DRAFT_CONFIG, INTENT, SIZE, errors, settle
from tui.app import PaApp
from tui.session import Session

SENT = "Sue,\n\nThe call is at 3pm now, same dial-in.\n\nJeff"


def jeff_app(pa_home, tiny_trained_agent, learn: bool) -> PaApp:
    pa_home.mkdir(parents=True, exist_ok=True)
    config = DRAFT_CONFIG.replace("seed = 0", f"seed = 0\nlearn_from_edits = {str(learn).lower()}")
    (pa_home / "config.toml").write_text(config + "\n[distill]\nmax_tokens = 160\n", encoding="utf-8")
    tiny_trained_agent.install(resolve_paths(), "jeff")
    session = Session()
    session.choose_profile("jeff")
    return PaApp(session)


@pytest.fixture
def drafting_app(pa_home, tiny_trained_agent, tui_large_model):
    """Profile `jeff` with the tiny agent; learning from edits is off (a sent text is stored
    without a model call)."""
    return jeff_app(pa_home, tiny_trained_agent, learn=False)


@pytest.fixture
def learning_app(pa_home, tiny_trained_agent, tui_large_model):
    """As `drafting_app`, with `drafting.learn_from_edits` on: M_L (SmolLM2) learns from an edit
    as soon as it is accepted (how well it learns is tests/test_edits.py's)."""
    return jeff_app(pa_home, tiny_trained_agent, learn=True)


def sent_rows(app) -> list[dict]:
    workspace = app.workspace
    return workspace.store.sent_edit_rows(workspace.profile("jeff").id)


async def draft(pilot) -> None:
    await pilot.press("f5")
    pilot.app.screen.query_one("#intent").text = INTENT
    await pilot.press("enter")
    await settle(pilot)
    assert pilot.app.screen.pane("final").state == "done", errors(pilot.app)


async def test_edit_then_accept_stores_the_text_the_writer_sent_and_learns_from_it(learning_app):
    app = learning_app
    async with app.run_test(size=SIZE) as pilot:
        await draft(pilot)
        screen = app.screen
        written = screen.pane("final").text
        (saved,) = app.workspace.history("jeff")

        await pilot.press("ctrl+f")
        await pilot.pause()
        editor = screen.query_one("#final-editor")
        assert screen.pane("final").state == "editing" and app.focused is editor
        assert editor.text == written  # the edit starts from pa's final
        editor.text = SENT[:-1]
        editor.move_cursor(editor.document.end)
        await pilot.press("f")  # typed into the editor: the last letter of the edit
        await pilot.press("ctrl+s")
        await settle(pilot)

        (row,) = sent_rows(app)
        assert (row["draft_id"], row["sent"], row["source"]) == (saved.id, SENT, "tui")
        assert screen.pane("final").state == "sent" and screen.pane("final").text == SENT
        assert "edited by you" in str(screen.pane("final").query_one(".pane-title").render())
        assert not screen.pane("final").editing
        assert app.workspace.history("jeff")[0].chosen == SENT  # the writer's own text is what they kept
        kept = app.workspace.paths.profile_dir("jeff") / "drafts" / f"draft-{saved.id}.md"
        assert kept.read_text(encoding="utf-8") == SENT + "\n"
        assert app.workspace.history("jeff")[0].final == written  # pa's final is never overwritten

        # M_L was asked about the edit at once; what it answered is on the record either way
        (outcome,) = app.workspace.store.query("SELECT status FROM edit_rules WHERE sent_edit_id = ?", (row["id"],))
        assert outcome["status"] in ("ok", "failed")
        assert "learned from your edit (" in str(screen.query_one("#draft-status").render())


async def test_leaving_the_edit_stores_nothing_and_accept_as_sent_stores_pa_s_final(drafting_app):
    app = drafting_app
    async with app.run_test(size=SIZE) as pilot:
        await draft(pilot)
        screen = app.screen
        written = screen.pane("final").text

        await pilot.press("ctrl+f")
        await pilot.pause()
        screen.query_one("#final-editor").text = "   "
        await pilot.press("ctrl+s")  # an empty text is not what anyone sent
        await pilot.pause()
        assert screen.pane("final").editing and sent_rows(app) == []
        assert any("empty" in n.message for n in app._notifications)

        await pilot.press("escape")
        await pilot.pause()
        assert not screen.pane("final").editing
        assert screen.pane("final").state == "done" and screen.pane("final").text == written
        assert sent_rows(app) == []

        await pilot.press("ctrl+s")  # accept as sent: pa's final, unchanged
        await settle(pilot)
        (row,) = sent_rows(app)
        assert row["sent"] == written.strip("\n").rstrip() and row["source"] == "tui"
        assert "sent as written" in str(screen.pane("final").query_one(".pane-title").render())


LEARNED = "- Sign off with 'Jeff' on a line of its own."


def add_learned_rule(app, sent_edit_id: int) -> None:
    """What M_L learns from that edit, stored as `core.edit_learning` stores it (learning itself,
    with the real model, is tests/test_edits.py's)."""
    workspace = app.workspace
    with workspace.store.transaction() as db:
        db.execute(
            "INSERT INTO edit_rules (sent_edit_id, profile_id, intent, recipient, status, rules, model, template_id, "
            "template_version) VALUES (?, ?, ?, NULL, 'ok', ?, 'test', 'email.rules', 1)",
            (sent_edit_id, workspace.profile("jeff").id, INTENT, LEARNED),
        )
    workspace.draft_context("jeff").forget_edit_rules()


async def test_rules_learned_from_an_edit_show_apart_marked_as_pa_s_with_their_edit(drafting_app):
    app = drafting_app
    async with app.run_test(size=SIZE) as pilot:
        await draft(pilot)
        screen = app.screen
        edited = screen.draft_id
        await pilot.press("ctrl+f")
        await pilot.pause()
        screen.query_one("#final-editor").text = SENT
        await pilot.press("ctrl+s")
        await settle(pilot)
        (row,) = sent_rows(app)
        add_learned_rule(app, row["id"])

        await pilot.press("ctrl+g")  # the same intent again: the learned rule is retrieved for it
        await settle(pilot)
        assert screen.pane("final").state == "done", errors(app)
        rules = screen.pane("rules")
        note = str(rules.extra.render())
        assert note.startswith("pa added, learned from your edits")
        assert LEARNED in note and f"from your edit of draft #{edited} (" in note
        assert LEARNED not in rules.text  # the pane's text stays the agent's own answer
        (newest, _) = app.workspace.history("jeff")
        assert [use["rule"] for use in newest.edit_rules] == [LEARNED]

        await pilot.press("ctrl+l")
        await pilot.pause()
        await pilot.press("enter")  # the newest draft again, from the history
        await settle(pilot)
        assert LEARNED in str(rules.extra.render()) and f"draft #{edited}" in str(rules.extra.render())
