"""Frozen result dataclasses (with their pandas frames and numpy arrays) to plain JSON and back, for the results store's
payloads (`store.results.ResultsStore.put_payload`): a gate evaluation is stored this way.

Only the classes in `CLASSES` are rebuilt (a payload names a class, it never makes one import code), fields are set as
they were written (no validation re-run, no default filled in), frames keep their columns, index and dtypes, arrays their
dtype and shape. Objects the caller already holds and keys the payload by (the policy, the training data) are written as
`{"__external__": name}` and given back by the caller on decoding. Anything else raises `CodecError`: the caller then
does not store the result rather than store it half. Standard library, numpy and pandas only.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

CLASSES = frozenset(
    {
        "store.gates.GateReport",
        "store.gates.GateResult",
        "store.gates.Evidence",
        "analysis.metrics.Metrics",
        "analysis.metrics.MultiLabelMetrics",
        "analysis.metrics.Calibration",
        "analysis.compare.Comparison",
        "analysis.compare.Paired",
        "analysis.stats.McNemar",
        "analysis.thresholds.Thresholds",
        "explain.attribution.Attribution",
        "explain.attribution.Token",
        "quality.assess.DataQuality",
        "quality.leakage.Leakage",
        "quality.leakage.CleanMetrics",
        "quality.drift.Drift",
        "quality.label_issues.LabelIssues",
        "privacy.pii.PiiScan",
        "privacy.pii.ColumnScan",
        "privacy.pii.PiiExample",
    }
)


class CodecError(TypeError):
    """A value this codec does not write or read (an unlisted class, a damaged payload)."""


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _array(values: np.ndarray) -> dict:
    if values.dtype.kind in "biuf":
        flat = values.ravel().tolist()  # plain ints and floats: JSON as they are, but for NaN and infinities
        finite = values.dtype.kind != "f" or bool(np.isfinite(values).all())
        return {"__nd__": values.dtype.str, "shape": list(values.shape), "data": flat if finite else [encode(v) for v in flat]}
    if values.dtype.kind == "M":
        return {"__nd__": values.dtype.str, "shape": list(values.shape), "data": values.astype("int64").ravel().tolist()}
    return {"__nd__": "object" if values.dtype.kind == "O" else values.dtype.str, "shape": list(values.shape), "data": [encode(v) for v in values.ravel()]}


def _frame(frame: pd.DataFrame) -> dict:
    if isinstance(frame.columns, pd.MultiIndex) or isinstance(frame.index, pd.MultiIndex):
        raise CodecError("a frame with a MultiIndex")
    return {
        "__df__": [encode(c) for c in frame.columns],
        "columns_name": encode(frame.columns.name),
        "columns_dtype": str(frame.columns.dtype),
        "index_dtype": str(frame.index.dtype),
        "index": encode(frame.index.to_numpy()),
        "index_name": encode(frame.index.name),
        "range_index": isinstance(frame.index, pd.RangeIndex),
        "dtypes": [str(t) for t in frame.dtypes],
        "data": [encode(frame.iloc[:, i].to_numpy()) for i in range(frame.shape[1])],
    }


def encode(value: Any, externals: Mapping[str, Any] | None = None) -> Any:
    """`value` as JSON-ready data; an object that `externals` holds (by identity) is written by its name there."""
    for name, held in (externals or {}).items():
        if value is held and held is not None:
            return {"__external__": name}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else {"__float__": repr(float(value))}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, externals) for v in value]}
    if isinstance(value, list):
        return [encode(v, externals) for v in value]
    if isinstance(value, Mapping):
        return {"__map__": [[encode(k, externals), encode(v, externals)] for k, v in value.items()]}
    if isinstance(value, (set, frozenset)):
        return {"__set__": [encode(v, externals) for v in sorted(value, key=repr)], "frozen": isinstance(value, frozenset)}
    if isinstance(value, PurePath):
        return {"__path__": str(value)}
    if isinstance(value, np.ndarray):
        return _array(value)
    if isinstance(value, pd.DataFrame):
        return _frame(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = _name(type(value))
        if name not in CLASSES:
            raise CodecError(f"cannot store a {name}")
        return {"__dc__": name, "fields": {f.name: encode(getattr(value, f.name), externals) for f in dataclasses.fields(value)}}
    raise CodecError(f"cannot store a {type(value).__module__}.{type(value).__qualname__}")


def _class(name: str) -> type:
    if name not in CLASSES:
        raise CodecError(f"the payload names {name!r}, which is not a stored result type")
    module, _, qualname = name.rpartition(".")
    return getattr(importlib.import_module(module), qualname)


def decode(data: Any, externals: Mapping[str, Any] | None = None) -> Any:
    """What `encode` wrote, rebuilt; `externals` gives the objects written by name."""
    if isinstance(data, list):
        return [decode(v, externals) for v in data]
    if not isinstance(data, dict):
        return data
    if "__external__" in data:
        if externals is None or data["__external__"] not in externals:
            raise CodecError(f"the payload needs {data['__external__']!r}, which was not given")
        return externals[data["__external__"]]
    if "__float__" in data:
        return float(data["__float__"])
    if "__tuple__" in data:
        return tuple(decode(v, externals) for v in data["__tuple__"])
    if "__map__" in data:
        return {_hashable(decode(k, externals)): decode(v, externals) for k, v in data["__map__"]}
    if "__set__" in data:
        items = {_hashable(decode(v, externals)) for v in data["__set__"]}
        return frozenset(items) if data["frozen"] else items
    if "__path__" in data:
        from pathlib import Path

        return Path(data["__path__"])
    if "__nd__" in data:
        dtype = np.dtype(object) if data["__nd__"] == "object" else np.dtype(data["__nd__"])
        values = [decode(v, externals) for v in data["data"]]
        if dtype.kind == "M":
            return np.asarray(values, dtype="int64").astype(dtype).reshape(data["shape"])
        if dtype.kind == "O":
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out.reshape(data["shape"])
        return np.asarray(values, dtype=dtype).reshape(data["shape"])
    if "__df__" in data:
        columns = [decode(c, externals) for c in data["__df__"]]
        index_values = decode(data["index"], externals)
        index = pd.RangeIndex(len(index_values)) if data["range_index"] else pd.Index(index_values, dtype=data["index_dtype"])
        index.name = decode(data["index_name"], externals)
        frame = pd.DataFrame({i: pd.Series(decode(v, externals), index=index) for i, v in enumerate(data["data"])}, index=index)
        frame.columns = pd.Index(columns, name=decode(data["columns_name"], externals), dtype=data["columns_dtype"])
        return frame.astype(dict(zip(frame.columns, data["dtypes"]))) if columns else frame
    if "__dc__" in data:
        cls = _class(data["__dc__"])
        obj: Any = object.__new__(cls)
        for name, value in data["fields"].items():
            object.__setattr__(obj, name, decode(value, externals))
        return obj
    raise CodecError(f"unknown payload object with keys {sorted(data)[:5]}")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
