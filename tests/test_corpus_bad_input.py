"""Every kind of bad input: a one-line error or a counted skip, never a traceback or a
half-written store, and a non-zero exit when nothing was imported."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.store import Store
from tests.corpus_helpers import ann_mails, write_csv, write_eml_tree, write_mbox


def assert_one_line_error(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


def assert_no_profile(pa_home: Path, name: str) -> None:
    store_file = pa_home / "data" / "pa.sqlite3"
    if not store_file.exists():
        return
    with Store.open(store_file) as store:
        assert store.find_profile(name) is None  # documents and import_log rows hang off a profile


def test_missing_path(pa, pa_home: Path, tmp_path: Path):
    missing = tmp_path / "no-such-mail"
    assert_one_line_error(pa("import", missing, "--profile", "p"), 2, str(missing), "no such file")
    assert_no_profile(pa_home, "p")


def test_unreadable_files_are_counted_and_a_lone_one_is_an_error(pa, pa_home: Path, tmp_path: Path):
    folder = write_eml_tree(tmp_path / "mail", ann_mails(4))
    (folder / "gone.eml").symlink_to(tmp_path / "deleted.eml")  # a dangling link cannot be opened
    locked = folder / "locked.eml"
    locked.write_bytes(ann_mails(1)[0].rfc822())
    locked.chmod(0)
    result = pa("import", folder, "--profile", "p", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["dropped"]["unreadable"] == (1 if os.geteuid() == 0 else 2)  # root reads mode-0 files
    assert report["imported"] == 4
    assert_one_line_error(pa("import", folder / "gone.eml", "--profile", "q"), 1, "broken link")
    if os.geteuid() != 0:
        assert_one_line_error(pa("import", locked, "--profile", "q"), 1, "permission denied")
    assert_no_profile(pa_home, "q")


def test_binary_garbage(pa, pa_home: Path, tmp_path: Path):
    garbage = bytes(range(256)) * 64
    lone = tmp_path / "blob"
    lone.write_bytes(garbage)
    assert_one_line_error(pa("import", lone, "--profile", "p"), 1, "binary data")
    named = tmp_path / "blob.eml"
    named.write_bytes(garbage)
    assert_one_line_error(pa("import", named, "--profile", "p"), 1, "nothing imported", "binary 1")
    folder = write_eml_tree(tmp_path / "mail", ann_mails(3))
    (folder / "junk.eml").write_bytes(garbage)
    report = json.loads(pa("import", folder, "--profile", "p", "--json").stdout)
    assert report["dropped"]["binary"] == 1 and report["imported"] == 3


@pytest.mark.timeout(120)
def test_a_100_mb_file_without_a_newline(pa, pa_home: Path, tmp_path: Path):
    big = tmp_path / "big.txt"
    chunk = b"word " * 200_000  # 1 MB
    with open(big, "wb") as out:
        for _ in range(100):
            out.write(chunk)
    assert big.stat().st_size == 100_000_000
    assert_one_line_error(pa("import", big, "--profile", "p"), 1, "nothing imported", "too_large 1")
    as_mbox = big.rename(tmp_path / "big.mbox")
    with open(as_mbox, "r+b") as handle:
        handle.write(b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\n\n")
    assert_one_line_error(pa("import", as_mbox, "--profile", "p"), 1, "too_large 1")
    as_jsonl = as_mbox.rename(tmp_path / "big.jsonl")
    assert_one_line_error(pa("import", as_jsonl, "--profile", "p"), 1, "too_large")
    as_csv = as_jsonl.rename(tmp_path / "big.csv")
    with open(as_csv, "r+b") as handle:  # one line again: no header row to read
        handle.write(b"x" * 64)
    assert_one_line_error(pa("import", as_csv, "--profile", "p", "--text-field", "text"), 1, "not a CSV header row")
    assert_no_profile(pa_home, "p")
    as_csv.unlink()  # pytest keeps recent tmp folders; do not leave 100 MB behind


def test_truncated_and_broken_mime(pa, pa_home: Path, tmp_path: Path):
    raw = [m.rfc822() for m in ann_mails(3)[:3]]  # Ann's three, not Bo's
    broken = [
        raw[0][:70],  # cut inside the headers
        b'From: Ann Lee <ann@example.com>\nContent-Type: multipart/mixed; boundary="zz"\n\n--zz\nContent-Type: text/plain\n\nThe first part is here but the message stops',
        b"From: Ann Lee <ann@example.com>\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not base64 at all, but words anyway!!!",
        b"From: Ann Lee <ann@example.com>\nContent-Type: multipart/alternative\n\nno boundary parameter, just words in the body",
    ]
    path = tmp_path / "broken.mbox"
    with open(path, "wb") as out:
        for item in raw + broken:
            out.write(b"From x Mon Jan  1 00:00:00 2024\n" + item + b"\n\n")
    result = pa("import", path, "--profile", "p", "--json")
    assert result.exit_code == 0 and "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["messages_seen"] == 7
    assert report["imported"] == 6  # the three good ones and the three broken ones that still hold words
    assert report["dropped"] == {"empty": 1}  # cut inside its headers: no body left


def test_undeclared_and_wrong_charsets(pa, pa_home: Path, tmp_path: Path):
    folder = tmp_path / "mail"
    folder.mkdir()
    text = "Grüße aus Köln, wir sehen uns am Dienstag."
    (folder / "undeclared.eml").write_bytes(b"From: Ann <ann@example.com>\nSubject: a\n\n" + text.encode("utf-8"))
    (folder / "wrong.eml").write_bytes(
        b"From: Ann <ann@example.com>\nSubject: b\nContent-Type: text/plain; charset=utf-8\n\n"
        + (text + " Bis bald.").encode("cp1252")
    )
    (folder / "bogus.eml").write_bytes(
        b"From: Ann <ann@example.com>\nSubject: c\nContent-Type: text/plain; charset=klingon-8\n\n"
        + (text + " Tschüss.").encode("utf-8")
    )
    assert pa("import", folder, "--profile", "p").exit_code == 0
    with Store.open(pa_home / "data" / "pa.sqlite3") as store:
        texts = sorted(d.text for d in store.documents(store.get_profile("p").id))
    assert texts == [text, text + " Bis bald.", text + " Tschüss."]


def test_empty_folder_and_empty_file(pa, pa_home: Path, tmp_path: Path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    assert_one_line_error(pa("import", empty, "--profile", "p"), 1, "folder is empty")
    nothing = tmp_path / "nothing.mbox"
    nothing.touch()
    assert_one_line_error(pa("import", nothing, "--profile", "p"), 1, "file is empty")
    assert_no_profile(pa_home, "p")


def test_csv_without_the_named_column(pa, pa_home: Path, tmp_path: Path):
    path = write_csv(tmp_path / "posts.csv", ann_mails(3), text_column="message")
    assert_one_line_error(
        pa("import", path, "--profile", "p", "--text-field", "body"),
        2,
        "no column 'body'",
        "author, title, date, message",
    )
    assert_one_line_error(pa("import", path, "--profile", "p", "--field", "sender=who"), 2, "no column 'who'")
    assert_one_line_error(pa("import", path, "--profile", "p", "--field", "nonsense"), 2, "KEY=COLUMN")
    assert_no_profile(pa_home, "p")


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "x y", "", "-dash", "a" * 65, "nul\x00"])
def test_profile_names_with_path_characters(pa, pa_home: Path, tmp_path: Path, name: str):
    source = write_mbox(tmp_path / "m.mbox", ann_mails(2))
    result = pa("import", source, "--profile", name)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert not (pa_home / "data" / "profiles").exists()
    assert not (tmp_path / "escape").exists()
    if (pa_home / "data" / "pa.sqlite3").exists():
        with Store.open(pa_home / "data" / "pa.sqlite3") as store:
            assert store.list_profiles() == []


def test_unknown_format_and_genre(pa, tmp_path: Path):
    source = write_mbox(tmp_path / "m.mbox", ann_mails(2))
    assert_one_line_error(pa("import", source, "--profile", "p", "--format", "pst"), 2, "--format 'pst'")
    assert_one_line_error(pa("import", source, "--profile", "p", "--genre", "poem"), 2, "--genre 'poem'")
    unknown = tmp_path / "notes.bin"
    unknown.write_text("just some words without any structure\n")
    assert_one_line_error(pa("import", unknown, "--profile", "p"), 2, "pass --format")


def test_nothing_usable_exits_nonzero_and_leaves_no_profile(pa, pa_home: Path, tmp_path: Path):
    source = write_mbox(tmp_path / "m.mbox", ann_mails(3))
    result = pa("import", source, "--profile", "p", "--sender", "nobody@example.com")
    assert_one_line_error(result, 1, "nothing imported", "not_from_sender 5")
    assert "files seen" in result.stdout  # the summary is still shown
    assert_no_profile(pa_home, "p")
