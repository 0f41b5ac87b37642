"""The pairwise judge: ask which of two candidates is closer to the real text, and read its answer.

Judges are asked for the letter only, but models answer in every shape ("<verdict>A</verdict>",
"**B**", "Candidate A is closer.", "A\nTheresa", an echo of the instruction);
`parse_verdict` accepts the unambiguous shapes and returns None for everything else, and
`judge_ordered` asks again (a bounded number of times, with sampling on the retries, since a
deterministic model would repeat itself) before recording the pair as unparseable.

Every pair is judged in both orders. `combine` turns the two verdicts into one outcome for the
agent: it wins or loses only when both orders agree; a verdict that flips with the order is
position bias, and counts as a tie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from core.errors import BackendError
from core.llm.base import Backend, GenerationOptions, Message
from core.prompts import fence, load_template

TEMPLATE_ID = "judge.pairwise"
Letter = Literal["A", "B", "tie"]
Outcome = Literal["win", "loss", "tie", "invalid"]

_TAG = re.compile(r"<\s*verdict\s*>\s*(?:candidate\s*)?\(?\s*(A|B|tie)\b", re.IGNORECASE)
_BARE = re.compile(r"^\(?\s*(?:candidate\s+)?([AB])\s*\)?\s*[.!]?$", re.IGNORECASE)
_NAMED = re.compile(
    r"\b(?:candidate|option|answer|verdict|choice|email|text)\s*(?:is|:|-|=)?\s*\(?\s*([AB])\b(?!['’])",
    re.IGNORECASE,
)
_CLOSER = re.compile(r"\b([AB])\s+is\s+(?:the\s+)?closer\b")
_LEADING = re.compile(r"^\(?([AB])(?:\)|[.,:;!]|\s*\n|\s*$|\s+is\b)")
_TIE = re.compile(r"\b(?:tie|equally close|both equally|neither is closer)\b", re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#\"“”]")


def parse_verdict(answer: str) -> Letter | None:
    """'A', 'B', 'tie', or None when the answer names no single candidate."""
    text = _MARKUP.sub("", answer or "").strip()
    tagged = {match.upper() if match.lower() != "tie" else "tie" for match in _TAG.findall(text)}
    if tagged:
        return tagged.pop() if len(tagged) == 1 else None  # type: ignore[return-value]
    if (bare := _BARE.match(text)) is not None:
        return bare.group(1).upper()  # type: ignore[return-value]
    named = {letter.upper() for letter in _NAMED.findall(text)} | set(_CLOSER.findall(text))
    if named:
        return named.pop() if len(named) == 1 else None
    if (leading := _LEADING.match(text)) is not None:
        return leading.group(1)  # type: ignore[return-value]
    if _TIE.search(text):
        return "tie"
    return None


@dataclass(frozen=True)
class JudgeResult:
    letter: Letter | None
    """None when no attempt parsed."""
    raw: str
    """The judge's last answer, kept so an unparseable verdict can be inspected."""
    attempts: int
    prompt_tokens: int
    completion_tokens: int


def judge_key(backend: Backend) -> str:
    """What verdicts are stored under: the judge model and the prompt version it was asked with."""
    return f"{backend.spec} [{TEMPLATE_ID} v{load_template(TEMPLATE_ID).version}]"


def judge_messages(genre: str, real: str, candidate_a: str, candidate_b: str) -> list[Message]:
    return load_template(TEMPLATE_ID).render(
        genre=genre,
        real=fence(real, "real"),
        candidate_a=fence(candidate_a, "candidate_a"),
        candidate_b=fence(candidate_b, "candidate_b"),
    )


async def judge_ordered(
    backend: Backend,
    *,
    genre: str,
    real: str,
    candidate_a: str,
    candidate_b: str,
    attempts: int = 3,
    max_tokens: int = 16,
    seed: int = 0,
) -> JudgeResult:
    """One ordered comparison, asked up to `attempts` times until the answer parses."""
    messages = judge_messages(genre, real, candidate_a, candidate_b)
    prompt_tokens = completion_tokens = 0
    raw = ""
    for attempt in range(attempts):
        # The first ask is greedy; retries sample, or a deterministic judge would repeat itself.
        options = GenerationOptions(
            temperature=0.0 if attempt == 0 else 0.8, max_tokens=max_tokens, seed=seed + attempt
        )
        raw, used_prompt, used_completion = await _collect(backend, messages, options)
        prompt_tokens += used_prompt
        completion_tokens += used_completion
        letter = parse_verdict(raw)
        if letter is not None:
            return JudgeResult(letter, raw, attempt + 1, prompt_tokens, completion_tokens)
    return JudgeResult(None, raw, attempts, prompt_tokens, completion_tokens)


async def _collect(backend: Backend, messages: list[Message], options: GenerationOptions) -> tuple[str, int, int]:
    """The whole answer and its token counts. An empty answer is returned (it will not parse)
    rather than raised: here it is a malformed verdict, not a broken backend."""
    parts: list[str] = []
    usage = None
    async for chunk in backend.stream(messages, options):
        parts.append(chunk.text)
        if chunk.usage is not None:
            usage = chunk.usage
    if usage is None:
        raise BackendError(f"{backend.spec}: the judge's stream ended without its final chunk; try again")
    return "".join(parts), usage.prompt_tokens, usage.completion_tokens


def winner_of(letter: Letter | None, method_a: str, method_b: str) -> str | None:
    """What the store records: the winning method's name, 'tie', or None (unparseable)."""
    if letter is None:
        return None
    return {"A": method_a, "B": method_b, "tie": "tie"}[letter]


@dataclass(frozen=True)
class PairOutcome:
    outcome: Outcome
    flipped: bool
    """Both orders named a winner, but not the same one: position bias, counted as a tie."""


def combine(agent: str, first_winner: str | None, second_winner: str | None) -> PairOutcome:
    """One outcome for `agent` from the winners of the two orders (method names, 'tie' or None)."""
    if first_winner is None or second_winner is None:
        return PairOutcome("invalid", False)
    if first_winner == second_winner and first_winner != "tie":
        return PairOutcome("win" if first_winner == agent else "loss", False)
    flipped = "tie" not in (first_winner, second_winner) and first_winner != second_winner
    return PairOutcome("tie", flipped)
