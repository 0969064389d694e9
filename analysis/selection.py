"""Map Streamlit selection events to examples — pure functions, tested without a browser.

`st.plotly_chart(fig, on_select="rerun")` returns `{"selection": {"points": [{"customdata": [...], "point_index": i, ...}],
"point_indices": [...], "box": [], "lasso": []}}`; `st.dataframe(df, on_select="rerun")` returns
`{"selection": {"rows": [positions], "columns": [...], "cells": [...]}}`, where row positions refer to
the dataframe as passed (they survive the user sorting it in the browser). Both are dict-like with
attribute access; these functions accept either, plus None for "no event yet".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

Cell = tuple[str, str]  # (gold label, predicted label)


def _get(obj: Any, key: str, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    try:
        return obj[key]
    except (KeyError, TypeError, IndexError):
        return getattr(obj, key, default)


def selection_of(event: Any) -> Any:
    """The `selection` part of an event (or the event itself if it already is one)."""
    inner = _get(event, "selection")
    return inner if inner is not None else event


def selected_points(event: Any) -> list[dict]:
    """The clicked/boxed/lassoed Plotly points (possibly empty)."""
    return list(_get(selection_of(event), "points", []) or [])


def selected_customdata(event: Any, curve: int | None = None) -> list[list]:
    """`customdata` of each selected point, in selection order (optionally from one trace only)."""
    out = []
    for point in selected_points(event):
        if curve is not None and _get(point, "curve_number", 0) != curve:
            continue
        data = _get(point, "customdata")
        if data is None:
            continue
        out.append(list(data) if isinstance(data, (list, tuple, np.ndarray)) else [data])
    return out


def selected_cells(event: Any, labels: Sequence[str] | None = None) -> list[Cell]:
    """Confusion-matrix cells (gold, predicted) picked in a `confusion_matrix_figure` chart, duplicates removed.

    Falls back to the point's y (gold) and x (predicted) when customdata is missing. Cells naming a
    label outside `labels` (a stale event after the checkpoint changed) are dropped.
    """
    cells: list[Cell] = []
    for point in selected_points(event):
        data = _get(point, "customdata")
        if data is not None and len(data) >= 2:
            cell = (str(data[0]), str(data[1]))
        elif _get(point, "x") is not None and _get(point, "y") is not None:
            cell = (str(_get(point, "y")), str(_get(point, "x")))
        else:
            continue
        if labels is not None and (cell[0] not in labels or cell[1] not in labels):
            continue
        if cell not in cells:
            cells.append(cell)
    return cells


def cell_mask(gold: Sequence[str], pred: Sequence[str], cells: Iterable[Cell]) -> np.ndarray:
    """True for examples in any of the cells; an empty selection means every example."""
    gold_values = np.asarray(gold, dtype=object)
    pred_values = np.asarray(pred, dtype=object)
    cells = list(cells)
    if not cells:
        return np.ones(len(gold_values), dtype=bool)
    mask = np.zeros(len(gold_values), dtype=bool)
    for g, p in cells:
        mask |= (gold_values == g) & (pred_values == p)
    return mask


def describe_cells(cells: Sequence[Cell]) -> str:
    if not cells:
        return "all examples"
    parts = [f"gold {g} → predicted {p}" if g != p else f"{g} predicted correctly" for g, p in cells]
    return "; ".join(parts)


def selected_rows(event: Any) -> list[int]:
    """Row positions selected in an `st.dataframe(on_select=...)` (positions in the frame as passed)."""
    rows = _get(selection_of(event), "rows", []) or []
    return [int(r) for r in rows]


def selected_index(event: Any, shown: pd.DataFrame | pd.Index) -> list:
    """Index labels (e.g. example ids) of the rows selected in the dataframe `shown`; out-of-range positions dropped."""
    index = shown if isinstance(shown, pd.Index) else shown.index
    return [index[r] for r in selected_rows(event) if 0 <= r < len(index)]


def selected_slice_rows(event: Any) -> list[int]:
    """Row positions (in the slice table) of bars clicked in a `slice_accuracy_figure` (customdata[0])."""
    out = []
    for data in selected_customdata(event):
        try:
            row = int(float(data[0]))
        except (TypeError, ValueError):
            continue
        if row not in out:
            out.append(row)
    return out
