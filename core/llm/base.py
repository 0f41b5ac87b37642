"""The one protocol every model backend implements.

Chat messages go in, text deltas stream out, and the last chunk carries token usage and
timing. Cancelling the consuming task (asyncio cancellation) stops generation. Everything
else in pa depends only on this module, never on a concrete backend.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from core.errors import BackendError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationOptions:
    """Only the options a caller set (not None) are sent to a backend."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def given(self) -> dict[str, object]:
        """The options that were set, by name."""
        values = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop) or None,
            "seed": self.seed,
        }
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    """Wall time from request to last token."""
    first_token_seconds: float | None = None
    estimated: bool = False
    """True when the server reported no counts and the backend estimated them."""

    @property
    def tokens_per_second(self) -> float:
        generating = self.seconds - (self.first_token_seconds or 0.0)
        return self.completion_tokens / generating if generating > 0 else 0.0


@dataclass(frozen=True)
class Chunk:
    """A streamed piece. The final chunk has `usage` and `finish_reason` set (its text may be empty)."""

    text: str
    usage: Usage | None = None
    finish_reason: str | None = None  # stop | length | cancelled


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    finish_reason: str


SpecKind = Literal["embedded", "gguf", "ollama", "openai"]


@dataclass(frozen=True)
class ModelSpec:
    kind: SpecKind
    name: str
    """Model name for servers; the file stem for local GGUF files."""
    path: Path | None = None
    """The GGUF file, for `gguf:` specs (for `embedded` it is found when opened)."""

    def __str__(self) -> str:
        if self.kind == "embedded":
            return "embedded"
        if self.kind == "gguf":
            return f"gguf:{self.path}"
        return f"{self.kind}:{self.name}"

    @property
    def is_local(self) -> bool:
        """Runs in this process (llama.cpp), so LoRA adapters apply and no server is involved."""
        return self.kind in ("embedded", "gguf")


@dataclass(frozen=True)
class Price:
    """USD per million tokens, from config, so distillation and evaluation can estimate cost."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input_per_mtok + usage.completion_tokens * self.output_per_mtok) / 1e6


@dataclass(frozen=True)
class Probe:
    """What a backend found out before generating anything (`pa doctor` shows it)."""

    reachable: bool
    model_present: bool | None
    """None when the server cannot say (an OpenAI-compatible server without /models)."""
    problem: str | None = None
    """Why the model cannot be used although the server answered (e.g. not pulled)."""


@runtime_checkable
class Backend(Protocol):
    """What every backend declares and does. Capabilities are attributes, never guessed."""

    spec: str
    """The model spec this backend serves, e.g. `ollama:llama3.1:8b` (for logs and the store)."""
    streams: bool
    """Text arrives while it is generated (False: one chunk with the whole answer)."""
    continues_answer: bool
    """A last assistant message is continued instead of answered, so callers may write the
    start of an answer (core.distill's guided tags)."""
    price: Price | None
    """USD per million tokens; None when it costs nothing per token (local) or none is configured."""

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions = GenerationOptions()
    ) -> AsyncIterator[Chunk]: ...

    async def probe(self) -> Probe:
        """Reach the server (or load the file) and look for the model, generating nothing.
        Raises BackendError when it cannot be reached, naming what to fix."""
        ...


async def complete(
    backend: Backend, messages: Sequence[Message], options: GenerationOptions = GenerationOptions()
) -> Completion:
    """Collect a whole answer. An empty answer is an error, never a silent ''."""
    parts: list[str] = []
    usage: Usage | None = None
    finish = "stop"
    async for chunk in backend.stream(messages, options):
        parts.append(chunk.text)
        if chunk.usage is not None:
            usage = chunk.usage
            finish = chunk.finish_reason or finish
    text = "".join(parts)
    if not text.strip():
        raise BackendError(f"{backend.spec}: the model returned an empty answer; try again or check the model")
    if usage is None:
        raise BackendError(f"{backend.spec}: the stream ended without its final chunk; the answer may be cut off")
    return Completion(text=text, usage=usage, finish_reason=finish)


@dataclass
class StreamTimer:
    """Helps backends fill in `Usage` timing."""

    started: float = field(default_factory=time.perf_counter)
    first_token: float | None = None

    def saw_token(self) -> None:
        if self.first_token is None:
            self.first_token = time.perf_counter() - self.started

    def usage(self, prompt_tokens: int, completion_tokens: int, *, estimated: bool = False) -> Usage:
        return Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=time.perf_counter() - self.started,
            first_token_seconds=self.first_token,
            estimated=estimated,
        )
