"""The HTTP routes of `pa serve` (Starlette on uvicorn): /v1/models and /v1/chat/completions.

A chat request runs the profile's agent first (its rules decide the response headers, and an
agent that fails turns into a proper HTTP error rather than a broken stream), then M_L's final,
whole or streamed as server-sent `chat.completion.chunk` events ending in `data: [DONE]`. A
streamed final is sent once pa has checked it (echo cuts, the style check), word by word: a
client never receives text that pa would cut or refuse.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from core.errors import BackendError, NotTrainedError, PaError, UsageError
from core.serve.flow import UnknownModelError
from core.serve.guard import RequestGate, ServeSettings, key_matches
from core.serve.wire import (
    ChatRequest,
    WireError,
    chunk_body,
    completion_body,
    completion_id,
    headers_for,
    pa_extra,
    parse_chat_request,
    sse,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from core.serve.flow import DraftingFlow

log = logging.getLogger("pa.serve")


def create_app(flow: DraftingFlow, settings: ServeSettings) -> Starlette:
    from starlette.applications import Starlette
    from starlette.routing import Route

    gate = RequestGate(settings.max_concurrent)

    async def models(request: Request) -> Response:
        denied = _check_key(request, settings)
        if denied is not None:
            return denied
        data = [
            {
                "id": m.id,
                "object": "model",
                "created": int(m.agent.gguf.stat().st_mtime),
                "owned_by": "pa",
                "pa": {"profile": m.profile, "agent": m.agent.label, "versions": list(m.versions)},
            }
            for m in flow.served_models()
        ]
        return _json({"object": "list", "data": data})

    async def chat(request: Request) -> Response:
        started = time.perf_counter()
        denied = _check_key(request, settings)
        if denied is not None:
            return denied
        if not gate.enter():
            _log(settings, 429, None, started, note=f"{gate.limit} requests already in progress")
            return _error(
                WireError(
                    429,
                    f"the server is busy: {gate.limit} requests are in progress (--max-concurrent); retry shortly",
                    code="server_busy",
                    type="rate_limit_error",
                ),
                headers={"Retry-After": "1"},
            )
        leave_later = False
        try:
            try:
                raw = await _read_body(request, settings.max_request_bytes)
                chat_request = parse_chat_request(raw, max_tokens_limit=settings.max_tokens_limit)
                info = flow.resolve(chat_request.model)
                rules = await _agent_rules(flow, info, chat_request)
            except (WireError, PaError) as exc:
                wire = _as_wire(exc)
                _log(settings, wire.status, None, started, note=wire.code)
                return _error(wire)
            except Exception as exc:  # a bug, not the caller's fault: an OpenAI-style 500, and the log says what
                log.exception("request failed")
                wire = WireError(
                    500,
                    f"internal error ({exc.__class__.__name__}); see the server log",
                    code="internal_error",
                    type="api_error",
                )
                _log(settings, 500, None, started, note=wire.code)
                return _error(wire)
            if chat_request.stream:
                leave_later = True
                return _streamed(flow, settings, gate, info, chat_request, rules, started)
            return await _whole(flow, settings, info, chat_request, rules, started)
        finally:
            if not leave_later:
                gate.leave()

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


# -- the pipeline -----------------------------------------------------------------------------


class _Rules:
    def __init__(self, request: Any, text: str, thinking: str | None, usage: Any, seconds: float, transcript: Any):
        self.request = request
        self.text = text
        self.thinking = thinking
        self.usage = usage
        self.seconds = seconds
        self.transcript = transcript


async def _agent_rules(flow: DraftingFlow, info: Any, chat_request: ChatRequest) -> _Rules:
    from core.drafting import DraftRequest, DraftTranscript

    request = DraftRequest(
        chat_request.intent,
        recipient=chat_request.recipient,
        subject=chat_request.subject,
        previous=chat_request.previous,
    )
    transcript = DraftTranscript()
    started = time.perf_counter()
    async for event in flow.rules(info, request):
        transcript.apply(event)
    record = transcript.streams["rules"]
    return _Rules(request, record.text or "", record.thinking, record.usage, time.perf_counter() - started, transcript)


def _final_options(flow: DraftingFlow, chat_request: ChatRequest) -> Any:
    return flow.text_options(
        max_tokens=chat_request.max_tokens,
        temperature=chat_request.temperature,
        top_p=chat_request.top_p,
        seed=chat_request.seed,
    )


async def _whole(
    flow: DraftingFlow, settings: ServeSettings, info: Any, chat_request: ChatRequest, rules: _Rules, started: float
) -> Response:
    from starlette.responses import JSONResponse

    try:
        async for event in flow.final(info, rules.request, rules.text, _final_options(flow, chat_request)):
            rules.transcript.apply(event)
    except PaError as exc:
        wire = _as_wire(exc)
        _log(settings, wire.status, chat_request, started, note=wire.code)
        return _error(wire)
    final = rules.transcript.streams["final"]
    draft_id = flow.save(info, rules.request, rules.transcript) if chat_request.save else None
    extra = pa_extra(info.label, rules.text, rules.thinking, rules.usage, draft_id)
    body = completion_body(
        completion_id(), chat_request.model, final.text or "", final.finish_reason, final.usage, extra
    )
    _log(settings, 200, chat_request, started, rules=rules.text, text=final.text, usage=final.usage)
    return JSONResponse(body, headers=headers_for(info.label, rules.text))


def _streamed(
    flow: DraftingFlow,
    settings: ServeSettings,
    gate: RequestGate,
    info: Any,
    chat_request: ChatRequest,
    rules: _Rules,
    started: float,
) -> Response:
    from starlette.responses import StreamingResponse

    cid, created = completion_id(), int(time.time())
    extra = pa_extra(info.label, rules.text, rules.thinking, rules.usage)

    async def events() -> AsyncIterator[bytes]:
        status, note = 200, None
        try:
            yield sse(chunk_body(cid, created, chat_request.model, {"role": "assistant", "content": ""}, extra=extra))
            async for event in flow.final(info, rules.request, rules.text, _final_options(flow, chat_request)):
                rules.transcript.apply(event)  # the whole final first: a client never gets text pa would cut
            final = rules.transcript.streams["final"]
            for piece in re.findall(r"\s*\S+", final.text or ""):
                yield sse(chunk_body(cid, created, chat_request.model, {"content": piece}))
            if chat_request.save:
                draft_id = flow.save(info, rules.request, rules.transcript)
                yield sse(
                    chunk_body(cid, created, chat_request.model, {}, extra={"draft_id": draft_id}, empty_choices=True)
                )
            yield sse(chunk_body(cid, created, chat_request.model, {}, finish=final.finish_reason or "stop"))
            if chat_request.include_usage:
                yield sse(chunk_body(cid, created, chat_request.model, {}, usage=final.usage, empty_choices=True))
            yield sse("[DONE]")
        except PaError as exc:
            # Headers are gone: the error travels as an error event, and no [DONE] follows it.
            wire = _as_wire(exc)
            status, note = wire.status, wire.code
            yield sse(wire.body())
        finally:
            gate.leave()
            final = rules.transcript.streams.get("final")
            _log(
                settings,
                status,
                chat_request,
                started,
                note=note,
                rules=rules.text,
                text=final.text if final else None,
                usage=final.usage if final else None,
                stream=True,
            )

    headers = {**headers_for(info.label, rules.text), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


# -- plumbing ---------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise WireError(
            413,
            f"the request body is {int(declared)} bytes, over this server's limit of {limit} (--max-request-bytes)",
            code="request_too_large",
        )
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise WireError(
                413,
                f"the request body is over this server's limit of {limit} bytes (--max-request-bytes)",
                code="request_too_large",
            )
        parts.append(part)
    return b"".join(parts)


def _as_wire(exc: BaseException) -> WireError:
    if isinstance(exc, WireError):
        return exc
    if isinstance(exc, UnknownModelError):
        return WireError(404, str(exc), code="model_not_found", param="model")
    if isinstance(exc, NotTrainedError):
        return WireError(404, str(exc), code="agent_not_trained", param="model")
    if isinstance(exc, UsageError):
        return WireError(400, str(exc), code="invalid_request")
    if isinstance(exc, BackendError):
        return WireError(502, str(exc), code="model_failed", type="api_error")
    return WireError(500, str(exc), code="internal_error", type="api_error")


def _check_key(request: Request, settings: ServeSettings) -> Response | None:
    if key_matches(settings.api_key, request.headers.get("authorization")):
        return None
    _log(settings, 401, None, time.perf_counter(), note="missing or wrong API key")
    return _error(
        WireError(
            401,
            "missing or wrong API key: send it as `Authorization: Bearer KEY`",
            code="invalid_api_key",
            type="authentication_error",
        )
    )


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)


def _error(wire: WireError, headers: dict[str, str] | None = None) -> Response:
    return _json(wire.body(), wire.status, headers)


def _log(
    settings: ServeSettings,
    status: int,
    chat_request: ChatRequest | None,
    started: float,
    *,
    note: str | None = None,
    rules: str | None = None,
    text: str | None = None,
    usage: Any = None,
    stream: bool = False,
) -> None:
    """One JSON line per request: sizes and timings always, texts only with --log-texts."""
    record: dict[str, Any] = {"status": status, "seconds": round(time.perf_counter() - started, 3)}
    if chat_request is not None:
        record.update(
            model=chat_request.model,
            stream=stream,
            intent_chars=len(chat_request.intent),
            rules_chars=len(rules or ""),
            text_chars=len(text or ""),
            saved=chat_request.save,
        )
        if usage is not None:
            record.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
        if settings.log_texts:
            record.update(intent=chat_request.intent, rules=rules, text=text)
    if note:
        record["note"] = note
    log.info(json.dumps(record, ensure_ascii=False))


# -- running ----------------------------------------------------------------------------------


def run_server(flow: DraftingFlow, settings: ServeSettings, *, announce: Any = print) -> None:
    """Bind, say where (`pa serve: listening on http://HOST:PORT`), and serve until Ctrl-C.

    The socket is bound here, not by uvicorn, so `--port 0` picks a free port and the line
    printed names the real one (tests and scripts read it).
    """
    import socket

    import uvicorn

    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host.strip("[]"), settings.port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); pick another --port or --host"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = uvicorn.Config(
        create_app(flow, settings), log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    host = f"[{settings.host}]" if family == socket.AF_INET6 else settings.host
    announce(
        f"pa serve: listening on http://{host}:{port}/v1 ({'API key required' if settings.api_key else 'loopback only, no key'})"
    )
    server.run(sockets=[sock])
