"""Sentence embeddings from a checkpoint's own encoder (computed by `Predictor.embed`, the shared inference layer)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.inference import EMBEDDING_CACHE, Predictor, ProbabilityCache, Progress

__all__ = ["EMBEDDING_CACHE", "embed_texts", "embedding_dim"]


def embedding_dim(predictor: Predictor) -> int:
    return int(predictor.model.config.hidden_size)


def embed_texts(
    predictor: Predictor,
    texts: Sequence[str],
    batch_size: int = 32,
    progress: Progress | None = None,
    *,
    cache: ProbabilityCache | None = None,
) -> np.ndarray:
    """Mean-pooled last hidden states, shape (len(texts), hidden_size), float32; see `Predictor.embed`."""
    return predictor.embed(texts, batch_size=batch_size, progress=progress, cache=cache)
