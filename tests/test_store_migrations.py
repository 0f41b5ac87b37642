"""Opening a store made by an earlier pa migrates it to the current schema and keeps every row.

For each earlier schema version, a store file is built with exactly the migrations of that
version and filled with what a user of that version had (a profile, documents, distillations,
a draft, an evaluation generation); then the current `Store.open` must bring it up to date and
answer its named queries from the old rows.
"""

from __future__ import annotations

import sqlite3

import pytest

from core.errors import StoreError
from core.history import get_draft
from core.store import MIGRATIONS, SCHEMA_VERSION, Store, _split_sql


def old_store(file, version: int) -> None:
    """A store as pa at schema `version` left it, with one user's data in it."""
    connection = sqlite3.connect(file, isolation_level=None)
    for script in MIGRATIONS[:version]:
        for statement in _split_sql(script):
            connection.execute(statement)
    connection.execute(f"PRAGMA user_version = {version}")
    if version >= 1:
        connection.execute("INSERT INTO profiles (id, name, sender) VALUES (1, 'jeff', 'jeff@enron.com')")
        for number, split in ((1, "train"), (2, "train"), (3, "test")):
            connection.execute(
                "INSERT INTO documents (id, profile_id, text, subject, content_hash, split) VALUES (?, 1, ?, ?, ?, ?)",
                (number, f"text {number}", f"subject {number}", f"hash-{number}", split),
            )
            connection.execute(
                "INSERT INTO distillations (document_id, stage, status, content, template_id, template_version, model) "
                "VALUES (?, 'intent', 'ok', ?, 'email.intent', 1, 'm')",
                (number, f"- intent {number}"),
            )
        connection.execute(
            "INSERT INTO distillations (document_id, stage, status, content, thinking, template_id, template_version, model) "
            "VALUES (1, 'rules', 'ok', '- Be brief', 'short mails', 'email.rules', 1, 'm')"
        )
        connection.execute(
            "INSERT INTO distillations (document_id, stage, status, error, template_id, template_version, model) "
            "VALUES (2, 'rules', 'failed', 'no <rules> tag', 'email.rules', 1, 'm')"
        )
        connection.execute(
            "INSERT INTO drafts (id, profile_id, intent, naive, rules, final, chosen, agent_version) "
            "VALUES (1, 1, '- say hi', 'Hello.', '- Be brief', 'Hi.', 'final', 'jeff/agent/v1')"
        )
        connection.execute(
            "INSERT INTO eval_generations (profile_id, document_id, method, text, model) "
            "VALUES (1, 3, 'agent', 'generated', 'm')"
        )
    connection.close()


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_every_earlier_schema_migrates_with_its_data(tmp_path, version):
    file = tmp_path / "pa.sqlite3"
    old_store(file, version)
    with Store.open(file) as store:
        assert store.schema_version == SCHEMA_VERSION
        columns = {row["name"] for row in store.query("PRAGMA table_info(eval_generations)")}
        assert "rules" in columns  # the newest migration ran
        if version == 0:
            assert store.list_profiles() == []
            return
        jeff = store.get_profile("jeff")
        assert (jeff.sender, store.count_documents(jeff.id)) == ("jeff@enron.com", {"train": 2, "test": 1})
        assert store.stage_counts(jeff.id) == {("intent", "ok"): 3, ("rules", "ok"): 1, ("rules", "failed"): 1}
        assert [(p.document_id, p.intent) for p in store.intent_pairs(jeff.id, "test")] == [(3, "- intent 3")]
        assert [p.text for p in store.intent_pairs(jeff.id, "train")] == ["text 1", "text 2"]
        rows = {row["id"]: row for row in store.training_rows(jeff.id, "rules")}
        assert (rows[1]["target"], rows[1]["thinking"], rows[2]["target"]) == ("- Be brief", "short mails", None)
        (draft,) = store.draft_rows(jeff.id)
        assert (draft["final"], draft["chosen"], draft["agent_version"]) == ("Hi.", "final", "jeff/agent/v1")
        (generation,) = store.query("SELECT text, rules FROM eval_generations")
        assert (generation["text"], generation["rules"]) == ("generated", None)
        notes = store.query("SELECT notes FROM distillations WHERE stage = 'rules' AND status = 'ok'")
        assert notes[0]["notes"] is None  # added by 1 -> 2, empty for old rows
        # 6 -> 7: an old draft can get its sent text, and reads back with no edit rules merged.
        assert get_draft(store, 1).edit_rules == []
        sent_id = store.insert_sent_edit(1, jeff.id, "Hi there.", "feedback")
        assert store.insert_sent_edit(1, jeff.id, "Hi there.", "feedback") == sent_id
        (sent,) = store.sent_edit_rows(jeff.id, undistilled=True)
        assert (sent["draft_id"], sent["final"], sent["sent"]) == (1, "Hi.", "Hi there.")
        assert store.edit_training_rows(jeff.id) == []


def test_the_edit_tables_keep_drafts_whole_and_go_with_their_profile(tmp_path):
    with Store.open(tmp_path / "pa.sqlite3") as store:
        jeff = store.create_profile("jeff")
        draft_id = store.insert_draft({"profile_id": jeff.id, "intent": "- say hi", "final": "Hi."})
        store.insert_sent_edit(draft_id, jeff.id, "Hello Tom,\nhi.", "editor")
        with pytest.raises(sqlite3.IntegrityError):  # only the three places a sent text comes from
            store.insert_sent_edit(draft_id, jeff.id, "x", "email")
        assert store.draft_row(draft_id)["final"] == "Hi."
        store.delete_profile("jeff")
        assert store.query("SELECT COUNT(*) AS n FROM sent_edits")[0]["n"] == 0


def test_a_store_from_a_newer_pa_is_refused_and_left_alone(tmp_path):
    file = tmp_path / "pa.sqlite3"
    old_store(file, SCHEMA_VERSION)
    connection = sqlite3.connect(file)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError, match="made by a newer pa"):
        Store.open(file)
    check = sqlite3.connect(file)
    assert check.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 3
    check.close()
