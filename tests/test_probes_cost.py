"""Cost before compute: model-call counts are checked against what the runs really do; times are never asserted."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from probes import cost
from probes.run import run_probes

TEXTS = [
    "John said the film was good.",
    "the film was good and he loved it",
    "a great movie, john!",
    "the plot was dull",
    "Maria hated it, she said it was awful",
]


@pytest.fixture(autouse=True)
def fresh():
    cost.forget_calibrations()
    yield
    cost.forget_calibrations()


def test_calibration_is_measured_once_per_checkpoint(tiny_bert_predictor, tiny_roberta_predictor):
    first = cost.calibrate(tiny_bert_predictor, TEXTS)
    assert first.fingerprint == tiny_bert_predictor.ref.fingerprint and first.device == "cpu"
    assert first.per_text >= 0 and first.per_token >= 0 and first.per_text + first.per_token > 0
    assert first.texts_per_second > 0 and first.mean_tokens > 2 and first.n_texts == 2 * cost.CALIBRATION_TEXTS
    forwarded = tiny_bert_predictor.stats.texts_forwarded
    assert cost.calibrate(tiny_bert_predictor, TEXTS) is first
    assert tiny_bert_predictor.stats.texts_forwarded == forwarded  # cached: no model call
    assert cost.cached_throughput(tiny_bert_predictor) is first
    assert cost.cached_throughput(tiny_roberta_predictor) is None
    again = cost.calibrate(tiny_bert_predictor, TEXTS, force=True)
    assert again is not first and tiny_bert_predictor.stats.texts_forwarded > forwarded
    assert first.seconds_for(10, 20) == pytest.approx(10 * (first.per_text + 20 * first.per_token))
    assert "texts/s" in first.describe() and "this machine" in first.describe()


def test_scoring_estimate_counts_exactly_the_uncached_texts(tiny_bert_predictor):
    texts = [f"{t} [{i}]" for i, t in enumerate(TEXTS * 3)]
    texts += texts[:4]  # duplicates are scored once
    estimate = cost.estimate_predict(tiny_bert_predictor, texts)
    assert estimate.n_requested == len(texts) and estimate.n_model_calls == len(TEXTS) * 3
    before = tiny_bert_predictor.stats.texts_forwarded
    tiny_bert_predictor.predict_proba(texts)
    assert tiny_bert_predictor.stats.texts_forwarded - before == estimate.n_model_calls
    cached = cost.estimate_predict(tiny_bert_predictor, texts)
    assert cached.n_model_calls == 0 and "everything is cached" in cached.describe()
    assert "model calls" in estimate.describe() and "on this machine" in estimate.describe()


def test_probe_estimate_matches_the_run(tiny_bert_predictor):
    texts = [f"{t} <{i}>" for i, t in enumerate(TEXTS * 4)]
    estimate = cost.estimate_probes(tiny_bert_predictor, texts, ["typos", "names", "gender", "casing"], limit=10)
    report = run_probes(tiny_bert_predictor, texts, ["typos", "names", "gender", "casing"], limit=10)
    assert estimate.n_model_calls == report.n_model_calls > 0
    assert estimate.n_requested == sum(r.n_tried + r.n_perturbed for r in report.results)
    assert estimate.details["tests"] == ["typos", "names", "gender", "casing"]


def test_embedding_estimate(tiny_bert_predictor):
    from models.embeddings import embed_texts

    texts = [f"embed me {i}" for i in range(7)]
    assert cost.estimate_embed(tiny_bert_predictor, texts).n_model_calls == 7
    embed_texts(tiny_bert_predictor, texts[:3])
    assert cost.estimate_embed(tiny_bert_predictor, texts).n_model_calls == 4


def test_lime_unique_sample_formula_matches_lime_sampling():
    """The expected number of distinct texts under LIME's sampling scheme, against a simulation of it."""
    rng = np.random.default_rng(0)
    for n_words, num_samples in [(3, 300), (8, 300), (12, 1000)]:
        counts = []
        for _ in range(200):
            seen = {frozenset()}  # the original text
            for _ in range(num_samples - 1):
                size = rng.integers(1, n_words + 1)
                seen.add(frozenset(rng.choice(n_words, size, replace=False).tolist()))
            counts.append(len(seen))
        assert cost.lime_unique_samples(n_words, num_samples) == pytest.approx(np.mean(counts), rel=0.02)


def test_lime_estimate_matches_the_explainer(tiny_bert_predictor):
    from explain.api import explain_text

    text = "the acting was wonderful but the script was dull"
    estimate = cost.estimate_lime(tiny_bert_predictor, [text], num_samples=300)
    assert estimate.n_requested == 300
    before = tiny_bert_predictor.stats.texts_forwarded
    attribution = explain_text(tiny_bert_predictor, text, "lime", num_samples=300)
    forwarded = tiny_bert_predictor.stats.texts_forwarded - before
    assert attribution.n_model_calls == estimate.n_requested
    assert estimate.n_model_calls == pytest.approx(forwarded, rel=0.15)


@pytest.mark.parametrize("words,max_evals", [(2, 500), (8, 500), (30, 60)])
def test_shap_estimate_matches_the_explainer(tiny_bert_predictor, words, max_evals):
    from explain.api import explain_text

    vocab = [
        "the",
        "film",
        "was",
        "good",
        "and",
        "the",
        "acting",
        "was",
        "great",
        "but",
        "story",
        "plot",
        "never",
        "again",
        "boring",
        "dull",
        "fun",
        "sad",
        "best",
        "worst",
        "love",
        "hate",
    ]
    text = " ".join(vocab[i % len(vocab)] for i in range(words))
    estimate = cost.estimate_shap(tiny_bert_predictor, text, max_evals=max_evals)
    attribution = explain_text(tiny_bert_predictor, text, "shap", max_evals=max_evals)
    if words == 30:  # the budget binds: exactly max_evals masked texts
        assert estimate.n_requested == attribution.n_model_calls == max_evals
    else:
        assert estimate.n_requested == pytest.approx(attribution.n_model_calls, rel=0.3)


def test_check_reports_the_error_and_corrects_later_estimates(tiny_bert_predictor):
    estimate = cost.estimate_predict(tiny_bert_predictor, [f"check {i}" for i in range(50)])
    fake = dataclasses.replace(estimate, raw_seconds=2.0, seconds=2.0)
    result = cost.check(fake, seconds=4.0, model_calls=50)
    assert result.relative_error == pytest.approx(-0.5) and result.seconds_error == pytest.approx(-2.0)
    assert result.describe().startswith("Estimated ~2 s, took ~4 s (-50%)") and "50 model calls" in result.describe()
    assert cost.correction(estimate.throughput.fingerprint, "predict") == pytest.approx(2.0)
    later = cost.estimate_predict(tiny_bert_predictor, [f"check {i}" for i in range(50)])
    assert later.seconds == pytest.approx(2.0 * later.raw_seconds)
    assert cost.correction(estimate.throughput.fingerprint, "shap") == 1.0  # other tasks keep their own factor
    cost.check(fake, seconds=1.0, learn=False)
    assert cost.correction(estimate.throughput.fingerprint, "predict") == pytest.approx(2.0)
    assert math.isnan(cost.check(fake, seconds=0.0).relative_error)


def test_directional_probe_estimate_is_exact_once_originals_are_scored(tiny_bert_predictor):
    from probes.perturb import DirectionConfig

    texts = [f"the film was good and the acting was great {i}" for i in range(30)] + [f"it is a bad film {i}" for i in range(30)]
    directions = DirectionConfig.sentiment("positive", "negative")
    tiny_bert_predictor.predict_proba(texts)  # the dashboard has scored the originals already
    estimate = cost.estimate_probes(tiny_bert_predictor, texts, ["negation", "intensifier"], directions=directions, limit=5)
    report = run_probes(tiny_bert_predictor, texts, ["negation", "intensifier"], directions=directions, limit=5)
    assert estimate.n_model_calls == report.n_model_calls
    # every applicable original is scanned in the first round (64 >= 60 texts), then the variants of the tried ones
    assert estimate.n_requested == sum(r.n_applicable + r.n_perturbed for r in report.results)
    assert all(r.n_tried <= 5 for r in report.results) and sum(r.n_tried for r in report.results) > 0
