"""The Insights view model (explain.views.insights_plan): the sample, and the cost of what the cache does not hold yet."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from analysis.predictions import build_table
from explain.views import insights_plan, insights_results


@dataclass(frozen=True)
class Ref:
    name: str
    fingerprint: str

    @property
    def scoring_key(self) -> str:  # a single-label checkpoint: its caches key on the bare fingerprint
        return self.fingerprint


class Cache:
    """Holds explanations of `held` texts for checkpoint "fp-a" only."""

    def __init__(self, held):
        self.held = set(held)

    def cached_hashes(self, fingerprint, method, **params):
        from explain.cache import text_hash

        return {text_hash(t) for t in self.held} if fingerprint == "fp-a" else set()

    def mean_seconds(self, fingerprint, method, **params):
        return 0.5


def test_the_plan_samples_by_gold_label_and_counts_what_is_missing_per_checkpoint():
    labels = ("neg", "pos")
    gold = np.array([0] * 10 + [1] * 10)
    probs = np.tile([[0.7, 0.3]], (20, 1))
    t = build_table(
        checkpoint_name="a",
        fingerprint="fp-a",
        data_name="d",
        data_fingerprint="d",
        labels=labels,
        probs=probs,
        gold=gold,
        texts=[f"text {i}" for i in range(20)],
        n_tokens=np.full(20, 3),
        truncated=np.zeros(20, dtype=bool),
    )
    plan = insights_plan(t, [Ref("a", "fp-a"), Ref("b", "fp-b")], "shap", 6, {"max_evals": 64}, Cache(["text 0", "text 1", "text 2"]), seed=0)
    assert len(plan.sample) == 6 and list(plan.sample) == sorted(plan.sample)
    assert sum(i < 10 for i in plan.sample) == 3  # stratified: half from each gold label
    assert plan.texts == tuple(f"text {i}" for i in plan.sample)
    held = len({"text 0", "text 1", "text 2"} & set(plan.texts))
    (ref_a, cost_a), (ref_b, cost_b) = plan.costs
    assert (ref_a.name, ref_b.name) == ("a", "b")
    assert cost_a.n_missing == 6 - held and cost_b.n_missing == 6
    assert plan.missing == 12 - held and plan.params == {"max_evals": 64}


def explore_table():
    labels = ("neg", "pos")
    return build_table(
        checkpoint_name="a",
        fingerprint="fp-a",
        data_name="d",
        data_fingerprint="d",
        labels=labels,
        probs=np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]),
        gold=np.array([0, 0, 1]),
        texts=["fine", "bad\nvery", "so so"],
        n_tokens=np.full(3, 3),
        truncated=np.array([False, True, False]),
    )


def test_explore_example_opens_on_the_linked_class_or_the_prediction():
    from explain.views import explore_example

    ex = explore_example(explore_table(), 1, None)
    assert (ex.text, ex.gold, ex.pred, ex.correct, ex.truncated, ex.wanted) == ("bad\nvery", "neg", "pos", False, True, "pos")
    assert ex.confidence == pytest.approx(0.7) and ex.probability("neg") == pytest.approx(0.3)
    assert ex.verdict == "**wrong** (the model disagrees with the gold label)"
    assert explore_example(explore_table(), 1, "NEG").wanted == "neg"  # case-insensitive, as links are typed
    assert explore_example(explore_table(), 1, "nonsense").wanted == "pos"
    right = explore_example(explore_table(), 0, None)
    assert right.verdict == "**correct**" and not right.truncated and right.wanted == "neg"


def test_explore_explanations_view_each_method_for_the_class_and_word_its_trust(monkeypatch):
    from attr_factory import make_attribution

    import explain.trust
    from explain.trust import TrustReport
    from explain.views import explore_explanations

    seen = {}

    def fake_trust(predictor, ready, label):
        seen.update(ready=ready, label=label)
        return TrustReport(label, sentences={"shap": ["Removing its top words lowers P(neg) a lot.", "Stable."], "lime": []})

    monkeypatch.setattr(explain.trust, "trust_report", fake_trust)
    shap = make_attribution("bad very", {"bad": 0.5}, labels=("neg", "pos"), method="shap")
    lime = make_attribution("bad very", {"bad": 0.4}, labels=("neg", "pos"), method="lime")
    explained = explore_explanations(object(), {"shap": shap, "lime": lime}, "neg")
    assert seen["label"] == "neg" and set(seen["ready"]) == {"shap", "lime"}
    assert all(a.target == "neg" for a in explained.ready.values())  # viewed for the chosen class
    assert explained.trust == {"shap": "- Removing its top words lowers P(neg) a lot.\n- Stable.", "lime": None}
    failed = explore_explanations(object(), {"shap": shap, "lime": None}, "pos")  # LIME could not explain this text
    assert set(failed.ready) == {"shap"} and set(failed.trust) == {"shap"} and failed.ready["shap"].target == "pos"


def test_explore_explanations_of_ig_and_lime_when_shap_failed_compare_the_two_it_has(tiny_bert_predictor):
    from explain.api import explain_text
    from explain.views import explore_explanations

    text = "the film was good and the acting was great but the script was awful"
    ig = explain_text(tiny_bert_predictor, text, "ig", n_steps=8)
    lime = explain_text(tiny_bert_predictor, text, "lime", num_samples=60)
    explained = explore_explanations(tiny_bert_predictor, {"ig": ig, "shap": None, "lime": lime}, "negative")
    assert list(explained.ready) == ["ig", "lime"] and all(a.target == "negative" for a in explained.ready.values())
    assert list(explained.report.agreements) == [("ig", "lime")]  # the one pair it can compare
    assert explained.report.agreement_sentences[0].startswith("Integrated Gradients and LIME agree on")
    assert "add up to the model's output within" in str(explained.trust["ig"]) and "add up" not in str(explained.trust["lime"])
    assert list(explained.report.curves) == ["ig", "lime", "random"]


def test_insights_results_aggregate_each_checkpoint_over_its_cached_examples_only(tmp_path):
    from attr_factory import make_attribution

    from explain.cache import AttributionCache
    from explain.global_importance import global_importance

    labels = ("negative", "positive")
    texts = [f"text {w} number {i}" for i, w in enumerate(["good", "bad", "dull", "fine"] * 2)]
    t = build_table(
        checkpoint_name="a",
        fingerprint="fp-a",
        data_name="d",
        data_fingerprint="d",
        labels=labels,
        probs=np.tile([[0.7, 0.3]], (8, 1)),
        gold=np.array([0] * 4 + [1] * 4),
        texts=texts,
        n_tokens=np.full(8, 3),
        truncated=np.zeros(8, dtype=bool),
    )
    cache = AttributionCache(tmp_path)
    held = {i: make_attribution(texts[i], {texts[i].split()[1]: 0.1 * i}, fingerprint="fp-a") for i in (0, 5)}
    cache.put_many(list(held.values()), max_evals=64)
    plan = insights_plan(t, [Ref("a", "fp-a"), Ref("b", "fp-b")], "shap", 8, {"max_evals": 64}, cache)
    keys = []
    results = insights_results(plan, [Ref("a", "fp-a"), Ref("b", "fp-b")], "shap", cache, lambda key, compute: keys.append(key) or compute())
    assert list(results) == ["a"]  # b has nothing cached: left out
    assert results["a"].n_explained == 2
    pd.testing.assert_frame_equal(results["a"].importance.table, global_importance(held).table)  # over the cached examples only
    assert all(part in keys[0] for part in ('"fp-a"', '"shap"', '"max_evals": 64'))  # the memo key names checkpoint, method, settings
