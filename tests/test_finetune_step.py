"""finetune.step: the labelled-positions loss is transformers' causal-LM loss, at a fraction of the memory.

A tiny Llama made in the fixture (random weights, LoRA on every projection), so the check is
exact arithmetic, not a trained model's behaviour.
"""

from __future__ import annotations

import pytest
import torch

from core.config import TrainConfig
from finetune.step import enable_gradient_checkpointing, training_loss
from finetune.train import add_lora


def tiny_lora_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=300,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    model = add_lora(LlamaForCausalLM(config), TrainConfig(lora_dropout=0.0, lora_r=4))
    for name, parameter in model.named_parameters():  # LoRA B starts at zero: give it weight so its grads matter
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    return model


def batch():
    torch.manual_seed(1)
    ids = torch.randint(3, 300, (3, 12))  # 3 x 11 next tokens; the head sees them in chunks when HEAD_CHUNK is small
    labels = ids.clone()
    labels[:, :5] = -100  # the prompt
    labels[2, 9:] = -100  # padding of a shorter row
    mask = torch.ones_like(ids)
    mask[2, 9:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def loss_and_grads(model, compute):
    model.zero_grad(set_to_none=True)
    loss = compute(model, batch())
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("chunk", [256, 4])
def test_the_labelled_head_loss_and_its_gradients_equal_transformers_loss(monkeypatch, chunk):
    """In one pass through the head or in chunks recomputed in backward: the same loss and gradients."""
    monkeypatch.setattr("finetune.step.HEAD_CHUNK", chunk)
    model = tiny_lora_model()
    model.train()
    expected_loss, expected_grads = loss_and_grads(model, lambda m, b: m(**b).loss)
    loss, grads = loss_and_grads(model, training_loss)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_gradient_checkpointing_keeps_the_loss_and_gradients():
    model = tiny_lora_model()
    model.train()
    expected_loss, expected_grads = loss_and_grads(model, training_loss)
    enable_gradient_checkpointing(model)
    loss, grads = loss_and_grads(model, training_loss)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_a_batch_without_labelled_tokens_gives_a_zero_loss_that_backpropagates():
    model = tiny_lora_model()
    data = batch()
    data["labels"][:] = -100
    loss = training_loss(model, data)
    loss.backward()
    assert float(loss) == 0.0
