"""Every format reader, auto-detection, and the same mail read from four formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.corpus import ImportOptions, import_corpus
from core.corpus.detect import detect_format
from core.store import Store
from tests.corpus_helpers import ann_mails, write_csv, write_eml_tree, write_jsonl, write_maildir, write_mbox


def stored(store: Store, profile: str) -> list[tuple]:
    documents = store.documents(store.get_profile(profile).id)
    return sorted(
        (d.text, d.previous_context, d.signoff, d.sender, d.subject, d.date, d.message_id, d.recipients, d.split)
        for d in documents
    )


def test_mbox_maildir_eml_and_jsonl_give_the_same_documents(tmp_path: Path):
    mails = ann_mails()
    sources = {
        "mbox": write_mbox(tmp_path / "mail.mbox", mails),
        "maildir": write_maildir(tmp_path / "Maildir", mails),
        "eml": write_eml_tree(tmp_path / "eml", mails),
        "jsonl": write_jsonl(tmp_path / "mail.jsonl", mails),
    }
    results = {}
    with Store.open(tmp_path / "store.sqlite3") as store:
        for name, path in sources.items():
            report = import_corpus(store, path, ImportOptions(profile=name))
            assert report.format == name
            assert report.imported == 12 and report.dropped["not_from_sender"] == 2, report.to_dict()
            results[name] = stored(store, name)
    assert results["mbox"] == results["maildir"] == results["eml"] == results["jsonl"]
    texts = [row[0] for row in results["mbox"]]
    assert all("Original Message" not in t and ">" not in t for t in texts)
    assert all(t.endswith("Thanks,\nAnn") for t in texts if "dock" in t)  # the closing is Ann's own words
    previous = {row[1] for row in results["mbox"]}
    assert "When does 0 leave?" in previous and "Is 1 on time?" in previous
    assert sum(1 for row in results["mbox"] if row[-1] == "test") == 2  # 20% of 12, rounded from 2.4


def test_csv_with_text_field_and_metadata_columns(tmp_path: Path):
    path = write_csv(tmp_path / "posts.csv", ann_mails(5), text_column="message")
    with Store.open(tmp_path / "s.sqlite3") as store:
        report = import_corpus(
            store, path, ImportOptions(profile="csv", text_field="message", fields={"subject": "title"})
        )
        assert report.format == "csv" and report.imported == 5
        documents = store.documents(store.get_profile("csv").id)
    assert {d.sender for d in documents} == {"ann@example.com"}
    assert documents[0].subject.startswith("Shipment")
    assert documents[0].date == "2024-03-04T09:00:00+01:00"


def test_text_folder_one_document_per_file(tmp_path: Path):
    folder = tmp_path / "notes"
    (folder / "2023").mkdir(parents=True)
    (folder / "a.md").write_text("---\ntitle: First post\n---\nI love quiet mornings and strong coffee.\n")
    (folder / "2023" / "b.txt").write_text("Rain again today, so the garden can wait.\n", encoding="cp1252")
    (folder / "2023" / "c.txt").write_bytes("Smörgåsbord on Sunday with the whole family.\n".encode())
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with Store.open(tmp_path / "s.sqlite3") as store:
        report = import_corpus(store, folder, ImportOptions(profile="blog", genre="post"))
        documents = store.documents(store.get_profile("blog").id)
    assert report.format == "text" and report.imported == 3
    assert report.dropped["other_format"] == 1
    assert {d.subject for d in documents} == {"First post", "b", "c"}
    assert any(d.text == "Smörgåsbord on Sunday with the whole family." for d in documents)
    assert store_genre(tmp_path, "blog") == "post"


def store_genre(tmp_path: Path, name: str) -> str:
    with Store.open(tmp_path / "s.sqlite3") as store:
        return store.get_profile(name).genre


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("mail.mbox", b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\n\nhi\n", "mbox"),
        ("export", b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\n\nhi\n", "mbox"),
        ("message", b"From: a@b\nTo: c@d\nSubject: x\n\nhi\n", "eml"),
        ("data.jsonl", b'{"text": "hi"}\n', "jsonl"),
        ("rows", b'{"text": "hi"}\n', "jsonl"),
        ("table.csv", b"text\nhi\n", "csv"),
        ("note.md", b"# hi\n", "text"),
    ],
)
def test_detect_single_files(tmp_path: Path, name: str, content: bytes, expected: str):
    path = tmp_path / name
    path.write_bytes(content)
    assert detect_format(path) == expected


def test_detect_folders(tmp_path: Path):
    mails = ann_mails(3)
    assert detect_format(write_maildir(tmp_path / "md", mails)) == "maildir"
    assert detect_format(write_eml_tree(tmp_path / "eml", mails)) == "eml"
    bare = tmp_path / "bare"
    bare.mkdir()
    for i, mail in enumerate(mails):
        (bare / f"{i}.").write_bytes(mail.rfc822())  # the Enron maildir naming
    assert detect_format(bare) == "eml"
    with Store.open(tmp_path / "s.sqlite3") as store:
        assert import_corpus(store, bare, ImportOptions(profile="bare")).imported == 3


def test_mbox_from_lines_in_bodies_are_unescaped(tmp_path: Path):
    path = tmp_path / "m.mbox"
    path.write_bytes(
        b"From a@b Mon Jan  1 00:00:00 2024\nFrom: Ann <ann@example.com>\nSubject: one\n\n"
        b">From the start, this plan was sound and we should keep it.\n\n"
        b"From a@b Mon Jan  1 00:00:00 2024\nFrom: Ann <ann@example.com>\nSubject: two\n\nSecond message with enough words.\n"
    )
    with Store.open(tmp_path / "s.sqlite3") as store:
        report = import_corpus(store, path, ImportOptions(profile="m"))
        texts = [d.text for d in store.documents(store.get_profile("m").id)]
    assert report.messages_seen == 2
    assert "From the start, this plan was sound and we should keep it." in texts


def test_a_folder_of_mbox_files_without_extensions(tmp_path: Path):
    """A Thunderbird profile folder: `Inbox` and `Sent` are mbox files."""
    folder = tmp_path / "Mail"
    folder.mkdir()
    mails = ann_mails(6)
    write_mbox(folder / "Sent", mails[:4])
    write_mbox(folder / "Archive", mails[4:])
    assert detect_format(folder) == "mbox"
    with Store.open(tmp_path / "s.sqlite3") as store:
        report = import_corpus(store, folder, ImportOptions(profile="tb"))
    assert report.files_seen == 2 and report.messages_seen == 8 and report.imported == 6


def test_semicolon_csv_with_bom(tmp_path: Path):
    path = tmp_path / "reviews.csv"
    path.write_bytes(
        '\ufeffstars;review\n5;"Crushes ice; loud; worth it."\n2;Broke after a week of light use.\n'.encode("utf-8")
    )
    with Store.open(tmp_path / "s.sqlite3") as store:
        report = import_corpus(store, path, ImportOptions(profile="r", text_field="review", genre="review"))
        texts = sorted(d.text for d in store.documents(store.get_profile("r").id))
    assert report.imported == 2
    assert texts == ["Broke after a week of light use.", "Crushes ice; loud; worth it."]
