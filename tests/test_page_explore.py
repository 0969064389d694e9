"""The Explore page as a person sees it: the example table and its filters, links, the demo pick, and the
SHAP/LIME views with their trust sentences — checked against the figure data and the attribution cache."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from analysis_pages_support import LABELS, app_test, build_fixture, dataframe, demo_env, select_row
from attr_factory import plotly_values

from analysis.predictions import predict_table
from explain.cache import AttributionCache
from explain.faithfulness import within

PAGE = "pages/explore.py"
BUDGET = {"VEREDICTO_SHAP_MAX_EVALS": "40", "VEREDICTO_LIME_SAMPLES": "40"}


# --- the page -----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("explore-page"))


@pytest.fixture(scope="module")
def truth(env):
    from evaldata.loading import load_eval_data
    from models import Predictor

    predictor = Predictor(str(env["checkpoints"] / "tiny-after"), device="cpu")
    return predict_table(predictor, load_eval_data(env["data"]))


def open_page(env, monkeypatch, **query):
    """Explore on the two-checkpoint fixture, opened with `query` as the URL's query string."""
    return app_test({**env, "cache": env["checkpoints"].parent / "explore-cache"}, monkeypatch, PAGE, budget=BUDGET, query=query)


def charts(at) -> dict[str, dict]:
    out = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out[spec["layout"]["title"]["text"].split("<br>")[0]] = spec
    return out


def cached(env, truth, text, method):
    """What the page stored, read with the budget and directory the page uses (from the environment)."""
    from dashboard.explanations import default_params
    from explain.cache import default_cache_dir

    return AttributionCache(default_cache_dir()).get(truth.fingerprint, text, method, **default_params(method))


def test_demo_opens_on_the_most_confident_mistake_with_all_three_explanations(env, truth, monkeypatch):
    at = open_page(env, monkeypatch)
    frame = truth.frame
    wrong = frame[~frame["correct"]]
    example = int(wrong["confidence"].idxmax())
    assert [s.value for s in at.subheader] == [f"Example {example}"]
    assert any("most confident mistake" in i.value for i in at.info)
    assert at.query_params["example"] == str(example)
    done = [s.label for s in at.status if "now cached" in s.label]  # computed with a visible status, then stored
    assert any(l.startswith("SHAP: ") for l in done) and any(l.startswith("LIME: ") for l in done)
    assert any(l.startswith("Integrated Gradients — instant view: 22 model calls") for l in done)  # 20 steps + the two ends
    order = [next(i for i, l in enumerate(done) if l.startswith(name)) for name in ("Integrated Gradients", "SHAP", "LIME")]
    assert order == sorted(order)  # the instant view is made (and so shown) first, above SHAP's and LIME's status boxes
    row = frame.iloc[example]
    assert any(m.value.startswith(f"Gold **{row['gold']}** · predicted **{row['pred']}**") for m in at.markdown)

    figs = charts(at)
    label = row["pred"]
    probs = figs[f"Prediction: '{label}' · gold: '{row['gold']}'"]["data"][0]
    assert plotly_values(probs["x"]) == pytest.approx(truth.probs[example].tolist(), abs=1e-6)
    for method, name in (("ig", "Integrated Gradients"), ("shap", "SHAP"), ("lime", "LIME")):
        attribution = cached(env, truth, row["text"], method)
        assert attribution is not None, f"{method} explanation was not stored in the cache"
        heat = figs[f"{name} — why '{label}' (p = {truth.probs[example].max():.2f})"]["data"][0]
        visible = [t.text.strip() for t in attribution.tokens if t.text.strip()]
        assert "".join(heat["text"]) == "".join(visible)  # the example's own words, in order
        scores = attribution.scores_for(label)
        expected = [scores[i] for i, t in enumerate(attribution.tokens) if t.text.strip()]
        assert plotly_values(heat["marker"]["color"]) == pytest.approx(expected)  # the figure shows the cached numbers
        bars = figs[f"{name} — words for and against '{label}'"]["data"][0]
        assert max(plotly_values(bars["x"])) == pytest.approx(max(w[3] for w in attribution.words(label)))
    curve = figs[f"Deletion curve — p('{label}') as the most important words are removed"]["data"]
    assert [t["name"].split(" (")[0] for t in curve] == ["Integrated Gradients order", "SHAP order", "LIME order", "random order"]
    for trace in curve:  # every order starts from the full text's probability
        assert plotly_values(trace["y"])[0] == pytest.approx(truth.probs[example, LABELS.index(label)], abs=1e-5)
        assert plotly_values(trace["x"])[0] == 0 and plotly_values(trace["x"])[-1] == 100
    text = "\n".join(m.value for m in at.markdown)
    assert "drops" in text or "raises" in text
    assert text.count("Verdict:") == 3
    assert "**Do the methods agree?**\n- Integrated Gradients and SHAP agree on" in text and "\n- SHAP and LIME agree on" in text
    ig = cached(env, truth, row["text"], "ig")
    assert f"Its scores add up to the model's output within {within(ig.extra['completeness_error'])}" in text
    assert any(f"n_steps=20 · completeness error {ig.extra['completeness_error']:.1e}" in c.value for c in at.caption)


def test_where_the_methods_disagree_the_page_says_which_was_most_faithful_here(env, truth, monkeypatch):
    import explain.faithfulness
    from explain.trust import trust_report
    from models import Predictor

    monkeypatch.setattr(explain.faithfulness, "AGREE_RHO", 1.01)  # every pair of methods counts as disagreeing
    at = open_page(env, monkeypatch, example="7")
    row = truth.frame.iloc[7]
    made = {m: cached(env, truth, row["text"], m) for m in ("ig", "shap", "lime")}
    assert all(made.values()), "the page should have stored all three explanations"
    predictor = Predictor(str(env["checkpoints"] / "tiny-after"), device="cpu")
    expected = trust_report(predictor, {m: a.for_target(row["pred"]) for m, a in made.items()}, row["pred"]).most_faithful
    assert expected and expected.startswith("The methods disagree on this example (Integrated Gradients and SHAP: rank correlation")
    shown = [m.value for m in at.markdown if m.value.startswith("**Which to trust here?**")]
    assert len(shown) == 1 and shown[0].replace("\\", "") == f"**Which to trust here?** {expected}"


def test_a_model_without_an_embedding_layer_says_so_and_still_shows_shap_and_lime(env, truth, monkeypatch):
    from transformers import BertForSequenceClassification

    def missing(self):
        raise NotImplementedError

    monkeypatch.setattr(BertForSequenceClassification, "get_input_embeddings", missing)
    at = app_test({**env, "cache": env["checkpoints"].parent / "explore-no-embeddings"}, monkeypatch, PAGE, budget=BUDGET, query={"example": "4"})
    assert any("does not expose its input embedding layer" in w.value and "SHAP and LIME still work" in w.value for w in at.warning)
    assert any(i.value.startswith("No Integrated Gradients explanation for this text") for i in at.info)
    titles = list(charts(at))
    assert any(t.startswith("SHAP — why") for t in titles) and any(t.startswith("LIME — why") for t in titles)
    assert not any(t.startswith("Integrated Gradients") for t in titles)
    curve = next(v for k, v in charts(at).items() if k.startswith("Deletion curve"))["data"]
    assert [t["name"].split(" (")[0] for t in curve] == ["SHAP order", "LIME order", "random order"]
    assert "**Do the methods agree?**\n- SHAP and LIME agree on" in "\n".join(m.value for m in at.markdown)


def test_a_link_opens_that_example_and_class_without_recomputing(env, truth, monkeypatch):
    example = 5
    other = next(l for l in LABELS if l != truth.frame.iloc[example]["pred"])
    at = open_page(env, monkeypatch, example=str(example), cls=other)
    assert [s.value for s in at.subheader] == [f"Example {example}"]
    assert at.selectbox(key=f"explore_cls_{example}").value == other
    figs = charts(at)
    shap_attr = cached(env, truth, truth.frame.iloc[example]["text"], "shap")
    heat = next(v for k, v in figs.items() if k.startswith(f"SHAP — why '{other}'"))["data"][0]
    assert plotly_values(heat["marker"]["color"]) == pytest.approx([s for s, t in zip(shap_attr.scores_for(other), shap_attr.tokens) if t.text.strip()])
    # opening the same link again reads the cache: the stored explanation is returned unchanged
    again = open_page(env, monkeypatch, example=str(example), cls=other)
    assert cached(env, truth, truth.frame.iloc[example]["text"], "shap").to_dict() == shap_attr.to_dict()
    assert not [s.label for s in again.status]  # nothing computed: no status box at all


def test_switching_the_class_recolours_the_same_explanation(env, truth, monkeypatch):
    at = open_page(env, monkeypatch, example="3")
    row = truth.frame.iloc[3]
    other = next(l for l in LABELS if l != row["pred"])
    at.selectbox(key="explore_cls_3").set_value(other).run()
    assert at.query_params["cls"] == other
    assert not [s.label for s in at.status]  # only the view changed: nothing was recomputed
    figs = charts(at)
    lime_attr = cached(env, truth, row["text"], "lime")
    heat = next(v for k, v in figs.items() if k.startswith(f"LIME — why '{other}'"))["data"][0]
    assert plotly_values(heat["marker"]["color"]) == pytest.approx([s for s, t in zip(lime_attr.scores_for(other), lime_attr.tokens) if t.text.strip()])


def test_filters_narrow_the_table_and_a_selected_row_is_explained(env, truth, monkeypatch):
    at = open_page(env, monkeypatch, example="0")
    at.multiselect(key="explore_gold").set_value(["negative"])
    at.radio(key="explore_verdict").set_value("mistakes")
    at.run()
    table = dataframe(at, "explore_table_").value
    frame = truth.frame
    expected = frame.index[(frame["gold"] == "negative") & ~frame["correct"]].tolist()
    assert table.index.tolist() == expected
    assert f"**{len(expected):,}** of {len(frame):,} examples · gold negative; mistakes only" in "\n".join(c.value for c in at.caption)
    assert expected, "the fixture should have negative examples the model gets wrong"
    if expected:
        target = table.index[-1]
        select_row(at, dataframe(at, "explore_table_"), len(table) - 1)
        assert [s.value for s in at.subheader] == [f"Example {target}"]
        assert at.query_params["example"] == str(target)


def test_a_text_search_with_no_hits_keeps_the_linked_example(env, truth, monkeypatch):
    at = open_page(env, monkeypatch, example="2")
    at.text_input(key="explore_search").input("zzzz-not-there").run()
    assert dataframe(at, "explore_table_").value.empty
    assert [s.value for s in at.subheader] == ["Example 2"]
    assert any("not in the filtered table" in c.value for c in at.caption)


def test_a_bad_link_falls_back_to_the_demo_pick(env, truth, monkeypatch):
    at = open_page(env, monkeypatch, example="99999", cls="stellar")
    frame = truth.frame
    example = int(frame[~frame["correct"]]["confidence"].idxmax())
    assert [s.value for s in at.subheader] == [f"Example {example}"]
    assert at.selectbox(key=f"explore_cls_{example}").value == frame.iloc[example]["pred"]


@pytest.mark.demo
def test_explore_on_the_demo_opens_on_a_confident_mistake(monkeypatch, tmp_path):
    env = demo_env(tmp_path)
    at = app_test(env, monkeypatch, PAGE, budget=BUDGET, timeout=600)
    example = int(at.query_params["example"])
    assert [s.value for s in at.subheader] == [f"Example {example}"]
    assert any("most confident mistake" in i.value for i in at.info)
    assert len(dataframe(at, "explore_table_").value) == len(pd.read_csv(env["data"]))
    titles = list(charts(at))
    assert any(t.startswith("SHAP — why") for t in titles) and any(t.startswith("LIME — why") for t in titles)


def test_a_long_listing_is_sent_a_page_at_a_time(env, truth, monkeypatch):
    """Above PAGE_ROWS rows the table holds one page, opened on the page of the linked example; the number box turns it."""
    import analysis.views

    monkeypatch.setattr(analysis.views, "PAGE_ROWS", 25)  # 60 examples: pages of 25, 25 and 10
    at = open_page(env, monkeypatch, example="30")
    table = dataframe(at, "explore_table_")
    assert list(table.value.index) == list(range(25, 50))  # file order: the page holding example 30
    assert "Showing rows 26–50 of 60 (page 2 of 3); column headers sort within the page." in [c.value for c in at.caption]
    page = next(n for n in at.number_input if n.label == "Page")
    page.set_value(3).run()
    assert list(dataframe(at, "explore_table_").value.index) == list(range(50, 60))
    assert not at.exception
