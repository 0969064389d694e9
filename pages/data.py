"""Data: can these numbers be believed, and may they be shown? Gold labels that look wrong, the reviewers' decisions
on them and the metrics with those corrections; leakage and drift against the training data; personal data in the texts."""

from __future__ import annotations

import streamlit as st

from dashboard.state import current_session, embedding_index, get_predictor, redacting, tables, team_mode, training_choice
from models.errors import VeredictoError
from privacy.figures import pii_counts_figure
from probes.views import embedding_state
from quality.views import (
    accuracy_delta,
    data_view,
    kept_issues,
    measure_quality,
    personal_data,
    quality_section,
    record_decision,
    training_personal_data,
)
from runtime.escaping import md
from runtime.settings import PathNotAllowed
from store.audit import StoreError, open_store
from store.identity import LoginRefused, TeamConfigError, oidc_configured, oidc_reviewer, secrets_reviewers, team_config

FLASH = "data_flash"

session = current_session()
st.title("Data")
st.caption(
    "Before trusting the numbers: which gold labels look wrong, what reviewers decided about them, and how the metrics "
    "read with those corrections; whether the evaluation texts were in the training data or look unlike it; and which "
    "texts carry personal data. Decisions are stored with who and when, and every page's metrics can use them "
    "(sidebar: 'Use reviewers' label corrections')."
)
table = tables(session, as_labelled=True, only=-1)[0]  # decisions are made on the gold labels as in the file
redact = redacting()
predictor = get_predictor(session.candidate)
try:
    store = open_store()
except StoreError as exc:
    st.error(str(exc), icon=":material/database:")
    st.stop()

# --- embeddings for the neighbour hints (computed on sight when cheap, else on request; not needed when the hints are kept) --
index = index_key = None
if kept_issues(table) is None:
    state = embedding_state(predictor, table, session.label_mapping)
    index, index_key = state.index, state.key
    if index is None and (
        state.auto or st.button(f"Compute embeddings for the neighbour hints ({state.estimate.describe()})", key="data_embed", type="primary")
    ):
        index = embedding_index(predictor, table, state)

try:
    view = data_view(store, table, index, index_key=index_key, redact=redact)
except (StoreError, VeredictoError) as exc:
    st.error(str(exc))
    st.stop()

flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(flash, icon=":material/task_alt:")

# --- label issues ----------------------------------------------------------------------------------------------------
st.subheader("Label issues")
st.caption(
    f"Ranked from **{md(session.candidate.name)}**'s predictions on {md(table.data_name)} (`{table.data_fingerprint[:12]}`): examples "
    "confident learning (cleanlab, on the model's probabilities) flags, and examples whose nearest neighbours (in the model's embeddings) "
    "mostly carry another gold label; 'Flagged by' says which. Each is a hint for a person to check, not a verdict."
)
for need in view.needs:
    st.info(need, icon=":material/info:")
if view.issues.empty:
    if view.summary:
        st.success(view.summary)
else:
    st.markdown(view.summary)
    st.dataframe(
        view.issues,
        hide_index=True,
        width="stretch",
        height=320,
        key="data_issues",
        column_config={
            "row": st.column_config.NumberColumn("Example", format="%d"),
            "text": st.column_config.TextColumn("Text", width="large"),
            "text_pair": st.column_config.TextColumn("Second text", width="large"),
            "gold": "Gold",
            "suggested": "Suggested",
            "pred": "Predicted",
            "confidence": st.column_config.NumberColumn("Confidence", format="percent"),
            "gold_probability": st.column_config.NumberColumn("P(gold)", format="percent", help="The model's probability of the gold label"),
            "flagged_by": "Flagged by",
            "decision": "Decision",
            "decided_by": "By",
            "decided_at": "When (UTC)",
        },
    )

    # --- recording a decision ------------------------------------------------------------------------------------------
    st.markdown("**Record a decision**")
    reviewer = None
    reviewers = secrets_reviewers(st.secrets)
    use_oidc = oidc_configured(st.secrets)
    in_team_mode = team_mode()
    try:
        team = team_config(st.secrets)
    except TeamConfigError as exc:
        st.error(str(exc), icon=":material/lock:")
        st.stop()
    can_record = True
    if use_oidc:
        try:
            reviewer = oidc_reviewer(st.user)
        except LoginRefused as exc:
            st.error(str(exc), icon=":material/lock:")
            can_record = False
        if can_record and reviewer is None:
            st.info("Log in with your organisation's account to record decisions.", icon=":material/login:")
            st.button("Log in", on_click=st.login, key="data_login")
            can_record = False
        elif reviewer is not None:
            st.caption(f"Deciding as **{md(reviewer.name)}** ({md(reviewer.identity)}).")
    elif in_team_mode and not reviewers:
        st.warning(
            "No reviewer identity is configured, so label decisions are disabled in team mode. Configure an OIDC provider or "
            "`[veredicto.reviewers]` in `.streamlit/secrets.toml`; see docs/signoff.md.",
            icon=":material/lock:",
        )
        can_record = False
    if can_record:
        rows = [int(r) for r in view.issues["row"]]
        left, right = st.columns([3, 2])
        with left:
            row = st.selectbox("Example", rows, format_func=view.choices.__getitem__, key="data_row")
            note = st.text_input("Note (optional)", key="data_note", placeholder="Why? e.g. 'sarcastic: the gold label is right'")
        with right:
            verdict = st.radio(
                "The gold label is", ["wrong", "right"], format_func={"wrong": "wrong →", "right": "right"}.get, horizontal=True, key="data_verdict"
            )
            chosen = view.issues[view.issues["row"] == row]
            suggested = str(chosen["suggested"].iat[0]) if len(chosen) else None
            labels = list(table.labels)
            corrected = st.selectbox(
                "Correct label",
                labels,
                index=labels.index(suggested) if suggested in labels else None,
                key="data_corrected",
                disabled=verdict != "wrong",
                help="The label this example should carry; one of the checkpoint's labels.",
            )
            name = password = None
            if not use_oidc:
                if reviewers:
                    name = st.selectbox("Reviewer", sorted(reviewers), index=None, placeholder="Choose your name", key="data_reviewer")
                    password = st.text_input("Password", type="password", key="data_password")
                else:
                    name = st.text_input("Your name", key="data_name", help="Recorded with the decision, as who decided.")
        if st.button("Record decision", type="primary", key="data_record", icon=":material/fact_check:"):
            outcome = record_decision(
                store,
                table,
                row=row,
                verdict=verdict,
                corrected=corrected if verdict == "wrong" else None,
                note=note,
                team_mode=in_team_mode,
                reviewer=reviewer,
                reviewers=reviewers,
                name=name,
                password=password,
                client=st.context.ip_address,
                team=team,
            )
            if outcome.error:
                st.error(md(outcome.error))
            else:
                st.session_state[FLASH] = outcome.message
                st.session_state.pop("data_password", None)
                st.session_state.pop("data_note", None)
                st.rerun()

# --- the decisions and what they change --------------------------------------------------------------------------------
st.subheader("Reviewers' decisions")
if view.history is None:
    st.caption("No decision on this data yet.")
else:
    st.caption(f"{len(view.history):,} decision(s) on this data, newest first; the latest per example counts ({view.decided:,} example(s)).")
    st.dataframe(view.history, hide_index=True, width="stretch", key="data_history", column_config={"Text": st.column_config.TextColumn(width="large")})
    st.download_button(
        "Download the decisions (CSV)",
        data=view.csv,
        file_name=f"label-decisions-{table.data_fingerprint[:12]}.csv",
        mime="text/csv",
        icon=":material/download:",
        key="data_csv",
    )
    st.caption("Also from the command line: `veredicto labels export --data FILE`.")
if view.gold is not None:
    gold = view.gold
    a, b = st.columns(2)
    a.metric("Accuracy as labelled", f"{gold.as_labelled.accuracy:.1%}")
    b.metric(
        f"Accuracy with {gold.corrections:,} reviewer correction(s)",
        f"{gold.corrected.accuracy:.1%}",
        delta=accuracy_delta(gold),
        help="The same predictions judged against the gold labels reviewers corrected. The sidebar's 'Use reviewers' label corrections' switches every page to them.",
    )

# --- leakage and drift against the training data -------------------------------------------------------------------------
st.subheader("Training data: leakage and drift")
try:
    training = training_choice(session)
except (VeredictoError, PathNotAllowed) as exc:
    st.error(md(str(exc)), icon=":material/dataset:")
    training = None
if training is not None:
    quality = None
    if training.available:

        def show_progress(done: int, total: int) -> None:
            bar.progress(min(1.0, done / max(total, 1)), text=f"Leakage and drift: {done:,}/{total:,}")

        bar = st.progress(0.0, text=f"Comparing {len(table):,} evaluation texts with the training data…")
        try:
            quality = measure_quality(
                predictor,
                table,
                training,
                label_mapping=session.label_mapping,
                progress=show_progress,
            )
        except VeredictoError as exc:
            st.error(md(str(exc)))
        bar.empty()
    section = quality_section(quality, training, redact=redact)
    if section.training:
        st.caption(section.training)
    for need in section.needs:
        st.info(need, icon=":material/info:")
    if section.leakage is not None:
        st.markdown("**Leakage**")
        st.markdown(section.leakage)
        if section.clean is not None:
            st.caption("The headline numbers beside the same numbers without the evaluation rows found in the training data.")
            st.dataframe(section.clean, width="stretch", key="data_clean_metrics")
        if section.leaked is not None and len(section.leaked):
            st.dataframe(
                section.leaked,
                hide_index=True,
                width="stretch",
                key="data_leaked",
                column_config={
                    "row": st.column_config.NumberColumn("Example", format="%d"),
                    "text": st.column_config.TextColumn("Evaluation text", width="large"),
                    "text_pair": st.column_config.TextColumn("Evaluation second text", width="large"),
                    "train_row": st.column_config.NumberColumn("Training row", format="%d"),
                    "train_text": st.column_config.TextColumn("Training text", width="large"),
                    "train_text_pair": st.column_config.TextColumn("Training second text", width="large"),
                    "similarity": st.column_config.NumberColumn("Similarity", format="%.2f"),
                    "kind": "Kind",
                },
            )
        if section.within is not None and len(section.within):
            st.caption("Evaluation texts that repeat an earlier evaluation text:")
            st.dataframe(section.within, hide_index=True, width="stretch", key="data_within")
    if section.drift is not None:
        st.markdown("**Drift**")
        st.markdown(section.drift)
        left, right = st.columns(2)
        if section.drift_numbers is not None:
            left.dataframe(section.drift_numbers, width="stretch", key="data_drift_numbers")
        if section.balance is not None:
            right.dataframe(
                section.balance,
                width="stretch",
                key="data_balance",
                column_config={
                    "train_share": st.column_config.NumberColumn("Training", format="percent"),
                    "eval_share": st.column_config.NumberColumn("Evaluation", format="percent"),
                    "difference": st.column_config.NumberColumn("Difference", format="percent"),
                    "in_checkpoint": "In the checkpoint",
                },
            )
        if section.unlike is not None and len(section.unlike):
            st.caption("The evaluation texts most unlike the training data (the domain classifier's probability that a text is from the evaluation side):")
            st.dataframe(
                section.unlike,
                hide_index=True,
                width="stretch",
                key="data_unlike",
                column_config={
                    "row": st.column_config.NumberColumn("Example", format="%d"),
                    "text": st.column_config.TextColumn("Text", width="large"),
                    "text_pair": st.column_config.TextColumn("Second text", width="large"),
                    "p_eval": st.column_config.NumberColumn("P(evaluation)", format="%.3f"),
                },
            )

# --- personal data -------------------------------------------------------------------------------------------------------
st.subheader("Personal data")
scanned = [("evaluation data", "data_pii", personal_data(session.evalset, redact=redact))]
if training is not None:
    try:
        train_pii = training_personal_data(training, redact=redact)
    except VeredictoError as exc:
        st.error(md(str(exc)), icon=":material/dataset:")
        train_pii = None
    if train_pii is not None:
        scanned.append(("training data", "data_pii_train", train_pii))
for what, key, pii in scanned:
    st.markdown(f"**In the {what}:** {pii.message}")
    if pii.scan.rows_with_pii:
        st.plotly_chart(pii_counts_figure(pii.scan), width="stretch", key=f"{key}_figure")
        st.dataframe(pii.counts, hide_index=True, width="stretch", key=f"{key}_counts")
        st.caption("Examples, the value in its context" + (" (masked: redaction is on)." if redact else "."))
        st.dataframe(pii.examples, hide_index=True, width="stretch", key=f"{key}_examples")
