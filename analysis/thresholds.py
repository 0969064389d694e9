"""Per-label decision thresholds of a multi-label checkpoint: the default 0.5, a file, or tuned on a validation file.

A multi-label prediction is the set of labels whose sigmoid probability is at or above that label's threshold.
Where the thresholds came from (`Thresholds.source`) is shown wherever they are used, and they enter the data
fingerprint (`evaldata.data_fingerprint(..., thresholds=...)`), so two threshold sets never share a result.
Tuning picks each label's F1-best threshold on a validation file, never on the evaluation data itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from evaldata.loading import EvalSet, align_labels
from models.errors import DataError
from models.protocol import InferenceLayer, Progress

DEFAULT_THRESHOLD = 0.5
MAX_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Thresholds:
    """One threshold per label (in the checkpoint's label order) and where they came from, in words."""

    labels: tuple[str, ...]
    values: tuple[float, ...]
    source: str = f"default ({DEFAULT_THRESHOLD} for every label)"

    @classmethod
    def default(cls, labels: Sequence[str]) -> Thresholds:
        return cls(tuple(labels), tuple(DEFAULT_THRESHOLD for _ in labels))

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)

    @property
    def is_default(self) -> bool:
        return all(v == DEFAULT_THRESHOLD for v in self.values)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.labels, self.values))

    def fingerprint_part(self) -> dict[str, float] | None:
        """What enters the data fingerprint: None for the default (so default results keep one name), else label -> value."""
        return None if self.is_default else self.as_dict()

    def with_values(self, values: Mapping[str, float], source: str) -> Thresholds:
        """These thresholds with some labels changed (unknown labels and values outside [0, 1] refused)."""
        return Thresholds(self.labels, _ordered(values, self.labels, source, base=self.as_dict()), source)


def _ordered(values: Mapping[str, object], labels: Sequence[str], source: str, *, base: Mapping[str, float]) -> tuple[float, ...]:
    unknown = [str(k) for k in values if k not in labels and k != "default"]
    if unknown:
        raise DataError(f"{source}: {', '.join(map(repr, unknown[:5]))} is not a label of the checkpoint. Its labels are: {', '.join(labels)}.")
    out = dict(base)
    if "default" in values:
        out = {label: _probability(values["default"], "default", source) for label in labels}
    out.update({str(k): _probability(v, str(k), source) for k, v in values.items() if k != "default"})
    return tuple(out[label] for label in labels)


def _probability(value: object, label: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise DataError(f"{source}: the threshold of '{label}' must be a number between 0 and 1, not {type(value).__name__} {str(value)[:20]!r}.")
    return float(value)


def parse_thresholds(text: str | bytes, labels: Sequence[str], source: str = "thresholds file") -> Thresholds:
    """A YAML or JSON mapping `label: threshold` (and optionally `default: 0.4` for the labels not listed)."""
    if len(text) > MAX_FILE_BYTES:
        raise DataError(f"{source} is larger than {MAX_FILE_BYTES // 1024} KiB; a thresholds file is one line per label.")
    try:
        raw = text.decode("utf-8") if isinstance(text, bytes) else text
        data = yaml.safe_load(raw) if raw.strip() else None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{source} is not valid UTF-8 YAML/JSON ({type(exc).__name__}). Write one `label: threshold` per line.") from None
    if not isinstance(data, dict) or not data:
        raise DataError(f"{source} must be a mapping of label -> threshold (e.g. `toxic: 0.4`), not {type(data).__name__}.")
    return Thresholds(
        tuple(labels), _ordered({str(k): v for k, v in data.items()}, labels, source, base=Thresholds.default(labels).as_dict()), f"file {source}"
    )


def load_thresholds(path: str | Path, labels: Sequence[str]) -> Thresholds:
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"Thresholds file '{path}' does not exist. Give a YAML or JSON file with one `label: threshold` per line.")
    return parse_thresholds(path.read_bytes(), labels, path.name)


def best_f1_thresholds(probs: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per label, the threshold t maximising F1 of `probs >= t` against `gold` (bool), and that F1.

    Candidates are the label's distinct probabilities (a cut between two of them changes nothing); ties go to the
    higher threshold (fewer positives). A label with no positive example keeps the default and reports F1 0.
    """
    n, k = probs.shape
    thresholds = np.full(k, DEFAULT_THRESHOLD)
    best = np.zeros(k)
    for c in range(k):
        positives = int(gold[:, c].sum())
        if positives == 0 or n == 0:
            continue
        order = np.argsort(-probs[:, c], kind="stable")
        p_sorted = probs[order, c]
        tp = np.cumsum(gold[order, c])
        predicted = np.arange(1, n + 1)
        last_of_value = np.r_[p_sorted[1:] != p_sorted[:-1], True]  # a cut must take every row of a tied probability
        f1 = np.where(last_of_value, 2 * tp / (predicted + positives), -1.0)
        i = int(np.argmax(f1))  # first (highest threshold) among equal F1
        thresholds[c], best[c] = float(p_sorted[i]), float(f1[i])
    return thresholds, best


def tune_thresholds(
    predictor: InferenceLayer,
    validation: EvalSet,
    *,
    label_mapping: Mapping[str, str] | None = None,
    evaluation: EvalSet | None = None,
    progress: Progress | None = None,
) -> Thresholds:
    """Each label's F1-best threshold on `validation` (scored through the inference layer).

    Refuses when `validation` is the evaluation data itself (same file and columns, or the same inputs): thresholds
    tuned on the data they are judged on make every number optimistic.
    """
    if evaluation is not None and (
        validation.fingerprint == evaluation.fingerprint or sorted(map(str, validation.inputs)) == sorted(map(str, evaluation.inputs))
    ):
        raise DataError(
            f"The validation file '{validation.name}' holds the same examples as the evaluation data. Thresholds tuned on the "
            "evaluation data make its numbers optimistic: tune them on a separate validation split."
        )
    gold = align_labels(validation, predictor.labels, label_mapping, multi_label=True)
    probs = predictor.predict_proba(validation.inputs, progress=progress)
    values, _ = best_f1_thresholds(probs, gold)
    return Thresholds(tuple(predictor.labels), tuple(float(v) for v in values), f"tuned on {validation.name} (F1-best per label)")


def thresholds_json(thresholds: Thresholds) -> str:
    """The thresholds as a JSON file `parse_thresholds` reads back."""
    return json.dumps(thresholds.as_dict(), indent=2)
