"""Evaluate a release policy's gates on prediction tables: each gate -> pass / fail / not evaluated,
with the measured value, the threshold and one plain sentence saying where the number comes from.

Nothing is re-measured here: macro-F1, recall and calibration come from `analysis.metrics`,
slices from `analysis.slices`, before/after deltas from `analysis.compare`, explanation
faithfulness from `explain.faithfulness` (explanations via `explain.api.explain_text`), and
approvals from the audit store. The evidence (metrics, comparison, slice deltas, explanations)
rides along in `GateReport.evidence` so the report and the sign-off page show exactly what the
gates judged.

Each gate kind is one evaluator in `EVALUATORS` (registered with `@evaluator(key)`, one per `store.policy.GATES`
entry), called with a `GateContext` and the policy's threshold: adding a gate is adding a GateSpec and one evaluator.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.metrics import Calibration, table_calibration, table_metrics
from analysis.predictions import PredictionTable
from analysis.slices import data_slices, slice_table, worst_slices
from analysis.stats import wilson_interval
from models.errors import VeredictoError
from models.protocol import InferenceLayer, TextInput
from models.task import MULTI_LABEL, SINGLE_LABEL
from store.policy import GATES, Policy, PolicyError

PASS, FAIL, NOT_EVALUATED = "pass", "fail", "not evaluated"
STATUS_MARK = {PASS: "PASS", FAIL: "FAIL", NOT_EVALUATED: "N/A"}


@dataclass(frozen=True)
class GateResult:
    key: str
    title: str
    status: str  # PASS | FAIL | NOT_EVALUATED
    measured: float | None
    threshold: Any  # a number, or {label: number} for per-class recall
    comparator: str  # "≥" or "≤"
    detail: str  # where the measured value comes from, in words

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def measured_text(self) -> str:
        if self.measured is None or (isinstance(self.measured, float) and math.isnan(self.measured)):
            return "—"
        return f"{self.measured:.0f}" if GATES[self.key].kind == "count" else f"{self.measured:.3f}"

    @property
    def threshold_text(self) -> str:
        if isinstance(self.threshold, Mapping):
            return ", ".join(f"{k} {self.comparator} {v:.2f}" for k, v in self.threshold.items())
        if GATES[self.key].kind == "count":
            return f"{self.comparator} {int(self.threshold)}"
        return f"{self.comparator} {float(self.threshold):.3f}"

    def to_dict(self) -> dict[str, Any]:
        threshold = dict(self.threshold) if isinstance(self.threshold, Mapping) else self.threshold
        measured = None if self.measured is None or (isinstance(self.measured, float) and math.isnan(self.measured)) else float(self.measured)
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "measured": measured,
            "threshold": threshold,
            "comparator": self.comparator,
            "detail": self.detail,
        }


@dataclass(frozen=True, eq=False)
class Evidence:
    """What the gates were computed from, for the report and the page (not stored in the audit record)."""

    metrics: Any  # analysis.metrics.Metrics, or for multi-label its MultiLabelMetrics (micro/macro/samples F1, subset accuracy, Hamming loss)
    calibration: Calibration | None  # None for multi-label tables (max_ece applies to single-label ones)
    accuracy_ci: tuple[float, float]  # multi-label: of the subset accuracy (the whole set right)
    recall_ci: pd.DataFrame  # index label: recall, ci_low, ci_high, support
    slices: pd.DataFrame  # analysis.slices.slice_table of the candidate
    comparison: Any = None  # analysis.compare.Comparison when a baseline was given
    slice_deltas: pd.DataFrame | None = None  # analysis.compare.slice_deltas (sizes >= slice_min_size)
    faithfulness: pd.DataFrame | None = None  # one row per explained example
    attributions: tuple = ()  # the explain.Attribution objects the faithfulness gate measured
    quality: Any = None  # quality.assess.DataQuality when the policy sets a data-quality gate


@dataclass(frozen=True, eq=False)
class GateReport:
    results: tuple[GateResult, ...]
    policy: Policy
    checkpoint_name: str
    checkpoint_path: str
    fingerprint: str
    dataset_name: str
    dataset_fingerprint: str
    n: int
    baseline_name: str | None = None
    baseline_fingerprint: str | None = None
    evidence: Evidence | None = field(default=None, repr=False)
    task: str = SINGLE_LABEL
    thresholds: Any = None  # analysis.thresholds.Thresholds of a multi-label table

    @property
    def multi_label(self) -> bool:
        return self.task == MULTI_LABEL

    @property
    def task_text(self) -> str:
        """The kind of checkpoint judged, in words, with a multi-label checkpoint's thresholds and their source."""
        t = self.thresholds
        if not self.multi_label or t is None:
            return self.task
        return f"{self.task}; a label is predicted at or above its threshold ({t.source}): " + ", ".join(
            f"{label} {v:.2f}" for label, v in zip(t.labels, t.values)
        )

    @property
    def passed(self) -> bool:
        return all(r.status == PASS for r in self.results)

    @property
    def failed(self) -> tuple[GateResult, ...]:
        return tuple(r for r in self.results if r.status == FAIL)

    @property
    def not_evaluated(self) -> tuple[GateResult, ...]:
        return tuple(r for r in self.results if r.status == NOT_EVALUATED)

    def result(self, key: str) -> GateResult:
        for r in self.results:
            if r.key == key:
                return r
        raise KeyError(key)

    @property
    def verdict(self) -> str:
        if self.not_evaluated:
            return f"incomplete: {len(self.not_evaluated)} gate(s) could not be evaluated"
        if self.failed:
            return f"blocked: {len(self.failed)} of {len(self.results)} gate(s) fail"
        return f"all {len(self.results)} gate(s) pass"

    def table(self) -> pd.DataFrame:
        """What a person reads: one row per gate."""
        return pd.DataFrame(
            [
                {"gate": r.title, "status": STATUS_MARK[r.status], "measured": r.measured_text, "threshold": r.threshold_text, "detail": r.detail}
                for r in self.results
            ],
            columns=["gate", "status", "measured", "threshold", "detail"],
        )

    def metrics_snapshot(self) -> dict[str, Any]:
        """The numbers a sign-off records (plain JSON)."""
        ev = self.evidence
        snap: dict[str, Any] = {"n": self.n, "task": self.task}  # a key old records lack: their hashes stay as they were
        if self.thresholds is not None:
            # [label, value] pairs: the record's JSON is stored with sorted keys, a list keeps the checkpoint's label order
            snap["thresholds"] = {
                "values": [[label, value] for label, value in zip(self.thresholds.labels, self.thresholds.values)],
                "source": self.thresholds.source,
            }
        if ev is not None:
            snap.update(ev.metrics.as_dict())
            snap["accuracy_ci95"] = list(ev.accuracy_ci)
            if ev.calibration is not None:
                snap["ece"] = ev.calibration.ece
                snap["ece_bins"] = ev.calibration.n_bins
            if ev.comparison is not None:
                comp = ev.comparison
                snap["baseline"] = {
                    "name": self.baseline_name,
                    "fingerprint": self.baseline_fingerprint,
                    "accuracy": comp.metrics_before.accuracy,
                    "macro_f1": comp.metrics_before.macro_f1,
                    "deltas": {m: {k: float(comp.deltas.loc[m, k]) for k in ("delta", "ci_low", "ci_high")} for m in comp.deltas.index},
                    "mcnemar": {"fixed": comp.mcnemar.fixed, "broken": comp.mcnemar.broken, "p_value": comp.mcnemar.p_value},
                }
            if ev.faithfulness is not None and len(ev.faithfulness):
                snap["faithfulness"] = {
                    "mean": float(ev.faithfulness["faithfulness"].mean()),
                    "random_mean": float(ev.faithfulness["random"].mean()),
                    "n": len(ev.faithfulness),
                    "method": self.policy.settings["faithfulness_method"],
                }
            if ev.quality is not None:
                snap["data_quality"] = ev.quality.as_dict()
        return snap

    def signoff_fields(self) -> dict[str, Any]:
        """Keywords for `AuditStore.append` describing what was judged (add reviewer, decision, comment, identity)."""
        return {
            "checkpoint_name": self.checkpoint_name,
            "checkpoint_path": self.checkpoint_path,
            "checkpoint_fingerprint": self.fingerprint,
            "dataset_name": self.dataset_name,
            "dataset_fingerprint": self.dataset_fingerprint,
            "policy_sha256": self.policy.sha256,
            "policy_text": self.policy.text,
            "metrics": self.metrics_snapshot(),
            "gates": [r.to_dict() for r in self.results],
        }


# --------------------------------------------------------------------------- single gates


def _compare(measured: float | None, threshold: float, direction: str) -> str:
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return FAIL
    eps = 1e-12  # a value printed equal to its threshold passes
    return PASS if (measured >= threshold - eps if direction == "min" else measured <= threshold + eps) else FAIL


def _result(key: str, measured: float | None, threshold: Any, detail: str, status: str | None = None) -> GateResult:
    spec = GATES[key]
    comparator = "≥" if spec.direction == "min" else "≤"
    if status is None:
        status = _compare(measured, threshold, spec.direction)
    return GateResult(key, spec.title, status, measured, threshold, comparator, detail)


def _recall_gate(policy: Policy, ev: Evidence, key: str = "min_class_recall") -> GateResult:
    threshold = policy.gates[key]
    recall = ev.recall_ci
    if isinstance(threshold, Mapping):
        unknown = [label for label in threshold if label not in recall.index]
        if unknown:
            raise PolicyError(
                f"{policy.where(f'gates.{key}.' + unknown[0])}: {key} names label '{unknown[0]}', "
                f"which the checkpoint does not have. Its labels are: {', '.join(recall.index)}."
            )
        wanted = dict(threshold)
    else:
        wanted = {label: float(threshold) for label in recall.index}
    absent = [label for label in wanted if recall.loc[label, "support"] == 0]
    checked = {label: t for label, t in wanted.items() if label not in absent}
    if not checked:
        return _result(key, None, threshold, f"no gold examples of {', '.join(absent)}: recall cannot be measured.", NOT_EVALUATED)
    # The class furthest below (or closest to) its own minimum decides.
    margins = {label: float(recall.loc[label, "recall"]) - t for label, t in checked.items()}
    worst = min(margins, key=margins.__getitem__)
    failing = [label for label, m in margins.items() if m < -1e-12]
    row = recall.loc[worst]
    detail = f"lowest is '{worst}': {row['recall']:.3f} of {int(row['support'])} examples found (95% CI {row['ci_low']:.2f}–{row['ci_high']:.2f})"
    if failing:
        detail += f"; below the minimum: {', '.join(failing)}"
    if absent:
        detail += f"; not measured (no examples): {', '.join(absent)}"
    measured = float(row["recall"])
    status = FAIL if failing else PASS
    shown_threshold = threshold if isinstance(threshold, Mapping) else float(threshold)
    return _result(key, measured, shown_threshold, detail + ".", status)


def _slice_columns(policy: Policy, table: PredictionTable) -> list[str]:
    wanted = policy.settings.get("slice_columns")
    if not wanted:
        return list(table.metadata)
    missing = [c for c in wanted if c not in table.frame.columns]
    if missing:
        raise PolicyError(
            f"{policy.where('settings.slice_columns')}: slice_columns names '{missing[0]}', which the data does not have. "
            f"Its metadata columns are: {', '.join(table.metadata) or '(none)'}."
        )
    return list(wanted)


def explain_one(
    predictor: InferenceLayer, text: TextInput, method: str, target: str | None, *, seed: int = 0, cache=None, params: Mapping[str, Any] | None = None
):
    """One explanation through `explain.api.explain_text`, read from / written to the attribution cache when given.

    `text` is a text, or a sentence pair `(text, text_pair)` (both segments are explained).

    `params`: the explainer budget (max_evals / num_samples / batch_size; Integrated Gradients' n_steps / baseline), e.g. the dashboard's
    `default_params(method)`, so the gates, the report and the pages share cache entries.
    """
    budget = {k: v for k, v in dict(params or {}).items() if k in ("max_evals", "num_samples", "batch_size", "n_steps", "baseline") and v is not None}
    if cache is not None:
        return cache.get_or_compute(predictor, text, method, target, seed=seed, **budget)
    from explain.api import explain_text

    if isinstance(text, tuple):
        return explain_text(predictor, text[0], method=method, target=target, seed=seed, text_pair=text[1], **budget)
    return explain_text(predictor, text, method=method, target=target, seed=seed, **budget)


def _faithfulness_rows(predictor: InferenceLayer, table: PredictionTable, policy: Policy, progress, cache=None, params=None) -> tuple[pd.DataFrame, tuple]:
    """Explain a seeded, label-stratified sample of texts and score how faithful each explanation is."""
    from explain.faithfulness import measure_faithfulness
    from explain.global_importance import sample_indices

    size = int(policy.settings["faithfulness_sample"])
    method = policy.settings["faithfulness_method"]
    seed = int(policy.settings["seed"])
    rows, attributions = [], []
    picked = sample_indices(list(table.frame["gold"]), min(size, len(table)), seed=seed)
    inputs = table.inputs
    for done, index in enumerate(picked):
        text = table.frame["text"].iloc[index]
        if progress:
            progress(done, len(picked))
        try:
            attribution = explain_one(predictor, inputs[index], method, None, seed=seed, cache=cache, params=(params or {}).get(method))
        except VeredictoError:
            continue  # e.g. an empty or one-token text has nothing to explain
        try:
            faith = measure_faithfulness(predictor, attribution, seed=seed)
        except VeredictoError:
            continue  # no word units to remove (only punctuation or emoji)
        attributions.append(attribution)
        rows.append(
            {
                "example": int(index),
                "text": text,
                "target": attribution.target,
                "faithfulness": faith.aopc_comprehensiveness,
                "random": faith.aopc_random,
                "sufficiency": faith.aopc_sufficiency,
            }
        )
    if progress:
        progress(len(picked), len(picked))
    return pd.DataFrame(rows, columns=["example", "text", "target", "faithfulness", "random", "sufficiency"]), tuple(attributions)


# --------------------------------------------------------------------------- all gates


def _probe_gate(policy: Policy, table: PredictionTable, predictor: InferenceLayer, threshold) -> GateResult:
    """The worst failure rate among the probes the policy names (default: invariance and fairness)."""
    key = "max_probe_failure_rate"
    if predictor is None:
        return _result(key, None, threshold, "needs the checkpoint's predictor to score perturbed texts.", NOT_EVALUATED)
    from probes.run import probe_failure_rates

    tests = policy.settings["probe_tests"] or ["invariance", "fairness"]
    rates = probe_failure_rates(predictor, table, tests, limit=int(policy.settings["probe_limit"]), seed=int(policy.settings["seed"]))
    applicable = {name: rate for name, rate in rates.items() if not math.isnan(rate)}
    if not applicable:
        return _result(key, None, threshold, f"none of the probes ({', '.join(tests)}) applied to any example.", NOT_EVALUATED)
    worst = max(applicable, key=applicable.__getitem__)
    others = ", ".join(f"{name} {rate:.1%}" for name, rate in sorted(applicable.items()) if name != worst)
    detail = (
        f"worst of {len(applicable)} probes: '{worst}' changes the prediction on {applicable[worst]:.1%} of up to "
        f"{policy.settings['probe_limit']} examples (seed {policy.settings['seed']}); others: {others or 'none'}."
    )
    return _result(key, applicable[worst], threshold, detail)


# --------------------------------------------------------------------------- the gate evaluators


@dataclass(frozen=True, eq=False)
class GateContext:
    """What a gate evaluator may read: the policy, the candidate's table and evidence, and the optional inputs."""

    policy: Policy
    table: PredictionTable
    evidence: Evidence
    predictor: Any = None  # the candidate's models.Predictor (faithfulness, probes)
    store: Any = None  # an AuditStore (approvals)
    checkpoint_path: str = ""


GateEvaluator = Callable[[GateContext, Any], GateResult]
# One evaluator per gate in `store.policy.GATES`, by key: adding a gate is a GateSpec there and one evaluator here.
EVALUATORS: dict[str, GateEvaluator] = {}


def evaluator(key: str) -> Callable[[GateEvaluator], GateEvaluator]:
    """Register `fn(context, threshold) -> GateResult` as the evaluator of gate `key`."""

    def register(fn: GateEvaluator) -> GateEvaluator:
        if key not in GATES:
            raise KeyError(f"gate '{key}' has no GateSpec in store.policy.GATES")
        EVALUATORS[key] = fn
        return fn

    return register


_NEEDS_BASELINE = "needs a baseline checkpoint (--baseline, or pick two checkpoints)."


@evaluator("min_macro_f1")
def _macro_f1_gate(ctx: GateContext, threshold) -> GateResult:
    metrics = ctx.evidence.metrics
    lo, hi = ctx.evidence.accuracy_ci
    if ctx.table.multi_label:
        detail = (
            f"macro-averaged F1 over all {len(metrics.labels)} labels (each label counts equally; a label never gold nor predicted "
            f"counts as 0, as in scikit-learn) on {metrics.n} examples{_at_thresholds(ctx.table)} (micro-F1 {metrics.micro_f1:.3f}, "
            f"subset accuracy {metrics.subset_accuracy:.3f}, 95% CI {lo:.3f}–{hi:.3f})."
        )
        return _result("min_macro_f1", metrics.macro_f1, threshold, detail)
    detail = f"macro-averaged F1 over {len(metrics.labels)} classes on {metrics.n} examples (accuracy {metrics.accuracy:.3f}, 95% CI {lo:.3f}–{hi:.3f})."
    return _result("min_macro_f1", metrics.macro_f1, threshold, detail)


@evaluator("min_class_recall")
def _class_recall_gate(ctx: GateContext, threshold) -> GateResult:
    return _recall_gate(ctx.policy, ctx.evidence)


@evaluator("max_ece")
def _ece_gate(ctx: GateContext, threshold) -> GateResult:
    cal = ctx.evidence.calibration
    if cal is None:  # multi-label: `_not_applicable` answers first
        return _result("max_ece", None, threshold, "no calibration was measured.", NOT_EVALUATED)
    return _result("max_ece", cal.ece, threshold, f"{cal.n_bins} equal-width confidence bins; largest gap in one bin {cal.max_gap:.3f}.")


@evaluator("max_drop_vs_baseline")
def _drop_gate(ctx: GateContext, threshold) -> GateResult:
    key, comparison = "max_drop_vs_baseline", ctx.evidence.comparison
    if comparison is None:
        return _result(key, None, threshold, _NEEDS_BASELINE, NOT_EVALUATED)
    metric = ctx.policy.settings["drop_metric"]
    row = comparison.deltas.loc[metric]
    detail = (
        f"{metric} {row['before']:.3f} ('{comparison.before_name}') → {row['after']:.3f}: change {row['delta']:+.3f} "
        f"(95% paired bootstrap CI {row['ci_low']:+.3f} to {row['ci_high']:+.3f}); the measured value is the drop."
    )
    return _result(key, -float(row["delta"]), threshold, detail)


@evaluator("max_slice_drop_vs_baseline")
def _slice_drop_gate(ctx: GateContext, threshold) -> GateResult:
    key, deltas = "max_slice_drop_vs_baseline", ctx.evidence.slice_deltas
    if deltas is None:
        return _result(key, None, threshold, _NEEDS_BASELINE, NOT_EVALUATED)
    min_size = int(ctx.policy.settings["slice_min_size"])
    big = deltas[deltas["size"] >= min_size]
    if big.empty:
        return _result(key, None, threshold, f"no slice has at least {min_size} examples (settings.slice_min_size); lower it or add data.", NOT_EVALUATED)
    worst = big.sort_values(["delta", "size"], ascending=[True, False]).iloc[0]
    detail = (
        f"worst of {len(big)} slices with ≥ {min_size} examples: {worst['feature']} = {worst['slice']} "
        f"({int(worst['size'])} examples), accuracy {worst['accuracy_before']:.3f} → {worst['accuracy_after']:.3f} "
        f"({int(worst['fixed'])} fixed, {int(worst['broken'])} broken, McNemar p = {worst['p_value']:.3g})."
    )
    return _result(key, -float(worst["delta"]), threshold, detail)


@evaluator("min_faithfulness")
def _faithfulness_gate(ctx: GateContext, threshold) -> GateResult:
    from explain.plots import method_name

    key, rows, settings = "min_faithfulness", ctx.evidence.faithfulness, ctx.policy.settings
    if ctx.predictor is None:
        return _result(key, None, threshold, "needs the checkpoint's predictor to compute explanations.", NOT_EVALUATED)
    if rows is None or rows.empty:
        return _result(key, None, threshold, "no text in the sample could be explained.", NOT_EVALUATED)
    scores = rows["faithfulness"].to_numpy(dtype=float)
    detail = (
        f"mean ERASER comprehensiveness (AOPC: drop of the predicted class's probability when its top 10/20/50% words "
        f"are removed) of {method_name(settings['faithfulness_method'])} explanations on {len(scores)} sampled texts "
        f"(seed {settings['seed']}); lowest {scores.min():.3f}, highest {scores.max():.3f}; "
        f"removing as many random words instead drops it by {rows['random'].mean():.3f} on average."
    )
    return _result(key, float(scores.mean()), threshold, detail)


@evaluator("max_probe_failure_rate")
def _probe_rate_gate(ctx: GateContext, threshold) -> GateResult:
    return _probe_gate(ctx.policy, ctx.table, ctx.predictor, threshold)


@evaluator("max_pii_rate")
def _pii_gate(ctx: GateContext, threshold) -> GateResult:
    from privacy.pii import scan_frame, text_columns

    table = ctx.table
    scan = scan_frame(table.frame, text_columns(table.frame, table.metadata), name=table.data_name, examples=0)
    detail = f"{scan.describe()} Columns scanned: {', '.join(c.column for c in scan.columns)}. Mask it for display with `veredicto report --redact`."
    return _result("max_pii_rate", scan.rate, threshold, detail)


def _approvals_result(store, fingerprint: str, checkpoint_path: str, threshold, dataset_fingerprint: str, policy_sha256: str, chain=None) -> GateResult:
    """Distinct approvers (by identity) of these exact weights, for this data and under this policy; a standing
    rejection or change request fails the gate, and so does a chain that does not verify (checked first)."""
    key = "approvals_required"
    if store is None:
        return _result(key, None, threshold, "needs the audit store to count approvals.", NOT_EVALUATED)
    status = store.status(
        fingerprint,
        checkpoint_path or None,
        max(int(threshold), 1),
        dataset_fingerprint=dataset_fingerprint,
        policy_sha256=policy_sha256,
        chain=chain,
    )
    counted = status.approvals >= int(threshold) and status.state not in ("rejected", "changes_requested", "chain broken")
    return _result(key, float(status.approvals), threshold, status.message, PASS if counted else FAIL)


@evaluator("approvals_required")
def _approvals_gate(ctx: GateContext, threshold) -> GateResult:
    return _approvals_result(ctx.store, ctx.table.fingerprint, ctx.checkpoint_path, threshold, ctx.table.data_fingerprint, ctx.policy.sha256)


QUALITY_GATES = {"max_leakage_rate": "leakage", "max_label_issue_rate": "label_issues", "max_drift_auc": "drift"}


def _quality_missing(ctx: GateContext, key: str, threshold) -> GateResult | None:
    """NOT_EVALUATED with the reason when the gate's data-quality check has no result, else None."""
    quality, check = ctx.evidence.quality, QUALITY_GATES[key]
    if quality is None:
        return _result(key, None, threshold, "needs the data-quality checks (evaluate_gates(training=...)).", NOT_EVALUATED)
    if getattr(quality, check) is None:
        return _result(key, None, threshold, quality.missing.get(check, "not measured."), NOT_EVALUATED)
    return None


@evaluator("max_leakage_rate")
def _leakage_gate(ctx: GateContext, threshold) -> GateResult:
    key = "max_leakage_rate"
    missing = _quality_missing(ctx, key, threshold)
    if missing is not None:
        return missing
    leak = ctx.evidence.quality.leakage
    return _result(key, leak.rate, threshold, leak.summary())


@evaluator("max_label_issue_rate")
def _label_issue_gate(ctx: GateContext, threshold) -> GateResult:
    key = "max_label_issue_rate"
    missing = _quality_missing(ctx, key, threshold)
    if missing is not None:
        return missing
    issues = ctx.evidence.quality.label_issues
    detail = (
        f"cleanlab's find_label_issues (confident learning) on the model's probabilities: {issues.confident_learning_count} of {issues.n} gold labels flagged."
    )
    return _result(key, issues.rate, threshold, detail)


@evaluator("max_drift_auc")
def _drift_gate(ctx: GateContext, threshold) -> GateResult:
    key = "max_drift_auc"
    missing = _quality_missing(ctx, key, threshold)
    if missing is not None:
        return missing
    drift = ctx.evidence.quality.drift
    detail = (
        f"{drift.sentence()} (cross-validated logistic regression on the checkpoint's embeddings, {drift.folds} folds, "
        f"{drift.n_train} training and {drift.n_eval} evaluation texts)."
    )
    return _result(key, drift.domain_auc, threshold, detail)


# --- multi-label gates (issue 10) ---------------------------------------------------------------------------------------

# What to use instead of a gate that does not apply to the checkpoint's kind.
_INSTEAD = {
    "min_class_recall": "min_label_recall",
    "max_ece": "min_micro_f1, min_macro_f1, min_label_recall or max_hamming_loss",
    "min_micro_f1": "min_macro_f1 (on a single-label checkpoint micro-F1 equals accuracy)",
    "min_label_recall": "min_class_recall",
    "max_hamming_loss": "min_macro_f1 or min_class_recall",
    "max_label_issue_rate": "the Data page's label review (confident learning needs one gold label per example)",
}


def _not_applicable(key: str, threshold, table: PredictionTable) -> GateResult | None:
    """A gate for the other kind of checkpoint: not evaluated (never a pass), saying so and what to use instead."""
    spec = GATES[key]
    if table.task in spec.tasks:
        return None
    kinds = " and ".join(spec.tasks)
    instead = f" Use {_INSTEAD[key]} instead." if key in _INSTEAD else ""
    return _result(key, None, threshold, f"does not apply: '{key}' is for {kinds} checkpoints and this one is {table.task}.{instead}", NOT_EVALUATED)


def _at_thresholds(table: PredictionTable) -> str:
    return f" at thresholds {table.thresholds.source}" if table.thresholds is not None else ""


@evaluator("min_micro_f1")
def _micro_f1_gate(ctx: GateContext, threshold) -> GateResult:
    metrics = ctx.evidence.metrics
    detail = (
        f"micro-averaged F1 over all {metrics.n * len(metrics.labels)} (example, label) decisions of {metrics.n} examples"
        f"{_at_thresholds(ctx.table)} (macro-F1 {metrics.macro_f1:.3f}, samples-F1 {metrics.samples_f1:.3f})."
    )
    return _result("min_micro_f1", metrics.micro_f1, threshold, detail)


@evaluator("min_label_recall")
def _label_recall_gate(ctx: GateContext, threshold) -> GateResult:
    return _recall_gate(ctx.policy, ctx.evidence, "min_label_recall")


@evaluator("max_hamming_loss")
def _hamming_gate(ctx: GateContext, threshold) -> GateResult:
    metrics = ctx.evidence.metrics
    wrong = int(round(metrics.hamming_loss * metrics.n * len(metrics.labels)))
    detail = (
        f"{wrong} of {metrics.n * len(metrics.labels)} (example, label) decisions wrong{_at_thresholds(ctx.table)}; "
        f"{metrics.subset_accuracy:.1%} of examples have their whole set of labels right."
    )
    return _result("max_hamming_loss", metrics.hamming_loss, threshold, detail)


def evaluate_gates(
    policy: Policy,
    table: PredictionTable,
    *,
    baseline: PredictionTable | None = None,
    predictor=None,
    store=None,
    checkpoint_path: str = "",
    cache=None,
    explain_params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    training=None,
    label_mapping: Mapping[str, str] | None = None,
) -> GateReport:
    """Evaluate every gate the policy sets, in the policy's order.

    baseline: the "before" checkpoint's table on the same data (drop gates).
    predictor: the candidate's `models.Predictor` (faithfulness gate: explanations are computed).
    store: an `AuditStore` (approvals gate: distinct approvers, by identity, of these exact weights, data and policy,
        counted only when the chain verifies).
    cache: an `explain.cache.AttributionCache`, so explanations are computed once across runs.
    explain_params: per-method explainer budgets, {"shap": {"max_evals": 500}, "lime": {"num_samples": 1000}}.
    training: a `quality.training.TrainingData` (leakage and drift gates); the data-quality checks run only for the
        data-quality gates the policy sets (label issues need no training data; `label_mapping` renames training labels).
    A gate whose input is missing is NOT_EVALUATED, never silently passed.
    """
    metrics = table_metrics(table)
    cal = None if table.multi_label else table_calibration(table, int(policy.settings["ece_bins"]))
    correct = np.asarray(table.correct, dtype=bool)
    lo, hi = wilson_interval(int(correct.sum()), len(correct))
    per_class = metrics.per_class
    support = per_class["support"].to_numpy()
    found = np.rint(per_class["recall"].to_numpy() * support)
    r_lo, r_hi = wilson_interval(found, support)
    recall_ci = pd.DataFrame({"recall": per_class["recall"].to_numpy(), "ci_low": r_lo, "ci_high": r_hi, "support": support}, index=per_class.index)
    columns = _slice_columns(policy, table)
    slices = data_slices(table.frame, columns)
    candidate_slices = slice_table(slices, correct)

    comparison = None
    deltas = None
    if baseline is not None:
        from analysis.compare import compare_tables, slice_deltas

        comparison = compare_tables(baseline, table, n_boot=2000, seed=int(policy.settings["seed"]))
        paired = comparison.paired
        if paired is None:  # compare_tables always sets it; only a hand-built Comparison lacks it
            raise ValueError("the baseline comparison carries no paired correctness; build it with analysis.compare.compare_tables.")
        deltas = slice_deltas(slices, paired.correct_before, paired.correct_after)

    faith_rows, attributions = None, ()
    if "min_faithfulness" in policy.gates and predictor is not None:
        faith_rows, attributions = _faithfulness_rows(predictor, table, policy, progress, cache, explain_params)

    quality = None
    wanted = {check for key, check in QUALITY_GATES.items() if key in policy.gates}
    if wanted:
        from quality.assess import assess
        from quality.training import TrainingData

        training = training if training is not None else TrainingData(None, "", "No training data was given (veredicto gate --train-data FILE).")
        quality = assess(predictor, table, training, checks=wanted, label_mapping=label_mapping, seed=int(policy.settings["seed"]))

    evidence = Evidence(
        metrics=metrics,
        calibration=cal,
        accuracy_ci=(float(lo), float(hi)),
        recall_ci=recall_ci,
        slices=candidate_slices,
        comparison=comparison,
        slice_deltas=deltas,
        faithfulness=faith_rows,
        attributions=attributions,
        quality=quality,
    )

    context = GateContext(policy=policy, table=table, evidence=evidence, predictor=predictor, store=store, checkpoint_path=str(checkpoint_path))
    results = [_not_applicable(key, threshold, table) or EVALUATORS[key](context, threshold) for key, threshold in policy.gates.items()]
    return GateReport(
        results=tuple(results),
        policy=policy,
        checkpoint_name=table.checkpoint_name,
        checkpoint_path=str(checkpoint_path),
        fingerprint=table.fingerprint,
        dataset_name=table.data_name,
        dataset_fingerprint=table.data_fingerprint,
        n=len(table),
        baseline_name=baseline.checkpoint_name if baseline is not None else None,
        baseline_fingerprint=baseline.fingerprint if baseline is not None else None,
        evidence=evidence,
        task=table.task,
        thresholds=table.thresholds,
    )


GATES_FORMAT = 1  # code version of a stored gate evaluation: bump when a gate, its evidence or store.codec's output changes meaning


def evaluation_key(
    policy: Policy,
    table: PredictionTable,
    *,
    baseline=None,
    predictor=None,
    checkpoint_path: str = "",
    explain_params=None,
    training=None,
    corrections: int = 0,
) -> tuple[str, dict[str, Any]] | None:
    """(store key, params) naming what `evaluate_gates` reads for these inputs, or None when something it reads cannot be keyed.

    The candidate's scoring key (fingerprint and task) is the store key; the params hold the table as judged (`cache_key`:
    data fingerprint with label mapping and thresholds, and a hash of the gold labels, so the reviewers' corrections count
    by content, their number beside it), the baseline's the same way, the policy's content hash, the training data's key
    (file, version and columns; only with a data-quality gate), the explainer budgets (only with a faithfulness gate), the checkpoint path (the report names it), and for a probe gate
    the word lists' contents. Explanations come from the attribution cache under their own key; approvals are never part of
    a stored evaluation (evaluated without the audit store, `refresh_approvals` counts them on every read). Training data
    that is given but has no key (`training.key` failing: a file that vanished) cannot be keyed: None, nothing is stored.
    """
    try:
        training_key = list(training.key) if training is not None and set(QUALITY_GATES) & set(policy.gates) else None
    except (OSError, AttributeError):
        return None
    params: dict[str, Any] = {
        "table": table.cache_key,
        "data": table.data_fingerprint,
        "thresholds": None if table.thresholds is None else [list(table.thresholds.labels), [float(v) for v in table.thresholds.values]],
        "corrections": int(corrections),
        "baseline": baseline.cache_key if baseline is not None else None,
        "policy": policy.sha256,
        # training data and explainer budgets only where a gate reads them: the Sign-off page always passes both, the CLI only when needed
        "training": training_key,
        "explain": {m: dict(p) for m, p in sorted((explain_params or {}).items())} if "min_faithfulness" in policy.gates else {},
        "checkpoint_path": str(checkpoint_path),
        "predictor": predictor is not None,
    }
    if "max_probe_failure_rate" in policy.gates and predictor is not None:
        from probes.views import wordlists_digest

        params["wordlists"] = wordlists_digest()
    key = predictor.ref.scoring_key if predictor is not None else f"{table.fingerprint}:{table.task}"
    return key, params


def stored_evaluation(policy: Policy, table: PredictionTable, *, results=None, corrections: int = 0, **kwargs) -> GateReport:
    """`evaluate_gates(policy, table, **kwargs)` read first from the results store (`results`, a `store.results.ResultsStore`;
    None: the process's shared one) and written there after computing, under `evaluation_key`. `kwargs` may not hold an
    audit `store` (approvals are counted on reading, see `refresh_approvals`). A store that cannot be used, an input that
    cannot be keyed or evidence the codec does not write: computed and not stored."""
    return stored_or_evaluated(policy, table, results=results, corrections=corrections, **kwargs)[0]


def stored_or_evaluated(
    policy: Policy, table: PredictionTable, *, results=None, corrections: int = 0, recompute: bool = False, **kwargs
) -> tuple[GateReport, bool]:
    """`stored_evaluation`, and whether the report was read from the store (True) or evaluated now (False). `recompute`:
    evaluate even when one is stored, and replace it (`veredicto gate --recompute`)."""
    import logging

    from store import codec
    from store.results import StoreError, shared_store

    if kwargs.get("store") is not None:
        raise ValueError("a stored gate evaluation never holds approvals: evaluate without the audit store and refresh_approvals on reading")
    results = results if results is not None else shared_store().store
    named = (
        evaluation_key(
            policy,
            table,
            baseline=kwargs.get("baseline"),
            predictor=kwargs.get("predictor"),
            checkpoint_path=kwargs.get("checkpoint_path", ""),
            explain_params=kwargs.get("explain_params"),
            training=kwargs.get("training"),
            corrections=corrections,
        )
        if results is not None
        else None
    )
    externals = {"policy": policy, "training": kwargs.get("training")}
    log = logging.getLogger(__name__)
    if named is not None and not recompute:
        try:
            found = results.get_payload("gates", *named, GATES_FORMAT)
            if found is not None:
                return codec.decode(found, externals), True
        except (StoreError, codec.CodecError, KeyError, TypeError, ValueError) as exc:  # unreadable: computed again and replaced
            log.warning("Gate evaluation not read from the results store: %s", exc)
    report = evaluate_gates(policy, table, **kwargs)
    if named is not None:
        try:
            results.put_payload("gates", *named, GATES_FORMAT, codec.encode(report, externals))
        except (StoreError, codec.CodecError) as exc:
            log.warning("Gate evaluation kept in memory only: %s", exc)
    return report, False


def refresh_approvals(report: GateReport, store, chain=None) -> GateReport:
    """The same report with the approvals gate re-counted from the store (sign-offs change it; nothing else does).
    `chain`: a fresh `store.verify()` result the caller already holds (else the store verifies the chain itself)."""
    if "approvals_required" not in report.policy.gates:
        return report
    fresh = _approvals_result(
        store, report.fingerprint, report.checkpoint_path, report.policy.gates["approvals_required"], report.dataset_fingerprint, report.policy.sha256, chain
    )
    return dataclasses.replace(report, results=tuple(fresh if r.key == "approvals_required" else r for r in report.results))


def worst_slice_rows(report: GateReport, limit: int = 5) -> pd.DataFrame:
    """The candidate's slices below its overall accuracy (at least settings.slice_min_size examples), lowest first."""
    if report.evidence is None:
        return pd.DataFrame()
    slices = report.evidence.slices
    return worst_slices(slices[slices["gap"] < 0], min_size=int(report.policy.settings["slice_min_size"]), limit=limit)


def format_table(report: GateReport) -> str:
    """A plain-text table for the terminal."""
    rows = report.table()
    headers = ["Gate", "Result", "Measured", "Threshold"]
    body = [[r.gate, r.status, r.measured, r.threshold] for r in rows.itertuples()]
    widths = [max(len(h), *(len(str(b[i])) for b in body)) if body else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    for cells, detail in zip(body, rows["detail"]):
        out.append(line(cells))
        out.append(" " * (widths[0] + 2) + detail)
    return "\n".join(out)
