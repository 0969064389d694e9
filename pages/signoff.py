"""Sign-off: the release gates, a metrics snapshot, where to look before deciding, the decision form,
the sign-off history of these exact weights, and the stakeholder report."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from analysis.views import flip_summary
from dashboard.columns import display_frame, display_text
from dashboard.explanations import attribution_cache
from dashboard.links import explore_link
from dashboard.state import allowed_files, chosen_training, current_session, get_predictor, redacting, tables, team_mode
from explain.cache import page_explain_params
from models.errors import VeredictoError
from policies import default_policy, example_policy
from quality.training import HOW_TO_GIVE, TrainingData
from runtime import settings
from runtime.escaping import md
from store.audit import DECISIONS, StoreError, open_store
from store.gates import stored_evaluation
from store.identity import LoginRefused, TeamConfigError, oidc_configured, oidc_reviewer, secrets_reviewers, team_config
from store.labels import corrected_count, with_corrections_noted
from store.policy import MAX_POLICY_BYTES, PolicyError, load_policy, parse_policy
from store.views import record_signoff, signoff_view

DEFAULT_POLICY = str(default_policy())
ERRORS_PAGE, COMPARE_PAGE = "pages/errors.py", "pages/compare.py"
FLASH = "signoff_flash"
POLICY_SUFFIXES = (".yaml", ".yml", ".toml")
STATE_ICON = {
    "approved": ":material/verified:",
    "rejected": ":material/block:",
    "chain broken": ":material/gpp_bad:",
    "changes_requested": ":material/edit_note:",
    "pending": ":material/hourglass_top:",
    "stale": ":material/warning:",
    "unsigned": ":material/pending:",
}


@st.cache_resource(show_spinner=False, max_entries=16)
def gate_report(_policy, _table, _baseline, _predictor, _training, key: tuple, corrections: int = 0):
    """Every gate but approvals is a pure function of (weights, data, policy, baseline): compute once (or read it from the
    results store, where it outlives a restart), share."""
    return stored_evaluation(
        _policy,
        _table,
        corrections=corrections,
        baseline=_baseline,
        predictor=_predictor,
        checkpoint_path=key[1],
        cache=attribution_cache(),
        explain_params=page_explain_params(),
        # Leakage and drift gates: the training file chosen on the Data page, else the one the checkpoint's provenance
        # names (team mode: only under the allow-listed folders; dashboard.state.chosen_training)
        training=_training,
    )


@st.cache_data(show_spinner=False, max_entries=16)
def flips_for(_baseline, _table, baseline_key: str, table_key: str):
    """Which predictions the candidate fixed or broke: a pure function of the two tables, so computed once per pair."""
    return flip_summary(_baseline, _table)


@st.cache_resource(show_spinner=False)
def audit_store(url: str | None):
    return open_store(url)


def status_box(state: str, message: str) -> None:
    box = {"approved": st.success, "rejected": st.error, "chain broken": st.error, "stale": st.warning, "changes_requested": st.warning}.get(state, st.info)
    box(f"**Sign-off status: {md(state.replace('_', ' '))}.** {md(message)}", icon=STATE_ICON.get(state))


# --- inputs -----------------------------------------------------------------------------------------------------

session = current_session()
st.title("Sign-off")
candidate_ref = session.candidate
baseline_ref = session.baseline if len(session.checkpoints) > 1 else None
all_tables = tables(session)
table = all_tables[-1]
corrections = corrected_count(tables(session, as_labelled=True)[-1], table)  # the sidebar's gold-label choice, recorded with a sign-off
baseline = all_tables[0] if baseline_ref is not None else None

in_team_mode = team_mode()
with st.expander("Policy and audit store", expanded=False):
    if in_team_mode:  # no free path: a policy under the roots this server shares, the one it was started with, or the bundled example
        policy_roots = (*settings.data_roots(), *settings.checkpoint_roots())
        policy_files = list(
            dict.fromkeys(
                [str(Path(DEFAULT_POLICY).resolve()), str(example_policy().resolve()), *allowed_files(tuple(map(str, policy_roots)), POLICY_SUFFIXES)]
            )
        )
        policy_path = st.selectbox(
            "Policy file",
            policy_files,
            format_func=lambda p: f"{Path(p).parent.name}/{Path(p).name}",
            key="signoff_policy_choice",
            help="Policies under the folders this server shares; or upload one.",
        )
    else:
        policy_path = st.text_input(
            "Policy file", value=DEFAULT_POLICY, key="signoff_policy_path", help="YAML or TOML; see policies/example.yaml and docs/signoff.md."
        )
    upload = st.file_uploader("…or upload a policy", type=["yaml", "yml", "toml"], key="signoff_policy_upload", help=f"At most {MAX_POLICY_BYTES // 1024} KiB.")
    st.caption(f"A policy upload may be up to {MAX_POLICY_BYTES // 1024} KiB.")
try:
    if upload is not None:
        if upload.size > MAX_POLICY_BYTES:  # refused before a byte of it is parsed
            raise PolicyError(f"{upload.name}: the policy file is larger than {MAX_POLICY_BYTES // 1024} KiB, the most a policy may be.")
        policy = parse_policy(upload.getvalue(), source=upload.name, quote_values=not in_team_mode)
    elif in_team_mode:
        allowed = [*policy_roots, Path(DEFAULT_POLICY), example_policy()]
        policy = load_policy(settings.allowed_path(policy_path or "", allowed, "policy file"), quote_values=False)  # a crafted session value is refused
    else:
        policy = load_policy(policy_path)
except settings.PathNotAllowed as exc:
    st.error(f"The policy cannot be used: {md(exc)}", icon=":material/policy:")
    st.stop()
except PolicyError as exc:
    st.error(f"The policy cannot be used: {md(exc)}", icon=":material/policy:")
    st.stop()
try:
    store = audit_store(os.environ.get("VEREDICTO_STORE_URL") or None)
except StoreError as exc:
    st.error(str(exc), icon=":material/database:")
    st.stop()

st.caption(
    f"Candidate **{candidate_ref.name}** (`{candidate_ref.short_fingerprint}`)"
    + (f" against baseline **{baseline_ref.name}** (`{baseline_ref.short_fingerprint}`)" if baseline_ref else "")
    + f" on **{table.data_name}** ({len(table):,} examples, `{table.data_fingerprint[:12]}`) · policy **{policy.name or Path(policy.source).name}** "
    f"(`{policy.sha256[:12]}`) · audit store `{store.display_url}`"
)

try:
    training = chosen_training(session)
except (VeredictoError, settings.PathNotAllowed) as exc:
    training = TrainingData(None, "", f"The training file chosen on the Data page cannot be used: {exc} {HOW_TO_GIVE}")
key = (
    candidate_ref.fingerprint,
    str(candidate_ref.path),
    table.cache_key,  # the data as judged: mapping, thresholds and gold labels (as labelled or with the reviewers' corrections)
    policy.sha256,
    baseline.cache_key if baseline is not None else "",
    tuple(sorted(session.label_mapping.items())),
    training.key,
)
sample = int(policy.settings["faithfulness_sample"]) if "min_faithfulness" in policy.gates else 0
try:
    with st.spinner("Evaluating the gates" + (f" (explaining {sample} texts for the faithfulness gate)…" if sample else "…")):
        report = gate_report(policy, table, baseline, get_predictor(candidate_ref), training, key, corrections)
except (PolicyError, VeredictoError) as exc:
    st.error(str(exc))
    st.stop()
view = signoff_view(report, store, candidate_ref, baseline=baseline, table=table, flips=lambda b, t: flips_for(b, t, b.cache_key, t.cache_key))
report, approval = view.report, view.approval

flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(flash, icon=":material/task_alt:")
status_box(approval.state, approval.message)

# --- gates ------------------------------------------------------------------------------------------------------

st.subheader("Release gates")
gates_box = {"warning": (st.warning, ":material/help:"), "error": (st.error, ":material/gpp_bad:"), "success": (st.success, ":material/gpp_good:")}
box, icon = gates_box[view.gates_tone]
box(view.gates_text, icon=icon)
st.dataframe(
    display_frame(view.gates),  # a slice gate's detail names the slice, which can be a metadata value
    hide_index=True,
    width="stretch",
    key="signoff_gates",
    column_config={"How it was measured": st.column_config.TextColumn(width="large")},
)

# --- metrics snapshot -------------------------------------------------------------------------------------------

st.subheader("Metrics snapshot")
st.caption(f"Task: {md(view.task)}")
for col, number in zip(st.columns(len(view.headline)), view.headline):
    col.metric(number.label, number.value, help=number.help, delta=number.delta, delta_color="inverse" if number.lower_is_better else "normal")
st.dataframe(
    view.per_class,
    hide_index=True,
    width="stretch",
    key="signoff_per_class",
    column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("Precision", "Recall", "Recall 95% low", "Recall 95% high", "F1")},
)

# --- where to look ------------------------------------------------------------------------------------------------

st.subheader("Before you decide, look at")
worst = view.worst_slices
left, right = st.columns(2)
with left:
    st.markdown("**Weakest slices**")
    if len(worst):
        st.dataframe(
            display_frame(worst),
            hide_index=True,
            width="stretch",
            key="signoff_worst_slices",
            column_config={"Accuracy": st.column_config.NumberColumn(format="percent"), "vs overall": st.column_config.NumberColumn(format="%+.3f")},
        )
    else:
        st.caption(f"No slice with at least {policy.settings['slice_min_size']} examples is below the overall accuracy.")
    st.page_link(ERRORS_PAGE, label="Slices and confident mistakes on the Errors page", icon=":material/error:")
with right:
    st.markdown("**Flipped predictions**")
    if view.flips is not None:
        flips = view.flips
        st.caption(f"{flips.fixed} fixed, {flips.broken} broken by the candidate.")
        for index, row in flips.first_broken.iterrows():
            text = display_text(row["text"])
            explore_link(index, f"Broken #{index}: {text[:70]}{'…' if len(text) > 70 else ''}")
        st.page_link(COMPARE_PAGE, label="All flips and per-slice changes on the Compare page", icon=":material/compare_arrows:")
    else:
        st.caption("Choose a baseline checkpoint in the sidebar to see which predictions the candidate changed.")

# --- the decision -------------------------------------------------------------------------------------------------

st.subheader("Your decision")
reviewer = None
use_oidc = oidc_configured(st.secrets)
reviewers = secrets_reviewers(st.secrets)
try:
    team = team_config(st.secrets)
except TeamConfigError as exc:
    st.error(str(exc), icon=":material/lock:")
    st.stop()
if use_oidc:
    try:
        reviewer = oidc_reviewer(st.user)
        refusal = None
    except LoginRefused as exc:
        refusal = str(exc)
    if refusal:
        st.error(refusal, icon=":material/lock:")
        st.button("Log out", on_click=st.logout, key="signoff_logout")
    elif reviewer is None:
        st.info("Log in with your organisation's account to sign off.", icon=":material/login:")
        st.button("Log in", on_click=st.login, key="signoff_login")
    else:
        role = team.role(reviewer.identity) if team is not None else None
        role_text = {"approver": "may approve", "reviewer": "may reject or request changes, not approve"}.get(role or "", "not on the reviewer allow-list")
        st.caption(f"Signed in as **{md(reviewer.name)}** ({md(reviewer.identity)}; {role_text}).")
        if team is None:
            st.warning(
                "No reviewer allow-list (`[veredicto.team]` in `.streamlit/secrets.toml`) is configured, so OIDC logins cannot sign off. "
                "List who may sign and who may approve by identity; see docs/signoff.md.",
                icon=":material/lock:",
            )
        st.button("Log out", on_click=st.logout, key="signoff_logout")
elif not reviewers:
    st.warning(
        "No reviewer identity is configured, so sign-offs are disabled. Configure an OIDC provider (`[auth]` in "
        "`.streamlit/secrets.toml`) or list reviewers under `[veredicto.reviewers]` with `veredicto audit hash-password`; see docs/signoff.md.",
        icon=":material/lock:",
    )
can_sign = (reviewer is not None and team is not None and team.role(reviewer.identity) is not None) if use_oidc else bool(reviewers)
if can_sign:
    with st.form("signoff_form", clear_on_submit=False):
        if not use_oidc:
            name = st.selectbox("Reviewer", sorted(reviewers), index=None, placeholder="Choose your name", key="signoff_reviewer")
            password = st.text_input("Password", type="password", key="signoff_password")
        decision = st.radio("Decision", list(DECISIONS), format_func=DECISIONS.get, horizontal=True, index=None, key="signoff_decision")
        comment = st.text_area(
            "Comment",
            key="signoff_comment",
            placeholder="Why? Required to reject or request changes.",
            help="Recorded verbatim in the audit trail with the gates, metrics and policy shown above.",
        )
        if report.failed or report.not_evaluated:
            st.caption(f"Note: the gates are {report.verdict}; whatever you decide is recorded together with those results.")
        if corrections:
            st.caption(f"The numbers above use {corrections:,} reviewer correction(s) of the gold labels; the sign-off records that.")
        submitted = st.form_submit_button("Record sign-off", type="primary")
    if submitted:
        outcome = record_signoff(
            store,
            with_corrections_noted(report.signoff_fields(), corrections),
            decision=decision,
            comment=comment,
            reviewer=reviewer if use_oidc else None,
            reviewers=reviewers,
            name=None if use_oidc else name,
            password=None if use_oidc else password,
            client=st.context.ip_address,  # failed logins are also throttled per client where Streamlit knows its address
            team=team,
        )
        if outcome.error:
            st.error(outcome.error)
        else:
            st.session_state[FLASH] = outcome.message
            for field in ("signoff_password", "signoff_comment"):
                st.session_state.pop(field, None)
            st.rerun()

# --- history ------------------------------------------------------------------------------------------------------

st.subheader("Sign-off history")
chain = view.chain
if chain.ok:
    st.caption(f"Audit chain verified: {chain.records:,} record(s) in the store, every hash and link checks out (head `{chain.head_hash[:16]}…`).")
else:
    st.error(
        f"**Audit chain broken** at record #{chain.first_bad}: {chain.problem} Do not rely on this history; run `veredicto audit verify`.",
        icon=":material/gpp_bad:",
    )
if view.history is not None:
    st.dataframe(view.history, hide_index=True, width="stretch", key="signoff_history")
    if approval.stale:
        st.caption("STALE rows were signed for other weights at this path: the checkpoint files changed afterwards, so they do not count.")
else:
    st.caption("No sign-off yet for this checkpoint.")

# --- report -------------------------------------------------------------------------------------------------------

st.subheader("Stakeholder report")
st.caption(
    "One self-contained HTML file (opens offline, prints to PDF): summary, gates, metrics with intervals, before/after, "
    "worst slices, explained examples (SHAP and LIME) and this history."
    + (" Its gates and numbers use the gold labels as labelled, with the reviewers' corrections beside them." if corrections else "")
)
report_key = (key, view.n_records, chain.head_hash, redacting())  # a report built unredacted is not offered once redaction is on
if st.button("Build the report", icon=":material/description:", key="signoff_build_report"):
    from store.report import make_report

    bar = st.progress(0.0, text="Explaining a few examples with SHAP and LIME…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Explaining examples: {done}/{total}")

    try:
        judged, judged_table, judged_baseline = report, table, baseline
        if corrections:  # the report's own convention: gates and numbers as labelled, the reviewers' corrections beside them
            labelled = tables(session, as_labelled=True)
            judged_table, judged_baseline = labelled[-1], (labelled[0] if baseline is not None else None)
            labelled_key = (*key[:2], judged_table.cache_key, key[3], judged_baseline.cache_key if judged_baseline is not None else "", *key[5:])
            judged = gate_report(policy, judged_table, judged_baseline, get_predictor(candidate_ref), training, labelled_key)
            judged = signoff_view(
                judged, store, candidate_ref, baseline=judged_baseline, table=judged_table, flips=lambda b, t: flips_for(b, t, b.cache_key, t.cache_key)
            ).report
        html = make_report(
            judged,
            judged_table,
            baseline=judged_baseline,
            predictor=get_predictor(candidate_ref),
            store=store,
            cache=attribution_cache(),
            explain_params=page_explain_params(),
            progress=progress,
            redact=redacting(),
        )
    except VeredictoError as exc:
        st.error(str(exc))
    else:
        st.session_state["signoff_report"] = (report_key, html)
    finally:
        bar.empty()
built = st.session_state.get("signoff_report")
if built and built[0] == report_key:
    st.download_button(
        "Download report.html",
        data=built[1],
        file_name=f"veredicto-report-{candidate_ref.name}-{candidate_ref.short_fingerprint}.html",
        mime="text/html",
        icon=":material/download:",
        key="signoff_download",
    )
elif built:
    st.caption("The sign-offs changed since the report was built; build it again to include them.")
