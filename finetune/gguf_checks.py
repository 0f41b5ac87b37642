"""Proof, on the written GGUF, that an exported agent tokenizes, formats chats and stops like its base.

A converter that writes a wrong chat template, pre-tokenizer or stop token gives an agent
that loads fine and babbles or never stops; that is the usual way hand-made GGUF exports go
wrong. So after conversion pa checks, with llama.cpp itself (vocabulary-only load):

* the GGUF's chat template is the base tokenizer's, character for character;
* a chat rendered with the base's template (pa's real agent prompt) tokenizes to the very
  ids the base tokenizer gives, special tokens included;
* the token every training target ends with (`end_of_turn_id`) is end-of-generation for
  llama.cpp, so the agent stops by itself;
* the vocabulary, merges, pre-tokenizer, special ids, template and `general.name` are those
  of the base GGUF: the one the base came from, or the HF base converted by the same converter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import PaError

IDENTITY_KEYS = (
    "general.name",  # llama.cpp applies per-family token attributes by name (e.g. Phi-3's rstrip)
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.chat_template",
)


def read_gguf_fields(path: Path, prefixes: str | tuple[str, ...] = ("tokenizer.", "general.name")) -> dict[str, Any]:
    """The key/values of a GGUF whose key starts with one of `prefixes`, as Python values."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    return {key: field.contents() for key, field in reader.fields.items() if key.startswith(prefixes)}


def gguf_field_digests(path: Path, keys: tuple[str, ...]) -> dict[str, str | None]:
    """sha256 of each key's value as raw GGUF bytes: a fast equality test for 50k-token arrays."""
    from gguf import GGUFReader

    fields = GGUFReader(str(path)).fields
    digests: dict[str, str | None] = {}
    for key in keys:
        field = fields.get(key)
        digests[key] = None if field is None else _digest([field.parts[i].tobytes() for i in field.data])
    return digests


def _string_digest(text: str) -> str:
    return _digest([text.encode("utf-8")])


def _digest(values: list[bytes]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for value in values:
        digest.update(len(value).to_bytes(8, "little") + value)
    return digest.hexdigest()


def check_agent_gguf(agent_gguf: Path, base_folder: Path, base_gguf: Path | None = None) -> None:
    """Raise a PaError naming the first way the agent GGUF would talk differently from its base."""
    import llama_cpp
    from transformers import AutoTokenizer

    from core.agents import agent_messages
    from finetune.dataset import end_of_turn_id

    written = gguf_field_digests(agent_gguf, IDENTITY_KEYS)
    tokenizer = AutoTokenizer.from_pretrained(str(base_folder))
    template = tokenizer.chat_template
    if not template:
        raise PaError(f"{base_folder}: the base has no chat template; an agent needs its base's chat template")
    if written["tokenizer.chat_template"] != _string_digest(template):
        raise PaError(
            f"{agent_gguf.name}: the converter wrote a chat template that differs from the base's "
            f"({base_folder}); the agent would format chats unlike its base"
        )
    if base_gguf is not None:
        original = gguf_field_digests(base_gguf, IDENTITY_KEYS)
        changed = [key for key in IDENTITY_KEYS if original[key] != written[key]]
        if changed:
            raise PaError(
                f"{agent_gguf.name}: tokenizer metadata differs from the base GGUF {base_gguf.name} "
                f"in {', '.join(changed)}"
            )

    chat = [{"role": m.role, "content": m.content} for m in agent_messages("agent", "- check the export", subject="x")]
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    expected = tokenizer(text, add_special_tokens=False).input_ids
    stop = end_of_turn_id(tokenizer)
    vocab_model = llama_cpp.Llama(str(agent_gguf), vocab_only=True, verbose=False)
    try:
        got = vocab_model.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        vocab = llama_cpp.llama_model_get_vocab(vocab_model.model)
        stops = bool(llama_cpp.llama_vocab_is_eog(vocab, stop))
    finally:
        vocab_model.close()
    if got != expected:
        at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        raise PaError(
            f"{agent_gguf.name}: llama.cpp tokenizes the agent prompt differently from the base tokenizer "
            f"(first difference at token {at} of {len(expected)}); the agent would see other tokens"
        )
    if not stops:
        raise PaError(
            f"{agent_gguf.name}: the end-of-turn token {tokenizer.convert_ids_to_tokens(stop)!r} "
            "is not an end-of-generation token for llama.cpp; the agent would not stop by itself"
        )
