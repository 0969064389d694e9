"""What the Sign-off page shows and does, without Streamlit: the decision workflow (validate, then record), the
audit-chain check reused until the chain's head moves, and the history as rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.views import HeadlineNumber
from runtime import LRUCache, current
from runtime.escaping import md
from store.audit import AuditStore, SignoffRecord, StoreError, VerifyResult, freshness, normalise_decision
from store.identity import LoginRefused, LoginThrottle, Team, authorize, login

# --- the decision ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignoffOutcome:
    """What submitting the form did: `record` when something was recorded, else `error` says why not."""

    record: SignoffRecord | None = None
    error: str | None = None

    @property
    def message(self) -> str:
        """The confirmation shown after a recorded sign-off."""
        r = self.record
        if r is None:
            return ""
        return (
            f"Recorded sign-off #{r.seq}: **{md(r.decision_label)}** by {md(r.reviewer)} for "
            f"{md(r.checkpoint_name)} (`{md(r.checkpoint_fingerprint[:12])}`), hash `{md(r.record_hash[:16])}…`."
        )


def record_signoff(
    store: AuditStore,
    judged: Mapping[str, Any],
    *,
    decision: str | None,
    comment: str,
    reviewer=None,
    reviewers: Mapping[str, Any] | None = None,
    name: str | None = None,
    password: str | None = None,
    client: str | None = None,
    throttle: LoginThrottle | None = None,
    team: Team | None = None,
) -> SignoffOutcome:
    """Validate a submitted decision and append it to the audit chain.

    The reviewer is either already known (`reviewer`, e.g. from an OIDC login) or checked here against `reviewers`
    (name and password; failed attempts are throttled per name and per `client`, e.g. the browser's IP address, by the
    process's `LoginThrottle` unless `throttle` is given). `judged` is what the reviewer saw
    (`GateReport.signoff_fields()`), recorded with the decision. `team` (`[veredicto.team]`) says who may sign and who
    may approve; without it only password accounts may sign (`store.identity.authorize`: OIDC fails closed).
    """
    if reviewer is None:
        if not name:
            return SignoffOutcome(error="Choose your name and enter your password.")
        try:
            reviewer = login(reviewers or {}, name, password or "", client=client, throttle=throttle)
        except LoginRefused as exc:
            return SignoffOutcome(error=str(exc))
    if decision is None:
        return SignoffOutcome(error="Choose a decision: approve, reject or changes requested.")
    try:
        authorize(reviewer, normalise_decision(decision), team)
    except (LoginRefused, StoreError) as exc:
        return SignoffOutcome(error=str(exc))
    try:
        record = store.append(reviewer=reviewer.name, identity=reviewer.identity, decision=decision, comment=comment, **judged)
    except StoreError as exc:
        return SignoffOutcome(error=str(exc))
    return SignoffOutcome(record=record)


# --- the chain check ------------------------------------------------------------------------------------------------


class ChainChecks:
    """`AuditStore.verify()` re-hashes every record: do it once per (store, chain head) and reuse the result until the
    head moves (a new sign-off, or records removed from the end) or `max_age` seconds have passed. Bounded; safe to
    share between sessions.

    Editing an older record in place leaves the head as it is, so that is caught on the first check after the head
    moves or the result ages out (within `max_age`), and always at once by `veredicto audit verify`.
    """

    def __init__(self, keep: int = 32, max_age: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.keep, self.max_age, self._clock = keep, max_age, clock
        self._results = LRUCache(max_items=keep)  # (store url, head) -> (checked at, VerifyResult)

    def verify(self, store: AuditStore) -> VerifyResult:
        key, now = (store.url, store.head()), self._clock()
        cached = self._results.get(key)
        if cached is not None and now - cached[0] <= self.max_age:
            return cached[1]
        result = store.verify()
        self._results.put(key, (now, result))
        return result

    def clear(self) -> None:
        self._results.clear()


CHAIN_CHECKS: ChainChecks = current().shared("chain_checks", ChainChecks)  # one per process, owned by the runtime


# --- the history ----------------------------------------------------------------------------------------------------


def history_frame(records: list[SignoffRecord], fingerprint_now: str) -> pd.DataFrame:
    """The sign-off history as shown: one row per record, records for other weights marked STALE."""
    return pd.DataFrame(
        [
            {
                "#": r.seq,
                "When (UTC)": r.created_at[:19].replace("T", " "),
                "Reviewer": r.reviewer,
                "Identity": r.identity,
                "Decision": r.decision_label,
                "Task": r.task_text,
                "Weights": "these weights" if freshness(r, fingerprint_now) == "current" else f"STALE: {r.checkpoint_fingerprint[:12]}",
                "Gates passed": f"{r.gates_passed}/{r.gates_total}",
                "Comment": r.comment,
            }
            for r in records
        ]
    )


# --- the page, read side --------------------------------------------------------------------------------------------

GATE_MARKS = {"PASS": "✅ PASS", "FAIL": "❌ FAIL", "N/A": "⚪ N/A"}
GATE_COLUMNS = {"gate": "Gate", "status": "Result", "measured": "Measured", "threshold": "Threshold", "detail": "How it was measured"}
PER_CLASS_COLUMNS = {
    "label": "Class",
    "precision": "Precision",
    "recall": "Recall",
    "ci_low": "Recall 95% low",
    "ci_high": "Recall 95% high",
    "f1": "F1",
    "support": "Gold examples",
}
WORST_SLICE_COLUMNS = {"feature": "Feature", "slice": "Slice", "size": "Examples", "accuracy": "Accuracy", "gap": "vs overall"}


def headline_metrics(report) -> tuple[HeadlineNumber, ...]:
    """The snapshot's headline numbers for the checkpoint's kind: accuracy, macro-F1, ECE for single-label; subset
    accuracy, micro- and macro-F1 and Hamming loss for multi-label (with the change against the baseline when there is one)."""
    ev = report.evidence
    if ev is None:
        return ()
    m, comp = ev.metrics, ev.comparison
    lo, hi = ev.accuracy_ci

    def vs_baseline(metric: str) -> str | None:
        return f"{comp.delta(metric) * 100:+.1f} points vs baseline" if comp is not None and metric in comp.deltas.index else None

    examples = HeadlineNumber("Examples", f"{m.n:,}")
    if report.multi_label:
        return (
            HeadlineNumber(
                "Subset accuracy", f"{m.subset_accuracy:.1%}", f"Examples whose whole set of labels is right; 95% Wilson interval {lo:.1%}–{hi:.1%}"
            ),
            HeadlineNumber("Micro-F1", f"{m.micro_f1:.3f}", "F1 over every (example, label) decision", vs_baseline("micro_f1")),
            HeadlineNumber("Macro-F1", f"{m.macro_f1:.3f}", "F1 averaged over the labels, each counting equally", vs_baseline("macro_f1")),
            HeadlineNumber("Hamming loss", f"{m.hamming_loss:.3f}", "Share of wrong (example, label) decisions", vs_baseline("hamming_loss"), True),
            examples,
        )
    out = [
        HeadlineNumber("Accuracy", f"{m.accuracy:.1%}", f"95% Wilson interval {lo:.1%}–{hi:.1%}"),
        HeadlineNumber("Macro-F1", f"{m.macro_f1:.3f}", None, vs_baseline("macro_f1")),
    ]
    if ev.calibration is not None:
        out.append(HeadlineNumber("Calibration error (ECE)", f"{ev.calibration.ece:.3f}", None, None, True))
    return (*out, examples)


@dataclass(frozen=True)
class SignoffView:
    """Everything the Sign-off page reads, in the order it shows it.

    `report` has its approvals re-counted from the store; `gates_tone` is 'warning' (some gate could not be evaluated),
    'error' (some failed) or 'success', with `gates_text` the sentence to show. `flips` is None without a baseline.
    `history` is None when nothing was signed for this checkpoint yet.
    """

    report: Any  # store.gates.GateReport
    approval: Any  # store.audit.ApprovalStatus
    gates_tone: str
    gates_text: str
    gates: pd.DataFrame
    per_class: pd.DataFrame
    worst_slices: pd.DataFrame
    flips: Any  # analysis.views.FlipSummary | None
    chain: VerifyResult
    history: pd.DataFrame | None
    n_records: int
    headline: tuple[HeadlineNumber, ...] = ()
    task: str = "single-label"  # `GateReport.task_text`: the kind judged, with thresholds for multi-label


def signoff_view(report, store: AuditStore, candidate, *, baseline=None, table=None, flips=None, chain_checks: ChainChecks | None = None) -> SignoffView:
    """Read the store once per rerun: the approvals, the chain check (reused per head), the history of `candidate`'s weights.

    `report` is the gate report (computed once per weights, data, policy and baseline, so the caller caches it); `flips`
    computes the fixed/broken summary from (baseline, table) — by default `analysis.views.flip_summary`, which a caller
    may wrap in its own cache.
    """
    from store.gates import refresh_approvals, worst_slice_rows

    chain = (chain_checks or CHAIN_CHECKS).verify(store)  # first: a broken chain counts no approval
    report = refresh_approvals(report, store, chain)
    approval = store.status(
        candidate.fingerprint,
        candidate.path,
        int(report.policy.gates.get("approvals_required", 1) or 1),
        dataset_fingerprint=report.dataset_fingerprint,
        policy_sha256=report.policy.sha256,
        chain=chain,
    )
    if report.not_evaluated:
        tone, text = "warning", f"**Gates {report.verdict}.** A gate that cannot be evaluated is not a pass."
    elif report.failed:
        tone, text = (
            "error",
            f"**Gates {report.verdict}:** " + "; ".join(f"{md(r.title)} {md(r.measured_text)} (needs {md(r.threshold_text)})" for r in report.failed) + ".",
        )
    else:
        tone, text = "success", f"**Gates: {report.verdict}.**"
    gates = report.table()
    gates["status"] = gates["status"].map(GATE_MARKS)
    ev = report.evidence
    per_class = pd.DataFrame(columns=list(PER_CLASS_COLUMNS.values()))
    if ev is not None:
        joined = ev.recall_ci.join(ev.metrics.per_class[["precision", "f1"]]).reset_index()
        per_class = joined[list(PER_CLASS_COLUMNS)].rename(columns=PER_CLASS_COLUMNS | ({"label": "Label"} if report.multi_label else {}))
    worst = worst_slice_rows(report, limit=5)
    worst = worst[list(WORST_SLICE_COLUMNS)].rename(columns=WORST_SLICE_COLUMNS) if len(worst) else pd.DataFrame(columns=list(WORST_SLICE_COLUMNS.values()))
    flip = None
    if baseline is not None:
        if flips is None:
            from analysis.views import flip_summary as flips
        flip = flips(baseline, table)
    records = store.records(checkpoint_fingerprint=candidate.fingerprint, checkpoint_path=candidate.path, newest_first=True)
    return SignoffView(
        report,
        approval,
        tone,
        text,
        gates.rename(columns=GATE_COLUMNS),
        per_class,
        worst,
        flip,
        chain,
        history_frame(records, candidate.fingerprint) if records else None,
        len(records),
        headline_metrics(report),
        report.task_text,
    )
