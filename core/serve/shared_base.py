"""One loaded base model, many people: each profile's agent as a LoRA adapter applied per request.

An agent exported from a GGUF base carries, next to its merged GGUF, the same training as a
llama.cpp LoRA-adapter GGUF (`manifest["lora_gguf"]`, for the base `manifest["lora_base_gguf"]`)
and the PEFT adapter folder (`adapter/`). Serving N profiles from N merged models holds N
copies of the weights; here the base is loaded once and each adapter (a few MB) is loaded once,
then switched on the llama.cpp context per request (`llama_set_adapters_lora`), under the
model's lock, so generations of different profiles never mix.

Switching adapters invalidates llama-cpp-python's prompt-prefix cache and the kept states of
earlier calls (their KV cells were made with the other adapter), so both are reset whenever the
adapter changes.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BackendError, NotTrainedError
from core.llm.embedded import EmbeddedBackend, LoadedModel

if TYPE_CHECKING:
    from core.agents import AgentInfo
    from core.config import Config
    from core.paths import Paths


class _SharedBase:
    """A base model loaded for adapter serving (never shared with plain backends), its adapters."""

    def __init__(self, model: LoadedModel):
        self.model = model
        self.adapters: dict[str, Any] = {}
        self.current: str | None = None
        """The adapter now set on the context (None: the plain base)."""

    def adapter(self, path: Path) -> Any:
        key = str(path.resolve())
        found = self.adapters.get(key)
        if found is None:
            import llama_cpp

            from core.llm.specs import check_gguf_file

            check_gguf_file(path, "LoRA adapter")
            found = llama_cpp.llama_adapter_lora_init(self.model.llama._model.model, key.encode("utf-8"))
            if not found:  # a NULL pointer: the adapter does not fit this base
                raise BackendError(
                    f"llama.cpp could not load the LoRA adapter {path} on its base model; "
                    "re-export the agent for this base"
                )
            self.adapters[key] = found
        return found

    def use(self, path: Path | None, scale: float = 1.0) -> None:
        """Put `path`'s adapter (or none) on the context; caller holds the model lock."""
        import llama_cpp

        key = str(path.resolve()) if path is not None else None
        if key == self.current:
            return
        llama = self.model.llama
        if path is None:
            code = llama_cpp.llama_set_adapters_lora(llama._ctx.ctx, None, 0, None)
        else:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self.adapter(path))
            scales = (ctypes.c_float * 1)(scale)
            code = llama_cpp.llama_set_adapters_lora(llama._ctx.ctx, adapters, 1, scales)
        if code != 0:
            raise BackendError(f"llama.cpp could not switch to the LoRA adapter {path} (code {code})")
        llama.reset()  # the cached prompt's KV entries were computed with the previous adapter
        self.model.prefixes.clear()
        self.current = key

    def close(self) -> None:
        import llama_cpp

        with self.model.lock:
            for adapter in self.adapters.values():
                llama_cpp.llama_adapter_lora_free(adapter)
            self.adapters.clear()
            self.model.llama.close()


class SharedBasePool:
    """The bases loaded for adapter serving, keyed by base GGUF: `backend_for(agent)` per profile."""

    def __init__(self, paths: Paths | None, config: Config, *, threads: int | None = None):
        self.paths = paths
        self.n_ctx = config.embedded.n_ctx
        self.threads = threads or config.embedded.threads
        self._bases: dict[str, _SharedBase] = {}
        self._lock = threading.Lock()

    def base(self, base_gguf: Path) -> _SharedBase:
        from core.llm.embedded import _load, default_threads

        key = str(base_gguf.resolve())
        with self._lock:
            found = self._bases.get(key)
            if found is None:
                found = _SharedBase(
                    _load(base_gguf, n_ctx=self.n_ctx, threads=self.threads or default_threads(), lora_path=None)
                )
                self._bases[key] = found
            return found

    def backend_for(self, agent: AgentInfo) -> AdapterBackend:
        """A backend running `agent` as its LoRA adapter on the shared base; NotTrainedError if it has none."""
        lora, base = agent.lora_gguf, agent.manifest.get("lora_base_gguf")
        if lora is None or not base:
            raise NotTrainedError(
                f"{agent.label} has no LoRA-adapter GGUF (it was trained from a base that is not a GGUF file); "
                "serve it without --shared-base, or retrain it from a GGUF base (train.base_model)"
            )
        return AdapterBackend(
            self, Path(base), lora, spec=f"lora:{agent.label}", n_ctx=self.n_ctx, threads=self.threads
        )

    def close(self) -> None:
        with self._lock:
            for base in self._bases.values():
                base.close()
            self._bases.clear()


class AdapterBackend(EmbeddedBackend):
    """The embedded backend on a shared base, with one profile's adapter set for each generation."""

    def __init__(
        self, pool: SharedBasePool, base_gguf: Path, adapter: Path, *, spec: str, n_ctx: int, threads: int | None
    ):
        super().__init__(base_gguf, n_ctx=n_ctx, threads=threads, spec=spec)
        self.pool = pool
        self.adapter_path = adapter

    def load(self) -> LoadedModel:
        shared = self.pool.base(self.model_path)
        shared.adapter(self.adapter_path)  # a bad adapter fails here, before any generation
        return shared.model

    def _generate_locked(self, model: LoadedModel, *args: Any, **kwargs: Any) -> Any:
        self.pool.base(self.model_path).use(self.adapter_path)
        return super()._generate_locked(model, *args, **kwargs)
