"""Errors: where the model fails — confusion matrix that filters examples, slices, calibration, confident mistakes."""

from __future__ import annotations

import hashlib

import streamlit as st

from analysis import figures
from analysis.metrics import table_calibration
from analysis.predictions import NO_LABEL, PredictionTable
from analysis.selection import selected_cells, selected_index, selected_slice_rows
from analysis.slices import parse_keywords
from analysis.views import (
    ALL_MISTAKES,
    HIGH_CONFIDENCE,
    ErrorSlices,
    calibration_view,
    cell_options,
    cell_selection,
    cooccurrence_view,
    error_slices,
    errors_summary,
    example_probabilities,
    examples_of,
    label_cell_options,
    label_cell_selection,
    label_outcome,
    metadata_columns,
    truncated_count,
    weakest_spots,
)
from dashboard.columns import display_frame, display_text, example_columns
from dashboard.links import explore_link
from dashboard.state import current_session, redacting, tables
from runtime.escaping import md

# --- cached computations (keyed by fingerprints; the table itself is not hashed) ------------------------------


@st.cache_data(show_spinner=False, max_entries=128)
def slices_for(
    _table: PredictionTable, key: str, kind: str, column: str = "", keywords: tuple[str, ...] = (), bins: int = 4, whole_word: bool = True
) -> ErrorSlices:
    return error_slices(_table, kind, column, keywords, bins, whole_word)


@st.cache_data(show_spinner=False, max_entries=16)
def summary_for(_table: PredictionTable, key: str):
    return errors_summary(_table)


@st.cache_data(show_spinner=False, max_entries=64)
def calibration_for(_table: PredictionTable, key: str, n_bins: int):
    return table_calibration(_table, n_bins)


# --- shared display helpers ---------------------------------------------------------------------------------------


def example_detail(table: PredictionTable, example: int) -> None:
    row = table.frame.iloc[example]
    verdict = "correct" if row["correct"] else "wrong"
    st.markdown(
        f"**Example {example}** — gold **{md(row['gold'] or NO_LABEL)}**, predicted **{md(row['pred'] or NO_LABEL)}** ({row['confidence']:.1%}, {verdict})"
    )
    st.markdown("> " + "\n> ".join(md(line) for line in display_text(row["text"]).split("\n")))
    if table.pair:
        st.markdown("Second text:\n\n> " + "\n> ".join(md(line) for line in display_text(row["text_pair"]).split("\n")))
    st.dataframe(
        example_probabilities(table, example),
        hide_index=True,
        column_config={
            "probability": st.column_config.ProgressColumn("Probability", min_value=0.0, max_value=1.0, format="%.3f"),
            "threshold": st.column_config.NumberColumn("Threshold", format="%.2f"),
            "predicted": st.column_config.CheckboxColumn("Predicted"),
            "gold": st.column_config.CheckboxColumn("Gold"),
        },
    )
    if not row["correct"] and row["confidence"] >= HIGH_CONFIDENCE:
        st.caption("The model is very sure and disagrees with the gold label: check whether the gold label itself is right.")
    explore_link(example, f"Explain example {example} on the Explore page (SHAP and LIME)")


SLICE_CONFIG = {
    "Examples": st.column_config.NumberColumn("Examples", width="small"),
    "Accuracy": st.column_config.NumberColumn("Accuracy", format="%.1f%%", width="small"),
    "Subset accuracy": st.column_config.NumberColumn(
        "Subset accuracy", format="%.1f%%", width="small", help="Share of the slice's examples whose predicted set is exactly the gold set"
    ),
    "Micro-F1": st.column_config.NumberColumn("Micro-F1", format="%.3f", width="small", help="F1 over every label decision in the slice"),
    "Gap": st.column_config.NumberColumn("Gap", format="%+.1f", width="small", help="Slice accuracy minus overall accuracy, in percentage points"),
    "95% range": st.column_config.TextColumn(
        "95% range", width="small", help="Where the slice's true accuracy plausibly lies (Wilson interval); wide for small slices"
    ),
    "Mistakes": st.column_config.NumberColumn("Mistakes", width="small"),
}


def show_slices(table: PredictionTable, key: str, slices: ErrorSlices, widget: str) -> None:
    """Slice table (click a row for its examples) and the accuracy bar chart."""
    if redacting():
        slices = slices.redacted()
    rows = slices.rows
    if rows.empty:
        st.info("No slices to show.")
        return
    left, right = st.columns([1, 1]) if len(rows) <= 12 else st.tabs(["Table", "Chart"])  # many slices: each view full width
    with left:
        event = st.dataframe(
            slices.display,
            hide_index=True,
            column_config=SLICE_CONFIG,
            on_select="rerun",
            selection_mode="single-row",
            key=f"{widget}-{key[:12]}",
            width="stretch",
            height=min(420, 38 + 35 * len(rows)),
        )
        picked = [r for r in event.selection.rows if 0 <= r < len(rows)] if event is not None else []
    with right:
        bars = st.plotly_chart(
            figures.slice_accuracy_figure(rows, slices.overall), on_select="rerun", selection_mode="points", width="stretch", key=f"{widget}-fig-{key[:12]}"
        )
        if not picked:  # a clicked bar works like a selected row
            picked = [r for r in selected_slice_rows(bars) if 0 <= r < len(rows)]
    if slices.clearly_worse:
        st.warning("**Clearly below overall accuracy** (the whole 95% range is below it):\n" + "\n".join(f"- {md(line)}" for line in slices.clearly_worse))
    if picked:
        heading, shown = slices.examples(table, picked[0])
        st.markdown(heading)
        st.dataframe(display_frame(shown), column_config=example_columns(shown), width="stretch", height=260)
    else:
        st.caption("Select a row (or click a bar) to see the examples in that slice.")


# --- page ---------------------------------------------------------------------------------------------------------

session = current_session()
st.title("Errors")
checkpoints = [ref.name for ref in session.checkpoints]
index = 0
if len(checkpoints) > 1:
    choice = st.radio(
        "Checkpoint",
        checkpoints,
        index=len(checkpoints) - 1,
        horizontal=True,
        key="errors_checkpoint",
        format_func=lambda n: f"{n} ({'baseline' if n == checkpoints[0] else 'candidate'})",
    )
    index = checkpoints.index(choice)
table = tables(session, only=index)[0]  # the other checkpoint's table is read when it is picked
key = table.cache_key
labels = table.labels
st.caption(f"Where **{md(table.checkpoint_name)}** goes wrong on **{md(table.data_name)}**, and whether its confidence can be trusted.")

summary = summary_for(table, key)
metrics, counts, n_wrong, confident_wrong = summary.metrics, summary.counts, summary.n_wrong, summary.confident_wrong
a, b, c, d = st.columns(4)
if summary.multi_label:
    a.metric("Subset accuracy", f"{metrics.accuracy:.1%}", help=f"{len(table) - n_wrong:,} of {len(table):,} examples have exactly the gold set of labels")
    b.metric("Mistakes", f"{n_wrong:,}", help="Examples whose predicted set of labels differs from the gold set (one label missed or added is enough)")
    c.metric(
        f"Confident mistakes (≥ {HIGH_CONFIDENCE:.0%})",
        f"{confident_wrong:,}",
        help="Mistakes whose predicted set the model gave this probability or more: often mislabelled examples",
    )
    d.metric("Calibration error (ECE)", f"{summary.calibration.ece:.3f}", help="Every label's probability against whether it is gold, pooled; per label below")
else:
    a.metric("Accuracy", f"{metrics.accuracy:.1%}", help=f"{len(table) - n_wrong:,} of {len(table):,} examples right")
    b.metric("Mistakes", f"{n_wrong:,}", help="Examples whose predicted label differs from the gold label")
    c.metric(f"Confident mistakes (≥ {HIGH_CONFIDENCE:.0%})", f"{confident_wrong:,}", help="Mistakes the model was very sure of: often mislabelled examples")
    d.metric("Calibration error (ECE)", f"{summary.calibration.ece:.3f}", help="0 means the model's confidence matches how often it is right")
if summary.top_confusion is not None:
    top = summary.top_confusion
    st.caption(
        f"Most common confusion: gold **{md(top.gold)}** predicted as **{md(top.pred)}** ({top.count:,} examples, {top.share_of_mistakes:.0%} of the mistakes)."
    )

# --- confusion matrix (single-label) or one label's 2x2 (multi-label) -> examples ----------------------------------
if summary.multi_label:
    st.subheader("One label at a time")
    chosen_label = st.selectbox("Label", labels, key=f"errors_label_{key[:12]}", help="Each label is its own yes/no decision: pick one to see its 2x2.")
    outcome = label_outcome(summary, chosen_label)
    matrix = figures.confusion_matrix_figure(outcome.counts, outcome.names, title=f"'{chosen_label}': gold (rows) against predicted (columns)")
    names = list(outcome.names)
else:
    st.subheader("Confusion matrix")
    matrix = figures.confusion_matrix_figure(counts, labels)
    names = list(labels)
left, right = st.columns([1, 1]) if matrix.layout.width <= 400 else (st.container(), st.container())
with left:
    event = st.plotly_chart(matrix, on_select="rerun", selection_mode="points", key=f"errors-cm-{key[:12]}", width="content", config={"displayModeBar": False})
    clicked = selected_cells(event, names)
    st.caption(
        "Rows: whether the label is gold; columns: whether it was predicted; the diagonal (outlined) is right. Click a cell to list its examples."
        if summary.multi_label
        else "Rows: the gold label; columns: what the model predicted; the diagonal (outlined) is correct. Click a cell (Shift-click for more) to list its examples; double-click the chart to clear."
    )
with right:
    picked = st.selectbox(
        "Show",
        label_cell_options(outcome) if summary.multi_label else cell_options(labels, counts),
        key=f"errors_cell_{key[:12]}",
        disabled=bool(clicked),
        help="Or click a cell of the 2x2. The label's cells with at least one example are listed."
        if summary.multi_label
        else "Or click a cell of the matrix. 'gold → predicted' pairs with at least one example are listed.",
    )
    mask, heading = label_cell_selection(table, outcome, clicked, picked) if summary.multi_label else cell_selection(table, clicked, picked)
    shown = examples_of(table, mask)
    st.markdown(f"**{md(heading)}** — {len(shown):,} example{'s' * (len(shown) != 1)}")
    if picked == ALL_MISTAKES and not clicked and confident_wrong:
        st.caption(
            f"{confident_wrong:,} mistake(s) have confidence ≥ {HIGH_CONFIDENCE:.0%}. A model that is this sure and still 'wrong' is often "
            "looking at a mislabelled example: check those gold labels first."
        )
    if shown.empty:
        st.info("No examples here.")
        row_event = None
    else:
        row_event = st.dataframe(
            display_frame(shown),
            column_config=example_columns(shown),
            on_select="rerun",
            selection_mode="single-row",
            key=f"errors-examples-{key[:12]}",
            width="stretch",
            height=320,
        )
chosen = selected_index(row_event, shown) if row_event is not None else []
if chosen:
    with st.container(border=True):
        example_detail(table, int(chosen[0]))
else:
    st.caption("Select a row in the table to read the whole example and its probabilities.")

if summary.multi_label:
    st.subheader("Labels together")
    co = cooccurrence_view(summary)
    st.caption(
        "How often two labels go together, counted in examples. The diagonal is each label on its own. Labels missed together "
        "often point at one kind of text the model does not recognise."
    )
    left, right = st.columns(2)
    with left:
        st.plotly_chart(figures.cooccurrence_figure(co.cooccurrence.predicted, labels, title="Predicted together"), key=f"errors-co-pred-{key[:12]}")
        st.markdown("\n".join(f"- {line}" for line in co.predicted_pairs) or "No two labels are predicted together.")
    with right:
        st.plotly_chart(
            figures.cooccurrence_figure(co.cooccurrence.missed, labels, title="Missed together (gold, not predicted)"), key=f"errors-co-missed-{key[:12]}"
        )
        st.markdown("\n".join(f"- {line}" for line in co.missed_pairs) or "No two labels are missed together.")


# --- slices ---------------------------------------------------------------------------------------------------------
@st.fragment
def slices_panel() -> None:
    st.subheader("Slices")
    st.caption(
        "Groups of examples where the model does better or worse than overall. The gap is in percentage points; small slices have wide ranges, so read them with care."
    )
    bins = st.select_slider("Bins for numbers and lengths", options=[2, 3, 4, 5, 6, 8, 10], value=4, key="errors_bins")
    weak = weakest_spots(table, slices_for(table, key, "all", bins=bins))
    if weak:
        st.markdown("**Weakest spots:**\n" + "\n".join(f"- {md(display_text(line))}" for line in weak))
    tab_meta, tab_len, tab_conf, tab_kw = st.tabs(["By metadata", "By text length", "By confidence", "By keyword"])
    with tab_meta:
        if not table.metadata:
            st.info("This dataset has no metadata columns. Add columns to your file (for example source, product or date) to slice by them.")
        else:
            kinds = metadata_columns(table)
            column = st.selectbox(
                "Column",
                list(table.metadata),
                key="errors_meta_column",
                format_func=lambda c: (
                    f"{c} ({'numbers, in quantile bins' if kinds[c] == 'numeric' else 'one value per row' if kinds[c] == 'id' else 'most frequent values'})"
                ),
            )
            if kinds[column] == "id":
                st.caption(f"Almost every row has its own '{md(column)}', so each slice holds about one example.")
            show_slices(table, key, slices_for(table, key, "metadata", column, bins=bins), f"errors-meta-{column}")
    with tab_len:
        unit = st.radio(
            "Length in", ["words", "tokens"], horizontal=True, key="errors_length_unit", help="Tokens are what the model reads; texts past its limit are cut."
        )
        show_slices(table, key, slices_for(table, key, "length", unit, bins=bins), f"errors-length-{unit}")
        truncated = truncated_count(table)
        if truncated:
            st.caption(f"{truncated:,} text(s) are longer than the model reads; only their beginning was scored.")
    with tab_conf:
        show_slices(table, key, slices_for(table, key, "confidence"), "errors-confidence")
    with tab_kw:
        text = st.text_input("Keywords (comma-separated)", key="errors_keywords", placeholder="refund, not, never")
        whole = st.checkbox("Whole words only", value=True, key="errors_whole_word", help="Off: 'bad' also matches 'badly'.")
        keywords = tuple(parse_keywords(text))
        if not keywords:
            st.caption("Type a word or phrase to compare the texts that contain it with those that do not.")
        else:
            show_slices(
                table,
                key,
                slices_for(table, key, "keyword", keywords=keywords, whole_word=whole),
                "errors-keyword-" + hashlib.sha1("|".join(keywords).encode()).hexdigest()[:8],
            )


slices_panel()


# --- calibration ------------------------------------------------------------------------------------------------------
@st.fragment
def calibration_panel() -> None:
    st.subheader("Calibration: can the confidence be trusted?")
    n_bins = st.select_slider("Confidence bins", options=[5, 8, 10, 15, 20], value=10, key="errors_cal_bins")
    cal = calibration_for(table, key, n_bins)
    label = None
    if table.multi_label:
        label = st.selectbox("Label", labels, key="errors_cal_label", help="Each label's probability is its own forecast: pick the one to draw.")
    view = calibration_view(cal, label)
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(figures.reliability_figure(view.calibration, label=view.label), width="stretch", key=f"errors-reliability-{key[:12]}")
    with right:
        st.markdown(view.sentence)
        st.caption(
            f"Each bar is the share of examples where '{md(view.label)}' is gold among those given that probability of it. Bars below the dashed line mean the model is more sure of the label than it should be."
            if view.label is not None
            else "Each bar is the share of examples predicted correctly among those with that confidence. Bars below the dashed line mean the model is more confident than it is right."
        )
        st.dataframe(
            view.rows,
            hide_index=True,
            column_config={
                "Accuracy": st.column_config.NumberColumn(
                    "Share gold" if view.label is not None else "Accuracy",
                    format="%.1f%%",
                ),
                "Gap": st.column_config.NumberColumn(format="%+.1f", help="Accuracy minus mean confidence, in percentage points: negative = over-confident"),
            },
            width="stretch",
        )
    if view.per_label is not None:
        st.markdown("**Calibration error per label**")
        st.dataframe(
            view.per_label,
            hide_index=True,
            column_config={"ECE": st.column_config.NumberColumn(format="%.3f"), "Largest gap": st.column_config.NumberColumn(format="%.3f")},
        )


calibration_panel()
