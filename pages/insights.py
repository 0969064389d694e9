"""Insights: which words the model relies on across the dataset, per class — and whether some are spurious cues."""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from analysis.selection import selected_index
from dashboard.columns import EXAMPLE_INDEX, display_frame, display_importance, display_text, example_columns
from dashboard.explanations import attribution_cache, default_params
from dashboard.links import explore_link
from dashboard.state import current_session, get_predictor, in_background, tables
from explain import insights as insights_mod
from explain.global_importance import SORT_KEYS, flagged_summary, global_comparison_figure, global_importance_figure
from explain.insights import CROSS_CHECK_METHOD, METHODS, SAMPLE_SEED, cross_check_view, describe_cost, explains_everything, name_hints, sample_size
from explain.plots import method_name
from explain.views import insights_plan, insights_results, word_examples
from models.errors import VeredictoError
from runtime.escaping import md
from store.results import shared_store

session = current_session()
st.title("Insights")
st.caption(
    "Which words does the model rely on across many examples? For each class: how strongly each word pushes toward it "
    "(red) or against it (blue), how often it occurs, and a ⚠ on words that may be spurious cues — names, numbers, "
    "punctuation — that a sound model should not need. Pick a word to see the examples that contain it."
)

table_list = tables(session)
refs = list(session.checkpoints)
evalset = session.evalset
n_total = len(table_list[0])

# --- what to aggregate ------------------------------------------------------------------------------------------------
with st.container(border=True):
    c1, c2, c3 = st.columns([3, 2, 3])
    if len(refs) > 1:
        choices = [r.name for r in refs] + ["both"]
        shown_names = c1.radio(
            "Checkpoint", choices, index=len(refs) - 1, horizontal=True, key="insights_ckpt", help="'both' puts the baseline and the candidate side by side."
        )
        chosen = [i for i, r in enumerate(refs) if shown_names in (r.name, "both")]
    else:
        c1.markdown(f"**Checkpoint:** {md(refs[0].name)}")
        chosen = [0]
    method = c2.radio("Method", METHODS, format_func=method_name, horizontal=True, key="insights_method")
    if explains_everything(method):
        c3.markdown(f"**Every example ({n_total:,})**: {md(method_name(method))} takes a fraction of a second per text.")
        size = n_total
    else:
        size = c3.slider("Examples to explain (a stratified sample)", min_value=1, max_value=n_total, value=min(60, n_total), key="insights_size")

params = default_params(method)
cache = attribution_cache()
chosen_refs = [refs[i] for i in chosen]
inputs = table_list[0].inputs  # every example's text (or pair), by position
plan = insights_plan(table_list[0], chosen_refs, method, sample_size(method, n_total, size), params, cache, seed=SAMPLE_SEED, inputs=inputs)
sample, costs, missing = list(plan.sample), plan.costs, plan.missing


def explain_missing(plan, method: str, params: dict) -> None:
    """Compute the explanations `plan` lacks for each checkpoint as background jobs (going to another page does not stop
    them), followed here with a progress bar; then rerun the page."""
    problems: list[str] = []
    for ref, cost in plan.costs:
        if not cost.n_missing:
            continue
        predictor = get_predictor(ref)

        def compute(job, predictor=predictor) -> list[str]:
            failed: list[str] = []
            cache.get_or_compute_many(
                predictor,
                list(plan.texts),
                method,
                progress=job.progress,
                on_error=lambda text, exc: failed.append(f"{display_text(text)[:60]!r}: {exc}"),
                **params,
            )
            return failed

        asked = json.dumps([list(plan.texts), params], sort_keys=True, default=str).encode()
        key = ("explain", method, ref.scoring_key, hashlib.sha256(asked).hexdigest())
        try:
            problems += in_background(key, f"{method_name(method)} with {ref.name}", compute)
        except VeredictoError as exc:
            st.error(str(exc))
    if problems:
        with st.expander(f"{len(problems)} example(s) could not be explained and are left out"):
            st.markdown("\n".join(f"- {md(p)}" for p in problems))
    else:
        st.rerun()


for ref, cost in costs:
    prefix = f"**{ref.name}**: " if len(costs) > 1 else ""
    (st.success if cost.n_missing == 0 else st.info)(prefix + describe_cost(method, params, cost))
auto_key = f"insights_auto_{method}_{'|'.join(r.scoring_key for r in chosen_refs)}"
if missing and explains_everything(method) and not st.session_state.get(auto_key):
    # fast enough to start on first open rather than show nothing: a stratified first part, with progress (once per
    # session, so a text that cannot be explained does not send the page round in circles); the rest is one click
    st.session_state[auto_key] = True
    first_part = insights_plan(table_list[0], chosen_refs, method, min(insights_mod.FIRST_OPEN_SIZE, n_total), params, cache, seed=SAMPLE_SEED, inputs=inputs)
    if first_part.missing:
        explain_missing(first_part, method, params)
if missing:
    st.caption(
        f"{method_name(method)} explanations are kept in the attribution cache, so each is computed once. "
        f"To fill it ahead of a demo, run `veredicto precompute --model DIR --data FILE --method {method}`."
    )
    if st.button(f"Explain the {missing:,} missing example(s) now", type="primary", key="insights_compute"):
        explain_missing(plan, method, params)


@st.cache_data(show_spinner="Aggregating explanations…", max_entries=32)
def importance_for(key: str, _compute):
    return _compute()


hints = name_hints(evalset)
insights = insights_results(plan, chosen_refs, method, cache, importance_for, inputs=inputs, hints=hints, store=shared_store().store)
results = {name: (display_importance(found.importance, table_list[0].frame), found.n_explained) for name, found in insights.items()}

if not results:
    st.info("Nothing to show yet: explain the examples above (or precompute the cache), then the word importance appears here.")
    st.stop()
for name, (_, n) in results.items():
    if n < len(sample):
        what = "examples" if explains_everything(method) else "sampled examples"
        st.caption(f"{md(name)}: based on the {n:,} of {len(sample):,} {what} explained so far.")

# --- per class --------------------------------------------------------------------------------------------------------
labels = list(table_list[0].labels)
kind = "Label" if table_list[0].multi_label else "Class"  # multi-label: each label explained through its own probability
o1, o2, o3, o4 = st.columns([3, 2, 2, 2])
by = o1.selectbox("Rank words by", list(SORT_KEYS), format_func=lambda s: str(SORT_KEYS.get(s)), key="insights_by")
min_count = o2.number_input("Seen at least (times)", min_value=1, value=2, key="insights_min_count", help="Words seen once can look important by chance.")
k = o3.number_input("Words per chart", min_value=5, max_value=50, value=15, key="insights_k")
flagged_only = o4.toggle("Only ⚠ cues", key="insights_flagged", help="Show only words flagged as possible spurious cues (names, numbers, punctuation).")

checks = {}
if explains_everything(method):  # the whole-set gradient ranking, cross-checked against SHAP on a stratified sample
    shap_params = default_params(CROSS_CHECK_METHOD)
    view = cross_check_view(
        table_list[0],
        chosen_refs,
        {name: found.importance for name, found in insights.items()},  # the words as computed: only labels reach the sentences
        cache,
        shap_params,
        importance_for,
        min_count=int(min_count),
        inputs=inputs,
    )
    checks = dict(view.checks)
    for name, check in checks.items():
        st.caption((f"**{md(name)}** · " if len(checks) > 1 else "") + md(check.intro))
    if view.missing:
        for name, line in view.cost_lines():
            st.caption(f"{method_name(CROSS_CHECK_METHOD)} cross-check{f' of **{md(name)}**' if len(chosen_refs) > 1 else ''}: {line}")
        if st.button(f"Compute the {method_name(CROSS_CHECK_METHOD)} cross-check ({view.missing:,} explanation(s))", key="insights_cross_check"):
            explain_missing(view.plan, CROSS_CHECK_METHOD, shap_params)

tabs = st.tabs([f"{kind} '{md(label)}'" for label in labels])
for label, tab in zip(labels, tabs):
    with tab:
        columns = st.columns(len(results))
        for column, (name, (gi, _n)) in zip(columns, results.items()):
            with column:
                if len(results) > 1:
                    st.markdown(f"#### {md(name)}")
                st.plotly_chart(
                    global_importance_figure(gi, label, k=int(k), by=by, min_count=int(min_count)),
                    width="stretch",
                    key=f"insights-bars-{name}-{label}",
                )
                if name in checks:
                    st.markdown(md(checks[name].agreements[label].sentence))
                for line in flagged_summary(gi, label, k=int(k), by=by, min_count=int(min_count)):
                    st.warning(line, icon=":material/warning:")
        if len(results) > 1:
            st.plotly_chart(
                global_comparison_figure({name: gi for name, (gi, _) in results.items()}, label, k=max(5, int(k) // 2), by=by, min_count=int(min_count)),
                width="stretch",
                key=f"insights-compare-{label}",
            )

# --- table and drill-down ---------------------------------------------------------------------------------------------
st.subheader("Words and where they occur")
t1, t2 = st.columns([2, 3])
name = t1.selectbox("Checkpoint", list(results), index=len(results) - 1, key="insights_table_ckpt") if len(results) > 1 else next(iter(results))
label = t2.selectbox(kind, labels, key="insights_table_label")
gi = results[name][0]
words = gi.for_label(label, by=by, min_count=int(min_count), flagged_only=flagged_only).set_index("word")
shown = words[["mean_signed", "mean_abs", "count", "n_examples", "cue_reason"]]
event = st.dataframe(
    shown,
    key=f"insights_words_{name}_{label}_{by}_{min_count}_{flagged_only}",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "_index": st.column_config.TextColumn("Word"),
        "mean_signed": st.column_config.NumberColumn(f"Mean score for '{label}'", format="%+.4f", help="Positive: pushes toward the class on average."),
        "mean_abs": st.column_config.NumberColumn("Mean |score|", format="%.4f", help="Strength per occurrence, whatever the direction."),
        "count": st.column_config.NumberColumn("Occurrences", format="%d"),
        "n_examples": st.column_config.NumberColumn("Examples", format="%d"),
        "cue_reason": st.column_config.TextColumn("Possible spurious cue", width="large"),
    },
    height=300,
    width="stretch",
)
picked = selected_index(event, shown)
options = list(shown.index)
if not options:
    st.info("No word matches these settings; lower 'Seen at least' or turn off 'Only ⚠ cues'.")
    st.stop()
word = st.selectbox(
    "Drill down: examples containing the word",
    options,
    index=options.index(picked[0]) if picked else 0,
    key=f"insights_word_{name}_{label}_{picked[0] if picked else ''}",
    help="Select a row in the table above, or pick a word here.",
)
frame = table_list[[r.name for r in refs].index(name)].frame
shown_ref = next(r for r in chosen_refs if r.name == name)
drill = word_examples(gi, word, frame, cache=cache, scoring_key=shown_ref.scoring_key, method=method, params=params, sample=sample, inputs=inputs)
rows = drill.rows
st.markdown(f"**'{md(word)}'** occurs in **{drill.n_examples:,}** of the {results[name][1]:,} explained examples. Its score in each, per class:")
if drill.note:
    st.caption(md(drill.note))
st.dataframe(
    display_frame(rows),
    column_config=example_columns(
        rows,
        _index=EXAMPLE_INDEX,
        occurrences=st.column_config.NumberColumn("Times in text", format="%d"),
        **{c: st.column_config.NumberColumn(f"Score for '{c[6:]}'", format="%+.4f") for c in rows.columns if c.startswith("score_")},
    ),
    key="insights_drill",
    width="stretch",
)
if len(rows):
    first = int(rows.index[0])
    explore_link(first, f"Open example {first} on Explore to see its full explanation", query={"cls": label})
