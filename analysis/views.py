"""What the Overview and Errors pages show, as plain data (frozen dataclasses and frames), built without Streamlit.

Each page calls one function here and lays its result out; the numbers come from analysis.metrics, analysis.slices
and analysis.compare, so a page never computes them itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.browse import ExampleFilter, browse_examples
from analysis.compare import macro_f1_interval
from analysis.metrics import Calibration, Metrics, classification_metrics, confusion, table_calibration
from analysis.predictions import PredictionTable
from analysis.slices import confident_mistakes, wilson_interval

HIGH_CONFIDENCE = 0.9  # a mistake at or above this confidence is a "confident mistake"


# --- Overview -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Headline:
    """One checkpoint's headline numbers with 95% intervals (accuracy: Wilson; macro-F1: 2,000 bootstrap resamples)."""

    metrics: Metrics
    accuracy_ci: tuple[float, float]
    macro_f1_ci: tuple[float, float]


def headline(table: PredictionTable) -> Headline:
    metrics = classification_metrics(table.gold_idx, table.pred_idx, table.labels)
    lo, hi = wilson_interval(int(np.sum(table.correct)), len(table))
    return Headline(metrics, (float(lo), float(hi)), tuple(float(x) for x in macro_f1_interval(table.gold_idx, table.pred_idx, len(table.labels))))


@dataclass(frozen=True)
class ClassBalance:
    """Gold counts per label, and each checkpoint's predicted counts per label."""

    labels: tuple[str, ...]
    gold: np.ndarray
    predicted: dict[str, np.ndarray]
    truncated: int  # texts longer than the model reads


def class_balance(tables: list[PredictionTable]) -> ClassBalance:
    first = tables[0]
    n = len(first.labels)
    return ClassBalance(
        tuple(first.labels), np.bincount(first.gold_idx, minlength=n), {t.checkpoint_name: np.bincount(t.pred_idx, minlength=n) for t in tables},
        int(first.frame["truncated"].sum()),
    )


# --- Errors ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Confusion:
    gold: str
    pred: str
    count: int
    share_of_mistakes: float


@dataclass(frozen=True)
class ErrorsSummary:
    """The numbers at the top of the Errors page."""

    metrics: Metrics
    counts: np.ndarray  # confusion matrix, rows gold, columns predicted
    n_wrong: int
    confident_wrong: int  # mistakes with confidence >= HIGH_CONFIDENCE
    calibration: Calibration  # 10 bins
    top_confusion: Confusion | None  # the most frequent off-diagonal cell; None without mistakes


def errors_summary(table: PredictionTable) -> ErrorsSummary:
    labels = table.labels
    metrics = classification_metrics(table.gold_idx, table.pred_idx, labels)
    counts = confusion(table.gold_idx, table.pred_idx, labels)
    mistakes = confident_mistakes(table)
    n_wrong = len(mistakes)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    top = None
    if off.max() > 0:
        g, p = np.unravel_index(off.argmax(), off.shape)
        top = Confusion(labels[g], labels[p], int(off[g, p]), float(off[g, p] / max(n_wrong, 1)))
    return ErrorsSummary(metrics, counts, n_wrong, int((mistakes["confidence"] >= HIGH_CONFIDENCE).sum()), table_calibration(table, 10), top)


def examples_of(table: PredictionTable, mask: np.ndarray) -> pd.DataFrame:
    """Rows of `table` under `mask` as the Errors page lists them (index = example number): the mistakes first, most
    confident first (as `confident_mistakes` orders them), then the correct rows, most confident first.

    Columns: text, gold, pred, confidence, p_gold (the probability given to the gold label), correct, then metadata.
    """
    mask = np.asarray(mask, dtype=bool)
    wrong = confident_mistakes(table)
    wrong = wrong[mask[wrong.index.to_numpy()]]
    wrong.insert(5, "correct", np.zeros(len(wrong), dtype=bool))
    right = browse_examples(table, ExampleFilter(correct=True), order="confident")
    right = right[mask[right.index.to_numpy()]]
    rows = right.index.to_numpy()
    right.insert(4, "p_gold", table.probs[rows, table.gold_idx[rows]].astype(float))
    return pd.concat([wrong, right]) if len(right) and len(wrong) else (wrong if len(wrong) else right)


# --- flips (Sign-off) -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlipSummary:
    """How the candidate changed the baseline's predictions: counts, and the first few examples it broke (index = example)."""

    fixed: int
    broken: int
    first_broken: pd.DataFrame


def flip_summary(baseline: PredictionTable, candidate: PredictionTable, show: int = 5) -> FlipSummary:
    from analysis.compare import flipped_examples

    flips = flipped_examples(baseline, candidate)
    broken = flips[flips["status"] == "broken"]
    return FlipSummary(int((flips["status"] == "fixed").sum()), len(broken), broken.head(show))


# --- Explore --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExploreListing:
    """The filtered table, the example a link (`?example=`) names, the example a demo opens on, and the row to preselect."""

    shown: pd.DataFrame
    from_query: int | None
    fallback: int | None
    position: int | None  # row of `shown` to preselect; None when the preselected example is filtered out


def explore_listing(table: PredictionTable, flt, order: str, query_example) -> ExploreListing:
    from analysis.browse import default_example, example_from_query, position_of

    shown = browse_examples(table, flt, order)
    from_query = example_from_query(query_example, len(table))
    fallback = default_example(table)
    return ExploreListing(shown, from_query, fallback, position_of(shown, from_query if from_query is not None else fallback))


# --- Compare --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompareVerdict:
    """The sentence under Compare's headline and its tone: 'success' (significantly better), 'error' (significantly worse), 'info'."""

    text: str
    tone: str


def compare_verdict(comp, alpha: float = 0.05) -> CompareVerdict:
    from analysis.compare import describe_comparison, describe_mcnemar

    text = describe_comparison(comp) + " " + describe_mcnemar(comp.mcnemar, comp.before_name, comp.after_name)
    if comp.mcnemar.p_value < alpha:
        return CompareVerdict(text, "success" if comp.mcnemar.fixed > comp.mcnemar.broken else "error")
    return CompareVerdict(text, "info")


def per_class_changes(comp) -> pd.DataFrame:
    """Compare's per-class table: flags, F1 before/after and the changes in percentage points."""
    pc = comp.per_class
    return pd.DataFrame(
        {
            "Class": pc.index,
            "Flag": ["⚠ clearly worse" if cw else "⚠ worse" if w else "" for w, cw in zip(pc["worse"], pc["clearly_worse"])],
            "Examples": pc["support"].to_numpy(),
            "F1 before": pc["f1_before"].to_numpy(),
            "F1 after": pc["f1_after"].to_numpy(),
            "F1 change": pc["f1_delta"].to_numpy() * 100,
            "95% interval": [f"{lo * 100:+.1f} to {hi * 100:+.1f}" for lo, hi in zip(pc["f1_ci_low"], pc["f1_ci_high"])],
            "Precision change": pc["precision_delta"].to_numpy() * 100,
            "Recall change": pc["recall_delta"].to_numpy() * 100,
        }
    )
