"""A real OpenAI-compatible chat server on 127.0.0.1 that answers after a fixed delay.

It simulates a remote API for distillation tests and `benchmarks/distill_throughput.py`:
what is measured is pa's own concurrency and bookkeeping, not a model. It speaks enough HTTP
for the `openai` client (POST /v1/chat/completions with `stream: true`, GET /v1/models),
answers every request concurrently, and records what it was asked and what it finished
answering. `hold_after` makes it stop answering after that many answers, so a test can kill
its client at a known point.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODEL = "loopback"

Responder = Callable[[list[dict[str, str]]], str]


def tagged_answer(messages: list[dict[str, str]]) -> str:
    """A well-formed answer for whichever distillation stage the system prompt belongs to."""
    system = messages[0]["content"] if messages else ""
    if "into short notes" in system:
        return (
            "<scratchpad>\nThe sender asks for a call about the estimate.\n</scratchpad>\n"
            "<intent>\n- I sent the November estimate\n- Call me with any questions\n</intent>"
        )
    if "on behalf of a person" in system:  # drafting's zero-shot prompt (also distillation's draft stage)
        return "Dear Ruth,\n\nI have attached the November estimate. Please do not hesitate to call me.\n\nBest regards,\nTheresa"
    if "from their notes" in system:
        return "<draft>\nDear Ruth,\n\nI have attached the November estimate. Please do not hesitate to call me.\n\nBest regards,\nTheresa\n</draft>"
    return (
        "<thinking>\nThe draft has 17 words in three parts; the person wrote 9 words with no greeting line.\n</thinking>\n"
        "<rules>\n- Keep the email to about 10 words in two short sentences.\n"
        '- Open with the recipient\'s first name and a comma.\n- Sign off with "Thanks," and the first name.\n</rules>'
    )


def request_key(body: dict[str, Any]) -> str:
    """Identifies one logical call: same messages and sampling settings (seeds differ per call)."""
    material = json.dumps(
        {key: body.get(key) for key in ("messages", "temperature", "seed", "max_tokens")}, sort_keys=True
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


@dataclass
class LoopbackServer:
    delay: float = 0.2
    responder: Responder = tagged_answer
    hold_after: int | None = None
    """Answer this many requests, then keep every later one waiting (never answered)."""
    requests: list[str] = field(default_factory=list)
    """Keys of the requests received, in order."""
    answered: list[str] = field(default_factory=list)
    """Keys of the requests fully answered, in order."""
    held: int = 0
    """Requests that arrived after `hold_after` answers and are being kept waiting."""
    port: int = 0

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self._serve, name="openai-loopback", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the loopback server did not start")
        return self

    def stop(self) -> None:
        """Cancel every open connection (held ones too), then end the server's thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            self._thread.join(10)

    async def _shutdown(self) -> None:
        self._server.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        asyncio.get_running_loop().stop()

    def wait_held(self, count: int, timeout: float) -> bool:
        """Wait until `count` requests are being held (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.held >= count:
                return True
            time.sleep(0.01)
        return False

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=256)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request on a keep-alive connection; False when the client has gone."""
        request_line = await reader.readline()
        if not request_line:
            return False
        method, path, _ = request_line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        if method == "GET" and path.rstrip("/").endswith("/models"):
            payload = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "pa-tests"}]})
            writer.write(_response(200, "application/json", payload.encode()))
            await writer.drain()
            return True
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            writer.write(_response(404, "application/json", b'{"error": {"message": "not found"}}'))
            await writer.drain()
            return True
        request = json.loads(body)
        key = request_key(request)
        with self._lock:
            self.requests.append(key)
            hold = self.hold_after is not None and len(self.answered) + self._in_flight >= self.hold_after
            if not hold:
                self._in_flight += 1
        if hold:
            with self._lock:
                self.held += 1
            await asyncio.Event().wait()  # never answered; the client is killed meanwhile
        try:
            await asyncio.sleep(self.delay)
            text = self.responder(request["messages"])
            await self._stream(writer, request, text)
        finally:
            with self._lock:
                self._in_flight -= 1
        with self._lock:
            self.answered.append(key)
        return True

    async def _stream(self, writer: asyncio.StreamWriter, request: dict[str, Any], text: str) -> None:
        created = int(time.time())
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )

        def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> None:
            data = {
                "id": "chatcmpl-loopback",
                "object": "chat.completion.chunk",
                "created": created,
                "model": MODEL,
                "choices": choices,
            }
            if usage is not None:
                data["usage"] = usage
            writer.write(_chunk(f"data: {json.dumps(data)}\n\n".encode()))

        words = text.split(" ")
        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for index, word in enumerate(words):
            event([{"index": 0, "delta": {"content": word if index == 0 else " " + word}, "finish_reason": None}])
        event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        prompt_tokens = sum(len(m["content"].split()) for m in request["messages"])
        event(
            [],
            {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(words),
                "total_tokens": prompt_tokens + len(words),
            },
        )
        writer.write(_chunk(b"data: [DONE]\n\n") + _chunk(b""))
        await writer.drain()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _response(status: int, content_type: str, body: bytes) -> bytes:
    reason = {200: "OK", 404: "Not Found"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body
    )


def main() -> None:
    """Serve until stdin closes (so a benchmark can run the server in its own process)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Loopback OpenAI-compatible server that answers after a delay.")
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    with LoopbackServer(delay=args.delay) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
