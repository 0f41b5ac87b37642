"""config.toml, validated into typed models.

Every field has a default, so a missing file is a valid config. Unknown keys and bad values
raise ConfigError naming the key path (`models.large`), because a typo must not be ignored.
"""

from __future__ import annotations

import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError
from core.paths import Paths, resolve_paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelsConfig(Section):
    """Model specs per role: `embedded`, `gguf:PATH`, `ollama:NAME`, `openai:NAME`."""

    large: str = "embedded"
    """M_L: distillation and final drafts."""
    agent: str = "embedded"
    """M_S base: the small model that is fine-tuned into the preference agent."""
    judge: str | None = None
    """Judge for win-rate evaluation; empty means the first of `others` that is not `large`, else
    the large model (`pa eval` then says the judge is M_L: it may favour texts written like its own)."""
    others: list[str] = []
    """Other models you have (specs as above), e.g. ["ollama:qwen2.5:7b"]: a judge that is not M_L
    is taken from here when `judge` is empty."""


class OllamaConfig(Section):
    host: str | None = None
    """Server URL; empty means $OLLAMA_HOST, then http://127.0.0.1:11434."""
    timeout: float = Field(120.0, gt=0)
    """Seconds before a request is given up."""
    allow_http: bool = False
    """Allow plain http to a host that is not this machine (the mail would travel in clear)."""
    max_retries: int = Field(2, ge=0)
    """Retries with exponential backoff on 429, 5xx and connection errors, before the first token."""


class OpenAIConfig(Section):
    base_url: str = "https://api.openai.com/v1"
    """Any OpenAI-compatible endpoint."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the key; the key itself is never stored."""
    api_key_host: str = "api.openai.com"
    """The only host the key is sent to. To use a key with another provider, set this to its host
    as well: a base_url changed later never takes the key along by accident."""
    allow_http: bool = False
    """Allow plain http to a host that is not this machine (the key and the mail would travel in clear)."""
    timeout: float = Field(120.0, gt=0)
    """Seconds one request may take, from sending it to the answer's last token."""
    max_retries: int = Field(4, ge=0)
    """Retries with exponential backoff on 429, 5xx and connection errors."""
    price_input_per_mtok: float | None = Field(None, ge=0)
    """Price in USD per million prompt tokens, for cost estimates."""
    price_output_per_mtok: float | None = Field(None, ge=0)
    """Price in USD per million completion tokens, for cost estimates."""
    continue_final_message: bool = False
    """The server continues a last assistant message when asked (vLLM, SGLang: `continue_final_message`
    with `add_generation_prompt=false`), so pa can write the start of an answer (guided distillation)."""


class EmbeddedConfig(Section):
    threads: int | None = Field(None, ge=1)
    """llama.cpp threads; empty means all cores."""
    n_ctx: int = Field(4096, ge=256)
    """Context window in tokens."""
    parallel: int = Field(1, ge=1, le=32)
    """Calls decoded together in one forward pass (distill --concurrency); 1 = one at a time.
    Each parallel slot holds its own n_ctx of KV cache in memory. Off by default: on this
    Q4_1 model it measured no speed-up (benchmarks/embedded_distill.py), and sampled (not
    greedy) answers differ from the one-at-a-time path's."""
    workers: int = Field(1, ge=1, le=16)
    """Concurrent calls decoded at once by separate engines on the one loaded model, each with
    its own KV cache (n_ctx x parallel cells), the threads shared between the busy ones. Where a
    small model's token does not decode faster on two threads than on one, 2 workers answer two
    calls in about the time of one (session 7: the quickstart's distillation 116 s instead of
    179 s). 1 = off, the default: calls run one at a time on the model's own context, which
    keeps the KV states of earlier calls (`core.llm.prefix_states`) and was faster on the
    quickstart since (137.3 s vs 164.0 s with 2 workers, whose engines keep one sequence each)."""


class CorpusConfig(Section):
    """How `pa import` reads and filters a corpus."""

    min_words: int = Field(3, ge=1)
    """Documents with fewer words (after cleaning) are dropped as too_short."""
    max_message_bytes: int = Field(10_000_000, ge=1_000)
    """A message, file or line over this size is skipped as too_large (memory stays flat)."""
    batch_size: int = Field(500, ge=1)
    """Documents per transaction; a crash loses at most one batch, and a rerun continues."""
    test_share: float = Field(0.2, gt=0, lt=1)
    """Share of documents held out for evaluation (the test split)."""
    split_seed: int = 0
    """Seed of the train/test split; the split of a document depends only on it and its text."""


class DistillConfig(Section):
    concurrency: int = Field(4, ge=1, le=64)
    """Model calls in flight (the embedded model decodes up to embedded.parallel of them together)."""
    max_attempts: int = Field(3, ge=1, le=10)
    """Tries per stage before a document is recorded as failed."""
    seed: int = 0
    intent_temperatures: list[float] = Field([0.7, 1.0, 1.2], min_length=1)
    """One intent candidate per temperature; one is kept at random (seeded by seed + document id)."""
    max_tokens: int | None = Field(None, ge=16)
    """Longest answer per model call. Empty means derived: the rules stages (thinking + rules) get
    the agent's answer budget (`core.context_window.AgentBudget`, 3/8 of train.max_length, or
    drafting.rules_max_tokens), so every distilled answer fits what the agent is trained to
    write; the intent stage gets its text's length plus 128 tokens, at most 768 (notes are
    shorter than the text; `core.context_window.intent_max_tokens`). Set by hand, it is every
    stage's: do so for a model that reasons at length before it answers."""
    max_document_chars: int = Field(6000, ge=200)
    """Longer documents are shown to the model cut to their first part (at a paragraph), noted on each stage."""
    guided: bool = True
    """Write a template's format tags into the answer (backends that continue answers: embedded)."""


class TrainConfig(Section):
    base_model: str = "embedded"
    """Base for M_S: `embedded`, a GGUF path, a local HF folder or a hub id."""
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    learning_rate: float = Field(2e-4, gt=0)
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(4, ge=1)
    max_length: int = Field(1024, ge=64)
    """Tokens per example; longer ones are truncated by policy and reported."""
    rules_only: bool = False
    """Train the agent on the rules alone, without the thinking part."""
    verify_rules: bool = True
    """Train the agent on the distilled rules that hold against the person's measured style facts
    and most similar texts (the others are dropped, see `pa rules show`), plus the facts that
    apply to each message, marked as pa's."""
    seed: int = 0
    threads: int | None = Field(None, ge=1)
    """torch threads for training; empty means all cores (on a busy shared CPU, 1 can be faster)."""
    gradient_checkpointing: bool = True
    """Recompute each decoder layer in backward: a step at batch 4 x 512 tokens peaks at 1.3 GB
    instead of 3.5 GB, and steps take about half as long again (benchmarks/train_memory.py prints
    both); false trains faster where memory is plenty."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """How a CPU step computes: `bf16` runs the matrix products in bfloat16 under autocast (the
    weights, LoRA and optimizer stay fp32), about 2x the tokens per second where the CPU multiplies
    bf16 in hardware (AVX512-BF16, AMX); `fp32` everywhere else, where bf16 is emulated and far
    slower. `auto` picks by the CPU. benchmarks/train_throughput.py prints both side by side."""
    update_epochs: int = Field(1, ge=1)
    """Passes over the new examples in `pa train --update` (the current adapter continues on them;
    each edit is already there `edit_repeats` times)."""
    edit_repeats: int = Field(3, ge=1)
    """How many times each example learned from an edit is repeated in training (distilled texts
    count once): the person's edits are the newest evidence. In `pa train --update` every pass
    goes oldest to newest, so the newest edit comes last."""


class DraftingConfig(Section):
    few_shot_k: int = Field(3, ge=1, le=20)
    """How many of the person's own (intent, text) pairs the few-shot baseline shows M_L."""
    retriever: Literal["embeddings", "bm25"] = "embeddings"
    """How few-shot examples are found: all-MiniLM-L6-v2 embeddings (packaged) or BM25."""
    max_tokens: int = Field(400, ge=16)
    """Tokens for a written text (naive, final, baselines)."""
    rules_max_tokens: int | None = Field(None, ge=16)
    """Tokens for the agent's answer (thinking and rules); empty means derived from train.max_length
    (3/8 of it, `core.context_window.AgentBudget`), the budget its training targets are fitted to."""
    temperature: float | None = Field(None, ge=0, le=2)
    """Sampling temperature for drafting; empty means the backend's default."""
    seed: int | None = None
    """Sampling seed for drafting; empty means a fresh draft each time."""
    check_final: bool = True
    """Check the agent-guided final against the person's measured style facts (greeting, closing,
    name, banned marks, length band), repair what is safe and regenerate otherwise. The
    paper's baselines are never checked."""
    check_regenerations: int = Field(5, ge=0, le=8)
    """How many times M_L may write the checked final again while a check still fails after pa's
    repairs (or while it gave no text); the text closest to the checks is kept. Each costs one
    more M_L call, made only while a check fails. With the embedded SmolLM2, the simulated user's
    edit cost with learning was 0.61x of no learning with 3 and 0.53x with 5; with 5 and the
    band from the last 3 sent texts, 0.48x (docs/eval-example/edit-loop)."""
    learn_from_edits: bool = True
    """After a sent text is recorded (`pa draft --edit`, `pa feedback`, the TUI), M_L distils rules
    from pa's final against it at once (`Workspace.learn_from_edits`); off: only on `pa feedback --learn`."""
    edit_rules_k: int = Field(3, ge=0, le=20)
    """How many edits on the most similar intents lend their rules to a draft; 0 turns it off."""
    edit_rules_min_similarity: float = Field(0.5, ge=-1, le=1)
    """An edit's intent must be at least this similar (MiniLM cosine) to the new intent to lend its rules."""


class EvalConfig(Section):
    limit: int = Field(20, ge=1)
    """Held-out documents per profile when --limit is not given."""
    baselines: list[str] = []
    """Baselines the agent is judged against when --baselines is not given; empty means all."""
    judge_attempts: int = Field(3, ge=1, le=10)
    """Judge calls per ordered pair until the verdict parses; then it is counted as invalid."""
    judge_max_tokens: int = Field(16, ge=4)
    """The judge only has to name A or B; a short answer keeps judging cheap."""
    bootstrap_samples: int = Field(2000, ge=100)
    """Resamples for the 95% intervals of similarity means."""
    seed: int = 0
    """Seed for generation, judge retries and bootstrap resampling."""


class PrivacyConfig(Section):
    """What may leave this machine (core.privacy); `pa doctor` shows where each role sends text."""

    local_only: bool = False
    """Refuse every backend that would send text to another machine (servers on this machine are fine)."""
    redact: bool = False
    """Before a call to another machine, replace e-mail addresses, phone numbers, URLs and the
    names from the corpus's headers with placeholders, and restore them in the answer."""


class Config(Section):
    models: ModelsConfig = ModelsConfig()
    ollama: OllamaConfig = OllamaConfig()
    corpus: CorpusConfig = CorpusConfig()
    openai: OpenAIConfig = OpenAIConfig()
    embedded: EmbeddedConfig = EmbeddedConfig()
    distill: DistillConfig = DistillConfig()
    train: TrainConfig = TrainConfig()
    drafting: DraftingConfig = DraftingConfig()
    eval: EvalConfig = EvalConfig()
    privacy: PrivacyConfig = PrivacyConfig()

    @property
    def judge_spec(self) -> str:
        """models.judge; else the first of models.others that is not M_L; else M_L itself."""
        models = self.models
        if models.judge:
            return models.judge
        large = models.large.strip()
        return next((other for other in models.others if other.strip() and other.strip() != large), models.large)

    @property
    def judge_is_large(self) -> bool:
        """The judge is M_L itself: a self-preference risk `pa eval` states."""
        return self.judge_spec.strip() == self.models.large.strip()


def parse_config(text: str, source: str = "config.toml") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc}); fix the file or delete it to use defaults") from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{source}: {key}: {message}; fix it in {source}") from None


def load_config(paths: Paths | None = None) -> Config:
    paths = paths or resolve_paths()
    file = paths.config_file
    if not file.exists():
        return Config()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{file}: cannot read ({exc.__class__.__name__}); check its permissions and encoding"
        ) from None
    return parse_config(text, str(file))


def config_as_toml(config: Config) -> str:
    """Render a config as TOML (for `pa config show`); None values are left out."""
    lines: list[str] = []
    for section, model in config:
        lines.append(f"[{section}]")
        for key, value in model:
            if value is None:
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
