"""One training step's loss, computed where the memory is: only the labelled positions meet the LM head.

Why: SmolLM2's vocabulary has 49,152 tokens, so the LM head's logits for a batch of 4 x 512
tokens are 4 x 512 x 49,152 fp32 values, 403 MB; transformers' causal-LM loss then makes a
shifted copy, a log-softmax and, in backward, a gradient of each: about 1.6 GB for positions
that are mostly the prompt, whose labels are -100 and never count. Here the decoder's hidden
states are gathered at the positions whose next token is labelled, and only those rows go
through the head and the cross-entropy, `HEAD_CHUNK` rows at a time with the logits recomputed
in backward rather than kept. The loss is the same number (mean over labelled
tokens, as transformers computes it; tests/test_finetune_step.py checks that), the memory
and the head's compute shrink to the labelled share.

`enable_gradient_checkpointing` trades compute for activation memory: each decoder layer's
activations are recomputed in backward instead of kept (about 30% more step time, and the
activations of 30 layers at batch x length shrink to one layer's).

`computing_in` sets a step's precision (`train.precision`): on a CPU that multiplies bf16 in
hardware, the matrix products run in bfloat16 under autocast while the weights, the LoRA
parameters, the optimizer and the loss stay fp32, so only the products' rounding changes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX); elsewhere oneDNN
    emulates it and a bf16 step is slower than fp32."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(requested: str, device: str) -> str:
    """The precision a run computes in: `auto` is bf16 on a CPU with native bf16, fp32 on other
    CPUs; on CUDA the QLoRA path sets its own compute type, reported as `nf4`."""
    if device == "cuda":
        return "nf4"
    if requested == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return requested


BF16_WIDTH_STEP = 64
"""bf16 batches are padded to a multiple of this many tokens. oneDNN keeps the kernels it builds
for each matrix shape, so every new batch length cost memory that stayed: over one epoch of
length-grouped batches the resident memory grew from 1.07 to 1.64 GB (and peaked at 1.93 GB);
padded, it stays at 1.28 GB (peak 1.61 GB) for about 5% more step time."""


def batch_width(lengths: list[int], precision: str) -> int:
    """Columns of a batch of examples of these lengths: the longest, rounded up in bf16 (see BF16_WIDTH_STEP)."""
    longest = max(lengths)
    if precision != "bf16":
        return longest
    return -(-longest // BF16_WIDTH_STEP) * BF16_WIDTH_STEP


def computing_in(precision: str, device: str) -> AbstractContextManager[Any]:
    """The context a forward pass runs in: bf16 autocast for `bf16` on a CPU, plain otherwise.

    Not for QLoRA on CUDA: its 4-bit layers already compute in bf16, and autocasting the rest
    (norms, attention, LoRA, head) made SmolLM2-shaped steps slower on an H200, 1,745 against
    2,755 tokens/s, with a higher peak (564 against 510 MiB; benchmarks/qlora_cuda.py)."""
    if precision != "bf16" or device != "cpu":
        return nullcontext()
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16)


def decoder_and_head(model: Any) -> tuple[Any, Any]:
    """The decoder stack and LM head of a (PEFT-wrapped) causal LM; LoRA layers live inside the decoder."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


HEAD_CHUNK = 256
"""Labelled positions per pass through the LM head: its logits (chunk x vocab fp32, 50 MB for
SmolLM2) are recomputed in backward instead of kept, so the head's memory no longer grows
with batch x length."""


def training_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the labelled next tokens, the head applied to those positions only."""
    import torch
    from torch.utils.checkpoint import checkpoint

    decoder, head = decoder_and_head(model)
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    count = int(keep.sum())
    if count == 0:
        return hidden.sum() * 0.0  # no labelled token: a zero loss that still has a graph
    picked, wanted = hidden[:, :-1][keep], targets[keep]
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, count, HEAD_CHUNK):
        rows, labels = picked[start : start + HEAD_CHUNK], wanted[start : start + HEAD_CHUNK]
        if torch.is_grad_enabled() and rows.requires_grad:
            total = total + checkpoint(_summed_cross_entropy, head, rows, labels, use_reentrant=False)
        else:
            total = total + _summed_cross_entropy(head, rows, labels)
    return total / count


def _summed_cross_entropy(head: Any, rows: Any, labels: Any) -> Any:
    import torch.nn.functional as F

    return F.cross_entropy(head(rows).float(), labels, reduction="sum")


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute each decoder layer in backward (PEFT needs the inputs to require grad for that)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if hasattr(base, "activation_checkpointing_enable"):  # the name since transformers 5
        base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    base.config.use_cache = False
    if hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
