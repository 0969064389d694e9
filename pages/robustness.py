"""Robustness: does the model break under harmless changes, treat groups of people differently, and which examples look mislabelled?"""

from __future__ import annotations

import functools
import math

import streamlit as st

from analysis.selection import selected_index
from dashboard.columns import display_frame, display_text, example_columns
from dashboard.explanations import cached_attribution, default_params, get_attribution
from dashboard.links import explore_link
from dashboard.state import current_session, embedding_index, get_predictor, redacting, tables
from explain.gradient_explainer import METHODS as GRADIENT_METHODS
from explain.plots import method_name, token_heat_comparison
from models.errors import VeredictoError
from probes.figures import embedding_map_figure, failure_rate_figure
from probes.perturb import DEFAULT_VARIANTS, LANGUAGES, TESTS, DirectionConfig, guess_directions, resolve_tests
from probes.run import DEFAULT_SEGMENT, SEGMENTS, plan_probes
from probes.views import (
    DEFAULT_LIMIT,
    NOISE_THRESHOLD,
    PROBE_RESULTS,
    ProbeParams,
    default_noise_k,
    embedding_map,
    embedding_state,
    failing_examples,
    failure_choices,
    label_flips,
    label_noise_view,
    map_examples,
    nearest,
    pair_explain_cost,
    pending_estimates,
    probe_comparison,
    probe_report,
    probe_summary,
    run_and_keep,
)
from runtime.escaping import md

OFF = "off"


@st.cache_resource(show_spinner="Preparing perturbed texts…", max_entries=16)
def _plans(_texts: list, data_key: str, tests: tuple[str, ...], limit: int | None, seed: int, variants: int, language: str, segment: str | None):
    return plan_probes(_texts, [TESTS[t] for t in tests], limit=limit, seed=seed, n_variants=variants, language=language, segment=segment or DEFAULT_SEGMENT)


def _pct(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


# --- page -------------------------------------------------------------------------------------------------------

session = current_session()
prediction_tables = tables(session)
refs = session.checkpoints
predictors = [get_predictor(ref) for ref in refs]
labels = predictors[0].labels
evalset = session.evalset
roles = ["before", "after"] if len(refs) == 2 else [""]

st.title("Robustness")
st.caption(
    "Does the model keep its answer when a text changes in ways that should not matter — a typo, capital letters, "
    "another person's name, another nationality — and does it react the right way to a negation? "
    + ("Both checkpoints get exactly the same perturbed texts, so the before/after numbers compare like with like. " if len(refs) == 2 else "")
    + "Below: examples most similar to each other for the model, and labels that look suspicious."
)
if len(refs) == 2 and predictors[1].labels != labels:
    st.error(
        f"The two checkpoints have different labels ({', '.join(labels)} vs {', '.join(predictors[1].labels)}); probes can only be compared within one task."
    )
    st.stop()

tab_probes, tab_similar = st.tabs(["Behaviour and bias probes", "Similar examples and label noise"])

# =================================================================================================================
with tab_probes:
    guessed = guess_directions(labels)
    left, mid, right = st.columns([3, 2, 2])
    with right:
        positive_options = [OFF, *labels]
        positive = st.selectbox(
            "Directional tests: class a negation should lower",
            positive_options,
            index=positive_options.index(guessed.negation[0].label) if guessed else 0,
            key="robustness_positive",
            help="For sentiment-like tasks: adding 'not' to a text predicted as this class should lower its probability, and "
            "'very' before an adjective should not lower the predicted class. Leave 'off' where that makes no sense.",
        )
    if positive == OFF:
        directions = None
    elif guessed is not None and positive == guessed.negation[0].label:
        directions = guessed
    else:  # with two classes the other one is the negative class; with more, only the chosen class is watched
        directions = DirectionConfig.sentiment(positive, next((l for l in labels if l != positive), None) if len(labels) == 2 else None)
    available = [t for t in TESTS.values() if t.kind != "directional" or directions is not None]
    with left:
        chosen_titles = st.multiselect(
            "Tests",
            [t.title for t in available],
            default=[t.title for t in available],
            key=f"robustness_tests_{directions is not None}",
            help="; ".join(f"{t.title}: {t.description}" for t in available),
        )
    with mid:
        limit = int(
            st.number_input(
                "Examples per test (at most)",
                min_value=1,
                max_value=max(1, len(evalset)),
                value=min(DEFAULT_LIMIT, len(evalset)),
                step=50,
                key="robustness_limit",
                help="A seeded sample of the examples each test applies to (e.g. only texts that mention a person's name).",
            )
        )
    with st.expander("More settings"):
        a, b, c = st.columns(3)
        language = a.selectbox("Word lists", ["auto", *LANGUAGES], key="robustness_language", help="auto: English or Spanish, detected per text.")
        variants = int(
            b.number_input(
                "Perturbed versions per example", 1, 10, DEFAULT_VARIANTS, key="robustness_variants", help="An example fails if any of its versions fails."
            )
        )
        seed = int(c.number_input("Seed", 0, 10_000, 0, key="robustness_seed"))
        st.caption(
            f"Word lists live in `probes/wordlists/` (English and Spanish) and can be edited. Directional expectations: {directions.describe() if directions else 'off'}."
        )

    segment = None
    if evalset.pair:
        segment = st.radio(
            "Sentence pairs: perturb",
            SEGMENTS,
            format_func=lambda s: "both texts" if s == "both" else f"the {s} text",
            horizontal=True,
            key="robustness_segment",
            help="Which text of each pair the probes change; the other stays as it is.",
        )
    chosen = tuple(t.name for t in available if t.title in chosen_titles)
    if not chosen:
        st.info("Choose at least one test.")
    else:
        resolve_tests(chosen, directional=directions is not None)
        params = ProbeParams.of(chosen, limit, len(evalset), seed, variants, language, directions, segment)
        keys = [params.key(ref.scoring_key, table.data_fingerprint) for ref, table in zip(refs, prediction_tables)]
        reports: list = [probe_report(key) for key in keys]  # None where no run is kept or stored

        def plans():  # the perturbed texts, prepared only to estimate or run (a stored run needs none: seconds saved on a restart)
            return _plans(evalset.inputs, evalset.fingerprint, params.tests, params.limit, params.seed, params.variants, params.language, params.segment)

        pending = pending_estimates(predictors, reports, evalset, directions=directions, limit=params.limit, plans=plans() if None in reports else None)
        estimate_slot = st.empty()
        if pending:
            estimate_slot.info(pending, icon=":material/timer:")
        run_clicked = st.button(
            "Run probes" if any(r is None for r in reports) else "Run probes again",
            type="primary",
            key="robustness_run",
            help="Perturbed texts are scored through the shared cache: stopping midway keeps every test already scored.",
        )
        if run_clicked:
            for predictor, key, table in zip(predictors, keys, prediction_tables):
                bar = st.progress(0.0, text=f"{predictor.ref.name}: starting…")
                try:
                    run_and_keep(
                        predictor,
                        evalset,
                        params,
                        key,
                        directions=directions,
                        plans=plans(),
                        thresholds=table.thresholds,
                        progress=lambda done, total, label, name=predictor.ref.name, bar=bar: bar.progress(
                            min(1.0, done / max(total, 1)), text=f"{name} · {label}: {done:,}/{total:,} texts"
                        ),
                    )
                except VeredictoError as exc:
                    bar.empty()
                    st.error(str(exc))
                    st.stop()
                bar.empty()
            reports = [probe_report(key) for key in keys]
            estimate_slot.empty()  # the run is done: its estimate-vs-actual line below replaces the estimate

        if any(r is None for r in reports):
            st.caption("Results appear here once the probes have run (they are kept for everyone using this dashboard).")
        else:
            checks = [PROBE_RESULTS.get("checks", key) for key in keys]
            st.caption(" · ".join(f"{md(r.checkpoint_name)}: {c.describe()}" for r, c in zip(reports, checks) if c is not None))
            st.plotly_chart(failure_rate_figure(reports), width="stretch", key="robustness-rates")
            if len(reports) == 2:
                comparison = probe_comparison(*reports)
                if comparison.more_brittle:
                    st.warning(
                        "Fine-tuning made the model **more brittle** on: " + ", ".join(f"{t} ({_pct(b)} → {_pct(a)})" for t, b, a in comparison.more_brittle),
                        icon=":material/trending_down:",
                    )
                if comparison.more_robust:
                    st.success(
                        "More robust after fine-tuning on: " + ", ".join(f"{t} ({_pct(b)} → {_pct(a)})" for t, b, a in comparison.more_robust),
                        icon=":material/trending_up:",
                    )
                shown = comparison.table
                st.dataframe(
                    shown,
                    hide_index=True,
                    key="robustness-compare",
                    width="stretch",
                    column_config={
                        "title": "Test",
                        "kind": "Kind",
                        "before": st.column_config.NumberColumn(f"Before ({reports[0].checkpoint_name})", format="percent"),
                        "after": st.column_config.NumberColumn(f"After ({reports[1].checkpoint_name})", format="percent"),
                        "change": st.column_config.NumberColumn("Change", format="percent"),
                        "tried_after": st.column_config.NumberColumn("Examples", help="Examples tried (after)"),
                        "fixed": st.column_config.NumberColumn("Fixed", help="Examples that failed before and pass after"),
                        "new": st.column_config.NumberColumn("New failures", help="Examples that passed before and fail after"),
                        "p_value": st.column_config.NumberColumn(
                            "p (McNemar)", format="%.3f", help="Exact McNemar test on the examples both checkpoints tried"
                        ),
                        "verdict": "Verdict",
                    },
                )
            else:
                summary = probe_summary(reports[0])
                st.dataframe(
                    summary,
                    hide_index=True,
                    key="robustness-summary",
                    width="stretch",
                    column_config={
                        "title": "Test",
                        "kind": "Kind",
                        "failure_rate": st.column_config.NumberColumn("Failure rate", format="percent"),
                        "failed": "Failed",
                        "tried": "Tried",
                        "applicable": st.column_config.TextColumn(
                            "Applies to", help="Examples the perturbation can change; 'about': estimated from the sample perturbed to fill the limit"
                        ),
                        "expectation": "Expected",
                        "note": "Note",
                    },
                )

            for report in reports:
                flips = label_flips(report)
                if flips is not None:
                    st.markdown(f"**Label flips** · {md(report.checkpoint_name)}: perturbed texts whose decision on each label flipped")
                    st.dataframe(flips, key=f"robustness-flips-{report.fingerprint[:12]}", width="stretch")

            # --- failing examples ---------------------------------------------------------------------------
            st.subheader("Failing examples")
            c1, c2 = st.columns([2, 3])
            with c1:
                which = 0
                if len(reports) == 2:
                    which = [r.checkpoint_name for r in reports].index(
                        st.radio("Checkpoint", [r.checkpoint_name for r in reports], index=1, horizontal=True, key="robustness_failures_of")
                    )
                choices = failure_choices(reports[which])
                test = st.selectbox(
                    "Test", choices.tests, key="robustness_failure_test", index=choices.default, format_func=lambda t: str(choices.names.get(t))
                )
            failing = failing_examples(reports, which, test, redact=redacting())
            with c2:
                st.markdown(failing.heading)
            failures = failing.failures
            if failures.empty:
                st.success(failing.none_message)
                picked = []
            else:
                event = st.dataframe(
                    display_frame(failures),
                    hide_index=True,
                    on_select="rerun",
                    selection_mode="single-row",
                    key=f"robustness-failures-{test}-{which}",
                    width="stretch",
                    height=300,
                    column_config={
                        "row": st.column_config.NumberColumn("Example", format="%d"),
                        "gold": "Gold",
                        "original": st.column_config.TextColumn("Original", width="large"),
                        "perturbed": st.column_config.TextColumn("Perturbed", width="large"),
                        "pred_before": "Predicted (original)",
                        "pred_after": "Predicted (perturbed)",
                        "watched": "Class watched",
                        "p_before": st.column_config.NumberColumn("P before", format="%.3f"),
                        "p_after": st.column_config.NumberColumn("P after", format="%.3f"),
                        "change": st.column_config.NumberColumn("Change", format="%+.3f"),
                    },
                )
                picked = selected_index(event, failures)
                d1, d2 = st.columns(2)
                d1.download_button(
                    "Download failing pairs (CSV)",
                    failing.csv,
                    file_name=f"probe-failures-{reports[which].checkpoint_name}.csv",
                    mime="text/csv",
                    key="robustness_failures_csv",
                )
                d2.download_button(
                    "Download probe report (JSON)",
                    failing.json,
                    file_name="probe-report.json",
                    mime="application/json",
                    key="robustness_report_json",
                )
            if not picked:
                if not failures.empty:
                    st.caption("Select a row to compare the original and the perturbed text, and to explain why the prediction moved.")
            else:
                f = failures.loc[picked[0]]
                with st.container(border=True):
                    st.markdown(f"**Example {int(f['row'])}** · gold **{md(f['gold'])}**")
                    o, p = st.columns(2)
                    o.markdown(f"**Original** → {md(f['pred_before'])} (P({md(f['watched'])}) = {f['p_before']:.2f})")
                    o.code(display_text(f["original"]), language=None, wrap_lines=True)
                    p.markdown(f"**Perturbed** → {md(f['pred_after'])} (P({md(f['watched'])}) = {f['p_after']:.2f})")
                    p.code(display_text(f["perturbed"]), language=None, wrap_lines=True)
                    predictor = predictors[which]
                    if evalset.pair:  # explaining a pair as one 'first ‖ second' text would explain another input
                        st.caption("Explaining an original and a perturbed sentence pair side by side is not available here yet.")
                    else:
                        method = st.radio(
                            "Explain with",
                            ["ig", "shap", "lime"],
                            horizontal=True,
                            key="robustness_explain_method",
                            format_func=method_name,
                            help="Integrated Gradients takes a fraction of a second and is shown at once; SHAP and LIME take hundreds of model calls "
                            "per text, so they run when you click (their cost is estimated first).",
                        )
                        texts = [f["original"], f["perturbed"]]
                        ready = [cached_attribution(predictor, t, method) for t in texts]
                        if method in GRADIENT_METHODS:  # instant: explained on sight
                            ready = [a or get_attribution(predictor, t, method) for t, a in zip(texts, ready)]
                        elif any(a is None for a in ready):
                            st.caption(pair_explain_cost(predictor, texts, ready, method, default_params(method)))
                            if st.button("Explain the original and the perturbed text", key="robustness_explain", icon=":material/search:"):
                                ready = [a or get_attribution(predictor, t, method) for t, a in zip(texts, ready)]
                        original, perturbed = ready
                        if original is not None and perturbed is not None:
                            if redacting():
                                original, perturbed = original.redacted(), perturbed.redacted()
                            st.plotly_chart(
                                token_heat_comparison(
                                    [original, perturbed], f["watched"], titles=[f"Original → {f['pred_before']}", f"Perturbed → {f['pred_after']}"]
                                ),
                                width="stretch",
                                key="robustness-explain-heat",
                            )
                            st.caption(f"Colour: how much each token pushed P({md(f['watched'])}) up (towards) or down (against), {md(method_name(method))}.")

# =================================================================================================================
with tab_similar:
    st.caption(
        "Each example becomes a vector from the checkpoint's own encoder (the mean of its last hidden states): examples "
        "close together are similar *for this model*. An example whose nearest neighbours mostly carry another gold "
        "label may be mislabelled."
    )
    which = len(refs) - 1
    if len(refs) == 2:
        which = [r.name for r in refs].index(st.radio("Encoder of", [r.name for r in refs], index=1, horizontal=True, key="robustness_encoder"))
    predictor, table = predictors[which], prediction_tables[which]
    state = embedding_state(predictor, table, session.label_mapping)
    index = state.index
    if index is None and not state.ready:
        if state.auto or st.button(f"Compute embeddings ({state.estimate.describe()})", key="robustness_embed", type="primary"):
            index = embedding_index(predictor, table, state)
        else:
            st.info(f"Embeddings are not computed yet. {state.estimate.describe()}", icon=":material/timer:")
    if index is None and state.ready:  # every embedding is stored: read (100k rows: seconds) only when a search needs the vectors
        index = functools.cache(functools.partial(embedding_index, predictor, table, state))
    if index is not None:
        # --- map ------------------------------------------------------------------------------------------------
        st.subheader("Embedding map")
        m1, m2 = st.columns(2)
        method = m1.radio(
            "Projection",
            ["pca", "tsne"],
            horizontal=True,
            key="robustness_projection",
            format_func=lambda m: {"pca": "PCA", "tsne": "t-SNE"}[m],
            help="PCA keeps the big directions and is instant; t-SNE keeps neighbourhoods and takes longer on large sets.",
        )
        color_by = m2.radio(
            "Colour by",
            ["gold", "pred", "correct"],
            horizontal=True,
            key="robustness_color",
            format_func=lambda c: {"gold": "Gold label", "pred": "Prediction", "correct": "Correct?"}[c],
        )
        with st.spinner("Projecting to 2-D…"):
            frame = embedding_map(index, state.key, method, table=table)
        map_event = st.plotly_chart(
            embedding_map_figure(display_frame(frame), color_by),
            on_select="rerun",
            selection_mode=("points", "box", "lasso"),
            key=f"robustness-map-{table.fingerprint[:12]}",
            width="stretch",
        )
        listed = map_examples(table, map_event)
        st.caption("Click, box or lasso points to list them below; double-click the map to clear.")

        shown = listed.shown
        st.markdown(listed.heading)
        row_event = st.dataframe(
            display_frame(shown),
            on_select="rerun",
            selection_mode="single-row",
            key=f"robustness-examples-{table.fingerprint[:12]}",
            width="stretch",
            height=260,
            column_config=example_columns(shown),
        )
        picked = selected_index(row_event, shown)

        # --- nearest neighbours ---------------------------------------------------------------------------------
        st.subheader("Most similar examples")
        k = st.slider("Neighbours", 1, max(1, min(25, len(table) - 1)), min(5, max(1, len(table) - 1)), key="robustness_k")
        query = st.text_input(
            "…of a text you type (or select an example above)", key="robustness_query", placeholder="Type a sentence to find the examples most like it"
        )
        similar = nearest(index, table, predictor, query, picked, k)
        near = similar.frame
        if near is None:
            st.caption("Select an example in the table above, or type a text, to see its nearest neighbours.")
        else:
            st.markdown(similar.heading)
        if similar.row is not None:
            if similar.other_gold and near is not None:
                st.caption(f"{similar.other_gold} of its {len(near)} nearest neighbours carry another gold label.")
            explore_link(similar.row, f"Explain example {similar.row} on the Explore page")
        if near is not None:
            st.dataframe(
                display_frame(near),
                hide_index=True,
                key="robustness-neighbours",
                width="stretch",
                column_config={
                    "row": st.column_config.NumberColumn("Example", format="%d"),
                    "similarity": st.column_config.NumberColumn("Similarity", format="%.3f"),
                    "text": st.column_config.TextColumn("Text", width="large"),
                    "gold": "Gold",
                    "pred": "Predicted",
                    "correct": st.column_config.CheckboxColumn("Correct"),
                    "confidence": st.column_config.NumberColumn("Confidence", format="%.2f"),
                },
            )

        # --- label noise ----------------------------------------------------------------------------------------
        st.subheader("Possible label noise")
        n1, n2 = st.columns(2)
        k_noise = n1.slider("Neighbours to look at", 1, max(1, min(50, len(table) - 1)), default_noise_k(len(table)), key="robustness_noise_k")
        threshold = n2.slider("Flag when this share of them agrees on another label", 0.5, 1.0, NOISE_THRESHOLD, 0.05, key="robustness_noise_threshold")
        noise = label_noise_view(index, k_noise, threshold, redact=redacting(), key=(*state.key, table.cache_key), table=table)
        if noise.frame.empty:
            st.success(noise.summary)
        else:
            st.markdown(noise.summary)
            st.dataframe(
                display_frame(noise.frame),
                hide_index=True,
                key="robustness-noise",
                width="stretch",
                height=300,
                column_config={
                    "row": st.column_config.NumberColumn("Example", format="%d"),
                    "text": st.column_config.TextColumn("Text", width="large"),
                    "gold": "Gold",
                    "suggested": "Neighbours say",
                    "agreement": st.column_config.NumberColumn("Agreement", format="percent"),
                    "pred": "Predicted",
                    "confidence": st.column_config.NumberColumn("Confidence", format="%.2f"),
                    "model_agrees": st.column_config.CheckboxColumn("Model agrees"),
                    "mean_similarity": st.column_config.NumberColumn("Mean similarity", format="%.3f"),
                },
            )
            st.download_button(
                "Download for relabelling (CSV)",
                noise.csv,
                file_name=f"label-noise-{evalset.name.rsplit('.', 1)[0]}.csv",
                mime="text/csv",
                key="robustness_noise_csv",
                help="One row per flagged example, with an empty relabel_to column to fill in.",
            )
