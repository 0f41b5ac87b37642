"""`pa train --resume` reads pa's own checkpoints and never runs code hidden in a crafted one."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from core.config import TrainConfig
from core.errors import PaError
from finetune.runs import Run


def tiny_training_state():
    """A 1-layer Llama with LoRA, AdamW after one step and the linear schedule, as train_run builds them."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, get_linear_schedule_with_warmup

    from finetune.train import add_lora

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32,
    )
    model = add_lora(LlamaForCausalLM(config), TrainConfig(lora_r=2, lora_alpha=4))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    scheduler = get_linear_schedule_with_warmup(optimizer, 1, 10)
    ids = torch.tensor([[1, 5, 9, 2]])
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def test_pa_checkpoints_load_with_weights_only(tmp_path: Path):
    from finetune.train import load_checkpoint, save_checkpoint

    run = Run(tmp_path / "run")
    run.folder.mkdir()
    model, optimizer, scheduler = tiny_training_state()
    position = {"epoch": 1, "batch": 3, "step": 7, "eval_losses": [2.5, 2.25], "train_seconds": 1.5, "tokens": 99}
    save_checkpoint(run, model, optimizer, scheduler, position)
    fresh_model, fresh_optimizer, fresh_scheduler = tiny_training_state()
    assert load_checkpoint(run, fresh_model, fresh_optimizer, fresh_scheduler) == position
    assert fresh_scheduler.state_dict()["last_epoch"] == scheduler.state_dict()["last_epoch"]
    assert fresh_optimizer.state_dict()["state"].keys() == optimizer.state_dict()["state"].keys()


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def test_a_crafted_checkpoint_is_refused_and_its_code_never_runs(tmp_path: Path):
    from finetune.train import load_checkpoint, save_checkpoint

    run = Run(tmp_path / "run")
    run.folder.mkdir()
    model, optimizer, scheduler = tiny_training_state()
    save_checkpoint(run, model, optimizer, scheduler, {"step": 1})
    marker = tmp_path / "pwned"
    import torch

    torch.save(
        {"optimizer": {}, "scheduler": {}, "torch_rng": None, "position": _Payload(marker)},
        run.folder / "checkpoint" / "state.pt",
        pickle_protocol=pickle.HIGHEST_PROTOCOL,
    )
    with pytest.raises(PaError, match=r"not a checkpoint pa wrote .* will not load it"):
        load_checkpoint(run, *tiny_training_state())
    assert not marker.exists()


def test_no_module_of_pa_unpickles():
    """Nothing in pa reads pickles: torch.load only with weights_only=True, numpy without pickles."""
    import re

    root = Path(__file__).resolve().parent.parent
    sources = [p for folder in ("core", "finetune", "tui") for p in (root / folder).rglob("*.py")]
    text = {p: p.read_text(encoding="utf-8") for p in sources}
    unpickling = re.compile(r"pickle\.loads?\(|Unpickler\(|joblib\.load|\bdill\b|weights_only=False|allow_pickle=True")
    assert [p.name for p, t in text.items() if unpickling.search(t)] == []
    assert [p.name for p, t in text.items() if "torch.load(" in t and "weights_only=True" not in t] == []
