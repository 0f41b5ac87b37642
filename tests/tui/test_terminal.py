"""`pa-tui` in a real terminal (tmux): type an intent, read the three panes back from the screen."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from core.paths import resolve_paths
from core.store import Store
from tests.openai_loopback import MODEL as LOOPBACK_MODEL
from tests.openai_loopback import LoopbackServer, tagged_answer
from tests.tui.test_flows import DRAFT_CONFIG, INTENT

WIDTH, HEIGHT = 120, 32
DEADLINE_S = 120


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=30).stdout


def screen_text(session: str) -> list[str]:
    return tmux("capture-pane", "-p", "-t", session).splitlines()


def wait_for(session: str, condition, what: str, deadline: float = DEADLINE_S) -> list[str]:
    """Poll the terminal until `condition(lines)` holds; a real terminal has no worker to await."""
    deadline = time.monotonic() + deadline
    while time.monotonic() < deadline:
        lines = screen_text(session)
        if condition(lines):
            return lines
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; screen was:\n" + "\n".join(screen_text(session)))


def pane_columns(lines: list[str]) -> list[tuple[int, int]]:
    """Column ranges inside the three pane borders, from the top border line (╭──╮╭──╮╭──╮; the
    focused pane has a heavy border, ┏━━┓)."""
    top = next(line for line in lines if line.count("╭") + line.count("┏") == 3)
    starts = [i for i, ch in enumerate(top) if ch in "╭┏"]
    ends = [i for i, ch in enumerate(top) if ch in "╮┓"]
    return [(start + 1, end) for start, end in zip(starts, ends)]


def pane_text(lines: list[str], columns: tuple[int, int]) -> str:
    start, end = columns
    body = [line[start:end].strip() for line in lines if len(line) > start and line[start - 1:start] in ("│", "┃")]
    return " ".join(part for part in body[1:] if part)  # body[0] is the title


def test_pa_tui_in_tmux_drafts_into_three_panes(pa_home: Path, tiny_trained_agent):
    assert shutil.which("tmux"), "tmux is needed for this test: apt-get install -y tmux"
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(DRAFT_CONFIG, encoding="utf-8")
    tiny_trained_agent.install(resolve_paths(), "jeff")
    state = resolve_paths().data_dir / "tui-state.json"
    state.write_text('{"profile": "jeff"}', encoding="utf-8")
    session = f"pa-tui-test-{uuid.uuid4().hex[:8]}"
    executable = str(Path(sys.executable).with_name("pa-tui"))
    env = {**os.environ, "PA_HOME": str(pa_home), "TERM": "xterm-256color"}
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT), executable],
        check=True, env=env, timeout=30,
    )
    try:
        wait_for(session, lambda lines: any("F5 Draft" in line for line in lines), "the first frame")
        tmux("send-keys", "-t", session, "F5")
        wait_for(session, lambda lines: any("Type what you want to say" in line for line in lines), "the draft screen")
        tmux("send-keys", "-t", session, "-l", "--", INTENT)
        tmux("send-keys", "-t", session, "Enter")
        lines = wait_for(session, lambda lines: any("│ done" in line for line in lines), "the three streams to finish")
        columns = pane_columns(lines)
        naive, rules, final = (pane_text(lines, c) for c in columns)
        tmux("send-keys", "-t", session, "C-q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=30)

    store = Store.open(resolve_paths().store_file)
    try:
        (saved,) = [dict(row) for row in store.query("SELECT intent, naive, rules, final FROM drafts")]
    finally:
        store.close()
    assert saved["intent"] == INTENT
    for shown, stored in ((naive, saved["naive"]), (rules, saved["rules"]), (final, saved["final"])):
        opening = words(stored)[:3]
        assert opening and contains(words(shown), opening), (shown, stored)


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def contains(haystack: list[str], needle: list[str]) -> bool:
    return any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


FIRST_RUN_LIMIT = 6
FIRST_RUN_EMAIL = "Sue,\n\nThe call is at 3pm now.\n\nJeff"


def first_run_answer(messages: list[dict[str, str]]) -> str:
    """M_L for the first run: a real loopback server with well-formed answers (the embedded model
    needs minutes per document on a shared CPU; this test is about the UI carrying the whole run)."""
    if "Answer with the" in (messages[0]["content"] if messages else ""):
        return FIRST_RUN_EMAIL  # a drafting prompt: the text itself
    return tagged_answer(messages)


def send(session: str, *keys: str, literal: bool = False) -> None:
    tmux("send-keys", "-t", session, *(("-l", "--") if literal else ()), *keys)


def shows(text: str):
    return lambda lines: any(text in line for line in lines)


@pytest.mark.timeout(1500)  # trains and exports the tiny agent in its own process: minutes on a shared CPU
def test_a_whole_first_run_inside_pa_tui(pa_home: Path, tmp_path: Path, tiny_trained_agent):
    """New profile, import the sample corpus, distil a few documents, train, draft: only keys
    typed into a real terminal, every step checked on the screen text."""
    from tests.tui.fixture_data import corpus_copy
    from tests.tui.test_pipeline_flow import pipeline_config

    assert shutil.which("tmux"), "tmux is needed for this test: apt-get install -y tmux"
    pa_home.mkdir(parents=True, exist_ok=True)
    corpus = corpus_copy(tmp_path)
    server = LoopbackServer(delay=0.05, responder=first_run_answer)
    server.__enter__()
    # the agent's answer budget is drafting.rules_max_tokens when set: room for the loopback's rules
    config = (DRAFT_CONFIG.replace("rules_max_tokens = 40", "rules_max_tokens = 160") + pipeline_config(tiny_trained_agent.base_folder).replace("max_length = 256", "max_length = 1024")
              + f'\n[models]\nlarge = "openai:{LOOPBACK_MODEL}"\n\n[openai]\nbase_url = "{server.base_url}"\nmax_retries = 0\n')
    (pa_home / "config.toml").write_text(config, encoding="utf-8")
    session = f"pa-tui-first-{uuid.uuid4().hex[:8]}"
    executable = str(Path(sys.executable).with_name("pa-tui"))
    env = {**os.environ, "PA_HOME": str(pa_home), "TERM": "xterm-256color"}
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT), executable],
                   check=True, env=env, timeout=30)
    try:
        wait_for(session, shows("No profiles yet"), "the empty home screen")
        send(session, "n")
        wait_for(session, shows("New profile name"), "the new-profile dialog")
        send(session, "maya", literal=True)
        send(session, "Enter")
        wait_for(session, shows("│ maya"), "the new profile in the nav bar")

        send(session, "F3")
        wait_for(session, shows("Enter: preview"), "the import screen")
        send(session, str(corpus), literal=True)
        send(session, "Enter")
        preview = wait_for(session, shows("would be kept"), "the import preview")
        kept = int(re.search(r"(\d+) would be kept", "".join(preview)).group(1))
        send(session, "C-g")
        wait_for(session, shows(f"imported {kept} into maya"), "the import")

        send(session, "F4")
        wait_for(session, shows("l Limit"), "the pipeline panel and its keys")
        send(session, "l")
        time.sleep(1)  # Textual moves the focus on its next loop turn; keys sent before it go to the old focus
        send(session, str(FIRST_RUN_LIMIT), literal=True)
        wait_for(session, shows(f"documents to distil  {FIRST_RUN_LIMIT}"), "the typed limit")
        send(session, "Enter")
        wait_for(session, shows(f"the first {FIRST_RUN_LIMIT} by import order"), "the limit")
        send(session, "s")
        wait_for(session, shows(f"distilling {FIRST_RUN_LIMIT} of {kept} documents"), "distillation to start")
        done = wait_for(session, lambda lines: any("Agent v1 is ready" in line or "Failed" in line or "Training failed" in line
                                                   for line in lines), "distillation and training", deadline=480)
        assert any("Agent v1 is ready" in line for line in done), "\n".join(done)

        send(session, "F5")
        wait_for(session, shows("Type what you want to say"), "the draft screen")
        send(session, INTENT, literal=True)
        send(session, "Enter")
        lines = wait_for(session, shows("│ done"), "the three streams to finish", deadline=300)
        columns = pane_columns(lines)
        naive, rules, final = (pane_text(lines, c) for c in columns)
        send(session, "C-q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=30)
        server.__exit__(None, None, None)

    store = Store.open(resolve_paths().store_file)
    try:
        profile = store.get_profile("maya")
        counts = store.count_documents(profile.id)
        distilled = store.query("SELECT COUNT(DISTINCT document_id) AS n FROM distillations", ())[0]["n"]
        (saved,) = [dict(row) for row in store.query("SELECT intent, naive, rules, final, agent_version FROM drafts")]
    finally:
        store.close()
    assert counts["train"] + counts["test"] == kept
    assert distilled == FIRST_RUN_LIMIT  # the limit typed in the panel, not the whole corpus
    assert saved["intent"] == INTENT and saved["agent_version"] == "maya/agent/v1"
    for shown, stored in ((naive, saved["naive"]), (rules, saved["rules"]), (final, saved["final"])):
        opening = words(stored)[:3]
        assert opening and contains(words(shown), opening), (shown, stored, "\n".join(lines))
