"""Mail and keys travel only where they were meant to: https off this machine, a key only to its host."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from core.config import parse_config
from core.errors import BackendError, ConfigError
from core.llm.base import complete
from core.llm.specs import open_backend
from tests.test_backend_openai import CHAT, GOOD_STREAM, HELLO

SECRET = "sk-live-must-stay-home"


def config_for(base_url: str, extra: str = "") -> object:
    return parse_config(f'[models]\nlarge = "openai:m"\n[openai]\nbase_url = "{base_url}"\nmax_retries = 0\n{extra}')


@pytest.mark.parametrize("url", ["http://203.0.113.7:8000/v1", "http://llm.example.com/v1", "http://[2001:db8::1]/v1"])
def test_plain_http_to_another_machine_is_refused_with_the_fix(url):
    with pytest.raises(ConfigError, match=r"plain http to another machine.*use https, or set openai.allow_http = true"):
        open_backend("openai:m", config_for(url))


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1", "https://llm.example.com/v1"],
)
def test_loopback_http_and_any_https_are_accepted(url):
    assert open_backend("openai:m", config_for(url)).base_url == url


def test_plain_http_elsewhere_when_the_user_says_the_network_is_theirs():
    backend = open_backend("openai:m", config_for("http://10.0.0.5:8000/v1", "allow_http = true"))
    assert backend.base_url == "http://10.0.0.5:8000/v1"


def test_ollama_over_plain_http_to_another_machine_is_refused_too():
    config = parse_config('[ollama]\nhost = "http://192.0.2.4:11434"\n')
    with pytest.raises(ConfigError, match=r"ollama.host .* ollama.allow_http = true"):
        open_backend("ollama:llama3.1:8b", config)
    allowed = parse_config('[ollama]\nhost = "http://192.0.2.4:11434"\nallow_http = true\n')
    assert open_backend("ollama:llama3.1:8b", allowed).host == "http://192.0.2.4:11434"


async def test_the_default_key_variable_is_never_sent_to_another_server(httpserver: HTTPServer, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    httpserver.expect_request(CHAT, method="POST").respond_with_data(GOOD_STREAM, content_type="text/event-stream")
    backend = open_backend("openai:m", config_for(httpserver.url_for("/v1")))
    backend.verify_model = False
    await complete(backend, HELLO)
    ((request, _),) = httpserver.log
    assert SECRET not in request.headers.get("Authorization", "")
    assert SECRET not in json.dumps(dict(request.headers)) + request.get_data(as_text=True)


async def test_a_named_key_goes_only_to_the_host_it_was_configured_for(httpserver: HTTPServer, monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_KEY", SECRET)
    httpserver.expect_request(CHAT, method="POST").respond_with_data(GOOD_STREAM, content_type="text/event-stream")
    moved = config_for(
        httpserver.url_for("/v1"), 'api_key_env = "MY_PROVIDER_KEY"\napi_key_host = "api.provider.example"'
    )
    backend = open_backend("openai:m", moved)
    backend.verify_model = False
    with pytest.raises(
        BackendError, match=r"tied to api.provider.example .* pa did not send it.*api_key_host = \"localhost\""
    ):
        await complete(backend, HELLO)
    assert httpserver.log == []

    tied = config_for(httpserver.url_for("/v1"), 'api_key_env = "MY_PROVIDER_KEY"\napi_key_host = "localhost"')
    backend = open_backend("openai:m", tied)
    backend.verify_model = False
    await complete(backend, HELLO)
    ((request, _),) = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {SECRET}"


async def test_a_server_wanting_a_key_it_was_not_given_says_how_to_tie_one(httpserver: HTTPServer, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    httpserver.expect_request(CHAT).respond_with_json({"error": {"message": "missing key"}}, status=401)
    backend = open_backend("openai:m", config_for(httpserver.url_for("/v1")))
    backend.verify_model = False
    with pytest.raises(BackendError, match=r"pa sends \$OPENAI_API_KEY only to api.openai.com.*api_key_host"):
        await complete(backend, HELLO)
