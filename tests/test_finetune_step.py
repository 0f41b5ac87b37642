"""finetune.step: the labelled-positions loss is transformers' causal-LM loss, at a fraction of the memory.

A tiny Llama made in the fixture (random weights, LoRA on every projection), so the check is
exact arithmetic, not a trained model's behaviour.
"""

from __future__ import annotations

import pytest
import torch

from core.config import TrainConfig
from finetune.step import batch_width, computing_in, enable_gradient_checkpointing, resolve_precision, training_loss
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


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_the_cpu_multiplies_bf16_in_hardware(monkeypatch, native):
    """Emulated bf16 is slower than fp32, so `auto` must not pick it on such CPUs; a choice by hand stands."""
    monkeypatch.setattr("finetune.step.cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("auto", "cuda") == "nf4"


def test_a_bf16_step_rounds_the_products_but_keeps_fp32_parameters_and_loss():
    """bf16 changes the loss by rounding only; the trainable parameters and their gradients stay fp32."""
    model = tiny_lora_model()
    model.train()
    fp32_loss, fp32_grads = loss_and_grads(model, training_loss)
    bf16_loss, bf16_grads = loss_and_grads(model, lambda m, b: _in_bf16(m, b))
    assert bf16_loss != fp32_loss  # the products really ran in bf16
    assert bf16_loss == pytest.approx(fp32_loss, rel=2e-2)
    for name, grad in bf16_grads.items():
        assert grad.dtype == torch.float32, name
        cosine = torch.nn.functional.cosine_similarity(grad.flatten(), fp32_grads[name].flatten(), dim=0)
        assert cosine > 0.95, name
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_fp32_precision_computes_exactly_as_without_a_context():
    model = tiny_lora_model()
    model.train()
    plain, _ = loss_and_grads(model, training_loss)
    with computing_in("fp32", "cpu"):
        inside, _ = loss_and_grads(model, training_loss)
    assert inside == plain


def _in_bf16(model, data):
    with computing_in("bf16", "cpu"):
        loss = training_loss(model, data)
    assert loss.dtype == torch.float32
    return loss


def test_bf16_batches_come_in_few_widths_and_fp32_batches_are_not_padded():
    """oneDNN keeps kernels per shape: bf16 widths are rounded up so an epoch sees few of them."""
    assert batch_width([70, 120, 100], "fp32") == 120
    assert batch_width([70, 120, 100], "bf16") == 128
    assert batch_width([128], "bf16") == 128
    assert {batch_width([n], "bf16") for n in range(1, 513)} == {64 * k for k in range(1, 9)}


def test_padding_a_batch_wider_does_not_change_its_loss():
    from finetune.dataset import Encoded
    from finetune.train import collate

    model = tiny_lora_model()
    model.eval()
    data = batch()
    examples = [
        Encoded(input_ids=row[mask == 1].tolist(), labels=labels[mask == 1].tolist())
        for row, labels, mask in zip(data["input_ids"], data["labels"], data["attention_mask"])
    ]
    with torch.no_grad():
        tight = float(training_loss(model, collate(examples, 0)))
        padded = float(training_loss(model, collate(examples, 0, pad_to=64)))
    assert padded == pytest.approx(tight, rel=1e-5)


@pytest.mark.parametrize("steps", [1, 2, 5, 19])
def test_a_short_run_learns_from_its_first_step(steps):
    from finetune.train import learning_rate_schedule

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=1e-3)
    schedule = learning_rate_schedule(optimizer, steps)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)  # no warm-up step at a rate of 0
    for _ in range(steps - 1):
        optimizer.step()
        schedule.step()
        assert optimizer.param_groups[0]["lr"] > 0  # every step of the run learns


def test_a_long_run_warms_up_over_its_first_steps():
    from finetune.train import learning_rate_schedule, warmup_steps

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=1e-3)
    learning_rate_schedule(optimizer, 300)
    assert warmup_steps(300) == 10 and warmup_steps(40) == 2
    assert optimizer.param_groups[0]["lr"] == 0.0
