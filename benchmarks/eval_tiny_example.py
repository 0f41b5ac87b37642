"""`pa eval` and `pa eval permutation` end to end on synthetic profiles, with the embedded SmolLM2
writing and judging.

    python benchmarks/eval_tiny_example.py docs/eval-example/tiny

Builds the tiny preference agent of tests/tiny_agent.py (a 2-layer random-weight model with
the SmolLM2 tokenizer, LoRA-trained and exported to GGUF in seconds, on 6 synthetic training
emails with hand-written intents and rules; 2 are held out), then runs the real command

    pa eval --profile tiny --baselines small large few-shot --out OUT

in a fresh PA_HOME, with SmolLM2-135M as M_L, M_S and judge. A second synthetic person, `sara`
(same intents, her own texts and rules: "Hi <name>!", "Cheers, Sara"), gets her own tiny agent
trained the same way, and

    pa eval permutation --profiles tiny sara --out OUT

applies each agent to both people's held-out intents. It shows the report format and
how the protocol treats a weak, position-biased judge; it says nothing about the Enron senders
(see docs/eval-example/README.md for why that run stops at distillation).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONFIG = """\
[drafting]
max_tokens = 80
rules_max_tokens = 64
retriever = "bm25"
few_shot_k = 2

[eval]
judge_attempts = 2
judge_max_tokens = 8
"""


def sara_examples():
    """The tiny profile's intents, written by someone with another voice (and other rules)."""
    from tests.tiny_agent import EXAMPLES

    texts = [
        "Hi Sue! The call is at 3 now. Cheers, Sara",
        "Hi Paul! Could I get the draft filing today? Cheers, Sara",
        "Hi Karen! Loved the summary, thank you so much. Cheers, Sara",
        "Hi Mona! Friday won't work for me, sorry. Cheers, Sara",
        "Hi Jim! Here are the CPUC numbers. Cheers, Sara",
        "Hi Susan! 7 is perfect. Cheers, Sara",
        "Hi Sue! Quick reminder: the filing is due Monday. Cheers, Sara",
        "Hi Karen! Would you review the memo? Cheers, Sara",
    ]
    rules = "- Open with 'Hi <first name>!'.\n- One cheerful sentence.\n- Sign off: Cheers, Sara"
    return [
        (intent, to, subject, previous, "Cheerful and brief.", rules, text, split)
        for (intent, to, subject, previous, _, _, _, split), text in zip(EXAMPLES, texts)
    ]


def train_second_agent(home: Path, base_folder: Path) -> str:
    """Seed `sara` in the same installation and train her tiny agent (same recipe as `tiny`)."""
    import json

    from core.config import Config
    from core.paths import resolve_paths
    from core.store import Store
    from finetune.runs import prepare_run
    from finetune.train import train_run
    from tests.tiny_agent import seed_store, tiny_train_config

    paths = resolve_paths({"PA_HOME": str(home)})
    store = Store.open(paths.store_file)
    try:
        seed_store(store, "sara", sara_examples())
        run = prepare_run(paths, store, Config(train=tiny_train_config(base_folder)), "sara", "agent", quant="q8_0")
    finally:
        store.close()
    spec = json.loads((run.folder / "run.json").read_text())
    spec.update(keep_float=False)
    (run.folder / "run.json").write_text(json.dumps(spec))
    agent = train_run(run, paths=paths)
    assert agent is not None, "sara's tiny agent training stopped early"
    return agent.label


def main() -> None:
    import os

    from tests.tiny_agent import build_tiny_agent, make_tokenizer_folder

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/eval-example/tiny").resolve()
    home = Path(tempfile.mkdtemp(prefix="pa-eval-tiny-")) / "home"
    started = time.perf_counter()
    tokenizer = make_tokenizer_folder(home.parent / "tokenizer")
    agent = build_tiny_agent(home, tokenizer)
    print(f"tiny agent {agent.agent.label} trained and exported in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    print(
        f"sara agent {train_second_agent(home, agent.base_folder)} trained and exported in {time.perf_counter() - started:.0f} s"
    )
    (home / "config.toml").write_text(CONFIG, encoding="utf-8")
    shown = str(out.relative_to(REPO)) if out.is_relative_to(REPO) else str(out)
    codes = []
    for command in (
        ["pa", "eval", "--profile", "tiny", "--baselines", "small", "large", "few-shot", "--out"],
        ["pa", "eval", "permutation", "--profiles", "tiny", "sara", "--out"],
    ):
        print("$ PA_HOME=<fresh> " + " ".join(command + [shown]), flush=True)
        started = time.perf_counter()
        result = subprocess.run(command + [str(out)], cwd=REPO, env={**os.environ, "PA_HOME": str(home)}, check=False)
        print(f"exit {result.returncode} in {time.perf_counter() - started:.0f} s", flush=True)
        codes.append(result.returncode)
    sys.exit(max(codes))


if __name__ == "__main__":
    main()
