"""How long measuring style facts takes: 10,000 texts from scratch, next to an import's
incremental refresh of 100 new texts on top of them.

The texts are the Enron sample senders' mails (cleaned by a real `pa import`), each copy made
unique by one line, so the store holds N distinct documents. Printed side by side:
`measure()` alone (pure extraction), the full store refresh (extraction + JSON rows), the
incremental refresh after 100 more documents, and folding the rows into the summary.

    python benchmarks/style_facts.py              # 10,000 texts
    python benchmarks/style_facts.py --texts 2000
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ENRON = REPO.parent.parent / "shared" / "data" / "enron"


def _source_texts(home: Path) -> list[tuple[str, str | None, str | None, str | None, str | None]]:
    from core.corpus import ImportOptions, import_corpus
    from core.store import Store

    enron = Path(os.environ.get("PA_ENRON", ENRON if ENRON.is_dir() else "/work/shared/data/enron"))
    store = Store.open(home / "source.sqlite3")
    rows = []
    for sender in sorted(p for p in enron.iterdir() if p.is_dir()):
        import_corpus(store, sender, ImportOptions(profile=sender.name))
        profile = store.get_profile(sender.name)
        rows += [(d.text, d.signoff, d.subject, d.recipients, d.previous_context) for d in store.documents(profile.id)]
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=10_000)
    args = parser.parse_args()

    from core.store import Store
    from core.style.facts_store import load_profile_facts, refresh_facts
    from core.style.text_facts import measure

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        source = _source_texts(home)
        texts = [(f"{row[0]}\nRef {i}.", *row[1:]) for i, row in enumerate(source * (args.texts // len(source) + 1))][
            : args.texts
        ]

        started = time.perf_counter()
        for text, signoff, subject, recipients, previous in texts:
            measure(text, signoff=signoff, subject=subject, recipients=recipients, previous=previous)
        pure = time.perf_counter() - started

        store = Store.open(home / "bench.sqlite3")
        profile = store.create_profile("bench")

        def insert(rows, split="train"):
            with store.transaction() as db:
                db.executemany(
                    "INSERT INTO documents (profile_id, text, signoff, subject, recipients, previous_context, content_hash, split) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (profile.id, t, so, su, r, p, hashlib.sha256(t.encode()).hexdigest(), split)
                        for t, so, su, r, p in rows
                    ],
                )

        insert(texts)
        full = refresh_facts(store, profile)
        insert([(f"{t}\nMore {i}.", *rest) for i, (t, *rest) in enumerate(texts[:100])])
        incremental = refresh_facts(store, profile)
        started = time.perf_counter()
        summary = load_profile_facts(store, profile).as_dict()
        fold = time.perf_counter() - started
        store.close()

    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    print(
        f"style facts for {len(texts):,} texts ({len(source)} distinct Enron mails, copies made unique); load average {' '.join(load)}"
    )
    print(f"{'step':<44}{'texts':>8}{'seconds':>10}{'texts/s':>10}")
    for label, count, seconds in (
        ("measure() alone (extraction, no store)", len(texts), pure),
        ("full refresh (measure + store rows)", full.measured, full.seconds),
        ("incremental refresh after an import of 100", incremental.measured, incremental.seconds),
        ("fold all rows into the summary (pa style)", summary["texts"], fold),
    ):
        print(f"{label:<44}{count:>8,}{seconds:>10.2f}{count / seconds if seconds else float('inf'):>10,.0f}")


if __name__ == "__main__":
    main()
