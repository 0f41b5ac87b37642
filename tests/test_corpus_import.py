"""The import pipeline and the `pa import` / `pa corpus` commands."""

from __future__ import annotations

import json
from pathlib import Path

from core.corpus import ImportOptions, import_corpus, pipeline
from core.events import Progress
from core.store import Store
from tests.conftest import REPO
from tests.corpus_helpers import Mail, ann_mails, write_mbox

SAMPLE = REPO / "examples" / "sample-corpus"


def open_home_store(pa_home: Path) -> Store:
    return Store.open(pa_home / "data" / "pa.sqlite3")


def test_readme_quickstart_imports_the_sample_corpus(pa, pa_home: Path):
    result = pa("import", SAMPLE, "--profile", "sample")
    assert result.exit_code == 0, result.stderr
    for words in (
        "files seen",
        "imported",
        "not_from_sender",
        "too_short",
        "forward_only",
        "duplicate",
        "maya@lindqvist-studio.example",
    ):
        assert words in result.stdout
    stats = pa("corpus", "stats", "--profile", "sample", "--json")
    data = json.loads(stats.stdout)
    assert data["documents"] == 20 and (data["train"], data["test"]) == (16, 4)
    assert data["imports"][0]["status"] == "done"
    with open_home_store(pa_home) as store:
        documents = store.documents(store.get_profile("sample").id)
    texts = "\n".join(d.text for d in documents)
    assert "-- \n" not in texts and "Lindqvist Studio, Gothenburg" not in texts and "confidential" not in texts
    assert "wrote:" not in texts and "Original Message" not in texts
    assert any("Två veckor" in d.text for d in documents)  # quoted-printable UTF-8
    assert any(d.text.startswith("Hi Jonas,\n\nPaid the oak invoice") for d in documents)  # base64 HTML only


def test_reimport_adds_nothing_twice_and_exits_zero(pa, pa_home: Path):
    assert pa("import", SAMPLE, "--profile", "sample").exit_code == 0
    again = pa("import", SAMPLE, "--profile", "sample", "--json")
    assert again.exit_code == 0
    report = json.loads(again.stdout)
    assert report["imported"] == 0 and report["dropped"]["duplicate"] == 21
    assert report["sender_choice"] == "the profile's sender"
    with open_home_store(pa_home) as store:
        assert sum(store.count_documents(store.get_profile("sample").id).values()) == 20


def test_dry_run_stores_nothing(pa, pa_home: Path):
    result = pa("import", SAMPLE, "--profile", "sample", "--dry-run", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["imported"] == 20
    with open_home_store(pa_home) as store:
        assert store.find_profile("sample") is None


def test_crash_mid_import_keeps_committed_batches_and_a_rerun_continues(pa, pa_home: Path, tmp_path: Path, monkeypatch):
    source = write_mbox(tmp_path / "ann.mbox", ann_mails(30))
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text("[corpus]\nbatch_size = 5\n")
    real = pipeline.document_from_record
    calls = {"n": 0}

    def crash_on_the_13th(record, rules):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt
        return real(record, rules)

    monkeypatch.setattr(pipeline, "document_from_record", crash_on_the_13th)
    crashed = pa("import", source, "--profile", "ann")
    assert crashed.exit_code == 130 and "run the same command to continue" in crashed.stderr
    with open_home_store(pa_home) as store:
        profile = store.get_profile("ann")
        assert sum(store.count_documents(profile.id).values()) == 10  # two whole batches, not 12
        log = store.query("SELECT status, imported FROM import_log")
        assert [tuple(row) for row in log] == [("failed", 10)]
    monkeypatch.setattr(pipeline, "document_from_record", real)
    rerun = pa("import", source, "--profile", "ann", "--json")
    assert rerun.exit_code == 0
    report = json.loads(rerun.stdout)
    assert report["imported"] == 20 and report["dropped"]["duplicate"] == 10
    with open_home_store(pa_home) as store:
        counts = store.count_documents(store.get_profile("ann").id)
    assert counts == {"train": 24, "test": 6}


def test_sender_option_and_default_sender(tmp_path: Path):
    mails = ann_mails(6) + [
        Mail("Ann Lee <ann.lee@home.example>", "Weekend", "Are we still on for the hike this weekend?\n", "<h1@x>"),
        Mail("Annie Other <ann@other.example>", "Hi", "Unrelated person with a similar name here.\n", "<o1@x>"),
    ]
    source = write_mbox(tmp_path / "m.mbox", mails)
    with Store.open(tmp_path / "s.sqlite3") as store:
        report = import_corpus(store, source, ImportOptions(profile="auto"))
        assert report.senders == ["ann.lee@home.example", "ann@example.com"]  # same full name joins
        assert "most frequent From (6 of 10 messages)" in report.sender_choice
        assert report.imported == 7 and report.dropped["not_from_sender"] == 3
        bo = import_corpus(store, source, ImportOptions(profile="bo", senders=("BO@example.com",)))
        assert bo.imported == 2 and bo.senders == ["bo@example.com"]
        assert store.get_profile("bo").sender == "bo@example.com"


def test_progress_events_reach_the_total(tmp_path: Path):
    source = write_mbox(tmp_path / "m.mbox", ann_mails(8))
    events: list[Progress] = []
    with Store.open(tmp_path / "s.sqlite3") as store:
        import_corpus(store, source, ImportOptions(profile="p"), events.append)
    last = events[-1]
    assert last.stage == "import" and last.done == last.total == source.stat().st_size
    assert "8 imported" in last.message


def test_genre_of_an_existing_profile_cannot_change(pa, tmp_path: Path):
    assert pa("import", SAMPLE, "--profile", "sample").exit_code == 0
    result = pa("import", SAMPLE, "--profile", "sample", "--genre", "review")
    assert result.exit_code == 2 and "holds email texts" in result.stderr


def test_corpus_list_and_show(pa):
    assert pa("import", SAMPLE, "--profile", "sample").exit_code == 0
    listed = json.loads(pa("corpus", "list", "--profile", "sample", "--json", "--split", "test").stdout)
    assert len(listed) == 4 and {d["split"] for d in listed} == {"test"}
    table = pa("corpus", "list", "--profile", "sample", "-n", "3")
    assert table.exit_code == 0 and "profile sample" in table.stdout
    first = listed[0]["id"]
    shown = pa("corpus", "show", str(first), "--profile", "sample")
    assert shown.exit_code == 0 and "subject:" in shown.stdout
    document = json.loads(pa("corpus", "show", str(first), "--profile", "sample", "--json").stdout)
    assert document["text"] == listed[0]["text"]
    assert pa("corpus", "show", "99999", "--profile", "sample").exit_code == 2
    assert pa("corpus", "stats", "--profile", "nobody").exit_code == 2


def test_split_is_stable_when_more_mail_arrives(tmp_path: Path):
    first = write_mbox(tmp_path / "a.mbox", ann_mails(10)[:5])
    both = write_mbox(tmp_path / "b.mbox", ann_mails(10))
    with Store.open(tmp_path / "s.sqlite3") as store:
        import_corpus(store, first, ImportOptions(profile="p"))
        profile = store.get_profile("p")
        before = {d.message_id: d.split for d in store.documents(profile.id)}
        import_corpus(store, both, ImportOptions(profile="p"))
        after = {d.message_id: d.split for d in store.documents(profile.id)}
    assert all(after[key] == split for key, split in before.items())
    assert list(after.values()).count("test") == 2


def test_preview_shows_outcomes_and_stores_nothing(tmp_path: Path):
    from core.corpus import Candidate, Dropped, preview_import

    with Store.open(tmp_path / "s.sqlite3") as store:
        report, outcomes = preview_import(store, SAMPLE, ImportOptions(profile="sample"), limit=30)
        assert store.find_profile("sample") is None
    assert report.dry_run and report.imported == 20
    assert len(outcomes) == 26
    drops = [o for o in outcomes if isinstance(o, Dropped)]
    assert {d.reason for d in drops} == {"not_from_sender", "too_short", "forward_only"}
    kept = [o for o in outcomes if isinstance(o, Candidate)]
    assert all("Lindqvist Studio, Gothenburg" not in c.text for c in kept)
