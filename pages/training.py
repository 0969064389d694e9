"""Training: how each chosen checkpoint was made, read from the provenance.json written by `veredicto finetune`."""
import pandas as pd
import streamlit as st

from analysis.hparams import diff_hyperparameters
from dashboard.state import current_session
from models.errors import VeredictoError
from training.provenance import (
    PARAM_LABELS,
    fingerprint_matches,
    learning_curves_figure,
    load_provenance,
    optimization_history_figure,
    param_importance_figure,
    summary,
    trials_frame,
)

session = current_session()
st.title("Training")
st.caption(
    "How each checkpoint was made: the base model and data it started from, the hyperparameter search and every trial, "
    "and the learning curves. Read from the checkpoint's provenance.json (written by `veredicto finetune`)."
)

loaded = {}
for ref in session.checkpoints:
    try:
        loaded[ref] = load_provenance(ref.path)
    except VeredictoError as exc:
        loaded[ref] = exc

containers = st.tabs([ref.name for ref in session.checkpoints]) if len(session.checkpoints) > 1 else [st.container()]
for container, ref in zip(containers, session.checkpoints):
    with container:
        prov = loaded[ref]
        if isinstance(prov, VeredictoError):
            st.error(f"**{ref.name}**: its provenance.json cannot be read. {prov}")
            continue
        if prov is None:
            st.info(
                f"**{ref.name}** has no provenance.json, so how it was trained is not recorded. Checkpoints made with "
                "`veredicto finetune` or `veredicto demo` carry one: base and data fingerprints, the split, "
                "the hyperparameters, every trial of the search and the learning curves."
            )
            continue
        match = fingerprint_matches(prov, ref.fingerprint)
        if match is False:
            recorded = (prov.record.get("checkpoint") or {}).get("fingerprint", "")
            st.warning(
                f"The provenance describes weights `{recorded[:12]}`, but this checkpoint's weights are `{ref.short_fingerprint}`: "
                "the model was changed after training, so this record may not describe it."
            )
        if prov.status == "interrupted":
            st.warning("The search was interrupted: the checkpoint is the best trial found before it stopped. `veredicto finetune ... --resume` continues it.")
        elif prov.status == "running":
            st.warning("The search was still running when this record was written (or it was killed): the list of trials may be incomplete.")

        st.subheader(f"{ref.name}")
        facts = summary(prov)
        st.dataframe(pd.DataFrame({"about": list(facts), "value": list(facts.values())}), hide_index=True, width="stretch")

        st.markdown("**Hyperparameters of this checkpoint**")
        params = prov.hyperparameters
        if params:
            st.dataframe(
                pd.DataFrame({"hyperparameter": [PARAM_LABELS.get(k, k) for k in params], "value": [str(v) for v in params.values()]}),
                hide_index=True,
                width="stretch",
            )
        else:
            st.caption("No hyperparameters recorded (no trial finished).")

        if prov.is_search:
            best = prov.best or {}
            n_trials = len(prov.trials)
            st.markdown(
                f"**Search:** {n_trials} trial(s), TPE sampler, {((prov.record.get('search') or {}).get('pruner') or {}).get('name', 'no pruner')}; "
                + (f"best trial {best['trial'] + 1} with validation {prov.metric_label} **{best['value']:.4f}**." if best else "no trial completed.")
            )
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
        if prov.is_search and prov.trials:
            options = [-1] + [t["number"] for t in prov.trials if (t.get("curves") or {}).get("validation") or (t.get("curves") or {}).get("train")]
            choice = st.selectbox(
                "Curves of",
                options,
                format_func=lambda n: "the saved model" if n == -1 else f"trial {n + 1}",
                key=f"curves-{ref.fingerprint}",
            )
            trial = None if choice == -1 else choice
        curves = prov.record.get("curves") if trial is None else next(t.get("curves") for t in prov.trials if t["number"] == trial)
        if not curves or not (curves.get("train") or curves.get("validation")):
            st.info("No learning curves were recorded for this model (a head-only run, or no trial finished).")
        else:
            st.plotly_chart(learning_curves_figure(prov, trial), width="stretch", key=f"curves-fig-{ref.fingerprint}")

if len(session.checkpoints) == 2:
    first, second = session.checkpoints
    records = [loaded[r].record if hasattr(loaded[r], "record") else None for r in session.checkpoints]
    if all(records):
        st.subheader("What changed between the two")
        st.dataframe(diff_hyperparameters(records[0], records[1], (first.name, second.name)), hide_index=True, width="stretch")
