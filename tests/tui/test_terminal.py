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

from core.paths import resolve_paths
from core.store import Store
from tests.tui.test_flows import DRAFT_CONFIG, INTENT

WIDTH, HEIGHT = 120, 32
DEADLINE_S = 120


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=30).stdout


def screen_text(session: str) -> list[str]:
    return tmux("capture-pane", "-p", "-t", session).splitlines()


def wait_for(session: str, condition, what: str) -> list[str]:
    """Poll the terminal until `condition(lines)` holds; a real terminal has no worker to await."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        lines = screen_text(session)
        if condition(lines):
            return lines
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; screen was:\n" + "\n".join(screen_text(session)))


def pane_columns(lines: list[str]) -> list[tuple[int, int]]:
    """Column ranges inside the three pane borders, from the top border line (╭──╮╭──╮╭──╮)."""
    top = next(line for line in lines if line.count("╭") == 3)
    starts = [i for i, ch in enumerate(top) if ch == "╭"]
    ends = [i for i, ch in enumerate(top) if ch == "╮"]
    return [(start + 1, end) for start, end in zip(starts, ends)]


def pane_text(lines: list[str], columns: tuple[int, int]) -> str:
    start, end = columns
    body = [line[start:end].strip() for line in lines if len(line) > start and line[start - 1 : start] == "│"]
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
        check=True,
        env=env,
        timeout=30,
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
    return any(haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))
