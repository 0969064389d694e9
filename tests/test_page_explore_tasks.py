"""Explore's example view for a multi-label and a sentence-pair checkpoint, as a person sees it (AppTest).

The sidebar's task and pair-column choices are another part's; here the session the sidebar would build is handed to the
page directly, so the example view is checked on its own: which label it opens on, the two texts of a pair, and
explanations whose figures show each label's own probability and both segments.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from attr_factory import plotly_values
from tiny import make_tiny_checkpoint

from analysis.predictions import predict_table
from evaldata.loading import load_eval_data
from models.inference import Predictor

ROOT = Path(__file__).resolve().parents[1]
TAGS = ("toxic", "insult", "threat", "spam")
BUDGET = {"VEREDICTO_SHAP_MAX_EVALS": "40", "VEREDICTO_LIME_SAMPLES": "40"}


def _page(monkeypatch, tmp_path, page, predictor, table, evalset=None):
    """An AppTest of `page` handed the session the sidebar would build (one checkpoint, `table`), with small budgets."""
    from streamlit.testing.v1 import AppTest

    import dashboard.state as state

    session = state.Session((predictor.ref,), evalset)
    monkeypatch.setattr(state, "current_session", lambda: session)
    monkeypatch.setattr(state, "tables", lambda _session, **_: [table])
    monkeypatch.setattr(state, "get_predictor", lambda _ref: predictor)
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(tmp_path / "cache"))
    for name, value in BUDGET.items():
        monkeypatch.setenv(name, value)
    return AppTest.from_file(str(ROOT / "pages" / page), default_timeout=300)


def _open(monkeypatch, tmp_path, predictor, table, query):
    at = _page(monkeypatch, tmp_path, "explore.py", predictor, table)  # Explore reads the evaluation set only through `tables`
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _charts(at) -> dict[str, dict]:
    return {json.loads(c.proto.spec)["layout"]["title"]["text"].split("<br>")[0]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    path = make_tiny_checkpoint(tmp_path_factory.mktemp("pml") / "ml", labels=TAGS, problem_type="multi_label_classification", seed=5)
    return Predictor(path, cache=None)


def test_a_multi_label_example_opens_on_its_most_probable_predicted_label_with_every_labels_own_probability(multi, tmp_path, monkeypatch):
    data = tmp_path / "ml.csv"
    data.write_text("text,tags\nyou stupid idiot,toxic|insult\nbuy cheap pills now,spam\nsee you at lunch tomorrow,\n", encoding="utf-8")
    table = predict_table(multi, load_eval_data(data, label_col="tags", label_sep="|"))
    at = _open(monkeypatch, tmp_path, multi, table, {"example": "0"})
    probs = multi.predict_proba(["you stupid idiot"])[0]
    predicted = [TAGS[c] for c in np.flatnonzero(probs >= 0.5)] or list(TAGS)
    wanted = max(predicted, key=lambda l: probs[TAGS.index(l)])
    box = next(s for s in at.selectbox if s.key == "explore_cls_0")
    assert box.label == "Label to explain" and box.value == wanted
    charts = _charts(at)
    bars = next(spec for title, spec in charts.items() if title.startswith("Predicted labels:"))
    np.testing.assert_allclose(plotly_values(bars["data"][0]["x"]), probs, atol=1e-6)  # sigmoids: need not sum to 1
    assert any(s.startswith(f"SHAP — why '{wanted}'") for s in charts) and any(s.startswith(f"LIME — why '{wanted}'") for s in charts)
    box.set_value("threat").run()
    assert not at.exception and any(s.startswith("SHAP — why 'threat'") for s in _charts(at))


def test_a_pair_example_shows_both_texts_and_explains_tokens_of_both(tmp_path, monkeypatch):
    predictor = Predictor(make_tiny_checkpoint(tmp_path / "pair", labels=("entail", "neutral", "contradict"), seed=6), cache=None)
    data = tmp_path / "pairs.csv"
    data.write_text(
        "premise,hypothesis,label\nthe cat sat on the mat,an animal is sitting,entail\nthe film was good,awful boring actors,contradict\n", encoding="utf-8"
    )
    table = predict_table(predictor, load_eval_data(data, text_col="premise", pair_col="hypothesis"))
    at = _open(monkeypatch, tmp_path, predictor, table, {"example": "1"})
    shown = [m.value for m in at.markdown]
    assert "**First text**" in shown and "**Second text**" in shown
    assert shown.index("> the film was good") < shown.index("> awful boring actors")
    heat = next(spec for title, spec in _charts(at).items() if title.startswith("SHAP — why"))
    bar = heat["data"][0]
    texts, lines = bar["text"], plotly_values(bar["y"])
    first = [y for t, y in zip(texts, lines) if t in ("film", "good")]
    second = [y for t, y in zip(texts, lines) if t in ("awful", "boring", "actors")]
    assert first and second and max(first) < min(second)  # the second text is drawn below the first


def _insights(monkeypatch, tmp_path, predictor, table, evalset):
    """Insights on `table`: the page's one button explains the sample, then every label gets its own word chart."""
    at = _page(monkeypatch, tmp_path, "insights.py", predictor, table, evalset)
    at.run()
    at.radio(key="insights_method").set_value("lime")
    at.run()
    at.button(key="insights_compute").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def test_insights_shows_words_per_label_of_a_multi_label_checkpoint(multi, tmp_path, monkeypatch):
    data = tmp_path / "ml.csv"
    rows = ["you stupid idiot,toxic|insult", "buy cheap pills now,spam", "see you at lunch tomorrow,", "I will hurt you idiot,threat|toxic"] * 3
    data.write_text("text,tags\n" + "\n".join(f"{r.split(',')[0]} {i},{r.split(',')[1]}" for i, r in enumerate(rows)) + "\n", encoding="utf-8")
    evalset = load_eval_data(data, label_col="tags", label_sep="|")
    charts = _insights(monkeypatch, tmp_path, multi, predict_table(multi, evalset), evalset)
    titles = [t for t in charts if t.startswith("LIME: words the model uses for")]
    assert {t.split("'")[1] for t in titles} == set(TAGS)  # one chart per label, each label's own sigmoid explained


def test_insights_counts_words_of_both_texts_of_a_pair(tmp_path, monkeypatch):
    predictor = Predictor(make_tiny_checkpoint(tmp_path / "pair"), cache=None)
    data = tmp_path / "pairs.csv"
    lines = [f"the film was good {i},zebra loved story {i},positive" if i % 2 else f"awful script {i},zebra hated it {i},negative" for i in range(12)]
    data.write_text("text,second,label\n" + "\n".join(lines) + "\n", encoding="utf-8")
    evalset = load_eval_data(data, pair_col="second")
    charts = _insights(monkeypatch, tmp_path, predictor, predict_table(predictor, evalset), evalset)
    words = {w.removeprefix("⚠ ") for spec in charts.values() if spec["data"] and "y" in spec["data"][0] for w in spec["data"][0]["y"]}
    assert "zebra" in words  # a word only the second texts hold is counted: the pair was explained as a pair
