"""The one adapter between `pa serve` and pa's drafting use case.

The server never assembles the drafting flow itself: it asks this module which profiles can
be served, resolves `pa:PROFILE[@VERSION]` to a trained agent, and runs the agent -> M_L
pipeline as `core.drafting` events. When the headless workspace takes over the use cases, only
this module changes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.errors import NotTrainedError, UsageError

if TYPE_CHECKING:
    from core.agents import AgentInfo
    from core.config import Config
    from core.drafting import DraftEvent, DraftRequest, DraftTranscript
    from core.llm.base import Backend, GenerationOptions
    from core.paths import Paths
    from core.store import Store

MODEL_PREFIX = "pa:"
_MODEL = re.compile(r"^pa:(?P<profile>[^@\s]+)(?:@v?(?P<version>\d+))?$")


class UnknownModelError(UsageError):
    """The request names a model pa does not serve (not `pa:PROFILE`, or no such profile)."""


@dataclass(frozen=True)
class ServedModel:
    """A profile's agent that requests can name (`id` is what /v1/models lists)."""

    id: str
    profile: str
    agent: AgentInfo
    versions: tuple[int, ...]


def parse_model(model: str) -> tuple[str, int | None]:
    """`pa:alice` -> ("alice", None); `pa:alice@3` -> ("alice", 3)."""
    match = _MODEL.match(model.strip()) if isinstance(model, str) else None
    if match is None:
        raise UnknownModelError(
            f"model {model!r} is not served here; name a profile's agent as pa:PROFILE or pa:PROFILE@VERSION"
        )
    version = match.group("version")
    return match.group("profile"), int(version) if version else None


class DraftingFlow:
    """Profiles, agents and backends for the server: opened once, shared by every request.

    `agent_backend` decides how an agent is run: by default its own merged GGUF (one loaded
    model per profile); `core.serve.shared_base` swaps in one base with per-request adapters.
    """

    def __init__(
        self, paths: Paths, config: Config, store: Store, *, agent_backend: Callable[[AgentInfo], Backend] | None = None
    ):
        self.paths = paths
        self.config = config
        self.store = store
        self._backends: dict[str, Backend] = {}
        self._agent_backend = agent_backend

    # -- which models exist ------------------------------------------------------------------

    def served_models(self) -> list[ServedModel]:
        """Every profile with a trained agent, newest version first."""
        from core.agents import list_agents

        served = []
        for profile in self.store.list_profiles():
            agents = list_agents(self.paths, profile.name, "agent")
            if agents:
                served.append(
                    ServedModel(
                        f"{MODEL_PREFIX}{profile.name}", profile.name, agents[-1], tuple(a.version for a in agents)
                    )
                )
        return served

    def resolve(self, model: str) -> AgentInfo:
        """The agent a `model` string names; UnknownModelError or NotTrainedError otherwise."""
        from core.agents import list_agents, template_version

        name, version = parse_model(model)
        if self.store.find_profile(name) is None:
            raise UnknownModelError(
                f"model {model!r}: there is no profile {name!r}; /v1/models lists the profiles served here"
            )
        agents = list_agents(self.paths, name, "agent")
        if not agents:
            raise NotTrainedError(
                f"model {model!r}: profile {name!r} has no trained agent yet; train it with `pa train --profile {name}`"
            )
        if version is None:
            info = agents[-1]
        else:
            found = [a for a in agents if a.version == version]
            if not found:
                have = ", ".join(f"@{a.version}" for a in agents)
                raise UnknownModelError(
                    f"model {model!r}: profile {name!r} has no agent version {version} (it has {have})"
                )
            info = found[0]
        trained_on = info.manifest.get("prompt_template")
        if trained_on and trained_on != template_version("agent"):
            raise NotTrainedError(
                f"model {model!r}: {info.label} was trained on prompt {trained_on} but pa now asks with "
                f"{template_version('agent')}; retrain it with `pa train --profile {name}`"
            )
        return info

    # -- running the pipeline ------------------------------------------------------------------

    def genre(self, profile: str) -> str:
        return self.store.get_profile(profile).genre

    def large(self) -> Backend:
        return self._backend(self.config.models.large)

    def agent(self, info: AgentInfo) -> Backend:
        if self._agent_backend is not None:
            return self._agent_backend(info)
        from core.remote_agents import remote_agent_backend

        key = f"agent:{info.label}"
        if key not in self._backends:
            remote = remote_agent_backend(info, self.config)
            if remote is not None:
                self._backends[key] = remote
        if key in self._backends:
            return self._backends[key]
        from core.llm.specs import ModelSpec

        return self._backend(ModelSpec("gguf", info.gguf.stem, info.gguf))

    def text_options(self, **overrides: Any) -> GenerationOptions:
        from core.llm.base import GenerationOptions

        drafting = self.config.drafting
        base = GenerationOptions(temperature=drafting.temperature, max_tokens=drafting.max_tokens, seed=drafting.seed)
        return replace(base, **{key: value for key, value in overrides.items() if value is not None})

    def rules_options(self) -> GenerationOptions:
        from core.llm.base import GenerationOptions

        drafting = self.config.drafting
        return GenerationOptions(
            temperature=drafting.temperature, max_tokens=drafting.rules_max_tokens, seed=drafting.seed
        )

    def rules(self, info: AgentInfo, request: DraftRequest) -> AsyncIterator[DraftEvent]:
        """The agent's rules for the request (stream "rules")."""
        from core.drafting import stream_rules

        return stream_rules(self.agent(info), request, genre=self.genre(info.profile), options=self.rules_options())

    def final(
        self, info: AgentInfo, request: DraftRequest, rules: str, options: GenerationOptions
    ) -> AsyncIterator[DraftEvent]:
        """M_L's text following the rules (stream "final")."""
        from core.drafting import stream_final

        return stream_final(self.large(), request, rules, genre=self.genre(info.profile), options=options)

    def save(self, info: AgentInfo, request: DraftRequest, transcript: DraftTranscript) -> int:
        """Keep the draft in the profile's history (only when the caller asked: metadata.save)."""
        from core.history import save_draft

        return save_draft(
            self.store, self.store.get_profile(info.profile).id, request, transcript, agent_version=info.label
        )

    def _backend(self, spec: Any) -> Backend:
        key = str(spec)
        if key not in self._backends:
            from core.llm.specs import open_backend

            self._backends[key] = open_backend(spec, self.config)
        return self._backends[key]
