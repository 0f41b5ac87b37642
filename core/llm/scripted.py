"""A scripted backend: answers from a list or a function, and records every call.

Tests use it where the shape of the conversation matters more than real prose (parsers,
retries, resumption, call counting); real-model tests use the embedded backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from core.llm.base import Chunk, GenerationOptions, Message, Price, Probe, StreamTimer

Reply = str | Callable[[Sequence[Message], GenerationOptions], str]


@dataclass
class ScriptedBackend:
    replies: list[Reply] | Reply
    """One reply per call in order (the last one repeats), or one function for every call."""
    spec: str = "scripted"
    calls: list[tuple[list[Message], GenerationOptions]] = field(default_factory=list)
    streams: bool = True
    continues_answer: bool = False
    price: Price | None = None

    async def probe(self) -> Probe:
        return Probe(reachable=True, model_present=True)

    def _next_reply(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        reply = self.replies
        if isinstance(reply, list):
            reply = reply[min(len(self.calls) - 1, len(reply) - 1)]
        return reply(messages, options) if callable(reply) else reply

    async def stream(
        self, messages: Sequence[Message], options: GenerationOptions = GenerationOptions()
    ) -> AsyncIterator[Chunk]:
        self.calls.append((list(messages), options))
        timer = StreamTimer()
        text = self._next_reply(messages, options)
        words = text.split(" ")
        for index, word in enumerate(words):
            timer.saw_token()
            yield Chunk(word if index == 0 else " " + word)
        prompt_tokens = sum(len(m.content.split()) for m in messages)
        yield Chunk("", usage=timer.usage(prompt_tokens, len(words)), finish_reason="stop")
