"""The whole path on the real SmolLM2-135M (the embedded GGUF as base), with a few training steps.

Slow (about two minutes on two cores) but run in CI: it is the check that an exported agent
built from the real base answers like the trained model and stops by itself.
"""

from __future__ import annotations

import json

import pytest

from core.agents import agent_messages
from core.config import Config, TrainConfig
from core.paths import resolve_paths
from core.store import Store
from finetune.runs import prepare_run
from finetune.step import cpu_has_native_bf16
from finetune.train import train_run
from tests.tiny_agent import seed_store

PROMPTS = [
    ("- tell Sue the call moved to 3pm", "sue.mara@enron.com", "call", None),
    ("- ask Karen to review the memo", "karen.denne@enron.com", "memo", None),
    ("- tell Jim the office is closed Monday", "james.steffes@enron.com", "office", "Jim: are we in Monday?"),
]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~2-3 min on two free cores; far longer when the CPU is shared
def test_smollm2_train_export_quantize_parity(pa_home):
    import llama_cpp
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune.export import merge_adapter

    paths = resolve_paths()
    config = Config(
        train=TrainConfig(
            base_model="embedded", epochs=4, batch_size=2, learning_rate=3e-3, max_length=384, lora_dropout=0.0
        )
    )
    with Store.open(paths.store_file) as store:
        seed_store(store, "jeff")
        run = prepare_run(paths, store, config, "jeff", "agent", quant="auto")
    spec = json.loads((run.folder / "run.json").read_text())
    spec["keep_float"] = True
    (run.folder / "run.json").write_text(json.dumps(spec))
    agent = train_run(run, paths=paths)

    assert agent.quant == "q8_0"  # SmolLM2's 576-wide rows do not fit k-quants
    manifest = agent.manifest
    # bf16 products where this CPU has native bf16 (train.precision = auto), fp32 elsewhere; said in the manifest
    assert manifest["training"]["precision"] == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert manifest["base_model"]["spec"] == "embedded" and manifest["base_model"]["sha256"]
    float_gguf = agent.folder / manifest["float_gguf"]
    assert float_gguf.name == "agent-f16.gguf"

    base_folder = manifest["base_model"]["folder"]
    tokenizer = AutoTokenizer.from_pretrained(base_folder)
    merged = merge_adapter(base_folder, agent.folder / "adapter").eval()
    base = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32).eval()
    f16 = llama_cpp.Llama(str(float_gguf), n_ctx=1024, n_threads=2, verbose=False)
    q8 = llama_cpp.Llama(str(agent.gguf), n_ctx=1024, n_threads=2, verbose=False)

    def chat(prompt):
        intent, recipient, subject, previous = prompt
        messages = agent_messages("agent", intent, recipient=recipient, subject=subject, previous=previous)
        return [{"role": m.role, "content": m.content} for m in messages]

    def hf_greedy(model, ids):
        with torch.no_grad():
            out = model.generate(
                torch.tensor([ids]),
                max_new_tokens=20,
                do_sample=False,
                eos_token_id=None,
                pad_token_id=tokenizer.pad_token_id,
            )
        return out[0, len(ids) :].tolist()

    def llama_greedy(llm, ids):
        llm.reset()
        tokens = []
        for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            tokens.append(token)
            if len(tokens) == 20:
                break
        llm.reset()
        return tokens

    q8_agree = 0
    for prompt in PROMPTS:
        text = tokenizer.apply_chat_template(chat(prompt), tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert f16.tokenize(text.encode(), add_bos=False, special=True) == ids
        trained = hf_greedy(merged, ids)
        assert llama_greedy(f16, ids) == trained, (tokenizer.decode(llama_greedy(f16, ids)), tokenizer.decode(trained))
        q8_agree += llama_greedy(q8, ids) == trained
        assert hf_greedy(base, ids) != trained
    assert q8_agree >= 2

    for prompt in PROMPTS:
        reply = q8.create_chat_completion(chat(prompt), max_tokens=160, temperature=0.0)
        assert reply["choices"][0]["finish_reason"] == "stop", reply["choices"][0]["message"]["content"]

    # The small LoRA-adapter GGUF, applied by llama.cpp on the embedded (Q4_1) base, says the same.
    assert agent.lora_gguf is not None and agent.lora_gguf.stat().st_size < 20 * 2**20
    with_lora = llama_cpp.Llama(
        manifest["lora_base_gguf"], lora_path=str(agent.lora_gguf), n_ctx=1024, n_threads=2, verbose=False
    )
    merged_reply = q8.create_chat_completion(chat(PROMPTS[0]), max_tokens=160, temperature=0.0)
    lora_reply = with_lora.create_chat_completion(chat(PROMPTS[0]), max_tokens=160, temperature=0.0)
    assert lora_reply["choices"][0]["finish_reason"] == "stop"
    assert lora_reply["choices"][0]["message"]["content"] == merged_reply["choices"][0]["message"]["content"]
