"""How much of the message replied to a model sees: one window for distillation, drafting and the agent.

The same text has to reach M_L when it distils (the zero-shot draft, the rules) and when it
drafts, and the agent has to see at training time exactly what it sees when asked; so every
prompt takes the previous message through `previous_window`, never through its own cut.
"""

from __future__ import annotations

PREVIOUS_MAX_CHARS = 2000
"""The newest part of the message replied to that any prompt shows (the start is cut, marked)."""
TRIM_MARK = "[...] "


def previous_window(text: str | None, limit: int = PREVIOUS_MAX_CHARS) -> str | None:
    """The message replied to, cut to its last `limit` characters (at a word) with a mark; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    space = tail.find(" ")
    if 0 <= space < 40:
        tail = tail[space + 1 :]
    return TRIM_MARK + tail.lstrip()


AGENT_PREVIOUS_CHARS = 1200
"""The agent sees at most this much of the message replied to, at training and when asked alike
(`core.agents.agent_messages`): about 300-400 tokens, so a reply still fits `AgentBudget.prompt`."""
ANSWER_SHARE = 3 / 8
"""Of `train.max_length`, the share that is the agent's answer (thinking and rules); the rest is its prompt."""


class AgentBudget:
    """The preference agent's token budgets, all derived from one setting, `train.max_length`.

    `answer` is what the agent may write (thinking + rules): training fits every target into it
    (the thinking is cut first, reported) and drafting asks for exactly that many tokens, so an
    agent is never cut off before its `<rules>`. `prompt` is what its input may take; the
    previous message is cut to fit it, at training and at inference by the same window.
    """

    def __init__(self, max_length: int, rules_max_tokens: int | None = None):
        self.total = max_length
        self.answer = rules_max_tokens or max(16, int(max_length * ANSWER_SHARE))
        self.prompt = max_length - self.answer

    @classmethod
    def of(cls, config: object) -> AgentBudget:
        """From a `core.config.Config`: `train.max_length`, unless `drafting.rules_max_tokens` is set by hand."""
        return cls(config.train.max_length, config.drafting.rules_max_tokens)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"AgentBudget(total={self.total}, prompt={self.prompt}, answer={self.answer})"


RULES_STAGES = ("rules", "nobaseline_rules")
"""Distillation stages whose answer (thinking + rules) is what the agent learns to write."""
DISTILL_MAX_TOKENS = 768
"""The other distillation stages' longest answer (the intent), when distill.max_tokens is empty."""
INTENT_ROOM_TOKENS = 128
"""An intent's room beyond its text's own length: the tags, a preamble, "I" before each note."""
LAST_STEP_SHARE = 1 / 3
"""Of a guided answer's budget, the share kept for its last step (the rules): the thinking before
it is cut at the rest, so a long scratchpad never leaves the rules without room."""


def distill_max_tokens(config: object, stage: str, text: str = "") -> int:
    """Longest answer of one distillation stage: distill.max_tokens when set by hand; otherwise
    the agent's answer budget for the rules stages (so a distilled answer always fits it),
    `intent_max_tokens` for the intent of `text`, and DISTILL_MAX_TOKENS for the others.
    Counted in M_L's tokens: with another tokenizer than the agent's it is close, not exact,
    and training still fits (and reports) what does not."""
    given = config.distill.max_tokens  # type: ignore[attr-defined]
    if given is not None:
        return int(given)
    if stage in RULES_STAGES:
        return AgentBudget.of(config).answer
    return intent_max_tokens(text) if stage == "intent" else DISTILL_MAX_TOKENS


def intent_max_tokens(text: str) -> int:
    """Notes of what a text says are shorter than the text, so an intent gets the text's length
    plus INTENT_ROOM_TOKENS, at most DISTILL_MAX_TOKENS. An answer that runs past it is a
    runaway (an echo, a loop) and is cut there rather than at 768 tokens: with the embedded
    model those took ~30% of distillation's output. The text's length is its UTF-8 bytes / 3,
    more than its tokens in English (~4 bytes each) and about its tokens in CJK scripts."""
    return min(DISTILL_MAX_TOKENS, INTENT_ROOM_TOKENS + len(text.encode("utf-8")) // 3)


def step_max_tokens(budget: int, used: int, last: bool) -> int:
    """Tokens one step of a guided answer may write, given what the earlier steps used: the
    answer stays within `budget`, and steps before the last leave it LAST_STEP_SHARE."""
    room = budget - used if last else int(budget * (1 - LAST_STEP_SHARE)) - used
    return max(1, room)
