"""One checkpoint's predictions on one evaluation set, as a table every analysis reads."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.thresholds import DEFAULT_THRESHOLD, Thresholds
from evaldata.loading import EvalSet, align_labels, data_fingerprint, frame_inputs
from models.errors import DataError
from models.protocol import InferenceLayer, Progress
from models.task import MULTI_LABEL, SINGLE_LABEL


@dataclass(frozen=True, eq=False)
class PredictionTable:
    """`frame` columns: text (and text_pair for sentence pairs), gold, pred, confidence, correct, truncated, n_tokens,
    p_<label>…, then metadata.

    `probs[i, c]` is the probability of `labels[c]`: a softmax row for single-label, an independent sigmoid per label
    for multi-label (`task`). Single-label: `gold_idx`/`pred_idx` index into `labels`. Multi-label: `gold_matrix` /
    `pred_matrix` are bool (rows x labels), a label is predicted at or above its threshold (`thresholds`), `gold`/`pred`
    in the frame are the tags joined by " | " ("" for none), `correct` means the whole set matches and `confidence` is
    the probability of the predicted set (the product over labels of p or 1 - p). Both kinds have `gold_matrix` /
    `pred_matrix`, so per-label code works for either.
    """

    checkpoint_name: str
    fingerprint: str
    data_name: str
    data_fingerprint: str
    labels: tuple[str, ...]
    probs: np.ndarray
    gold: np.ndarray  # single-label: int label indices; multi-label: bool rows x labels
    frame: pd.DataFrame
    metadata: tuple[str, ...]
    task: str = SINGLE_LABEL
    thresholds: Thresholds | None = None  # multi-label only

    @property
    def multi_label(self) -> bool:
        return self.task == MULTI_LABEL

    @property
    def pair(self) -> bool:
        return "text_pair" in self.frame

    @property
    def inputs(self) -> list:
        """What the model read per row: the text, or (text, text_pair)."""
        return frame_inputs(self.frame)

    @property
    def cache_key(self) -> str:
        """Identifies the table for Streamlit's caches: checkpoint and task, data as judged (label mapping and thresholds included) and the gold labels."""
        task = "" if self.task == SINGLE_LABEL else f":{self.task}"
        return f"{self.fingerprint}{task}:{self.data_fingerprint}:{hashlib.sha1(np.ascontiguousarray(self.gold).tobytes()).hexdigest()}"

    def _single(self, what: str) -> None:
        if self.multi_label:
            raise TypeError(f"`{what}` is for single-label tables; this multi-label table has `gold_matrix` / `pred_matrix`.")

    @property
    def gold_idx(self) -> np.ndarray:
        self._single("gold_idx")
        return self.gold

    @property
    def pred_idx(self) -> np.ndarray:
        self._single("pred_idx")
        return self.probs.argmax(axis=1)

    @property
    def gold_matrix(self) -> np.ndarray:
        """Bool rows x labels: which labels are gold (single-label: one per row)."""
        return self.gold if self.multi_label else np.eye(len(self.labels), dtype=bool)[self.gold]

    @property
    def pred_matrix(self) -> np.ndarray:
        """Bool rows x labels: which labels are predicted (single-label: the argmax)."""
        if self.multi_label:
            return predicted_sets(self.probs, self.thresholds)
        return np.eye(len(self.labels), dtype=bool)[self.probs.argmax(axis=1)]

    @property
    def correct(self) -> np.ndarray:
        """Single-label: the predicted label is gold. Multi-label: the predicted set equals the gold set exactly."""
        if self.multi_label:
            return (self.pred_matrix == self.gold).all(axis=1)
        return self.pred_idx == self.gold

    def __len__(self) -> int:
        return len(self.frame)


def predicted_sets(probs: np.ndarray, thresholds: Thresholds | None) -> np.ndarray:
    """Multi-label decisions: each label at or above its threshold (0.5 without thresholds)."""
    limit = np.full(probs.shape[1], DEFAULT_THRESHOLD) if thresholds is None else thresholds.array
    return probs >= limit


def set_probability(probs: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The probability of each row's predicted set under independent labels: the product of p (predicted) or 1 - p."""
    return np.where(predicted, probs, 1.0 - probs).prod(axis=1)


def join_tags(matrix: np.ndarray, labels: Sequence[str]) -> list[str]:
    """Each row's labels joined by ' | ' ('' for none)."""
    return [TAG_JOIN.join(labels[int(c)] for c in np.flatnonzero(row)) for row in matrix]


TAG_JOIN = " | "
NO_LABEL = "(no label)"  # how an empty multi-label set is shown


def _column(values: Sequence | np.ndarray | pd.api.extensions.ExtensionArray) -> object:
    """A column's values as a frame takes them: an array as it is (a loaded file's text stays its Arrow strings, not 100k
    Python objects converted twice), anything else as a list."""
    return values if isinstance(values, (np.ndarray, pd.api.extensions.ExtensionArray)) else list(values)


def build_table(
    *,
    checkpoint_name: str,
    fingerprint: str,
    data_name: str,
    data_fingerprint: str,
    labels: Sequence[str],
    probs: np.ndarray,
    gold: np.ndarray,
    texts: Sequence[str],
    n_tokens: np.ndarray,
    truncated: np.ndarray,
    metadata: Mapping[str, Sequence | np.ndarray] | None = None,
    task: str = SINGLE_LABEL,
    thresholds: Thresholds | None = None,
    text_pairs: Sequence[str] | None = None,
) -> PredictionTable:
    """Lay probabilities and gold labels out as the one table every analysis reads."""
    labels = tuple(labels)
    columns: dict[str, object] = {"text": _column(texts)}
    if text_pairs is not None:
        columns["text_pair"] = _column(text_pairs)
    if task == MULTI_LABEL:
        thresholds = thresholds or Thresholds.default(labels)
        gold = np.asarray(gold, dtype=bool)
        predicted = predicted_sets(probs, thresholds)
        columns |= {
            "gold": join_tags(gold, labels),
            "pred": join_tags(predicted, labels),
            "confidence": set_probability(probs.astype(np.float64), predicted),
            "correct": (predicted == gold).all(axis=1),
            "label_errors": (predicted != gold).sum(axis=1),
        }
    else:
        pred_idx = probs.argmax(axis=1)
        columns |= {
            "gold": [labels[i] for i in gold],
            "pred": [labels[i] for i in pred_idx],
            "confidence": probs.max(axis=1).astype(float),
            "correct": pred_idx == gold,
        }
    frame = pd.DataFrame({**columns, "n_tokens": n_tokens, "truncated": truncated})
    for c, label in enumerate(labels):
        frame[f"p_{label}"] = probs[:, c].astype(float)
    metadata = dict(metadata or {})
    for column, values in metadata.items():
        frame[column] = _column(values)
    return PredictionTable(
        checkpoint_name=checkpoint_name,
        fingerprint=fingerprint,
        data_name=data_name,
        data_fingerprint=data_fingerprint,
        labels=labels,
        probs=probs,
        gold=gold,
        frame=frame,
        metadata=tuple(metadata),
        task=task,
        thresholds=thresholds if task == MULTI_LABEL else None,
    )


@dataclass(frozen=True)
class ScoringPlan:
    """How many of an evaluation file's distinct texts are not stored yet (in the results store or in memory): only those
    are scored. After a data file changed under a filled store, `missing` is the new or changed texts."""

    total: int
    missing: int

    @property
    def message(self) -> str:
        if not self.missing:
            return f"all {self.total:,} texts already stored"
        if self.missing == self.total:
            return f"none of the {self.total:,} texts is stored yet: scoring them"
        return f"{self.missing:,} of {self.total:,} texts are not in the store yet (new or changed since it was filled): scoring them"


def scoring_plan(predictor: InferenceLayer, inputs: Sequence) -> ScoringPlan:
    """What a `predict_proba(inputs)` would score (runs nothing; rows found in the results store are kept in memory)."""
    distinct = list(dict.fromkeys(tuple(x) if isinstance(x, list) else x for x in inputs))
    return ScoringPlan(total=len(distinct), missing=predictor.uncached_count(distinct))


def predict_table(
    predictor: InferenceLayer,
    evalset: EvalSet,
    *,
    label_mapping: Mapping[str, str] | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
    on_plan: Callable[[ScoringPlan], None] | None = None,
) -> PredictionTable:
    """Score every example once (the inference layer dedups and caches) and lay the result out as a table.

    The checkpoint's task (`predictor.ref.task`) decides single- or multi-label; sentence-pair data is scored as pairs.
    Probabilities and token counts stored whole for these exact inputs (`InferenceLayer.stored_table`) are one read;
    otherwise `on_plan` is told what is not stored yet (`scoring_plan`), they are read per text or scored, and stored whole.
    """
    task = predictor.ref.task
    multi = task == MULTI_LABEL
    if multi:
        thresholds = thresholds or Thresholds.default(predictor.labels)
        if thresholds.labels != tuple(predictor.labels):
            raise DataError(f"The thresholds are for labels {', '.join(thresholds.labels)}, not the checkpoint's ({', '.join(predictor.labels)}).")
    gold = align_labels(evalset, predictor.labels, label_mapping, multi_label=multi)
    inputs = evalset.inputs
    stored = predictor.stored_table(inputs)
    if stored is not None:
        probs, n_tokens = stored
        if progress is not None:
            progress(len(inputs), len(inputs))
    else:
        if on_plan is not None:
            on_plan(scoring_plan(predictor, inputs))
        probs = predictor.predict_proba(inputs, progress=progress)
        n_tokens = predictor.token_counts(inputs)
        predictor.store_table(inputs, probs, n_tokens)
    return build_table(
        checkpoint_name=predictor.ref.name,
        fingerprint=predictor.ref.fingerprint,
        data_name=evalset.name,
        data_fingerprint=data_fingerprint(
            evalset, label_mapping, task=task if multi else None, thresholds=thresholds.fingerprint_part() if multi and thresholds else None
        ),
        labels=predictor.labels,
        probs=probs,
        gold=gold,
        texts=evalset.frame["text"].array,
        text_pairs=evalset.frame["text_pair"].array if evalset.pair else None,
        n_tokens=n_tokens,
        truncated=n_tokens > predictor.max_length,
        metadata={column: evalset.frame[column].array for column in evalset.metadata},
        task=task,
        thresholds=thresholds,
    )


def with_corrected_gold(table: PredictionTable, corrected: Mapping[int, str]) -> PredictionTable:
    """`table` with the gold label of each row in `corrected` (row -> label, e.g. `store.labels.corrections`) replaced:
    the same predictions judged against the reviewer's corrections, so every metric can be shown both ways.
    Single-label tables only: a multi-label row has a set of gold labels, not one to correct."""
    if not corrected:
        return table
    if table.multi_label:
        raise DataError("Gold-label corrections are for single-label checkpoints: a multi-label row has a set of gold labels, not one label to correct.")
    index = {label: i for i, label in enumerate(table.labels)}
    unknown = sorted({label for label in corrected.values() if label not in index})
    if unknown:
        raise DataError(f"The corrected label(s) {', '.join(unknown)} are not among the checkpoint's labels ({', '.join(table.labels)}).")
    gold = table.gold_idx.copy()
    for row, label in corrected.items():
        gold[int(row)] = index[label]
    frame = table.frame
    return build_table(
        checkpoint_name=table.checkpoint_name,
        fingerprint=table.fingerprint,
        data_name=table.data_name,
        data_fingerprint=table.data_fingerprint,
        labels=table.labels,
        probs=table.probs,
        gold=gold,
        texts=frame["text"].array,
        text_pairs=frame["text_pair"].array if table.pair else None,
        n_tokens=frame["n_tokens"].to_numpy(),
        truncated=frame["truncated"].to_numpy(),
        metadata={column: frame[column].array for column in table.metadata},
        task=table.task,
    )


def take_rows(table: PredictionTable, rows: Sequence[int] | np.ndarray) -> PredictionTable:
    """The same table (task and thresholds included) restricted to `rows` (positions, in the order given): metrics of a
    subset, e.g. without leaked rows."""
    rows = np.asarray(rows, dtype=int)
    return dataclasses.replace(table, probs=table.probs[rows], gold=table.gold[rows], frame=table.frame.iloc[rows].reset_index(drop=True))
