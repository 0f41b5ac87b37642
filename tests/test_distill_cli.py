"""`pa distill` and `pa rules show` end to end: real Enron mail imported with `pa import`, and
a real OpenAI-compatible HTTP server on 127.0.0.1 as M_L (tests/openai_loopback.py).

The kill -9 test runs `pa distill` in a subprocess, kills it while a request is in flight and
checks, from the server's own log, that the re-run never asks again for an answer it got.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.prompts import load_template
from tests.conftest import REPO
from tests.openai_loopback import MODEL, LoopbackServer

SENDER = "staab-t"


@pytest.fixture
def server():
    with LoopbackServer(delay=0.01) as running:
        yield running


def write_config(home: Path, base_url: str, *, priced: bool = True) -> None:
    home.mkdir(parents=True, exist_ok=True)
    price = "price_input_per_mtok = 2.5\nprice_output_per_mtok = 10.0\n" if priced else ""
    (home / "config.toml").write_text(
        f'[models]\nlarge = "openai:{MODEL}"\n\n[openai]\nbase_url = "{base_url}"\nmax_retries = 0\n{price}',
        encoding="utf-8",
    )


def import_emails(pa, enron_dir: Path, tmp_path: Path, count: int, profile: str = "staab") -> None:
    source = tmp_path / "mail"
    source.mkdir()
    files = sorted((enron_dir / SENDER / "sent_items").glob("*.eml"), key=lambda p: int(p.stem))[:count]
    for file in files:
        shutil.copy(file, source / file.name)
    result = pa("import", source, "--profile", profile, "--json")
    assert result.exit_code == 0, result.stderr


def test_distill_json_summary_then_a_rerun_costs_nothing(pa, pa_home, server, enron_dir, tmp_path):
    write_config(pa_home, server.base_url)
    import_emails(pa, enron_dir, tmp_path, 6)
    result = pa("distill", "--profile", "staab", "--json", "--concurrency", "4")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    stages = summary["stages"]
    documents = summary["documents"]
    assert stages["intent"]["ok"] == documents and stages["intent"]["failed"] == 0
    trained = stages["rules"]["total"]
    assert (
        0 < trained <= documents
        and stages["rules"]["ok"] == stages["draft"]["ok"] == stages["nobaseline_rules"]["ok"] == trained
    )
    assert summary["calls"] == 3 * documents + 3 * trained == len(server.answered)
    assert summary["cost"] is not None and summary["cost"] > 0
    assert summary["model"] == f"openai:{MODEL}"

    again = pa("distill", "--profile", "staab", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["calls"] == 0
    assert len(server.answered) == summary["calls"]


def test_distill_shows_progress_and_a_table(pa, pa_home, server, enron_dir, tmp_path):
    write_config(pa_home, server.base_url)
    import_emails(pa, enron_dir, tmp_path, 3)
    result = pa("distill", "--profile", "staab", "--stage", "intents", "--limit", "2")
    assert result.exit_code == 0, result.stderr
    assert "intents" in result.stderr  # the progress bars go to stderr
    assert "model calls" in result.stdout and "estimated cost $" in result.stdout
    assert len(server.answered) == 6  # two documents, three intent temperatures


def test_rules_show_lists_and_shows_side_by_side(pa, pa_home, server, enron_dir, tmp_path):
    write_config(pa_home, server.base_url, priced=False)
    import_emails(pa, enron_dir, tmp_path, 4)
    assert pa("distill", "--profile", "staab", "--json").exit_code == 0
    listing = pa("rules", "show", "--profile", "staab", "--json")
    assert listing.exit_code == 0
    items = json.loads(listing.stdout)
    train = next(item for item in items if item["document"]["split"] == "train")
    assert set(train["stages"]) == {"intent", "draft", "rules", "nobaseline_rules"}
    shown = pa("rules", "show", "--profile", "staab", "--doc", train["document"]["id"])
    assert shown.exit_code == 0, shown.stderr
    for text in (
        "intent",
        "zero-shot draft",
        "rules",
        "I sent the November",
        "about 10 words",
        "no-baseline rules",
        f"email.rules v{load_template('email.rules').version}",
    ):
        assert text in shown.stdout
    table = pa("rules", "show", "--profile", "staab")
    assert table.exit_code == 0 and "nobaseline rules" in table.stdout
    # 4 intents, and draft, rules and no-baseline rules for each training document.
    assert table.stdout.count(" ok ") == 4 + 3 * sum(1 for item in items if item["document"]["split"] == "train")


def test_bad_input_is_one_line_and_the_right_exit_code(pa, pa_home, server, enron_dir, tmp_path):
    write_config(pa_home, server.base_url)
    missing = pa("distill", "--profile", "nobody")
    assert missing.exit_code == 2 and missing.stderr.startswith("error: no profile named 'nobody'")
    import_emails(pa, enron_dir, tmp_path, 1)
    bad_stage = pa("distill", "--profile", "staab", "--stage", "everything")
    assert bad_stage.exit_code == 2 and "everything" in bad_stage.stderr
    bad_doc = pa("rules", "show", "--profile", "staab", "--doc", "999")
    assert bad_doc.exit_code == 2 and "no document with id 999" in bad_doc.stderr
    assert "Traceback" not in missing.stderr + bad_stage.stderr + bad_doc.stderr


def test_an_unreachable_server_stops_the_run_without_blaming_documents(pa, pa_home, enron_dir, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    write_config(pa_home, f"http://127.0.0.1:{port}/v1")
    import_emails(pa, enron_dir, tmp_path, 2)
    result = pa("distill", "--profile", "staab")
    assert result.exit_code == 1 and "cannot reach" in result.stderr and "Traceback" not in result.stderr
    from core.store import open_store

    with open_store() as store:
        assert store.query("SELECT COUNT(*) AS n FROM distillations")[0]["n"] == 0


def test_kill_9_mid_run_then_resume_never_repeats_an_answered_call(pa, pa_home, enron_dir, tmp_path):
    with LoopbackServer(delay=0.01, hold_after=11) as server:
        write_config(pa_home, server.base_url)
        import_emails(pa, enron_dir, tmp_path, 5)
        env = {**os.environ, "PA_HOME": str(pa_home), "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "core.cli", "distill", "--profile", "staab", "--concurrency", "3", "--json"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # All three slots wait on the server: every answer sent so far has been committed.
            assert server.wait_held(3, 60), "the run never reached the held requests"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        assert process.returncode == -signal.SIGKILL
        answered_before = list(server.answered)
        assert len(answered_before) == 11

        server.hold_after = None
        resumed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout)
        answered_after = server.answered[len(answered_before) :]
        assert set(answered_before).isdisjoint(answered_after), "an answered call was asked again"
        assert summary["calls"] == len(answered_after)
        total = len(answered_before) + len(answered_after)
        assert total == 3 * summary["documents"] + 3 * summary["stages"]["rules"]["total"]
        assert all(stats["failed"] == 0 for stats in summary["stages"].values())
