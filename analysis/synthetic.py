"""Build a `PredictionTable` from arrays — for tests, benchmarks and what-if analyses without running a model."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

from analysis.predictions import PredictionTable, build_table


def table_from_arrays(
    probs,
    gold,
    labels: Sequence[str],
    *,
    texts: Sequence[str] | None = None,
    metadata: Mapping[str, Sequence | np.ndarray] | None = None,
    checkpoint_name: str = "model",
    data_name: str = "data",
    data_fingerprint: str | None = None,
) -> PredictionTable:
    """A table laid out exactly like `predict_table`'s; `gold` holds label indices or names.

    `n_tokens` is the word count and nothing is truncated (there is no tokenizer here).
    """
    labels = tuple(str(l) for l in labels)
    probs = np.asarray(probs, dtype=np.float32)
    gold = np.asarray(gold)
    gold_idx = gold.astype(int) if gold.dtype.kind in "iu" else np.array([labels.index(str(g)) for g in gold], dtype=int)
    n = len(gold_idx)
    if probs.shape != (n, len(labels)):
        raise ValueError(f"probs must have shape ({n}, {len(labels)}), got {probs.shape}")
    texts = list(texts) if texts is not None else [f"example {i}" for i in range(n)]
    if data_fingerprint is None:
        data_fingerprint = hashlib.sha256("\0".join(texts).encode() + gold_idx.tobytes()).hexdigest()
    return build_table(
        checkpoint_name=checkpoint_name,
        fingerprint=hashlib.sha256(checkpoint_name.encode() + probs.tobytes()).hexdigest(),
        data_name=data_name,
        data_fingerprint=data_fingerprint,
        labels=labels,
        probs=probs,
        gold=gold_idx,
        texts=texts,
        n_tokens=np.array([len(t.split()) for t in texts], dtype=int),
        truncated=np.zeros(n, dtype=bool),
        metadata=metadata,
    )


def probs_for(pred_idx, n_labels: int, confidence=0.9) -> np.ndarray:
    """Probability rows whose argmax is `pred_idx` with the given confidence (rest spread evenly)."""
    pred_idx = np.asarray(pred_idx, dtype=int)
    confidence = np.broadcast_to(np.asarray(confidence, dtype=float), pred_idx.shape)
    if n_labels < 2:
        raise ValueError("need at least two labels")
    if np.any(confidence <= 1.0 / n_labels):
        raise ValueError("confidence must exceed 1/n_labels so the predicted label is the argmax")
    rest = (1.0 - confidence) / (n_labels - 1)
    probs = np.repeat(rest[:, None], n_labels, axis=1)
    probs[np.arange(len(pred_idx)), pred_idx] = confidence
    return probs
