"""Fixed data for snapshots and screen tests: a profile at every stage, without running models.

Nothing here depends on time or on model output, so the SVG snapshots are byte-stable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from core.paths import Paths
from core.store import Store

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CORPUS = REPO / "examples" / "sample-corpus"
PROFILE = "maya"

RULES = "- Open with the person's first name.\n- Two short paragraphs at most.\n- Sign off: Maya"
NAIVE = "Dear Jonas,\n\nI hope this message finds you well. I wanted to let you know that the delivery has been moved."
FINAL = "Jonas,\n\nThe delivery moves to **Friday morning**, the van comes at nine.\n\nMaya"


def add_documents(store: Store, profile: str, count: int = 10, held_out: int = 2) -> int:
    record = store.find_profile(profile) or store.create_profile(profile)
    with store.transaction() as db:
        for index in range(count):
            db.execute(
                "INSERT INTO documents (profile_id, text, sender, subject, content_hash, split) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    f"Hi Jonas,\n\nText number {index} about oak and varnish.\n\nThanks,\nMaya",
                    "maya@lindqvist-studio.example",
                    f"Subject {index}",
                    f"hash-{profile}-{index}",
                    "test" if index < held_out else "train",
                ),
            )
    return record.id


def add_distillations(
    store: Store, profile_id: int, stages: dict[str, int], failed: dict[str, int] | None = None
) -> None:
    """`stages`: stage -> how many documents have it ok (in id order); `failed` likewise."""
    failed = failed or {}
    ids = [row["id"] for row in store.query("SELECT id FROM documents WHERE profile_id = ? ORDER BY id", (profile_id,))]
    with store.transaction() as db:
        for stage, count in stages.items():
            for index, document_id in enumerate(ids[: count + failed.get(stage, 0)]):
                status = "ok" if index < count else "failed"
                db.execute(
                    "INSERT INTO distillations (document_id, stage, status, content, template_id, template_version, model) "
                    "VALUES (?, ?, ?, ?, ?, 1, 'embedded')",
                    (document_id, stage, status, "- fixture" if status == "ok" else None, f"email.{stage}"),
                )


def add_agent(paths: Paths, profile: str, kind: str = "agent", version: int = 1) -> Path:
    """An agent folder that `core.agents` accepts (manifest + a file with the GGUF magic)."""
    folder = paths.agents_dir(profile) / kind / f"v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.gguf").write_bytes(b"GGUF fixture, not a model")
    (folder / "manifest.json").write_text(json.dumps({"gguf": "agent.gguf", "quant": "q8_0"}), encoding="utf-8")
    return folder


def add_run(paths: Paths, profile: str, *, status: str = "done", steps: int = 24) -> Path:
    """A finished training run folder with a fixed loss curve."""
    folder = paths.runs_dir(profile) / "agent-20250101-000000"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"profile": profile, "kind": "agent"}), encoding="utf-8")
    events = [{"event": "start", "total": steps, "step": 0, "device": "cpu", "mode": "lora-fp32", "resumed": False}]
    for step in range(1, steps + 1):
        events.append(
            {
                "event": "step",
                "step": step,
                "total": steps,
                "loss": round(3.2 * 0.88**step + 0.4, 4),
                "eta": float(steps - step),
                "tokens_per_s": 850.0,
            }
        )
        if step % 8 == 0:
            events.append(
                {
                    "event": "eval",
                    "epoch": step // 8,
                    "step": step,
                    "total": steps,
                    "eval_loss": round(3.0 * 0.9**step + 0.6, 4),
                }
            )
    if status == "done":
        events += [
            {"event": "trained", "final_train_loss": round(3.2 * 0.88**steps + 0.4, 4), "train_seconds": 42.0},
            {"event": "export", "stage": "merge", "message": "LoRA merged"},
            {"event": "export", "stage": "quantize", "message": "q8_0"},
            {"event": "done", "version": 1, "quant": "q8_0", "agent": "agents/agent/v1"},
        ]
    elif status == "interrupted":
        events.append(
            {
                "event": "interrupted",
                "step": steps,
                "total": steps * 2,
                "message": f"stopped at step {steps}; continue with --resume",
            }
        )
    (folder / "progress.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    (folder / "status").write_text(status, encoding="utf-8")
    return folder


def eval_report(profile: str = PROFILE) -> dict:
    def interval(estimate: float, low: float, high: float) -> dict:
        return {"estimate": estimate, "low": low, "high": high}

    pairwise = []
    for baseline, (win, tie, loss) in {
        "small": (9, 1, 0),
        "large": (6, 2, 2),
        "few-shot": (5, 1, 4),
        "naive-finetune": (7, 1, 2),
        "no-baseline": (4, 3, 3),
    }.items():
        pairwise.append(
            {
                "baseline": baseline,
                "title": baseline,
                "n": 10,
                "win": win,
                "tie": tie,
                "loss": loss,
                "invalid": 0,
                "flipped": 1,
                "win_rate": interval(win / 10, max(0, win / 10 - 0.25), min(1, win / 10 + 0.2)),
            }
        )
    methods = {}
    for index, name in enumerate(("agent", "small", "large", "few-shot", "naive-finetune", "no-baseline")):
        methods[name] = {
            "title": name,
            "model": "embedded",
            "documents": 10,
            "failed": [],
            "similarity": {
                "bertscore_f1": interval(0.82 - index * 0.02, 0.8, 0.85),
                "cosine": interval(0.71 - index * 0.03, 0.6, 0.8),
                "length_ratio": interval(1.1 + index * 0.1, 1.0, 1.4),
            },
            "tokens": {"prompt": 1000, "completion": 400},
            "seconds_mean": 1.5 + index,
            "cost_usd": None,
        }
    return {
        "kind": "pa.eval",
        "version": 1,
        "profile": profile,
        "genre": "email",
        "generated_at": "2025-01-02T03:04:05+00:00",
        "models": {"large": "embedded", "agent_base": "embedded", "judge": "embedded"},
        "agent": f"{profile}/agent/v1",
        "documents": 10,
        "methods": methods,
        "skipped": {},
        "pairwise": pairwise,
        "judge_usage": {
            "model": "embedded",
            "verdicts": 100,
            "calls": 104,
            "unparseable_verdicts": 2,
            "retried_verdicts": 4,
        },
        "run": {},
        "details": [],
    }


def add_report(paths: Paths, profile: str = PROFILE) -> None:
    folder = paths.reports_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "eval.json").write_text(json.dumps(eval_report(profile)), encoding="utf-8")


def populate(store: Store, paths: Paths) -> None:
    """Three profiles at different stages; `maya` is trained and evaluated."""
    maya = add_documents(store, PROFILE, 10, 2)
    add_distillations(store, maya, {"intent": 10, "draft": 8, "rules": 7, "nobaseline_rules": 8}, {"rules": 1})
    add_agent(paths, PROFILE)
    add_run(paths, PROFILE)
    add_report(paths, PROFILE)
    add_documents(store, "jonas", 6, 1)
    store.create_profile("empty")


def corpus_copy(folder: Path) -> Path:
    """The sample corpus under a fixed folder name, so the directory tree renders the same."""
    target = folder / "corpus"
    shutil.copytree(SAMPLE_CORPUS, target)
    return target
