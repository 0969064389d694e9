"""The Training view model (training.views): what the page says for a checkpoint with, without, or with a broken provenance.json."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from test_finetune_provenance import record
from training.provenance import write_provenance
from training.views import training_view


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
