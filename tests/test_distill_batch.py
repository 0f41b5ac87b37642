"""Distillation through a batch engine: export the pending calls, run them elsewhere, import, continue.

The engine is `tests.batch_engine` running each request against a real loopback chat server
(`tests.openai_loopback`), which records every call it answers.
"""

from __future__ import annotations

import json

from core.config import Config
from core.distill_batch import export_batch, import_batch
from core.store import open_store
from tests.batch_engine import run_batch
from tests.openai_loopback import LoopbackServer
from tests.test_distill import add_documents, rows

SPEC = "openai:loopback"


def ids(path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in path.read_text().splitlines()]


def test_a_whole_profile_distils_in_batch_rounds_with_no_call_made_twice(tmp_path):
    with open_store() as store, LoopbackServer(delay=0.0) as server:
        profile = add_documents(store, train=3, test=1)
        sizes = []
        while (written := export_batch(store, profile, Config(), SPEC, tmp_path / "requests.jsonl")) > 0:
            first = json.loads((tmp_path / "requests.jsonl").read_text().splitlines()[0])
            assert (
                first["method"] == "POST"
                and first["url"] == "/v1/chat/completions"
                and first["body"]["model"] == "loopback"
            )
            run_batch(tmp_path / "requests.jsonl", tmp_path / "output.jsonl", server.base_url)
            summary = import_batch(store, profile, Config(), SPEC, tmp_path / "output.jsonl")
            assert (summary.imported, summary.errors, summary.unknown) == (written, [], 0)
            sizes.append(written)
            assert len(sizes) < 6, "the batch rounds do not converge"
        assert sizes == [12, 6, 3]  # 3 intents x 4 documents; drafts + no-baseline rules; rules
        stages = rows(store)
        assert len(stages) == 4 + 3 * 3 and all(row["status"] == "ok" for row in stages.values())
        assert len(server.requests) == len(set(server.requests)) == 21  # every logical call asked exactly once
        journal = store.query("SELECT COUNT(*) AS n FROM distill_calls WHERE model = ?", (SPEC,))[0]["n"]
        assert journal == 21


def test_a_partial_import_resumes_and_a_repeated_import_writes_nothing_twice(tmp_path):
    with open_store() as store, LoopbackServer(delay=0.0) as server:
        profile = add_documents(store, train=2, test=0)
        export_batch(store, profile, Config(), SPEC, tmp_path / "requests.jsonl")
        run_batch(tmp_path / "requests.jsonl", tmp_path / "output.jsonl", server.base_url)
        lines = (tmp_path / "output.jsonl").read_text().splitlines()
        (tmp_path / "half.jsonl").write_text("\n".join(lines[:4]) + "\n")
        half = import_batch(store, profile, Config(), SPEC, tmp_path / "half.jsonl")
        # Document 1's three intents are in: its draft and no-baseline rules are asked for next,
        # beside document 2's two missing intents.
        assert (half.imported, half.pending) == (4, 4)

        export_batch(store, profile, Config(), SPEC, tmp_path / "rest.jsonl")
        rest = ids(tmp_path / "rest.jsonl")
        assert set(ids(tmp_path / "requests.jsonl")[4:]) < set(rest)  # what is still missing...
        assert not set(ids(tmp_path / "requests.jsonl")[:4]) & set(rest)  # ...and nothing imported
        assert sorted(c.split(":")[3] for c in rest) == ["draft", "intent", "intent", "nobaseline_rules"]

        again = import_batch(store, profile, Config(), SPEC, tmp_path / "output.jsonl")
        assert (again.imported, again.already) == (2, 4)
        assert again.pending == 4  # the next round: drafts and no-baseline rules of both documents
        assert store.query("SELECT COUNT(*) AS n FROM distill_calls")[0]["n"] == 6


def test_an_engine_error_leaves_the_call_pending(tmp_path):
    with open_store() as store:
        profile = add_documents(store, train=1, test=0)
        export_batch(store, profile, Config(), SPEC, tmp_path / "requests.jsonl")
        first = ids(tmp_path / "requests.jsonl")[0]
        failed = {
            "id": "batch_req_0",
            "custom_id": first,
            "response": None,
            "error": {"code": "server_error", "message": "the engine crashed"},
        }
        (tmp_path / "output.jsonl").write_text(json.dumps(failed) + "\n")
        summary = import_batch(store, profile, Config(), SPEC, tmp_path / "output.jsonl")
        assert summary.imported == 0 and "the engine crashed" in summary.errors[0]
        assert summary.pending == 3


def test_the_cli_exports_and_imports_in_one_command(pa, pa_home, tmp_path):
    (pa_home).mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text('[models]\nlarge = "openai:loopback"\n')
    with open_store() as store:
        add_documents(store, name="theresa", train=1, test=0)
    exported = pa("distill", "--profile", "theresa", "--batch-export", tmp_path / "requests.jsonl", "--json")
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout)["export"]["calls"] == 3
    with LoopbackServer(delay=0.0) as server:
        run_batch(tmp_path / "requests.jsonl", tmp_path / "output.jsonl", server.base_url)
    both = pa(
        "distill",
        "--profile",
        "theresa",
        "--batch-import",
        tmp_path / "output.jsonl",
        "--batch-export",
        tmp_path / "next.jsonl",
        "--json",
    )
    assert both.exit_code == 0, both.stderr
    result = json.loads(both.stdout)
    assert result["import"]["imported"] == 3 and result["export"]["calls"] == 2
    bad = pa("distill", "--profile", "theresa", "--batch-import", tmp_path / "requests-missing.jsonl")
    assert bad.exit_code == 2 and "--batch-import" in bad.stderr
