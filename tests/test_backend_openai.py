"""The OpenAI-compatible backend against a real `python -m llama_cpp.server` serving the
SmolLM2 GGUF on a free loopback port, and against pytest-httpserver where a test needs the
server to misbehave on cue (429, 5xx, redirects, malformed chunks, slow answers).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.config import Config
from core.errors import BackendError
from core.llm.base import Chunk, GenerationOptions, Message, complete
from core.llm.openai_backend import PLACEHOLDER_KEY, OpenAIBackend
from core.llm.specs import Price, embedded_model_path, open_backend, price_of

MODEL_ALIAS = "smollm2"
HELLO = [Message("system", "You are brief."), Message("user", "Say hello to Bob.")]
GREEDY = GenerationOptions(temperature=0.0, max_tokens=8)
KEY_ENV = "PA_TEST_OPENAI_KEY"
SECRET = "sk-test-0123456789-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LlamaServer:
    process: subprocess.Popen
    base_url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def start_llama_server(
    log: Path,
    ready_within: float = 90.0,
    *,
    n_ctx: int = 1024,
    threads: int = 2,
    extra_args: Sequence[str] = (),
) -> LlamaServer:
    """A real llama.cpp server with the embedded GGUF on a free port; waits (bounded) until /v1/models answers.

    `extra_args` go to `llama_cpp.server` as they are (benchmarks/faults.py serves its distillation this way).
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(embedded_model_path()),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        *extra_args,
    ]
    process = subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    server = LlamaServer(process, f"http://127.0.0.1:{port}/v1", log)
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=1) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise AssertionError(f"llama_cpp.server was not ready within {ready_within:g} s:\n{log.read_text()[-2000:]}")


def backend_for(base_url: str, model: str = MODEL_ALIAS, **kwargs) -> OpenAIBackend:
    kwargs.setdefault("api_key_env", KEY_ENV)
    kwargs.setdefault("key_host", urlsplit(base_url).hostname)  # the test key is configured for its server
    kwargs.setdefault("backoff_seconds", 0.01)
    return OpenAIBackend(model, base_url=base_url, **kwargs)


async def collect(backend, messages=HELLO, options=GREEDY) -> list[Chunk]:
    return [chunk async for chunk in backend.stream(messages, options)]


# -- against the real llama.cpp server ---------------------------------------------------------


async def test_streams_tokens_and_counts_them_when_the_server_sends_no_usage(llama_server):
    chunks = await collect(backend_for(llama_server.base_url))
    *texts, final = chunks
    assert len(texts) == GREEDY.max_tokens, "llama.cpp's server streams one chunk per token"
    assert all(c.text and c.usage is None for c in texts)
    assert final.finish_reason == "length" and final.text == ""
    assert final.usage.estimated is True
    assert final.usage.completion_tokens == GREEDY.max_tokens
    assert final.usage.prompt_tokens > 0


async def test_same_weights_same_answer_as_the_embedded_backend(llama_server):
    """Greedy through the server equals greedy in-process: same GGUF, same chat template."""
    served = await complete(backend_for(llama_server.base_url), HELLO, GREEDY)
    embedded = await complete(open_backend("embedded", Config()), HELLO, GREEDY)
    assert served.text == embedded.text


async def test_model_stops_at_its_end_token_through_the_server(llama_server):
    answer = await complete(
        backend_for(llama_server.base_url),
        [Message("user", "Write one short sentence about cats.")],
        GenerationOptions(temperature=0.0, max_tokens=96),
    )
    assert answer.finish_reason == "stop" and answer.usage.completion_tokens < 96
    assert "<|im_end|>" not in answer.text


async def test_wrong_model_name_is_refused_although_the_server_would_answer(llama_server):
    """llama.cpp's server answers any model name with its one model; the backend checks /models."""
    unchecked = backend_for(llama_server.base_url, "gpt-4o-mini", verify_model=False)
    served_anyway = await complete(unchecked, HELLO, GREEDY)
    assert served_anyway.text  # what the server really does: it serves SmolLM2 under that name
    checked = backend_for(llama_server.base_url, "gpt-4o-mini")
    with pytest.raises(BackendError, match=r"does not offer model 'gpt-4o-mini' \(it lists: smollm2\)"):
        await complete(checked, HELLO, GREEDY)


async def test_server_killed_mid_stream_is_an_error_not_a_short_answer(tmp_path):
    server = start_llama_server(tmp_path / "server.log")
    try:
        backend = backend_for(server.base_url, max_retries=0)
        received: list[Chunk] = []
        with pytest.raises(BackendError, match="broke off after .* chunks.*incomplete"):
            async for chunk in backend.stream(HELLO, GenerationOptions(temperature=0.0, max_tokens=400)):
                received.append(chunk)
                if len(received) == 2:
                    server.process.send_signal(signal.SIGKILL)
        assert all(c.usage is None for c in received), "no final chunk may follow a broken stream"
    finally:
        server.stop()


async def test_unreachable_server_after_retries(tmp_path):
    backend = backend_for(f"http://127.0.0.1:{free_port()}/v1", max_retries=2)
    with pytest.raises(BackendError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1 \(after 3 tries\)"):
        await complete(backend, HELLO, GREEDY)


# -- servers that misbehave on cue (pytest-httpserver) -----------------------------------------


def sse(*events: dict, done: bool = True) -> str:
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines)


def delta(text: str | None = None, finish: str | None = None) -> dict:
    body = {"role": "assistant", "content": text} if text is not None else {}
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": body, "finish_reason": finish}],
    }


def usage_event(prompt: int, completion: int) -> dict:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


GOOD_STREAM = sse(delta("Hel"), delta("lo"), delta(finish="stop"), usage_event(11, 2))
CHAT = "/v1/chat/completions"


def base(httpserver: HTTPServer) -> str:
    return httpserver.url_for("/v1")


def chat_requests(httpserver: HTTPServer) -> list[Request]:
    return [request for request, _ in httpserver.log if request.path == CHAT]


async def test_sends_only_the_options_that_were_set_and_uses_server_usage(httpserver: HTTPServer, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    httpserver.expect_request(CHAT, method="POST").respond_with_data(GOOD_STREAM, content_type="text/event-stream")
    answer = await complete(
        backend_for(base(httpserver), "m", verify_model=False), HELLO, GenerationOptions(max_tokens=5, seed=3)
    )
    assert answer.text == "Hello" and answer.finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.estimated) == (11, 2, False)
    (request,) = chat_requests(httpserver)
    body = json.loads(request.get_data())
    assert body == {
        "model": "m",
        "messages": [{"role": "system", "content": "You are brief."}, {"role": "user", "content": "Say hello to Bob."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 5,
        "seed": 3,
    }
    assert request.headers["Authorization"] == f"Bearer {SECRET}"


async def test_retries_429_with_backoff_then_succeeds(httpserver: HTTPServer):
    httpserver.expect_ordered_request(CHAT).respond_with_json(
        {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "0"}
    )
    httpserver.expect_ordered_request(CHAT).respond_with_json({"error": {"message": "slow down"}}, status=429)
    httpserver.expect_ordered_request(CHAT).respond_with_data(GOOD_STREAM, content_type="text/event-stream")
    answer = await complete(backend_for(base(httpserver), "m", verify_model=False, max_retries=3), HELLO, GREEDY)
    assert answer.text == "Hello"
    assert len(chat_requests(httpserver)) == 3


async def test_5xx_gives_up_after_max_retries(httpserver: HTTPServer):
    httpserver.expect_request(CHAT).respond_with_json({"error": {"message": "overloaded"}}, status=503)
    backend = backend_for(base(httpserver), "m", verify_model=False, max_retries=2)
    with pytest.raises(BackendError, match=r"answered HTTP 503 \(after 3 tries\): overloaded"):
        await complete(backend, HELLO, GREEDY)
    assert len(chat_requests(httpserver)) == 3


async def test_client_errors_are_not_retried(httpserver: HTTPServer):
    httpserver.expect_request(CHAT).respond_with_json({"error": {"message": "max_tokens is too large"}}, status=400)
    with pytest.raises(BackendError, match="answered HTTP 400: max_tokens is too large"):
        await complete(backend_for(base(httpserver), "m", verify_model=False, max_retries=3), HELLO, GREEDY)
    assert len(chat_requests(httpserver)) == 1


async def test_a_slow_server_times_out_with_a_clear_message(httpserver: HTTPServer):
    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return Response(GOOD_STREAM, content_type="text/event-stream")

    httpserver.expect_request(CHAT).respond_with_handler(slow)
    backend = backend_for(base(httpserver), "m", verify_model=False, max_retries=0, timeout=0.5)
    with pytest.raises(BackendError, match=r"did not answer within 0\.5 s"):
        await complete(backend, HELLO, GREEDY)


async def test_malformed_chunk_is_a_clear_error(httpserver: HTTPServer):
    body = sse(delta("Hel")).replace("data: [DONE]", "data: {not json")
    httpserver.expect_request(CHAT).respond_with_data(body, content_type="text/event-stream")
    with pytest.raises(BackendError, match="malformed"):
        await complete(backend_for(base(httpserver), "m", verify_model=False, max_retries=0), HELLO, GREEDY)


async def test_stream_without_a_finish_reason_is_incomplete(httpserver: HTTPServer):
    httpserver.expect_request(CHAT).respond_with_data(sse(delta("Hel"), delta("lo")), content_type="text/event-stream")
    with pytest.raises(BackendError, match="ended before the model finished"):
        await complete(backend_for(base(httpserver), "m", verify_model=False, max_retries=0), HELLO, GREEDY)


async def test_an_empty_answer_is_an_error(httpserver: HTTPServer):
    httpserver.expect_request(CHAT).respond_with_data(
        sse(delta(""), delta(finish="stop")), content_type="text/event-stream"
    )
    with pytest.raises(BackendError, match="empty answer"):
        await complete(backend_for(base(httpserver), "m", verify_model=False), HELLO, GREEDY)


async def test_the_key_never_follows_a_redirect_to_another_server(httpserver: HTTPServer, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    elsewhere = HTTPServer(host="127.0.0.1", port=free_port())
    elsewhere.start()
    try:
        elsewhere.expect_request(CHAT).respond_with_data(GOOD_STREAM, content_type="text/event-stream")
        httpserver.expect_request(CHAT).respond_with_data("", status=307, headers={"Location": elsewhere.url_for(CHAT)})
        with pytest.raises(BackendError, match="redirects to .*does not follow redirects"):
            await complete(backend_for(base(httpserver), "m", verify_model=False, max_retries=0), HELLO, GREEDY)
        assert elsewhere.log == []
    finally:
        elsewhere.clear()
        elsewhere.stop()


async def test_the_key_stays_out_of_errors_and_repr(httpserver: HTTPServer, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    httpserver.expect_request(CHAT).respond_with_json(
        {"error": {"message": f"Incorrect API key provided: {SECRET}"}}, status=401
    )
    backend = backend_for(base(httpserver), "m", verify_model=False)
    with pytest.raises(BackendError) as caught:
        await complete(backend, HELLO, GREEDY)
    assert f"${KEY_ENV}" in str(caught.value) and SECRET not in str(caught.value)
    assert SECRET not in repr(backend) and SECRET not in repr(vars(backend))


async def test_without_a_key_a_self_hosted_server_gets_a_placeholder(httpserver: HTTPServer, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    httpserver.expect_request(CHAT).respond_with_data(GOOD_STREAM, content_type="text/event-stream")
    await complete(backend_for(base(httpserver), "m", verify_model=False), HELLO, GREEDY)
    (request,) = chat_requests(httpserver)
    assert request.headers["Authorization"] == f"Bearer {PLACEHOLDER_KEY}"


async def test_openai_itself_without_a_key_names_the_variable(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    backend = backend_for("https://api.openai.com/v1", "gpt-4o-mini")
    with pytest.raises(BackendError, match=f"set the environment variable {KEY_ENV}"):
        await complete(backend, HELLO, GREEDY)


async def test_model_list_is_checked_once_and_skipped_when_the_server_has_none(httpserver: HTTPServer):
    httpserver.expect_request("/v1/models").respond_with_data("not here", status=404)
    httpserver.expect_request(CHAT).respond_with_data(GOOD_STREAM, content_type="text/event-stream")
    backend = backend_for(base(httpserver), "m")
    for _ in range(2):
        assert (await complete(backend, HELLO, GREEDY)).text == "Hello"
    model_requests = [r for r, _ in httpserver.log if r.path == "/v1/models"]
    assert len(model_requests) == 1


def test_config_gives_base_url_key_variable_retries_and_price():
    config = Config.model_validate(
        {
            "openai": {
                "base_url": "http://127.0.0.1:9/v1",
                "api_key_env": "MY_KEY",
                "max_retries": 1,
                "timeout": 5,
                "price_input_per_mtok": 0.15,
                "price_output_per_mtok": 0.6,
            }
        }
    )
    backend = open_backend("openai:gpt-4o-mini", config)
    assert isinstance(backend, OpenAIBackend)
    assert (backend.model, backend.base_url, backend.api_key_env, backend.max_retries, backend.timeout) == (
        "gpt-4o-mini",
        "http://127.0.0.1:9/v1",
        "MY_KEY",
        1,
        5.0,
    )
    price = price_of(backend)
    assert price == Price(0.15, 0.6)
    from core.llm.base import Usage

    assert price.cost(Usage(prompt_tokens=1_000_000, completion_tokens=500_000, seconds=1.0)) == pytest.approx(0.45)
    assert price_of(open_backend("openai:gpt-4o-mini", Config())) is None
    assert price_of(open_backend("embedded", Config())) is None


async def test_cancelling_the_consumer_closes_the_stream(llama_server):
    backend = backend_for(llama_server.base_url)
    long_answer = [Message("user", "Write a long story about Bob and his dog.")]
    seen: list[str] = []
    two_seen = asyncio.Event()

    async def consume() -> None:
        async for chunk in backend.stream(long_answer, GenerationOptions(temperature=0.0, max_tokens=300)):
            seen.append(chunk.text)
            if len(seen) == 2:
                two_seen.set()

    task = asyncio.create_task(consume())
    # The event wakes this test before the consumer reads its next chunk, so the cancel lands
    # while the stream is open (a short answer could otherwise end within one poll).
    await two_seen.wait()
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(seen) < 300
    # The server is still usable afterwards.
    assert (await complete(backend, HELLO, GREEDY)).usage.completion_tokens == GREEDY.max_tokens
