"""One base, many people: adapters switched per request answer exactly like each profile's own agent."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

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
    save_file(
        {k: (-v if ".lora_B." in k else v) for k, v in weights.items()}, str(target / "adapter_model.safetensors")
    )
    return target


def _answers(backend, prompts) -> list[tuple[str, int]]:
    async def run():
        out = []
        for prompt in prompts:
            done = await complete(backend, prompt, GREEDY)
            out.append((done.text, done.usage.completion_tokens))
        return out

    return asyncio.run(run())


@dataclass
class Adapters:
    base_gguf: Path
    """The tiny agent's base model as an F32 GGUF."""
    lora_a: Path
    """The tiny agent's own adapter as a llama.cpp LoRA GGUF."""
    lora_b: Path
    """Another person's adapter (same shapes, other weights)."""


@pytest.fixture(scope="module")
def adapters(tiny_trained_agent, tmp_path_factory) -> Adapters:
    from tests.gguf_files import write_base_and_adapters

    folder = tmp_path_factory.mktemp("adapters")
    adapter = tiny_trained_agent.agent.folder / "adapter"
    files = Adapters(folder / "base-f32.gguf", folder / "a-lora.gguf", folder / "b-lora.gguf")
    write_base_and_adapters(
        tiny_trained_agent.base_folder,
        files.base_gguf,
        [(adapter, files.lora_a), (_other_adapter(adapter, folder / "b-adapter"), files.lora_b)],
    )
    return files


def test_adapters_switched_per_request_match_each_profiles_own_model(tiny_trained_agent, adapters, tmp_path):
    base_gguf, lora_a, lora_b = adapters.base_gguf, adapters.lora_a, adapters.lora_b
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
    from core.agents import read_agent
    from core.errors import NotTrainedError

    # Every export now writes an adapter GGUF; an agent exported before that has none.
    manifest_file = tiny_agent.folder / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest.update(lora_gguf=None, lora_base_gguf=None)
    manifest_file.write_text(json.dumps(manifest))
    old_agent = read_agent(tiny_agent.folder, tiny_agent.profile, tiny_agent.kind)
    pool = SharedBasePool(None, Config())
    with pytest.raises(NotTrainedError, match="--shared-base"):
        pool.backend_for(old_agent)


def test_an_agent_served_as_a_named_lora_module_by_an_openai_server(tiny_agent, adapters, tmp_path):
    """models.agent = openai:...: the profile's agent is the server's LoRA module `pa-tiny-v1`."""
    from core.config import parse_config
    from core.drafting import DraftRequest
    from core.paths import resolve_paths
    from core.remote_agents import remote_model_name, served_adapter_name
    from core.serve.flow import DraftingFlow
    from core.store import open_store
    from tests.test_backend_openai import free_port
    from tests.tiny_agent import RULES

    assert served_adapter_name(tiny_agent) == "pa-tiny-v1"
    assert remote_model_name("SmolLM2:{adapter}", "pa-tiny-v1") == "SmolLM2:pa-tiny-v1"  # SGLang's form
    port = free_port()
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {
                "model": str(adapters.base_gguf),
                "model_alias": "pa-tiny-v1",
                "lora_path": str(adapters.lora_a),
                "n_ctx": 512,
                "n_threads": 2,
                "verbose": False,
            }
        ],
    }
    (tmp_path / "server.json").write_text(json.dumps(settings))
    server = _start_llama_server(tmp_path / "server.json", port, tmp_path / "server.log")
    try:
        config = parse_config(
            f'[models]\nagent = "openai:tiny-base"\n[openai]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
            "[drafting]\ntemperature = 0.0\nrules_max_tokens = 64\n"
        )
        with open_store() as store:
            flow = DraftingFlow(resolve_paths(), config, store)
            agent = flow.agent(tiny_agent)
            assert agent.spec == "openai:pa-tiny-v1"

            async def rules() -> str:
                request = DraftRequest(
                    "- tell Sue the call moved to 3pm", recipient="sue.mara@enron.com", subject="call"
                )
                return [e async for e in flow.rules(tiny_agent, request) if e.kind == "done"][0].text

            assert asyncio.run(rules()) == RULES.strip()
    finally:
        server.kill()
        server.wait(10)


def _start_llama_server(config_file: Path, port: int, log: Path):
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_file)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")


def test_pa_serve_shared_base_serves_each_profile_from_one_base(tiny_trained_agent, adapters, tmp_path):
    """`pa serve --shared-base` over HTTP: each profile's agent is its adapter on the one base."""
    from urllib.parse import unquote

    import openai

    from core.agents import template_version
    from core.paths import resolve_paths
    from core.store import Store
    from tests.serve_process import start_serve

    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        "[drafting]\nmax_tokens = 48\nrules_max_tokens = 64\ntemperature = 0.0\n[embedded]\nthreads = 2\n"
    )
    paths = resolve_paths({"PA_HOME": str(home)})
    with Store.open(paths.store_file) as store:
        for profile, lora in (("alice", adapters.lora_a), ("bob", adapters.lora_b)):
            store.create_profile(profile)
            folder = paths.agents_dir(profile) / "agent" / "v1"
            folder.mkdir(parents=True)
            shutil.copy2(lora, folder / "agent-lora.gguf")
            shutil.copy2(tiny_trained_agent.gguf, folder / "agent-q8_0.gguf")  # the merged file, unused here
            (folder / "manifest.json").write_text(
                json.dumps(
                    {
                        "gguf": "agent-q8_0.gguf",
                        "lora_gguf": "agent-lora.gguf",
                        "lora_base_gguf": str(adapters.base_gguf),
                        "prompt_template": template_version("agent"),
                    }
                )
            )
    served = start_serve(home, "--shared-base")
    try:
        client = openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0, timeout=120)
        assert sorted(m.id for m in client.models.list()) == ["pa:alice", "pa:bob"]
        messages = [
            {"role": "system", "content": "To: karen.denne@enron.com\nSubject: memo"},
            {"role": "user", "content": "- ask Karen to review the memo"},  # the embedded M_L writes an email for it
        ]
        raw = client.chat.completions.with_raw_response.create(model="pa:alice", messages=messages, max_tokens=48)
        assert unquote(raw.headers["x-pa-agent"]) == "alice/agent/v1"
        served_rules = raw.parse().model_extra["pa"]["rules"]
    finally:
        served.stop()
    # The same greedy rules as alice's merged (F32) agent gives for this request.
    from core.drafting import DraftRequest, stream_rules

    async def merged_rules() -> str:
        merged = EmbeddedBackend(tiny_trained_agent.float_gguf, threads=2)
        request = DraftRequest("- ask Karen to review the memo", recipient="karen.denne@enron.com", subject="memo")
        options = GenerationOptions(temperature=0.0, max_tokens=64)
        return [e async for e in stream_rules(merged, request, options=options) if e.kind == "done"][0].text

    assert served_rules == asyncio.run(merged_rules())
    assert "Sign off: Jeff" in served_rules
