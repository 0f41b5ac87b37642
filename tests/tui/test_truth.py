"""Screens that tell the truth and never lose the writer's data: what a screen says happened is
what happened (issue 19). Real parts: the store, the corpus reader, config files on disk."""

from __future__ import annotations

from pathlib import Path

from core.config import load_config
from core.paths import resolve_paths
from tests.corpus_helpers import Mail, write_maildir
from tui.app import PaApp
from tui.session import Session

COMMENTED_CONFIG = """\
# Maya's settings: the big model runs on the office box
[models]
large = "embedded"  # until the GPU arrives
agent = "embedded"

[drafting]
max_tokens = 300   # long replies
"""


async def settle(pilot) -> None:
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(3):
        for worker in [w for w in pilot.app.workers if w.group != "_loader"]:
            try:
                await worker.wait()
            except (WorkerFailed, WorkerCancelled):
                pass
        await pilot.pause()


async def test_the_models_dialog_changes_one_key_and_keeps_comments_and_order(make_app, store, pa_home):
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(COMMENTED_CONFIG, encoding="utf-8")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        app.screen.query_one("#spec-judge").value = "ollama:llama3.1:8b"
        await pilot.press("ctrl+s")
        await settle(pilot)
    written = (pa_home / "config.toml").read_text(encoding="utf-8")
    assert written.startswith(COMMENTED_CONFIG.split("\n\n")[0])  # comment, order and the large/agent lines untouched
    assert "max_tokens = 300   # long replies" in written
    assert written.count("\n") <= COMMENTED_CONFIG.count("\n") + 1
    config = load_config(resolve_paths())
    assert config.models.judge == "ollama:llama3.1:8b" and config.drafting.max_tokens == 300


def two_address_mailbox(root: Path) -> Path:
    """Pat writes from two addresses under one name (like allen-p in Enron), plus one other sender."""
    mails = [
        Mail(
            "Pat Allen <pat.allen@corp.example>",
            f"Gas {i}",
            f"Jo,\n\nThe gas contract number {i} is signed and filed today.\n\nPat\n",
            f"<a{i}@corp.example>",
        )
        for i in range(6)
    ]
    mails += [
        Mail(
            "Pat Allen <pallen@corp.example>",
            f"Desk {i}",
            f"Jo,\n\nPlease move the desk meeting number {i} to the morning.\n\nPat\n",
            f"<b{i}@corp.example>",
        )
        for i in range(4)
    ]
    mails.append(
        Mail(
            "Jo Berg <jo@corp.example>", "Re: desk", "Morning works for me, see you there then.\n", "<c1@corp.example>"
        )
    )
    return write_maildir(root / "pat-mail", mails)


async def test_import_stores_exactly_what_its_preview_counted_for_a_two_address_sender(store, tmp_path):
    store.create_profile("pat")
    session = Session()
    session.choose_profile("pat")
    session.browse_root = tmp_path
    mailbox = two_address_mailbox(tmp_path)
    app = PaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        app.screen.query_one("#import-path").value = str(mailbox)
        app.screen.action_preview()
        await settle(pilot)
        previewed = app.screen.preview.report
        assert sorted(previewed.senders) == ["pallen@corp.example", "pat.allen@corp.example"]
        assert previewed.imported == 10
        summary = str(app.screen.query_one("#import-summary").render())
        assert "into pat" in summary and "10 would be kept" in summary

        await pilot.press("ctrl+y")
        await settle(pilot)
    counts = store.count_documents(store.get_profile("pat").id)
    assert counts["train"] + counts["test"] == previewed.imported


async def test_import_shows_the_profile_and_can_create_one_there(store, tmp_path):
    session = Session()
    session.browse_root = tmp_path
    mailbox = two_address_mailbox(tmp_path)
    app = PaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        app.screen.query_one("#import-path").value = str(mailbox)
        app.screen.action_preview()
        await settle(pilot)
        assert "No profile to import into" in str(app.screen.query_one("#import-summary").render())

        app.screen.query_one("#import-profile").value = "*new*"
        await pilot.pause()
        await pilot.press(*"pat", "enter")
        await settle(pilot)
        assert session.profile == "pat"
        assert app.screen.query_one("#import-profile").value == "pat"
        assert "into pat" in str(app.screen.query_one("#import-summary").render())


# -- the pipeline panel ---------------------------------------------------------------------------


def status_of(app) -> str:
    return str(app.screen.query_one("#pipeline-status").render())


async def test_after_cancel_the_pipeline_says_it_stopped_not_running(store, pa_home, tui_large_model):
    from tests.tui import fixture_data

    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(
        "[distill]\nmax_tokens = 16\nmax_attempts = 1\nconcurrency = 1\n", encoding="utf-8"
    )
    fixture_data.add_documents(store, "maya", 6, 1)
    session = Session()
    session.choose_profile("maya")
    app = PaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause(0.3)
        assert "Running" in status_of(app)
        await pilot.press("x")
        assert "Stopping" in status_of(app) or "Cancelled" in status_of(app)
        await settle(pilot)
        assert "Cancelled" in status_of(app) and "Running" not in status_of(app)
        assert not app.screen._busy()


async def test_a_profile_switch_clears_the_previous_profiles_log_and_counts(store):
    from textual.widgets import Log

    from tests.tui import fixture_data

    fixture_data.populate(store, resolve_paths())
    session = Session()
    session.choose_profile(fixture_data.PROFILE)
    app = PaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        assert app.screen.query_one(Log).line_count > 0  # maya's training milestones
        assert "loss" in app.screen.query_one("#stage-training").detail
        await pilot.press("f2")
        await pilot.pause()
        app.screen.use_profile("empty")
        await pilot.press("f4")
        await pilot.pause()
        assert app.screen.query_one(Log).line_count == 0
        assert "loss" not in app.screen.query_one("#stage-training").detail
        assert app.screen.query_one("#stage-intent").detail.startswith("0/0")


async def test_the_pipeline_distils_only_as_many_documents_as_the_limit(store, pa_home, tui_large_model):
    from tests.tui import fixture_data

    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(
        "[distill]\nmax_tokens = 16\nmax_attempts = 1\nconcurrency = 1\n", encoding="utf-8"
    )
    fixture_data.add_documents(store, "maya", 6, 1)
    session = Session()
    session.choose_profile("maya")
    app = PaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        await pilot.press("l", "1", "enter")
        assert "the first 1" in str(app.screen.query_one("#distill-limit-note").render())
        await pilot.press("s")
        screen = app.screen
        for _ in range(4000):
            if "intents" in screen.live or not screen._busy():
                break
            await pilot.pause(0.05)
        assert screen.live["intents"].total == 1  # what distillation was asked to do, from its own progress
        await pilot.press("x")
        await settle(pilot)
        assert "distilling 1 of 6 documents" in "\n".join(screen.query_one("Log").lines)


# -- the draft screen -----------------------------------------------------------------------------


async def test_a_failed_draft_says_why_and_gives_the_intent_back(store, pa_home):
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text('[models]\nlarge = "nonsense:model"\n', encoding="utf-8")
    store.create_profile("maya")
    store.create_profile("jonas")
    session = Session()
    app = PaApp(session)  # two profiles, none used before: none is chosen
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        screen = app.screen
        screen.query_one("#intent").text = "- tell Jonas the van comes Friday"
        await pilot.press("enter")
        await settle(pilot)
        status = str(screen.query_one("#draft-status").render())
        assert "failed: no profile chosen" in status and "starting" not in status
        assert [pane.state for pane in screen.panes] == ["failed", "failed", "failed"]
        assert screen.query_one("#intent").text == "- tell Jonas the van comes Friday"

        session.choose_profile("maya")  # no agent yet: refused like `pa draft`, no text passed off as the agent's
        await pilot.press("enter")
        await settle(pilot)
        assert "no agent yet" in str(screen.query_one("#draft-status").render())
        assert [pane.state for pane in screen.panes] == ["unavailable", "unavailable", "unavailable"]
        assert "pa train --profile maya" in screen.pane("final").text and "F4 Pipeline" in screen.pane("final").text
        assert screen.query_one("#intent").text == "- tell Jonas the van comes Friday"
        assert "Intent: - tell Jonas the van comes Friday" in str(screen.query_one("#draft-sent").render())


async def test_up_recalls_earlier_intents_and_down_comes_back(make_app, store):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        box = app.screen.query_one("#intent")
        box.remember("- first")
        box.remember("- second\n- two lines")
        box.text = "unsent"
        box.move_cursor((0, 0))
        await pilot.press("up")
        assert box.text == "- second\n- two lines"
        await pilot.press("up")
        assert box.text == "- first"
        await pilot.press("down")
        assert box.text == "- second\n- two lines"
        await pilot.press("down", "down")  # through the second line, then past the newest
        assert box.text == "unsent"


async def test_panes_show_the_text_as_it_will_be_sent(make_app, store):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        pane = app.screen.pane("final")
        await pane.show("Jonas,\nthe van comes **Friday** <9am>.\n\nThanks,\nMaya")
        await pilot.pause()
        lines = [line.rstrip() for line in pane.body.render().plain.splitlines()]
        assert lines[:2] == ["Jonas,", "the van comes **Friday** <9am>."]
        assert lines[-2:] == ["Thanks,", "Maya"]  # the sign-off on its own line


async def test_draft_fields_go_into_the_request(make_app, store):
    store.create_profile("maya")
    app = make_app("maya")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        screen = app.screen
        screen.query_one("#draft-to").value = "Jonas"
        screen.query_one("#draft-subject").value = "Delivery"
        await pilot.press("ctrl+b")
        await pilot.pause()
        app.screen.query_one("#previous-editor").text = "When does the van come?"
        await pilot.press("ctrl+s")
        await settle(pilot)
        request = screen.request("- Friday")
        assert (request.recipient, request.subject, request.previous) == (
            "Jonas",
            "Delivery",
            "When does the van come?",
        )
        assert "↩ When does the van come?" in str(screen.query_one("#draft-reply").render())


async def test_the_evaluation_view_shows_the_flipped_column_like_the_cli(store):
    from tests.tui import fixture_data

    fixture_data.populate(store, resolve_paths())
    session = Session()
    session.choose_profile(fixture_data.PROFILE)
    app = PaApp(session)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("f7")
        await pilot.pause()
        table = app.screen.query_one("#eval-table")
        labels = [str(column.label) for column in table.columns.values()]
        assert "flipped" in labels
        row = table.get_row_at(0)
        assert row[labels.index("flipped")] == "1"


# -- a first run ---------------------------------------------------------------------------------


async def test_the_only_profile_is_chosen_on_start_and_the_last_used_one_is_kept(store):
    store.create_profile("sample")
    app = PaApp(Session())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.session.profile == "sample"
        assert "│ sample" in str(app.screen.query_one("#navbar").render())
    store.create_profile("maya")
    Session().choose_profile("maya")
    assert PaApp(Session()).session.profile == "maya"  # several: the one used last
    Session().choose_profile("gone")
    assert PaApp(Session()).session.profile is None  # a remembered profile that was deleted is not kept


async def test_question_mark_opens_help_and_alt_digits_reach_screens_and_the_theme_is_remembered(make_app, store):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape", "alt+3")  # Alt+1 is Profiles (F2)
        await pilot.pause()
        assert type(app.screen).__name__ == "PipelineScreen"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
    assert make_app().theme == "textual-light"


def test_pa_tui_has_help_version_and_a_profile_option(pa_home, store):
    import subprocess
    import sys

    executable = str(Path(sys.executable).with_name("pa-tui"))
    shown = subprocess.run([executable, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "--profile NAME" in shown.stdout and "F1 or ?" in shown.stdout
    version = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("pa-tui ")
    unknown = subprocess.run([executable, "--profile", "nobody"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode != 0 and unknown.stderr.startswith("error: no profile named 'nobody'")


async def test_the_file_picker_sorts_naturally_and_completes_paths(store, tmp_path):
    from tui.widgets.file_picker import PathSuggester, natural_order

    tmp_path = tmp_path / "mailboxes"
    tmp_path.mkdir()
    for name in ("mail10", "mail2", "Mail1", "notes.txt"):
        (tmp_path / name).mkdir() if name.startswith(("mail", "Mail")) else (tmp_path / name).write_text("x")
    assert [p.name for p in natural_order(tmp_path.iterdir())] == ["Mail1", "mail2", "mail10", "notes.txt"]
    assert await PathSuggester().get_suggestion(str(tmp_path / "no")) == str(tmp_path / "notes.txt")
    assert await PathSuggester().get_suggestion(str(tmp_path / "mail1")) == str(tmp_path / "mail10") + "/"

    session = Session()
    session.browse_root = tmp_path
    app = PaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        await pilot.pause(0.5)
        tree = app.screen.query_one("#import-tree")
        assert [str(child.label) for child in tree.root.children] == ["Mail1", "mail2", "mail10", "notes.txt"]


async def test_every_footer_fits_in_80_columns_beside_the_palette_key(store):
    from textual.widgets import Footer

    from tests.tui import fixture_data

    fixture_data.populate(store, resolve_paths())
    session = Session()
    session.choose_profile(fixture_data.PROFILE)
    app = PaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("f2", "f3", "f4", "f5", "f6", "f7"):
            await pilot.press(key)
            await pilot.pause(0.5)
            footer = app.screen.query_one(Footer)
            keys = list(footer.query("FooterKey"))
            palette = [k for k in keys if k.description == "palette"]
            shown = [k for k in keys if k.description != "palette"]
            assert palette and shown
            assert max(k.region.right for k in shown) <= palette[0].region.x, (key, [k.description for k in shown])
        await pilot.press("f2")
        await pilot.pause()
        assert "Use profile" in [k.description for k in app.screen.query_one(Footer).query("FooterKey")]


async def test_tabs_are_clickable_and_the_palette_reaches_other_screens_actions(make_app, store):
    store.create_profile("maya")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        navbar = app.screen.query_one("#navbar")
        start, _, mode = next(tab for tab in navbar.tabs if tab[2] == "pipeline")
        await pilot.click("#navbar", offset=(start + 2, 0))
        await pilot.pause()
        assert type(app.screen).__name__ == "PipelineScreen"
        commands = {command.title: command for command in app.get_system_commands(app.screen)}
        assert {"Draft: History", "Import: Preview", "Profiles: New"} <= set(commands)
        commands["Draft: The message you answer (Reply-to)"].callback()
        await pilot.pause()
        await pilot.pause()
        assert type(app.screen).__name__ == "EditText"
