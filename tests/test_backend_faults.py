"""Remote backends under faults: a trickling server, a connection dropped before the first token,
a body that is not a stream, and Ollama's transient errors."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer

from core.errors import BackendError
from core.llm.base import GenerationOptions, Message, complete
from core.llm.ollama_backend import OllamaBackend
from core.llm.openai_backend import OpenAIBackend
from tests.test_backend_openai import CHAT, GOOD_STREAM, delta

HELLO = [Message("user", "Say hello.")]
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class RawServer:
    """A socket server that plays one scripted behaviour per connection, in order."""

    def __init__(self, behaviours):
        self.behaviours = list(behaviours)
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            behaviour = self.behaviours[min(self.connections, len(self.behaviours) - 1)]
            self.connections += 1
            threading.Thread(target=self._one, args=(conn, behaviour), daemon=True).start()

    @staticmethod
    def _one(conn: socket.socket, behaviour) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    (line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")),
                    b"0",
                )
            )
            while len(body) < length:
                body += conn.recv(65536)
            try:
                behaviour(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def trickle(conn: socket.socket) -> None:
    """A token every 0.25 s for 5 s: every read is quick, the whole answer is not."""
    conn.sendall(HEADERS)
    for _ in range(20):
        conn.sendall(chunk(f"data: {json.dumps(delta('a'))}\n\n".encode()))
        time.sleep(0.25)
    conn.sendall(chunk(f"data: {json.dumps(delta(finish='stop'))}\n\ndata: [DONE]\n\n".encode()) + b"0\r\n\r\n")


def drop_before_first_token(conn: socket.socket) -> None:
    conn.sendall(HEADERS)  # headers, then the connection dies


def answer(conn: socket.socket) -> None:
    conn.sendall(HEADERS + chunk(GOOD_STREAM.encode()) + b"0\r\n\r\n")


async def test_openai_timeout_bounds_the_whole_request_not_each_read():
    server = RawServer([trickle])
    try:
        backend = OpenAIBackend("m", base_url=server.base_url, verify_model=False, max_retries=0, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"did not finish the answer within 1 s \(openai.timeout is per request"):
            await complete(backend, HELLO)
        assert time.monotonic() - started < 2.5
    finally:
        server.close()


async def test_a_connection_dropped_before_the_first_token_is_retried():
    server = RawServer([drop_before_first_token, answer])
    try:
        backend = OpenAIBackend("m", base_url=server.base_url, verify_model=False, max_retries=2, backoff_seconds=0.01)
        result = await complete(backend, HELLO)
        assert result.text == "Hello" and server.connections == 2
    finally:
        server.close()


async def test_a_page_that_is_not_an_event_stream_is_named_for_what_it_is(httpserver: HTTPServer):
    httpserver.expect_request(CHAT).respond_with_data(
        "<html><body>Welcome to nginx</body></html>", content_type="text/html"
    )
    backend = OpenAIBackend("m", base_url=httpserver.url_for("/v1"), verify_model=False, max_retries=0)
    with pytest.raises(
        BackendError, match=r"answered text/html \(<html><body>Welcome to nginx.*not a stream of chat events"
    ):
        await complete(backend, HELLO)


@pytest.mark.contract
async def test_ollama_retries_a_busy_server_before_the_first_token(httpserver: HTTPServer):
    from tests.test_backend_ollama import NDJSON, done, ndjson, part

    httpserver.expect_ordered_request("/api/chat").respond_with_json({"error": "server busy"}, status=503)
    httpserver.expect_ordered_request("/api/chat").respond_with_data(ndjson(part("Hi"), done()), content_type=NDJSON)
    backend = OllamaBackend("llama3.1:8b", host=httpserver.url_for("/").rstrip("/"), timeout=5, backoff_seconds=0.01)
    result = await complete(backend, HELLO, GenerationOptions(max_tokens=4))
    assert result.text == "Hi" and len(httpserver.log) == 2


@pytest.mark.contract
async def test_ollama_gives_up_after_its_retries_with_one_line(httpserver: HTTPServer):
    httpserver.expect_request("/api/chat").respond_with_json({"error": "server busy"}, status=503)
    backend = OllamaBackend(
        "llama3.1:8b", host=httpserver.url_for("/").rstrip("/"), timeout=5, max_retries=2, backoff_seconds=0.01
    )
    with pytest.raises(BackendError, match=r"HTTP 503: server busy \(after 3 tries\)"):
        await complete(backend, HELLO)
    assert len(httpserver.log) == 3
