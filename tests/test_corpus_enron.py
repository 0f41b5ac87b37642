"""Real Enron sent mail (../shared/data/enron): five senders, five profiles, clean documents.

The hand-checked fixture (tests/fixtures/enron_cleaned) says what each of 40 messages should
become; the acceptance checks run over all 1,092 messages.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from core.corpus import ImportOptions, ImportReport, import_corpus
from core.corpus.documents import CleaningRules, document_from_email
from core.corpus.email_cleaning import SenderNames
from core.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "enron_cleaned"
SENDERS = ("allen-p", "williams-w3", "zufferli-j", "baughman-d", "staab-t")
HEADER_LINE = re.compile(r"^\s*(From|Sent|To|Cc|Subject|Date)\s*:\s", re.M)


@pytest.fixture(scope="module")
def imported(enron_dir: Path, tmp_path_factory) -> tuple[Store, dict[str, ImportReport]]:
    store = Store.open(tmp_path_factory.mktemp("enron") / "pa.sqlite3")
    reports = {sender: import_corpus(store, enron_dir / sender, ImportOptions(profile=sender)) for sender in SENDERS}
    yield store, reports
    store.close()


def test_each_sender_imports_into_one_profile(imported, capsys):
    store, reports = imported
    assert [p.name for p in store.list_profiles()] == sorted(SENDERS)
    lines = []
    for sender, report in reports.items():
        kept = report.imported / report.messages_seen
        lines.append(
            f"{sender:12} kept {report.imported:3}/{report.messages_seen} ({kept:.0%})  dropped {dict(report.dropped)}"
        )
        assert report.format == "eml" and report.messages_seen in (300, 96)
        assert report.dropped.get("not_from_sender", 0) == 0  # every From is the owner's
        assert 0.6 <= kept <= 1.0, lines[-1]
        counts = store.count_documents(store.get_profile(sender).id)
        assert counts["train"] + counts["test"] == report.imported
        assert abs(counts["test"] - 0.2 * report.imported) <= 1
    assert reports["allen-p"].senders == ["k..allen@enron.com", "phillip.allen@enron.com"]
    with capsys.disabled():
        print("\nshare of Enron emails kept per sender:\n  " + "\n  ".join(lines))


def test_no_stored_document_keeps_quotes_headers_or_signatures(imported):
    store, _ = imported
    problems = []
    for sender in SENDERS:
        for document in store.documents(store.get_profile(sender).id):
            text = document.text
            where = f"{document.source_path}"
            if re.search(r"-{2,}\s*Original Message", text, re.I):
                problems.append(f"{where}: Original Message block")
            if re.search(r"^\s*>", text, re.M):
                problems.append(f"{where}: '>' quoted line")
            if HEADER_LINE.search(text):
                problems.append(f"{where}: header line {HEADER_LINE.search(text).group(0)!r}")
            if document.signoff and document.signoff not in text:
                problems.append(f"{where}: the closing {document.signoff!r} was cut from the text")
            if re.search(r"Forwarded by|<< File:|This e-mail is the property of", text):
                problems.append(f"{where}: forward, attachment placeholder or disclaimer")
    assert problems == []


def test_the_closing_is_the_persons_and_the_signature_is_kept_apart(imported):
    """Theresa signs "Thanks,\nTheresa" over her phone number: the closing stays in the text, the phone does not."""
    store, _ = imported
    documents = store.documents(store.get_profile("staab-t").id)
    closed = [d for d in documents if d.signoff]
    assert len(closed) >= 0.5 * len(documents)
    assert all(d.text.rstrip().endswith(d.signoff) or f"{d.signoff}\n" in d.text for d in closed)
    with_phone = [d for d in documents if d.signature and "575-6485" in d.signature]
    assert len(with_phone) >= 5 and not any("575-6485" in d.text for d in with_phone)


def fixture_cases(kind: str) -> list[Path]:
    return sorted(FIXTURE.glob(f"*.{kind}"))


def source_of(case: Path, enron_dir: Path) -> Path:
    sender, number = case.stem.split("__")
    return enron_dir / sender / "sent_items" / f"{number}.eml"


def test_fixture_has_at_least_30_hand_checked_bodies():
    assert len(fixture_cases("txt")) >= 30


def test_cleaned_bodies_match_the_hand_checked_fixture(imported, enron_dir: Path):
    store, _ = imported
    by_source = {d.source_path: d.text for sender in SENDERS for d in store.documents(store.get_profile(sender).id)}
    exact, misses = 0, []
    for case in fixture_cases("txt"):
        expected = case.read_text(encoding="utf-8").rstrip("\n")
        got = by_source.get(str(source_of(case, enron_dir)))
        assert got is not None, f"{case.name}: the message was not imported"
        if got == expected:
            exact += 1
            continue
        ratio = difflib.SequenceMatcher(None, got, expected).ratio()
        misses.append(f"{case.name}: {ratio:.2f}")
        assert ratio >= 0.9, f"{case.name}: far from the hand-checked body\n--- got\n{got}\n--- expected\n{expected}"
    assert exact >= 0.9 * len(fixture_cases("txt")), misses


def test_fixture_drops_have_their_reason(imported, enron_dir: Path):
    store, reports = imported
    for case in fixture_cases("drop"):
        sender = case.stem.split("__")[0]
        rules = CleaningRules(
            senders=frozenset(reports[sender].senders), names=SenderNames.from_identity(reports[sender].senders[0])
        )
        outcome = document_from_email(source_of(case, enron_dir).read_bytes(), rules)
        assert getattr(outcome, "reason", None) == case.read_text().strip(), case.name
