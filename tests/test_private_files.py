"""Personal data is private: folders 0700, files 0600, and older files fixed (and said so) on open."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.paths import resolve_paths
from tests.corpus_helpers import ann_mails, write_mbox


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_a_fresh_import_writes_nothing_others_can_read(pa, tmp_path):
    os.umask(0o022)  # the usual default: files 0644, folders 0755
    result = pa("import", write_mbox(tmp_path / "ann.mbox", ann_mails()), "--profile", "ann")
    assert result.exit_code == 0, result.stderr
    data = resolve_paths().data_dir
    found = modes(data)
    assert "pa.sqlite3" in found
    assert {name: mode for name, mode in found.items() if mode & 0o077} == {}
    assert found["."] == 0o700 and found["pa.sqlite3"] == 0o600
    assert "readable by other users" not in result.stderr


def test_files_left_readable_by_an_older_pa_are_fixed_on_open_and_reported(pa, tmp_path):
    os.umask(0o022)
    assert pa("import", write_mbox(tmp_path / "ann.mbox", ann_mails()), "--profile", "ann").exit_code == 0
    data = resolve_paths().data_dir
    report = data / "profiles" / "ann" / "reports" / "eval.md"
    report.parent.mkdir(parents=True)
    report.write_text("Ann's mail, judged", encoding="utf-8")
    for path in (data, data / "profiles", data / "profiles" / "ann", report.parent):
        path.chmod(0o755)
    for path in (data / "pa.sqlite3", report):
        path.chmod(0o644)

    result = pa("corpus", "list", "--profile", "ann")
    assert result.exit_code == 0, result.stderr
    assert "6 file(s) and folder(s)" in result.stderr and "made them private" in result.stderr
    assert {name: mode for name, mode in modes(data).items() if mode & 0o077} == {}
    again = pa("corpus", "list", "--profile", "ann")
    assert "private" not in again.stderr  # said once, when it was fixed


def test_an_unusable_data_folder_is_one_line_not_a_traceback(pa, pa_home, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("PA_HOME", str(blocker / "pa"))
    result = pa("corpus", "list", "--profile", "ann")
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith("error: ") and "set PA_HOME" in result.stderr and "Traceback" not in result.stderr
