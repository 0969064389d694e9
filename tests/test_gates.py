"""Release gates on prediction tables: each gate's measured value is the analysis package's number,
pass/fail follows the threshold, a missing input is 'not evaluated' (never a silent pass),
and `veredicto gate` exits 0 / 1 / 2."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from analysis.metrics import table_metrics
from analysis.synthetic import probs_for, table_from_arrays
from cli.main import main
from store.audit import AuditStore
from store.gates import EVALUATORS, FAIL, NOT_EVALUATED, PASS, GateResult, evaluate_gates, format_table, worst_slice_rows
from store.policy import GATES, PolicyError, parse_policy

LABELS = ("neg", "pos")
GENRES = np.repeat(["drama", "comedy", "horror", "action"], 50)


def make_table(name: str, wrong: set[int], confidence=0.8, seed: int = 0):
    """200 examples, balanced gold, 4 genres of 50; the listed examples are predicted wrong."""
    gold = np.tile([0, 1], 100)
    pred = gold.copy()
    for i in wrong:
        pred[i] = 1 - pred[i]
    rng = np.random.default_rng(seed)
    conf = np.clip(confidence + rng.normal(0, 0.05, 200), 0.55, 0.99)
    texts = [f"review {i} of a {GENRES[i]} film" for i in range(200)]
    return table_from_arrays(
        probs_for(pred, 2, conf),
        gold,
        LABELS,
        texts=texts,
        metadata={"genre": GENRES},
        checkpoint_name=name,
        data_name="reviews.csv",
        data_fingerprint="d" * 64,
    )


BASELINE = make_table("before", set(range(0, 200, 10)))  # 20 errors spread over every genre: accuracy 0.90
ALL_GATES = """
version: 1
name: test policy
gates:
  min_macro_f1: 0.80
  min_class_recall: 0.80
  max_ece: 0.20
  max_drop_vs_baseline: 0.01
  max_slice_drop_vs_baseline: 0.05
settings:
  slice_min_size: 20
"""


def policy(text: str = ALL_GATES):
    return parse_policy(text, "policy.yaml")


def predictions(wrong: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """make_table's gold and predicted labels, rebuilt here so the expected numbers do not come from the code under test."""
    gold = np.tile([0, 1], 100)
    pred = gold.copy()
    pred[sorted(wrong)] = 1 - pred[sorted(wrong)]
    return gold, pred


def expected_ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> float:
    """Expected calibration error written out: equal-width bins, |accuracy - mean confidence| weighted by bin size."""
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    return sum(abs(correct[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean() for b in np.unique(bins))


def test_every_gate_reports_the_analysis_packages_number_and_passes():
    fixed_half = set(range(0, 200, 20))  # half the errors fixed, none broken
    after = make_table("after", fixed_half)
    report = evaluate_gates(policy(), after, baseline=BASELINE)
    assert report.passed and not report.failed and not report.not_evaluated
    assert [r.key for r in report.results] == list(policy().gates)  # in policy order
    gold, pred = predictions(fixed_half)
    f1_after = f1_score(gold, pred, average="macro")
    assert f1_after == pytest.approx(0.95, abs=1e-3)  # 10 of 200 wrong, evenly over both classes
    assert report.result("min_macro_f1").measured == pytest.approx(f1_after)
    ece = expected_ece(after.probs.max(axis=1), gold == pred, 10)
    assert 0.01 < ece < 0.2  # confidence ~0.8 against accuracy 0.95: a real gap, inside the threshold
    assert report.result("max_ece").measured == pytest.approx(ece)
    f1_before = f1_score(*predictions(set(range(0, 200, 10))), average="macro")
    assert report.result("max_drop_vs_baseline").measured == pytest.approx(f1_before - f1_after)
    assert report.result("max_drop_vs_baseline").measured < 0  # it improved
    table = report.table()
    assert list(table["status"]) == ["PASS"] * 5
    assert table.loc[0, "threshold"] == "≥ 0.800" and table.loc[2, "threshold"] == "≤ 0.200"


def test_failing_thresholds_fail_with_the_measured_value():
    after = make_table("after", set(range(0, 200, 4)))  # 50 errors: accuracy 0.75
    report = evaluate_gates(policy(), after, baseline=BASELINE)
    assert not report.passed
    f1 = report.result("min_macro_f1")
    assert f1.status == FAIL and f1.measured == pytest.approx(table_metrics(after).macro_f1) and f1.measured < 0.8
    assert report.result("max_drop_vs_baseline").status == FAIL
    assert "blocked" in report.verdict


def test_per_class_recall_names_the_weakest_class():
    after = make_table("after", {i for i in range(1, 200, 2) if i % 6 == 1})  # only 'pos' examples wrong
    report = evaluate_gates(policy("gates:\n  min_class_recall: 0.9\n"), after)
    gate = report.result("min_class_recall")
    recall = table_metrics(after).per_class["recall"]
    assert gate.status == FAIL and gate.measured == pytest.approx(recall["pos"]) and recall["neg"] == 1.0
    assert "lowest is 'pos'" in gate.detail and "below the minimum: pos" in gate.detail
    per_label = evaluate_gates(policy("gates:\n  min_class_recall: {neg: 0.95, pos: 0.6}\n"), after)
    assert per_label.result("min_class_recall").status == PASS


def test_recall_for_a_label_the_model_does_not_have_names_the_policy_line():
    text = "gates:\n  min_class_recall:\n    neg: 0.9\n    positive: 0.9\n"
    with pytest.raises(PolicyError, match=r"policy.yaml, line 4: min_class_recall names label 'positive'.*neg, pos"):
        evaluate_gates(policy(text), BASELINE)


def test_slice_gate_catches_a_group_that_got_worse_while_the_total_improved():
    # Fixes every error outside horror, breaks 8 horror reviews: overall better, horror worse.
    horror = [i for i in range(200) if GENRES[i] == "horror"]
    wrong = {i for i in range(0, 200, 10) if GENRES[i] == "horror"} | set(horror[1:9])
    after = make_table("after", wrong)
    report = evaluate_gates(policy(), after, baseline=BASELINE)
    assert report.result("max_drop_vs_baseline").status == PASS
    gate = report.result("max_slice_drop_vs_baseline")
    assert gate.status == FAIL
    assert "genre = horror" in gate.detail and "50 examples" in gate.detail
    assert gate.measured == pytest.approx(8 / 50)


def test_small_slices_are_ignored_and_no_big_slice_means_not_evaluated():
    after = make_table("after", set(range(0, 200, 20)))
    report = evaluate_gates(policy("gates:\n  max_slice_drop_vs_baseline: 0.05\nsettings:\n  slice_min_size: 500\n"), after, baseline=BASELINE)
    gate = report.result("max_slice_drop_vs_baseline")
    assert gate.status == NOT_EVALUATED and "500" in gate.detail and not report.passed


def test_unknown_slice_column_names_the_setting():
    with pytest.raises(PolicyError, match=r"line 4: slice_columns names 'director'.*genre"):
        evaluate_gates(policy("gates:\n  max_ece: 0.2\nsettings:\n  slice_columns: [director]\n"), BASELINE)


def test_gates_needing_a_missing_input_are_not_evaluated_never_passed():
    text = "gates:\n  max_drop_vs_baseline: 0.5\n  max_slice_drop_vs_baseline: 0.5\n  min_faithfulness: 0.0\n  approvals_required: 0\n"
    report = evaluate_gates(policy(text), BASELINE)
    assert [r.status for r in report.results] == [NOT_EVALUATED] * 4
    assert not report.passed and report.verdict.startswith("incomplete")
    assert "--baseline" in report.result("max_drop_vs_baseline").detail


def test_approvals_gate_counts_distinct_approvers_of_these_weights(tmp_path):
    store = AuditStore(tmp_path)
    after = make_table("after", set(range(0, 200, 20)))
    pol = policy("gates:\n  min_macro_f1: 0.5\n  approvals_required: 2\n")
    first = evaluate_gates(pol, after, store=store, checkpoint_path="/m/after")
    assert first.result("approvals_required").status == FAIL and first.result("approvals_required").measured == 0
    for who in ("alice", "bob"):
        store.append(reviewer=who, decision="approve", **first.signoff_fields())
    second = evaluate_gates(pol, after, store=store, checkpoint_path="/m/after")
    assert second.passed and second.result("approvals_required").measured == 2
    store.append(reviewer="carol", decision="reject", comment="horror reviews", **second.signoff_fields())
    third = evaluate_gates(pol, after, store=store, checkpoint_path="/m/after")
    assert third.result("approvals_required").status == FAIL and "Rejected by carol" in third.result("approvals_required").detail


def test_approvals_gate_counts_identities_not_display_names(tmp_path):
    """The attack: an approval under the display name "ana ruiz" cancelled Ana Ruiz's rejection (keyed on the name)."""
    store = AuditStore(tmp_path)
    after = make_table("after", set(range(0, 200, 20)))
    pol = policy("gates:\n  approvals_required: 1\n")
    report = evaluate_gates(pol, after, store=store, checkpoint_path="/m/after")
    store.append(reviewer="Ana Ruiz", identity="secrets:Ana Ruiz", decision="reject", comment="bias", **report.signoff_fields())
    store.append(reviewer="ana ruiz", identity="oidc:https://login.example.org|m-42", decision="approve", **report.signoff_fields())
    gate = evaluate_gates(pol, after, store=store, checkpoint_path="/m/after").result("approvals_required")
    assert gate.status == FAIL and "Rejected by Ana Ruiz" in gate.detail


def test_approvals_gate_does_not_count_an_approval_under_another_policy(tmp_path):
    """The attack: approve under a lax policy, then gate the release under the strict one."""
    store = AuditStore(tmp_path)
    after = make_table("after", set(range(0, 200, 20)))
    lax, strict = policy("gates:\n  approvals_required: 1\n"), policy("gates:\n  min_macro_f1: 0.5\n  approvals_required: 1\n")
    lax_report = evaluate_gates(lax, after, store=store, checkpoint_path="/m/after")
    store.append(reviewer="alice", identity="secrets:alice", decision="approve", **lax_report.signoff_fields())
    assert evaluate_gates(lax, after, store=store, checkpoint_path="/m/after").passed
    gate = evaluate_gates(strict, after, store=store, checkpoint_path="/m/after").result("approvals_required")
    assert gate.status == FAIL and gate.measured == 0 and "under another policy" in gate.detail
    # the same weights and policy on other data: the approval does not carry over either
    other_data = dataclasses.replace(after, data_fingerprint="e" * 64)
    assert evaluate_gates(lax, other_data, store=store, checkpoint_path="/m/after").result("approvals_required").status == FAIL


def test_approvals_gate_fails_closed_on_a_broken_chain(tmp_path):
    """The attack: edit a rejection into an approval in the database; `audit verify` saw it, the gate counted it."""
    import sqlalchemy as sa

    from store.gates import refresh_approvals

    store = AuditStore(tmp_path)
    after = make_table("after", set(range(0, 200, 20)))
    pol = policy("gates:\n  approvals_required: 1\n")
    report = evaluate_gates(pol, after, store=store, checkpoint_path="/m/after")
    store.append(reviewer="alice", identity="secrets:alice", decision="reject", comment="no", **report.signoff_fields())
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE veredicto_signoffs SET decision = 'approve' WHERE seq = 1"))
    for gate in (
        evaluate_gates(pol, after, store=store, checkpoint_path="/m/after").result("approvals_required"),
        refresh_approvals(report, store).result("approvals_required"),
    ):
        assert gate.status == FAIL and gate.measured == 0 and "Chain broken at record #1" in gate.detail


def test_signoff_fields_record_what_was_judged(tmp_path):
    after = make_table("after", set(range(0, 200, 20)))
    report = evaluate_gates(policy(), after, baseline=BASELINE, checkpoint_path="/m/after")
    record = AuditStore(tmp_path).append(reviewer="alice", decision="approve", **report.signoff_fields())
    assert record.checkpoint_fingerprint == after.fingerprint and record.dataset_fingerprint == "d" * 64
    assert record.policy_text == ALL_GATES and record.policy_sha256 == report.policy.sha256
    assert [g["status"] for g in record.gates] == ["pass"] * 5
    assert record.metrics["macro_f1"] == pytest.approx(table_metrics(after).macro_f1)
    assert record.metrics["baseline"]["name"] == "before"
    assert record.metrics["per_class"]["pos"]["recall"] == pytest.approx(table_metrics(after).per_class.loc["pos", "recall"])
    lo, hi = record.metrics["accuracy_ci95"]
    assert lo < 0.95 < hi


def test_terminal_table_and_worst_slices():
    after = make_table("after", set(range(0, 200, 4)))
    report = evaluate_gates(policy(), after, baseline=BASELINE)
    text = format_table(report)
    assert "Macro-F1" in text and "FAIL" in text and "genre = " in text
    worst = worst_slice_rows(report)
    assert len(worst) >= 1 and (worst["size"] >= 20).all()
    assert list(worst["accuracy"]) == sorted(worst["accuracy"])


# --------------------------------------------------------------------------- the CLI on a real (tiny) checkpoint


@pytest.fixture
def labelled_csv(tmp_path):
    path = tmp_path / "eval.csv"
    words = ["good", "bad", "great", "awful", "fine", "poor"]
    rows = [
        {"text": f"a {words[i % 6]} film number {i}", "label": ("positive", "negative")[i % 2], "genre": ("a", "b")[i % 2 == 0 and i % 3 == 0]}
        for i in range(40)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_policy(tmp_path, text):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_cli_gate_exit_0_when_every_gate_passes(tiny_bert, labelled_csv, tmp_path, capsys):
    pol = write_policy(tmp_path, "gates:\n  min_macro_f1: 0.0\n  max_ece: 1.0\n  max_drop_vs_baseline: 0.0\n")
    out = tmp_path / "gates.json"
    code = main(["gate", "--model", str(tiny_bert), "--baseline", str(tiny_bert), "--data", str(labelled_csv), "--policy", str(pol), "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Macro-F1" in printed and "Drop vs baseline" in printed and "Verdict: all 3 gate(s) pass" in printed
    saved = json.loads(out.read_text())
    assert saved["passed"] is True and [g["status"] for g in saved["gates"]] == ["pass"] * 3
    assert saved["gates"][2]["measured"] == 0.0  # the same checkpoint as baseline drops nothing


def test_cli_gate_exit_1_when_a_gate_fails(tiny_bert, labelled_csv, tmp_path, capsys):
    pol = write_policy(tmp_path, "gates:\n  min_macro_f1: 1.0\n  max_ece: 0.0\n")
    code = main(["gate", "--model", str(tiny_bert), "--data", str(labelled_csv), "--policy", str(pol)])
    printed = capsys.readouterr().out
    assert code == 1, printed  # a random tiny model is neither perfect nor perfectly calibrated
    assert "FAIL" in printed and "Verdict: blocked" in printed


def test_cli_gate_exit_2_when_a_gate_cannot_be_evaluated(tiny_bert, labelled_csv, tmp_path, capsys):
    pol = write_policy(tmp_path, "gates:\n  min_macro_f1: 0.0\n  max_drop_vs_baseline: 0.01\n")
    code = main(["gate", "--model", str(tiny_bert), "--data", str(labelled_csv), "--policy", str(pol)])
    captured = capsys.readouterr()
    assert code == 2
    assert "N/A" in captured.out  # the table is still printed
    assert "could not be evaluated" in captured.err and "--baseline" in captured.err


@pytest.mark.parametrize("case", ["missing_model", "unknown_labels", "unlabelled"])
def test_cli_gate_exit_2_on_bad_input(case, tiny_bert, labelled_csv, tmp_path, capsys):
    pol = write_policy(tmp_path, "gates:\n  min_macro_f1: 0.5\n")
    model = tmp_path / "missing" if case == "missing_model" else tiny_bert
    data = labelled_csv
    extra = []
    if case == "unknown_labels":
        data = tmp_path / "other.csv"
        pd.DataFrame({"text": ["x y"], "label": ["spam"]}).to_csv(data, index=False)
    if case == "unlabelled":
        extra = ["--label-col", ""]
    code = main(["gate", "--model", str(model), "--data", str(data), "--policy", str(pol), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("veredicto gate: ") and "Traceback" not in err


@pytest.mark.parametrize("method, name", [("lime", "LIME"), ("ig", "Integrated Gradients")])
def test_faithfulness_gate_explains_a_sample_and_uses_the_explain_package(tiny_bert_predictor, tmp_path, method, name):
    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data
    from explain.api import explain_text
    from explain.faithfulness import faithfulness_score

    data = tmp_path / "e.csv"
    pd.DataFrame(
        {
            "text": ["a good film with great acting", "an awful boring film", "great story", "bad plot and bad acting", "fine"],
            "label": ["positive", "negative", "positive", "negative", "positive"],
        }
    ).to_csv(data, index=False)
    table = predict_table(tiny_bert_predictor, load_eval_data(data))
    pol = policy(f"gates:\n  min_faithfulness: 0.0\nsettings:\n  faithfulness_sample: 3\n  faithfulness_method: {method}\n  seed: 3\n")
    report = evaluate_gates(pol, table, predictor=tiny_bert_predictor)
    gate = report.result("min_faithfulness")
    rows = report.evidence.faithfulness
    assert len(rows) == 3 and len(report.evidence.attributions) == 3
    assert {a.method for a in report.evidence.attributions} == {method}
    # the measured value is the mean of explain.faithfulness's score on the same explanations
    expected = [faithfulness_score(tiny_bert_predictor, explain_text(tiny_bert_predictor, t, method=method, seed=3)) for t in rows["text"]]
    assert gate.measured == pytest.approx(float(np.mean(expected)))
    assert gate.status == (PASS if gate.measured >= 0 else FAIL)
    assert f"{name} explanations on 3 sampled texts" in gate.detail
    assert report.metrics_snapshot()["faithfulness"]["n"] == 3
    again = evaluate_gates(pol, table, predictor=tiny_bert_predictor)
    assert again.result("min_faithfulness").measured == gate.measured  # seeded: the same sample, the same number


def test_probe_gate_fails_a_model_that_flips_on_a_name_swap_and_passes_an_invariant_one(tmp_path):
    """The robustness gate (issue 7) is the worst failure rate of the invariance and fairness probes."""
    from test_probes_models import make_invariant_checkpoint, make_keyword_checkpoint

    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data
    from models import Predictor
    from probes.run import probe_failure_rates

    data = tmp_path / "d.csv"
    texts = [f"john said the film was good {i}" if i % 2 else f"maria thought it was bad {i}" for i in range(30)]
    pd.DataFrame({"text": texts, "label": ["negative", "positive"] * 15}).to_csv(data, index=False)
    evalset = load_eval_data(data)
    rule = policy("gates:\n  max_probe_failure_rate: 0.2\nsettings:\n  probe_tests: [fairness]\n  probe_limit: 30\n")
    flipping = Predictor(str(make_keyword_checkpoint(tmp_path / "kw", {"john": +1, "maria": -1}, labels=("negative", "positive"))), device="cpu")
    steady = Predictor(str(make_invariant_checkpoint(tmp_path / "inv", labels=("negative", "positive"))), device="cpu")

    (bad,) = evaluate_gates(rule, predict_table(flipping, evalset), predictor=flipping).results
    expected = probe_failure_rates(flipping, predict_table(flipping, evalset), ["fairness"], limit=30, seed=0)
    assert bad.status == FAIL
    assert bad.measured == pytest.approx(max(v for v in expected.values() if not np.isnan(v)))
    assert "changes the prediction on" in bad.detail

    (good,) = evaluate_gates(rule, predict_table(steady, evalset), predictor=steady).results
    assert good.status == PASS and good.measured == 0.0

    (missing,) = evaluate_gates(rule, predict_table(steady, evalset)).results
    assert missing.status == NOT_EVALUATED


def test_probe_gate_settings_are_validated():
    with pytest.raises(PolicyError, match="probe_limit"):
        policy("gates:\n  max_probe_failure_rate: 0.2\nsettings:\n  probe_limit: 0\n")


def test_every_gate_has_one_registered_evaluator_and_evaluate_gates_dispatches_through_it(monkeypatch):
    assert set(EVALUATORS) == set(GATES)
    seen = []

    def stub(ctx, threshold):
        seen.append((ctx.table.checkpoint_name, threshold))
        return GateResult("max_ece", "stub", PASS, 0.5, threshold, "≤", "from the stub")

    monkeypatch.setitem(EVALUATORS, "max_ece", stub)
    report = evaluate_gates(policy("gates:\n  min_macro_f1: 0.5\n  max_ece: 0.01\n"), BASELINE)
    assert seen == [("before", 0.01)]
    assert report.result("max_ece").detail == "from the stub" and report.result("min_macro_f1").status == PASS


# --- multi-label checkpoints -------------------------------------------------------------------------------------------

ML_POLICY = """
version: 1
gates:
  min_micro_f1: {micro}
  min_macro_f1: {macro}
  min_label_recall: {recall}
  max_hamming_loss: {hamming}
  max_drop_vs_baseline: 0.5
"""


def test_multi_label_gates_measure_scikit_learns_numbers_and_pass_or_fail_on_them():
    from multilabel_support import random_pair
    from sklearn.metrics import hamming_loss, recall_score

    before, after = random_pair(n=200, seed=1)
    gold, pred = after.gold_matrix, after.pred_matrix
    micro, macro = f1_score(gold, pred, average="micro"), f1_score(gold, pred, average="macro")
    recall, hamming = recall_score(gold, pred, average=None).min(), hamming_loss(gold, pred)
    at_the_numbers = ML_POLICY.format(
        micro=round(micro, 4) - 1e-4, macro=round(macro, 4) - 1e-4, recall=round(recall, 4) - 1e-4, hamming=round(hamming, 4) + 1e-4
    )
    report = evaluate_gates(parse_policy(at_the_numbers), after, baseline=before)
    assert report.passed, report.table()
    assert report.result("min_micro_f1").measured == pytest.approx(micro)
    assert report.result("min_macro_f1").measured == pytest.approx(macro)
    assert report.result("min_label_recall").measured == pytest.approx(recall)
    assert report.result("max_hamming_loss").measured == pytest.approx(hamming)
    assert report.result("max_drop_vs_baseline").measured == pytest.approx(-(macro - f1_score(gold, before.pred_matrix, average="macro")))
    assert "thresholds default (0.5 for every label)" in report.result("min_micro_f1").detail
    just_above = ML_POLICY.format(micro=micro + 0.01, macro=macro + 0.01, recall=recall + 0.01, hamming=hamming - 0.01)
    failed = evaluate_gates(parse_policy(just_above), after, baseline=before)
    assert [r.key for r in failed.failed] == ["min_micro_f1", "min_macro_f1", "min_label_recall", "max_hamming_loss"]
    weakest = after.labels[int(np.argmin(recall_score(gold, pred, average=None)))]
    assert f"lowest is '{weakest}'" in failed.result("min_label_recall").detail


def test_a_gate_for_the_other_kind_of_checkpoint_says_it_does_not_apply_and_never_passes():
    from multilabel_support import random_pair

    _, multi = random_pair(n=60)
    report = evaluate_gates(parse_policy("version: 1\ngates:\n  min_class_recall: 0.1\n  max_ece: 0.9\n  min_macro_f1: 0.1\n"), multi)
    assert [r.status for r in report.results] == [NOT_EVALUATED, NOT_EVALUATED, PASS] and not report.passed
    assert "does not apply: 'min_class_recall' is for single-label checkpoints and this one is multi-label. Use min_label_recall instead." in (
        report.result("min_class_recall").detail
    )
    single = evaluate_gates(parse_policy("version: 1\ngates:\n  min_label_recall: 0.1\n  max_hamming_loss: 0.9\n  min_micro_f1: 0.1\n"), BASELINE)
    assert {r.status for r in single.results} == {NOT_EVALUATED}
    assert "is for multi-label checkpoints and this one is single-label. Use min_class_recall instead." in single.result("min_label_recall").detail


def test_min_label_recall_takes_a_mapping_and_refuses_an_unknown_label():
    from multilabel_support import random_pair

    _, multi = random_pair(n=60)
    with pytest.raises(PolicyError, match="min_label_recall names label 'spam'"):
        evaluate_gates(parse_policy("version: 1\ngates:\n  min_label_recall: {spam: 0.5}\n"), multi)
    report = evaluate_gates(parse_policy("version: 1\ngates:\n  min_label_recall: {toxic: 0.0, threat: 1.0}\n"), multi)
    recall = report.evidence.recall_ci["recall"]
    assert report.result("min_label_recall").status == (PASS if recall["threat"] == 1.0 else FAIL)
    assert report.result("min_label_recall").threshold == {"toxic": 0.0, "threat": 1.0}


def test_a_multi_label_snapshot_records_the_task_and_thresholds():
    from multilabel_support import TAGS, ml_table

    from analysis.thresholds import Thresholds

    tuned = Thresholds(TAGS, (0.3, 0.5, 0.7), "tuned on val.csv (F1-best per label)")
    table = ml_table([[0.4, 0.6, 0.6], [0.2, 0.1, 0.8]], [[1, 1, 0], [0, 0, 1]], thresholds=tuned)
    snap = evaluate_gates(parse_policy("version: 1\ngates:\n  min_micro_f1: 0.5\n"), table).metrics_snapshot()
    assert snap["task"] == "multi-label"
    assert snap["thresholds"] == {"values": [["toxic", 0.3], ["insult", 0.5], ["threat", 0.7]], "source": "tuned on val.csv (F1-best per label)"}
    assert snap["subset_accuracy"] == 1.0 and "ece" not in snap
    assert evaluate_gates(parse_policy(ALL_GATES), BASELINE).metrics_snapshot()["task"] == "single-label"
