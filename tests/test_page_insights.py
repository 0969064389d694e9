"""The Insights page as a person sees it: the cost before computing, per-class word bars and table that match
an independent aggregation of the cached explanations, spurious-cue warnings, and the drill-down."""

from __future__ import annotations

import json

import numpy as np
import pytest
from analysis_pages_support import app_test, build_fixture, dataframe, demo_env, select_row
from attr_factory import plotly_values

from explain.global_importance import global_importance, sample_indices

PAGE = "pages/insights.py"
BUDGET = {"VEREDICTO_SHAP_MAX_EVALS": "30", "VEREDICTO_LIME_SAMPLES": "30"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("insights-page"))


def open_page(env, monkeypatch, cache_name="insights-cache"):
    return app_test({**env, "cache": env["checkpoints"].parent / cache_name}, monkeypatch, PAGE, budget=BUDGET)


def rerun(at):
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def bar_charts(at) -> dict[str, dict]:
    out = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out[spec["layout"]["title"]["text"]] = spec
    return out


def independent(env, name, method, size):
    """The same aggregation done outside the page: sample, read the cache, aggregate."""
    from dashboard.explanations import default_params
    from explain.cache import AttributionCache, default_cache_dir
    from models.checkpoints import inspect_checkpoint

    frame = env["frame"]
    sample = sample_indices(frame["label"].tolist(), size, seed=0)
    ref = inspect_checkpoint(env["checkpoints"] / name)
    found = AttributionCache(default_cache_dir()).get_many(ref.fingerprint, frame["text"].tolist(), method, **default_params(method))
    return global_importance({i: found[frame["text"][i]] for i in sample if frame["text"][i] in found}), sample


def test_cost_is_shown_first_then_one_click_explains_the_sample(env, monkeypatch):
    at = open_page(env, monkeypatch)
    at.radio(key="insights_method").set_value("lime")
    rerun(at)  # the sample size is chosen for SHAP and LIME only
    at.slider(key="insights_size").set_value(12)
    rerun(at)
    info = [i.value for i in at.info]
    assert "12 of 12 examples still need an explanation, about 360 model calls." in info  # 12 × 30 LIME samples
    assert any(i.startswith("Nothing to show yet") for i in info)
    assert not at.get("plotly_chart")  # nothing computed without asking
    assert at.button(key="insights_compute").label == "Explain the 12 missing example(s) now"

    at.button(key="insights_compute").click()
    rerun(at)
    assert any(s.value == "All 12 explanations are already cached: showing them is instant." for s in at.success)
    gi, _sample = independent(env, "tiny-after", "lime", 12)
    assert gi.n_examples == 12
    for label in ("negative", "positive"):
        spec = bar_charts(at)[f"LIME: words the model uses for '{label}' (12 examples)"]
        expected = gi.for_label(label, by="total_abs", min_count=2, k=15).iloc[::-1]
        bar = spec["data"][0]
        assert [y.removeprefix("⚠ ") for y in bar["y"]] == expected["word"].tolist()
        assert plotly_values(bar["x"]) == pytest.approx(expected["mean_signed"].tolist())
        assert bar["text"] == [f"n={n}" for n in expected["count"]]

    table = dataframe(at, "insights_words_").value
    expected = gi.for_label("negative", by="total_abs", min_count=2)
    assert table.index.tolist() == expected["word"].tolist()
    assert table["count"].tolist() == expected["count"].tolist()
    assert table["mean_signed"].to_numpy() == pytest.approx(expected["mean_signed"].to_numpy())


def test_spurious_cues_are_flagged_and_a_word_drills_down_to_its_examples(env, monkeypatch):
    at = open_page(env, monkeypatch)
    at.radio(key="insights_method").set_value("lime")
    rerun(at)  # the sample size is chosen for SHAP and LIME only
    at.slider(key="insights_size").set_value(12)
    rerun(at)  # the sample was explained by the test above: read from the cache
    assert not at.button  # nothing left to compute
    at.number_input(key="insights_min_count").set_value(1)
    at.number_input(key="insights_k").set_value(50)
    rerun(at)
    gi, sample = independent(env, "tiny-after", "lime", 12)
    flagged = gi.for_label("negative", by="total_abs", min_count=1, k=50)
    flagged = flagged[flagged["cue"] != ""]
    warnings = [w.value for w in at.warning]
    for word in flagged["word"]:
        assert any(w.startswith(f"'{word}' pushes") and "'negative'" in w for w in warnings)
    assert {"name", "number"} <= set(flagged["cue"]), "the fixture has names (Maria, Paris) and numbers ('#12')"

    words = dataframe(at, "insights_words_")
    select_row(at, words, 2)
    word = words.value.index[2]
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.label.startswith("Drill down"))).value == word
    drill = at.dataframe[-1].value  # the drill-down table comes last
    frame = env["frame"]
    containing = [i for i in sample if word in gi.occurrences[gi.occurrences["example"] == i]["word"].tolist()]
    assert sorted(drill.index.tolist()) == sorted(containing)
    for example in drill.index:
        assert drill.loc[example, "text"] == frame["text"][example]
        assert word in frame["text"][example].lower()
    assert any(m.value.startswith(f"**'{word}'** occurs in **{len(containing)}** of the 12 explained examples") for m in at.markdown)


def test_both_checkpoints_side_by_side_with_a_comparison_chart(env, monkeypatch):
    at = open_page(env, monkeypatch)
    at.radio(key="insights_method").set_value("lime")
    rerun(at)  # the sample size is chosen for SHAP and LIME only
    at.slider(key="insights_size").set_value(6)
    at.radio(key="insights_ckpt").set_value("both")
    rerun(at)
    info = [i.value for i in at.info]
    assert any(i.startswith("**tiny-before**: 6 of 6 examples still need an explanation") for i in info)
    assert any(s.value.startswith("**tiny-after**: All 6 explanations are already cached") for s in at.success)
    at.button(key="insights_compute").click()
    rerun(at)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert titles.count("LIME: words the model uses for 'negative' (6 examples)") == 2
    assert "Words for 'negative' across checkpoints" in titles
    spec = bar_charts(at)["Words for 'negative' across checkpoints"]
    assert [t["name"] for t in spec["data"]] == ["tiny-before", "tiny-after"]
    before, _ = independent(env, "tiny-before", "lime", 6)
    words = spec["data"][0]["y"]
    table = before.table[before.table["label"] == "negative"].set_index("word")
    got = plotly_values(spec["data"][0]["x"])
    for word, value in zip(words, got):
        if word in table.index:
            assert value == pytest.approx(table.loc[word, "mean_signed"])
        else:
            assert np.isnan(value)


def test_shap_sample_computes_and_aggregates(env, monkeypatch):
    at = open_page(env, monkeypatch, cache_name="insights-shap-cache")
    at.radio(key="insights_method").set_value("shap")
    rerun(at)
    at.slider(key="insights_size").set_value(3)
    rerun(at)
    assert "3 of 3 examples still need an explanation, about 90 model calls." in [i.value for i in at.info]
    at.button(key="insights_compute").click()
    rerun(at)
    gi, _ = independent(env, "tiny-after", "shap", 3)
    spec = bar_charts(at)["SHAP: words the model uses for 'positive' (3 examples)"]
    expected = gi.for_label("positive", by="total_abs", min_count=2, k=15).iloc[::-1]
    assert plotly_values(spec["data"][0]["x"]) == pytest.approx(expected["mean_signed"].tolist())


def test_first_open_computes_integrated_gradients_over_every_example(env, monkeypatch):
    """IG is the default and aggregates all 60 examples; with nothing cached the page computes them itself, no click."""
    at = open_page(env, monkeypatch, cache_name="insights-ig-cache")
    assert not at.exception, [e.message for e in at.exception]
    assert at.radio(key="insights_method").value == "ig"
    assert not [s for s in at.slider if s.key == "insights_size"]  # every example, no sample to choose
    assert not [b for b in at.button if b.key == "insights_compute"]
    assert any(s.value == "All 60 explanations are already cached: showing them is instant." for s in at.success)
    gi, sample = independent(env, "tiny-after", "ig", 60)
    assert gi.n_examples == 60 and sample == list(range(60))
    spec = bar_charts(at)["Integrated Gradients: words the model uses for 'positive' (60 examples)"]
    expected = gi.for_label("positive", by="total_abs", min_count=2, k=15).iloc[::-1]
    assert [y.removeprefix("⚠ ") for y in spec["data"][0]["y"]] == expected["word"].tolist()
    assert plotly_values(spec["data"][0]["x"]) == pytest.approx(expected["mean_signed"].tolist())


def test_a_filled_store_opens_without_explaining_or_aggregating(env, monkeypatch):
    """After the test above filled the cache (and the page stored the whole set's aggregate): a fresh open reads the
    aggregate from the results store, explains nothing and aggregates nothing, and shows the same words."""
    import streamlit as st

    import explain.api
    import explain.cache
    import explain.global_importance
    import explain.insights

    st.cache_data.clear()  # nothing kept in this process's memory: only the store can answer
    calls = {"explain": 0, "aggregate": 0}

    def refuse(*args, **kwargs):
        calls["explain"] += 1
        raise AssertionError("explained on a filled cache")

    class Aggregate(explain.global_importance.Aggregate):
        def add(self, *args, **kwargs):
            calls["aggregate"] += 1  # the whole set (or the SHAP sample) aggregated from the cache
            return super().add(*args, **kwargs)

    monkeypatch.setattr(explain.api, "explain_text", refuse)
    monkeypatch.setattr(explain.cache, "_explain_text", refuse)
    monkeypatch.setattr(explain.insights, "Aggregate", Aggregate)
    monkeypatch.setenv("VEREDICTO_SHAP_MAX_EVALS", "30")
    at = open_page(env, monkeypatch, cache_name="insights-ig-cache")
    assert not at.exception, [e.message for e in at.exception]
    spec = bar_charts(at)["Integrated Gradients: words the model uses for 'positive' (60 examples)"]
    gi, _ = independent(env, "tiny-after", "ig", 60)
    expected = gi.for_label("positive", by="total_abs", min_count=2, k=15).iloc[::-1]
    assert plotly_values(spec["data"][0]["x"]) == pytest.approx(expected["mean_signed"].tolist())
    assert calls == {"explain": 0, "aggregate": 0}


def test_a_large_set_opens_on_a_stratified_first_part_then_one_click_explains_the_rest(env, monkeypatch):
    """More examples than the page explains by itself on opening: a stratified first part is shown (never nothing) and
    the rest is one click away, with its cost."""
    import explain.insights

    monkeypatch.setattr(explain.insights, "FIRST_OPEN_SIZE", 20)
    at = open_page(env, monkeypatch, cache_name="insights-ig-first-part")
    assert not at.exception, [e.message for e in at.exception]
    info = [i.value for i in at.info]
    assert any(i.startswith("40 of 60 examples still need an explanation (20 are cached), about 880 model calls, ") for i in info), info  # 22 points
    first, _ = independent(env, "tiny-after", "ig", 20)
    assert first.n_examples == 20 and independent(env, "tiny-after", "ig", 60)[0].n_examples == 20  # exactly the stratified 20
    assert "Integrated Gradients: words the model uses for 'negative' (20 examples)" in bar_charts(at)
    assert "tiny-after: based on the 20 of 60 examples explained so far." in [c.value for c in at.caption]
    at.button(key="insights_compute").click()
    rerun(at)
    assert any(s.value == "All 60 explanations are already cached: showing them is instant." for s in at.success)
    assert "Integrated Gradients: words the model uses for 'negative' (60 examples)" in bar_charts(at)


def test_the_shap_cross_check_is_offered_then_said_in_plain_words(env, monkeypatch):
    from explain.insights import CROSS_CHECK_SIZE, cross_check, rank_agreement
    from runtime.escaping import md

    at = open_page(env, monkeypatch, cache_name="insights-ig-cache")  # IG cached by the test above
    captions = [c.value for c in at.caption]
    size = min(CROSS_CHECK_SIZE, 60)
    assert f"SHAP cross-check: {size} of {size} examples still need an explanation, about {size * 30:,} model calls." in captions
    at.button(key="insights_cross_check").click()
    rerun(at)
    assert not [b for b in at.button if b.key == "insights_cross_check"]
    ig, _ = independent(env, "tiny-after", "ig", 60)
    shap, sample = independent(env, "tiny-after", "shap", size)
    assert shap.n_examples == size == len(sample)
    shown = [m.value for m in at.markdown]
    for label in ("negative", "positive"):
        sentence = rank_agreement(ig, shap, label).sentence
        assert f"for '{label}' (Spearman" in sentence or "too few words" in sentence
        assert md(sentence) in shown, (sentence, shown)
    intro = cross_check(ig, shap, size).intro
    assert intro.startswith(f"Cross-check: Integrated Gradients over all 60 examples against SHAP on a stratified sample of {size} (SHAP")
    assert md(intro) in [c.value for c in at.caption]


@pytest.mark.demo
def test_insights_on_the_demo_shows_words_per_class(monkeypatch, tmp_path):
    at = app_test(demo_env(tmp_path), monkeypatch, PAGE, budget=BUDGET, timeout=900, state={"insights_method": "lime"})  # no IG on opening
    at.radio(key="insights_method").set_value("lime")
    rerun(at)  # the sample size is chosen for SHAP and LIME only
    at.slider(key="insights_size").set_value(20)
    rerun(at)
    assert "20 of 20 examples still need an explanation, about 600 model calls." in [i.value for i in at.info]
    at.button(key="insights_compute").click()
    rerun(at)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "LIME: words the model uses for 'fresh' (20 examples)" in titles
    assert len(dataframe(at, "insights_words_").value) > 0
