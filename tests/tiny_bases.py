"""Tiny random base models of several architectures, with tokenizers llama.cpp's converter knows.

Each is a 2-layer, 64-wide model (seconds to train and convert) of a real transformers class,
saved as the HF folder a user would point `[train] base_model` at. Tokenizers:

* `smollm`: the real SmolLM2 byte-level BPE (from the embedded GGUF), whose pre-tokenizer
  llama.cpp's converter recognises by hash; used where the converter class takes a BPE vocab
  (Qwen3, Mistral via the Llama class). Not Qwen2: for `model_type: qwen2` transformers 5
  imposes Qwen2Tokenizer's own pre-tokenizer on any vocabulary, and that pre-tokenizer over a
  non-Qwen vocabulary hashes to nothing the converter knows (a real Qwen2/2.5 folder ships
  Qwen's vocabulary, which it knows as `qwen2`).
  Phi-3 gets it with `tokenizer_class: GPT2Tokenizer`, the Phi-4 way, which its converter
  class reads as a BPE vocab.
* `sp-gemma`: a small SentencePiece model trained here by the sentencepiece trainer (no
  network), for Gemma, whose converter class requires `tokenizer.model` (no dummy prefix,
  <start_of_turn>/<end_of_turn> special at Gemma's own ids 106/107).
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.tiny_agent import EXAMPLES, RULES, THINKING, TINY_SHAPE

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\n' "
    "+ message['content'] + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Architecture:
    """How to build one tiny base: transformers config class + arguments, tokenizer, LoRA targets."""

    name: str
    config_class: str
    config: dict[str, Any]
    tokenizer: str
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    final_norm: float = 4.0
    """Logits large enough that greedy picks are not near-ties that F16 rounding could flip."""
    tokenizer_config: dict[str, Any] = field(default_factory=dict)
    """Keys set in the copied tokenizer_config.json."""
    epochs: int = 10
    """LoRA epochs over the 6 tiny-agent examples (batch 3): the answers become confident enough
    that greedy picks are no near-ties (which Q8_0 rounding would flip on a random model)."""


ARCHITECTURES = {
    "qwen3": Architecture(
        "qwen3",
        "Qwen3Config",
        dict(
            TINY_SHAPE,
            vocab_size=49152,
            head_dim=16,
            tie_word_embeddings=True,
            bos_token_id=1,
            eos_token_id=2,
            rms_norm_eps=1e-6,
        ),
        "smollm",
    ),
    "mistral": Architecture(
        "mistral",
        "MistralConfig",
        dict(
            TINY_SHAPE, vocab_size=49152, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, sliding_window=None
        ),
        "smollm",
        final_norm=8.0,
    ),
    "gemma": Architecture(
        "gemma",
        "GemmaConfig",
        dict(
            TINY_SHAPE,
            vocab_size=512,
            head_dim=16,
            bos_token_id=2,
            eos_token_id=107,
            pad_token_id=0,
            hidden_activation="gelu_pytorch_tanh",
        ),
        "sp-gemma",
        final_norm=3.0,
    ),
    "phi3": Architecture(
        "phi3",
        "Phi3Config",
        dict(
            TINY_SHAPE,
            vocab_size=49152,
            num_key_value_heads=4,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=2,
            tie_word_embeddings=False,
            original_max_position_embeddings=2048,
        ),
        "smollm",
        target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
        tokenizer_config={"tokenizer_class": "GPT2Tokenizer"},
        final_norm=8.0,
    ),
}


def _sp_training_text() -> list[str]:
    lines = [part for e in EXAMPLES for part in (e[0], e[1], e[2], e[3] or "", e[6])]
    lines += [
        THINKING,
        RULES,
        "<thinking>",
        "</thinking>",
        "<rules>",
        "</rules>",
        "To: Subject: Replying to:",
        "You write preference rules for an email. Intent:",
    ]
    return [line for line in lines if line] * 8


def make_sp_tokenizer_folder(folder: Path) -> Path:
    """A 512-piece Gemma-style SentencePiece BPE tokenizer (tokenizer.model + its HF files)."""
    import sentencepiece
    from transformers import AutoTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    turn_markers = {106: "<start_of_turn>", 107: "<end_of_turn>"}
    symbols = ["<mask>", "<2mass>", "[@BOS@]"] + [f"<unused{i}>" for i in range(99)] + list(turn_markers.values())
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_sp_training_text()),
        model_writer=model,
        vocab_size=512,
        model_type="bpe",
        user_defined_symbols=symbols,
        byte_fallback=True,
        character_coverage=1.0,
        split_digits=True,
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        minloglevel=2,
        num_threads=1,
    )
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    config = {
        "tokenizer_class": "GemmaTokenizer",
        "bos_token": "<bos>",
        "eos_token": "<end_of_turn>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "chat_template": GEMMA_TEMPLATE,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    AutoTokenizer.from_pretrained(folder).save_pretrained(folder)  # SentencePiece -> tokenizer.json
    # Like a real Gemma folder: the turn markers are special tokens in added_tokens_decoder, which
    # the converter marks as control tokens (llama.cpp then parses them in prompts).
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["added_tokens_decoder"] = {
        str(index): {
            "content": text,
            "special": True,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "single_word": False,
        }
        for index, text in turn_markers.items()
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def make_base(arch: Architecture, folder: Path, tokenizer_folder: Path, seed: int = 0) -> Path:
    """A random-weight model of `arch` saved with the tokenizer files, like a downloaded base."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = getattr(transformers, arch.config_class)(**arch.config)
    model = transformers.AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        model.model.norm.weight.fill_(arch.final_norm)
        for name, parameter in model.named_parameters():
            if name.endswith(".bias"):  # biases start at zero: make them count
                parameter.normal_(0.0, 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    for item in tokenizer_folder.iterdir():
        if item.is_file():
            shutil.copy2(item, folder / item.name)
    if arch.tokenizer_config:
        settings = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        settings.update(arch.tokenizer_config)
        (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder
