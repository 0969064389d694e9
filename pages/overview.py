"""Overview: what is loaded, how well each checkpoint does, and a box to try any sentence."""

from __future__ import annotations

import streamlit as st

from analysis.figures import class_balance_figure
from analysis.views import class_balance, sentence_prediction
from analysis.views import headline as table_headline
from dashboard.explanations import METHODS, get_attribution, method_column
from dashboard.state import current_session, get_predictor, tables
from runtime.escaping import md


@st.cache_data(show_spinner=False, max_entries=16)
def headline(_table, key: str):
    """Metrics and 95% intervals (accuracy: Wilson; macro-F1: bootstrap) of one prediction table."""
    return table_headline(_table)


session = current_session()
st.title("Overview")
st.caption("Is this classifier fit to deploy? Start with the headline numbers, then use the pages on the left to find where and why it fails.")

evalset = session.evalset
table_list = tables(session)
left, right = st.columns([3, 2])
with left:
    st.markdown(f"**Evaluation data:** {md(evalset.name)} · {len(evalset):,} examples · fingerprint `{evalset.short_fingerprint}`")
    if evalset.pair:
        st.caption("Sentence pairs: the model reads each row's text and text_pair together.")
    if evalset.metadata:
        st.caption("Metadata you can slice by: " + ", ".join(evalset.metadata))
    balance = class_balance(table_list)
    if balance.truncated:
        st.warning(f"{balance.truncated:,} text(s) are longer than the model reads ({session.baseline.max_length} tokens); only their beginning is scored.")
with right:
    st.plotly_chart(class_balance_figure(balance.labels, balance.gold, balance.predicted_counts), width="stretch")
    if table_list[0].multi_label:
        st.caption("Multi-label: an example counts once for each of its labels, so the bars add up to more than the examples.")

st.subheader("Headline metrics")
columns = st.columns(len(table_list))
for column, ref, table in zip(columns, session.checkpoints, table_list):
    numbers = headline(table, table.cache_key)
    metrics, (acc_lo, acc_hi), (f1_lo, f1_hi) = numbers.metrics, numbers.accuracy_ci, numbers.macro_f1_ci
    with column:
        role = "" if len(table_list) == 1 else (" (baseline)" if ref is session.baseline else " (candidate)")
        st.markdown(f"#### {md(ref.name)}{role}")
        st.caption(f"{md(ref.model_type)} · max {ref.max_length} tokens · weights `{ref.short_fingerprint}`")
        ml, ci = numbers.multi, numbers.intervals
        if ml is not None and ci is not None:
            st.caption(f"{md(ref.task_description)} · {md(numbers.thresholds)}")
            a, b, c = st.columns(3)
            a.metric("Micro-F1", f"{ml.micro_f1:.3f}", help="F1 over every label decision pooled: frequent labels weigh more")
            b.metric("Macro-F1", f"{metrics.macro_f1:.3f}", help="F1 averaged over labels, each label counting the same")
            c.metric("Samples-F1", f"{ml.samples_f1:.3f}", help="F1 of each example's predicted set against its gold set, averaged")
            d, e = st.columns(2)
            d.metric("Subset accuracy", f"{metrics.accuracy:.1%}", help="Share of examples whose predicted set is exactly the gold set")
            e.metric("Hamming loss", f"{ml.hamming_loss:.3f}", help="Share of wrong label decisions (one per example and label); 0 is perfect")
            st.caption(
                f"95% intervals: subset accuracy {acc_lo:.1%}–{acc_hi:.1%} (Wilson); 2,000 bootstrap resamples: micro-F1 {ci['micro_f1'][0]:.3f}–{ci['micro_f1'][1]:.3f}, "
                f"macro-F1 {f1_lo:.3f}–{f1_hi:.3f}, samples-F1 {ci['samples_f1'][0]:.3f}–{ci['samples_f1'][1]:.3f}, "
                f"Hamming loss {ci['hamming_loss'][0]:.3f}–{ci['hamming_loss'][1]:.3f}."
            )
            per_class = numbers.per_label
        else:
            a, b = st.columns(2)
            a.metric("Accuracy", f"{metrics.accuracy:.1%}", help="Share of examples whose prediction matches the gold label")
            b.metric("Macro-F1", f"{metrics.macro_f1:.3f}", help="F1 averaged over classes, each class counting the same")
            st.caption(f"95% intervals: accuracy {acc_lo:.1%}–{acc_hi:.1%} (Wilson), macro-F1 {f1_lo:.3f}–{f1_hi:.3f} (2,000 bootstrap resamples).")
            per_class = metrics.per_class
        st.dataframe(
            per_class,
            column_config={
                "threshold": st.column_config.NumberColumn("Threshold", format="%.2f", help="Predicted at or above this probability"),
                "precision": st.column_config.NumberColumn("Precision", format="%.3f"),
                "recall": st.column_config.NumberColumn("Recall", format="%.3f"),
                "f1": st.column_config.NumberColumn("F1", format="%.3f"),
                "support": st.column_config.NumberColumn("Support", format="%d"),
            },
            width="stretch",
        )


@st.fragment
def try_a_sentence():
    st.subheader("Try a sentence")
    text = st.text_area("Type any text to see each checkpoint's prediction and why", value="", placeholder="An uneven but often moving film.")
    if not text.strip():
        st.caption("The prediction and its explanation appear here.")
        return
    for ref in session.checkpoints:
        predictor = get_predictor(ref)
        said = sentence_prediction(predictor, text, table_list[session.checkpoints.index(ref)])
        st.markdown(f"**{md(ref.name)}** predicts **{md(said.label)}** ({said.confidence:.1%})")
        st.dataframe(said.probabilities, hide_index=True)
        columns = st.columns(len(METHODS))
        for column, method in zip(columns, METHODS):
            attribution = get_attribution(predictor, text, method)
            if attribution is not None:
                with column:
                    method_column(attribution, attribution.predicted, key=f"try-{ref.short_fingerprint}")


try_a_sentence()
