"""Is each configured model usable? The checks behind `pa doctor` (and any UI that wants them).

For every role (large, agent, judge) we check, in order: the spec parses, the server or file
is reachable, the model is there, and a 5-token generation works; we time that generation.
A role is usable only if all of that passed. Roles that share a spec are checked once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from core.errors import PaError
from core.llm.base import GenerationOptions, Message, complete

if TYPE_CHECKING:
    from core.config import Config

PROBE = [Message("user", "Reply with one word: ready.")]
PROBE_OPTIONS = GenerationOptions(temperature=0.0, max_tokens=5)


@dataclass(frozen=True)
class RoleCheck:
    role: str
    spec: str
    reachable: bool | None = None
    """None when the check never got that far."""
    model_present: bool | None = None
    """None when the server cannot say (an OpenAI-compatible server without /models)."""
    sample: str | None = None
    completion_tokens: int | None = None
    tokens_per_second: float | None = None
    problem: str | None = None
    sends_to: str | None = None
    """Where this role's text goes (core.privacy.destination): this process, this machine, or another."""

    @property
    def usable(self) -> bool:
        return self.problem is None


def configured_roles(config: Config) -> list[tuple[str, str]]:
    return [("large", config.models.large), ("agent", config.models.agent), ("judge", config.judge_spec)]


async def check_spec(role: str, spec: str, config: Config) -> RoleCheck:
    """Run every check for one spec; the first failure ends it and becomes `problem`."""
    from core.llm.specs import open_backend, parse_spec

    check = RoleCheck(role=role, spec=spec)
    try:
        parsed = parse_spec(spec)
        from core.privacy import destination

        check = replace(check, spec=str(parsed), sends_to=destination(parsed, config).describe())
        backend = open_backend(parsed, config)
        if parsed.kind == "ollama":
            from core.llm.ollama_backend import has_model, list_models

            models = await list_models(config.ollama.host, timeout=min(config.ollama.timeout, 30.0))
            check = replace(check, reachable=True, model_present=has_model(models, parsed.name))
            if not check.model_present:
                return replace(check, problem=f"Ollama at {backend.host} has no model {parsed.name!r}; run `ollama pull {parsed.name}`")  # type: ignore[attr-defined]
        elif parsed.kind == "openai":
            offered = await backend.list_models()  # type: ignore[attr-defined]
            check = replace(check, reachable=True, model_present=None if offered is None else parsed.name in offered)
            if check.model_present is False:
                await backend.check_model()  # raises with the list of offered models
        else:
            import asyncio

            await asyncio.to_thread(backend.load)  # type: ignore[attr-defined]
            check = replace(check, reachable=True, model_present=True)
        answer = await complete(backend, PROBE, PROBE_OPTIONS)
    except PaError as err:
        return replace(check, problem=str(err))
    return replace(
        check,
        sample=answer.text.strip(),
        completion_tokens=answer.usage.completion_tokens,
        tokens_per_second=answer.usage.tokens_per_second,
    )


async def check_roles(config: Config) -> list[RoleCheck]:
    """One check per role, sequentially (local models would compete for the same cores)."""
    done: dict[str, RoleCheck] = {}
    results = []
    for role, spec in configured_roles(config):
        if spec not in done:
            done[spec] = await check_spec(role, spec, config)
        results.append(replace(done[spec], role=role))
    return results
