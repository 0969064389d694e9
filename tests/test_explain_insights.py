"""Insights over every example: the gradient-vs-SHAP rank agreement (checked against scipy and by hand), its plain-words
sentence, what the demo precomputes, and the cross-check view on a tiny model with a real cache."""

from __future__ import annotations

import pytest
from attr_factory import make_attribution
from scipy.stats import spearmanr

from explain.cache import AttributionCache, key_params
from explain.global_importance import global_importance, sample_indices
from explain.insights import (
    CrossCheck,
    agreement_sentence,
    calls_per_explanation,
    cross_check,
    cross_check_view,
    describe_cost,
    explains_everything,
    precompute_jobs,
    rank_agreement,
    sample_size,
)

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


def importance(scores: dict[str, float], method: str, *, times: int = 2, extra: dict[str, float] | None = None):
    """Every word of `scores` seen `times` times (one example each) with that score for 'positive'; `extra` words once."""
    text = " ".join(scores)
    examples = [make_attribution(text, scores, method=method) for _ in range(times)]
    if extra:
        examples.append(make_attribution(" ".join(extra), extra, method=method))
    return global_importance(examples)


def test_rank_agreement_is_scipys_spearman_over_the_words_both_rank():
    ig = importance(dict(zip(WORDS, [0.9, 0.5, 0.4, -0.2, -0.6, 0.1])), "ig", extra={"golf": 5.0})  # golf: seen once, left out
    shap = importance(dict(zip(WORDS, [0.3, 0.35, 0.1, -0.1, -0.4, 0.0])), "shap", extra={"hotel": -1.0})
    found = rank_agreement(ig, shap, "positive")
    expected = spearmanr([0.9, 0.5, 0.4, -0.2, -0.6, 0.1], [0.3, 0.35, 0.1, -0.1, -0.4, 0.0]).statistic
    # by hand: ranks (1..6, ascending) 6 5 4 2 1 3 and 5 6 4 2 1 3, d^2 = 1 + 1 -> 1 - 6*2 / (6 * 35) = 0.942857
    assert found.rho == pytest.approx(expected) == pytest.approx(1 - 12 / 210)
    assert found.n_words == 6 and found.label == "positive"
    assert found.sentence == "Integrated Gradients and SHAP rank the words much the same way for 'positive' (Spearman 0.94 over 6 shared words)."
    mirrored = rank_agreement(ig, shap, "negative")  # the other class's scores are the negatives: the same ranks
    assert mirrored.rho == pytest.approx(expected)


def test_opposite_rankings_say_the_methods_disagree():
    ig = importance(dict(zip(WORDS, [0.6, 0.5, 0.4, 0.3, 0.2, 0.1])), "ig")
    shap = importance(dict(zip(WORDS, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])), "shap")
    found = rank_agreement(ig, shap, "positive")
    assert found.rho == pytest.approx(-1.0)
    assert "disagree on which words matter" in found.sentence and "Spearman -1.00 over 6 shared words" in found.sentence


def test_too_few_shared_words_give_no_number_and_say_what_to_do():
    ig = importance({"alpha": 0.5, "bravo": 0.1, "charlie": 0.3}, "ig")
    shap = importance({"alpha": 0.5, "bravo": 0.1, "delta": 0.3}, "shap")
    found = rank_agreement(ig, shap, "positive")
    assert found.rho is None and found.n_words == 2
    assert found.sentence.startswith("Integrated Gradients and SHAP share too few words seen at least 2 times for 'positive' (2)")
    assert "explain more examples" in found.sentence
    only_once = rank_agreement(ig, importance(dict(zip(WORDS, [0.1] * 6)), "shap", times=1), "positive")
    assert only_once.n_words == 0 and only_once.rho is None  # seen once: not ranked
    assert rank_agreement(ig, shap, "positive", min_count=1).n_words == 2


def test_sentence_wording_follows_the_strength_of_agreement():
    names = ("Integrated Gradients", "SHAP")
    assert "much the same way" in agreement_sentence(0.81, 140, "fresh", names)
    assert "Spearman 0.81 over 140 shared words" in agreement_sentence(0.81, 140, "fresh", names)
    assert "broadly agree" in agreement_sentence(0.5, 140, "fresh", names)
    assert "disagree" in agreement_sentence(0.1, 140, "fresh", names)


def test_cross_check_covers_every_class_and_refuses_mixed_checkpoints():
    ig = importance(dict(zip(WORDS, [0.9, 0.5, 0.4, -0.2, -0.6, 0.1])), "ig")
    shap = importance(dict(zip(WORDS, [0.3, 0.35, 0.1, -0.1, -0.4, 0.0])), "shap", times=3)
    check = cross_check(ig, shap, 40)
    assert isinstance(check, CrossCheck) and set(check.agreements) == {"negative", "positive"}
    assert check.n_examples == 2 and check.n_sample == 3 and check.sample_size == 40
    assert "over all 2 examples against SHAP on a stratified sample of 40 (3 of them explained so far)" in check.intro
    other = global_importance([make_attribution("a b", labels=("x", "y", "z"), method="shap")])
    with pytest.raises(ValueError, match="different labels"):
        cross_check(ig, other, 40)


def test_gradient_methods_explain_every_example_and_their_cost_counts_points():
    assert explains_everything("ig") and explains_everything("grad_input") and not explains_everything("shap")
    assert sample_size("ig", 1282, 60) == 1282 and sample_size("shap", 1282, 60) == 60 and sample_size("lime", 10, 60) == 10
    assert calls_per_explanation("ig", key_params("ig")) == 22  # 20 Gauss-Legendre points and the two ends
    assert calls_per_explanation("shap", {"max_evals": 30}) == 30 and calls_per_explanation("grad_input", {}) == 2
    from explain.global_importance import estimate_cost

    line = describe_cost("ig", {"n_steps": 20}, estimate_cost(100, 40, 0))
    assert line == "60 of 100 examples still need an explanation (40 are cached), about 1,320 model calls."


def test_precompute_jobs_are_ig_for_every_text_and_shap_for_the_pages_sample():
    inputs = [f"text {i}" for i in range(30)] + ["text 0"]  # a duplicate is explained once
    gold = ["a", "b", "c"] * 10 + ["a"]
    ig, shap = precompute_jobs(inputs, gold, cross_check_size=7)
    assert ig.method == "ig" and ig.texts == tuple(f"text {i}" for i in range(30)) and ig.params == key_params("ig")
    assert shap.method == "shap" and shap.params == key_params("shap")
    assert shap.texts == tuple(inputs[i] for i in sample_indices(gold, 7, seed=0))  # the page's stratified sample
    assert [j.method for j in precompute_jobs(inputs, gold, cross_check_size=0)] == ["ig"]


def test_cross_check_view_reads_the_cache_like_the_page(tiny_bert_predictor, tmp_path):
    """IG over every text and SHAP over the stratified sample, computed into a real cache on a tiny BERT: the view's
    correlation is scipy's over the two rankings built independently from the same explanations."""
    import pandas as pd

    texts = [f"the {w} film was {v} and {u}" for w, v, u in zip(["good", "bad", "slow", "fine"] * 3, ["great", "awful", "dull"] * 4, ["fun", "long"] * 6)]
    gold = ["negative", "positive"] * 6
    table = type("Table", (), {"frame": pd.DataFrame({"gold": gold, "text": texts}), "inputs": texts})()
    cache = AttributionCache(tmp_path / "cache")
    shap_params = {**key_params("shap"), "max_evals": 40}
    for job in precompute_jobs(texts, gold, cross_check_size=6):
        params = shap_params if job.method == "shap" else job.params
        cache.get_or_compute_many(tiny_bert_predictor, list(job.texts), job.method, **params)
    ref = tiny_bert_predictor.ref
    ig = global_importance(dict(enumerate(cache.get_many(ref.scoring_key, texts, "ig", **key_params("ig"))[t] for t in texts)))
    view = cross_check_view(table, [ref], {ref.name: ig}, cache, shap_params, size=6, min_count=1)
    assert view.missing == 0 and list(view.checks) == [ref.name]
    sample = sample_indices(gold, 6, seed=0)
    shap_found = cache.get_many(ref.scoring_key, [texts[i] for i in sample], "shap", **shap_params)
    shap = global_importance({i: shap_found[texts[i]] for i in sample})
    a = ig.for_label("positive", min_count=1).set_index("word")["mean_signed"]
    b = shap.for_label("positive", min_count=1).set_index("word")["mean_signed"]
    shared = sorted(set(a.index) & set(b.index))
    agreement = view.checks[ref.name].agreements["positive"]
    assert agreement.n_words == len(shared) >= 5
    assert agreement.rho == pytest.approx(spearmanr(a[shared], b[shared]).statistic)
    empty = cross_check_view(table, [ref], {ref.name: ig}, AttributionCache(tmp_path / "empty"), shap_params, size=6)
    assert empty.checks == {} and empty.missing == 6 and "6 of 6 examples still need an explanation, about 240 model calls." in empty.cost_lines()[0][1]
