"""Explore: find an example, see what the model predicted, and why — Integrated Gradients at once, then SHAP and LIME side
by side, with how far to trust each and which was most faithful where they disagree."""

from __future__ import annotations

import hashlib

import streamlit as st

from analysis.browse import ORDERS, ExampleFilter, choose_example
from analysis.predictions import NO_LABEL
from analysis.selection import selected_index
from analysis.views import explore_listing
from dashboard.columns import EXAMPLE_INDEX, display_frame, display_note, display_text, example_columns
from dashboard.explanations import EXPLORE_METHODS, INSTANT, default_params, get_attribution, method_column
from dashboard.state import current_session, get_predictor, tables
from explain.plots import deletion_curve_figure, method_name, probability_figure
from explain.views import explore_example, explore_explanations
from runtime.escaping import md

session = current_session()
st.title("Explore")
st.caption(
    "Pick any example to see the model's probabilities and which words pushed its decision each way, from three "
    "independent methods: Integrated Gradients at once, then SHAP and LIME. Red words push toward the class you explain, blue words push against it. "
    "The address bar always links to the example shown: copy it to send a colleague straight here."
)

names = [ref.name for ref in session.checkpoints]
if len(names) > 1:
    chosen = st.radio(
        "Checkpoint", names, index=len(names) - 1, horizontal=True, help="Whose predictions and explanations to show. Compare shows both side by side."
    )
    index = names.index(chosen)
else:
    index = 0
ref, table = session.checkpoints[index], tables(session, only=index)[0]  # the other checkpoint's table is read when it is picked
labels = list(table.labels)

# --- filters ----------------------------------------------------------------------------------------------------------
with st.container(border=True):
    if table.multi_label:  # each label is its own decision: filter on what happened to it
        c1, c2, c3, c4 = st.columns(4)
        gold = c1.multiselect("Gold includes", labels, key="explore_gold", placeholder="any")
        pred = c2.multiselect("Predicted includes", labels, key="explore_pred", placeholder="any")
        missed = c3.multiselect("Missed (gold, not predicted)", labels, key="explore_missed", placeholder="any")
        false_positive = c4.multiselect("False positive (predicted, not gold)", labels, key="explore_false_positive", placeholder="any")
        c5, c6, c7, c8 = st.columns([2, 3, 3, 2])
        verdict = c5.radio(
            "Show", ["all", "mistakes", "correct"], horizontal=True, key="explore_verdict", help="A mistake: the predicted set is not the gold set"
        )
        confidence = c6.slider("Confidence (probability of the predicted set)", 0.0, 1.0, (0.0, 1.0), step=0.01, key="explore_conf")
        search = c7.text_input("Text contains", key="explore_search", placeholder="a word or phrase, e.g. refund")
        order = c8.selectbox("Order", list(ORDERS), format_func=lambda o: str(ORDERS.get(o)), key="explore_order")
    else:
        missed, false_positive = [], []
        c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
        gold = c1.multiselect("Gold label", labels, key="explore_gold", placeholder="any")
        pred = c2.multiselect("Predicted label", labels, key="explore_pred", placeholder="any")
        verdict = c3.radio("Show", ["all", "mistakes", "correct"], horizontal=True, key="explore_verdict")
        confidence = c4.slider("Confidence (probability of the predicted label)", 0.0, 1.0, (0.0, 1.0), step=0.01, key="explore_conf")
        c5, c6 = st.columns([3, 2])
        search = c5.text_input("Text contains", key="explore_search", placeholder="a word or phrase, e.g. refund")
        order = c6.selectbox("Order", list(ORDERS), format_func=lambda o: str(ORDERS.get(o)), key="explore_order")
flt = ExampleFilter(
    gold=tuple(gold),
    pred=tuple(pred),
    correct=None if verdict == "all" else verdict == "correct",
    confidence=(float(confidence[0]), float(confidence[1])),
    search=search,
    missed=tuple(missed),
    false_positive=tuple(false_positive),
)
listing_key = hashlib.sha1(repr((flt, order, ref.fingerprint)).encode()).hexdigest()[:12]  # new filter, fresh page and selection
page_key = "explore_page_" + listing_key
chosen_page = st.session_state.get(page_key)
listing = explore_listing(table, flt, order, st.query_params.get("example"), None if chosen_page is None else int(chosen_page) - 1)
shown, from_query, fallback, position = listing.shown, listing.from_query, listing.fallback, listing.position
st.caption(f"**{listing.total:,}** of {len(table):,} examples · {md(flt.describe())} · click a row to explain it (column headers sort).")
if listing.pages > 1:
    st.number_input("Page", min_value=1, max_value=listing.pages, value=listing.page + 1, key=page_key, help="The listing is sent a page at a time.")
    st.caption(f"Showing {listing.describe_page()}; column headers sort within the page.")
event = st.dataframe(
    display_frame(shown),
    key=f"explore_table_{listing_key}_{listing.page}",
    on_select="rerun",
    selection_mode="single-row",
    selection_default={"selection": {"rows": [position]}} if position is not None else None,
    column_config=example_columns(shown, _index=EXAMPLE_INDEX),
    height=320,
    width="stretch",
)
selected = selected_index(event, shown)
example, why = choose_example(selected, from_query, fallback)
if example is None:
    st.info("No example to show: the evaluation set is empty.")
    st.stop()
if str(example) != st.query_params.get("example"):
    st.query_params["example"] = str(example)
    if why == "selected":
        st.query_params.pop("cls", None)  # a new example opens on its own predicted class
if why == "default":
    st.info(
        f"Showing example {example}, "
        + ("the model's most confident mistake" if not table.correct[example] else "the prediction the model is least sure of")
        + ", as a starting point. Click any row above to explain it instead.",
        icon=":material/lightbulb:",
    )
elif why == "link" and example not in shown.index:
    st.caption(f"Example {example} (from the link) is not in the filtered table above; clear the filters to see its row.")


# --- one example --------------------------------------------------------------------------------------------------------
@st.fragment
def example_panel(example: int) -> None:
    ex = explore_example(table, example, st.query_params.get("cls"))
    st.subheader(f"Example {example}")
    st.markdown(f"Gold **{md(ex.gold or NO_LABEL)}** · predicted **{md(ex.pred or NO_LABEL)}** ({ex.confidence:.1%}) · {ex.verdict}")
    if ex.text_pair is not None:  # a sentence pair: the two texts one above the other, as the model read them
        st.markdown("**First text**")
    st.markdown("> " + "\n> ".join(md(line) for line in display_text(ex.text).split("\n")))
    if ex.text_pair is not None:
        st.markdown("**Second text**")
        st.markdown("> " + "\n> ".join(md(line) for line in display_text(ex.text_pair).split("\n")))
    if ex.truncated:
        st.caption(f"⚠️ This text is longer than the model reads ({ref.max_length} tokens): only its beginning was scored and is explained.")

    left, right = st.columns([2, 3])
    with left:
        label = st.selectbox(
            "Label to explain" if ex.multi_label else "Class to explain",
            labels,
            index=labels.index(ex.wanted),
            key=f"explore_cls_{example}",
            help="Each label is explained through its own probability; switching is instant. The most probable predicted label is the default."
            if ex.multi_label
            else "Explanations hold every class: switching is instant. The predicted class is the default.",
        )
        if label != ex.wanted or st.query_params.get("cls"):
            st.query_params["cls"] = label
        st.caption(f"Link to this view: this page's address with `?example={example}&cls={md(label)}` (the address bar shows it).")
        st.plotly_chart(
            probability_figure(
                labels, ex.probs, gold=ex.gold_labels if ex.multi_label else ex.gold, highlight=label, predicted_set=ex.predicted if ex.multi_label else None
            ),
            width="stretch",
            key="explore_probs",
        )
    with right:
        st.markdown(
            f"**How to read this.** Each word is coloured by how much it moved the probability of **{label}**: red raised it, "
            "blue lowered it, white did nothing. Integrated Gradients, SHAP and LIME estimate this in three independent ways; "
            "where they agree, the evidence is stronger; where they disagree, the page says which was most faithful here. Below each view: what happens to the prediction when its top words are removed."
        )

    predictor = get_predictor(ref)
    # The instant view first: Streamlit shows each element as it is made, so Integrated Gradients (a fraction of a second)
    # is on screen while SHAP and LIME run below it with their status boxes.
    with st.container(border=True):
        st.markdown(f"**Instant view — {method_name(INSTANT)}** (gradients through the model; SHAP and LIME follow below)")
        attributions = {INSTANT: get_attribution(predictor, ex.input, INSTANT, default_params(INSTANT))}
        instant = explore_explanations(predictor, attributions, label)
        if INSTANT in instant.ready:
            method_column(instant.ready[INSTANT], label, key=f"explore-{example}", width=80, trust=instant.trust[INSTANT])
        else:
            st.info(f"No {method_name(INSTANT)} explanation for this text (see the message above); SHAP and LIME below still explain it.")
    thorough = [m for m in EXPLORE_METHODS if m != INSTANT]
    columns = dict(zip(thorough, st.columns(len(thorough))))
    for method, column in columns.items():
        with column:  # each status box runs in its own column, where the view will be
            attributions[method] = get_attribution(predictor, ex.input, method, default_params(method))
    with st.spinner("Checking how far to trust the explanations…"):
        explained = explore_explanations(predictor, attributions, label)
    ready, report = explained.ready, explained.report
    for method, column in columns.items():
        with column:
            if method not in ready:
                st.info(f"No {method_name(method)} explanation for this text (see the message above).")
                continue
            method_column(ready[method], label, key=f"explore-{example}", trust=explained.trust[method])
    if report.agreement_sentences:
        st.markdown("**Do the methods agree?**\n" + "\n".join(f"- {md(display_note(s, ex.text))}" for s in report.agreement_sentences))
    if report.most_faithful:
        st.markdown(f"**Which to trust here?** {md(display_note(report.most_faithful, ex.text))}")
    for problem in report.problems:
        st.caption(display_note(problem, ex.text))
    if report.curves:
        with st.expander("Deletion curve: does removing the top words really change the prediction?", expanded=False):
            st.plotly_chart(
                deletion_curve_figure(report.curves, label, original=ex.probability(label)),
                width="stretch",
                key="explore_curve",
            )
            st.caption("The faster a curve falls below the random one, the better that method found the words the model relies on.")


example_panel(example)
