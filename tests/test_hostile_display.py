"""Hostile names and headers are shown as text: one line for every failure, never a traceback,
never markup or a terminal escape sequence from the data."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from core.paths import resolve_paths
from core.store import Store

MAIL = (
    b"From: Ann <ann@example.com>\nTo: bo@example.com\nSubject: Re: [/] odd \x1b]0;pwned\x07 [bold]loud[/bold] \x1b[2J\n"
    b"Message-ID: <m-%d@example.com>\n\nHello Bo, shipment %d leaves on Tuesday \x1b[31mand should arrive soon.\n\nAnn\n"
)


def write(path: bytes, index: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(MAIL % (index, index))


def test_markup_escapes_and_undecodable_names_in_a_corpus_are_shown_as_text(pa, tmp_path):
    root = os.fsencode(tmp_path / "mail [/x]")
    write(root + b"/[/bold]/a.eml", 1)
    write(root + b"/bad\xff\xfename.eml", 2)
    imported = pa("import", os.fsdecode(root), "--profile", "ann")
    assert imported.exit_code == 0, imported.stderr
    assert "│ ann@example.com │    2 │        2 │" in imported.stdout

    listing = pa("corpus", "list", "--profile", "ann")
    shown = pa("corpus", "show", "1", "--profile", "ann")
    second = pa("corpus", "show", "2", "--profile", "ann")
    rules = pa("rules", "show", "--profile", "ann")
    for result in (imported, listing, shown, second, rules):
        assert result.exit_code == 0, result.stderr
        assert "Traceback" not in result.stderr and "\x1b" not in result.stdout + result.stderr
    assert "Re: [/] odd  [bold]loud[/bold]" in shown.stdout  # the markup is text, the escapes are gone
    assert "pwned" not in shown.stdout and "should arrive soon" in shown.stdout
    assert "bad\\xff\\xfename.eml" in shown.stdout + second.stdout  # the undecodable bytes, visibly


def test_a_store_locked_too_long_is_one_line(pa, tmp_path, monkeypatch):
    from tests.corpus_helpers import ann_mails, write_mbox

    mbox = write_mbox(tmp_path / "ann.mbox", ann_mails())
    assert pa("import", mbox, "--profile", "ann").exit_code == 0
    monkeypatch.setattr(Store, "busy_timeout_s", 0.2)
    other = sqlite3.connect(resolve_paths().store_file, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        result = pa("import", write_mbox(tmp_path / "more.mbox", ann_mails(20)[12:]), "--profile", "ann")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "stayed locked by another program" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_store_made_by_another_process_meanwhile_is_not_migrated_twice(tmp_path: Path):
    path = tmp_path / "pa.sqlite3"
    first = Store.open(path)
    second = Store.__new__(Store)
    second.__init__(sqlite3.connect(path, isolation_level=None, check_same_thread=False), path)
    second.connection.row_factory = sqlite3.Row
    # As if `second` had read version 0 before `first` migrated: it must skip, not fail.
    original = Store.schema_version
    try:
        Store.schema_version = property(lambda self: 0)  # type: ignore[assignment]
        second._migrate()
    finally:
        Store.schema_version = original  # type: ignore[assignment]
    assert second.schema_version == first.schema_version
