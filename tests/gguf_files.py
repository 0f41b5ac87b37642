"""A base model and LoRA adapters as GGUF files, with whichever GGUF writer this pa has.

pa's own writer (`finetune.export.write_gguf` / `write_lora_gguf`) is being replaced by
llama.cpp's converters (`finetune.llama_converters`); shared-base tests and
`benchmarks/serve_profiles.py` need the same files from either.
"""

from __future__ import annotations

from pathlib import Path


def write_base_and_adapters(base_folder: Path, base_out: Path, adapters: list[tuple[Path, Path]], ftype: str = "f32") -> None:
    """`base_folder` (HF) -> `base_out` GGUF, and each (PEFT adapter folder -> adapter GGUF) on that base."""
    try:
        from finetune.export import write_gguf, write_lora_gguf
    except ImportError:  # llama.cpp's own converters
        from finetune.llama_converters import hf_to_gguf, lora_to_gguf, run_conversions

        # The base first: convert_hf_to_gguf after convert_lora_to_gguf in one process can misbehave.
        run_conversions([hf_to_gguf(base_folder, base_out, ftype), *(lora_to_gguf(a, base_folder, out) for a, out in adapters)],
                        base_out.with_suffix(".convert.log"))
        return
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from finetune.gguf_tokenizer import load_tokenizer_metadata

    model = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    write_gguf(model, load_tokenizer_metadata(base_folder), base_out, ftype)
    config = AutoConfig.from_pretrained(base_folder)
    for adapter, out in adapters:
        write_lora_gguf(adapter, config, out)
