"""The OpenAI chat-completions format as `pa serve` reads and writes it.

Request: `model` (`pa:PROFILE[@VERSION]`), `messages` (the last user message is the intent;
an optional system message may carry `To:`, `Subject:` and `In reply to:` lines), optional
`metadata` (`to`, `subject`, `previous`, `save`), `stream`, `max_tokens` /
`max_completion_tokens`, `temperature`, `top_p`, `seed`. Only `n=1` is served.

Response: the standard `chat.completion` / `chat.completion.chunk` objects, plus one extra
field, `pa`, holding what pa's agent decided (`rules`, `agent`, `thinking`, the rules'
usage); the same rules travel percent-encoded in the `X-PA-Rules` header. The rules are pa's
agent's, never M_L's: clients show them as such.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

RULES_HEADER = "X-PA-Rules"
AGENT_HEADER = "X-PA-Agent"


class WireError(Exception):
    """A request pa cannot serve: an HTTP status and an OpenAI-style error body."""

    def __init__(
        self, status: int, message: str, *, code: str, type: str = "invalid_request_error", param: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type
        self.param = param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    intent: str
    recipient: str | None
    subject: str | None
    previous: str | None
    stream: bool
    include_usage: bool
    save: bool
    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    seed: int | None


def parse_chat_request(raw: bytes, *, max_tokens_limit: int) -> ChatRequest:
    """A validated request, or WireError(400) naming the field that is wrong."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(
            400,
            f"the request body is not valid JSON ({exc.__class__.__name__}); send a chat completions request",
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise WireError(400, "the request body must be a JSON object", code="invalid_request")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise WireError(
            400, "`model` is missing; name a profile's agent, e.g. pa:alice", code="missing_model", param="model"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise WireError(
            400,
            "`messages` must be a non-empty list of {role, content} objects",
            code="invalid_messages",
            param="messages",
        )
    system_parts: list[str] = []
    intent: str | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
        ):
            raise WireError(
                400,
                f"messages[{index}] is not a {{role, content}} object with a known role",
                code="invalid_messages",
                param=f"messages[{index}]",
            )
        content = _text_content(message.get("content"), index)
        if message["role"] in ("system", "developer"):
            system_parts.append(content)
        elif message["role"] == "user":
            intent = content
    if intent is None or not intent.strip():
        raise WireError(
            400,
            "no user message with text: the last user message is the intent (what the text should say)",
            code="missing_intent",
            param="messages",
        )
    details = _details_from_system("\n".join(system_parts))
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise WireError(400, "`metadata` must be an object", code="invalid_metadata", param="metadata")
    for key in ("to", "subject", "previous"):
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            raise WireError(400, f"`metadata.{key}` must be a string", code="invalid_metadata", param=f"metadata.{key}")
    save = metadata.get("save", False)
    if save not in (True, False, "true", "false"):
        raise WireError(400, "`metadata.save` must be true or false", code="invalid_metadata", param="metadata.save")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise WireError(400, "`stream` must be true or false", code="invalid_stream", param="stream")
    options = body.get("stream_options") or {}
    n = body.get("n", 1)
    if n != 1:
        raise WireError(400, "only n=1 is served: one text per request", code="unsupported_n", param="n")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise WireError(
                400, "`max_tokens` must be a positive integer", code="invalid_max_tokens", param="max_tokens"
            )
        if max_tokens > max_tokens_limit:
            raise WireError(
                400,
                f"`max_tokens` {max_tokens} is over this server's limit of {max_tokens_limit}",
                code="max_tokens_too_large",
                param="max_tokens",
            )
    return ChatRequest(
        model=model.strip(),
        intent=intent.strip(),
        recipient=metadata.get("to") or details.get("to"),
        subject=metadata.get("subject") or details.get("subject"),
        previous=metadata.get("previous") or details.get("previous"),
        stream=stream,
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        save=save in (True, "true"),
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        seed=_integer(body, "seed"),
    )


def _text_content(content: Any, index: int) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise WireError(
                    400,
                    f"messages[{index}]: only text content is served",
                    code="unsupported_content",
                    param=f"messages[{index}].content",
                )
        return "\n".join(parts)
    if content is None:
        return ""
    raise WireError(
        400, f"messages[{index}].content must be text", code="invalid_messages", param=f"messages[{index}].content"
    )


_DETAIL_LABELS = {"to": "to", "subject": "subject", "in reply to": "previous", "previous": "previous"}


def _details_from_system(text: str) -> dict[str, str]:
    """`To:`, `Subject:` lines, and `In reply to:` with everything after it, from a system message."""
    details: dict[str, str] = {}
    lines = text.splitlines()
    for number, line in enumerate(lines):
        label, sep, value = line.partition(":")
        key = _DETAIL_LABELS.get(label.strip().lower()) if sep else None
        if key == "previous":
            rest = "\n".join([value.strip(), *lines[number + 1 :]]).strip()
            if rest:
                details["previous"] = rest
            break
        if key and value.strip():
            details[key] = value.strip()
    return details


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise WireError(400, f"`{key}` must be a number from {low:g} to {high:g}", code=f"invalid_{key}", param=key)
    return float(value)


def _integer(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise WireError(400, f"`{key}` must be an integer", code=f"invalid_{key}", param=key)
    return value


# -- responses -------------------------------------------------------------------------------


def completion_id() -> str:
    return "chatcmpl-pa-" + uuid.uuid4().hex[:24]


def pa_extra(
    label: str, rules: str, thinking: str | None, rules_usage: Any, draft_id: int | None = None
) -> dict[str, Any]:
    """The documented extra field: what pa's agent wrote, marked as pa's."""
    extra: dict[str, Any] = {"agent": label, "rules": rules, "rules_source": "pa preference agent"}
    if thinking:
        extra["thinking"] = thinking
    if rules_usage is not None:
        extra["rules_usage"] = {
            "prompt_tokens": rules_usage.prompt_tokens,
            "completion_tokens": rules_usage.completion_tokens,
        }
    if draft_id is not None:
        extra["draft_id"] = draft_id
    return extra


def headers_for(label: str, rules: str) -> dict[str, str]:
    """Rules and agent as response headers (percent-encoded UTF-8: headers are one latin-1 line)."""
    return {RULES_HEADER: quote(rules, safe=" -_.,;:!?()'/"), AGENT_HEADER: quote(label, safe="/")}


def usage_dict(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def completion_body(
    cid: str, model: str, text: str, finish: str | None, usage: Any, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": _finish(finish)}],
        "usage": usage_dict(usage),
        "pa": extra,
    }


def chunk_body(
    cid: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None = None,
    extra: dict[str, Any] | None = None,
    usage: Any = None,
    empty_choices: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": []
        if empty_choices
        else [{"index": 0, "delta": delta, "finish_reason": _finish(finish) if finish else None}],
    }
    if extra is not None:
        body["pa"] = extra
    if usage is not None:
        body["usage"] = usage_dict(usage)
    return body


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event: `data: {json}` and a blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"
