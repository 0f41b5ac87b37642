"""`pa-tui` in a real terminal (tmux): type an intent, read the three panes back from the screen;
and a whole first run (new profile, import, distil with a limit, train, draft) by keys alone."""

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
from tests.tui.test_flows import DRAFT_CONFIG, INTENT

WIDTH, HEIGHT = 120, 32
DEADLINE_S = 120


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=30).stdout


def screen_text(session: str) -> list[str]:
    return tmux("capture-pane", "-p", "-t", session).splitlines()


def wait_for(session: str, condition, what: str, seconds: float = DEADLINE_S) -> list[str]:
    """Poll the terminal until `condition(lines)` holds; a real terminal has no worker to await."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lines = screen_text(session)
        if condition(lines):
            return lines
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; screen was:\n" + "\n".join(screen_text(session)))


def send(session: str, *keys: str, literal: bool = False) -> None:
    tmux("send-keys", "-t", session, *(("-l", "--") if literal else ()), *keys)


def shows(*texts: str):
    """A condition: every text is somewhere on the screen."""
    return lambda lines: all(any(text in line for line in lines) for text in texts)


def start_pa_tui(pa_home: Path, name: str, height: int = HEIGHT) -> str:
    session = f"{name}-{uuid.uuid4().hex[:8]}"
    executable = str(Path(sys.executable).with_name("pa-tui"))
    env = {**os.environ, "PA_HOME": str(pa_home), "TERM": "xterm-256color"}
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(height), executable],
        check=True,
        env=env,
        timeout=30,
    )
    return session


def pane_columns(lines: list[str]) -> list[tuple[int, int]]:
    """Column ranges inside the three pane borders, from the top border line (╭──╮╭──╮╭──╮; a
    focused pane has a heavy one, ┏━━┓)."""
    top = next(line for line in lines if line.count("╭") + line.count("┏") == 3)
    starts = [i for i, ch in enumerate(top) if ch in "╭┏"]
    ends = [i for i, ch in enumerate(top) if ch in "╮┓"]
    return [(start + 1, end) for start, end in zip(starts, ends)]


def pane_text(lines: list[str], columns: tuple[int, int]) -> str:
    start, end = columns
    body = [line[start:end].strip() for line in lines if len(line) > start and line[start - 1 : start] in "│┃"]
    return " ".join(part for part in body[1:] if part)  # body[0] is the title


def test_pa_tui_in_tmux_drafts_into_three_panes(pa_home: Path, tiny_trained_agent):
    assert shutil.which("tmux"), "tmux is needed for this test: apt-get install -y tmux"
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(DRAFT_CONFIG, encoding="utf-8")
    tiny_trained_agent.install(resolve_paths(), "jeff")
    state = resolve_paths().data_dir / "tui-state.json"
    state.write_text('{"profile": "jeff"}', encoding="utf-8")
    session = start_pa_tui(pa_home, "pa-tui-test")
    try:
        wait_for(session, lambda lines: any("F5 Draft" in line for line in lines), "the first frame")
        tmux("send-keys", "-t", session, "F5")
        wait_for(session, lambda lines: any("Type what you want to say" in line for line in lines), "the draft screen")
        tmux("send-keys", "-t", session, "-l", "--", INTENT)
        tmux("send-keys", "-t", session, "Enter")
        wait_for(session, lambda lines: any("│ done" in line for line in lines), "the three streams to finish")
        lines = settled_screen(session)
        tmux("send-keys", "-t", session, "C-q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=30)

    saved = stored_draft()
    assert saved["intent"] == INTENT
    assert panes_show(lines, saved), "the screen was:\n" + "\n".join(lines) + f"\nthe stored draft: {saved!r}"


def settled_screen(session: str, seconds: float = 10.0) -> list[str]:
    """The screen once two captures half a second apart agree: a terminal paints a moment after
    the app's last update."""
    previous = screen_text(session)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
        lines = screen_text(session)
        if lines == previous:
            return lines
        previous = lines
    return previous


def stored_draft() -> dict:
    store = Store.open(resolve_paths().store_file)
    try:
        (saved,) = [dict(row) for row in store.query("SELECT intent, naive, rules, final FROM drafts")]
    finally:
        store.close()
    return saved


def panes_show(lines: list[str], saved: dict) -> bool:
    """Each pane (naive | rules | final) shows what was stored for it: its first three words, or
    its last three where the text is longer than the pane and the pane follows its end."""
    if not any(line.count("╭") + line.count("┏") == 3 for line in lines):
        return False
    shown = [words(pane_text(lines, columns)) for columns in pane_columns(lines)]
    stored = [words(saved[stream]) for stream in ("naive", "rules", "final")]
    return all(
        bool(text) and (contains(on_screen, text[:3]) or contains(on_screen, text[-3:]))
        for on_screen, text in zip(shown, stored)
    )


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def contains(haystack: list[str], needle: list[str]) -> bool:
    return any(haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


FIRST_RUN_LIMIT = 2
"""Documents to distil: the sample corpus's first two are one training and one held-out text."""
FIRST_RUN_DEADLINE_S = 900
"""A bound, not the expected time (about 4 minutes on two idle cores): SmolLM2 on a shared CPU is slow."""


def first_run_config(base: Path) -> str:
    """The smallest run that is still the real one: the embedded SmolLM2 as M_L with one intent
    candidate (160 tokens: its intents run to about 130), one epoch of a tiny random base as the
    agent, short drafts."""
    return (
        DRAFT_CONFIG
        + f"""
[distill]
max_tokens = 160
max_attempts = 2
concurrency = 1
intent_temperatures = [0.7]

[train]
base_model = "{base}"
lora_r = 4
lora_alpha = 8
lora_dropout = 0.0
learning_rate = 0.01
epochs = 1
batch_size = 1
max_length = 1024
rules_only = true
verify_rules = false
"""
    )


@pytest.fixture
def tiny_base(tmp_path: Path, smollm2_tokenizer_dir: Path) -> Path:
    """A random-weight 2-layer Llama with the SmolLM2 tokenizer: what the first run trains."""
    from tests.tiny_agent import make_tiny_base

    return make_tiny_base(tmp_path / "tiny-base", smollm2_tokenizer_dir)


def row(lines: list[str], title: str) -> str:
    """The pipeline panel's line for one stage (its title starts the line)."""
    return next((line for line in lines if line.strip().startswith(title)), "")


@pytest.mark.timeout(FIRST_RUN_DEADLINE_S + 120)
def test_a_whole_first_run_inside_pa_tui(pa_home: Path, tmp_path: Path, tiny_base: Path):
    """New profile, import the sample corpus, distil two documents, train, draft: only keys typed
    into a real terminal, each step checked on the screen text a user reads."""
    from tests.tui.fixture_data import corpus_copy

    assert shutil.which("tmux"), "tmux is needed for this test: apt-get install -y tmux"
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(first_run_config(tiny_base), encoding="utf-8")
    corpus = corpus_copy(tmp_path)
    started = time.monotonic()
    session = start_pa_tui(pa_home, "pa-tui-first", height=36)
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
        summary = " ".join(preview)
        kept = int(re.search(r"(\d+) would be kept", summary).group(1))
        assert "into maya:" in summary
        send(session, "C-y")
        imported = wait_for(session, shows(f"imported {kept} into maya"), "the import")
        train = int(re.search(r"\((\d+) train, \d+ held out\)", " ".join(imported)).group(1))

        send(session, "F4")
        wait_for(session, shows("l Limit", "s starts"), "the pipeline panel and its keys")
        type_limit(session, FIRST_RUN_LIMIT)
        send(session, "Enter")  # leaves the box, so s reaches the panel
        press_until(session, "s", shows(f"distilling {FIRST_RUN_LIMIT} of {kept} documents"), "distillation to start")
        done = wait_for(
            session,
            ready_or_failed,
            "distillation, training and export",
            seconds=FIRST_RUN_DEADLINE_S - (time.monotonic() - started),
        )
        assert any("Agent v1 is ready" in line for line in done), "\n".join(done)
        assert f"{FIRST_RUN_LIMIT}/{kept}" in row(done, "intents"), "\n".join(done)
        assert f"1/{train}" in row(done, "rules"), "\n".join(done)
        assert "done" in row(done, "training") and "agent v1" in row(done, "export"), "\n".join(done)

        send(session, "F5")
        wait_for(session, shows("Type what you want to say"), "the draft screen")
        send(session, INTENT, literal=True)
        send(session, "Enter")
        lines = wait_for(
            session,
            lambda lines: any("│ done" in line or "│ failed" in line for line in lines),
            "the three streams to finish",
            seconds=max(60.0, FIRST_RUN_DEADLINE_S - (time.monotonic() - started)),
        )
        assert any("│ done" in line for line in lines), "\n".join(lines)
        naive, rules, final = (pane_text(lines, c) for c in pane_columns(lines))
        send(session, "C-q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=30)

    store = Store.open(resolve_paths().store_file)
    try:
        profile = store.get_profile("maya")
        counts = store.count_documents(profile.id)
        distilled = {row["document_id"] for row in store.query("SELECT document_id FROM distillations", ())}
        (saved,) = [dict(r) for r in store.query("SELECT intent, naive, rules, final, agent_version FROM drafts")]
    finally:
        store.close()
    assert counts["train"] + counts["test"] == kept  # what the preview counted is what was stored
    assert len(distilled) == FIRST_RUN_LIMIT  # the limit typed in the panel, not the whole corpus
    assert saved["intent"] == INTENT and saved["agent_version"] == "maya/agent/v1"
    for shown, stored in ((naive, saved["naive"]), (rules, saved["rules"]), (final, saved["final"])):
        opening = words(stored)[:3]
        assert opening and contains(words(shown), opening), (shown, stored, "\n".join(lines))
    assert not contains(words(final), words(INTENT)), final  # a draft, not the intent echoed back
    assert "<" not in final and "Intent" not in final, final  # no prompt block shown as the draft


def ready_or_failed(lines: list[str]) -> bool:
    """The pipeline has finished one way or the other (a failure stops the wait at once)."""
    return any(
        "Agent v1 is ready" in line or "Failed:" in line or "Training failed" in line or "Training stopped" in line
        for line in lines
    )


def type_limit(session: str, limit: int) -> None:
    """l focuses the limit box; Textual moves the focus on its next turn, so type once it has
    (Ctrl+U first empties the box if an earlier try reached it)."""
    for _ in range(3):
        send(session, "l")
        time.sleep(0.5)
        send(session, "C-u")
        send(session, str(limit), literal=True)
        try:
            wait_for(session, shows(f"the first {limit} by import order"), "the typed limit", seconds=5)
            return
        except AssertionError:
            continue
    raise AssertionError("the limit never reached its box:\n" + "\n".join(screen_text(session)))


def press_until(session: str, key: str, condition, what: str) -> None:
    """Press `key` until the screen shows its effect (a key sent while the focus moves can be lost)."""
    for _ in range(3):
        send(session, key)
        try:
            wait_for(session, condition, what, seconds=10)
            return
        except AssertionError:
            continue
    wait_for(session, condition, what)
