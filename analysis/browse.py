"""Browsing examples (the Explore page's logic): filters, orderings, the example a link or demo opens on.

Pure functions on a `PredictionTable`; rows are always identified by their *example id*, the
row position in the evaluation set, which is also what shareable links (`?example=12`) carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.predictions import PredictionTable
from analysis.slices import keyword_mask, searchable_texts

ORDERS = {
    "file": "as in the file",
    "mistakes": "mistakes first, most confident first",
    "uncertain": "least confident first",
    "confident": "most confident first",
}


@dataclass(frozen=True)
class ExampleFilter:
    """What the user narrowed the table to. Empty label tuples mean "any label".

    `gold` / `pred`: rows whose gold / predicted label is one of these (multi-label: whose set includes one of them).
    `missed`: rows where one of these labels is gold but not predicted; `false_positive`: predicted but not gold.
    """

    gold: tuple[str, ...] = ()
    pred: tuple[str, ...] = ()
    correct: bool | None = None  # True = only correct, False = only mistakes
    confidence: tuple[float, float] = (0.0, 1.0)
    search: str = ""  # case-insensitive substring of the text (of either text of a pair)
    missed: tuple[str, ...] = ()
    false_positive: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return self == ExampleFilter()

    def describe(self) -> str:
        parts = []
        if self.gold:
            parts.append("gold " + " or ".join(self.gold))
        if self.pred:
            parts.append("predicted " + " or ".join(self.pred))
        if self.missed:
            parts.append("missed " + " or ".join(self.missed))
        if self.false_positive:
            parts.append("false positive " + " or ".join(self.false_positive))
        if self.correct is not None:
            parts.append("correct only" if self.correct else "mistakes only")
        lo, hi = self.confidence
        if lo > 0 or hi < 1:
            parts.append(f"confidence {lo:.0%}–{hi:.0%}")
        if self.search.strip():
            parts.append(f'text contains "{self.search.strip()}"')
        return "; ".join(parts) if parts else "all examples"


def _any_of(matrix: np.ndarray, labels: Sequence[str], chosen: Sequence[str]) -> np.ndarray:
    columns = [i for i, label in enumerate(labels) if label in chosen]
    return np.asarray(matrix[:, columns].any(axis=1), dtype=bool)


def filter_mask(table: PredictionTable, flt: ExampleFilter) -> np.ndarray:
    frame = table.frame
    mask = np.ones(len(frame), dtype=bool)
    if table.multi_label:  # the frame's gold/pred are joined tag sets: ask the matrices
        if flt.gold:
            mask &= _any_of(table.gold_matrix, table.labels, flt.gold)
        if flt.pred:
            mask &= _any_of(table.pred_matrix, table.labels, flt.pred)
    else:
        if flt.gold:
            mask &= frame["gold"].isin(flt.gold).to_numpy()
        if flt.pred:
            mask &= frame["pred"].isin(flt.pred).to_numpy()
    if flt.missed:
        mask &= _any_of(table.gold_matrix & ~table.pred_matrix, table.labels, flt.missed)
    if flt.false_positive:
        mask &= _any_of(table.pred_matrix & ~table.gold_matrix, table.labels, flt.false_positive)
    if flt.correct is not None:
        mask &= frame["correct"].to_numpy(dtype=bool) == flt.correct
    lo, hi = flt.confidence
    confidence = frame["confidence"].to_numpy(dtype=float)
    mask &= (confidence >= lo - 1e-9) & (confidence <= hi + 1e-9)
    if flt.search.strip():
        mask &= keyword_mask(searchable_texts(frame), flt.search, whole_word=False)
    return mask


def browse_examples(table: PredictionTable, flt: ExampleFilter = ExampleFilter(), order: str = "file") -> pd.DataFrame:
    """The rows to show, index = example id: text (and text_pair for pairs), gold, pred, confidence, correct, then metadata."""
    if order not in ORDERS:
        raise KeyError(f"Unknown order '{order}'. Choose one of: {', '.join(ORDERS)}.")
    frame = table.frame
    columns = ["text", *(["text_pair"] if table.pair else []), "gold", "pred", "confidence", "correct", *table.metadata]
    mask = filter_mask(table, flt)
    shown = frame.loc[mask, columns].copy()
    shown.index = pd.Index(np.flatnonzero(mask), name="example")
    if order == "mistakes":
        shown = shown.sort_values(["correct", "confidence"], ascending=[True, False], kind="stable")
    elif order == "uncertain":
        shown = shown.sort_values("confidence", ascending=True, kind="stable")
    elif order == "confident":
        shown = shown.sort_values("confidence", ascending=False, kind="stable")
    return shown


def default_example(table: PredictionTable) -> int | None:
    """The example a demo opens on: the most confident mistake (the most telling one to explain).

    With no mistakes, the least confident prediction (where the model hesitates); None for an empty table.
    """
    if len(table) == 0:
        return None
    confidence = table.frame["confidence"].to_numpy(dtype=float)
    wrong = np.flatnonzero(~table.correct)
    if wrong.size:
        return int(wrong[np.argmax(confidence[wrong])])  # argmax keeps the first of ties: stable
    return int(np.argmin(confidence))


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return value[-1] if value else None
    return value


def example_from_query(value: Any, n_examples: int) -> int | None:
    """`?example=12` -> 12 when it names an existing example; anything else (junk, out of range) -> None."""
    value = _scalar(value)
    try:
        example = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return example if 0 <= example < n_examples else None


def class_from_query(value: Any, labels: Sequence[str]) -> str | None:
    """`?cls=negative` -> "negative" when it is one of `labels` (exact, then case-insensitive)."""
    value = _scalar(value)
    if value is None:
        return None
    value = str(value).strip()
    if value in labels:
        return value
    folded = {l.lower(): l for l in labels}
    return folded.get(value.lower())


def choose_example(selected: Sequence[int], from_query: int | None, fallback: int | None) -> tuple[int | None, str]:
    """Which example to show, and why: a row the user selected wins, then a link, then the demo pick.

    The table pre-selects the demo pick (so its row is highlighted); that pre-selection, reported
    back as a selection, still counts as "default" while no link names an example.
    """
    if selected and not (from_query is None and int(selected[0]) == fallback):
        return int(selected[0]), "selected"
    if from_query is not None:
        return from_query, "link"
    if fallback is not None:
        return fallback, "default"
    return None, "none"


def position_of(shown: pd.DataFrame, example: int | None) -> int | None:
    """Row position of `example` in the table as passed to `st.dataframe` (for `selection_default`)."""
    if example is None:
        return None
    positions = np.flatnonzero(shown.index.to_numpy() == example)
    return int(positions[0]) if positions.size else None
