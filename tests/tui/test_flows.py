"""End-to-end flows through the UI with real parts: the embedded SmolLM2 as M_L, the tiny
trained agent (tests/tiny_agent.py), the sample corpus, and a real HTTP server that dies
mid-stream. Workers are awaited, never slept on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from core.paths import resolve_paths
from tests.openai_loopback import MODEL as LOOPBACK_MODEL
from tests.openai_loopback import LoopbackServer
from tests.tui import fixture_data
from tui.app import PaApp
from tui.session import Session

SIZE = (100, 30)
INTENT = "- tell Sue the call moved to 3pm"
LONG_INTENT = INTENT
"""With `max_tokens = 400` it keeps M_L busy long enough to cancel (it is shaped like the tiny
agent's training intents, so the agent answers instead of babbling)."""
DRAFT_CONFIG = """
[drafting]
max_tokens = 24
rules_max_tokens = 40
retriever = "bm25"
temperature = 0.0
seed = 0
"""


def write_config(home: Path, extra: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(DRAFT_CONFIG + extra, encoding="utf-8")


@pytest.fixture
def jeff_app(pa_home, tiny_trained_agent, tui_large_model):
    """An app whose profile `jeff` has documents, distilled intents and the tiny trained agent."""
    write_config(pa_home)
    tiny_trained_agent.install(resolve_paths(), "jeff")
    session = Session()
    session.choose_profile("jeff")
    return PaApp(session)


async def settle(pilot) -> None:
    """Let every worker of the screen finish (the directory tree's loader never does).
    A failed worker is not an error here: the app turns it into a notification."""
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(3):
        mine = [w for w in pilot.app.workers if w.group != "_loader"]
        for worker in mine:
            try:
                await worker.wait()
            except (WorkerFailed, WorkerCancelled):
                pass
        await pilot.pause()


def errors(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


async def type_intent(pilot, text: str) -> None:
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if index:
            await pilot.press("ctrl+j")
        await pilot.press(*[("space" if ch == " " else ch) for ch in line])


async def test_draft_streams_three_panes_edits_rules_and_keeps_history(jeff_app):
    app = jeff_app
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await type_intent(pilot, INTENT + "\n- keep it short")
        assert app.screen.query_one("#intent").text == INTENT + "\n- keep it short"  # Ctrl+J is a new line
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert errors(app) == []
        assert [pane.state for pane in screen.panes] == ["done", "done", "done"]
        assert all(pane.text.strip() for pane in screen.panes)
        status = str(screen.query_one("#draft-status").render())
        assert "tok/s" in status
        assert screen.query_one("#intent").text == ""

        (saved,) = app.workspace.history("jeff")
        assert saved.intent == INTENT + "\n- keep it short"
        assert (saved.naive, saved.rules, saved.final) == tuple(
            screen.pane(s).text for s in ("naive", "rules", "final")
        )
        assert saved.agent_version == "jeff/agent/v1"

        await pilot.press("ctrl+r")
        await pilot.pause()
        editor = app.screen.query_one("#rules-editor")
        editor.text = "- Start with 'Sue,'\n- Sign off: Jeff"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert screen.pane("rules").state == "edited"
        assert screen.pane("rules").text == "- Start with 'Sue,'\n- Sign off: Jeff"
        assert screen.pane("final").state == "done" and screen.pane("final").text.strip()
        newest, first = app.workspace.history("jeff")
        assert newest.parent_id == first.id and newest.edited_rules == "- Start with 'Sue,'\n- Sign off: Jeff"
        assert newest.rules == first.rules  # the agent's own rules stay the origin of the edit

        await pilot.press("ctrl+o")  # the intent box has the focus: copies the final
        assert app.clipboard == screen.pane("final").text
        await pilot.press("ctrl+s")
        await pilot.pause()
        kept = app.workspace.paths.profile_dir("jeff") / "drafts" / f"draft-{newest.id}.md"
        assert kept.read_text(encoding="utf-8").strip() == screen.pane("final").text.strip()
        assert app.workspace.history("jeff")[0].chosen == "final"

        await pilot.press("ctrl+l")
        await pilot.pause()
        await pilot.press("down", "enter")  # the older draft
        await settle(pilot)
        assert screen.pane("rules").text == first.rules and screen.pane("final").text == first.final


async def test_escape_cancels_and_gives_the_intent_back(pa_home, tiny_trained_agent):
    """M_L is a real loopback OpenAI-compatible server that holds every request unanswered, so
    Esc always lands while M_L is still writing, however fast or slow the machine is."""
    with LoopbackServer(hold_after=0) as server:
        write_config(
            pa_home,
            f'\n[models]\nlarge = "openai:{LOOPBACK_MODEL}"\n\n[openai]\nbase_url = "{server.base_url}"\nmax_retries = 0\n',
        )
        tiny_trained_agent.install(resolve_paths(), "jeff")
        session = Session()
        session.choose_profile("jeff")
        app = PaApp(session)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f5")
            screen = app.screen
            screen.query_one("#intent").text = LONG_INTENT
            await pilot.press("enter")
            assert await asyncio.to_thread(server.wait_held, 1, 60), "M_L never received the naive request"
            await pilot.press("escape")
            await settle(pilot)
            assert screen.pane("naive").state == "cancelled", errors(app)
            assert screen.query_one("#intent").text == LONG_INTENT
            assert app.workspace.history("jeff") == []  # a cancelled draft is not history


async def test_a_new_intent_cancels_the_stale_one(pa_home, tiny_trained_agent):
    """M_L is a real loopback OpenAI-compatible server that answers each request after 3 s, so
    the second intent always arrives while the first is still being written."""
    with LoopbackServer(delay=3.0) as server:
        write_config(
            pa_home,
            f'\n[models]\nlarge = "openai:{LOOPBACK_MODEL}"\n\n[openai]\nbase_url = "{server.base_url}"\nmax_retries = 0\n',
        )
        tiny_trained_agent.install(resolve_paths(), "jeff")
        session = Session()
        session.choose_profile("jeff")
        app = PaApp(session)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f5")
            screen = app.screen
            screen.query_one("#intent").text = LONG_INTENT
            await pilot.press("enter")
            assert await asyncio.to_thread(_wait_until, lambda: len(server.requests) >= 1, 60)
            assert screen._draft_running()  # the first one is still going when the new one is sent
            screen.query_one("#intent").text = INTENT + "\n- second thought"
            await pilot.press("enter")
            await settle(pilot)
            (saved,) = app.workspace.history("jeff")
            assert saved.intent == INTENT + "\n- second thought"
            assert [pane.state for pane in screen.panes] == ["done", "done", "done"], errors(app)


def _wait_until(condition, timeout: float) -> bool:
    """Poll a condition from a worker thread (the server lives in its own thread)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


async def test_a_backend_that_dies_mid_stream_leaves_the_ui_usable(
    pa_home, tiny_trained_agent, tui_large_model, httpserver: HTTPServer
):
    part = {
        "model": "m",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "Hello Sue"},
        "done": False,
    }
    httpserver.expect_request("/api/chat", method="POST").respond_with_data(
        json.dumps(part) + "\n", content_type="application/x-ndjson"
    )
    write_config(
        pa_home,
        f'\n[models]\nlarge = "ollama:m"\n\n[ollama]\nhost = "{httpserver.url_for("/").rstrip("/")}"\ntimeout = 5\n',
    )
    tiny_trained_agent.install(resolve_paths(), "jeff")
    session = Session()
    session.choose_profile("jeff")
    app = PaApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await type_intent(pilot, INTENT)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert app.is_running
        assert screen.pane("naive").state == "failed"
        assert screen.pane("naive").text == "Hello Sue"  # what arrived stays readable
        assert any("ended before the answer was done" in n.message for n in app._notifications)
        assert screen.query_one("#intent").text == INTENT  # the failed draft gives its intent back
        await pilot.press("ctrl+j")
        await type_intent(pilot, "- still typing")  # the box still takes input
        assert screen.query_one("#intent").text == INTENT + "\n- still typing"
        await pilot.press("f2")
        assert type(app.screen).__name__ == "HomeScreen"


async def test_compare_streams_every_method_or_says_how_to_train_it(jeff_app):
    app = jeff_app
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await type_intent(pilot, INTENT)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        states = {
            method: screen.pane(method).state
            for method in ("agent", "small", "large", "few-shot", "naive-finetune", "no-baseline")
        }
        assert states == {
            "agent": "done",
            "small": "done",
            "large": "done",
            "few-shot": "done",
            "naive-finetune": "unavailable",
            "no-baseline": "unavailable",
        }
        assert "pa train --profile jeff --kind naive" in screen.pane("naive-finetune").text
        assert all(screen.pane(m).text.strip() for m in states)
        assert "s" in str(screen.pane("agent").query_one(".pane-title").render())  # the timing
        status = str(screen.query_one("#compare-status").render())
        assert status.startswith("done in ") and "4 ran (one at a time)" in status and "2 unavailable" in status
        saved_rules = str(screen.query_one("#compare-rules").render())
        assert saved_rules.startswith("agent's rules: ") and len(saved_rules) > len(
            "agent's rules: "
        )  # pa's agent wrote them


async def test_import_the_sample_corpus(pa_home, store, tmp_path):
    store.create_profile("maya")
    session = Session()
    session.choose_profile("maya")
    session.browse_root = fixture_data.corpus_copy(tmp_path)
    app = PaApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.press(*str(session.browse_root), "enter")
        await settle(pilot)
        screen = app.screen
        preview = screen.query_one("#import-preview")
        prompts = [str(preview.get_option_at_index(i).prompt) for i in range(preview.option_count)]
        assert any(p.startswith("✗") and "not_from_sender" in p for p in prompts)
        assert any(p.startswith("✓") for p in prompts)
        assert screen.query_one("#import-sender").value == "*auto*"  # the import chooses as its preview did
        assert screen.preview.report.senders == ["maya@lindqvist-studio.example"]
        assert store.count_documents(store.get_profile("maya").id) == {"train": 0, "test": 0}  # preview stores nothing

        await pilot.press("ctrl+y")
        await settle(pilot)
        counts = store.count_documents(store.get_profile("maya").id)
        assert counts["train"] + counts["test"] == 20
        assert "imported 20" in str(screen.query_one("#import-summary").render())
        assert screen.query_one("#import-progress").percentage == 1.0
