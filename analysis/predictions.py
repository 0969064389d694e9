"""One checkpoint's predictions on one evaluation set, as a table every analysis reads."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaldata.loading import EvalSet, align_labels, data_fingerprint
from models.protocol import InferenceLayer, Progress


@dataclass(frozen=True, eq=False)
class PredictionTable:
    """`frame` columns: text, gold, pred, confidence, correct, truncated, n_tokens, p_<label>…, then metadata.

    `probs[i, c]` is the probability of `labels[c]`; `gold_idx`/`pred_idx` index into `labels`.
    """

    checkpoint_name: str
    fingerprint: str
    data_name: str
    data_fingerprint: str
    labels: tuple[str, ...]
    probs: np.ndarray
    gold_idx: np.ndarray
    frame: pd.DataFrame
    metadata: tuple[str, ...]

    @property
    def cache_key(self) -> str:
        """Identifies the table for Streamlit's caches: checkpoint, data as judged (label mapping included) and the gold labels."""
        return f"{self.fingerprint}:{self.data_fingerprint}:{hashlib.sha1(self.gold_idx.tobytes()).hexdigest()}"

    @property
    def pred_idx(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.pred_idx == self.gold_idx

    def __len__(self) -> int:
        return len(self.frame)


def build_table(
    *,
    checkpoint_name: str,
    fingerprint: str,
    data_name: str,
    data_fingerprint: str,
    labels: Sequence[str],
    probs: np.ndarray,
    gold_idx: np.ndarray,
    texts: Sequence[str],
    n_tokens: np.ndarray,
    truncated: np.ndarray,
    metadata: Mapping[str, Sequence | np.ndarray] | None = None,
) -> PredictionTable:
    """Lay probabilities and gold labels out as the one table every analysis reads."""
    labels = tuple(labels)
    pred_idx = probs.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "text": list(texts),
            "gold": [labels[i] for i in gold_idx],
            "pred": [labels[i] for i in pred_idx],
            "confidence": probs.max(axis=1).astype(float),
            "correct": pred_idx == gold_idx,
            "n_tokens": n_tokens,
            "truncated": truncated,
        }
    )
    for c, label in enumerate(labels):
        frame[f"p_{label}"] = probs[:, c].astype(float)
    metadata = dict(metadata or {})
    for column, values in metadata.items():
        frame[column] = list(values)
    return PredictionTable(
        checkpoint_name=checkpoint_name,
        fingerprint=fingerprint,
        data_name=data_name,
        data_fingerprint=data_fingerprint,
        labels=labels,
        probs=probs,
        gold_idx=gold_idx,
        frame=frame,
        metadata=tuple(metadata),
    )


def predict_table(
    predictor: InferenceLayer,
    evalset: EvalSet,
    *,
    label_mapping: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> PredictionTable:
    """Score every example once (the inference layer dedups and caches) and lay the result out as a table."""
    gold_idx = align_labels(evalset, predictor.labels, label_mapping)
    texts = evalset.texts
    probs = predictor.predict_proba(texts, progress=progress)
    n_tokens = predictor.token_counts(texts)
    return build_table(
        checkpoint_name=predictor.ref.name,
        fingerprint=predictor.ref.fingerprint,
        data_name=evalset.name,
        data_fingerprint=data_fingerprint(evalset, label_mapping),
        labels=predictor.labels,
        probs=probs,
        gold_idx=gold_idx,
        texts=texts,
        n_tokens=n_tokens,
        truncated=n_tokens > predictor.max_length,
        metadata={column: evalset.frame[column].to_numpy() for column in evalset.metadata},
    )
