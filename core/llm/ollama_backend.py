"""The Ollama backend: chat through a local or remote Ollama server (`ollama` package).

Only the options a caller set are sent, so the model's own Modelfile defaults apply to the
rest. Every way the server can fail becomes a one-line BackendError that says what to do:
a missing model names `ollama pull NAME`, a dead server names the host that was tried.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import BackendError
from core.fencing import neutralise_control
from core.llm.base import Chunk, GenerationOptions, Message, Probe, StreamTimer
from core.llm.transport import check_transport

if TYPE_CHECKING:
    from pathlib import Path

    from core.config import Config
    from core.llm.base import ModelSpec

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_PORT = 11434
CONNECT_TIMEOUT = 10.0
MAX_BACKOFF_SECONDS = 30.0
"""Seconds to open a connection; a local server that needs longer is not running."""

# GenerationOptions name -> Ollama option name.
OPTION_NAMES = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "num_predict",
    "stop": "stop",
    "seed": "seed",
}


def resolve_host(configured: str | None = None) -> str:
    """Config `[ollama].host`, else $OLLAMA_HOST, else the local default; always with scheme and port."""
    host = (configured or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST).strip().rstrip("/")
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest = "http", host
    hostport, slash, path = rest.partition("/")
    if not hostport.startswith("[") and ":" not in hostport:
        hostport = f"{hostport or '127.0.0.1'}:{DEFAULT_PORT if not sep else (443 if scheme == 'https' else 80)}"
    elif hostport.startswith(":"):
        hostport = "127.0.0.1" + hostport
    return f"{scheme}://{hostport}{slash}{path}"


def ollama_options(options: GenerationOptions) -> dict[str, Any]:
    """The options a caller set, under Ollama's names (max_tokens -> num_predict)."""
    return {OPTION_NAMES[name]: value for name, value in options.given().items()}


@dataclass(frozen=True)
class OllamaModel:
    name: str
    size_bytes: int | None
    parameter_size: str | None
    quantization: str | None
    modified: str | None


def _client(host: str, timeout: float) -> Any:
    import httpx
    import ollama

    return ollama.AsyncClient(host=host, timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)))


def _translate(exc: BaseException, host: str, model: str | None, timeout: float) -> BackendError:
    """One line the user can act on, for anything the client or the transport raised."""
    import httpx
    import ollama
    import pydantic

    if isinstance(exc, ollama.ResponseError):
        reason = str(exc.error).strip() or "no reason given"
        if exc.status_code == 404 and model is not None:
            return BackendError(f"Ollama at {host} has no model {model!r} ({reason}); run `ollama pull {model}`")
        status = f"HTTP {exc.status_code}" if exc.status_code > 0 else "an error"
        return BackendError(f"Ollama at {host} answered {status}: {reason}")
    if isinstance(exc, httpx.TimeoutException):
        return BackendError(
            f"Ollama at {host} did not answer within {timeout:g} s; raise ollama.timeout in config or check the server"
        )
    if isinstance(exc, (ConnectionError, httpx.ConnectError)):
        return BackendError(
            f"cannot reach Ollama at {host}; start it with `ollama serve` or set ollama.host / OLLAMA_HOST"
        )
    if isinstance(exc, httpx.TransportError):
        return BackendError(
            f"the connection to Ollama at {host} broke ({exc.__class__.__name__}); the answer is incomplete, try again"
        )
    if isinstance(exc, (json.JSONDecodeError, pydantic.ValidationError, KeyError, TypeError)):
        return BackendError(
            f"Ollama at {host} sent a malformed reply ({exc.__class__.__name__}); is {host} really an Ollama server?"
        )
    return BackendError(f"Ollama at {host} failed: {exc.__class__.__name__}: {exc}")


class OllamaBackend:
    price = None  # Ollama runs on the user's own hardware
    streams = True
    continues_answer = False  # /api/chat answers a trailing assistant message instead of continuing it

    def __init__(
        self,
        model: str,
        *,
        host: str | None = None,
        timeout: float = 120.0,
        allow_http: bool = False,
        max_retries: int = 2,
        backoff_seconds: float = 0.5,
    ):
        self.model = model
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.host = resolve_host(host)
        check_transport(self.host, allow_http=allow_http, setting="ollama.host")
        self.timeout = timeout
        self.spec = f"ollama:{model}"

    @classmethod
    def from_config(cls, model: str, config: Config) -> OllamaBackend:
        return cls(
            model,
            host=config.ollama.host,
            timeout=config.ollama.timeout,
            allow_http=config.ollama.allow_http,
            max_retries=config.ollama.max_retries,
        )

    @classmethod
    def from_spec(cls, spec: ModelSpec, config: Config, *, lora: Path | None = None) -> OllamaBackend:
        return cls.from_config(spec.name, config)

    async def probe(self) -> Probe:
        """The server answers /api/tags and has pulled the model."""
        models = await list_models(self.host, timeout=min(self.timeout, 30.0))
        if has_model(models, self.model):
            return Probe(reachable=True, model_present=True)
        return Probe(
            reachable=True,
            model_present=False,
            problem=f"Ollama at {self.host} has no model {self.model!r}; run `ollama pull {self.model}`",
        )

    def __repr__(self) -> str:
        return f"OllamaBackend({self.model!r}, host={self.host!r})"

    async def stream(
        self, messages: Sequence[Message], options: GenerationOptions = GenerationOptions()
    ) -> AsyncIterator[Chunk]:
        """The answer as it streams; a refused or dropped connection, a 5xx or a 429 before the
        first token is retried (`ollama.max_retries`, exponential backoff), never after it."""
        timer = StreamTimer()
        # The server tokenises the prompt: no text of ours may read as a control token there.
        payload = [{"role": m.role, "content": neutralise_control(m.content)} for m in messages]
        sent = ollama_options(options)
        attempt = 0
        while True:
            client = _client(self.host, self.timeout)
            received = False
            try:
                parts = await client.chat(model=self.model, messages=payload, stream=True, options=sent or None)
                async for part in parts:
                    text = (part.message.content or "") if part.message is not None else ""
                    if part.done:
                        if text:
                            timer.saw_token()
                            yield Chunk(text)
                        if part.prompt_eval_count is None and part.eval_count is None:
                            raise BackendError(
                                f"Ollama at {self.host} ended the answer without token counts; is it an Ollama server?"
                            )
                        usage = timer.usage(part.prompt_eval_count or 0, part.eval_count or 0)
                        yield Chunk("", usage=usage, finish_reason=part.done_reason or "stop")
                        return
                    if text:
                        received = True
                        timer.saw_token()
                        yield Chunk(text)
            except BackendError:
                raise
            except Exception as exc:  # the ollama client lets httpx, json and pydantic errors through
                if not received and attempt < self.max_retries and _retryable(exc):
                    attempt += 1
                    await asyncio.sleep(min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (attempt - 1)))
                    continue
                error = _translate(exc, self.host, self.model, self.timeout)
                raise BackendError(f"{error}{f' (after {attempt + 1} tries)' if attempt else ''}") from None
            finally:
                await client.close()
            raise BackendError(
                f"the stream from Ollama at {self.host} ended before the answer was done; the answer is incomplete, try again"
            )


def _retryable(exc: BaseException) -> bool:
    """Worth asking again: the server is starting, overloaded, or the connection failed."""
    import httpx
    import ollama

    if isinstance(exc, ollama.ResponseError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, (ConnectionError, httpx.TransportError))


async def list_models(host: str | None = None, timeout: float = 30.0) -> list[OllamaModel]:
    """The models the Ollama server has pulled, for `pa models` and `pa doctor`."""
    resolved = resolve_host(host)
    client = _client(resolved, timeout)
    try:
        listing = await client.list()
    except Exception as exc:
        raise _translate(exc, resolved, None, timeout) from None
    finally:
        await client.close()
    models = []
    for entry in listing.models:
        details = entry.details
        models.append(
            OllamaModel(
                name=entry.model or "",
                size_bytes=entry.size,
                parameter_size=details.parameter_size if details else None,
                quantization=details.quantization_level if details else None,
                modified=entry.modified_at.isoformat(timespec="seconds") if entry.modified_at else None,
            )
        )
    return models


def has_model(models: Sequence[OllamaModel], name: str) -> bool:
    """Ollama names without a tag mean `:latest`."""
    wanted = name if ":" in name else f"{name}:latest"
    return any(model.name in (name, wanted) for model in models)
