"""The Training page, as a person sees it: provenance facts, trials, Optuna's figures, learning curves, and what changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from analysis_pages_support import app_test, demo_env
from finetune_support import fast_space, make_texts, write_csv
from tiny import make_tiny_checkpoint

from training.finetune import SearchConfig, run_search
from training.provenance import PROVENANCE_FILE


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A real (tiny) search with three trials, so the page shows genuine Optuna output."""
    work = tmp_path_factory.mktemp("page-training")
    base = make_tiny_checkpoint(work / "encoder", "bert", labels=None)
    data = write_csv(make_texts(16, seed=2), work / "reviews.csv")
    result = run_search(
        SearchConfig(base=base, data=data, out=work / "searched", trials=3, seed=0, space=fast_space(), storage=f"sqlite:///{work / 'optuna.db'}"),
        log=lambda m: None,
        progress=False,
    )
    return work, result, data


def _app(checkpoints: Path, data: Path, monkeypatch):
    return app_test({"checkpoints": checkpoints, "data": data}, monkeypatch, "pages/training.py")


def _spec(chart) -> dict:
    return json.loads(chart.proto.spec)


def _values(value) -> list:
    """A figure array as a list (plotly may serialise arrays as {"dtype", "bdata"})."""
    import base64

    import numpy as np

    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).tolist()
    return list(value)


def _frames(at):
    return [d.value for d in at.dataframe]


def test_search_provenance_and_a_checkpoint_without_one(searched, tmp_path, monkeypatch):
    _work, result, data = searched
    shutil.copytree(result.out, tmp_path / "ckpts" / "tuned")
    make_tiny_checkpoint(tmp_path / "ckpts" / "base", "bert")  # no provenance.json
    at = _app(tmp_path / "ckpts", data, monkeypatch)

    assert [t.label for t in at.tabs] == ["base", "tuned"]
    assert any("**base** has no provenance.json" in i.value for i in at.info)
    assert not at.error

    frames = _frames(at)
    facts = frames[0].set_index("about")["value"]
    assert facts["How"] == "full fine-tune, Optuna TPE search" and facts["Status"] == "complete"
    assert facts["Training data"].startswith("reviews.csv")
    assert "optuna" in facts["Libraries"]

    record = json.loads((result.out / PROVENANCE_FILE).read_text())
    params = frames[1].set_index("hyperparameter")["value"]
    assert params["Learning rate"] == str(record["hyperparameters"]["learning_rate"])
    assert params["Epochs"] == str(record["hyperparameters"]["epochs"])

    trials = frames[2]
    assert trials["trial"].tolist() == [1, 2, 3]
    assert trials["state"].str.startswith("complete").all()
    assert trials.loc[trials["state"].str.contains("best"), "trial"].tolist() == [result.best_trial + 1]
    assert trials["macro_f1"].tolist() == pytest.approx([t["value"] for t in record["trials"]])

    charts = at.get("plotly_chart")
    specs = [_spec(c) for c in charts]
    history = next(s for s in specs if "Optimisation history" in json.dumps(s["layout"].get("title", "")))
    points = next(t for t in history["data"] if t.get("mode") == "markers")
    assert _values(points["y"]) == pytest.approx([t["value"] for t in record["trials"]])
    curves = next(s for s in specs if "Learning curves" in json.dumps(s["layout"].get("title", "")))
    val = next(t for t in curves["data"] if t["name"] == "validation Macro-F1")
    assert _values(val["y"]) == pytest.approx([p["macro_f1"] for p in record["curves"]["validation"]])


def test_choosing_a_trial_shows_its_curves(searched, tmp_path, monkeypatch):
    _work, result, data = searched
    shutil.copytree(result.out, tmp_path / "ckpts" / "tuned")
    at = _app(tmp_path / "ckpts", data, monkeypatch)
    record = json.loads((result.out / PROVENANCE_FILE).read_text())
    at.selectbox(key=f"curves-{_fingerprint(tmp_path / 'ckpts' / 'tuned')}").set_value(2).run()
    spec = _spec(at.get("plotly_chart")[-1])
    assert "trial 3" in json.dumps(spec["layout"]["title"])
    val = next(t for t in spec["data"] if t["name"] == "validation Macro-F1")
    assert _values(val["y"]) == pytest.approx([p["macro_f1"] for p in record["trials"][2]["curves"]["validation"]])


def _fingerprint(path: Path) -> str:
    from models.checkpoints import inspect_checkpoint

    return inspect_checkpoint(path).fingerprint


def test_two_checkpoints_with_provenance_show_what_changed(searched, tmp_path, monkeypatch):
    _work, result, data = searched
    after = tmp_path / "ckpts" / "model-after"
    before = tmp_path / "ckpts" / "model-before"
    shutil.copytree(result.out, after)
    shutil.copytree(result.out, before)
    record = json.loads((result.out / PROVENANCE_FILE).read_text())
    single = {
        **record,
        "kind": "single run",
        "method": "frozen encoder, classification head only",
        "search": None,
        "best": None,
        "trials": [],
        "hyperparameters": {**record["hyperparameters"], "learning_rate": 0.123, "epochs": 20},
        "curves": {"train": [], "validation": []},
    }
    (before / PROVENANCE_FILE).write_text(json.dumps(single))
    at = _app(tmp_path / "ckpts", data, monkeypatch)

    assert [t.label for t in at.tabs] == ["model-before", "model-after"]
    assert any("Trained once with fixed hyperparameters" in c.value for c in at.caption)
    assert any("No learning curves were recorded" in i.value for i in at.info)
    diff = _frames(at)[-1].set_index("setting")
    assert diff.loc["Learning rate", "model-before"] == "1.23e-01"
    assert bool(diff.loc["Learning rate", "changed"]) is True
    assert diff.loc["Trials", "model-before"] == "no search" and diff.loc["Trials", "model-after"] == "3"
    assert bool(diff.loc["Data fingerprint", "changed"]) is False


def test_changed_weights_and_damaged_provenance_are_flagged(searched, tmp_path, monkeypatch):
    _work, result, data = searched
    stale = tmp_path / "ckpts" / "stale"
    broken = tmp_path / "ckpts" / "broken"
    shutil.copytree(result.out, stale)
    shutil.copytree(result.out, broken)
    record = json.loads((stale / PROVENANCE_FILE).read_text())
    record["checkpoint"]["fingerprint"] = "f" * 64
    record["status"] = "interrupted"
    (stale / PROVENANCE_FILE).write_text(json.dumps(record))
    (broken / PROVENANCE_FILE).write_text("{oops")
    at = _app(tmp_path / "ckpts", data, monkeypatch)

    warnings = [w.value for w in at.warning]
    assert any("describes weights `ffffffffffff`" in w for w in warnings)
    assert any("The search was interrupted" in w for w in warnings)
    assert any("provenance.json cannot be read" in e.value and "not valid JSON" in e.value for e in at.error)


@pytest.mark.demo
def test_the_bundled_demo_shows_how_both_checkpoints_were_trained(tmp_path, monkeypatch):
    env = demo_env(tmp_path)
    at = app_test(env, monkeypatch, "pages/training.py")
    assert not [i.value for i in at.info if "no provenance.json" in i.value]
    record = json.loads((env["checkpoints"] / "sentiment-after" / PROVENANCE_FILE).read_text())
    curves = [_spec(c) for c in at.get("plotly_chart") if "Learning curves" in json.dumps(_spec(c)["layout"].get("title", ""))]
    assert curves, "no learning-curve figure"
    losses = [_values(t["y"]) for spec in curves for t in spec["data"] if t["name"] == "training loss"]
    assert [p["loss"] for p in record["curves"]["train"]] in [pytest.approx(y) for y in losses]
