"""A gate evaluation in the results store (`store.gates.stored_evaluation`): read back it is the evaluation that was
computed -- gates, snapshot, every evidence frame -- with nothing run again; whatever it depended on changing (the checkpoint,
the baseline, the data, the gold labels, the policy, the training file, the thresholds) misses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from tiny import make_tiny_checkpoint

from analysis.predictions import predict_table, with_corrected_gold
from evaldata.loading import load_eval_data
from models.inference import Predictor
from quality.training import training_data
from store import codec
from store.gates import GATES_FORMAT, evaluate_gates, stored_evaluation
from store.policy import parse_policy
from store.results import ResultsStore

POLICY = """
version: 1
gates:
  min_macro_f1: 0.3
  min_class_recall: 0.2
  max_ece: 0.5
  max_drop_vs_baseline: 0.2
  max_slice_drop_vs_baseline: 0.3
  min_faithfulness: 0.0
  max_probe_failure_rate: 0.9
  max_pii_rate: 0.5
  max_leakage_rate: 0.5
  max_label_issue_rate: 0.9
  max_drift_auc: 1.0
settings:
  slice_min_size: 5
  faithfulness_sample: 3
  faithfulness_method: ig
  probe_limit: 10
"""
WORDS = ["good", "bad", "great", "awful", "fine", "poor"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("gates-stored")
    before = Predictor(make_tiny_checkpoint(root / "before", "bert", seed=0))
    after = Predictor(make_tiny_checkpoint(root / "after", "bert", seed=3))
    rows = [{"text": f"John said a {WORDS[i % 6]} film number {i}", "label": ("positive", "negative")[i % 2], "genre": "ab"[i % 3 == 0]} for i in range(40)]
    data = root / "eval.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    train = root / "train.csv"
    pd.DataFrame([{**r, "text": r["text"].replace("film", "movie") if i % 4 else r["text"]} for i, r in enumerate(rows)]).to_csv(train, index=False)
    evalset = load_eval_data(data)
    return {
        "root": root,
        "before": before,
        "after": after,
        "evalset": evalset,
        "train": train,
        "policy": parse_policy(POLICY, "policy.yaml"),
        "tables": (predict_table(before, evalset), predict_table(after, evalset)),
    }


def evaluate(setup, store, **changes):
    baseline, table = setup["tables"]
    kwargs = {
        "baseline": baseline,
        "predictor": setup["after"],
        "checkpoint_path": str(setup["after"].ref.path),
        "explain_params": {"ig": {"n_steps": 8}},
        "training": training_data(None, setup["train"]),
        **changes,
    }
    policy = kwargs.pop("policy", setup["policy"])
    table = kwargs.pop("table", table)
    return stored_evaluation(policy, table, results=store, **kwargs)


def frames(report) -> dict:
    ev = report.evidence
    q = ev.quality
    return {
        "gates": report.table(),
        "recall_ci": ev.recall_ci,
        "slices": ev.slices,
        "per_class": ev.metrics.per_class,
        "calibration": ev.calibration.table,
        "deltas": ev.comparison.deltas,
        "compare_per_class": ev.comparison.per_class,
        "slice_deltas": ev.slice_deltas,
        "faithfulness": ev.faithfulness,
        "leakage": q.leakage.matches,
        "label_issues": q.label_issues.frame,
        "drift": q.drift.most_unlike,
    }


def test_read_back_it_is_the_evaluation_that_was_computed_and_nothing_runs_again(setup, tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    first = evaluate(setup, store)
    assert all(r.status != "not evaluated" for r in first.results), first.table()  # every gate measured something
    import store.gates as gates

    def refuse(*args, **kwargs):
        raise AssertionError("evaluated again instead of read from the store")

    monkeypatch.setattr(gates, "evaluate_gates", refuse)
    again = evaluate(setup, ResultsStore(tmp_path))  # a restart: a new store object on the same file
    assert again.metrics_snapshot() == first.metrics_snapshot()
    assert [r.to_dict() for r in again.results] == [r.to_dict() for r in first.results]
    assert again.signoff_fields() == first.signoff_fields()
    assert again.policy is setup["policy"]  # the caller's policy, never one read from the store
    for name, frame in frames(first).items():
        pd.testing.assert_frame_equal(frames(again)[name], frame, obj=name)
    assert [a.to_dict() for a in again.evidence.attributions] == [a.to_dict() for a in first.evidence.attributions]
    np.testing.assert_array_equal(again.evidence.comparison.paired.probs_after, first.evidence.comparison.paired.probs_after)
    assert again.evidence.quality.lines() == first.evidence.quality.lines()


def test_whatever_the_evaluation_depended_on_changing_misses(setup, tmp_path, monkeypatch):
    import store.gates as gates

    store = ResultsStore(tmp_path)
    evaluate(setup, store)
    calls = []
    real = gates.evaluate_gates
    monkeypatch.setattr(gates, "evaluate_gates", lambda *a, **k: calls.append(1) or real(*a, **k))
    evaluate(setup, store)
    assert calls == []  # the same inputs: a hit
    baseline, table = setup["tables"]
    flip = {0: "negative" if table.frame["gold"].iat[0] == "positive" else "positive"}  # a reviewer's correction of example 0
    corrected = with_corrected_gold(table, flip)
    other_data = setup["root"] / "other.csv"
    setup["evalset"].frame.assign(text=setup["evalset"].frame["text"] + " !").drop(
        columns=[c for c in setup["evalset"].frame if c not in ("text", "label", "genre")]
    ).to_csv(other_data, index=False)
    changes = {
        "another checkpoint": {"predictor": setup["before"], "table": baseline, "baseline": table},
        "no baseline": {"baseline": None},
        "other data": {
            "table": predict_table(setup["after"], load_eval_data(other_data)),
            "baseline": predict_table(setup["before"], load_eval_data(other_data)),
        },
        "corrected gold": {"table": corrected, "baseline": with_corrected_gold(baseline, flip), "corrections": 1},
        "another policy": {"policy": parse_policy(POLICY.replace("min_macro_f1: 0.3", "min_macro_f1: 0.31"), "policy.yaml")},
        "other budgets": {"explain_params": {"ig": {"n_steps": 16}}},
    }
    for what, change in changes.items():
        calls.clear()
        evaluate(setup, store, **change)
        assert calls == [1], what
    calls.clear()
    train = setup["train"]
    train.write_text(train.read_text() + "John said a great movie number 99,positive,a\n")  # the training file changes under the store
    evaluate(setup, store)
    assert calls == [1]


def test_a_multi_label_evaluation_keys_its_thresholds(tmp_path):
    from analysis.thresholds import Thresholds

    tags = ("toxic", "spam")
    predictor = Predictor(make_tiny_checkpoint(tmp_path / "m", labels=tags, problem_type="multi_label_classification"))
    data = tmp_path / "m.csv"
    pd.DataFrame({"text": [f"text {i} you idiot" for i in range(12)], "label": ["toxic", "spam", "toxic|spam", ""] * 3}).to_csv(data, index=False)
    evalset = load_eval_data(data, label_sep="|")
    policy = parse_policy("version: 1\ngates:\n  min_micro_f1: 0.1\n  max_hamming_loss: 0.9\n", "p.yaml")
    store = ResultsStore(tmp_path / "s")
    first = stored_evaluation(policy, predict_table(predictor, evalset), results=store, predictor=predictor)
    again = stored_evaluation(policy, predict_table(predictor, evalset), results=store, predictor=predictor)
    assert again.metrics_snapshot() == first.metrics_snapshot() and again.thresholds == first.thresholds
    other = predict_table(predictor, evalset, thresholds=Thresholds.default(tags).with_values({"toxic": 0.3}, "tuned"))
    assert stored_evaluation(policy, other, results=store, predictor=predictor).thresholds.values[0] == pytest.approx(0.3)


def test_an_unstorable_evaluation_is_computed_and_not_stored(setup, tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    monkeypatch.setattr(codec, "CLASSES", codec.CLASSES - {"store.gates.Evidence"})
    report = evaluate(setup, store)
    assert report.evidence is not None
    conn = __import__("sqlite3").connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM payloads WHERE kind='gates'").fetchone()[0] == 0
    conn.close()
    assert GATES_FORMAT >= 1
    with pytest.raises(ValueError, match="never holds approvals"):
        stored_evaluation(setup["policy"], setup["tables"][1], results=store, store=object())
    # what the codec refuses is refused by name, and a payload naming a class outside the list is never imported
    with pytest.raises(codec.CodecError, match="store.gates.Evidence"):
        codec.encode(report, {"policy": report.policy, "training": report.evidence.quality.training})
    with pytest.raises(codec.CodecError, match="not a stored result type"):
        codec.decode({"__dc__": "os.system", "fields": {}})
    assert dataclasses.is_dataclass(report) and evaluate_gates is not None
