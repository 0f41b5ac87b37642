"""The KV cache of earlier calls, kept so a prompt that starts like any of them reads only the rest.

Why: llama-cpp-python reuses the cache only when a prompt starts like the context's last one.
Distillation interleaves several documents' calls (`distill.concurrency`), so the three intent
samples of one text, a retry (the prompt again, then the refused answer), or a guided answer's
next step (its prompt plus the steps so far) usually follow another document's call, and read
their whole prompt again: in the README quickstart that was most of the 23,800 prompt tokens
read, 43% of the run's time. Here each call's sequence state (only its KV cells, via
`llama_state_seq_get_data`: ~23 KB a token for SmolLM2-135M) is kept, newest first, within a
byte budget; a new prompt that shares more with a kept state than with the context restores it.

A restored call reads the rest of its prompt as it would right after the kept call (a retry
or a guided step reuses the answer's cells, as llama-cpp-python's own reuse does), and always
reads at least its last SUFFIX_TOKENS again, in one batch: so a prompt the kept one starts with,
or the very same prompt, gives the tokens it gives on a fresh context (tests/test_prefix_states.py).
Without that, the last token would be read alone, and the one-token kernels round differently.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

BUDGET_BYTES = 256 * 1024 * 1024
"""Memory for kept states: a dozen 1,000-token prompts of SmolLM2-135M, two of an 8B model."""
MIN_GAIN_TOKENS = 32
"""A restore copies the whole state back; below this gain reading the tokens is as cheap."""
SUFFIX_TOKENS = 2
"""Prompt tokens always left to read after a restore. Measured with SmolLM2 (2 threads): a
prompt read as two batches gives the logits of one read, bit for bit, when the second batch has
2 or more tokens; a single token goes through the one-token kernels and may not (0.48 apart)."""


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixStates:
    """Kept sequence states of one llama-cpp-python `Llama`; use under its model's lock."""

    def __init__(self, budget_bytes: int = BUDGET_BYTES):
        self.budget_bytes = budget_bytes
        self._states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self._bytes = 0

    def restore(self, llama: Any, prompt: Sequence[int]) -> None:
        """Put the kept state that shares the most with `prompt` on the context, when it shares
        MIN_GAIN_TOKENS more than the context does, cut to the part they share."""
        import llama_cpp

        current = common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt)
        best, shared = None, current
        for tokens in self._states:
            length = min(common_prefix(tokens, prompt), len(prompt) - SUFFIX_TOKENS)
            if length > shared:
                best, shared = tokens, length
        if best is None or shared - current < MIN_GAIN_TOKENS:
            return
        data = self._states.pop(best)
        self._states[best] = data  # now the newest
        ctx = llama._ctx.ctx
        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), 0, -1, -1)
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_seq_set_data(ctx, buffer, len(data), 0) != len(data):
            llama.reset()  # the cells are in an unknown state: read the whole prompt
            llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), 0, -1, -1)
            return
        # Only the shared part stays: the rest, and always SUFFIX_TOKENS, is read as one batch.
        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), 0, shared, -1)
        llama.input_ids[:shared] = best[:shared]
        llama.n_tokens = shared

    def keep(self, llama: Any) -> None:
        """Keep the context's sequence (the last call's prompt and answer)."""
        import llama_cpp

        tokens = tuple(llama.input_ids[: llama.n_tokens].tolist())
        if not tokens:
            return
        ctx = llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if size > self.budget_bytes:
            return
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if not written:
            return
        self._drop(tokens)
        # A kept state that this one extends holds nothing this one lacks.
        for older in [t for t in self._states if len(t) <= len(tokens) and tokens[: len(t)] == t]:
            self._drop(older)
        self._states[tokens] = ctypes.string_at(buffer, written)
        self._bytes += written
        while self._bytes > self.budget_bytes:
            self._drop(next(iter(self._states)))

    def clear(self) -> None:
        """Forget every state (the context changed: another LoRA adapter, a closed model)."""
        self._states.clear()
        self._bytes = 0

    def _drop(self, tokens: tuple[int, ...]) -> None:
        data = self._states.pop(tokens, None)
        if data is not None:
            self._bytes -= len(data)
