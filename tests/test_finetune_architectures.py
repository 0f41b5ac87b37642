"""Agents on Qwen3, Mistral, Gemma and Phi-3 bases, exported by llama.cpp's own converters.

For each architecture a tiny random base (tests.tiny_bases) goes through pa's real path:
a few LoRA steps, merge, `convert_hf_to_gguf.py` (merged agent) and `convert_lora_to_gguf.py`
(adapter), the post-export tokenizer/template/stop check, llama.cpp's Q8_0 quantizer. Then
llama.cpp's greedy tokens are compared with transformers' on the merged model: the F16 agent
must give the very same tokens. The adapter GGUF applied on the base GGUF (computed apart from
the base, so rounded differently) and the Q8_0 agent are read teacher-forced: fed the trained answer, its next-token choice
must match at 85% of the answers' positions or more (over the three prompts). (Free-running greedy comparisons of a
random tiny model are fragile under quantization: one near-tie flipped early changes every
later token, so a 2-of-3 prompts rule failed on sound exports.) (Llama is the tiny agent of tests/tiny_agent.py, checked in
tests/test_finetune_export.py and tests/test_finetune_tiny.py.)
"""

from __future__ import annotations

import pytest

from core.agents import agent_messages
from core.config import TrainConfig
from tests.tiny_bases import ARCHITECTURES, make_base, make_sp_tokenizer_folder

PROMPTS = [
    ("- tell Sue the call moved to 3pm", "sue.mara@enron.com", "call"),
    ("- ask Karen to review the memo", "karen.denne@enron.com", "memo"),
    ("- tell Jim the office is closed Monday", "james.steffes@enron.com", "office"),
]
NEW_TOKENS = 12


@pytest.fixture(scope="module")
def tokenizer_folders(tmp_path_factory, smollm2_tokenizer_dir):
    root = tmp_path_factory.mktemp("tokenizers")
    return {
        "smollm": smollm2_tokenizer_dir,
        "sp-gemma": make_sp_tokenizer_folder(root / "sp-gemma"),
    }


def _prompt_ids(tokenizer, intent, recipient, subject):
    messages = agent_messages("agent", intent, recipient=recipient, subject=subject)
    chat = [{"role": m.role, "content": m.content} for m in messages]
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False).input_ids


def _hf_greedy(model, ids):
    import torch

    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=None, pad_token_id=0
        )
    return out[0, len(ids) :].tolist()


def _teacher_forced_agreement(llm, ids, answer):
    """Share of the answer's positions where llama.cpp's argmax, fed the answer so far, is its next token."""
    import numpy as np

    llm.reset()
    llm.eval(ids + answer[:-1])
    logits = np.asarray(llm.scores[len(ids) - 1 : len(ids) - 1 + len(answer)])
    return float(np.mean(logits.argmax(axis=-1) == np.asarray(answer)))


def _llama_greedy(llm, ids):
    tokens = []
    for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
        tokens.append(token)
        if len(tokens) == NEW_TOKENS:
            break
    llm.reset()
    return tokens


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_agent_of_each_architecture_answers_in_llama_cpp_like_in_transformers(name, tmp_path, tokenizer_folders):
    import llama_cpp
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune.export import merge_adapter
    from finetune.gguf_checks import read_gguf_fields
    from tests.tiny_agent import train_agent

    arch = ARCHITECTURES[name]
    # A folder (so a general.name) without "phi": llama.cpp applies Phi-3's own token attributes
    # to models named phi3, and they name tokens ("</s>") that the SmolLM2 vocabulary lacks.
    base = make_base(arch, tmp_path / "base", tokenizer_folders[arch.tokenizer])
    config = TrainConfig(
        base_model=str(base),
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        learning_rate=1e-2,
        precision="fp32",  # the check is the export's parity with the trained weights; fp32 keeps them the same on every CPU
        epochs=arch.epochs,
        batch_size=3,
        max_length=1024,  # the tiny SentencePiece vocabulary (gemma) spends many tokens per word
        seed=0,
        target_modules=arch.target_modules,
    )
    _, agent, _ = train_agent(tmp_path / "home", config, quant="q8_0", float_type="f16")

    manifest = agent.manifest
    float_gguf = agent.folder / manifest["float_gguf"]
    fields = read_gguf_fields(float_gguf, "general.")
    assert (
        fields["general.architecture"] == {"qwen3": "qwen3", "mistral": "llama", "gemma": "gemma", "phi3": "phi3"}[name]
    )
    assert manifest["converter"]["llama_cpp_python"] == llama_cpp.__version__
    assert agent.quant == "q8_0" and agent.lora_gguf is not None

    tokenizer = AutoTokenizer.from_pretrained(base)
    merged = merge_adapter(str(base), agent.folder / "adapter").eval()
    plain = AutoModelForCausalLM.from_pretrained(base).eval()
    f16 = llama_cpp.Llama(str(float_gguf), n_ctx=512, n_threads=2, verbose=False)
    q8 = llama_cpp.Llama(str(agent.gguf), n_ctx=512, n_threads=2, verbose=False, logits_all=True)
    with_lora = llama_cpp.Llama(
        manifest["lora_base_gguf"],
        lora_path=str(agent.lora_gguf),
        n_ctx=512,
        n_threads=2,
        verbose=False,
        logits_all=True,
    )
    q8_agreement, lora_agreement = [], []
    for prompt in PROMPTS:
        ids = _prompt_ids(tokenizer, *prompt)
        assert f16.tokenize(tokenizer.decode(ids).encode(), add_bos=False, special=True) == ids
        trained = _hf_greedy(merged, ids)
        assert _hf_greedy(plain, ids) != trained, "the LoRA steps changed nothing: the comparison would prove little"
        assert _llama_greedy(f16, ids) == trained
        lora_agreement.append(_teacher_forced_agreement(with_lora, ids, trained))
        q8_agreement.append(_teacher_forced_agreement(q8, ids, trained))
    assert sum(lora_agreement) / len(lora_agreement) >= 0.85, (
        f"the adapter on its base agrees at {lora_agreement} of positions"
    )
    assert sum(q8_agreement) / len(q8_agreement) >= 0.85, (
        f"Q8_0 agrees with the trained answer at {q8_agreement} of positions"
    )
