"""The embedded backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

Why it looks the way it does:
- The prompt is rendered with the chat template stored in the GGUF (the same Jinja formatter
  llama-cpp-python's `create_chat_completion` uses), and its end-of-turn token is a stop, so
  the model does not babble past its turn.
- We format and tokenize the prompt ourselves and then stream `create_completion`, which is
  what `create_chat_completion` does internally; doing it here lets us count the prompt and
  completion tokens exactly (llama-cpp-python sends no usage in streaming mode).
- A loaded model is cached per process, keyed by (path, lora, n_ctx, threads), and guarded by
  a lock: a llama.cpp context serves one generation at a time.
- Generation is blocking C code, so it runs in a worker thread that hands text to the event
  loop through a queue. Cancelling the consuming task sets an event the worker checks between
  tokens, so generation stops within one token.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BackendError
from core.llm.base import Chunk, GenerationOptions, Message, Probe, StreamTimer
from core.llm.prefix_states import PrefixStates

if TYPE_CHECKING:
    from core.config import Config
    from core.llm.base import ModelSpec, Price

# Sampling defaults of llama-cpp-python's chat completion, used when a caller sets nothing.
DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.95
DEFAULT_REPEAT_PENALTY = 1.1

ModelKey = tuple[str, str | None, int, int]


@dataclass
class LoadedModel:
    """A llama.cpp model with its chat formatter, the lock that serialises its use, and the KV
    states of its earlier calls (`core.llm.prefix_states`)."""

    llama: Any  # llama_cpp.Llama, typed loosely so this module imports without llama_cpp
    formatter: Any  # llama_cpp.llama_chat_format.Jinja2ChatFormatter
    lock: threading.Lock
    load_seconds: float
    prefixes: PrefixStates = field(default_factory=PrefixStates)


_models: dict[ModelKey, LoadedModel] = {}
_models_lock = threading.Lock()


def clear_model_cache() -> None:
    """Forget loaded models (their memory is freed once no backend holds them)."""
    with _models_lock:
        for model in _models.values():
            with model.lock:
                _close_batching(model)
                model.llama.close()
        _models.clear()


def _close_models_at_exit() -> None:
    """Free models before interpreter teardown: llama-cpp-python's own __del__ fails then."""
    for model in list(_models.values()):
        if model.lock.acquire(blocking=False):  # a generation still running keeps its model
            try:
                _close_batching(model)
                model.llama.close()
            finally:
                model.lock.release()
    _models.clear()


atexit.register(_close_models_at_exit)


def _close_batching(model: LoadedModel) -> None:
    """Stop the model's batching engine (if one was started) before the model is freed."""
    from core.llm.embedded_batch import close_engine

    close_engine(model.llama)


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


def load_model(
    model_path: Path, *, n_ctx: int = 4096, threads: int | None = None, lora_path: Path | None = None
) -> LoadedModel:
    """Load (once per process) and return the model; blocking, so call it from a worker."""
    threads = threads or default_threads()
    key: ModelKey = (
        str(Path(model_path).resolve()),
        str(Path(lora_path).resolve()) if lora_path else None,
        n_ctx,
        threads,
    )
    with _models_lock:
        loaded = _models.get(key)
        if loaded is None:
            loaded = _load(Path(model_path), n_ctx=n_ctx, threads=threads, lora_path=lora_path)
            _models[key] = loaded
        return loaded


def _load(model_path: Path, *, n_ctx: int, threads: int, lora_path: Path | None) -> LoadedModel:
    import time

    from core.llm.gguf_file import check_gguf_file

    check_gguf_file(model_path)
    if lora_path is not None:
        check_gguf_file(lora_path, "LoRA adapter")
    # OpenMP's own wait policy is kept: on an idle machine it generates 3x faster than PASSIVE
    # (93.6 vs 28.1 tok/s, benchmarks/backend_speed.py). On heavily shared cores spinning threads
    # collapse instead (0.9 vs 22.5 tok/s at load 9): set OMP_WAIT_POLICY=PASSIVE there.
    try:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    except ImportError as exc:  # pragma: no cover - llama-cpp-python is a hard dependency
        raise BackendError(f"llama-cpp-python is not usable ({exc}); reinstall pa with scripts/install.sh") from None
    started = time.perf_counter()
    try:
        llama = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            lora_path=str(lora_path) if lora_path else None,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        what = f"{model_path} with LoRA {lora_path}" if lora_path else str(model_path)
        raise BackendError(
            f"llama.cpp could not load {what} ({exc}); check that the file is a complete GGUF model"
        ) from None
    if lora_path is not None and not llama._lora_adapter:
        # llama-cpp-python 0.3.x checks the adapter with `is None`, but a failed load returns a
        # NULL pointer object, so a LoRA for another base model would be "applied" and crash.
        llama._lora_adapter = None
        llama.close()
        raise BackendError(
            f"llama.cpp could not load {model_path} with LoRA {lora_path}: the adapter does not fit this "
            "base model (wrong tensor shapes or names); use the adapter trained for this model"
        )
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        llama.close()
        raise BackendError(
            f"{model_path}: the GGUF has no chat template (tokenizer.chat_template); use an instruct/chat model"
        )
    eos_id, bos_id = llama.token_eos(), llama.token_bos()
    vocab_text = llama._model.token_get_text  # the public API has no token -> text lookup
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=vocab_text(eos_id) if eos_id != -1 else "",
        bos_token=vocab_text(bos_id) if bos_id != -1 else "",
        stop_token_ids=[eos_id] if eos_id != -1 else None,
    )
    return LoadedModel(
        llama=llama, formatter=formatter, lock=threading.Lock(), load_seconds=time.perf_counter() - started
    )


class _TokenCounter:
    """A llama.cpp stopping criterion that stops only on cancel, and counts tokens meanwhile.

    llama.cpp calls it after each sampled token with the tokens evaluated so far (the first
    call sees exactly the prompt), and once more after the loop with the same tokens as the
    last call; so the tokens sampled are the longest view minus the prompt, plus the one
    token sampled but never evaluated. That count includes the end-of-turn token when the
    model ended its answer itself.
    """

    def __init__(self, cancelled: threading.Event):
        self.prompt_tokens = 0
        self.longest = 0
        self.cancelled = cancelled

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        seen = len(input_ids)
        if self.prompt_tokens == 0:
            self.prompt_tokens = seen
        self.longest = max(self.longest, seen)
        return self.cancelled.is_set()

    @property
    def sampled(self) -> int:
        return self.longest - self.prompt_tokens + 1 if self.prompt_tokens else 0


class EmbeddedBackend:
    """A GGUF chat model in this process. Loading is lazy: nothing happens until first use."""

    price: Price | None = None  # runs locally, costs nothing per token
    streams = True
    continues_answer = True
    """A last assistant message is continued, not answered: callers may write an answer's start."""

    async def probe(self) -> Probe:
        """Load the file (the model is in it, so it is present once it loads)."""
        await asyncio.to_thread(self.load)
        return Probe(reachable=True, model_present=True)

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        threads: int | None = None,
        lora_path: Path | None = None,
        spec: str | None = None,
        parallel: int = 1,
        workers: int = 1,
    ):
        self.model_path = Path(model_path)
        self.parallel = parallel
        """Calls decoded together in one forward pass of an engine (core.llm.embedded_batch)."""
        self.workers = workers
        """Engines decoding at once, each on its share of the threads; with parallel, 1 and 1
        run calls one at a time on the model's own context."""
        self.n_ctx = n_ctx
        self.threads = threads
        self.lora_path = Path(lora_path) if lora_path else None
        self.spec = spec or f"gguf:{self.model_path}"

    @classmethod
    def from_spec(cls, spec: ModelSpec, config: Config, *, lora: Path | None = None) -> EmbeddedBackend:
        """`embedded` (the packaged SmolLM2) or `gguf:PATH`, with an optional LoRA adapter GGUF."""
        from core.llm.gguf_file import check_gguf_file
        from core.llm.specs import embedded_model_path

        model_path = embedded_model_path() if spec.kind == "embedded" else check_gguf_file(spec.path)  # type: ignore[arg-type]
        if lora is not None:
            check_gguf_file(Path(lora), "LoRA adapter")
        return cls(
            model_path,
            n_ctx=config.embedded.n_ctx,
            threads=config.embedded.threads,
            lora_path=Path(lora) if lora is not None else None,
            spec=str(spec),
            parallel=config.embedded.parallel,
            workers=config.embedded.workers,
        )

    def __repr__(self) -> str:
        return f"EmbeddedBackend({self.spec!r}, n_ctx={self.n_ctx}, threads={self.threads}, lora={self.lora_path})"

    def load(self) -> LoadedModel:
        """Load now (blocking); `stream` does this in its worker thread on first use."""
        return load_model(self.model_path, n_ctx=self.n_ctx, threads=self.threads, lora_path=self.lora_path)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens these messages take after the chat template (blocking)."""
        model = self.load()
        with model.lock:
            return len(_render_prompt(model, messages)[1])

    async def stream(
        self, messages: Sequence[Message], options: GenerationOptions = GenerationOptions()
    ) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(kind: str, payload: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, payload))
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                cancelled.set()

        worker = threading.Thread(
            target=self._generate, args=(list(messages), options, emit, cancelled), name=f"pa-embedded:{self.spec}"
        )
        timer = StreamTimer()
        worker.start()
        try:
            while True:
                kind, payload = await queue.get()
                if kind == "text":
                    timer.saw_token()
                    yield Chunk(payload)
                elif kind == "error":
                    raise payload
                else:
                    finish, prompt_tokens, completion_tokens = payload
                    yield Chunk("", usage=timer.usage(prompt_tokens, completion_tokens), finish_reason=finish)
                    return
        finally:
            cancelled.set()

    def _generate(
        self,
        messages: list[Message],
        options: GenerationOptions,
        emit: Callable[[str, Any], None],
        cancelled: threading.Event,
    ) -> None:
        """Worker thread: load if needed, generate, and emit text, then ('done', ...) or ('error', ...)."""
        try:
            model = self.load()
            engine = self._batching_engine(model)
            if engine is not None:
                self._submit_batched(engine, model, messages, options, emit, cancelled)
                return
            with model.lock:
                if cancelled.is_set():
                    return
                finish, prompt_tokens, completion_tokens = self._generate_locked(
                    model, messages, options, emit, cancelled
                )
            emit("done", (finish, prompt_tokens, completion_tokens))
        except BackendError as exc:
            emit("error", exc)
        except Exception as exc:  # llama.cpp raises plain ValueError/RuntimeError; the loop must hear of it
            emit("error", BackendError(f"{self.spec}: generation failed ({exc.__class__.__name__}: {exc})"))

    def _batching_engine(self, model: LoadedModel) -> Any:
        """The model's engines. With `parallel` alone they start when a call arrives while another
        one runs; until then calls run one at a time on the model's own context, so a user who
        never overlaps calls (drafting) never pays for the engine's KV cache (parallel x n_ctx
        cells). With `workers` they take every call: a lone call gets all the threads anyway.
        """
        if self.parallel <= 1 and self.workers <= 1:
            return None
        from core.llm.embedded_batch import engine_for, existing_engine

        engine = existing_engine(model.llama)
        # Workers share the cores by thread count, so every call goes to them (a call on the
        # model's own context would take all threads beside them); batching alone waits for overlap.
        if engine is None and (model.lock.locked() or self.workers > 1):
            engine = engine_for(
                model.llama,
                parallel=self.parallel,
                n_ctx=self.n_ctx,
                threads=self.threads or default_threads(),
                workers=self.workers,
            )
        return engine

    def _submit_batched(
        self,
        engine: Any,
        model: LoadedModel,
        messages: list[Message],
        options: GenerationOptions,
        emit: Callable[[str, Any], None],
        cancelled: threading.Event,
    ) -> None:
        """Hand the call to the model's batching engine, which emits its text and end itself."""
        from core.llm.embedded_batch import BatchRequest, SamplingSettings

        formatted, prompt = _render_prompt(model, messages)
        self._check_prompt_fits(prompt)
        room = self.n_ctx - len(prompt)
        engine.submit(
            BatchRequest(
                prompt=prompt,
                max_tokens=min(options.max_tokens, room) if options.max_tokens is not None else room,
                sampling=SamplingSettings(
                    temperature=options.temperature if options.temperature is not None else DEFAULT_TEMPERATURE,
                    top_p=options.top_p if options.top_p is not None else DEFAULT_TOP_P,
                    repeat_penalty=DEFAULT_REPEAT_PENALTY,
                    seed=options.seed,
                ),
                stops=[*options.stop, *(formatted.stop or [])],
                emit=emit,
                cancelled=cancelled,
            )
        )

    def _check_prompt_fits(self, prompt: list[int]) -> None:
        if len(prompt) >= self.n_ctx:
            raise BackendError(
                f"{self.spec}: the prompt is {len(prompt)} tokens but the context holds {self.n_ctx}; "
                "shorten the input or raise embedded.n_ctx in config"
            )

    def _generate_locked(
        self,
        model: LoadedModel,
        messages: list[Message],
        options: GenerationOptions,
        emit: Callable[[str, Any], None],
        cancelled: threading.Event,
    ) -> tuple[str, int, int]:
        from llama_cpp import StoppingCriteriaList

        formatted, prompt = _render_prompt(model, messages)
        self._check_prompt_fits(prompt)
        counter = _TokenCounter(cancelled)
        criteria = [counter, *(formatted.stopping_criteria or [])]
        stops = list(options.stop) + list(formatted.stop or [])
        max_tokens = options.max_tokens
        if max_tokens is not None:
            max_tokens = min(max_tokens, self.n_ctx - len(prompt))
        model.prefixes.restore(model.llama, prompt)
        pieces = model.llama.create_completion(
            prompt=prompt,
            stream=True,
            max_tokens=max_tokens,
            temperature=options.temperature if options.temperature is not None else DEFAULT_TEMPERATURE,
            top_p=options.top_p if options.top_p is not None else DEFAULT_TOP_P,
            repeat_penalty=DEFAULT_REPEAT_PENALTY,
            seed=options.seed,
            stop=stops,
            stopping_criteria=StoppingCriteriaList(criteria),
        )
        finish = "length"
        try:
            for piece in pieces:
                if cancelled.is_set():
                    finish = "cancelled"
                    break
                choice = piece["choices"][0]
                if choice["text"]:
                    emit("text", choice["text"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        finally:
            pieces.close()
        model.prefixes.keep(model.llama)
        if cancelled.is_set():
            finish = "cancelled"
        return finish, counter.prompt_tokens or len(prompt), counter.sampled


def _render_prompt(model: LoadedModel, messages: Sequence[Message]) -> tuple[Any, list[int]]:
    """The GGUF chat template applied to the messages (with the assistant turn opened), and its tokens.

    A last message from the assistant is the start of its answer: the turn is opened and that
    text written into it, so the model continues it (see `EmbeddedBackend.continues_answer`).

    Special tokens are parsed only in the template's own text: every message's content (and
    the answer start) is tokenised as plain text, so an email holding `<|im_end|><|im_start|>`
    reaches the model as those characters, never as the control tokens that end and open a turn
    (`core.fencing.split_rendered`). With a sentencepiece model that adds a space prefix,
    llama.cpp adds it before each data part as it does after a special token.
    """
    from core.fencing import Segment, data_markers, split_rendered

    answer_start = ""
    if messages and messages[-1].role == "assistant":
        answer_start, messages = messages[-1].content, messages[:-1]
    contents = [m.content for m in messages]
    markers = data_markers(contents)
    formatted = model.formatter(messages=[{"role": m.role, "content": mark} for m, mark in zip(messages, markers)])
    segments = split_rendered(formatted.prompt, markers, contents) + [Segment(answer_start, True)]
    return formatted, tokenize_segments(model.llama, segments, add_bos=not formatted.added_special)


def tokenize_segments(llama: Any, segments: Sequence[Any], *, add_bos: bool) -> list[int]:
    """Tokens of template segments (special tokens parsed) and data segments (never parsed)."""
    tokens: list[int] = []
    first = True
    for segment in segments:
        if not segment.text and not first:
            continue
        tokens += llama.tokenize(segment.text.encode("utf-8"), add_bos=add_bos and first, special=not segment.is_data)
        first = False
    return tokens
