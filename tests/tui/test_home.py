"""Profiles: create, rename, delete with confirmation, models per role, navigation, help, palette."""

from __future__ import annotations

from textual.widgets import DataTable

from core.config import load_config
from core.paths import resolve_paths


async def test_create_rename_delete_a_profile(make_app, store):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.press(*"alice", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.session.profile == "alice"
        assert [p.name for p in store.list_profiles()] == ["alice"]

        await pilot.press("r")
        await pilot.press("ctrl+a", "ctrl+k", *"bob", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [p.name for p in store.list_profiles()] == ["bob"]
        assert app.session.profile == "bob"

        await pilot.press("d")
        await pilot.pause()
        await pilot.press("escape")  # the safe answer: nothing deleted
        await app.workers.wait_for_complete()
        assert [p.name for p in store.list_profiles()] == ["bob"]

        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert store.list_profiles() == []
        assert app.session.profile is None


async def test_a_bad_name_is_said_in_the_dialog_which_keeps_what_was_typed(make_app, store):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.press(*"no way", "enter")
        await pilot.pause()
        assert store.list_profiles() == []
        assert type(app.screen).__name__ == "AskText"
        assert app.screen.query_one("#answer").value == "no way"
        assert "not allowed" in str(app.screen.query_one("#answer-error").render())
        await pilot.press("ctrl+a", "ctrl+k", *"noway", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [p.name for p in store.list_profiles()] == ["noway"] and app.session.profile == "noway"


async def test_the_table_shows_each_profile_state(make_app, store):
    profile = store.create_profile("carol")
    with store.transaction() as db:
        for index in range(3):
            db.execute(
                "INSERT INTO documents (profile_id, text, content_hash, split) VALUES (?, ?, ?, ?)",
                (profile.id, f"text {index}", f"h{index}", "test" if index == 2 else "train"),
            )
    app = make_app("carol")
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#profiles", DataTable)
        assert table.row_count == 1
        row = table.get_row_at(0)
        assert row[0] == "● carol" and row[1] == "3" and row[3] == "—"
        assert row[5] == "distill"
        await pilot.pause()


async def test_models_per_role_are_saved_to_config(make_app, store):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        app.screen.query_one("#spec-judge").value = "ollama:llama3.1:8b"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert load_config(resolve_paths()).models.judge == "ollama:llama3.1:8b"

        await pilot.press("m")
        await pilot.pause()
        app.screen.query_one("#spec-large").value = "nonsense"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert any("unknown model spec" in n.message for n in app._notifications)
        assert load_config(resolve_paths()).models.large == "embedded"


async def test_f_keys_reach_every_screen_and_help_lists_their_keys(make_app, store):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for key, name in (
            ("f3", "ImportScreen"),
            ("f4", "PipelineScreen"),
            ("f5", "DraftScreen"),
            ("f6", "CompareScreen"),
            ("f7", "EvaluationScreen"),
            ("f2", "HomeScreen"),
        ):
            await pilot.press(key)
            await pilot.pause()
            assert type(app.screen).__name__ == name
        await pilot.press("f1")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        text = app.screen.markdown  # what the app handed the help screen
        assert "Edit rules" in text and "Ctrl+R" in text and "F5" in text
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "HomeScreen"


def test_the_again_key_runs_again_on_every_screen_that_binds_it():
    """Ctrl+G once meant "import" on one screen and "draft again" on two others."""
    from tui.keys import AGAIN
    from tui.navigation import PLACES

    meanings = {}
    for place in PLACES:
        for binding in place.load().BINDINGS:
            if AGAIN in binding.key.split(","):
                meanings[place.mode] = binding.action
    assert meanings == {"draft": "regenerate", "compare": "rerun"}
    (run_import,) = [b for b in PLACES[1].load().BINDINGS if b.action == "run_import"]
    assert run_import.key == "ctrl+y"


async def test_help_names_the_import_key(make_app, store):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        text = app.screen.markdown
        import_section = text.split("## Import")[1].split("##")[0]
        assert "| Ctrl+Y | Import what the preview shows" in import_section
        assert "Ctrl+G" not in import_section


async def test_theme_toggles_between_light_and_dark(make_app, store):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-dark"


async def test_every_key_of_a_screen_is_in_the_command_palette(make_app, store):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"New", "Rename", "Delete", "Models", "Go to Draft", "Help", "Toggle light/dark theme"} <= titles
        await pilot.press("f5")
        await pilot.pause()
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Cancel", "Edit rules", "History", "Copy the final pane"} <= titles
        assert {
            "Accept the final as sent (stored with the draft, saved to a file)",
            "Edit the final, then Ctrl+S accepts your text as sent",
        } <= titles


async def test_ollama_models_are_offered_when_ollama_is_configured(make_app, store, pa_home, httpserver):
    httpserver.expect_request("/api/tags", method="GET").respond_with_json(
        {
            "models": [
                {"name": "llama3.1:8b", "model": "llama3.1:8b", "size": 1, "details": {"parameter_size": "8.0B"}},
                {"name": "qwen2.5:latest", "model": "qwen2.5:latest", "size": 1, "details": {}},
            ]
        }
    )
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(
        f'[ollama]\nhost = "{httpserver.url_for("/").rstrip("/")}"\n', encoding="utf-8"
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        dialog = app.screen
        pending = [w for w in app.workers if w.group == "ollama-models"]
        if pending:  # (an empty list would mean: wait for every worker, the open dialog's too)
            await app.workers.wait_for_complete(pending)
        await pilot.pause()
        select = dialog.query_one("#ollama-models")
        assert not select.disabled
        assert [value for _, value in select._options if isinstance(value, str)] == ["llama3.1:8b", "qwen2.5:latest"]
        dialog.query_one("#spec-agent").focus()
        select.value = "qwen2.5:latest"
        await pilot.pause()
        assert dialog.query_one("#spec-agent").value == "ollama:qwen2.5:latest"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert load_config(resolve_paths()).models.agent == "ollama:qwen2.5:latest"


async def test_an_unreachable_ollama_is_a_notification(make_app, store, pa_home):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(f'[ollama]\nhost = "http://127.0.0.1:{port}"\n', encoding="utf-8")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        for worker in [w for w in app.workers if w.group == "ollama-models"]:
            try:
                await worker.wait()
            except Exception:  # WorkerFailed: the app turned it into a notification
                pass
        await pilot.pause()
        assert any(str(port) in n.message for n in app._notifications if n.severity == "error")
        assert app.screen.query_one("#ollama-models").disabled
