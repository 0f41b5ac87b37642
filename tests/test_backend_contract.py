"""One contract, every backend: what the rest of pa relies on from `core.llm.base.Backend`.

Each backend runs against real parts: the embedded SmolLM2 in-process, the OpenAI-compatible
backend against a real `llama_cpp.server`, and Ollama against its recorded HTTP traffic
(no Ollama server can be installed here; those cases are marked `contract`). A new backend
adds one entry to `BACKEND_KINDS` and one to `core.llm.specs.BACKENDS`.
"""

from __future__ import annotations

import json

import pytest

from core.config import Config
from core.llm.base import Backend, GenerationOptions, Message, Price, Probe, complete
from core.llm.specs import BACKENDS, open_backend

HELLO = [Message("system", "You are brief."), Message("user", "Say hello to Bob.")]
SHORT = GenerationOptions(temperature=0.0, max_tokens=6)
BACKEND_KINDS = ["embedded", "openai", pytest.param("ollama", marks=pytest.mark.contract)]


def recorded_ollama(httpserver) -> Config:
    """Ollama's real replies (as `ollama serve` 0.5 sends them) for /api/tags and /api/chat."""
    model = {
        "name": "llama3.1:8b",
        "model": "llama3.1:8b",
        "modified_at": "2026-11-28T08:00:00Z",
        "size": 4920753328,
        "digest": "46e0c10c039e",
        "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
    }
    httpserver.expect_request("/api/tags", method="GET").respond_with_json({"models": [model]})
    parts = [
        {
            "model": "llama3.1:8b",
            "created_at": "2026-11-28T08:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": False,
        }
        for text in ("Hello", " Bob", "!")
    ]
    parts.append(
        {
            "model": "llama3.1:8b",
            "created_at": "2026-11-28T08:00:01Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 488358345,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 34254600,
            "eval_count": 3,
            "eval_duration": 453559900,
        }
    )
    httpserver.expect_request("/api/chat", method="POST").respond_with_data(
        "".join(json.dumps(p) + "\n" for p in parts), content_type="application/x-ndjson"
    )
    return Config.model_validate({"ollama": {"host": httpserver.url_for("/").rstrip("/"), "timeout": 10}})


@pytest.fixture(params=BACKEND_KINDS)
def backend(request, monkeypatch) -> Backend:
    kind = request.param
    if kind == "embedded":
        return open_backend("embedded", Config())
    if kind == "openai":
        server = request.getfixturevalue("llama_server")
        monkeypatch.setenv("PA_TEST_OPENAI_KEY", "sk-test")
        config = Config.model_validate(
            {"openai": {"base_url": server.base_url, "api_key_env": "PA_TEST_OPENAI_KEY", "api_key_host": "127.0.0.1"}}
        )
        return open_backend("openai:smollm2", config)
    return open_backend("ollama:llama3.1:8b", recorded_ollama(request.getfixturevalue("httpserver")))


def test_every_spec_kind_has_a_backend_in_the_registry():
    assert set(BACKENDS) == {"embedded", "gguf", "ollama", "openai"}


async def test_declares_its_capabilities(backend):
    assert isinstance(backend, Backend)
    assert isinstance(backend.streams, bool) and isinstance(backend.continues_answer, bool)
    assert backend.price is None or isinstance(backend.price, Price)
    assert isinstance(backend.spec, str) and backend.spec


async def test_probe_finds_the_model_without_generating(backend):
    probe = await backend.probe()
    assert isinstance(probe, Probe)
    assert probe.reachable and probe.model_present in (True, None) and probe.problem is None


async def test_streams_text_then_one_final_chunk_with_usage(backend):
    chunks = [chunk async for chunk in backend.stream(HELLO, SHORT)]
    *texts, final = chunks
    assert texts and all(c.usage is None for c in texts) and "".join(c.text for c in texts).strip()
    assert final.usage is not None and final.finish_reason in ("stop", "length")
    assert final.usage.completion_tokens >= 1 and final.usage.seconds > 0
    if backend.streams:
        assert len(texts) > 1  # text arrived in pieces, not as one block at the end


async def test_complete_collects_the_same_kind_of_answer(backend):
    answer = await complete(backend, HELLO, SHORT)
    assert answer.text.strip() and answer.finish_reason in ("stop", "length")


async def test_a_consumer_that_stops_early_ends_the_stream_cleanly(backend):
    stream = backend.stream(HELLO, GenerationOptions(temperature=0.0, max_tokens=32))
    first = await anext(stream)
    await stream.aclose()
    assert first.text is not None
