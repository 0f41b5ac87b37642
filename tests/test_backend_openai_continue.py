"""Servers declared able to continue an answer (vLLM, SGLang) get the switches that make them continue it."""

from __future__ import annotations

import json

from pytest_httpserver import HTTPServer

from core.config import parse_config
from core.llm.base import GenerationOptions, Message, complete
from core.llm.openai_backend import OpenAIBackend
from tests.test_backend_openai import CHAT, GOOD_STREAM, base, chat_requests

STARTED = [
    Message("system", "Write notes."),
    Message("user", "Notes on the call."),
    Message("assistant", "<thinking>\n"),
]


def backend(httpserver: HTTPServer, toml: str) -> OpenAIBackend:
    config = parse_config(f'[openai]\nbase_url = "{base(httpserver)}"\n{toml}')
    made = OpenAIBackend.from_config("m", config)
    made.verify_model = False
    return made


async def test_a_declared_server_continues_the_started_answer(httpserver: HTTPServer):
    httpserver.expect_request(CHAT, method="POST").respond_with_data(GOOD_STREAM, content_type="text/event-stream")
    continuing = backend(httpserver, "continue_final_message = true")
    assert continuing.continues_answer is True
    answer = await complete(continuing, STARTED, GenerationOptions(max_tokens=8))
    assert answer.text == "Hello"
    body = json.loads(chat_requests(httpserver)[0].get_data())
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["messages"][-1] == {"role": "assistant", "content": "<thinking>\n"}


async def test_by_default_no_server_is_assumed_to_continue(httpserver: HTTPServer):
    httpserver.expect_request(CHAT, method="POST").respond_with_data(GOOD_STREAM, content_type="text/event-stream")
    plain = backend(httpserver, "")
    assert plain.continues_answer is False
    await complete(plain, STARTED, GenerationOptions(max_tokens=8))
    body = json.loads(chat_requests(httpserver)[0].get_data())
    assert "continue_final_message" not in body and "add_generation_prompt" not in body


async def test_a_continuing_server_is_only_told_so_when_the_last_turn_is_the_assistants(httpserver: HTTPServer):
    httpserver.expect_request(CHAT, method="POST").respond_with_data(GOOD_STREAM, content_type="text/event-stream")
    await complete(backend(httpserver, "continue_final_message = true"), STARTED[:2], GenerationOptions(max_tokens=8))
    body = json.loads(chat_requests(httpserver)[0].get_data())
    assert "continue_final_message" not in body
