"""`pa eval` end to end on the synthetic `tiny` profile, with the embedded SmolLM2 writing and judging.

    python benchmarks/eval_tiny_example.py docs/eval-example/tiny

Builds the tiny preference agent of tests/tiny_agent.py (a 2-layer random-weight model with
the SmolLM2 tokenizer, LoRA-trained and exported to GGUF in seconds, on 6 synthetic training
emails with hand-written intents and rules; 2 are held out), then runs the real command

    pa eval --profile tiny --baselines small large few-shot --out OUT

in a fresh PA_HOME, with SmolLM2-135M as M_L, M_S and judge. It shows the report format and
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


def main() -> None:
    import os

    from tests.tiny_agent import build_tiny_agent, make_tokenizer_folder

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/eval-example/tiny").resolve()
    home = Path(tempfile.mkdtemp(prefix="pa-eval-tiny-")) / "home"
    started = time.perf_counter()
    tokenizer = make_tokenizer_folder(home.parent / "tokenizer")
    agent = build_tiny_agent(home, tokenizer)
    print(f"tiny agent {agent.agent.label} trained and exported in {time.perf_counter() - started:.0f} s")
    (home / "config.toml").write_text(CONFIG, encoding="utf-8")
    command = ["pa", "eval", "--profile", "tiny", "--baselines", "small", "large", "few-shot", "--out", str(out)]
    print("$ PA_HOME=<fresh> " + " ".join(command[:-1] + [str(out.relative_to(REPO)) if out.is_relative_to(REPO) else str(out)]))
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env={**os.environ, "PA_HOME": str(home)}, check=False)
    print(f"pa eval: exit {result.returncode} in {time.perf_counter() - started:.0f} s")
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
