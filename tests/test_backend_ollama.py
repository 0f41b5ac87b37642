"""Ollama backend: protocol contract tests.

No Ollama server can be installed here, so these tests replay Ollama's real HTTP protocol
(NDJSON streaming from /api/chat, /api/tags, its error bodies) from pytest-httpserver, and
assert the exact JSON the `ollama` client sends. They prove our side of the contract, not
that a given Ollama release still honours it.
"""

from __future__ import annotations

import json
import socket

import pytest
from pytest_httpserver import HTTPServer

from core.config import Config
from core.errors import BackendError
from core.llm.base import GenerationOptions, Message, complete
from core.llm.ollama_backend import OllamaBackend, has_model, list_models, ollama_options, resolve_host
from core.llm.specs import open_backend

pytestmark = pytest.mark.contract

HELLO = [Message("system", "You are brief."), Message("user", "Say hello to Bob.")]
NDJSON = "application/x-ndjson"


def ndjson(*lines: dict) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def part(text: str) -> dict:
    return {
        "model": "llama3.1:8b",
        "created_at": "2026-11-28T08:00:00.000000Z",
        "message": {"role": "assistant", "content": text},
        "done": False,
    }


def done(reason: str = "stop", prompt: int = 26, completion: int = 3) -> dict:
    return {
        "model": "llama3.1:8b",
        "created_at": "2026-11-28T08:00:01.000000Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": reason,
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 342546000,
        "eval_count": completion,
        "eval_duration": 4535599000,
    }


def backend(httpserver: HTTPServer, model: str = "llama3.1:8b", timeout: float = 5.0) -> OllamaBackend:
    return OllamaBackend(model, host=httpserver.url_for("/").rstrip("/"), timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_streams_chunks_and_reports_ollama_token_counts(httpserver: HTTPServer):
    httpserver.expect_request("/api/chat", method="POST").respond_with_data(
        ndjson(part("Hello"), part(" Bob"), part("!"), done(prompt=26, completion=3)), content_type=NDJSON
    )
    chunks = [
        c
        async for c in backend(httpserver).stream(
            HELLO, GenerationOptions(temperature=0.0, max_tokens=64, stop=("\n\n",), seed=7)
        )
    ]
    assert [c.text for c in chunks] == ["Hello", " Bob", "!", ""]
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.estimated) == (26, 3, False)
    ((request, _),) = httpserver.log
    assert json.loads(request.get_data()) == {
        "model": "llama3.1:8b",
        "messages": [{"role": "system", "content": "You are brief."}, {"role": "user", "content": "Say hello to Bob."}],
        "tools": [],
        "stream": True,
        "options": {"temperature": 0.0, "num_predict": 64, "stop": ["\n\n"], "seed": 7},
    }


async def test_options_not_set_are_not_sent(httpserver: HTTPServer):
    httpserver.expect_request("/api/chat").respond_with_data(ndjson(part("Hi"), done()), content_type=NDJSON)
    await complete(backend(httpserver), HELLO)
    ((request, _),) = httpserver.log
    assert "options" not in json.loads(request.get_data())
    assert ollama_options(GenerationOptions(top_p=0.9)) == {"top_p": 0.9}


async def test_length_finish_is_reported(httpserver: HTTPServer):
    httpserver.expect_request("/api/chat").respond_with_data(
        ndjson(part("Hi"), done(reason="length", completion=1)), content_type=NDJSON
    )
    answer = await complete(backend(httpserver), HELLO, GenerationOptions(max_tokens=1))
    assert answer.finish_reason == "length" and answer.usage.completion_tokens == 1


async def test_missing_model_suggests_ollama_pull(httpserver: HTTPServer):
    httpserver.expect_request("/api/chat").respond_with_json(
        {"error": 'model "llama3.1:8b" not found, try pulling it first'}, status=404
    )
    with pytest.raises(BackendError, match=r"has no model 'llama3\.1:8b'.*run `ollama pull llama3\.1:8b`"):
        await complete(backend(httpserver), HELLO)


async def test_server_down_names_the_host():
    port = free_port()
    down = OllamaBackend("llama3.1:8b", host=f"127.0.0.1:{port}", timeout=5)
    with pytest.raises(
        BackendError, match=rf"cannot reach Ollama at http://127\.0\.0\.1:{port}; start it with `ollama serve`"
    ):
        await complete(down, HELLO)


async def test_malformed_json_is_a_clear_error(httpserver: HTTPServer):
    httpserver.expect_request("/api/chat").respond_with_data(
        ndjson(part("Hi")) + "<html>proxy error</html>\n", content_type=NDJSON
    )
    with pytest.raises(BackendError, match="sent a malformed reply.*really an Ollama server"):
        await complete(backend(httpserver), HELLO)


async def test_error_line_mid_stream_is_an_error(httpserver: HTTPServer):
    body = ndjson(part("Hi"), {"error": "an unknown error was encountered while running the model"})
    httpserver.expect_request("/api/chat").respond_with_data(body, content_type=NDJSON)
    with pytest.raises(BackendError, match="an unknown error was encountered"):
        await complete(backend(httpserver), HELLO)


async def test_stream_cut_before_done_is_incomplete(httpserver: HTTPServer):
    httpserver.expect_request("/api/chat").respond_with_data(ndjson(part("Hel"), part("lo")), content_type=NDJSON)
    with pytest.raises(BackendError, match="ended before the answer was done"):
        await complete(backend(httpserver), HELLO)


async def test_empty_answer_is_an_error(httpserver: HTTPServer):
    httpserver.expect_request("/api/chat").respond_with_data(ndjson(done(completion=0)), content_type=NDJSON)
    with pytest.raises(BackendError, match="empty answer"):
        await complete(backend(httpserver), HELLO)


async def test_slow_server_times_out(httpserver: HTTPServer):
    import time

    from werkzeug import Response

    def slow(request):
        time.sleep(1.5)
        return Response(ndjson(part("Hi"), done()), content_type=NDJSON)

    httpserver.expect_request("/api/chat").respond_with_handler(slow)
    with pytest.raises(BackendError, match=r"did not answer within 0\.5 s; raise ollama\.timeout"):
        await complete(backend(httpserver, timeout=0.5), HELLO)


async def test_list_models_reads_api_tags(httpserver: HTTPServer):
    httpserver.expect_request("/api/tags", method="GET").respond_with_json(
        {
            "models": [
                {
                    "name": "llama3.1:8b",
                    "model": "llama3.1:8b",
                    "modified_at": "2026-11-01T10:00:00.000000+00:00",
                    "size": 4920753328,
                    "digest": "46e0c10c039e",
                    "details": {
                        "parent_model": "",
                        "format": "gguf",
                        "family": "llama",
                        "families": ["llama"],
                        "parameter_size": "8.0B",
                        "quantization_level": "Q4_K_M",
                    },
                },
                {
                    "name": "qwen2.5:latest",
                    "model": "qwen2.5:latest",
                    "modified_at": "2026-10-01T10:00:00+00:00",
                    "size": 4683087332,
                    "digest": "845dbda0ea48",
                    "details": {"format": "gguf", "parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
                },
            ]
        }
    )
    models = await list_models(httpserver.url_for("/").rstrip("/"))
    assert [(m.name, m.parameter_size, m.quantization, m.size_bytes) for m in models] == [
        ("llama3.1:8b", "8.0B", "Q4_K_M", 4920753328),
        ("qwen2.5:latest", "7.6B", "Q4_K_M", 4683087332),
    ]
    assert models[0].modified == "2026-11-01T10:00:00+00:00"
    assert has_model(models, "qwen2.5") and has_model(models, "llama3.1:8b") and not has_model(models, "llama3.1")


async def test_list_models_server_down_names_the_host():
    port = free_port()
    with pytest.raises(BackendError, match=rf"cannot reach Ollama at http://127\.0\.0\.1:{port}"):
        await list_models(f"http://127.0.0.1:{port}", timeout=2)


def test_host_comes_from_config_then_env_then_default(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.5")
    assert resolve_host(None) == "http://10.0.0.5:11434"
    assert resolve_host("https://ollama.example.com") == "https://ollama.example.com:443"
    assert resolve_host(":9999") == "http://127.0.0.1:9999"
    monkeypatch.delenv("OLLAMA_HOST")
    assert resolve_host(None) == "http://127.0.0.1:11434"
    config = Config.model_validate({"ollama": {"host": "http://gpu-box:11434", "timeout": 30, "allow_http": True}})
    opened = open_backend("ollama:llama3.1:8b", config)
    assert isinstance(opened, OllamaBackend)
    assert (opened.model, opened.host, opened.timeout, opened.spec) == (
        "llama3.1:8b",
        "http://gpu-box:11434",
        30.0,
        "ollama:llama3.1:8b",
    )
