"""Batched decoding for the embedded model: concurrent calls share llama.cpp's forward passes.

Why: decoding one token reads every weight of the model once, so for a model large enough
it is bound by memory bandwidth, and a forward pass over several sequences (one token each)
costs little more than one. `pa distill --concurrency N` keeps N calls in flight; here they
decode together. On a model as small as the embedded SmolLM2 with Q4_1 weights the passes are
bound by arithmetic instead (4 sequences per pass measured 1.2x), and separate engines, one per
core, help more (`EnginePool`, `embedded.workers`: 1.5x).

How (llama.cpp's low-level API, one worker thread per engine; `EnginePool` runs `embedded.workers`
engines on one loaded model, each on its share of the cores):
- The engine starts the first time a call arrives while another runs on the model (see
  `EmbeddedBackend._batching_engine`); calls made one after another never pay for its cache.
- One llama.cpp context with `parallel` sequence slots, each its own KV stream. Each call
  gets a slot (a `seq_id`); every step builds one `llama_batch` holding the next token of
  every decoding sequence plus chunks of the prompts still to be read, and calls
  `llama_decode` once. Calls arriving while others decode join at the next step.
- Prefix sharing: a new prompt that starts like a sequence already in the cache (the three
  intent samples of one text; a guided answer's next step, which continues the previous
  step's prompt and answer) takes over that slot, or copies its cells (`llama_memory_seq_cp`,
  a memory copy, far cheaper than reading the prompt again), and reads only the rest. A sibling whose prompt is still being read is
  waited for, one step, rather than read twice. Finished sequences stay cached until their
  slot is needed.
- Each sequence samples with its own llama.cpp sampler chain, built exactly as
  llama-cpp-python's `create_completion` builds it (penalties, then greedy, or top-k,
  typical, top-p, min-p, temperature and a seeded draw), so a call gives the same tokens as
  the one-at-a-time path; `tests/test_embedded_batch.py` checks that with the real model.
- Stop strings, end-of-generation tokens, `max_tokens` and cancellation behave as in the
  one-at-a-time path: text is emitted as it becomes final, never a partial stop string or a
  partial UTF-8 character.
"""

from __future__ import annotations

import ctypes
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.errors import BackendError
from core.llm.prefix_states import common_prefix

Emit = Callable[[str, Any], None]


@dataclass
class SamplingSettings:
    """What the sampler chain of one call needs (the one-at-a-time path's parameters)."""

    temperature: float
    top_p: float
    repeat_penalty: float
    seed: int | None
    top_k: int = 40
    min_p: float = 0.05
    typical_p: float = 1.0


@dataclass
class BatchRequest:
    """One generation: prompt tokens in, text and ('done', (finish, prompt, completion)) out via `emit`."""

    prompt: list[int]
    max_tokens: int
    sampling: SamplingSettings
    stops: Sequence[str]
    emit: Emit
    cancelled: threading.Event


@dataclass
class _Slot:
    """A sequence slot of the KV cache: the tokens it holds and, while busy, its call."""

    seq_id: int
    cached: list[int] = field(default_factory=list)
    """Tokens whose keys and values are in the cache for this seq_id, at positions 0.."""
    request: BatchRequest | None = None
    pending: list[int] = field(default_factory=list)
    """Prompt tokens (or the last sampled token) still to be decoded."""
    sampler: Any = None
    completion: list[int] = field(default_factory=list)
    sent_bytes: int = 0
    last_used: float = 0.0

    @property
    def busy(self) -> bool:
        return self.request is not None


def _complete_utf8(data: bytes, end: int) -> int:
    """The largest cut <= end that does not split a UTF-8 character."""
    try:
        data[:end].decode("utf-8")
        return end
    except UnicodeDecodeError as exc:
        return exc.start if exc.reason == "unexpected end of data" else end


class BatchEngine:
    """A llama.cpp context that decodes up to `parallel` sequences per forward pass.

    `submit` is thread-safe and returns at once; a worker thread owns the context. Use one
    engine per loaded model (see `engine_for`).
    """

    def __init__(
        self, llama: Any, *, parallel: int, n_ctx: int, threads: int, lora_adapter: Any = None, lora_scale: float = 1.0
    ):
        """`n_ctx` is each sequence's context (prompt plus answer), as in the one-at-a-time path."""
        import llama_cpp
        from llama_cpp import _internals

        self._llama = llama
        self._lib = llama_cpp
        self._internals: Any = _internals  # llama_cpp._internals: private, unannotated
        self.parallel = parallel
        self.n_ctx = n_ctx
        # The loaded model's own context settings (attention kernel, RoPE), so logits match its path.
        params = llama_cpp.llama_context_params.from_buffer_copy(llama.context_params)
        # One KV stream of n_ctx cells per slot (not a unified cache): a sequence's cells then sit
        # where they would in a context of its own, so its logits are bit-identical to the
        # one-at-a-time path's (in a shared cache, attention sums over cells at other offsets and
        # rounds differently). The cost is parallel x the KV memory of one context.
        params.n_ctx = n_ctx * parallel
        params.n_batch = min(512, n_ctx)
        params.n_ubatch = params.n_batch
        params.n_seq_max = parallel
        params.kv_unified = False
        params.n_threads = threads
        params.n_threads_batch = threads
        self.n_batch = params.n_batch
        self.thread_share: Callable[[], int] | None = None
        """Set by a pool: the threads this engine may use now (all of them while it decodes alone)."""
        self._threads_set = threads
        self._context: Any = self._internals.LlamaContext(model=llama._model, params=params, verbose=False)
        if lora_adapter:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(lora_adapter)
            scales = (ctypes.c_float * 1)(lora_scale)
            if llama_cpp.llama_set_adapters_lora(self._context.ctx, adapters, 1, scales):
                self._context.close()
                raise BackendError("llama.cpp could not apply the LoRA adapter to the batched context")
        self._memory = self._context.memory
        self._vocab = llama._model.vocab
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._slots = [_Slot(seq_id) for seq_id in range(parallel)]
        self._waiting: list[BatchRequest] = []
        self._inbox: queue.Queue[BatchRequest | None] = queue.Queue()
        self._closed = False
        self.steps = 0
        """Forward passes run so far (what a benchmark divides tokens by)."""
        self.prompt_tokens_read = 0
        """Prompt tokens decoded so far; shared prefixes are not read again."""
        self._worker = threading.Thread(target=self._run, name="pa-embedded-batch", daemon=True)
        self._worker.start()

    # -- public -----------------------------------------------------------------------------

    def submit(self, request: BatchRequest) -> None:
        if self._closed:
            raise BackendError("the embedded model was closed while a call was waiting; run the command again")
        if len(request.prompt) >= self.n_ctx:
            raise BackendError(f"the prompt is {len(request.prompt)} tokens but the batched context holds {self.n_ctx}")
        self._inbox.put(request)

    def close(self) -> None:
        """Stop the worker (calls still running end as cancelled) and free the context."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put(None)
        self._worker.join()
        self._lib.llama_batch_free(self._batch)
        self._context.close()

    # -- worker -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                if not self._take_inbox(block=not any(slot.busy for slot in self._slots) and not self._waiting):
                    break
                self._drop_cancelled()
                self._admit()
                if any(slot.busy for slot in self._slots):
                    self._step()
        except Exception as exc:  # the C side failed: every caller must hear of it
            error = BackendError(f"batched generation failed ({exc.__class__.__name__}: {exc})")
            for slot in self._slots:
                if slot.request is not None:
                    slot.request.emit("error", error)
                    slot.request = None
            for request in self._waiting:
                request.emit("error", error)
            self._waiting.clear()
            self._closed = True
            return
        for slot in self._slots:  # closing: running calls end as cancelled
            if slot.request is not None:
                self._finish(slot, "cancelled")
        for request in self._waiting:
            request.emit("done", ("cancelled", len(request.prompt), 0))

    def _take_inbox(self, *, block: bool) -> bool:
        """Move submitted requests to the waiting list; False once `close` was called."""
        try:
            item = self._inbox.get(block=block)
            while True:
                if item is None:
                    return False
                self._waiting.append(item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            return True

    def _drop_cancelled(self) -> None:
        for request in [r for r in self._waiting if r.cancelled.is_set()]:
            self._waiting.remove(request)
            request.emit("done", ("cancelled", len(request.prompt), 0))
        for slot in self._slots:
            if slot.request is not None and slot.request.cancelled.is_set():
                self._finish(slot, "cancelled")

    def _admit(self) -> None:
        """Give waiting requests a slot, reusing the longest cached prefix (in order of arrival)."""
        for request in list(self._waiting):
            free = [s for s in self._slots if not s.busy]
            if not free:
                return
            source, shared = None, 0
            for slot in self._slots:
                length = common_prefix(slot.cached, request.prompt)
                if length > shared:
                    source, shared = slot, length
            if self._sibling_reading(request, shared):
                continue  # it will share the sibling's prompt one step later instead of reading it again
            self._waiting.remove(request)
            shared = min(shared, len(request.prompt) - 1)
            self.prompt_tokens_read += len(request.prompt) - shared
            self._start(request, free, source, shared)

    def _sibling_reading(self, request: BatchRequest, shared: int) -> bool:
        """Whether a busy slot is still reading a prompt that shares much more with this one."""
        for slot in self._slots:
            if slot.request is not None and len(slot.cached) < len(slot.request.prompt):
                if common_prefix(slot.request.prompt, request.prompt) > shared + 16:
                    return True
        return False

    def _start(self, request: BatchRequest, free: list[_Slot], source: _Slot | None, shared: int) -> None:
        lib = self._lib
        if source is not None and not source.busy and shared > 0:
            slot = source  # an idle slot holding our prefix: keep its cells, drop the rest
        else:
            slot = min(free, key=lambda s: (len(s.cached) > 0, s.last_used))  # an empty slot first, else the oldest
        if slot is not source:
            lib.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
            slot.cached = []
            if source is not None and shared > 0:
                # Slots are separate KV streams: llama.cpp copies a whole stream, then we cut it.
                lib.llama_memory_seq_cp(self._memory, source.seq_id, slot.seq_id, -1, -1)
                lib.llama_memory_seq_rm(self._memory, slot.seq_id, shared, -1)
                slot.cached = list(request.prompt[:shared])
        else:
            lib.llama_memory_seq_rm(self._memory, slot.seq_id, shared, -1)
            slot.cached = slot.cached[:shared]
        slot.request = request
        slot.pending = list(request.prompt[shared:])
        slot.completion = []
        slot.sent_bytes = 0
        slot.sampler = self._sampler(request.sampling)

    def _sampler(self, settings: SamplingSettings) -> Any:
        """The chain llama-cpp-python's `Llama._init_sampler` builds for create_completion's arguments."""
        sampler = self._internals.LlamaSampler()
        sampler.add_penalties(
            n_vocab=self._llama.n_vocab(),
            penalty_last_n=self._llama.last_n_tokens_size,
            penalty_repeat=settings.repeat_penalty,
            penalty_freq=0.0,
            penalty_present=0.0,
        )
        seed = settings.seed if settings.seed is not None else random.randint(0, 2**32)
        if settings.temperature < 0.0:
            sampler.add_dist(seed)
        elif settings.temperature == 0.0:
            sampler.add_greedy()
        else:
            sampler.add_top_k(settings.top_k)
            sampler.add_typical(settings.typical_p, 1)
            sampler.add_top_p(settings.top_p, 1)
            sampler.add_min_p(settings.min_p, 1)
            sampler.add_temp(settings.temperature)
            sampler.add_dist(seed)
        return sampler

    def _step(self) -> None:
        """One llama_decode over the next token of every decoding slot and chunks of prompts."""
        batch = self._batch
        entries: list[tuple[_Slot, int]] = []  # (slot, tokens it put in this batch)
        outputs: list[tuple[_Slot, int]] = []  # (slot, batch index whose logits it samples from)
        n = 0
        # Decoding slots first (one token each), then prompts in the room left.
        busy = sorted((s for s in self._slots if s.busy and s.pending), key=lambda s: len(s.pending) > 1)
        for slot in busy:
            room = self.n_batch - n
            if room <= 0:
                break
            take = slot.pending[:room]
            base = len(slot.cached)
            for offset, token in enumerate(take):
                batch.token[n] = token
                batch.pos[n] = base + offset
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = slot.seq_id
                last = offset == len(take) - 1 and len(take) == len(slot.pending)
                batch.logits[n] = last
                if last:
                    outputs.append((slot, n))
                n += 1
            entries.append((slot, len(take)))
        batch.n_tokens = n
        if self.thread_share is not None:
            share = self.thread_share()
            if share != self._threads_set:
                self._lib.llama_set_n_threads(self._context.ctx, share, share)
                self._threads_set = share
        code = self._lib.llama_decode(self._context.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        self.steps += 1
        now = time.perf_counter()
        for slot, taken in entries:
            slot.cached.extend(slot.pending[:taken])
            del slot.pending[:taken]
            slot.last_used = now
        for slot, index in outputs:
            self._sample(slot, index)

    def _sample(self, slot: _Slot, index: int) -> None:
        request = slot.request
        assert request is not None
        token = slot.sampler.sample(self._context, index)
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            data = self._llama.detokenize(slot.completion, prev_tokens=request.prompt)
            self._emit_upto(slot, data, len(data))
            slot.completion.append(token)  # counted as sampled, as the one-at-a-time path counts it
            self._finish(slot, "stop")
            return
        slot.completion.append(token)
        data = self._llama.detokenize(slot.completion, prev_tokens=request.prompt)
        cut = _complete_utf8(data, len(data))
        if cut == len(data):
            for stop in request.stops:
                at = data.find(stop.encode("utf-8"))
                if at >= 0:
                    self._emit_upto(slot, data, at)
                    self._finish(slot, "stop")
                    return
        if len(slot.completion) >= request.max_tokens:
            self._emit_upto(slot, data, len(data))
            self._finish(slot, "length")
            return
        hold = max((len(stop.encode("utf-8")) for stop in request.stops), default=1) - 1
        self._emit_upto(slot, data, _complete_utf8(data, max(slot.sent_bytes, cut - hold)))
        slot.pending = [token]

    def _emit_upto(self, slot: _Slot, data: bytes, end: int) -> None:
        if end > slot.sent_bytes:
            assert slot.request is not None
            slot.request.emit("text", data[slot.sent_bytes : end].decode("utf-8", errors="ignore"))
            slot.sent_bytes = end

    def _finish(self, slot: _Slot, reason: str) -> None:
        """Hand the call its end; the slot keeps its cells for a later prompt with the same start."""
        request = slot.request
        assert request is not None
        slot.request = None
        slot.pending = []
        slot.sampler = None
        slot.last_used = time.perf_counter()
        request.emit("done", (reason, len(request.prompt), len(slot.completion)))


class EnginePool:
    """Up to `workers` engines on one loaded model, each with its own context, sharing the threads.

    Why: on a small model one token's forward pass does not get faster with more threads (the
    SmolLM2-135M decodes ~120 tok/s on one core and on two), so two calls decoded at once on one
    core each finish in about the time of one (benchmarks/embedded_distill.py prints both). The
    weights are the model's, loaded once; each engine adds its own KV cache, made when a call
    first needs it. A call goes to the engine with the fewest calls in flight, ties to the one
    whose cache holds the longest start of its prompt. Before each forward pass an engine takes
    its share of the threads: all of them while it works alone (a prompt is read at full speed),
    threads / busy engines otherwise. An engine's tokens do not depend on its thread count
    (llama.cpp splits a product's rows across threads, never one dot product), so they are the
    tokens the one-engine path gives.
    """

    def __init__(self, llama: Any, *, workers: int, parallel: int, n_ctx: int, threads: int, lora_scale: float = 1.0):
        self.llama = llama
        self.workers = workers
        self.threads = threads
        self.parallel, self.n_ctx, self.lora_scale = parallel, n_ctx, lora_scale
        self.engines: list[BatchEngine] = []
        self._in_flight: list[int] = []
        self._lock = threading.Lock()
        self._add_engine()

    def _add_engine(self) -> None:
        engine = BatchEngine(
            self.llama,
            parallel=self.parallel,
            n_ctx=self.n_ctx,
            threads=self.threads,
            lora_adapter=getattr(self.llama, "_lora_adapter", None),
            lora_scale=self.lora_scale,
        )
        engine.thread_share = self._thread_share
        self.engines.append(engine)
        self._in_flight.append(0)

    def _thread_share(self) -> int:
        with self._lock:
            busy = sum(1 for count in self._in_flight if count)
        return max(1, self.threads // max(1, busy))

    @property
    def closed(self) -> bool:
        return any(engine._closed for engine in self.engines)

    @property
    def steps(self) -> int:
        return sum(engine.steps for engine in self.engines)

    @property
    def prompt_tokens_read(self) -> int:
        return sum(engine.prompt_tokens_read for engine in self.engines)

    @property
    def busy(self) -> bool:
        return any(slot.busy for engine in self.engines for slot in engine._slots)

    def submit(self, request: BatchRequest) -> None:
        with self._lock:
            if all(self._in_flight) and len(self.engines) < self.workers:
                self._add_engine()
            index = min(
                range(len(self.engines)),
                key=lambda i: (
                    self._in_flight[i],
                    -max((common_prefix(slot.cached, request.prompt) for slot in self.engines[i]._slots), default=0),
                ),
            )
            self._in_flight[index] += 1
        emit = request.emit

        def counted(kind: str, payload: Any) -> None:
            if kind in ("done", "error"):
                with self._lock:
                    self._in_flight[index] -= 1
            emit(kind, payload)

        try:
            self.engines[index].submit(replace(request, emit=counted))
        except BackendError:
            with self._lock:
                self._in_flight[index] -= 1
            raise

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


_engines: dict[int, EnginePool] = {}
_engines_lock = threading.Lock()


def engine_for(
    llama: Any, *, parallel: int, n_ctx: int, threads: int, workers: int = 1, lora_scale: float = 1.0
) -> EnginePool:
    """The engines of a loaded llama (made on first use, kept while the model is loaded)."""
    with _engines_lock:
        pool = _engines.get(id(llama))
        if pool is None or pool.closed or pool.llama is not llama:
            pool = EnginePool(
                llama, workers=workers, parallel=parallel, n_ctx=n_ctx, threads=threads, lora_scale=lora_scale
            )
            _engines[id(llama)] = pool
        return pool


def existing_engine(llama: Any) -> EnginePool | None:
    """The running engines of `llama`, if they were started."""
    with _engines_lock:
        pool = _engines.get(id(llama))
    return pool if pool is not None and not pool.closed and pool.llama is llama else None


def close_engine(llama: Any) -> None:
    """Stop and free the engines of `llama`, if it has them; call before closing the model."""
    with _engines_lock:
        pool = _engines.pop(id(llama), None)
    if pool is not None:
        pool.close()
