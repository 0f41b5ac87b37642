"""Can pa's model-free measures tell the 5 Enron senders apart? The ceiling they give `pa eval`.

Imports the shared Enron senders (a real `pa import` each, seeded 80/20 split), trains the
attribution classifier of `pa eval` on every sender's training texts and attributes each
sender's held-out *real* texts: a method's drafts cannot be attributed more reliably than the
person's own texts are. Printed side by side: the classifier, and the majority-class guess
(chance). Also the fact match of the real held-out texts (greeting, closing, length band), the
ceiling of `pa eval`'s fact match, and the seconds each step took. No language model runs.

    python benchmarks/style_attribution_enron.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ENRON = REPO.parent.parent / "shared" / "data" / "enron"
SENDERS = ("allen-p", "baughman-d", "staab-t", "williams-w3", "zufferli-j")


def main() -> None:
    from core.corpus import ImportOptions, import_corpus
    from core.intervals import wilson
    from core.store import Store
    from core.style.attribution import Attributor, profile_training_texts
    from core.style.facts_store import load_profile_facts
    from core.style.final_check import expectations_for
    from core.style.style_eval import FACTS, fact_match

    enron = ENRON if ENRON.is_dir() else Path("/work/shared/data/enron")
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(Path(folder) / "pa.sqlite3")
        started = time.perf_counter()
        for sender in SENDERS:
            import_corpus(store, enron / sender, ImportOptions(profile=sender))
        imported = time.perf_counter() - started

        started = time.perf_counter()
        attributor = Attributor.train(profile_training_texts(store, SENDERS))
        trained = time.perf_counter() - started

        held_out = {s: store.documents(store.get_profile(s).id, split="test") for s in SENDERS}
        started = time.perf_counter()
        predicted = {s: attributor.attribute([d.text for d in held_out[s]]) for s in SENDERS}
        attributed = time.perf_counter() - started

        total = sum(len(docs) for docs in held_out.values())
        majority = max(SENDERS, key=lambda s: attributor.trained_on[s])
        print(
            f"5 Enron senders, real held-out texts; load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
        )
        print(
            f"import {imported:.1f}s, train {trained:.1f}s on {sum(attributor.trained_on.values())} texts, attribute {attributed:.2f}s for {total} texts"
        )
        print()
        print(
            f"{'sender':<13}{'train':>6}{'test':>6}   {'classifier: right (95%)':<28}{'majority guess':<16}"
            + "".join(f"{s[:8]:>9}" for s in SENDERS)
        )
        right_all = 0
        for sender in SENDERS:
            guesses = predicted[sender]
            right = sum(g == sender for g in guesses)
            right_all += right
            share = wilson(right, len(guesses))
            row = "".join(f"{sum(g == other for g in guesses):>9}" for other in SENDERS)
            chance = f"{(sender == majority) * 100:.0f}%"
            cell = f"{share.estimate:.0%} [{share.low:.0%}, {share.high:.0%}] ({right}/{len(guesses)})"
            print(f"{sender:<13}{attributor.trained_on[sender]:>6}{len(guesses):>6}   {cell:<28}{chance:<16}{row}")
        overall = wilson(right_all, total)
        majority_share = len(held_out[majority]) / total
        cell = f"{overall.estimate:.0%} [{overall.low:.0%}, {overall.high:.0%}] ({right_all}/{total})"
        print(
            f"{'all':<13}{sum(attributor.trained_on.values()):>6}{total:>6}   {cell:<28}{majority_share:.0%} ({majority})"
        )
        print()
        print("fact match of the real held-out texts (matched / texts where the facts show a clear habit):")
        print(f"{'sender':<13}" + "".join(f"{name:>16}" for name in FACTS))
        for sender in SENDERS:
            profile = store.get_profile(sender)
            facts = load_profile_facts(store, profile)
            counts = {name: [0, 0] for name in FACTS}
            for document in held_out[sender]:
                expected = expectations_for(facts, document.recipients, document.subject, document.previous_context)
                for name, value in fact_match(document.text, expected, document.signoff).items():
                    if value is not None:
                        counts[name][0] += value
                        counts[name][1] += 1
            print(f"{sender:<13}" + "".join(f"{f'{m}/{n}' if n else '-':>16}" for m, n in counts.values()))
        store.close()


if __name__ == "__main__":
    main()
