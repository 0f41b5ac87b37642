"""The OpenAI-compatible backend: OpenAI itself or any server that speaks its chat API
(vLLM, llama.cpp's server, LM Studio, OpenRouter...), through the `openai` package.

Why it looks the way it does:
- The API key is read from the environment variable named in config, at the moment a
  request is made; it is never stored, logged or put in an error message, and it only ever
  goes to the host it was configured for (`openai.api_key_host`, api.openai.com unless set):
  a base_url elsewhere gets no key, and redirects are not followed, because following one
  would hand the key to another host. Plain http off this machine is refused
  (`core.llm.transport`) unless `openai.allow_http` says the network is trusted.
- Retries are ours (the client's own are off): exponential backoff on 429, 5xx, connection
  errors and timeouts, honouring Retry-After, and only before the first token arrives.
  A failure after that is an error; a partial answer never poses as a complete one.
- Servers that accept any model name (llama.cpp's server answers with its one model
  whatever is asked) would silently serve the wrong model, so before first use we check
  that `GET /models` lists the model, when the server offers that endpoint.
- Some servers send no usage in streaming mode; then we count content chunks (servers send
  one per token) and estimate the prompt, and mark the usage as estimated.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from core.errors import BackendError
from core.fencing import neutralise_control
from core.llm.base import Chunk, GenerationOptions, Message, Price, Probe, StreamTimer
from core.llm.transport import check_transport, host_of

if TYPE_CHECKING:
    from pathlib import Path

    from core.config import Config
    from core.llm.base import ModelSpec

T = TypeVar("T")

OPENAI_HOST = "api.openai.com"
PLACEHOLDER_KEY = "no-key-configured"
"""Sent to self-hosted servers when the key variable is unset: the client needs some key."""
CONNECT_TIMEOUT = 10.0
MAX_BACKOFF_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 60.0
CHARS_PER_TOKEN = 4
"""For estimating prompt tokens when a server reports none."""
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    return sum(-(-len(m.content) // CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def _server_message(exc: Any) -> str:
    """The server's own words from an error response, without the client's 'Error code' prefix."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        nested = body.get("error")
        message = body.get("message") or (nested.get("message") if isinstance(nested, dict) else nested)
        if message:
            return str(message)
    if isinstance(body, str) and body.strip():
        return body
    return getattr(exc.response, "reason_phrase", "") or "no details"


class OpenAIBackend:
    streams = True
    continues_answer = False  # chat completions answer a trailing assistant message

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        price: Price | None = None,
        verify_model: bool = True,
        key_host: str = OPENAI_HOST,
        key_required: bool = False,
        allow_http: bool = False,
        continue_final_message: bool = False,
    ):
        check_transport(base_url, allow_http=allow_http, setting="openai.base_url")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.key_host = key_host.strip().lower()
        """The only host the key is sent to (`openai.api_key_host`)."""
        self.key_required = key_required
        """The user named the key variable: a base_url at another host is an error, not a keyless call."""
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.price = price
        self.verify_model = verify_model
        self.spec = f"openai:{model}"
        self.continues_answer = continue_final_message
        """Declared per server in config (openai.continue_final_message): a last assistant message is continued."""
        self._model_checked = False
        self._shared: tuple[asyncio.AbstractEventLoop, Any] | None = None

    @classmethod
    def from_config(cls, model: str, config: Config) -> OpenAIBackend:
        section = config.openai
        price = None
        if section.price_input_per_mtok is not None or section.price_output_per_mtok is not None:
            price = Price(section.price_input_per_mtok or 0.0, section.price_output_per_mtok or 0.0)
        return cls(
            model,
            base_url=section.base_url,
            api_key_env=section.api_key_env,
            timeout=section.timeout,
            max_retries=section.max_retries,
            price=price,
            key_host=section.api_key_host,
            key_required="api_key_env" in section.model_fields_set,
            allow_http=section.allow_http,
            continue_final_message=section.continue_final_message,
        )

    @classmethod
    def from_spec(cls, spec: ModelSpec, config: Config, *, lora: Path | None = None) -> OpenAIBackend:
        return cls.from_config(spec.name, config)

    def __repr__(self) -> str:  # no key here, ever
        return f"OpenAIBackend({self.model!r}, base_url={self.base_url!r}, key from ${self.api_key_env})"

    # -- the client -------------------------------------------------------------------------

    @property
    def sends_key(self) -> bool:
        """Whether the key may go to base_url at all: only to the host it was configured for."""
        return host_of(self.base_url) == self.key_host

    def _api_key(self) -> str:
        host = host_of(self.base_url)
        if not self.sends_key:
            if self.key_required:
                raise BackendError(
                    f"the key in ${self.api_key_env} is tied to {self.key_host} (openai.api_key_host) but openai.base_url "
                    f'is at {host}; pa did not send it. If {host} should have it, set openai.api_key_host = "{host}"'
                )
            return PLACEHOLDER_KEY
        key = os.environ.get(self.api_key_env, "").strip()
        if key:
            return key
        if host == OPENAI_HOST:
            raise BackendError(f"{self.base_url} needs an API key: set the environment variable {self.api_key_env}")
        return PLACEHOLDER_KEY

    def _session(self) -> Any:
        """The client of the running event loop, made once and reused across calls.

        A new client per call costs about 0.2 s of CPU (its TLS context) and a new connection,
        which made concurrent distillation barely faster than sequential.
        """
        loop = asyncio.get_running_loop()
        if self._shared is None or self._shared[0] is not loop:
            self._shared = (loop, self._client())
        return _Borrowed(self._shared[1])

    def _client(self) -> Any:
        import httpx2
        import openai

        http_client = httpx2.AsyncClient(
            follow_redirects=False, timeout=httpx2.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout))
        )
        return openai.AsyncOpenAI(
            api_key=self._api_key(),
            base_url=self.base_url,
            max_retries=0,
            timeout=httpx2.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)),
            http_client=http_client,
        )

    # -- errors and retries -----------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """Error text from a server, on one line, without the key even if the server echoed it."""
        key = os.environ.get(self.api_key_env, "").strip()
        if key:
            text = text.replace(key, "***")
        text = " ".join(text.split())
        return text[:300] + ("..." if len(text) > 300 else "")

    def _is_retryable(self, exc: BaseException) -> bool:
        import openai

        if isinstance(exc, openai.APIConnectionError):  # includes timeouts
            return True
        if isinstance(exc, openai.APIStatusError):
            return exc.status_code == 429 or exc.status_code >= 500
        return False

    def _delay(self, attempt: int, exc: BaseException) -> float:
        import openai

        if isinstance(exc, openai.APIStatusError):
            retry_after = exc.response.headers.get("retry-after")
            try:
                seconds = float(retry_after) if retry_after is not None else None
            except ValueError:
                seconds = None
            if seconds is not None and 0 <= seconds <= MAX_RETRY_AFTER_SECONDS:
                return seconds
        base = min(MAX_BACKOFF_SECONDS, self.backoff_seconds * (2**attempt))
        return float(base + random.uniform(0, base / 10))

    def _translate(self, exc: BaseException, tries: int = 1) -> BackendError:
        import openai

        where = self.base_url
        after = f" (after {tries} tries)" if tries > 1 else ""
        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, openai.APITimeoutError):
            return BackendError(
                f"{where} did not answer within {self.timeout:g} s{after}; raise openai.timeout in config or try later"
            )
        if isinstance(exc, openai.APIConnectionError):
            return BackendError(f"cannot reach {where}{after}; check openai.base_url and that the server is running")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = self._scrub(_server_message(exc))
            if 300 <= status < 400:
                target = exc.response.headers.get("location", "another address")
                return BackendError(
                    f"{where} redirects to {target}; pa does not follow redirects (the API key must stay with the "
                    "configured server): set openai.base_url to the final address"
                )
            if (status == 401 or status == 403) and not self.sends_key:
                return BackendError(
                    f"{where} wants an API key (HTTP {status}); pa sends ${self.api_key_env} only to {self.key_host}: "
                    f'set openai.api_key_env and openai.api_key_host = "{host_of(self.base_url)}" for this server'
                )
            if status == 401 or status == 403:
                return BackendError(
                    f"{where} refused the API key from ${self.api_key_env} (HTTP {status}); check that variable"
                )
            if status == 404:
                return BackendError(
                    f"{where} answered 404 for model {self.model!r}: {detail}; check the model name and openai.base_url"
                )
            if status == 429:
                return BackendError(
                    f"{where} is rate limiting{after} (HTTP 429): {detail}; wait or lower distill.concurrency"
                )
            return BackendError(f"{where} answered HTTP {status}{after}: {detail}")
        if isinstance(exc, openai.APIResponseValidationError) or isinstance(exc, (ValueError, KeyError, TypeError)):
            return BackendError(
                f"{where} sent a malformed reply ({exc.__class__.__name__}); is it an OpenAI-compatible API?"
            )
        if isinstance(exc, openai.APIError):
            return BackendError(f"{where} failed: {self._scrub(str(exc))}")
        return BackendError(f"{where} failed: {exc.__class__.__name__}: {self._scrub(str(exc))}")

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except BackendError:
                raise
            except Exception as exc:
                if not self._is_retryable(exc) or attempt >= self.max_retries:
                    raise self._translate(exc, attempt + 1) from None
                await asyncio.sleep(self._delay(attempt, exc))
                attempt += 1

    # -- the protocol -----------------------------------------------------------------------

    async def list_models(self) -> list[str] | None:
        """Model ids the server lists, or None when it has no /models endpoint."""
        import openai

        async with self._session() as client:

            async def fetch() -> list[str] | None:
                try:
                    return [model.id async for model in client.models.list()]
                except openai.APIStatusError as exc:
                    if exc.status_code in (404, 405, 501):
                        return None
                    raise

            return await self._with_retries(fetch)

    async def probe(self) -> Probe:
        """The server answers /models and offers the model (None when it has no /models)."""
        offered = await self.list_models()
        if offered is None:
            return Probe(reachable=True, model_present=None)
        if self.model in offered:
            return Probe(reachable=True, model_present=True)
        try:
            await self.check_model()
        except BackendError as err:
            return Probe(reachable=True, model_present=False, problem=str(err))
        return Probe(reachable=True, model_present=True)

    async def check_model(self) -> None:
        """Fail unless the server offers the model (when it can say which models it offers)."""
        if self._model_checked or not self.verify_model:
            return
        offered = await self.list_models()
        if offered is not None and self.model not in offered:
            shown = ", ".join(sorted(offered)[:8]) + (" ..." if len(offered) > 8 else "")
            raise BackendError(
                f"{self.base_url} does not offer model {self.model!r} (it lists: {shown or 'nothing'}); "
                f"use one of those names, e.g. openai:{sorted(offered)[0] if offered else 'NAME'}"
            )
        self._model_checked = True

    def _request(self, messages: Sequence[Message], options: GenerationOptions) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            # The server tokenises the prompt: no text of ours may read as a control token there.
            "messages": [{"role": m.role, "content": neutralise_control(m.content)} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        request.update(options.given())
        if self.continues_answer and messages and messages[-1].role == "assistant":
            # vLLM/SGLang chat-template switches: extend the last assistant turn instead of opening a new one.
            request["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
        return request

    async def stream(
        self, messages: Sequence[Message], options: GenerationOptions = GenerationOptions()
    ) -> AsyncIterator[Chunk]:
        """The answer as it streams. `timeout` bounds each request whole (a server trickling
        bytes cannot hold a call longer), and a connection that breaks before the first token
        is retried like a refused one; after a token, a break is an error, never a short answer."""
        await self.check_model()
        request = self._request(messages, options)
        timer = StreamTimer()
        dropped = 0
        async with self._session() as client:
            while True:
                deadline = time.monotonic() + self.timeout
                response = await self._with_retries(lambda: client.chat.completions.create(**request))
                await self._check_event_stream(response)
                content_chunks = 0
                finish: str | None = None
                server_usage = None
                try:
                    while True:
                        remaining = deadline - time.monotonic()
                        try:
                            event = await asyncio.wait_for(response.__anext__(), max(remaining, 0.001))
                        except StopAsyncIteration:
                            break
                        except asyncio.TimeoutError:
                            raise BackendError(
                                f"{self.base_url} did not finish the answer within {self.timeout:g} s (openai.timeout is "
                                f"per request; {content_chunks} chunks came); raise it in config or check the server"
                            ) from None
                        if getattr(event, "usage", None) is not None:
                            server_usage = event.usage
                        for choice in event.choices or []:
                            text = choice.delta.content if choice.delta is not None else None
                            if text:
                                content_chunks += 1
                                timer.saw_token()
                                yield Chunk(text)
                            if choice.finish_reason:
                                finish = choice.finish_reason
                except BackendError:
                    raise
                except (ValueError, KeyError, TypeError) as exc:  # a chunk that is not the JSON we expect
                    raise BackendError(
                        f"{self.base_url} sent a malformed chunk after {content_chunks} chunks ({exc.__class__.__name__}); "
                        "is it an OpenAI-compatible API? The partial answer was not kept"
                    ) from None
                except Exception as exc:  # the transport breaks mid-answer with httpx2 or openai errors
                    if content_chunks == 0 and dropped < self.max_retries:
                        dropped += 1  # nothing was given out yet: ask again, as for a refused connection
                        await asyncio.sleep(self._delay(dropped - 1, exc))
                        continue
                    raise BackendError(
                        f"the answer from {self.base_url} broke off after {content_chunks} chunks "
                        f"({exc.__class__.__name__}); it is incomplete and was not kept, try again"
                    ) from None
                finally:
                    await response.close()
                break
        if finish is None:
            raise BackendError(
                f"the stream from {self.base_url} ended before the model finished ({content_chunks} chunks); "
                "the answer is incomplete and was not kept, try again"
            )
        if server_usage is not None and server_usage.completion_tokens is not None:
            usage = timer.usage(server_usage.prompt_tokens or 0, server_usage.completion_tokens)
        else:
            usage = timer.usage(estimate_prompt_tokens(messages), content_chunks, estimated=True)
        yield Chunk("", usage=usage, finish_reason=finish)

    async def _check_event_stream(self, response: Any) -> None:
        """A 200 that is not an event stream (an HTML page, a JSON error) is named as such, not
        read as an empty answer."""
        http = getattr(response, "response", None)
        kind = (http.headers.get("content-type", "") if http is not None else "").split(";")[0].strip().lower()
        if not kind or kind == "text/event-stream" or http is None:
            return
        try:
            body = (await http.aread()).decode("utf-8", "replace")
        except Exception:  # the body is only for the message
            body = ""
        finally:
            await response.close()
        raise BackendError(
            f"{self.base_url} answered {kind} ({self._scrub(body)[:80] or 'empty'}), not a stream of chat events; "
            "is openai.base_url an OpenAI-compatible API (usually ending in /v1)?"
        )


class _Borrowed:
    """`async with` over a shared client that leaves it open for the next call."""

    def __init__(self, client: Any):
        self.client = client

    async def __aenter__(self) -> Any:
        return self.client

    async def __aexit__(self, *exc_info: object) -> None:
        return None
