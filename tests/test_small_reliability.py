"""The smaller holes: names with a trailing newline, a distillation where everything failed,
imports that crashed, and store errors named by their cause."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from core.errors import StoreError, UsageError
from core.paths import resolve_paths
from core.store import Store, store_error, validate_profile_name
from tests.corpus_helpers import ann_mails, write_mbox
from tests.openai_loopback import LoopbackServer


@pytest.mark.parametrize("name", ["ann\n", "ann\r\n", "\nann", "a/b", ""])
def test_profile_names_with_a_trailing_newline_or_a_slash_are_refused(name):
    with pytest.raises(UsageError, match="is not allowed"):
        validate_profile_name(name)


def test_a_distillation_where_every_stage_failed_exits_non_zero(pa, pa_home, tmp_path):
    assert pa("import", write_mbox(tmp_path / "ann.mbox", ann_mails()), "--profile", "ann").exit_code == 0
    with LoopbackServer(delay=0.0, responder=lambda messages: "I cannot help with that.") as server:
        (pa_home / "config.toml").write_text(
            f'[models]\nlarge = "openai:loopback"\n[openai]\nbase_url = "{server.base_url}"\n'
            "[distill]\nmax_attempts = 1\nintent_temperatures = [1.0]\n",
            encoding="utf-8",
        )
        result = pa("distill", "--profile", "ann", "--limit", "2", "--stage", "intents", "--json")
    assert result.exit_code == 1, result.stderr
    assert json.loads(result.stdout)["stages"]["intent"]["failed"] == 2  # the summary is still printed
    assert result.stderr.startswith("error: every stage that ran failed (2 failure(s), none ok)")
    assert "--retry-failed" in result.stderr and "Traceback" not in result.stderr


def test_a_crashed_import_row_is_closed_by_the_next_import(pa, tmp_path):
    mbox = write_mbox(tmp_path / "ann.mbox", ann_mails())
    assert pa("import", mbox, "--profile", "ann").exit_code == 0
    with Store.open(resolve_paths().store_file) as store:
        with store.transaction() as db:  # what a kill -9 mid-import leaves
            db.execute("INSERT INTO import_log (profile_id, source, format) VALUES (1, 'crashed.mbox', 'mbox')")
    assert pa("import", write_mbox(tmp_path / "more.mbox", ann_mails(16)[12:]), "--profile", "ann").exit_code == 0
    with Store.open(resolve_paths().store_file) as store:
        rows = {r["source"]: r["status"] for r in store.query("SELECT source, status FROM import_log")}
    assert rows["crashed.mbox"] == "failed" and "running" not in rows.values()


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("attempt to write a readonly database", r"is read-only .* check their permissions"),
        ("database is locked", r"stayed locked by another program"),
        ("unable to open database file", r"cannot open the store .* may write to it"),
        ("database or disk is full", r"the disk is full"),
    ],
)
def test_store_errors_say_what_is_wrong_not_that_it_is_not_a_store(reason, expected):
    error = store_error(Path("/data/pa.sqlite3"), sqlite3.OperationalError(reason))
    assert isinstance(error, StoreError) and "not a pa store" not in str(error)
    assert __import__("re").search(expected, str(error))


def test_a_file_that_is_not_sqlite_is_still_called_not_a_store(tmp_path):
    bad = tmp_path / "pa.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a pa store .* move it aside"):
        Store.open(bad)
