"""The Training view model (training.views): what the page says for a checkpoint with, without, or with a broken provenance.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from test_finetune_provenance import record

from training.provenance import load_provenance, write_provenance
from training.views import curve_choices, hyperparameter_changes, learning_curves, provenance_diff, training_view


@dataclass(frozen=True)
class Ref:
    name: str
    path: Path
    fingerprint: str

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:12]


def test_no_provenance_is_not_an_error(tmp_path):
    view = training_view(Ref("plain", tmp_path, "c" * 64))
    assert view.provenance is None and view.error is None and view.facts is None


def test_an_unreadable_provenance_says_why(tmp_path):
    (tmp_path / "provenance.json").write_text(json.dumps({"format": 1}), encoding="utf-8")
    view = training_view(Ref("broken", tmp_path, "c" * 64))
    assert view.provenance is None and "lacks" in view.error and "kind" in view.error


def test_a_search_gets_its_facts_hyperparameters_and_search_line(tmp_path):
    write_provenance(tmp_path, record())
    view = training_view(Ref("tuned", tmp_path, "c" * 64))
    assert view.error is None and view.warnings == ()
    facts = dict(zip(view.facts["about"], view.facts["value"]))
    assert facts["Status"] == "complete" and facts["Training data"] == f"train.csv · {'d' * 12} · 100 rows"
    assert "Learning rate" in set(view.hyperparameters["hyperparameter"]) and all(isinstance(v, str) for v in view.hyperparameters["value"])
    assert view.search == "**Search:** 5 trial(s), TPE sampler, MedianPruner; best trial 2 with validation Macro-F1 **0.8500**."


def test_changed_weights_and_an_interrupted_search_are_warned_about(tmp_path):
    write_provenance(tmp_path, record(status="interrupted"))
    view = training_view(Ref("tuned", tmp_path, "e" * 64))
    assert len(view.warnings) == 2
    assert view.warnings[0].startswith(f"The provenance describes weights `{'c' * 12}`, but this checkpoint's weights are `{'e' * 12}`")
    assert view.warnings[1].startswith("The search was interrupted")


def test_fixed_hyperparameters_have_no_search_line(tmp_path):
    write_provenance(tmp_path, record(kind="single", search=None, best=None, trials=[], hyperparameters={}))
    view = training_view(Ref("once", tmp_path, "c" * 64))
    assert view.search is None and view.hyperparameters is None


def test_curve_choices_list_the_saved_model_and_each_trial_with_curves(tmp_path):
    write_provenance(tmp_path, record())
    prov = load_provenance(tmp_path)
    assert curve_choices(prov) == [-1, 0, 1, 2, 3]  # trial 4 failed before recording any curve
    assert [p["macro_f1"] for p in learning_curves(prov)["validation"]] == [0.80, 0.85]  # the saved model: trial 1's curves
    assert [p["macro_f1"] for p in learning_curves(prov, 2)["validation"]] == [0.40]
    assert learning_curves(prov, 4) is None


def test_a_single_run_has_no_curve_choices_and_may_have_no_curves(tmp_path):
    write_provenance(tmp_path, record(kind="single", search=None, best=None, trials=[], curves={"train": [], "validation": []}))
    prov = load_provenance(tmp_path)
    assert curve_choices(prov) == [] and learning_curves(prov) is None


def test_hyperparameter_changes_need_both_provenances(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_provenance(tmp_path / "a", record())
    write_provenance(tmp_path / "b", record(hyperparameters={**record()["hyperparameters"], "learning_rate": 1e-5}))
    a, b = training_view(Ref("a", tmp_path / "a", "c" * 64)), training_view(Ref("b", tmp_path / "b", "c" * 64))
    table = hyperparameter_changes(a, b)
    assert list(table.columns) == ["setting", "a", "b", "changed"] and len(table) > 1 and table["changed"].sum() == 1  # every setting, not only the changed one
    assert hyperparameter_changes(a, training_view(Ref("none", tmp_path / "none", "c" * 64))) is None


def test_provenance_diff_lists_what_differs_says_when_none_exists_and_when_one_is_broken(tmp_path):
    for name in ("a", "b", "none", "broken"):
        (tmp_path / name).mkdir()
    write_provenance(tmp_path / "a", record())
    write_provenance(tmp_path / "b", record(hyperparameters={**record()["hyperparameters"], "learning_rate": 1e-5}))
    (tmp_path / "broken" / "provenance.json").write_text(json.dumps({"format": 1}), encoding="utf-8")
    refs = {name: Ref(name, tmp_path / name, "c" * 64) for name in ("a", "b", "none", "broken")}
    changed = provenance_diff(refs["a"], refs["b"])
    assert changed.error is None and len(changed.table) == 1 and list(changed.table.iloc[0]) == ["Learning rate", "3.00e-04", "1.00e-05", True]
    one_side = provenance_diff(refs["a"], refs["none"])
    assert one_side.error is None and one_side.table is not None and len(one_side.table) > 0
    neither = provenance_diff(refs["none"], refs["none"])
    assert neither.error is None and neither.table is None
    broken = provenance_diff(refs["a"], refs["broken"])
    assert broken.table is None and "lacks" in broken.error
