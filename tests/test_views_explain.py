"""The Insights view model (explain.views.insights_plan): the sample, and the cost of what the cache does not hold yet."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.predictions import build_table
from explain.views import insights_plan


@dataclass(frozen=True)
class Ref:
    name: str
    fingerprint: str


class Cache:
    """Holds explanations of `held` texts for checkpoint "fp-a" only."""

    def __init__(self, held):
        self.held = set(held)

    def count_cached(self, fingerprint, texts, method, **params):
        return len(set(texts) & self.held) if fingerprint == "fp-a" else 0

    def mean_seconds(self, fingerprint, method, **params):
        return 0.5


def test_the_plan_samples_by_gold_label_and_counts_what_is_missing_per_checkpoint():
    labels = ("neg", "pos")
    gold = np.array([0] * 10 + [1] * 10)
    probs = np.tile([[.7, .3]], (20, 1))
    t = build_table(checkpoint_name="a", fingerprint="fp-a", data_name="d", data_fingerprint="d", labels=labels, probs=probs, gold_idx=gold,
                    texts=[f"text {i}" for i in range(20)], n_tokens=np.full(20, 3), truncated=np.zeros(20, dtype=bool))
    plan = insights_plan(t, [Ref("a", "fp-a"), Ref("b", "fp-b")], "shap", 6, {"max_evals": 64}, Cache(["text 0", "text 1", "text 2"]), seed=0)
    assert len(plan.sample) == 6 and list(plan.sample) == sorted(plan.sample)
    assert sum(i < 10 for i in plan.sample) == 3  # stratified: half from each gold label
    assert plan.texts == tuple(f"text {i}" for i in plan.sample)
    held = len({"text 0", "text 1", "text 2"} & set(plan.texts))
    (ref_a, cost_a), (ref_b, cost_b) = plan.costs
    assert (ref_a.name, ref_b.name) == ("a", "b")
    assert cost_a.n_missing == 6 - held and cost_b.n_missing == 6
    assert plan.missing == 12 - held and plan.params == {"max_evals": 64}
