"""GGUF writing checked against independent readers: transformers' GGUF loader and llama.cpp."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import UsageError
from finetune.export import _reorder_heads, choose_quant, write_gguf
from finetune.gguf_tokenizer import build_from_hf_folder, load_tokenizer_metadata, read_tokenizer_metadata


def test_head_reordering_is_undone_by_transformers_gguf_loader():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    weight = np.arange(32 * 3, dtype=np.float32).reshape(32, 3)  # 4 heads x head_dim 8
    for heads, kv in ((4, 4), (4, 2)):
        rows = weight[: kv * 8]
        name = "blk.0.attn_q.weight" if heads == kv else "blk.0.attn_k.weight"
        processor = LlamaTensorProcessor(config={"num_attention_heads": heads, "num_key_value_heads": kv})
        restored = processor.process(_reorder_heads(rows, kv), name).weights
        assert np.array_equal(restored, rows)
        assert not np.array_equal(_reorder_heads(rows, kv), rows)


def test_written_gguf_loads_back_into_transformers_with_the_same_weights(tmp_path, smollm2_tokenizer_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from tests.tiny_agent import make_tiny_base

    base = make_tiny_base(tmp_path / "base", smollm2_tokenizer_dir)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    path = write_gguf(model, load_tokenizer_metadata(base), tmp_path / "model-f32.gguf", "f32")
    loaded = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name, dtype=torch.float32)
    original, restored = model.state_dict(), loaded.state_dict()
    for name in ("model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
                 "model.layers.0.mlp.down_proj.weight", "model.norm.weight", "model.embed_tokens.weight"):
        assert torch.equal(original[name], restored[name]), name
    assert loaded.config.num_key_value_heads == 2 and loaded.config.tie_word_embeddings


def test_tokenizer_metadata_is_the_base_gguf_one(smollm2_tokenizer_dir):
    from finetune.base_model import embedded_gguf_path

    copied = load_tokenizer_metadata(smollm2_tokenizer_dir)
    original = read_tokenizer_metadata(embedded_gguf_path())
    assert copied == json.loads(json.dumps(original))
    assert copied["tokenizer.ggml.pre"]["value"] == "smollm"
    assert "<|im_start|>" in copied["tokenizer.chat_template"]["value"]
    # Built from tokenizer.json alone (a plain HF folder), the same vocabulary, merges and template.
    built = build_from_hf_folder(smollm2_tokenizer_dir)
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type",
                "tokenizer.ggml.eos_token_id", "tokenizer.chat_template"):
        assert built[key]["value"] == copied[key]["value"], key


def test_default_quant_follows_row_widths():
    import torch

    class Fake:  # like a Llama layer: q, k, v, o, gate, up read `width` columns, down reads 8/3 x width
        def __init__(self, width):
            self.weights = {f"w{i}": torch.zeros(8, width) for i in range(6)}
            self.weights.update(down=torch.zeros(width, width * 8 // 3), norm=torch.zeros(width))

        def state_dict(self):
            return self.weights

    assert choose_quant(Fake(576)) == "q8_0"  # SmolLM2-135M
    assert choose_quant(Fake(2048)) == "q4_k_m"


def test_unsupported_architecture_is_a_usage_error(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100, n_positions=64))
    with pytest.raises(UsageError, match="Llama-architecture"):
        write_gguf(model, {}, tmp_path / "x.gguf")


def test_lora_adapter_gguf_on_the_base_answers_like_the_merged_export(tiny_trained_agent, tmp_path):
    import llama_cpp
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from finetune.export import write_lora_gguf
    from tests.test_finetune_tiny import PROMPTS, _chat

    base_folder = tiny_trained_agent.base_folder
    base = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    base_gguf = write_gguf(base, load_tokenizer_metadata(base_folder), tmp_path / "base-f32.gguf", "f32")
    lora = write_lora_gguf(tiny_trained_agent.agent.folder / "adapter", AutoConfig.from_pretrained(base_folder),
                           tmp_path / "agent-lora.gguf")
    merged = llama_cpp.Llama(str(tiny_trained_agent.float_gguf), n_ctx=512, n_threads=2, verbose=False)
    with_lora = llama_cpp.Llama(str(base_gguf), lora_path=str(lora), n_ctx=512, n_threads=2, verbose=False)
    plain = llama_cpp.Llama(str(base_gguf), n_ctx=512, n_threads=2, verbose=False)
    for prompt in PROMPTS:
        answers = [llm.create_chat_completion(_chat(*prompt), max_tokens=48, temperature=0.0)["choices"][0]["message"]["content"]
                   for llm in (merged, with_lora, plain)]
        assert answers[1] == answers[0]
        assert answers[2] != answers[0]
