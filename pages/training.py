"""Training: how each chosen checkpoint was made, read from the provenance.json written by `veredicto finetune`."""

from __future__ import annotations

import streamlit as st

from dashboard.state import current_session
from runtime.escaping import md
from training.provenance import learning_curves_figure, optimization_history_figure, param_importance_figure, trials_frame
from training.views import curve_choices, hyperparameter_changes, learning_curves, training_view

session = current_session()
st.title("Training")
st.caption(
    "How each checkpoint was made: the base model and data it started from, the hyperparameter search and every trial, "
    "and the learning curves. Read from the checkpoint's provenance.json (written by `veredicto finetune`)."
)

loaded = {ref: training_view(ref) for ref in session.checkpoints}

containers = st.tabs([ref.name for ref in session.checkpoints]) if len(session.checkpoints) > 1 else [st.container()]
for container, ref in zip(containers, session.checkpoints):
    with container:
        view = loaded[ref]
        prov = view.provenance
        if view.error is not None:
            st.error(f"**{md(ref.name)}**: its provenance.json cannot be read. {view.error}")
            continue
        if prov is None:
            st.info(
                f"**{ref.name}** has no provenance.json, so how it was trained is not recorded. Checkpoints made with "
                "`veredicto finetune` or `veredicto demo` carry one: base and data fingerprints, the split, "
                "the hyperparameters, every trial of the search and the learning curves."
            )
            continue
        for warning in view.warnings:
            st.warning(warning)

        st.subheader(md(ref.name))
        st.dataframe(view.facts, hide_index=True, width="stretch")

        st.markdown("**Hyperparameters of this checkpoint**")
        if view.hyperparameters is not None:
            st.dataframe(view.hyperparameters, hide_index=True, width="stretch")
        else:
            st.caption("No hyperparameters recorded (no trial finished).")

        if view.search is not None:
            st.markdown(view.search)
            st.dataframe(
                trials_frame(prov),
                hide_index=True,
                width="stretch",
                column_config={
                    prov.metric: st.column_config.NumberColumn(f"Validation {prov.metric_label}", format="%.4f"),
                    "learning_rate": st.column_config.NumberColumn("Learning rate", format="%.2e"),
                    "weight_decay": st.column_config.NumberColumn("Weight decay", format="%.3f"),
                    "warmup_ratio": st.column_config.NumberColumn("Warm-up", format="%.2f"),
                    "seconds": st.column_config.NumberColumn("Seconds", format="%.0f"),
                },
            )
            left, right = st.columns(2)
            with left:
                history = optimization_history_figure(prov)
                if history is None:
                    st.info("No trial completed, so there is no optimisation history.")
                else:
                    st.plotly_chart(history, width="stretch", key=f"history-{ref.fingerprint}")
            with right:
                importance, reason = param_importance_figure(prov)
                if importance is None:
                    st.info(reason)
                else:
                    st.plotly_chart(importance, width="stretch", key=f"importance-{ref.fingerprint}")
        else:
            st.caption("Trained once with fixed hyperparameters: there was no search, so there are no trials to show.")

        st.markdown("**Learning curves**")
        trial = None
        options = curve_choices(prov)
        if options:
            choice = st.selectbox(
                "Curves of",
                options,
                format_func=lambda n: "the saved model" if n == -1 else f"trial {n + 1}",
                key=f"curves-{ref.fingerprint}",
            )
            trial = None if choice == -1 else choice
        if learning_curves(prov, trial) is None:
            st.info("No learning curves were recorded for this model (a head-only run, or no trial finished).")
        else:
            st.plotly_chart(learning_curves_figure(prov, trial), width="stretch", key=f"curves-fig-{ref.fingerprint}")

if len(session.checkpoints) == 2:
    changes = hyperparameter_changes(loaded[session.checkpoints[0]], loaded[session.checkpoints[1]])
    if changes is not None:
        st.subheader("What changed between the two")
        st.dataframe(changes, hide_index=True, width="stretch")
