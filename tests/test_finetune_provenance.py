"""provenance.json read back: validation, tables, Optuna figures rebuilt without the database, and the hyperparameter diff."""

from __future__ import annotations

import json

import pytest

from analysis.hparams import diff_hyperparameters
from training.provenance import (
    PROVENANCE_FILE,
    Provenance,
    ProvenanceError,
    curves_frame,
    fingerprint_matches,
    learning_curves_figure,
    load_provenance,
    optimization_history_figure,
    param_importance_figure,
    rebuild_study,
    summary,
    trials_frame,
    write_provenance,
)

DISTRIBUTIONS = {
    "learning_rate": {"name": "FloatDistribution", "attributes": {"log": True, "step": None, "low": 1e-5, "high": 1e-3}},
    "epochs": {"name": "IntDistribution", "attributes": {"log": False, "step": 1, "low": 1, "high": 3}},
    "batch_size": {"name": "CategoricalDistribution", "attributes": {"choices": [8, 16]}},
    "weight_decay": {"name": "FloatDistribution", "attributes": {"log": False, "step": None, "low": 0.0, "high": 0.1}},
    "warmup_ratio": {"name": "FloatDistribution", "attributes": {"log": False, "step": None, "low": 0.0, "high": 0.2}},
}


def curves(values):
    return {
        "train": [{"step": 2 * i + 1, "epoch": i + 0.5, "loss": 1.0 - 0.1 * i, "learning_rate": 1e-4} for i in range(len(values))],
        "validation": [{"step": 2 * i + 2, "epoch": float(i + 1), "loss": 0.9 - 0.1 * i, "accuracy": v + 0.01, "macro_f1": v} for i, v in enumerate(values)],
    }


def trial(number, state, values, lr, epochs, batch, wd=0.01, warmup=0.1):
    return {
        "number": number,
        "state": state,
        "value": values[-1] if state == "COMPLETE" else None,
        "params": {"learning_rate": lr, "epochs": epochs, "batch_size": batch, "weight_decay": wd, "warmup_ratio": warmup},
        "distributions": DISTRIBUTIONS,
        "intermediate": {str(i + 1): v for i, v in enumerate(values)},
        "pruned_at_epoch": len(values) if state == "PRUNED" else None,
        "metrics": {},
        "curves": curves(values),
        "seconds": 10.0 + number,
    }


def record(**changes):
    trials = [
        trial(0, "COMPLETE", [0.60, 0.70, 0.75], 5e-5, 3, 8),
        trial(1, "COMPLETE", [0.80, 0.85], 3e-4, 2, 16, wd=0.05),
        trial(2, "PRUNED", [0.40], 1e-5, 3, 8, warmup=0.0),
        trial(3, "COMPLETE", [0.65], 2e-5, 1, 16, wd=0.0),
        trial(4, "FAIL", [], 1e-4, 2, 8),
    ]
    base = {
        "format": 1,
        "kind": "search",
        "status": "complete",
        "method": "full fine-tune, Optuna TPE search",
        "base": {"name": "minilm", "fingerprint": "a" * 64, "head": "new", "labels": ["LABEL_0", "LABEL_1"]},
        "checkpoint": {"name": "tuned", "fingerprint": "c" * 64},
        "data": {"name": "train.csv", "fingerprint": "d" * 64, "rows": 100},
        "split": {"method": "stratified holdout", "seed": 0, "train_rows": 80, "validation_rows_count": 20},
        "tokenization": {"max_length": 64, "train_truncated": 3, "validation_truncated": 1, "train_texts": 80, "validation_texts": 20},
        "metric": "macro_f1",
        "seed": 0,
        "hyperparameters": {**trials[1]["params"], "max_length": 64, "seed": 0},
        "search": {"study_name": "s", "pruner": {"name": "MedianPruner"}},
        "best": {"trial": 1, "value": 0.85, "params": trials[1]["params"]},
        "trials": trials,
        "curves": trials[1]["curves"],
        "wall_seconds": 75.0,
        "search_seconds": 70.0,
        "versions": {"transformers": "5.24.0", "torch": "2.13.0", "optuna": "5.0.0"},
    }
    return {**base, **changes}


@pytest.fixture
def prov(tmp_path) -> Provenance:
    write_provenance(tmp_path, record())
    loaded = load_provenance(tmp_path)
    assert loaded is not None
    return loaded


def test_absent_provenance_is_none_not_an_error(tmp_path):
    assert load_provenance(tmp_path) is None


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON \\(line 1"),
        ("[1, 2]", "must hold a JSON object, not list"),
        ('{"format": 1}', "lacks kind, status, base"),
        (json.dumps(record(format=99)), "format 99.*Upgrade Veredicto"),
        (json.dumps(record(trials=[{"value": 1}])), "malformed 'trials'"),
    ],
)
def test_damaged_provenance_says_what_is_wrong(tmp_path, content, message):
    (tmp_path / PROVENANCE_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ProvenanceError, match=message):
        load_provenance(tmp_path)


def test_write_is_atomic_and_round_trips(tmp_path):
    write_provenance(tmp_path, record())
    assert [p.name for p in tmp_path.iterdir()] == [PROVENANCE_FILE]
    assert load_provenance(tmp_path).record == record()


def test_fingerprint_match(prov):
    assert fingerprint_matches(prov, "c" * 64) is True
    assert fingerprint_matches(prov, "e" * 64) is False


def test_trials_table_shows_every_trial_with_its_state_and_score(prov):
    table = trials_frame(prov)
    assert table["trial"].tolist() == [1, 2, 3, 4, 5]
    assert table["state"].tolist() == ["complete", "complete ★ best", "pruned", "complete", "fail"]
    assert table["macro_f1"].tolist()[:4] == [0.75, 0.85, 0.40, 0.65]  # a pruned trial shows its last reported score
    assert table["learning_rate"].tolist()[:2] == [5e-5, 3e-4]
    assert table["epochs run"].tolist() == [3, 2, 1, 1, 0]


def test_rebuilt_study_matches_the_record(prov):
    study = rebuild_study(prov)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE", "FAIL"]
    assert study.best_trial.number == 1 and study.best_value == 0.85
    assert study.trials[2].intermediate_values == {1: 0.40}
    assert study.best_trial.params["batch_size"] == 16


def test_optimization_history_is_optunas_figure_of_the_completed_trials(prov):
    fig = optimization_history_figure(prov)
    scatter = [t for t in fig.data if t.mode == "markers"]
    assert list(scatter[0].x) == [0, 1, 3]
    assert list(scatter[0].y) == [0.75, 0.85, 0.65]
    best_line = next(t for t in fig.data if t.name == "Best Value")
    assert list(best_line.x) == [0, 1, 2, 3, 4]  # Optuna draws the best-so-far line across every trial
    assert list(best_line.y) == [0.75, 0.85, 0.85, 0.85, 0.85]
    assert "Macro-F1" in fig.layout.yaxis.title.text


def test_optimization_history_without_a_completed_trial(tmp_path):
    rec = record()
    rec["trials"] = [t for t in rec["trials"] if t["state"] != "COMPLETE"]
    write_provenance(tmp_path, rec)
    assert optimization_history_figure(load_provenance(tmp_path)) is None


def test_param_importance_is_deterministic_and_names_the_hyperparameters(prov):
    fig, reason = param_importance_figure(prov)
    assert reason is None
    bars = fig.data[0]
    assert set(bars.y) <= {"learning_rate", "epochs", "batch_size", "weight_decay", "warmup_ratio"}
    assert len(bars.y) >= 3
    again, _ = param_importance_figure(prov)
    assert list(again.data[0].x) == list(bars.x)


def test_param_importance_needs_two_completed_trials(tmp_path):
    rec = record()
    rec["trials"] = rec["trials"][:1]
    write_provenance(tmp_path, rec)
    fig, reason = param_importance_figure(load_provenance(tmp_path))
    assert fig is None and "at least two completed trials" in reason


def test_learning_curves_plot_the_recorded_points(prov):
    fig = learning_curves_figure(prov)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["training loss"].x) == [0.5, 1.5]
    assert list(by_name["training loss"].y) == pytest.approx([1.0, 0.9])
    assert list(by_name["validation Macro-F1"].y) == [0.80, 0.85]
    assert list(by_name["validation Accuracy"].y) == pytest.approx([0.81, 0.86])
    trial0 = learning_curves_figure(prov, trial=0)
    assert list({t.name: t for t in trial0.data}["validation Macro-F1"].y) == [0.60, 0.70, 0.75]
    assert "trial 1" in trial0.layout.title.text


def test_curves_frame_for_an_unknown_trial(prov):
    with pytest.raises(ProvenanceError, match="Trial 10 is not recorded"):
        curves_frame(prov, trial=9)


def test_summary_states_truncation_and_versions(prov):
    facts = summary(prov)
    assert facts["Truncation"] == "4 of 100 texts longer than 64 tokens (cut)"
    assert facts["Base"].startswith("minilm · aaaaaaaaaaaa (new head)")
    assert "transformers 5.24.0" in facts["Libraries"]


def test_hyperparameter_diff_lists_what_changed():
    before = record(
        kind="single run",
        search=None,
        best=None,
        trials=[],
        method="frozen encoder, classification head only",
        hyperparameters={"learning_rate": 1e-3, "epochs": 20, "batch_size": 64, "weight_decay": 0.01, "warmup_ratio": 0.0, "max_length": 64, "seed": 0},
        validation={"macro_f1": 0.7},
    )
    after = record()
    table = diff_hyperparameters(before, after, ("news-before", "news-after"))
    assert list(table.columns) == ["setting", "news-before", "news-after", "changed"]
    rows = table.set_index("setting")
    assert rows.loc["Learning rate", "news-before"] == "1.00e-03" and rows.loc["Learning rate", "news-after"] == "3.00e-04"
    assert bool(rows.loc["Learning rate", "changed"]) is True
    assert bool(rows.loc["Max tokens", "changed"]) is False
    assert bool(rows.loc["Base fingerprint", "changed"]) is False and rows.loc["Base fingerprint", "news-after"] == "a" * 12
    assert rows.loc["Trials", "news-before"] == "no search" and rows.loc["Trials", "news-after"] == "5"
    assert rows.loc["Validation score", "news-before"] == "0.7" and rows.loc["Validation score", "news-after"] == "0.85"
    changed = diff_hyperparameters(before, after, only_changed=True)
    assert "Max tokens" not in changed["setting"].tolist() and "Epochs" in changed["setting"].tolist()


def test_hyperparameter_diff_with_a_checkpoint_without_provenance():
    table = diff_hyperparameters(None, record())
    rows = table.set_index("setting")
    assert rows.loc["Learning rate", "before"] == "—" and bool(rows.loc["Learning rate", "changed"]) is True
