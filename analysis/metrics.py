"""Headline metrics and calibration for one prediction table.

Point metrics come from scikit-learn; calibration (expected calibration error and the
reliability table behind the reliability diagram) is a few lines of numpy on the
confidence of the predicted label.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from analysis.predictions import PredictionTable

PER_CLASS_COLUMNS = ("precision", "recall", "f1", "support", "predicted")


@dataclass(frozen=True, eq=False)
class Metrics:
    """Accuracy, macro-F1 and a per-class table (index: label; columns: precision, recall, f1, support, predicted).

    `macro_f1` averages F1 over the classes that occur in the gold labels or the predictions
    (scikit-learn's default), so a class absent from both does not drag it to zero.
    A class that is never predicted has precision 0 (reported, not hidden).
    """

    accuracy: float
    macro_f1: float
    per_class: pd.DataFrame
    n: int
    labels: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": {
                label: {k: (int(v) if k in ("support", "predicted") else float(v)) for k, v in row.items()}
                for label, row in self.per_class.to_dict(orient="index").items()
            },
        }


def _as_index(values, labels: Sequence[str]) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(int)
    position = {label: i for i, label in enumerate(labels)}
    try:
        return np.array([position[v] for v in arr], dtype=int)
    except KeyError as exc:
        raise ValueError(f"Label {exc.args[0]!r} is not one of {list(labels)}") from None


def classification_metrics(gold, pred, labels: Sequence[str]) -> Metrics:
    """Metrics of predictions against gold labels; `gold`/`pred` are label indices or label names."""
    labels = tuple(labels)
    gold_idx = _as_index(gold, labels)
    pred_idx = _as_index(pred, labels)
    if gold_idx.shape != pred_idx.shape:
        raise ValueError(f"gold has {gold_idx.shape[0]} items but pred has {pred_idx.shape[0]}")
    n = int(gold_idx.shape[0])
    everything = list(range(len(labels)))
    if n == 0:
        per_class = pd.DataFrame(0.0, index=pd.Index(labels, name="label"), columns=list(PER_CLASS_COLUMNS))
        return Metrics(float("nan"), float("nan"), per_class.astype({"support": int, "predicted": int}), 0, labels)
    precision, recall, f1, support = precision_recall_fscore_support(gold_idx, pred_idx, labels=everything, average=None, zero_division=0.0)
    predicted = np.bincount(pred_idx, minlength=len(labels))
    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int), "predicted": predicted.astype(int)},
        index=pd.Index(labels, name="label"),
    )
    present = (support > 0) | (predicted > 0)
    return Metrics(
        accuracy=float(np.mean(gold_idx == pred_idx)),
        macro_f1=float(np.mean(f1[present])),
        per_class=per_class,
        n=n,
        labels=labels,
    )


def table_metrics(table: PredictionTable) -> Metrics:
    return classification_metrics(table.gold_idx, table.pred_idx, table.labels)


def confusion(gold, pred, labels: Sequence[str]) -> np.ndarray:
    """Counts `[g, p]` = number of examples of gold class g predicted as p (rows gold, columns predicted)."""
    labels = tuple(labels)
    return confusion_matrix(_as_index(gold, labels), _as_index(pred, labels), labels=list(range(len(labels))))


# --- calibration -----------------------------------------------------------------------------------

RELIABILITY_COLUMNS = ("bin", "lower", "upper", "count", "mean_confidence", "accuracy", "gap")


@dataclass(frozen=True, eq=False)
class Calibration:
    """Expected calibration error and the per-bin table (`RELIABILITY_COLUMNS`) it was computed from.

    `gap` = accuracy − mean confidence: negative means over-confident in that bin.
    """

    ece: float
    max_gap: float
    table: pd.DataFrame
    n_bins: int
    n: int


def _bin_of(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    # Bins are (lower, upper]; the first one also holds exactly 0. Rounding first keeps a float32
    # 0.6 (stored as 0.60000002) in the bin that ends at 0.6, where a person expects it.
    edges = np.round(np.linspace(0.0, 1.0, n_bins + 1), 12)
    return np.clip(np.searchsorted(edges, np.round(confidence, 6), side="left") - 1, 0, n_bins - 1)


def reliability_table(confidence, correct, n_bins: int = 10) -> pd.DataFrame:
    """One row per equal-width confidence bin over [0, 1] (empty bins kept, with count 0 and NaN rates)."""
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    confidence = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    correct = np.asarray(correct, dtype=float)
    edges = np.round(np.linspace(0.0, 1.0, n_bins + 1), 12)
    bins = _bin_of(confidence, n_bins)
    count = np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    hit_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan)
        accuracy = np.where(count > 0, hit_sum / np.maximum(count, 1), np.nan)
    return pd.DataFrame(
        {
            "bin": [f"{lo:.2f}–{hi:.2f}" for lo, hi in itertools.pairwise(edges)],
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count.astype(int),
            "mean_confidence": mean_conf,
            "accuracy": accuracy,
            "gap": accuracy - mean_conf,
        }
    )


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """ECE = Σ_bins (n_b / n) · |accuracy_b − mean confidence_b| over equal-width bins (NaN without examples)."""
    return calibration(confidence, correct, n_bins).ece


def calibration(confidence, correct, n_bins: int = 10) -> Calibration:
    """Expected calibration error, largest bin gap and the reliability table of confidences and their correctness.

    The one place ECE is computed: `expected_calibration_error` and `table_calibration` read it from here.
    """
    table = reliability_table(confidence, correct, n_bins)
    n = int(table["count"].sum())
    filled = table[table["count"] > 0]
    ece = float((filled["count"] / n * filled["gap"].abs()).sum()) if n else float("nan")
    max_gap = float(filled["gap"].abs().max()) if n else float("nan")
    return Calibration(ece=ece, max_gap=max_gap, table=table, n_bins=n_bins, n=n)


def table_calibration(table: PredictionTable, n_bins: int = 10) -> Calibration:
    """Calibration of a prediction table: the confidence of each predicted label against whether it was right.

    The entry point for pages, gates and reports (the reliability diagram, the `max_ece` gate), so they
    all measure the same confidence the same way.
    """
    return calibration(table.probs.max(axis=1), table.correct, n_bins)


def describe_calibration(cal: Calibration) -> str:
    """One plain sentence about how far confidence can be trusted."""
    if cal.n == 0 or np.isnan(cal.ece):
        return "No examples, so calibration cannot be measured."
    filled = cal.table[cal.table["count"] > 0]
    weights = filled["count"] / cal.n
    signed = float((weights * filled["gap"]).sum())
    if cal.ece < 0.03:
        verdict = "well calibrated: its confidence matches how often it is right"
    elif signed < 0:
        verdict = "over-confident: it is right less often than its confidence suggests"
    else:
        verdict = "under-confident: it is right more often than its confidence suggests"
    return (
        f"Expected calibration error is {cal.ece:.3f} (0 is perfect): the model is {verdict}. "
        f"On average, confidence is off by {cal.ece * 100:.1f} percentage points."
    )
