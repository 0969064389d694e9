"""What the Overview and Errors pages show, as plain data (frozen dataclasses and frames), built without Streamlit.

Each page calls one function here and lays its result out; the numbers come from analysis.metrics, analysis.slices
and analysis.compare, so a page never computes them itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.attribution_diff import attribution_change, biggest_changes, describe_change
from analysis.browse import ExampleFilter, browse_examples
from analysis.compare import macro_f1_interval
from analysis.metrics import (
    Calibration,
    CoOccurrence,
    Metrics,
    MultiLabelCalibration,
    MultiLabelMetrics,
    classification_metrics,
    confusion,
    label_cooccurrence,
    label_outcomes,
    multi_label_intervals,
    table_calibration,
    table_metrics,
)
from analysis.predictions import PredictionTable, join_tags
from analysis.selection import cell_mask, describe_cells
from analysis.slices import confident_mistakes, mistake_columns
from analysis.stats import wilson_interval
from runtime.escaping import md

HIGH_CONFIDENCE = 0.9  # a mistake at or above this confidence is a "confident mistake"


# --- Overview -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One checkpoint's headline numbers with 95% intervals (accuracy: Wilson; macro-F1: 2,000 bootstrap resamples).

    Multi-label (`metrics` is a `MultiLabelMetrics`): `accuracy_ci` is subset accuracy's (Wilson), `intervals` holds the
    bootstrap intervals of micro_f1, macro_f1, samples_f1 and hamming_loss, `per_label` the per-label table with each
    label's threshold, and `thresholds` says where the thresholds came from.
    """

    metrics: Metrics
    accuracy_ci: tuple[float, float]
    macro_f1_ci: tuple[float, float]
    intervals: dict[str, tuple[float, float]] | None = None
    per_label: pd.DataFrame | None = None
    thresholds: str = ""

    @property
    def multi_label(self) -> bool:
        return self.intervals is not None

    @property
    def multi(self) -> MultiLabelMetrics | None:
        """`metrics` as multi-label metrics, None for a single-label table."""
        return self.metrics if isinstance(self.metrics, MultiLabelMetrics) else None


def headline(table: PredictionTable) -> Headline:
    metrics = table_metrics(table)
    lo, hi = wilson_interval(int(np.sum(table.correct)), len(table))
    if not table.multi_label:
        f1_lo, f1_hi = macro_f1_interval(table.gold_idx, table.pred_idx, len(table.labels))
        return Headline(metrics, (float(lo), float(hi)), (float(f1_lo), float(f1_hi)))
    intervals = multi_label_intervals(table.gold_matrix, table.pred_matrix)
    thresholds = table.thresholds
    per_label = metrics.per_class.copy()
    per_label.insert(0, "threshold", thresholds.array if thresholds is not None else np.full(len(table.labels), np.nan))
    return Headline(
        metrics, (float(lo), float(hi)), intervals["macro_f1"], intervals, per_label, f"thresholds: {thresholds.source if thresholds else 'default'}"
    )


@dataclass(frozen=True)
class ClassBalance:
    """Gold counts per label, and each checkpoint's predicted counts per label."""

    labels: tuple[str, ...]
    gold: np.ndarray
    predicted: dict[str, np.ndarray]
    truncated: int  # texts longer than the model reads

    @property
    def predicted_counts(self) -> dict[str, list[int]]:
        """`predicted` as plain lists, as the class-balance figure takes them."""
        return {name: [int(c) for c in counts] for name, counts in self.predicted.items()}


def class_balance(tables: list[PredictionTable]) -> ClassBalance:
    """Rows per label (multi-label: rows whose gold / predicted set includes the label, so counts may sum past the rows)."""
    first = tables[0]
    return ClassBalance(
        tuple(first.labels),
        first.gold_matrix.sum(axis=0),
        {t.checkpoint_name: t.pred_matrix.sum(axis=0) for t in tables},
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
    """The numbers at the top of the Errors page.

    Multi-label: `metrics` is a `MultiLabelMetrics`, `counts` is `label_outcomes` (tp, fp, fn, tn per label) instead of
    a confusion matrix, a mistake is a row whose predicted set is not the gold set (confidence: the predicted set's
    probability), `calibration` is a `MultiLabelCalibration`, `top_confusion` is None and `cooccurrence` is filled.
    """

    metrics: Metrics
    counts: np.ndarray  # confusion matrix, rows gold, columns predicted
    n_wrong: int
    confident_wrong: int  # mistakes with confidence >= HIGH_CONFIDENCE
    calibration: Calibration  # 10 bins
    top_confusion: Confusion | None  # the most frequent off-diagonal cell; None without mistakes
    outcomes: pd.DataFrame | None = None  # multi-label: label_outcomes
    cooccurrence: CoOccurrence | None = None  # multi-label

    @property
    def multi_label(self) -> bool:
        return self.outcomes is not None


def errors_summary(table: PredictionTable) -> ErrorsSummary:
    labels = table.labels
    mistakes = confident_mistakes(table)
    n_wrong = len(mistakes)
    confident_wrong = int((mistakes["confidence"] >= HIGH_CONFIDENCE).sum())
    if table.multi_label:
        outcomes = label_outcomes(table)
        return ErrorsSummary(
            table_metrics(table), outcomes.to_numpy(), n_wrong, confident_wrong, table_calibration(table, 10), None, outcomes, label_cooccurrence(table)
        )
    metrics = classification_metrics(table.gold_idx, table.pred_idx, labels)
    counts = confusion(table.gold_idx, table.pred_idx, labels)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    top = None
    if off.max() > 0:
        g, p = np.unravel_index(off.argmax(), off.shape)
        top = Confusion(labels[g], labels[p], int(off[g, p]), float(off[g, p] / max(n_wrong, 1)))
    return ErrorsSummary(metrics, counts, n_wrong, confident_wrong, table_calibration(table, 10), top)


def examples_of(table: PredictionTable, mask: np.ndarray) -> pd.DataFrame:
    """Rows of `table` under `mask` as the Errors page lists them (index = example number): the mistakes first, most
    confident first (as `confident_mistakes` orders them), then the correct rows, most confident first.

    Columns: text (and text_pair), gold, pred, confidence, p_gold (the probability given to the gold label; multi-label:
    to the gold set, then missed and false_positive), correct, then metadata.
    """
    mask = np.asarray(mask, dtype=bool)
    wrong = confident_mistakes(table)
    wrong = wrong[mask[wrong.index.to_numpy()]]
    right = browse_examples(table, ExampleFilter(correct=True), order="confident")
    right = right[mask[right.index.to_numpy()]]
    added = mistake_columns(table, right.index.to_numpy())
    at = right.columns.get_loc("confidence") + 1
    for offset, (column, values) in enumerate(added.items()):
        right.insert(at + offset, column, values)
    wrong.insert(at + len(added), "correct", np.zeros(len(wrong), dtype=bool))
    return pd.concat([wrong, right]) if len(right) and len(wrong) else (wrong if len(wrong) else right)


ALL_MISTAKES = "All mistakes, most confident first"
ALL_EXAMPLES = "All examples"


def cell_options(labels, counts: np.ndarray) -> list[str]:
    """The Errors page's 'Show' choices: all mistakes, all examples, then each 'gold → predicted' pair with an example."""
    n = len(labels)
    return [ALL_MISTAKES, ALL_EXAMPLES] + [f"{labels[g]} → {labels[p]}" for g in range(n) for p in range(n) if counts[g, p] > 0]


def cell_selection(table: PredictionTable, clicked: list[tuple[str, str]], picked: str) -> tuple[np.ndarray, str]:
    """Which rows the confusion-matrix panel lists, and its heading: the clicked cells win over the 'Show' choice."""
    if clicked:
        return cell_mask(table.frame["gold"], table.frame["pred"], clicked), f"Clicked: {describe_cells(clicked)}"
    if picked == ALL_EXAMPLES:
        return np.ones(len(table), dtype=bool), "All examples, mistakes first"
    if picked == ALL_MISTAKES:
        return ~np.asarray(table.correct, dtype=bool), "All mistakes, most confident first"
    gold, pred = picked.split(" → ")
    return cell_mask(table.frame["gold"], table.frame["pred"], [(gold, pred)]), f"Gold {gold}, predicted {pred}"


def example_probabilities(table: PredictionTable, example: int) -> pd.DataFrame:
    """label, probability: what the model gave each class for one example.

    Multi-label adds each label's threshold, whether it is predicted (probability at or above the threshold) and gold."""
    frame = pd.DataFrame({"label": table.labels, "probability": table.probs[example].astype(float)})
    if table.multi_label and table.thresholds is not None:
        frame["threshold"] = table.thresholds.array
        frame["predicted"] = table.pred_matrix[example]
        frame["gold"] = table.gold_matrix[example]
    return frame


# --- Errors: multi-label, one label at a time -----------------------------------------------------------------------


@dataclass(frozen=True)
class LabelOutcome:
    """One label's decisions as a 2x2 the confusion-matrix figure draws: rows gold, columns predicted, in the order
    (label, "not label"); the diagonal is right. counts = [[tp, fn], [fp, tn]]."""

    label: str
    names: tuple[str, str]
    counts: np.ndarray

    @property
    def tp(self) -> int:
        return int(self.counts[0, 0])

    @property
    def fn(self) -> int:
        return int(self.counts[0, 1])

    @property
    def fp(self) -> int:
        return int(self.counts[1, 0])

    @property
    def tn(self) -> int:
        return int(self.counts[1, 1])


def label_outcome(summary: ErrorsSummary, label: str) -> LabelOutcome:
    if summary.outcomes is None:
        raise TypeError("label_outcome is for multi-label tables")
    row = summary.outcomes.loc[label]
    return LabelOutcome(label, (label, f"not {label}"), np.array([[row["tp"], row["fn"]], [row["fp"], row["tn"]]], dtype=int))


def _outcome_cells(outcome: LabelOutcome) -> dict[str, tuple[str, str]]:
    have, lack = outcome.names
    counts = {"missed": outcome.fn, "false positive": outcome.fp, "found": outcome.tp, "rightly absent": outcome.tn}
    cells = {"missed": (have, lack), "false positive": (lack, have), "found": (have, have), "rightly absent": (lack, lack)}
    return {f"{outcome.label}: {what} ({counts[what]:,})": cell for what, cell in cells.items() if counts[what]}


def label_cell_options(outcome: LabelOutcome) -> list[str]:
    """The Errors page's 'Show' choices for a multi-label table: all mistakes, all examples, then each non-empty cell of
    the chosen label's 2x2 (missed, false positive, found, rightly absent)."""
    return [ALL_MISTAKES, ALL_EXAMPLES, *_outcome_cells(outcome)]


def label_cell_selection(table: PredictionTable, outcome: LabelOutcome, clicked: list[tuple[str, str]], picked: str) -> tuple[np.ndarray, str]:
    """Which rows the 2x2 panel lists, and its heading: clicked cells of the 2x2 win over the 'Show' choice."""
    column = table.labels.index(outcome.label)
    has_gold, has_pred = table.gold_matrix[:, column], table.pred_matrix[:, column]
    cells = clicked or ([_outcome_cells(outcome)[picked]] if picked in _outcome_cells(outcome) else [])
    if not cells:
        if picked == ALL_EXAMPLES:
            return np.ones(len(table), dtype=bool), "All examples, mistakes first"
        return ~np.asarray(table.correct, dtype=bool), "All mistakes (the predicted set is not the gold set), most confident first"
    mask = np.zeros(len(table), dtype=bool)
    for gold, pred in cells:
        mask |= (has_gold == (gold == outcome.label)) & (has_pred == (pred == outcome.label))
    return mask, ("Clicked: " if clicked else "") + describe_cells(cells)


@dataclass(frozen=True)
class CoOccurrenceView:
    """The Errors page's co-occurrence panel: the matrices and, for each, the most frequent pairs in words."""

    cooccurrence: CoOccurrence
    predicted_pairs: tuple[str, ...]
    missed_pairs: tuple[str, ...]


def cooccurrence_view(summary: ErrorsSummary, limit: int = 5) -> CoOccurrenceView:
    co = summary.cooccurrence
    if co is None:
        raise TypeError("cooccurrence_view is for multi-label tables")

    def lines(which: str, verb: str) -> tuple[str, ...]:
        return tuple(
            f"{md(r.first)} and {md(r.second)}: {verb} together in {r.rows:,} example{'s' * (r.rows != 1)}" for r in co.pairs(which, limit).itertuples()
        )

    return CoOccurrenceView(co, lines("predicted", "predicted"), lines("missed", "missed"))


@dataclass(frozen=True)
class CalibrationView:
    """Errors' calibration panel: the calibration to draw, the sentence about it, its bins as shown, and (multi-label) the
    per-label ECE table and the label drawn."""

    calibration: Calibration
    sentence: str  # Markdown, names escaped
    rows: pd.DataFrame
    per_label: pd.DataFrame | None = None
    label: str | None = None


def calibration_view(cal: Calibration, label: str | None = None) -> CalibrationView:
    """Single-label: `cal` itself. Multi-label (`MultiLabelCalibration`): the chosen `label`'s (default the first)."""
    from analysis.metrics import describe_calibration

    if not isinstance(cal, MultiLabelCalibration):
        return CalibrationView(cal, describe_calibration(cal), calibration_rows(cal))
    label = label if label in cal.labels else cal.labels[0]
    one = cal.of(label)
    per_label = cal.summary().reset_index().rename(columns={"label": "Label", "ece": "ECE", "max_gap": "Largest gap", "examples": "Examples"})
    return CalibrationView(one, md(describe_calibration(one, label)), calibration_rows(one), per_label, label)


def truncated_count(table: PredictionTable) -> int:
    """How many texts are longer than the model reads (only their beginning was scored)."""
    return int(table.frame["truncated"].sum())


@dataclass(frozen=True)
class SentencePrediction:
    """One checkpoint's prediction for a typed sentence (Overview's 'Try a sentence')."""

    label: str
    confidence: float
    probabilities: pd.DataFrame  # one row, a column per label


def sentence_prediction(predictor, text: str, table: PredictionTable | None = None) -> SentencePrediction:
    """Multi-label (`table` multi-label): the label is the predicted set under the table's thresholds and the confidence its probability."""
    probs = predictor.predict_proba([text])[0]
    labels = list(predictor.labels)
    if table is not None and table.multi_label:
        from analysis.predictions import predicted_sets, set_probability

        chosen = predicted_sets(probs[None, :], table.thresholds)
        said = join_tags(chosen, labels)[0] or "no label"
        return SentencePrediction(said, float(set_probability(probs[None, :].astype(np.float64), chosen)[0]), pd.DataFrame([probs], columns=labels))
    return SentencePrediction(labels[int(probs.argmax())], float(probs.max()), pd.DataFrame([probs], columns=labels))


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


PAGE_ROWS = 2_000  # rows of the Explore listing sent to the browser at once (100k rows were 24 MB per rerun; the demo fits in one)


@dataclass(frozen=True)
class ExploreListing:
    """One page of the filtered table, the example a link (`?example=`) names, the example a demo opens on, and the row
    to preselect; `total` rows pass the filter, in `pages` pages of PAGE_ROWS, `page` (0-based) is the one in `shown`."""

    shown: pd.DataFrame
    from_query: int | None
    fallback: int | None
    position: int | None  # row of `shown` to preselect; None when the preselected example is filtered out or on another page
    total: int = 0
    page: int = 0
    pages: int = 1

    def describe_page(self) -> str:
        """'' on a single page, else which rows of how many the page holds."""
        if self.pages <= 1:
            return ""
        first = self.page * PAGE_ROWS
        return f"rows {first + 1:,}–{first + len(self.shown):,} of {self.total:,} (page {self.page + 1} of {self.pages})"


def explore_listing(table: PredictionTable, flt, order: str, query_example, page: int | None = None) -> ExploreListing:
    """`page` None: the page holding the preselected example (else the first); a page out of range is clamped."""
    from analysis.browse import default_example, example_from_query, position_of

    listing = browse_examples(table, flt, order)
    from_query = example_from_query(query_example, len(table))
    fallback = default_example(table)
    wanted = position_of(listing, from_query if from_query is not None else fallback)
    pages = max(1, -(-len(listing) // PAGE_ROWS))
    if page is None:
        page = 0 if wanted is None else wanted // PAGE_ROWS
    page = min(max(int(page), 0), pages - 1)
    shown = listing.iloc[page * PAGE_ROWS : (page + 1) * PAGE_ROWS]
    position = wanted - page * PAGE_ROWS if wanted is not None and wanted // PAGE_ROWS == page else None
    return ExploreListing(shown, from_query, fallback, position, len(listing), page, pages)


# --- Compare --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareVerdict:
    """The sentence under Compare's headline and its tone: 'success' (significantly better), 'error' (significantly worse), 'info'."""

    text: str
    tone: str


def compare_verdict(comp, alpha: float = 0.05) -> CompareVerdict:
    from analysis.compare import describe_comparison, describe_mcnemar

    text = md(describe_comparison(comp) + " " + describe_mcnemar(comp.mcnemar, comp.before_name, comp.after_name))  # Markdown: names escaped
    if comp.mcnemar.p_value < alpha:
        return CompareVerdict(text, "success" if comp.mcnemar.fixed > comp.mcnemar.broken else "error")
    return CompareVerdict(text, "info")


@dataclass(frozen=True)
class HeadlineNumber:
    """One headline number as a page shows it (`st.metric`); `lower_is_better` colours a fall green."""

    label: str
    value: str
    help: str | None = None
    delta: str | None = None
    lower_is_better: bool = False


def compare_headline(comp) -> tuple[HeadlineNumber, ...]:
    """Compare's headline for the checkpoints' kind: accuracy and macro-F1 (single-label) or subset accuracy, micro- and
    macro-F1 and Hamming loss (multi-label), each with its change and the 95% paired bootstrap interval; then fixed / broken."""

    def number(metric: str, label: str, percent: bool, lower_is_better: bool = False, what: str = "") -> HeadlineNumber:
        row = comp.deltas.loc[metric]
        if percent:
            value, delta, rng = f"{row.after:.1%}", f"{row.delta * 100:+.1f} points", f"{row.ci_low * 100:+.1f} to {row.ci_high * 100:+.1f} points"
            base = f"{row.before:.1%}"
        else:
            value, delta, rng, base = f"{row.after:.3f}", f"{row.delta:+.3f}", f"{row.ci_low:+.3f} to {row.ci_high:+.3f}", f"{row.before:.3f}"
        return HeadlineNumber(f"{label} (candidate)", value, f"{what}Baseline {base}; 95% interval of the change {rng}", delta, lower_is_better)

    if comp.multi_label:
        numbers = [
            number("accuracy", "Subset accuracy", True, what="Examples whose whole set of labels is right. "),
            number("micro_f1", "Micro-F1", False, what="F1 over every (example, label) decision. "),
            number("macro_f1", "Macro-F1", False, what="F1 averaged over the labels. "),
            number("hamming_loss", "Hamming loss", False, True, "Share of wrong (example, label) decisions. "),
        ]
        right = "whole set of labels"
    else:
        numbers = [number("accuracy", "Accuracy", True), number("macro_f1", "Macro-F1", False)]
        right = "label"
    broken = comp.mcnemar.broken
    return (
        *numbers,
        HeadlineNumber("Fixed", f"{comp.mcnemar.fixed:,}", f"Wrong before, right after (the {right})"),
        HeadlineNumber("Broken", f"{broken:,}", f"Right before, wrong after (the {right})", f"{-broken:,}" if broken else None),
    )


def flip_label_options(comp) -> tuple[str, ...]:
    """Multi-label: 'every label' (flips of the whole set) then each label (`analysis.compare.label_flips`); else nothing."""
    return ("every label", *comp.labels) if comp.multi_label else ()


def explained_label(row: pd.Series, labels: Sequence[str]) -> str:
    """The label a flipped example's explanations start on: the gold label, or (multi-label) the first label that flipped."""
    for column in ("broken_labels", "fixed_labels", "gold"):
        first = str(row.get(column) or "").split(" | ")[0]
        if first in labels:
            return first
    return labels[0]


def per_class_changes(comp) -> pd.DataFrame:
    """Compare's per-class table: flags, F1 before/after and the changes in percentage points; multi-label adds each
    label's fixed / broken examples and the exact McNemar p of that label's own right-or-wrong."""
    pc = comp.per_class
    extra = {}
    if comp.multi_label:
        extra = {"Fixed": pc["fixed"].to_numpy(), "Broken": pc["broken"].to_numpy(), "McNemar p": pc["p_value"].to_numpy()}
    return pd.DataFrame(
        {
            "Label" if comp.multi_label else "Class": pc.index,
            "Flag": ["⚠ clearly worse" if cw else "⚠ worse" if w else "" for w, cw in zip(pc["worse"], pc["clearly_worse"])],
            "Examples": pc["support"].to_numpy(),
            "F1 before": pc["f1_before"].to_numpy(),
            "F1 after": pc["f1_after"].to_numpy(),
            "F1 change": pc["f1_delta"].to_numpy() * 100,
            "95% interval": [f"{lo * 100:+.1f} to {hi * 100:+.1f}" for lo, hi in zip(pc["f1_ci_low"], pc["f1_ci_high"])],
            "Precision change": pc["precision_delta"].to_numpy() * 100,
            "Recall change": pc["recall_delta"].to_numpy() * 100,
            **extra,
        }
    )


# --- Errors: slices and calibration ---------------------------------------------------------------------------------

TOP_VALUES = 40  # categorical slices: this many most frequent values, the rest pooled (a bad value must not hide in "other")


@dataclass(frozen=True)
class ErrorSlices:
    """One set of slices of a prediction table, as the Errors page shows them.

    `rows` is `analysis.slices.slice_table`'s frame (one row per slice) and `members` the example indices of each; `display`
    is the table a person reads; `clearly_worse` describes the slices whose whole 95% range lies below `overall`.
    """

    rows: pd.DataFrame
    members: tuple[np.ndarray, ...]
    display: pd.DataFrame
    overall: float
    clearly_worse: tuple[str, ...]

    def redacted(self) -> ErrorSlices:
        """The same slices for display with personal data in slice names masked (`privacy.redact`); counts unchanged."""
        from dataclasses import replace

        from privacy.redact import redact, redact_frame

        return replace(
            self,
            rows=redact_frame(self.rows, ["slice"]),
            display=redact_frame(self.display),
            clearly_worse=tuple(redact(line).text for line in self.clearly_worse),
        )

    def examples(self, table: PredictionTable, picked: int) -> tuple[str, pd.DataFrame]:
        """The heading and the examples (mistakes first) of slice number `picked`."""
        row = self.rows.iloc[picked]
        mask = np.zeros(len(table), dtype=bool)
        mask[self.members[picked]] = True
        return f"**{md(row['feature'])} = {md(row['slice'])}** — {int(row['size'])} examples, {int(row['errors'])} mistakes (mistakes first):", examples_of(
            table, mask
        )


def error_slices(table: PredictionTable, kind: str, column: str = "", keywords: tuple[str, ...] = (), bins: int = 4, whole_word: bool = True) -> ErrorSlices:
    """Slices of `kind`: 'metadata' (by `column`), 'length' (`column` is the unit: words or tokens), 'confidence', 'keyword'
    (texts containing each of `keywords`), or 'all' (everything that needs no input from the user, for the weakest spots)."""
    from analysis.slices import confidence_slices, data_slices, describe_slice, keyword_slices, length_slices, metadata_slices, slice_table

    if kind == "metadata":
        slices = metadata_slices(table.frame, column, top=TOP_VALUES, bins=bins)
    elif kind == "length":
        slices = length_slices(table.frame, bins=bins, unit=column or "words")
    elif kind == "confidence":
        slices = confidence_slices(table.frame["confidence"].to_numpy())
    elif kind == "keyword":
        slices = keyword_slices(table.frame, list(keywords), whole_word=whole_word)
    else:
        slices = data_slices(table.frame, table.metadata, top=TOP_VALUES, bins=bins) + confidence_slices(table.frame["confidence"].to_numpy())
    multi = table.multi_label
    rows = slice_table(slices, table.correct, **({"gold": table.gold_matrix, "pred": table.pred_matrix} if multi else {}))
    overall = float(table.correct.mean())
    display = pd.DataFrame(
        {
            "Slice": rows["slice"],
            "Examples": rows["size"],
            ("Subset accuracy" if multi else "Accuracy"): rows["accuracy"] * 100,
            **({"Micro-F1": rows["micro_f1"]} if multi else {}),
            "Gap": rows["gap"] * 100,
            "95% range": [f"{lo:.0%}–{hi:.0%}" if n else "" for lo, hi, n in zip(rows["ci_low"], rows["ci_high"], rows["size"])],
            "Mistakes": rows["errors"],
        }
    )
    worse = rows[(rows["gap"] < 0) & (rows["ci_high"] < overall)] if len(rows) else rows
    return ErrorSlices(rows, tuple(s.indices for s in slices), display, overall, tuple(describe_slice(r) for _, r in worse.iterrows()))


def weakest_spots(table: PredictionTable, every: ErrorSlices, limit: int = 3) -> tuple[str, ...]:
    """The `limit` slices furthest below overall accuracy among those of a fair size (at least 10 examples or 2% of them)."""
    from analysis.slices import describe_slice, worst_slices

    weak = worst_slices(every.rows, min_size=max(10, len(table) // 50), limit=limit)
    return tuple(describe_slice(r) for _, r in weak[weak["gap"] < 0].iterrows())


def metadata_columns(table: PredictionTable) -> dict[str, str]:
    """Each metadata column and how it is sliced: 'numeric' (quantile bins), 'id' (one value per row) or 'categorical'."""
    from analysis.slices import column_kind

    return {c: column_kind(table.frame, c) for c in table.metadata}


def calibration_rows(cal: Calibration) -> pd.DataFrame:
    """The calibration bins that hold examples, as shown: accuracy and its gap to the mean confidence in percent."""
    filled = cal.table[cal.table["count"] > 0]
    return pd.DataFrame({"Confidence": filled["bin"], "Examples": filled["count"], "Accuracy": filled["accuracy"] * 100, "Gap": filled["gap"] * 100})


# --- Compare: per slice ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SliceChanges:
    """Compare's per-slice panel: the sentence on top and its tone ('error' when some slice is clearly worse, 'warning' when
    some is worse, 'success' when none is), the table as shown (worst first) and the same rows for the chart."""

    message: str
    tone: str
    table: pd.DataFrame
    chart: pd.DataFrame  # `analysis.compare.slice_deltas` rows in the table's order

    def redacted(self) -> SliceChanges:
        """The same panel for display with personal data in slice names masked (`privacy.redact`); numbers unchanged."""
        from dataclasses import replace

        from privacy.redact import redact_frame, redact_markdown

        return replace(self, message=redact_markdown(self.message), table=redact_frame(self.table), chart=redact_frame(self.chart, ["slice"]))


def slice_changes(deltas: pd.DataFrame, accuracy_improved: bool, listed: int = 6) -> SliceChanges:
    """`deltas` from `analysis.compare.slice_deltas`; empty slices are left out, at most `listed` worse slices are named."""
    deltas = deltas[deltas["size"] > 0]
    worse = deltas[deltas["worse"]]
    if len(worse):
        worst = worse.sort_values(["delta", "size"], ascending=[True, False], kind="stable")  # same order as the table
        names = "; ".join(
            f"{md(r.feature)} = {md(r.slice)} ({r.size} examples, {r.accuracy_before:.0%} → {r.accuracy_after:.0%})" for r in worst.head(listed).itertuples()
        )
        if len(worst) > listed:
            names += f"; and {len(worst) - listed} more (see the table)"
        lead = "Although accuracy improved overall, these slices got worse: " if accuracy_improved else "These slices got worse: "
        message, tone = lead + names, "error" if worse["clearly_worse"].any() else "warning"
    else:
        message, tone = "No slice got worse.", "success"
    shown = pd.DataFrame(
        {
            "Feature": deltas["feature"],
            "Slice": deltas["slice"],
            "Flag": ["⚠ clearly worse" if cw else "⚠ worse" if w else "" for w, cw in zip(deltas["worse"], deltas["clearly_worse"])],
            "Examples": deltas["size"],
            "Accuracy before": deltas["accuracy_before"] * 100,
            "Accuracy after": deltas["accuracy_after"] * 100,
            "Change (points)": deltas["delta"] * 100,
            "Fixed": deltas["fixed"],
            "Broken": deltas["broken"],
            "p-value": deltas["p_value"],
        }
    ).sort_values(["Change (points)", "Examples"], ascending=[True, False], kind="stable")
    return SliceChanges(message, tone, shown, deltas.loc[shown.index])


# --- Compare: flipped examples and what changed in the reasoning ------------------------------------------------------------


@dataclass(frozen=True)
class FlipChoices:
    """The 'Show' choices over the flipped examples (frame from analysis.compare.flipped_examples) and their counts."""

    flips: pd.DataFrame
    counts: dict[str, int]  # status -> examples
    options: tuple[str, ...]  # fixed, broken, (changed, still wrong when any), all

    def label(self, status: str) -> str:
        n = len(self.flips) if status == "all" else self.counts.get(status, 0)
        return f"{'All flips' if status == 'all' else status.capitalize()} ({n:,})"

    def rows(self, status: str) -> pd.DataFrame:
        return self.flips if status == "all" else self.flips[self.flips["status"] == status]

    @staticmethod
    def empty_message(status: str) -> str:
        return f"No {status} examples: the two checkpoints agree on every example here." if status == "all" else f"No {status} examples."


def flip_choices(flips: pd.DataFrame) -> FlipChoices:
    counts = {str(k): int(v) for k, v in flips["status"].value_counts().items()}
    options = ("fixed", "broken") + (("changed, still wrong",) if counts.get("changed, still wrong", 0) else ()) + ("all",)
    return FlipChoices(flips, counts, options)


@dataclass(frozen=True)
class ExplanationDifference:
    """Two checkpoints' explanations of one text for one class, side by side: chart titles, the per-word change
    (analysis.attribution_diff.attribution_change), its description, and the words that moved most."""

    titles: tuple[str, str]
    change: pd.DataFrame
    description: str
    biggest: pd.DataFrame  # word, before, after, change


def explanation_difference(first, second, label: str, before_name: str, after_name: str, listed: int = 10) -> ExplanationDifference:
    titles = (
        f"{before_name} (before): p('{label}') = {first.probabilities[first.class_index(label)]:.2f}",
        f"{after_name} (after): p('{label}') = {second.probabilities[second.class_index(label)]:.2f}",
    )
    change = attribution_change(first, second, label)
    return ExplanationDifference(
        titles, change, describe_change(change, label, before_name, after_name), biggest_changes(change, listed)[["word", "before", "after", "change"]]
    )
