"""The whole path on a tiny model: store -> dataset -> LoRA -> merge -> GGUF -> llama.cpp quantize -> load.

Parity is what other tools get wrong: the exported GGUF must answer what the trained model
answers, with the same chat template and stop token.
"""

from __future__ import annotations

import json

import pytest

from core.agents import agent_messages, format_rules_target, latest_agent, require_agent
from core.paths import resolve_paths
from tests.tiny_agent import EXAMPLES, RULES, THINKING

PROMPTS = [
    ("- tell Sue the call moved to 3pm", "sue.mara@enron.com", "call", None),  # seen in training
    ("- ask Karen to review the memo", "karen.denne@enron.com", "memo", None),  # held out
    ("- tell Jim the office is closed Monday", "james.steffes@enron.com", "office", None),  # new
]


def _chat(intent, recipient, subject, previous):
    messages = agent_messages("agent", intent, recipient=recipient, subject=subject, previous=previous)
    return [{"role": m.role, "content": m.content} for m in messages]


@pytest.fixture(scope="module")
def llama_models(tiny_trained_agent):
    import llama_cpp

    return {
        name: llama_cpp.Llama(str(path), n_ctx=512, n_threads=2, verbose=False, seed=0)
        for name, path in (("f32", tiny_trained_agent.float_gguf), ("q8_0", tiny_trained_agent.gguf))
    }


@pytest.fixture(scope="module")
def hf_models(tiny_trained_agent):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune.export import merge_adapter

    base_folder = str(tiny_trained_agent.base_folder)
    merged = merge_adapter(base_folder, tiny_trained_agent.agent.folder / "adapter").eval()
    base = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32).eval()
    return AutoTokenizer.from_pretrained(base_folder), merged, base


def _hf_greedy(tokenizer, model, chat, n=20):
    import torch

    prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)
    return prompt, ids[0].tolist(), out[0, ids.shape[1] :].tolist()


def _llama_greedy(llm, prompt_ids, n=20):
    llm.reset()
    tokens = []
    for token in llm.generate(prompt_ids, temp=0.0, top_k=1, reset=True):
        tokens.append(token)
        if len(tokens) == n:
            break
    llm.reset()  # the generator was left mid-way: drop its state before the next call
    return tokens


def test_gguf_tokenizes_prompts_like_training(hf_models, llama_models):
    tokenizer, _, _ = hf_models
    for prompt in PROMPTS:
        text = tokenizer.apply_chat_template(_chat(*prompt), tokenize=False, add_generation_prompt=True)
        hf_ids = tokenizer(text, add_special_tokens=False).input_ids
        assert llama_models["f32"].tokenize(text.encode(), add_bos=False, special=True) == hf_ids


def test_exported_gguf_matches_trained_model_greedy(hf_models, llama_models):
    tokenizer, merged, base = hf_models
    agree_q8 = 0
    for prompt in PROMPTS:
        _, prompt_ids, hf_tokens = _hf_greedy(tokenizer, merged, _chat(*prompt))
        _, _, base_tokens = _hf_greedy(tokenizer, base, _chat(*prompt))
        f32_tokens = _llama_greedy(llama_models["f32"], prompt_ids)
        q8_tokens = _llama_greedy(llama_models["q8_0"], prompt_ids)
        assert f32_tokens == hf_tokens, (tokenizer.decode(f32_tokens), tokenizer.decode(hf_tokens))
        agree_q8 += q8_tokens == hf_tokens
        assert base_tokens != hf_tokens  # training changed what the model says
    assert agree_q8 >= 2


def test_agent_answers_the_trained_rules_and_stops_by_itself(tiny_trained_agent, llama_models):
    expected = format_rules_target(RULES, THINKING)
    for prompt in PROMPTS:
        reply = llama_models["q8_0"].create_chat_completion(_chat(*prompt), max_tokens=96, temperature=0.0)
        choice = reply["choices"][0]
        assert choice["finish_reason"] == "stop"  # emitted <|im_end|>, not cut by max_tokens
        assert choice["message"]["content"] == expected
        assert reply["usage"]["completion_tokens"] < 60


def test_manifest_and_run_folder(tiny_trained_agent):
    agent = tiny_trained_agent.agent
    manifest = agent.manifest
    assert manifest["quant"] == "q8_0" and agent.gguf.name == "agent-q8_0.gguf"
    assert manifest["size_bytes"] == agent.gguf.stat().st_size
    assert len(manifest["sha256"]) == 64 and len(manifest["data_hash"]) == 64
    assert manifest["prompt_template"] == "agent.rules@2"
    assert manifest["hyperparameters"]["lora_r"] == 16
    assert manifest["dataset"]["train"] == sum(1 for e in EXAMPLES if e[-1] == "train")
    assert manifest["dataset"]["eval_source"] == "test split"
    losses = manifest["training"]["eval_losses"]
    assert len(losses) == manifest["hyperparameters"]["epochs"] and losses[-1] < losses[0] / 10
    events = [json.loads(line) for line in (tiny_trained_agent.run_folder / "progress.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    assert steps[-1]["step"] == steps[-1]["total"] and steps[-1]["eta"] == 0
    assert {"loss", "eval_loss", "lr", "tokens_per_s", "elapsed", "eta"} <= set(steps[-1])
    assert events[-1]["event"] == "done" and events[-1]["version"] == 1
    assert (tiny_trained_agent.run_folder / "status").read_text() == "done"


def test_installed_copy_is_found_by_core_agents(tiny_agent):
    paths = resolve_paths()
    assert require_agent(paths, "tiny") == tiny_agent
    assert latest_agent(paths, "tiny").gguf.is_file()
    assert tiny_agent.label == "tiny/agent/v1"
