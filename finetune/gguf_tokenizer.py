"""The tokenizer and chat template metadata of a GGUF, read from a base and written into an agent.

An exported agent must tokenize and format chats exactly like the model it was trained from,
or it babbles. When the base came from a GGUF, its `tokenizer.*` key/values are copied as they
are (values and GGUF value types), so llama.cpp sees the very same vocabulary, merges,
pre-tokenizer, special ids and chat template. For a plain Hugging Face BPE base the same keys
are built from its `tokenizer.json`.

The JSON form is `{key: {"type": "<GGUFValueType name>", "sub_type": "<name>|null", "value": ...}}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import UsageError



def read_tokenizer_metadata(gguf_path: Path) -> dict[str, dict[str, Any]]:
    """Every `tokenizer.*` key of a GGUF with its value and GGUF types."""
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(str(gguf_path))
    metadata: dict[str, dict[str, Any]] = {}
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        main = field.types[0]
        sub = field.types[-1] if main == GGUFValueType.ARRAY else None
        value = field.contents()
        metadata[key] = {"type": main.name, "sub_type": sub.name if sub else None, "value": value}
    if "tokenizer.ggml.model" not in metadata:
        raise UsageError(f"{gguf_path}: carries no tokenizer (tokenizer.ggml.model); use a complete GGUF as base")
    return metadata


def load_tokenizer_metadata(folder: Path) -> dict[str, dict[str, Any]]:
    """The metadata saved beside a base model folder, or built from its tokenizer.json."""
    from finetune.base_model import GGUF_TOKENIZER_FILE

    saved = folder / GGUF_TOKENIZER_FILE
    if saved.is_file():
        return json.loads(saved.read_text(encoding="utf-8"))
    return build_from_hf_folder(folder)


def add_to_writer(writer, metadata: dict[str, dict[str, Any]]) -> None:
    """Write the key/values into a GGUFWriter with their original GGUF types."""
    from gguf import GGUFValueType

    for key, item in metadata.items():
        vtype = GGUFValueType[item["type"]]
        sub = GGUFValueType[item["sub_type"]] if item.get("sub_type") else None
        writer.add_key_value(key, item["value"], vtype, sub_type=sub)


def build_from_hf_folder(folder: Path) -> dict[str, dict[str, Any]]:
    """GGUF tokenizer metadata for a byte-level BPE tokenizer (GPT-2 family) from tokenizer.json."""
    tokenizer_file = folder / "tokenizer.json"
    config_file = folder / "tokenizer_config.json"
    if not tokenizer_file.is_file():
        raise UsageError(f"{folder}: no tokenizer.json; export needs a fast (tokenizers) tokenizer in the base folder")
    spec = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or not _is_byte_level(spec):
        raise UsageError(f"{tokenizer_file}: only byte-level BPE tokenizers can be exported to GGUF by pa")

    vocab: dict[str, int] = dict(model["vocab"])
    special: set[str] = set()
    user_defined: set[str] = set()
    for added in spec.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
        (special if added.get("special") else user_defined).add(added["content"])
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [5] * size  # UNUSED until filled
    for text, index in vocab.items():
        tokens[index] = text
        types[index] = 3 if text in special else 4 if text in user_defined else 1
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    def special_id(name: str) -> int | None:
        token = config.get(name)
        if isinstance(token, dict):
            token = token.get("content")
        return vocab.get(token) if token else None

    def item(vtype: str, value: Any, sub: str | None = None) -> dict[str, Any]:
        return {"type": vtype, "sub_type": sub, "value": value}

    metadata = {
        "tokenizer.ggml.model": item("STRING", "gpt2"),
        "tokenizer.ggml.pre": item("STRING", _pre_tokenizer_name(spec)),
        "tokenizer.ggml.tokens": item("ARRAY", tokens, "STRING"),
        "tokenizer.ggml.token_type": item("ARRAY", types, "INT32"),
        "tokenizer.ggml.merges": item("ARRAY", merges, "STRING"),
        "tokenizer.ggml.add_bos_token": item("BOOL", bool(config.get("add_bos_token", False))),
    }
    for key, name in (("bos", "bos_token"), ("eos", "eos_token"), ("unknown", "unk_token"), ("padding", "pad_token")):
        index = special_id(name)
        if index is not None:
            metadata[f"tokenizer.ggml.{key}_token_id"] = item("UINT32", index)
    template = config.get("chat_template")
    if not template and (folder / "chat_template.jinja").is_file():
        template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    if not template:
        raise UsageError(f"{folder}: no chat template; the agent needs the base model's chat template")
    metadata["tokenizer.chat_template"] = item("STRING", template)
    return metadata


def _is_byte_level(spec: dict[str, Any]) -> bool:
    return "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) or "ByteLevel" in json.dumps(spec.get("decoder"))


def _pre_tokenizer_name(spec: dict[str, Any]) -> str:
    """llama.cpp's name for the pre-tokenizer, from the HF split rules (only the common cases)."""
    pre = json.dumps(spec.get("pre_tokenizer"))
    if "Digits" in pre and '"individual_digits": true' in pre:
        return "smollm"
    if "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}" in pre:
        return "llama-bpe"
    if "ByteLevel" in pre and "Split" not in pre:
        return "gpt-2"
    raise UsageError(
        "the base tokenizer's pre-tokenizer is not one pa can name for llama.cpp; "
        "use a GGUF base (`gguf:PATH`) so its tokenizer metadata is copied as is"
    )
