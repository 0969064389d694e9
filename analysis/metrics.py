"""Headline metrics, calibration and label co-occurrence for one prediction table, single- or multi-label.

Point metrics come from scikit-learn; calibration (expected calibration error and the
reliability table behind the reliability diagram) is a few lines of numpy on the
confidence of the predicted label (single-label) or on each label's sigmoid read as a
binary forecast (multi-label). `table_metrics` and `table_calibration` are the entry
points for both kinds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, hamming_loss, precision_recall_fscore_support

from analysis.predictions import PredictionTable
from analysis.stats import bootstrap_counts, percentile_interval

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


@dataclass(frozen=True, eq=False)
class MultiLabelMetrics(Metrics):
    """Multi-label metrics of indicator arrays (rows x labels), each equal to scikit-learn's on the same arrays.

    `accuracy` is subset accuracy (`accuracy_score`: the whole predicted set equals the gold set), `macro_f1` the mean
    of every label's F1 (`f1_score(average="macro", zero_division=0)`: a label absent from gold and predictions counts
    0), `micro_f1` pools every label's decisions, `samples_f1` averages each row's F1 (`average="samples"`; a row with
    no gold tag and none predicted counts 1: `zero_division=1`), `hamming_loss` is the share of wrong label decisions.
    `per_class` (index: label) has precision, recall, f1, support (rows where the label is gold) and predicted.
    """

    micro_f1: float
    samples_f1: float
    hamming_loss: float

    @property
    def subset_accuracy(self) -> float:
        return self.accuracy

    def as_dict(self) -> dict:
        return {
            **super().as_dict(),
            "task": "multi-label",
            "subset_accuracy": self.accuracy,
            "micro_f1": self.micro_f1,
            "samples_f1": self.samples_f1,
            "hamming_loss": self.hamming_loss,
        }


def multi_label_metrics(gold, pred, labels: Sequence[str]) -> MultiLabelMetrics:
    """Metrics of multi-label predictions: `gold` and `pred` are bool (or 0/1) arrays, rows x labels."""
    labels = tuple(labels)
    gold = np.asarray(gold, dtype=int).reshape(-1, len(labels))
    pred = np.asarray(pred, dtype=int).reshape(-1, len(labels))
    if gold.shape != pred.shape:
        raise ValueError(f"gold has {gold.shape[0]} items but pred has {pred.shape[0]}")
    n = int(gold.shape[0])
    if n == 0:
        per_class = pd.DataFrame(0.0, index=pd.Index(labels, name="label"), columns=list(PER_CLASS_COLUMNS))
        nan = float("nan")
        return MultiLabelMetrics(nan, nan, per_class.astype({"support": int, "predicted": int}), 0, labels, nan, nan, nan)
    precision, recall, f1, support = precision_recall_fscore_support(gold, pred, average=None, zero_division=0.0)
    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": np.asarray(support).astype(int), "predicted": pred.sum(axis=0).astype(int)},
        index=pd.Index(labels, name="label"),
    )
    return MultiLabelMetrics(
        accuracy=float(accuracy_score(gold, pred)),
        macro_f1=float(f1_score(gold, pred, average="macro", zero_division=0.0)),
        per_class=per_class,
        n=n,
        labels=labels,
        micro_f1=float(f1_score(gold, pred, average="micro", zero_division=0.0)),
        samples_f1=float(f1_score(gold, pred, average="samples", zero_division=1.0)),
        hamming_loss=float(hamming_loss(gold, pred)),
    )


def table_metrics(table: PredictionTable) -> Metrics:
    """The metrics of a prediction table: `Metrics` for single-label, `MultiLabelMetrics` (a `Metrics`) for multi-label."""
    if table.multi_label:
        return multi_label_metrics(table.gold_matrix, table.pred_matrix, table.labels)
    return classification_metrics(table.gold_idx, table.pred_idx, table.labels)


MULTI_LABEL_INTERVALS = ("micro_f1", "macro_f1", "samples_f1", "hamming_loss")


def multi_label_intervals(gold, pred, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals (rows resampled with replacement, as `analysis.compare.macro_f1_interval` does)
    of micro-, macro- and samples-F1 and Hamming loss, computed as `multi_label_metrics` computes them."""
    gold = np.asarray(gold, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    n, k = gold.shape
    if n == 0:
        raise ValueError("Cannot bootstrap an empty evaluation set")
    patterns, code = np.unique(np.concatenate([gold, pred], axis=1), axis=0, return_inverse=True)
    g, p = patterns[:, :k].astype(float), patterns[:, k:].astype(float)
    both = g * p
    row_sizes = g.sum(axis=1) + p.sum(axis=1)
    row_f1 = np.where(row_sizes > 0, 2 * both.sum(axis=1) / np.maximum(row_sizes, 1), 1.0)
    row_hamming = (g != p).mean(axis=1)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in MULTI_LABEL_INTERVALS}
    for _, _, weights in bootstrap_counts(code.ravel(), len(patterns), n_boot, seed):
        tp, decided = weights @ both, weights @ p + weights @ g
        f1 = np.where(decided > 0, 2 * tp / np.maximum(decided, 1e-12), 0.0)
        pooled = decided.sum(axis=1)
        draws["micro_f1"].append(np.where(pooled > 0, 2 * tp.sum(axis=1) / np.maximum(pooled, 1e-12), 0.0))
        draws["macro_f1"].append(f1.mean(axis=1))
        draws["samples_f1"].append(weights @ row_f1 / n)
        draws["hamming_loss"].append(weights @ row_hamming / n)
    out = {}
    for name, values in draws.items():
        low, high = percentile_interval(np.concatenate(values), level)
        out[name] = (float(low), float(high))
    return out


def label_outcomes(table: PredictionTable) -> pd.DataFrame:
    """Per label (index): tp, fp, fn, tn — each label's decisions as a 2x2 (scikit-learn's `multilabel_confusion_matrix`)."""
    gold, pred = table.gold_matrix, table.pred_matrix
    return pd.DataFrame(
        {
            "tp": (gold & pred).sum(axis=0),
            "fp": (~gold & pred).sum(axis=0),
            "fn": (gold & ~pred).sum(axis=0),
            "tn": (~gold & ~pred).sum(axis=0),
        },
        index=pd.Index(table.labels, name="label"),
    ).astype(int)


# --- label co-occurrence ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CoOccurrence:
    """Label pairs counted over rows, each matrix labels x labels and symmetric; the diagonal counts the label alone.

    `gold[a, b]`: rows where a and b are both gold. `predicted[a, b]`: rows where both are predicted. `missed[a, b]`:
    rows where both are gold and neither is predicted (the diagonal: each label's false negatives).
    """

    labels: tuple[str, ...]
    gold: np.ndarray
    predicted: np.ndarray
    missed: np.ndarray

    def pairs(self, which: str, limit: int = 5) -> pd.DataFrame:
        """The most frequent pairs of two different labels in matrix `which` ('gold', 'predicted', 'missed'): first, second, rows."""
        matrix = getattr(self, which)
        a, b = np.triu_indices(len(self.labels), k=1)
        frame = pd.DataFrame({"first": [self.labels[i] for i in a], "second": [self.labels[j] for j in b], "rows": matrix[a, b].astype(int)})
        frame = frame[frame["rows"] > 0]
        return frame.sort_values("rows", ascending=False, kind="stable").head(limit).reset_index(drop=True)


def _together(matrix: np.ndarray) -> np.ndarray:
    m = matrix.astype(np.int64)
    return m.T @ m


def label_cooccurrence(table: PredictionTable) -> CoOccurrence:
    """Which labels are gold together, predicted together and missed together (works for single-label too: diagonal only)."""
    gold, pred = table.gold_matrix, table.pred_matrix
    return CoOccurrence(tuple(table.labels), _together(gold), _together(pred), _together(gold & ~pred))


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


@dataclass(frozen=True, eq=False)
class MultiLabelCalibration(Calibration):
    """Multi-label calibration: each label's sigmoid read as a binary forecast of "this label is gold".

    A reliability bin compares the mean probability in it with the share of its rows where the label is gold (the
    `accuracy` column; `sklearn.calibration.calibration_curve`). `per_label` holds one `Calibration` per label (in
    `labels` order); the base fields (`ece`, `max_gap`, `table`, `n`) pool every (row, label) forecast, so a reader that
    knows only `Calibration` (a gate, a report) still gets one number.
    """

    labels: tuple[str, ...] = ()
    per_label: tuple[Calibration, ...] = ()

    def of(self, label: str) -> Calibration:
        return self.per_label[self.labels.index(label)]

    def summary(self) -> pd.DataFrame:
        """One row per label: ece, max_gap, examples."""
        return pd.DataFrame(
            {"ece": [c.ece for c in self.per_label], "max_gap": [c.max_gap for c in self.per_label], "examples": [c.n for c in self.per_label]},
            index=pd.Index(self.labels, name="label"),
        )


def table_calibration(table: PredictionTable, n_bins: int = 10) -> Calibration:
    """Calibration of a prediction table: the confidence of each predicted label against whether it was right
    (single-label), or each label's probability against whether that label is gold (multi-label,
    `MultiLabelCalibration`, per label and pooled).

    The entry point for pages, gates and reports (the reliability diagram, the `max_ece` gate), so they
    all measure the same confidence the same way.
    """
    if table.multi_label:
        gold = table.gold_matrix
        per_label = tuple(calibration(table.probs[:, c], gold[:, c], n_bins) for c in range(len(table.labels)))
        pooled = calibration(table.probs.ravel(), gold.ravel(), n_bins)
        return MultiLabelCalibration(pooled.ece, pooled.max_gap, pooled.table, n_bins, pooled.n, tuple(table.labels), per_label)
    return calibration(table.probs.max(axis=1), table.correct, n_bins)


def describe_calibration(cal: Calibration, label: str | None = None) -> str:
    """One plain sentence about how far confidence can be trusted (of one label's probability when `label` is given)."""
    if cal.n == 0 or np.isnan(cal.ece):
        return "No examples, so calibration cannot be measured."
    filled = cal.table[cal.table["count"] > 0]
    weights = filled["count"] / cal.n
    signed = float((weights * filled["gap"]).sum())
    if label is not None:
        truth, what = f"'{label}' is gold", f"its probability of '{label}'"
    else:
        truth, what = "it is right", "its confidence"
    if cal.ece < 0.03:
        verdict = f"well calibrated: {what} matches how often {truth}"
    elif signed < 0:
        verdict = f"over-confident: {truth} less often than {what} suggests"
    else:
        verdict = f"under-confident: {truth} more often than {what} suggests"
    return (
        f"Expected calibration error is {cal.ece:.3f} (0 is perfect): the model is {verdict}. "
        f"On average, {'the probability' if label is not None else 'confidence'} is off by {cal.ece * 100:.1f} percentage points."
    )
