"""One base, many people: adapters switched per request answer exactly like each profile's own agent."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from core.agents import AgentInfo, agent_messages
from core.config import Config, EmbeddedConfig
from core.llm.base import GenerationOptions, complete
from core.llm.embedded import EmbeddedBackend
from core.serve.shared_base import SharedBasePool

GREEDY = GenerationOptions(temperature=0.0, max_tokens=40)
INTENTS = [
    ("- tell Sue the call moved to 3pm", "sue.mara@enron.com", "call"),
    ("- ask Paul for the draft filing", "paul.kaufman@enron.com", "filing"),
]


def _agent(folder: Path, profile: str, lora: Path, base: Path, merged: Path) -> AgentInfo:
    folder.mkdir(parents=True)
    manifest = {"gguf": merged.name, "lora_gguf": lora.name, "lora_base_gguf": str(base)}
    shutil.copy2(lora, folder / lora.name)
    shutil.copy2(merged, folder / merged.name)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return AgentInfo(profile, "agent", 1, folder, folder / merged.name, manifest)


def _other_adapter(adapter: Path, target: Path) -> Path:
    """A second person's adapter: the same shapes, other weights (lora_B negated)."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(adapter, target)
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    save_file({k: (-v if ".lora_B." in k else v) for k, v in weights.items()}, str(target / "adapter_model.safetensors"))
    return target


def _answers(backend, prompts) -> list[tuple[str, int]]:
    async def run():
        out = []
        for prompt in prompts:
            done = await complete(backend, prompt, GREEDY)
            out.append((done.text, done.usage.completion_tokens))
        return out

    return asyncio.run(run())


def test_adapters_switched_per_request_match_each_profiles_own_model(tiny_trained_agent, tmp_path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from finetune.export import write_gguf, write_lora_gguf
    from finetune.gguf_tokenizer import load_tokenizer_metadata

    base_folder = tiny_trained_agent.base_folder
    base = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    base_gguf = write_gguf(base, load_tokenizer_metadata(base_folder), tmp_path / "base-f32.gguf", "f32")
    config = AutoConfig.from_pretrained(base_folder)
    lora_a = write_lora_gguf(tiny_trained_agent.agent.folder / "adapter", config, tmp_path / "a-lora.gguf")
    lora_b = write_lora_gguf(_other_adapter(tiny_trained_agent.agent.folder / "adapter", tmp_path / "b-adapter"), config,
                             tmp_path / "b-lora.gguf")
    alice = _agent(tmp_path / "alice", "alice", lora_a, base_gguf, tiny_trained_agent.float_gguf)
    bob = _agent(tmp_path / "bob", "bob", lora_b, base_gguf, tiny_trained_agent.float_gguf)
    prompts = [agent_messages("agent", intent, recipient=to, subject=subject) for intent, to, subject in INTENTS]

    # References: alice's merged agent; bob's adapter applied by llama.cpp at load time (its own model).
    alice_merged = _answers(EmbeddedBackend(tiny_trained_agent.float_gguf, n_ctx=512, threads=2), prompts)
    bob_alone = _answers(EmbeddedBackend(base_gguf, n_ctx=512, threads=2, lora_path=lora_b), prompts)
    assert alice_merged != bob_alone  # two people, two different agents

    pool = SharedBasePool(None, Config(embedded=EmbeddedConfig(n_ctx=512, threads=2)))
    try:
        alice_shared, bob_shared = pool.backend_for(alice), pool.backend_for(bob)
        # Interleaved on one loaded base: each request switches the adapter (and drops the prompt cache).
        for _ in range(2):
            assert _answers(alice_shared, prompts) == alice_merged
            assert _answers(bob_shared, prompts) == bob_alone
        assert len(pool._bases) == 1  # one base model loaded for both people
    finally:
        pool.close()


def test_an_agent_without_an_adapter_gguf_cannot_be_served_on_a_shared_base(tiny_agent):
    import pytest

    from core.errors import NotTrainedError

    pool = SharedBasePool(None, Config())
    with pytest.raises(NotTrainedError, match="--shared-base"):
        pool.backend_for(tiny_agent)
