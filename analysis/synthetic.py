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


WORDS = (
    "good",
    "bad",
    "great",
    "awful",
    "plot",
    "actor",
    "scene",
    "film",
    "story",
    "slow",
    "fun",
    "dull",
    "brilliant",
    "boring",
    "funny",
    "sad",
    "long",
    "short",
    "music",
    "ending",
    "script",
    "cast",
    "director",
    "camera",
    "light",
    "dark",
    "comedy",
    "drama",
    "horror",
    "action",
    "score",
    "pace",
    "twist",
    "character",
    "dialogue",
    "visual",
)
CHANNELS = ("web", "app", "email", "partner")


def _letters(i: int) -> str:
    """0 -> "a", 25 -> "z", 26 -> "ba": a row number written with letters only."""
    out = ""
    while True:
        i, r = divmod(i, 26)
        out = chr(97 + r) + out
        if not i:
            return out


def synthetic_pair(n: int, seed: int = 0, labels: Sequence[str] = ("fresh", "rotten")) -> tuple[PredictionTable, PredictionTable]:
    """A (before, after) pair of `n`-row single-label tables over the same texts, for scale tests and benchmarks.

    Texts of 3-40 words from a small vocabulary (each starts with its row number in letters, so all differ and
    none has a digit, as most review texts have none: the PII scan's number detectors skip them), metadata like
    scripts/build_100k.py writes (channel, length_bucket, date), gold uniform over `labels`; "before" is right on
    about 80% of rows, "after" on about 85%, with confidences that track correctness. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    k = len(labels)
    lengths = rng.integers(3, 41, size=n)
    vocab = np.asarray(WORDS)[rng.integers(0, len(WORDS), size=int(lengths.sum()))]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    texts = [f"review {_letters(i)} " + " ".join(vocab[s : s + m]) for i, (s, m) in enumerate(zip(starts.tolist(), lengths.tolist()))]
    gold = rng.integers(0, k, size=n)
    days = rng.integers(0, 731, size=n)
    metadata = {
        "channel": np.asarray(CHANNELS)[rng.integers(0, len(CHANNELS), size=n)],
        "length_bucket": np.select([lengths <= 12, lengths <= 26], ["short", "medium"], "long"),
        "date": (np.datetime64("2024-01-01") + days).astype(str),
    }
    tables = []
    for name, accuracy in (("before", 0.80), ("after", 0.85)):
        right = rng.random(n) < accuracy
        pred = np.where(right, gold, (gold + rng.integers(1, k, size=n)) % k)
        confidence = np.where(right, rng.uniform(0.6, 0.99, size=n), rng.uniform(1.0 / k + 0.01, 0.9, size=n))
        tables.append(
            table_from_arrays(
                probs_for(pred, k, confidence), gold, labels, texts=texts, metadata=metadata, checkpoint_name=name, data_name=f"synthetic_{n}.csv"
            )
        )
    return tables[0], tables[1]
