"""What changed between how two checkpoints were trained: a pure diff of two provenance records.

Input is the JSON object of `provenance.json` (see `training.provenance`), or None when a
checkpoint has no provenance. The result is a table a person can read, one row per setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

# (row label, how to read it from a provenance record)
_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("How it was trained", ("method",)),
    ("Learning rate", ("hyperparameters", "learning_rate")),
    ("Epochs", ("hyperparameters", "epochs")),
    ("Batch size", ("hyperparameters", "batch_size")),
    ("Weight decay", ("hyperparameters", "weight_decay")),
    ("Warm-up ratio", ("hyperparameters", "warmup_ratio")),
    ("Max tokens", ("hyperparameters", "max_length")),
    ("Seed", ("hyperparameters", "seed")),
    ("Trainable", ("hyperparameters", "trainable")),
    ("Base checkpoint", ("base", "name")),
    ("Base fingerprint", ("base", "fingerprint")),
    ("Classification head", ("base", "head")),
    ("Training data", ("data", "name")),
    ("Data fingerprint", ("data", "fingerprint")),
    ("Training examples", ("split", "train_rows")),
    ("Validation examples", ("split", "validation_rows_count")),
    ("Validation metric", ("metric",)),
    ("Validation score", ("best", "value")),
    ("Trials", ("trials",)),
    ("Wall time (s)", ("wall_seconds",)),
)
_FINGERPRINTS = {"Base fingerprint", "Data fingerprint"}


def _get(record: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _display(label: str, value: Any) -> str:
    if value is None:
        return "—"
    if label == "Trials":
        return str(len(value)) if value else "no search"
    if label in _FINGERPRINTS:
        return str(value)[:12]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if label == "Learning rate":
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def diff_hyperparameters(
    first: Mapping[str, Any] | None,
    second: Mapping[str, Any] | None,
    names: tuple[str, str] = ("before", "after"),
    *,
    only_changed: bool = False,
) -> pd.DataFrame:
    """Rows: setting, value under `names[0]`, value under `names[1]`, changed (bool).

    Values are display strings ("—" where a record does not say). A setting neither record
    mentions is left out. "Validation score" falls back to the single run's validation metric.
    """
    if names[0] == names[1]:
        names = (f"{names[0]} (1)", f"{names[1]} (2)")
    rows = []
    for label, path in _ROWS:
        a, b = _get(first, path), _get(second, path)
        if label == "Validation score":
            a = a if a is not None else _get(first, ("validation", str(_get(first, ("metric",)))))
            b = b if b is not None else _get(second, ("validation", str(_get(second, ("metric",)))))
        if a is None and b is None:
            continue
        rows.append(
            {
                "setting": label,
                names[0]: _display(label, a),
                names[1]: _display(label, b),
                "changed": not _same(a, b) if label != "Trials" else len(a or []) != len(b or []),
            }
        )
    frame = pd.DataFrame(rows, columns=["setting", names[0], names[1], "changed"])
    if only_changed:
        frame = frame[frame["changed"]].reset_index(drop=True)
    return frame
