"""Compare: is the fine-tuned checkpoint better than the baseline on the same data — and where did it get worse?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import figures
from analysis.compare import compare_tables, flipped_examples, label_flips, pair_tables, slice_deltas
from analysis.predictions import NO_LABEL, PredictionTable
from analysis.selection import selected_index
from analysis.slices import data_slices, gold_slices, keyword_slices, parse_keywords
from analysis.views import (
    compare_headline,
    compare_verdict,
    explained_label,
    explanation_difference,
    flip_choices,
    flip_label_options,
    per_class_changes,
    slice_changes,
)
from dashboard.columns import display_frame, display_text
from dashboard.explanations import cached_attribution, get_attribution
from dashboard.links import explore_link
from dashboard.state import current_session, get_predictor, redacting, tables
from explain.plots import method_name, token_heat_comparison
from models.errors import VeredictoError
from runtime.escaping import md
from training.views import provenance_diff

N_BOOT = 2000
INSTANT = "ig"  # the gradient view: shown first, and while SHAP or LIME are computed
METHODS = (INSTANT, "shap", "lime")
SEED = 0


@st.cache_data(show_spinner="Bootstrapping confidence intervals…", max_entries=16)
def comparison_for(_before: PredictionTable, _after: PredictionTable, key: str, n_boot: int, seed: int):
    return compare_tables(_before, _after, n_boot=n_boot, seed=seed)


@st.cache_data(show_spinner=False, max_entries=16)
def flips_for(_before: PredictionTable, _after: PredictionTable, key: str) -> pd.DataFrame:
    return flipped_examples(_before, _after)


@st.cache_data(show_spinner=False, max_entries=32)
def slice_deltas_for(_before: PredictionTable, _after: PredictionTable, key: str, keywords: tuple[str, ...], bins: int) -> pd.DataFrame:
    frame = _before.frame
    slices = gold_slices(_before) + data_slices(frame, _before.metadata, top=40, bins=bins)  # every frequent value: a worse one must not hide in 'other'
    if keywords:
        slices += keyword_slices(frame, list(keywords))
    paired = pair_tables(_before, _after)
    return slice_deltas(slices, paired.correct_before, paired.correct_after)


# --- page ---------------------------------------------------------------------------------------------------------

session = current_session()
st.title("Compare")
if len(session.checkpoints) < 2:
    st.info(
        f"Compare needs two checkpoints; only **{session.checkpoints[0].name}** is chosen. In the sidebar, add a second one under "
        "**Compare up to two (baseline first)**: the first is the baseline (before fine-tuning), the second the candidate (after)."
    )
    st.stop()

before_ref, after_ref = session.checkpoints[0], session.checkpoints[-1]
before, after = tables(session)
key = before.cache_key + "|" + after.cache_key
try:
    comp = comparison_for(before, after, key, N_BOOT, SEED)
except VeredictoError as exc:
    st.error(str(exc))
    st.stop()
st.caption(
    f"Baseline **{comp.before_name}** (`{before_ref.short_fingerprint}`) vs candidate **{comp.after_name}** (`{after_ref.short_fingerprint}`) "
    f"on the same {comp.n:,} examples of **{before.data_name}**. Every difference is measured example by example."
)

# --- headline ---------------------------------------------------------------------------------------------------------
acc = comp.deltas.loc["accuracy"]
headline = compare_headline(comp)
for col, number in zip(st.columns(len(headline)), headline):
    col.metric(number.label, number.value, help=number.help, delta=number.delta, delta_color="inverse" if number.lower_is_better else "normal")
verdict = compare_verdict(comp)
{"success": st.success, "error": st.error, "info": st.info}[verdict.tone](verdict.text)

left, right = st.columns(2)
with left:
    st.plotly_chart(figures.metric_delta_figure(comp.deltas), width="stretch", key="compare-metric-deltas")
with right:
    st.plotly_chart(figures.class_delta_figure(comp.per_class), width="stretch", key="compare-class-deltas")
st.caption(
    f"Error bars: 95% paired bootstrap intervals ({comp.n_boot:,} resamples of the examples, seed {comp.seed}). A bar whose interval crosses zero may be noise."
)

# --- per class ----------------------------------------------------------------------------------------------------------
st.subheader("Per label" if comp.multi_label else "Per class")
per_class = per_class_changes(comp)
points = st.column_config.NumberColumn(format="%+.1f", width="small")
st.dataframe(
    per_class,
    hide_index=True,
    width="stretch",
    column_config={
        "Examples": st.column_config.NumberColumn(width="small"),
        "F1 before": st.column_config.NumberColumn(format="%.3f", width="small"),
        "F1 after": st.column_config.NumberColumn(format="%.3f", width="small"),
        "F1 change": points,
        "Precision change": points,
        "Recall change": points,
        "McNemar p": st.column_config.NumberColumn(format="%.3g", help="Exact McNemar test on this label's own right-or-wrong per example"),
    },
)
st.caption(
    "Changes are in percentage points (after − before); the 95% interval is the paired bootstrap interval of the F1 change."
    + (" Fixed / Broken: examples where that label went from wrong to right / right to wrong." if comp.multi_label else "")
)
worse_classes = [str(l) for l in comp.per_class.index[comp.per_class["worse"]]]
if worse_classes and acc.delta > 0:
    st.warning(f"Accuracy improved overall, but F1 dropped for: {md(', '.join(map(str, worse_classes)))}.")


# --- per slice -----------------------------------------------------------------------------------------------------------
@st.fragment
def slices_panel() -> None:
    st.subheader("Per slice")
    st.caption(
        "Accuracy before and after in each group of examples (gold label, metadata, text length, keywords). Slices that got worse are flagged even when the total improved; 'clearly worse' means McNemar's test finds the drop unlikely to be chance (p < 0.05)."
    )
    one, two = st.columns([3, 1])
    text = one.text_input("Also slice by keywords (comma-separated)", key="compare_keywords", placeholder="not, never, refund")
    bins = two.select_slider("Bins for numbers", options=[2, 3, 4, 5, 6, 8], value=4, key="compare_bins")
    changes = slice_changes(slice_deltas_for(before, after, key, tuple(parse_keywords(text)), bins), acc.delta > 0)
    if redacting():
        changes = changes.redacted()
    {"error": st.error, "warning": st.warning, "success": st.success}[changes.tone](changes.message)
    table_tab, chart_tab = st.tabs(["Table", "Chart"])
    with table_tab:
        st.dataframe(
            changes.table,
            hide_index=True,
            width="stretch",
            height=380,
            column_config={
                "Accuracy before": st.column_config.NumberColumn(format="%.1f%%"),
                "Accuracy after": st.column_config.NumberColumn(format="%.1f%%"),
                "Change (points)": st.column_config.NumberColumn(format="%+.1f"),
                "p-value": st.column_config.NumberColumn(format="%.3g", help="Exact McNemar test on the slice's fixed vs broken examples"),
                "Flag": st.column_config.TextColumn("Flag", width="medium", help="worse: accuracy dropped; clearly worse: McNemar p < 0.05"),
                "Feature": st.column_config.TextColumn("Feature", width="small"),
            },
        )
    with chart_tab:
        st.plotly_chart(figures.slice_delta_figure(changes.chart), width="stretch", key="compare-slice-deltas")


slices_panel()

# --- flipped examples -----------------------------------------------------------------------------------------------------
st.subheader("Flipped examples")
flips = flips_for(before, after, key)
label_options = flip_label_options(comp)
flip_label = st.selectbox("Flips of", label_options, key="compare_flip_label") if label_options else None
choices = flip_choices(label_flips(flips, flip_label) if flip_label and flip_label != label_options[0] else flips)
status = st.radio("Show", choices.options, horizontal=True, key="compare_flip_status", format_func=choices.label)
shown = choices.rows(status)
if shown.empty:
    st.info(choices.empty_message(status))
    picked = []
else:
    st.caption(
        "Sorted by how far the probability of the gold label moved. Select a row to compare both checkpoints' explanations "
        "(Integrated Gradients shows at once; a SHAP or LIME explanation not yet cached can take a minute per checkpoint on a CPU; "
        "`veredicto precompute --model DIR --data FILE` fills the cache ahead of a review)."
    )
    event = st.dataframe(
        display_frame(shown),
        key=f"compare-flips-{status}-{key[:12]}",
        on_select="rerun",
        selection_mode="single-row",
        width="stretch",
        height=300,
        column_config={
            "status": st.column_config.TextColumn("Status"),
            "text": st.column_config.TextColumn("Text", width="large"),
            "text_pair": st.column_config.TextColumn("Second text", width="large"),
            "fixed_labels": "Labels fixed",
            "broken_labels": "Labels broken",
            "gold": "Gold",
            "pred_before": f"Predicted by {comp.before_name}",
            "pred_after": f"Predicted by {comp.after_name}",
            "confidence_before": st.column_config.NumberColumn("Confidence before", format="%.2f"),
            "confidence_after": st.column_config.NumberColumn("Confidence after", format="%.2f"),
            "p_gold_before": st.column_config.NumberColumn("P(gold) before", format="%.3f"),
            "p_gold_after": st.column_config.NumberColumn("P(gold) after", format="%.3f"),
            "p_gold_change": st.column_config.NumberColumn("P(gold) change", format="%+.3f"),
        },
    )
    picked = selected_index(event, shown)


def difference_view(first, second, label: str, method: str, key: str) -> None:
    """Both checkpoints' explanations of one text side by side, and what changed between them."""
    if redacting():  # words inside personal data are compared as <NAME>, <EMAIL>, ...
        first, second = first.redacted(), second.redacted()
    diff = explanation_difference(first, second, label, comp.before_name, comp.after_name)
    st.plotly_chart(token_heat_comparison([first, second], label, titles=list(diff.titles)), width="stretch", key=f"{key}-heat")
    st.markdown(md(diff.description))
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(
            figures.attribution_change_figure(diff.change, label, before_name=comp.before_name, after_name=comp.after_name, method=method_name(method)),
            width="stretch",
            key=f"{key}-attr-change",
        )
    with right:
        st.dataframe(
            diff.biggest,
            hide_index=True,
            width="stretch",
            column_config={k: st.column_config.NumberColumn(format="%+.3f") for k in ("before", "after", "change")},
        )


@st.fragment
def explanation_panel(example: int) -> None:
    row = flips.loc[example]
    text = str(row["text"])
    second = str(row["text_pair"]) if "text_pair" in row else None
    st.markdown(f"#### Example {example}: {md(row['status'])}")
    st.markdown("> " + "\n> ".join(md(line) for line in display_text(text).split("\n")))
    if second is not None:
        st.markdown("Second text:\n\n> " + "\n> ".join(md(line) for line in display_text(second).split("\n")))
    st.markdown(
        f"Gold **{md(row['gold'] or NO_LABEL)}**. {md(comp.before_name)} predicted **{md(row['pred_before'] or NO_LABEL)}** (P(gold) {row['p_gold_before']:.2f}); "
        f"{md(comp.after_name)} predicts **{md(row['pred_after'] or NO_LABEL)}** (P(gold) {row['p_gold_after']:.2f})."
    )
    one, two = st.columns(2)
    method = one.radio(
        "Method",
        list(METHODS),
        horizontal=True,
        key="compare_method",
        format_func=method_name,
        help="Integrated Gradients is instant (one pass of gradients per checkpoint) and its scores add up to the change in probability from a "
        "blank input; SHAP scores are in probability units too; LIME weights come from a local linear fit. SHAP and LIME take hundreds of model "
        "calls per checkpoint and are computed when picked (then cached).",
    )
    labels = list(comp.labels)
    label = two.selectbox(
        "Explain the label" if comp.multi_label else "Explain the class",
        labels,
        index=labels.index(explained_label(row, labels)),
        key=f"compare_label_{example}",
    )
    inputs = text if second is None else (text, second)
    predictors = [get_predictor(ref) for ref in (before_ref, after_ref)]
    instant = None
    if method != INSTANT and any(cached_attribution(p, inputs, method) is None for p in predictors):
        instant = st.empty()  # the gradient view stays on screen while SHAP / LIME are computed, and if they fail
        with instant.container():
            st.caption(f"Instant view ({method_name(INSTANT)}) while {method_name(method)} is computed for both checkpoints:")
            ready = [get_attribution(p, inputs, INSTANT) for p in predictors]
            if ready[0] is not None and ready[1] is not None:
                difference_view(ready[0], ready[1], label, INSTANT, key="compare-instant")
    first, second_attr = [get_attribution(p, inputs, method) for p in predictors]
    if first is None or second_attr is None:
        return  # get_attribution has shown why
    if instant is not None:
        instant.empty()
    difference_view(first, second_attr, label, method, key="compare")
    st.caption("Red: the word pushes toward the class; blue: against it. The change chart shows after − before for the words that moved most.")
    explore_link(example, f"Open example {example} on the Explore page")


if picked:
    with st.container(border=True):
        explanation_panel(int(picked[0]))
elif not shown.empty:
    st.caption("Select a flipped example to see what changed in the model's reasoning.")

st.subheader("How they were trained")
trained = provenance_diff(before_ref, after_ref)
if trained.error is not None:
    st.warning(trained.error)
elif trained.table is not None:
    st.dataframe(trained.table, hide_index=True, width="stretch")
    st.caption("Only settings that differ are listed; the Training page shows every trial and the learning curves.")
else:
    st.caption("Neither checkpoint carries a provenance.json, so how they were trained is unknown. `veredicto finetune` writes one.")
