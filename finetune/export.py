"""Trained adapter -> merged model -> GGUF via llama.cpp's converters -> quantized -> agent folder.

The GGUF files are written by llama.cpp's own `convert_hf_to_gguf.py` and
`convert_lora_to_gguf.py` (finetune/llama_converters.py), the same llama.cpp version that
loads them, so every architecture that version converts can be an agent base, and tensor
layouts (rotary reordering, norm offsets, tied embeddings) are llama.cpp's business. Then
`check_agent_gguf` proves on the written file that the agent tokenizes, formats chats and
stops exactly like its base (finetune/gguf_checks.py), and llama.cpp's own quantizer makes
the final file.

Two GGUFs come out of one training run:

* the merged agent (`<kind>-<quant>.gguf`): base + LoRA deltas in one model, the default;
* the LoRA adapter (`<kind>-lora.gguf`), applied by llama.cpp on the base GGUF at load time
  (`Llama(base_gguf, lora_path=...)`), so one loaded base can serve many agents. The base GGUF
  is the one the base came from (embedded, a .gguf, an Ollama blob) or, for a Hugging Face
  folder, the base converted once by the same converter and kept in the models cache.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.agents import MANIFEST, AgentInfo, next_version_dir, read_agent, template_version, use_agent
from core.errors import PaError, UsageError
from core.paths import Paths
from finetune.base_model import BaseModel, base_gguf_for_adapters, file_sha256, local_folder

QUANT_TYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "f16": None, "f32": None}
FLOAT_TYPES = ("f16", "f32")
K_QUANT_BLOCK = 256
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt")


def merge_adapter(base_folder: str, adapter_folder: Path):
    """The base in fp32 with the LoRA deltas added into its weights (a plain transformers model)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    return PeftModel.from_pretrained(base, str(adapter_folder)).merge_and_unload()


def choose_quant(model) -> str:
    """q8_0 when most 2-D weights cannot use k-quants (row width not a multiple of 256), else q4_k_m."""
    widths = [p.shape[-1] for p in model.state_dict().values() if p.dim() == 2]
    unfit = sum(1 for w in widths if w % K_QUANT_BLOCK)
    return "q8_0" if unfit * 2 > len(widths) else "q4_k_m"


def save_merged_folder(model, base_folder: Path, folder: Path) -> Path:
    """The merged model as an HF folder the converter reads: fp32 weights + the base's tokenizer files.

    The tokenizer files are copied byte for byte (not re-saved by transformers), so the
    converter sees the very vocabulary, special tokens and chat template the base ships.
    """
    model.save_pretrained(folder, safe_serialization=True)
    for item in base_folder.iterdir():
        if (
            item.is_file()
            and not item.name.endswith(WEIGHT_SUFFIXES)
            and not (folder / item.name).exists()
            and not item.name.endswith(".index.json")
        ):
            shutil.copy2(item, folder / item.name)
    return folder


def quantize_gguf(source: Path, target: Path, quant: str, threads: int | None = None) -> Path:
    """llama.cpp's quantizer (llama_model_quantize) from an F16/F32 GGUF to `quant`."""
    import llama_cpp

    if quant not in QUANT_TYPES or QUANT_TYPES[quant] is None:
        raise UsageError(f"quantization {quant!r} is not one of q8_0, q4_k_m")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[quant])
    params.nthread = threads or 0
    result = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if result != 0 or not target.is_file():
        raise PaError(f"llama.cpp could not quantize {source.name} to {quant} (code {result})")
    return target


@dataclass(frozen=True)
class ConvertedAgent:
    """What `convert_agent` wrote: the merged float GGUF, the adapter GGUF and its base GGUF."""

    float_gguf: Path
    lora_gguf: Path
    lora_base_gguf: Path
    seconds: dict[str, float]


def convert_agent(
    paths: Paths,
    base: BaseModel,
    adapter: Path,
    out_dir: Path,
    name: str,
    *,
    float_type: str = "f16",
    model=None,
    on_stage: Callable[[str, str], None] = lambda stage, message: None,
) -> ConvertedAgent:
    """Merged GGUF + adapter GGUF of a trained adapter, through llama.cpp's converters, checked.

    `model` is the merged transformers model when the caller already has it. This is the
    adapter-export API `pa serve` builds on: `lora_gguf` applies on `lora_base_gguf`.
    """
    from finetune.gguf_checks import check_agent_gguf, read_gguf_fields
    from finetune.llama_converters import hf_to_gguf, lora_to_gguf, run_conversions

    if float_type not in FLOAT_TYPES:
        raise UsageError(f"GGUF float type {float_type!r} is not f16 or f32")
    seconds: dict[str, float] = {}
    started = time.monotonic()
    base_folder = local_folder(base)
    # Named like the base folder, so the converter gives the agent the base's `general.name`
    # (llama.cpp keys per-family tokenizer tweaks on it); a GGUF base's own name is passed on.
    merged_folder = out_dir / "merged" / base_folder.name
    shutil.rmtree(merged_folder.parent, ignore_errors=True)
    if model is None:
        on_stage("merge", "merging the LoRA adapter into the base")
    save_merged_folder(model if model is not None else merge_adapter(base.folder, adapter), base_folder, merged_folder)
    seconds["merge"] = round(time.monotonic() - started, 2)

    float_file = out_dir / f"{name}-{float_type}.gguf"
    lora_file = out_dir / f"{name}-lora.gguf"
    lora_base, base_conversion = base_gguf_for_adapters(base, paths)
    base_name = read_gguf_fields(base.gguf, "general.name").get("general.name") if base.gguf else None
    conversions = [hf_to_gguf(merged_folder, float_file, float_type, model_name=base_name)]
    if base_conversion is not None:
        conversions.append(base_conversion)
    # Last: a convert_hf_to_gguf.py run after convert_lora_to_gguf.py in the same process wrote a
    # Phi-3 GGUF that llama.cpp refused (llama-cpp-python 0.3.36); in this order all load.
    conversions.append(lora_to_gguf(adapter, base_folder, lora_file))
    on_stage("gguf", f"converting to {float_file.name} and {lora_file.name} with llama.cpp's converters")
    step = time.monotonic()
    try:
        run_conversions(conversions, out_dir / "convert.log")
    finally:
        shutil.rmtree(merged_folder.parent, ignore_errors=True)
    if base_conversion is not None:
        base_conversion.output.rename(lora_base)
    seconds["convert"] = round(time.monotonic() - step, 2)

    on_stage("check", "checking the agent's tokenizer, chat template and stop token against the base")
    step = time.monotonic()
    check_agent_gguf(float_file, base_folder, lora_base)
    seconds["check"] = round(time.monotonic() - step, 2)
    (out_dir / "convert.log").unlink(missing_ok=True)
    return ConvertedAgent(float_file, lora_file, lora_base, seconds)


def export_agent(
    paths: Paths,
    profile: str,
    kind: str,
    base: BaseModel,
    adapter: Path,
    *,
    quant: str = "auto",
    threads: int | None = None,
    manifest: dict[str, Any] | None = None,
    keep_float: bool = False,
    float_type: str = "f16",
    on_stage: Callable[[str, str], None] = lambda stage, message: None,
) -> AgentInfo:
    """Merge, convert, check, quantize, and publish as `agents/<kind>/vN` (manifest written last),
    which becomes the current version (`core.agents.latest_agent`); older versions stay.

    The F16 (or `float_type`) GGUF is an intermediate, deleted after quantizing unless
    `keep_float` (parity tests compare it with the merged model).
    """
    started = time.monotonic()
    on_stage("merge", "merging the LoRA adapter into the base")
    model = merge_adapter(base.folder, adapter)
    if quant == "auto":
        quant = choose_quant(model)
    final = next_version_dir(paths, profile, kind)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)

    try:  # a failed or stopped export leaves no half-written folder behind
        float_type = "f32" if quant == "f32" else "f16" if quant == "f16" else float_type
        converted = convert_agent(
            paths, base, adapter, partial, kind, float_type=float_type, model=model, on_stage=on_stage
        )
        del model
        float_file = converted.float_gguf
        if quant in FLOAT_TYPES:
            gguf = float_file
        else:
            gguf = partial / f"{kind}-{quant}.gguf"
            on_stage("quantize", f"quantizing to {quant} with llama.cpp")
            quantize_gguf(float_file, gguf, quant, threads)
            if not keep_float:
                float_file.unlink()

        on_stage("manifest", "writing manifest.json")
        shutil.copytree(adapter, partial / "adapter")
        record = {
            "profile": profile,
            "kind": kind,
            "version": int(final.name[1:]),
            "gguf": gguf.name,
            "quant": quant,
            "size_bytes": gguf.stat().st_size,
            "sha256": file_sha256(gguf),
            "float_gguf": float_file.name if float_file.exists() else None,
            "float_size_bytes": float_file.stat().st_size if float_file.exists() else None,
            "lora_gguf": converted.lora_gguf.name,
            "lora_base_gguf": str(converted.lora_base_gguf),
            "converter": _converter_record(),
            "prompt_template": template_version(kind),
            "base_model": {
                "spec": base.spec,
                "folder": base.folder,
                "gguf": str(base.gguf) if base.gguf else None,
                "sha256": base.sha256,
            },
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "export_seconds": round(time.monotonic() - started, 1),
            "export_stage_seconds": converted.seconds,
            **(manifest or {}),
        }
        (partial / MANIFEST).write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    agent = read_agent(final, profile, kind)
    if agent is None:
        raise PaError(f"{final}: export finished but the agent folder is incomplete")
    use_agent(paths, profile, agent.version, kind)  # a new export is what drafts use; `pa agents use` rolls back
    on_stage("done", f"agent {agent.label} written")
    return agent


def _converter_record() -> dict[str, Any]:
    from finetune.llama_converters import converters_version

    info = converters_version()
    info.pop("folder", None)
    return info
