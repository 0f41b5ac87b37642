"""Is each configured model usable? The checks behind `pa doctor` (and any UI that wants them).

For every role (large, agent, judge) we check, in order: the spec parses, the backend's own
`probe()` reaches the server or file and finds the model, and a 5-token generation works; we
time that generation. No check knows which kind of backend it talks to.
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
        probe = await backend.probe()
        check = replace(check, reachable=probe.reachable, model_present=probe.model_present)
        if probe.problem is not None:
            return replace(check, problem=probe.problem)
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
