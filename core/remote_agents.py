"""Agents served by a multi-LoRA server (vLLM, SGLang, LoRAX) instead of loaded by pa.

Each exported agent keeps its PEFT adapter folder (`agents/<kind>/vN/adapter/`), which those
servers load as a named LoRA module next to the base model. With `models.agent = "openai:BASE"`
pa asks the `[openai]` server for the module named by `served_adapter_name` (for profile alice's
agent v1: `pa-alice-v1`), so the server's flags name each adapter that way (docs/serving.md);
`models.agent = "openai:BASE:{adapter}"` names it the SGLang way (`BASE:pa-alice-v1`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.agents import AgentInfo
    from core.config import Config
    from core.llm.base import Backend


def served_adapter_name(info: AgentInfo) -> str:
    """The LoRA module name a multi-LoRA server serves this agent as (manifest `served_name` overrides it)."""
    named = info.manifest.get("served_name")
    if isinstance(named, str) and named.strip():
        return named.strip()
    kind = "" if info.kind == "agent" else f"-{info.kind}"
    return f"pa-{info.profile}{kind}-v{info.version}"


def remote_agent_backend(info: AgentInfo, config: Config) -> Backend | None:
    """The agent as a remote LoRA module when `models.agent` is an `openai:` server; None when pa runs it itself."""
    from core.llm.specs import open_backend, parse_spec

    spec = parse_spec(config.models.agent)
    if spec.kind != "openai":
        return None
    return open_backend(f"openai:{remote_model_name(spec.name, served_adapter_name(info))}", config)


def remote_model_name(agent_model: str, adapter: str) -> str:
    """The `model` a request names: `{adapter}` in models.agent is replaced (SGLang: `BASE:{adapter}`),
    otherwise the adapter name alone (vLLM and LoRAX name a LoRA module by itself)."""
    return agent_model.replace("{adapter}", adapter) if "{adapter}" in agent_model else adapter
