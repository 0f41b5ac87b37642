"""A tiny preference agent for tests: random-weight Llama with the real SmolLM2 tokenizer.

It goes through the real path (store -> dataset -> LoRA training -> merge -> GGUF ->
llama.cpp quantization -> agent folder) in seconds, so drafting, TUI and eval tests can use
"a trained agent" without training SmolLM2. Training memorizes a few short, fixed targets, so
tests can check what the exported model answers and that it stops on <|im_end|> by itself:
every example carries the same thinking and rules (THINKING, RULES), so for any intent the
agent answers `format_rules_target(RULES, THINKING)`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.agents import AgentInfo, read_agent
from core.config import Config, TrainConfig
from core.paths import Paths
from core.store import Store

PROFILE = "tiny"
SENDER = "jeff.dasovich@enron.com"

THINKING = "Short, direct notes."
RULES = "- One line.\n- No greeting.\n- Sign off: Jeff"

# (intent, recipient, subject, previous, thinking, rules, text, split)
EXAMPLES = [
    (
        "- tell Sue the call moved to 3pm",
        "sue.mara@enron.com",
        "call",
        None,
        THINKING,
        RULES,
        "Call moved to 3pm.\nJeff",
        "train",
    ),
    (
        "- ask Paul for the draft filing",
        "paul.kaufman@enron.com",
        "filing",
        "Paul: draft is nearly done.",
        THINKING,
        RULES,
        "Can you send the draft? Thanks.\nJeff",
        "train",
    ),
    (
        "- thank Karen for the summary",
        "karen.denne@enron.com",
        "summary",
        None,
        THINKING,
        RULES,
        "Thanks for the summary, very helpful.\nBest, Jeff",
        "train",
    ),
    (
        "- decline the Friday meeting",
        "mona.petrochko@enron.com",
        "Friday",
        "Mona: can you join Friday?",
        THINKING,
        RULES,
        "Sorry, can't make Friday. Monday?\nJeff",
        "train",
    ),
    (
        "- send the CPUC numbers to Jim",
        "james.steffes@enron.com",
        "CPUC",
        None,
        THINKING,
        RULES,
        "Numbers attached.\nJeff",
        "train",
    ),
    (
        "- confirm dinner with Susan",
        "susan.scott@enron.com",
        "dinner",
        "Susan: 7pm still good?",
        THINKING,
        RULES,
        "yes, 7 works.\nJ",
        "train",
    ),
    (
        "- remind Sue about the filing deadline",
        "sue.mara@enron.com",
        "deadline",
        None,
        THINKING,
        RULES,
        "Filing is due Monday.\nJeff",
        "test",
    ),
    (
        "- ask Karen to review the memo",
        "karen.denne@enron.com",
        "memo",
        None,
        THINKING,
        RULES,
        "Could you review the memo? Thanks.\nJeff",
        "test",
    ),
]


TINY_SHAPE: dict[str, Any] = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    initializer_range=0.15,
)
"""The tiny random models' shape (2 layers, 64 wide, GQA), shared by every architecture of tests/tiny_bases.py."""


def tiny_train_config(base_folder: Path) -> TrainConfig:
    """Hyperparameters that make the tiny model memorize its targets in a few seconds of CPU."""
    return TrainConfig(
        base_model=str(base_folder),
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        learning_rate=1e-2,
        epochs=20,
        batch_size=3,
        max_length=256,
        seed=0,
        verify_rules=False,  # it learns RULES exactly as distilled, so drafting tests can compare with them
    )


def seed_home(paths: Paths, base_folder: Path, **train: object) -> Paths:
    """Profile `tiny` seeded in the installation at `paths`, and a config.toml training on `base_folder`."""
    with Store.open(paths.store_file) as store:
        seed_store(store)
    lines = [f'base_model = "{base_folder}"'] + [f"{key} = {value!r}" for key, value in train.items()]
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("[train]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return paths


def make_tokenizer_folder(folder: Path) -> Path:
    """The SmolLM2 tokenizer (HF files) taken from the embedded GGUF; llama.cpp's converter knows it as `smollm`."""
    from transformers import AutoTokenizer

    from finetune.base_model import embedded_gguf_path

    gguf = embedded_gguf_path()
    folder.mkdir(parents=True, exist_ok=True)
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(folder)
    return folder


def make_tiny_base(folder: Path, tokenizer_folder: Path, seed: int = 0) -> Path:
    """A random-weight LlamaForCausalLM (2 layers, 64 wide, GQA) saved with the SmolLM2 tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        **TINY_SHAPE,
        vocab_size=49152,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,  # no pad id: Embedding would zero that row, and 2 is <|im_end|>
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        # Logits large enough (|h| x |E|) for LoRA alone to make the target tokens near-certain.
        model.model.norm.weight.fill_(4.0)
    model.save_pretrained(folder, safe_serialization=True)
    for item in tokenizer_folder.iterdir():
        shutil.copy2(item, folder / item.name)
    return folder


def seed_store(store: Store, profile: str = PROFILE, examples=EXAMPLES) -> None:
    """A profile whose documents carry intents, rules and no-baseline rules, as distillation stores them."""
    record = store.create_profile(profile)
    store.set_profile_sender(record.id, SENDER)
    with store.transaction() as db:
        for number, (intent, to, subject, previous, thinking, rules, text, split) in enumerate(examples):
            cursor = db.execute(
                "INSERT INTO documents (profile_id, text, sender, recipients, subject, previous_context, "
                "content_hash, split) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, text, SENDER, to, subject, previous, f"hash-{profile}-{number}", split),
            )
            document_id = cursor.lastrowid
            for stage, content, thought in (
                ("intent", intent, None),
                ("rules", rules, thinking),
                ("nobaseline_rules", rules, None),
            ):
                db.execute(
                    "INSERT INTO distillations (document_id, stage, status, content, thinking, template_id, "
                    "template_version, model) VALUES (?, ?, 'ok', ?, ?, 'test', 1, 'test')",
                    (document_id, stage, content, thought),
                )


@dataclass
class TinyAgent:
    """What `tiny_trained_agent` gives: a trained, exported agent and where it came from."""

    home: Path
    paths: Paths
    profile: str
    agent: AgentInfo
    base_folder: Path
    float_gguf: Path
    """The F32 GGUF of the merged model (kept for parity tests)."""
    run_folder: Path
    examples: list = field(default_factory=lambda: list(EXAMPLES))

    @property
    def gguf(self) -> Path:
        return self.agent.gguf

    def install(self, paths: Paths, profile: str = PROFILE, *, with_documents: bool = True) -> AgentInfo:
        """Copy the agent into another installation (e.g. a test's own PA_HOME) as `profile`."""
        from core.agents import next_version_dir

        store = Store.open(paths.store_file)
        try:
            if store.find_profile(profile) is None:
                if with_documents:
                    seed_store(store, profile)
                else:
                    store.create_profile(profile)
        finally:
            store.close()
        target = next_version_dir(paths, profile, self.agent.kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.agent.folder, target)
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        manifest.update(profile=profile, version=int(target.name[1:]))
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        agent = read_agent(target, profile, self.agent.kind)
        assert agent is not None
        return agent


def train_agent(home: Path, train_config: TrainConfig, *, quant: str = "q8_0", float_type: str = "f32"):
    """Seed profile `tiny` in the installation at `home`, train and export its agent; (paths, agent, run folder).

    The float GGUF is kept (`float_type`) for parity checks against transformers.
    """
    from core.paths import resolve_paths
    from finetune.runs import prepare_run
    from finetune.train import train_run

    paths = resolve_paths({"PA_HOME": str(home)})
    store = Store.open(paths.store_file)
    try:
        seed_store(store)
        run = prepare_run(paths, store, Config(train=train_config), PROFILE, "agent", quant=quant)
    finally:
        store.close()
    spec = json.loads((run.folder / "run.json").read_text())
    spec.update(keep_float=True, float_type=float_type)
    (run.folder / "run.json").write_text(json.dumps(spec))
    agent = train_run(run, paths=paths)
    assert agent is not None, "tiny agent training stopped early"
    return paths, agent, run.folder


def build_tiny_agent(home: Path, tokenizer_folder: Path) -> TinyAgent:
    """Train and export the tiny agent inside the installation at `home` (in-process, seconds)."""
    base = make_tiny_base(home / "tiny-base", tokenizer_folder)
    paths, agent, run_folder = train_agent(home, tiny_train_config(base))
    return TinyAgent(home, paths, PROFILE, agent, base, agent.folder / agent.manifest["float_gguf"], run_folder)
