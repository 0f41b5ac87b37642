"""A base model and LoRA adapters as GGUF files, written by llama.cpp's own converters.

Shared-base tests and `benchmarks/serve_profiles.py` need a base GGUF and adapter GGUFs made
from the same HF base (`finetune.llama_converters`).
"""

from __future__ import annotations

from pathlib import Path


def write_base_and_adapters(
    base_folder: Path, base_out: Path, adapters: list[tuple[Path, Path]], ftype: str = "f32"
) -> None:
    """`base_folder` (HF) -> `base_out` GGUF, and each (PEFT adapter folder -> adapter GGUF) on that base."""
    from finetune.llama_converters import hf_to_gguf, lora_to_gguf, run_conversions

    # The base first: convert_hf_to_gguf after convert_lora_to_gguf in one process can misbehave.
    run_conversions(
        [hf_to_gguf(base_folder, base_out, ftype), *(lora_to_gguf(a, base_folder, out) for a, out in adapters)],
        base_out.with_suffix(".convert.log"),
    )
