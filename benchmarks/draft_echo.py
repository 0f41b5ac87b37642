"""How often the embedded model answers a drafting prompt with the prompt itself: tagged vs plain form.

Issue 13 (item 7): SmolLM2-135M copied the tagged prompt's blocks back ("<details>(none given)
</details>") as its naive draft and final. This asks the embedded model for the naive draft
(zero-shot) and the final (with a few rules) for some ordinary intents, in the tagged prompt form
and in the plain form small models now get, and counts the answers that are only an echo of the
prompt (`core.tagged.parse_written` finds no text of the model's own), before any retry.

    python benchmarks/draft_echo.py [--seeds 3] [--max-tokens 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

INTENTS = (
    "thank Jonas for the oak boards and ask for the invoice",
    "tell Sam the quarterly report slips to Friday; ask him to warn the board",
    "ask Ruth whether the estimate covers the second floor",
    "say I cannot make the Tuesday call and propose Wednesday at 10",
)
RULES = "- Open with the first name and a comma.\n- Sign off with 'Thanks,' and the first name.\n- Length: about 40 words, 3 sentences, 2 paragraphs."


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=60)
    args = parser.parse_args()

    from core.config import Config
    from core.drafting import DraftRequest, _template, final_messages, prompt_echo, zero_shot_messages
    from core.llm.base import GenerationOptions, complete
    from core.llm.specs import open_backend
    from core.tagged import Rejected, parse_written

    backend = open_backend("embedded", Config())
    counts: dict[str, list[int]] = {"tagged": [0, 0], "plain": [0, 0]}
    for form in ("tagged", "plain"):
        for intent in INTENTS:
            request = DraftRequest(intent)
            for name, messages in (
                ("zero_shot", zero_shot_messages(request, "email", form)),
                ("final", final_messages(request, RULES, "email", form)),
            ):
                echo = prompt_echo(messages, _template(name, form))
                for seed in range(args.seeds):
                    options = GenerationOptions(
                        max_tokens=args.max_tokens, seed=seed, temperature=0.0 if seed == 0 else None
                    )
                    answer = await complete(backend, messages, options)
                    counts[form][0] += isinstance(parse_written(answer.text, answer.finish_reason, echo=echo), Rejected)
                    counts[form][1] += 1
    load = os.getloadavg()[0]
    print(
        f"embedded SmolLM2-135M, {len(INTENTS)} intents x (naive, final) x {args.seeds} seeds, max_tokens {args.max_tokens}; load {load:.1f}"
    )
    print(f"{'prompt form':<12} {'echo-only answers':>18}")
    for form, (echoes, total) in counts.items():
        print(f"{form:<12} {echoes:>8} of {total:<4} ({echoes / total:.0%})")


if __name__ == "__main__":
    asyncio.run(main())
