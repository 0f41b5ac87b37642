"""`pa doctor` and `pa models` through the real CLI, with the real embedded model, a dead
port, and (marked contract) Ollama/OpenAI protocol replays from pytest-httpserver."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer


def write_config(pa_home: Path, text: str) -> None:
    pa_home.mkdir(parents=True, exist_ok=True)
    (pa_home / "config.toml").write_text(text, encoding="utf-8")


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def doctor_json(pa) -> tuple[int, dict[str, dict], str]:
    result = pa("doctor", "--json")
    return result.exit_code, {row["role"]: row for row in json.loads(result.stdout)}, result.stderr


def test_doctor_passes_with_the_embedded_default(pa):
    result = pa("doctor")
    assert result.exit_code == 0, result.stderr
    for role in ("large", "agent", "judge"):
        assert role in result.stdout
    assert "unusable" not in result.stdout and result.stdout.count("ok") >= 3
    code, rows, _ = doctor_json(pa)
    assert code == 0
    for row in rows.values():
        assert row["usable"] and row["reachable"] and row["model_present"]
        assert row["spec"] == "embedded" and row["sample"]
        assert 1 <= row["completion_tokens"] <= 5 and row["tokens_per_second"] > 0


def test_doctor_fails_when_the_ollama_host_is_unreachable(pa, pa_home):
    port = dead_port()
    write_config(pa_home, f'[models]\nlarge = "ollama:llama3.1:8b"\n[ollama]\nhost = "http://127.0.0.1:{port}"\n')
    result = pa("doctor")
    assert result.exit_code == 1
    assert "unusable model role(s): large, judge" in result.stderr
    code, rows, _ = doctor_json(pa)
    assert code == 1
    assert not rows["large"]["usable"] and f"cannot reach Ollama at http://127.0.0.1:{port}" in rows["large"]["problem"]
    assert rows["agent"]["usable"], "the embedded agent role is fine and is reported as such"


def test_doctor_reports_bad_specs_and_files(pa, pa_home, tmp_path):
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_text("text")
    write_config(
        pa_home, f'[models]\nlarge = "foo:bar"\nagent = "gguf:{not_gguf}"\njudge = "gguf:{tmp_path / "absent.gguf"}"\n'
    )
    code, rows, stderr = doctor_json(pa)
    assert code == 1 and "large, agent, judge" in stderr
    assert "unknown model spec 'foo:bar'" in rows["large"]["problem"]
    assert "not a GGUF file" in rows["agent"]["problem"]
    assert "no such model file" in rows["judge"]["problem"]


def test_models_with_no_server_names_the_host(pa):
    port = dead_port()
    result = pa("models", "--host", f"127.0.0.1:{port}")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: cannot reach Ollama at http://127.0.0.1:{port}; start it with `ollama serve` or set ollama.host / OLLAMA_HOST"
    )


TAGS = {
    "models": [
        {
            "name": "llama3.1:8b",
            "model": "llama3.1:8b",
            "modified_at": "2026-11-01T10:00:00+00:00",
            "size": 4920753328,
            "digest": "46e0c10c039e",
            "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
        }
    ]
}


@pytest.mark.contract
def test_models_lists_what_ollama_has(pa, httpserver: HTTPServer):
    """Contract test: replays Ollama's /api/tags reply."""
    httpserver.expect_request("/api/tags").respond_with_json(TAGS)
    host = httpserver.url_for("/").rstrip("/")
    result = pa("models", "--host", host)
    assert result.exit_code == 0, result.stderr
    assert "ollama:llama3.1:8b" in result.stdout and "Q4_K_M" in result.stdout
    listed = json.loads(pa("models", "--host", host, "--json").stdout)
    assert [row["name"] for row in listed] == ["llama3.1:8b"]


@pytest.mark.contract
def test_models_says_so_when_ollama_has_none(pa, httpserver: HTTPServer):
    """Contract test: an empty /api/tags reply."""
    httpserver.expect_request("/api/tags").respond_with_json({"models": []})
    result = pa("models", "--host", httpserver.url_for("/").rstrip("/"))
    assert result.exit_code == 0 and "no models yet" in result.stdout


@pytest.mark.contract
def test_doctor_with_an_ollama_role(pa, pa_home, httpserver: HTTPServer):
    """Contract test: /api/tags then a streamed /api/chat, as a real Ollama answers them."""
    httpserver.expect_request("/api/tags").respond_with_json(TAGS)
    chat = [
        {
            "model": "llama3.1:8b",
            "created_at": "2026-11-28T08:00:00Z",
            "message": {"role": "assistant", "content": "Ready"},
            "done": False,
        },
        {
            "model": "llama3.1:8b",
            "created_at": "2026-11-28T08:00:01Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 15,
            "eval_count": 2,
            "eval_duration": 10,
        },
    ]
    httpserver.expect_request("/api/chat").respond_with_data(
        "".join(json.dumps(x) + "\n" for x in chat), content_type="application/x-ndjson"
    )
    host = httpserver.url_for("/").rstrip("/")
    write_config(
        pa_home,
        f'[models]\nlarge = "ollama:llama3.1:8b"\nagent = "ollama:llama3.1:8b"\njudge = "ollama:qwen2.5"\n[ollama]\nhost = "{host}"\n',
    )
    code, rows, stderr = doctor_json(pa)
    assert rows["large"]["usable"] and rows["large"]["model_present"] and rows["large"]["sample"] == "Ready"
    assert code == 1 and "judge" in stderr
    assert rows["judge"]["reachable"] and rows["judge"]["model_present"] is False
    assert "run `ollama pull qwen2.5`" in rows["judge"]["problem"]


def test_doctor_with_an_openai_compatible_role(pa, pa_home, httpserver: HTTPServer):
    httpserver.expect_request("/v1/models").respond_with_json(
        {"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "x"}]}
    )
    stream = (
        "".join(
            f"data: {json.dumps(event)}\n\n"
            for event in [
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "m",
                    "choices": [{"index": 0, "delta": {"content": "Ready"}, "finish_reason": None}],
                },
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "m",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                },
            ]
        )
        + "data: [DONE]\n\n"
    )
    httpserver.expect_request("/v1/chat/completions").respond_with_data(stream, content_type="text/event-stream")
    write_config(
        pa_home,
        f'[models]\nlarge = "openai:m"\nagent = "openai:m"\njudge = "openai:gpt-x"\n[openai]\nbase_url = "{httpserver.url_for("/v1")}"\nmax_retries = 0\n',
    )
    code, rows, _ = doctor_json(pa)
    assert rows["large"]["usable"] and rows["large"]["model_present"] is True and rows["large"]["sample"] == "Ready"
    assert code == 1 and rows["judge"]["model_present"] is False
    assert "does not offer model 'gpt-x' (it lists: m)" in rows["judge"]["problem"]
