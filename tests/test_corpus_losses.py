"""Nothing is lost in silence: each awkward input is read correctly or counted as a drop with its reason.

The inputs come from `tests.hostile_corpus` (generated, nothing large committed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests import hostile_corpus as hostile


def imported(pa, path: Path, *extra: object) -> dict:
    result = pa("import", path, "--profile", "p", "--json", *extra)
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {"error": result.stderr}


def texts(pa) -> list[str]:
    listing = pa("corpus", "list", "--profile", "p", "--json")
    return [row["text"] for row in json.loads(listing.stdout)]


def test_an_mbox_without_from_separator_lines_is_split_into_its_messages(pa, tmp_path):
    report = imported(pa, hostile.mbox_without_separators(tmp_path, 5))
    assert (report["messages_seen"], report["imported"], report["dropped"]) == (5, 5, {})
    assert sorted(texts(pa)) == sorted(hostile.BODY.format(i=i) for i in range(5))


def test_a_cr_only_mbox_is_read_line_by_line(pa, tmp_path):
    report = imported(pa, hostile.mbox_cr_only(tmp_path, 5))
    assert (report["messages_seen"], report["imported"]) == (5, 5)
    assert all("\r" not in text for text in texts(pa))


def test_text_nested_500_multiparts_deep_is_found(pa, tmp_path):
    report = imported(pa, hostile.deeply_nested_multipart(tmp_path))
    assert report["imported"] == 1, report
    assert texts(pa) == [hostile.BODY.format(i="deep")]


def test_utf16_text_files_are_text_not_binary(pa, tmp_path):
    hostile.utf16_text_files(tmp_path / "notes")
    report = imported(pa, tmp_path / "notes")
    assert (report["imported"], report["dropped"]) == (2, {})
    assert sorted(texts(pa)) == sorted("Dear Bo, " + hostile.BODY.format(i=i) for i in ("u16 bom", "u16 le"))


def test_a_shift_jis_file_is_decoded_not_stored_as_mojibake(pa, tmp_path):
    report = imported(pa, hostile.shift_jis_text_file(tmp_path / "memo"))
    assert report["imported"] == 1
    assert texts(pa) == [hostile.JAPANESE]


def test_a_shift_jis_body_labelled_latin_1_is_decoded_by_its_bytes(pa, tmp_path):
    report = imported(pa, hostile.mislabelled_shift_jis_email(tmp_path / "mail"))
    assert report["imported"] == 1, report
    assert texts(pa) == [hostile.JAPANESE]


def test_a_quoted_csv_field_over_the_limit_is_one_drop_and_the_parser_stays_in_step(pa, pa_home, tmp_path):
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text("[corpus]\nmax_message_bytes = 100000\n", encoding="utf-8")
    path = hostile.csv_with_a_huge_multiline_field(tmp_path / "csv", 300_000, rows_after=3)
    report = imported(pa, path, "--text-field", "message")
    assert report["dropped"] == {"too_large": 1}, report["dropped"]
    assert (report["messages_seen"], report["imported"]) == (5, 4)
    assert sorted(texts(pa)) == sorted(hostile.BODY.format(i=i) for i in ("before", "after 0", "after 1", "after 2"))


def test_an_unreadable_subfolder_is_counted_with_its_reason(pa, tmp_path, monkeypatch):
    from tests.corpus_helpers import ann_mails, write_eml_tree

    root = write_eml_tree(tmp_path / "mail", ann_mails(6))
    locked = root / "y0"
    real_scandir = os.scandir

    def scandir(path="."):  # root may read any folder: refuse this one as permissions would
        if Path(os.fsdecode(path)) == locked:
            raise PermissionError(13, "Permission denied", str(locked))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = imported(pa, root)
    assert report["dropped"].get("unreadable_folder") == 1
    assert str(locked) in report["examples"]["unreadable_folder"][0]
    assert report["imported"] == 3  # the messages in y1
