"""Trained adapter -> merged model -> GGUF (F16/F32) -> llama.cpp quantization -> agent folder.

The GGUF is written here with the `gguf` package for llama-architecture models; no llama.cpp
build or convert script is needed. Two details decide whether the exported model babbles:

* llama.cpp applies rotary embeddings to interleaved pairs, Hugging Face Llama to the two
  halves of each head; q and k projections are therefore reordered per head on the way out
  (transformers undoes the same reordering when it loads a GGUF).
* the tokenizer and chat template are the base model's own (copied from the base GGUF), so
  prompts tokenize identically and generation stops on the same end-of-turn token.

Quantization uses llama.cpp's own quantizer through llama-cpp-python.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.agents import MANIFEST, AgentInfo, next_version_dir, read_agent, template_version
from core.errors import PaError, UsageError
from core.paths import Paths
from finetune.base_model import BaseModel, file_sha256

FLOAT_TYPES = {"f16": 1, "f32": 0}  # general.file_type: MOSTLY_F16, ALL_F32
QUANT_TYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "f16": None, "f32": None}
K_QUANT_BLOCK = 256


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


def _rope_theta(config) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    scaling = getattr(config, "rope_scaling", None) or {}
    kind = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    if kind != "default":
        raise UsageError(f"base models with {kind!r} rope scaling cannot be exported by pa yet; use a Llama/SmolLM base without it")
    theta = params.get("rope_theta", getattr(config, "rope_theta", None))
    return float(theta if theta is not None else 10000.0)


def _reorder_heads(weight, heads: int):
    """HF half-split rotary layout -> llama.cpp interleaved layout, per head (rows of q/k)."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def write_gguf(model, tokenizer_metadata: dict[str, Any], path: Path, ftype: str = "f16", name: str = "pa agent") -> Path:
    """Write a llama-architecture transformers model as a GGUF file (F16 or F32 weights)."""
    import numpy as np
    from gguf import GGUFWriter

    from finetune.gguf_tokenizer import add_to_writer

    config = model.config
    if config.model_type != "llama":
        raise UsageError(f"base model type {config.model_type!r} cannot be exported by pa; use a Llama-architecture model (SmolLM2, Llama)")
    if ftype not in FLOAT_TYPES:
        raise UsageError(f"GGUF float type {ftype!r} is not f16 or f32")
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise UsageError("base models with attention or MLP biases cannot be exported by pa yet")

    writer = GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    if head_dim != config.hidden_size // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(FLOAT_TYPES[ftype])
    add_to_writer(writer, tokenizer_metadata)

    float_dtype = np.float16 if ftype == "f16" else np.float32
    state = {k: v.detach().to("cpu").float().numpy() for k, v in model.state_dict().items()}
    tied = getattr(config, "tie_word_embeddings", False)

    def add(name: str, array) -> None:
        writer.add_tensor(name, array.astype(float_dtype if array.ndim == 2 else np.float32))

    add("token_embd.weight", state["model.embed_tokens.weight"])
    for layer in range(config.num_hidden_layers):
        prefix = f"model.layers.{layer}."
        add(f"blk.{layer}.attn_norm.weight", state[prefix + "input_layernorm.weight"])
        add(f"blk.{layer}.attn_q.weight", _reorder_heads(state[prefix + "self_attn.q_proj.weight"], heads))
        add(f"blk.{layer}.attn_k.weight", _reorder_heads(state[prefix + "self_attn.k_proj.weight"], kv_heads))
        add(f"blk.{layer}.attn_v.weight", state[prefix + "self_attn.v_proj.weight"])
        add(f"blk.{layer}.attn_output.weight", state[prefix + "self_attn.o_proj.weight"])
        add(f"blk.{layer}.ffn_norm.weight", state[prefix + "post_attention_layernorm.weight"])
        add(f"blk.{layer}.ffn_gate.weight", state[prefix + "mlp.gate_proj.weight"])
        add(f"blk.{layer}.ffn_up.weight", state[prefix + "mlp.up_proj.weight"])
        add(f"blk.{layer}.ffn_down.weight", state[prefix + "mlp.down_proj.weight"])
    add("output_norm.weight", state["model.norm.weight"])
    if not tied:
        add("output.weight", state["lm_head.weight"])

    path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


_LORA_TARGETS = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def write_lora_gguf(adapter_folder: Path, base_config, path: Path) -> Path:
    """The LoRA adapter as a llama.cpp adapter GGUF, to apply on the base GGUF at load time.

    Much smaller than a merged model, but applied on the (quantized) base GGUF rather than
    the fp32 weights it was trained against, so its outputs drift more than the merged export.
    The q/k `lora_b` rows get the same head reordering as the q/k weights.
    """
    import numpy as np
    from gguf import GGUFWriter
    from safetensors.numpy import load_file

    settings = json.loads((adapter_folder / "adapter_config.json").read_text(encoding="utf-8"))
    if settings.get("alpha_pattern") or settings.get("rank_pattern"):
        raise UsageError("adapters with per-module rank or alpha cannot be written as a LoRA GGUF")
    heads = base_config.num_attention_heads
    kv_heads = getattr(base_config, "num_key_value_heads", None) or heads
    weights = load_file(str(adapter_folder / "adapter_model.safetensors"))
    writer = GGUFWriter(str(path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(settings["lora_alpha"]))
    for key in sorted(weights):
        if ".lora_A." not in key:
            continue
        module = key.split("model.layers.", 1)[1].split(".lora_A.", 1)[0]  # "3.self_attn.q_proj"
        layer, target = module.split(".", 1)
        if target not in _LORA_TARGETS:
            raise UsageError(f"LoRA on {target} cannot be written as a llama.cpp adapter")
        name = f"blk.{layer}.{_LORA_TARGETS[target]}.weight"
        lora_a = weights[key].astype(np.float32)
        lora_b = weights[key.replace(".lora_A.", ".lora_B.")].astype(np.float32)
        if target == "self_attn.q_proj":
            lora_b = _reorder_heads(lora_b, heads)
        elif target == "self_attn.k_proj":
            lora_b = _reorder_heads(lora_b, kv_heads)
        writer.add_tensor(f"{name}.lora_a", lora_a)
        writer.add_tensor(f"{name}.lora_b", lora_b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


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
    """Merge, write GGUF, quantize, and publish as `agents/<kind>/vN` (manifest written last).

    The F16 (or `float_type`) GGUF is an intermediate, deleted after quantizing unless
    `keep_float` (parity tests compare it with the merged model).
    """
    from finetune.gguf_tokenizer import load_tokenizer_metadata

    started = time.monotonic()
    on_stage("merge", "merging the LoRA adapter into the base")
    model = merge_adapter(base.folder, adapter)
    if quant == "auto":
        quant = choose_quant(model)
    final = next_version_dir(paths, profile, kind)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)

    float_type = "f32" if quant == "f32" else "f16" if quant == "f16" else float_type
    float_file = partial / f"{kind}-{float_type}.gguf"
    on_stage("gguf", f"writing {float_file.name}")
    metadata = load_tokenizer_metadata(Path(base.folder)) if Path(base.folder).is_dir() else _hub_tokenizer(base)
    write_gguf(model, metadata, float_file, float_type, name=f"pa {profile} {kind}")
    del model
    if quant in ("f16", "f32"):
        gguf = float_file
    else:
        gguf = partial / f"{kind}-{quant}.gguf"
        on_stage("quantize", f"quantizing to {quant} with llama.cpp")
        quantize_gguf(float_file, gguf, quant, threads)
        if not keep_float:
            float_file.unlink()

    lora_gguf = None
    if base.gguf is not None:  # an adapter GGUF is applied on a base GGUF: only when there is one
        on_stage("lora", "writing the LoRA adapter GGUF")
        from transformers import AutoConfig

        lora_gguf = write_lora_gguf(adapter, AutoConfig.from_pretrained(base.folder), partial / f"{kind}-lora.gguf")

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
        "lora_gguf": lora_gguf.name if lora_gguf else None,
        "lora_base_gguf": str(base.gguf) if lora_gguf else None,
        "prompt_template": template_version(kind),
        "base_model": {"spec": base.spec, "folder": base.folder, "gguf": str(base.gguf) if base.gguf else None,
                       "sha256": base.sha256},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "export_seconds": round(time.monotonic() - started, 1),
        **(manifest or {}),
    }
    (partial / MANIFEST).write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    partial.rename(final)
    agent = read_agent(final, profile, kind)
    if agent is None:
        raise PaError(f"{final}: export finished but the agent folder is incomplete")
    on_stage("done", f"agent {agent.label} written")
    return agent


def _hub_tokenizer(base: BaseModel) -> dict[str, Any]:
    """For a hub-id base: its tokenizer files from the local HF cache."""
    from huggingface_hub import snapshot_download

    from finetune.gguf_tokenizer import build_from_hf_folder

    return build_from_hf_folder(Path(snapshot_download(base.folder, allow_patterns=["tokenizer*", "*.jinja"])))
