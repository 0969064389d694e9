"""Explanations of multi-label and sentence-pair checkpoints: each label explained through its own sigmoid, and a pair's
two texts explained together with every token pointing into its own segment.

References are the model's own forward pass (plain transformers, sigmoid or softmax by hand), never the code under test.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch
from tiny import make_tiny_checkpoint

from cli.main import main
from explain.api import explain_text
from explain.attribution import Attribution, ExplainError
from explain.cache import AttributionCache, text_hash
from explain.faithfulness import agreement, measure_faithfulness, without_words
from explain.global_importance import global_importance
from explain.plots import token_heat_figure
from explain.views import explore_example
from models.checkpoints import inspect_checkpoint
from models.inference import Predictor

TAGS = ("toxic", "insult", "threat", "spam")
FIRST = "the cat sat on the mat"
SECOND = "a dog ran in the park"
WORDS = re.compile(r"\w+")


@pytest.fixture(scope="module")
def multi_dir(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("xml") / "ml", labels=TAGS, problem_type="multi_label_classification", seed=1)


@pytest.fixture(scope="module")
def multi(multi_dir):
    return Predictor(multi_dir, cache=None)


@pytest.fixture(scope="module", params=["bert", "roberta"])
def pair_dir(request, tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("xpair") / request.param, kind=request.param, labels=("entail", "neutral", "contradict"), seed=2)


@pytest.fixture(scope="module")
def pair(pair_dir):
    return Predictor(pair_dir, cache=None)


def forward(path, *texts, sigmoid: bool) -> np.ndarray:
    """Plain transformers: the checkpoint's probabilities for one text or one pair, activation applied by hand."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.no_grad():
        logits = model(**tokenizer(*texts, return_tensors="pt")).logits[0].double()
    return (torch.sigmoid(logits) if sigmoid else torch.softmax(logits, -1)).numpy()


class Spy:
    """The predictor, recording every input the explainer forwards."""

    def __init__(self, predictor):
        self._predictor, self.seen = predictor, []

    def __getattr__(self, name):
        return getattr(self._predictor, name)

    def predict_proba(self, texts, **kwargs):
        self.seen.extend(texts)
        return self._predictor.predict_proba(texts, **kwargs)


# --- multi-label ------------------------------------------------------------------------------------------------------


def test_shap_additivity_holds_per_label_on_each_labels_own_sigmoid(multi, multi_dir):
    text = "you are a stupid spammer and I will find you"
    att = explain_text(multi, text, "shap", max_evals=120)
    expected = forward(multi_dir, text, sigmoid=True)
    assert abs(expected.sum() - 1) > 1e-3  # independent sigmoids: a softmax would sum to 1
    np.testing.assert_allclose(att.probabilities, expected, atol=1e-5)
    for c, label in enumerate(TAGS):  # base value + the label's scores = that label's own probability
        assert att.base_values[c] + att.scores_for(label).sum() == pytest.approx(expected[c], abs=1e-5)
    assert att.target == TAGS[int(np.argmax(expected))]  # the default: the most probable label
    assert att.fingerprint == multi.ref.scoring_key and att.fingerprint.endswith(":multi-label")
    chosen = explain_text(multi, text, "lime", target="threat", num_samples=50)
    assert chosen.target == "threat" and chosen.probabilities == pytest.approx(expected, abs=1e-5)


def test_the_attribution_cache_keeps_multi_label_and_single_label_readings_of_the_same_weights_apart(multi_dir, tmp_path):
    as_multi = Predictor(multi_dir, cache=None)
    as_single = Predictor(inspect_checkpoint(multi_dir, task="single-label"), cache=None)
    cache = AttributionCache(tmp_path)
    text = "buy cheap pills now"
    stored = cache.get_or_compute(as_multi, text, "lime", num_samples=40)
    assert cache.get(as_multi.ref.scoring_key, text, "lime", num_samples=40) is not None
    assert cache.get(as_single.ref.fingerprint, text, "lime", num_samples=40) is None  # the softmax reading is not that row
    single = cache.get_or_compute(as_single, text, "lime", num_samples=40)
    assert single.probabilities.sum() == pytest.approx(1.0) and stored.probabilities.sum() != pytest.approx(1.0)


def test_explore_opens_a_multi_label_example_on_its_most_probable_predicted_label(multi):
    from analysis.predictions import build_table

    texts = ["you are stupid", "win a free prize", "see you at lunch"]
    probs = multi.predict_proba(texts)
    gold = np.array([[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
    table = build_table(
        checkpoint_name="ml",
        fingerprint=multi.ref.fingerprint,
        data_name="d",
        data_fingerprint="d",
        labels=TAGS,
        probs=probs,
        gold=gold,
        texts=texts,
        n_tokens=np.ones(3, dtype=int),
        truncated=np.zeros(3, dtype=bool),
        task="multi-label",
    )
    for i in range(3):
        ex = explore_example(table, i)
        predicted = [TAGS[c] for c in np.flatnonzero(probs[i] >= 0.5)]
        assert list(ex.predicted) == predicted and list(ex.gold_labels) == [TAGS[c] for c in np.flatnonzero(gold[i])]
        pool = predicted or list(TAGS)
        assert ex.wanted == max(pool, key=lambda l: probs[i][TAGS.index(l)])
    assert explore_example(table, 0, "spam").wanted == "spam"


# --- sentence pairs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["shap", "lime"])
def test_pair_tokens_span_their_own_segment_and_carry_its_marker(pair, pair_dir, method):
    att = explain_text(pair, FIRST, method, text_pair=SECOND, max_evals=200, num_samples=100)
    assert att.is_pair and att.inputs == (FIRST, SECOND)
    segments = [t.segment for t in att.tokens]
    assert segments == sorted(segments) and set(segments) == {0, 1}  # the first text's tokens, then the second's
    for token in att.tokens:
        source = FIRST if token.segment == 0 else SECOND
        assert source[token.start : token.end] == token.text
    assert [w for g, w, *_ in att.segment_words() if g == 1] == WORDS.findall(SECOND)
    expected = forward(pair_dir, FIRST, SECOND, sigmoid=False)  # the model read both texts, with the pair's token types
    np.testing.assert_allclose(att.probabilities, expected, atol=1e-5)
    if method == "shap":
        np.testing.assert_allclose(att.base_values + att.scores.sum(axis=0), expected, atol=1e-5)


def test_shap_masks_tokens_of_both_segments_and_forwards_pairs(pair):
    spy = Spy(pair)
    explain_text(spy, FIRST, "shap", text_pair=SECOND, max_evals=200)
    assert spy.seen and all(isinstance(x, tuple) and len(x) == 2 for x in spy.seen)
    assert any(a != FIRST for a, _ in spy.seen) and any(b != SECOND for _, b in spy.seen)


def test_lime_perturbs_words_of_both_segments_and_never_moves_a_word_across(pair):
    spy = Spy(pair)
    explain_text(spy, FIRST, "lime", text_pair=SECOND, num_samples=200)
    assert all(isinstance(x, tuple) for x in spy.seen)
    assert any(WORDS.findall(a) != WORDS.findall(FIRST) for a, _ in spy.seen)
    assert any(WORDS.findall(b) != WORDS.findall(SECOND) for _, b in spy.seen)
    for a, b in spy.seen:  # what is left of each segment stays in it (bag-of-words: a removed word goes everywhere)
        assert set(WORDS.findall(a)) <= set(WORDS.findall(FIRST)) and set(WORDS.findall(b)) <= set(WORDS.findall(SECOND))


def test_faithfulness_removes_the_top_word_from_its_own_segment(pair):
    att = explain_text(pair, FIRST, "lime", text_pair=SECOND, num_samples=100)
    label = att.target
    c = att.class_index(label)
    scores = np.zeros_like(att.scores)
    park = next(i for i, t in enumerate(att.tokens) if t.segment == 1 and t.text == "park")
    scores[park, c] = 1.0  # by hand: the second text's last word is the whole rationale
    planted = dataclasses.replace(att, scores=scores)
    faith = measure_faithfulness(pair, planted, ks=(0.05,), random_draws=1)
    assert faith.rationale == (("park",),) and faith.n_words == len(WORDS.findall(FIRST + " " + SECOND))
    without = pair.predict_proba([(FIRST, "a dog ran in the")])[0, c]
    only = pair.predict_proba([("", "park")])[0, c]
    assert faith.without[0] == pytest.approx(without) and faith.only[0] == pytest.approx(only)
    assert without_words(SECOND, [(17, 21)]) == "a dog ran in the"


def test_pair_explanations_agree_word_by_word_across_methods(pair):
    shap_att = explain_text(pair, FIRST, "shap", text_pair=SECOND, max_evals=200)
    lime_att = explain_text(pair, FIRST, "lime", text_pair=SECOND, num_samples=100)
    agree = agreement(shap_att, lime_att)
    assert agree.n_words == len(WORDS.findall(FIRST)) + len(WORDS.findall(SECOND))  # "the" in both segments is two units
    with pytest.raises(ExplainError, match="same text"):
        agreement(shap_att, explain_text(pair, FIRST, "lime", text_pair="another second text", num_samples=40))


def test_pair_json_carries_both_texts_and_segments_and_one_text_stays_as_it_was(pair):
    att = explain_text(pair, FIRST, "lime", text_pair=SECOND, num_samples=40)
    data = json.loads(att.to_json())
    assert data["text_pair"] == SECOND and {t[3] for t in data["tokens"]} == {0, 1}
    back = Attribution.from_dict(data)
    assert back.tokens == att.tokens and back.text_pair == SECOND and np.array_equal(back.scores, att.scores)
    single = json.loads(explain_text(pair, FIRST, "lime", num_samples=40).to_json())
    assert "text_pair" not in single and all(len(t) == 3 for t in single["tokens"])


def test_cache_keys_a_pair_apart_from_its_first_text(pair, tmp_path):
    cache = AttributionCache(tmp_path)
    assert text_hash((FIRST, SECOND)) != text_hash(FIRST)
    got = cache.get_or_compute(pair, (FIRST, SECOND), "lime", num_samples=40)
    assert got.inputs == (FIRST, SECOND)
    assert cache.get(pair.ref.scoring_key, FIRST, "lime", num_samples=40) is None
    again = cache.get_or_compute(pair, (FIRST, SECOND), "lime", num_samples=40, compute=lambda *a, **k: pytest.fail("recomputed"))
    assert again.to_json() == got.to_json()


def test_text_plot_draws_the_second_text_below_the_first(pair):
    att = explain_text(pair, FIRST, "lime", text_pair=SECOND, num_samples=40)
    fig = token_heat_figure(att, width=80)
    bar = fig.data[0]
    rows = {}
    for y, custom in zip(bar.y, bar.customdata):
        rows.setdefault(att.tokens[int(custom[2])].segment, []).append(y)
    assert max(rows[0]) < min(rows[1])  # one above the other, each on its own lines
    drawn = [t for t, custom in zip(bar.text, bar.customdata) if att.tokens[int(custom[2])].segment == 1]
    assert "".join(drawn) == SECOND.replace(" ", "")
    assert len(fig.layout.shapes) == 1 and min(rows[1]) > fig.layout.shapes[0].y0 > max(rows[0])  # the rule between them


def test_global_importance_counts_words_of_both_segments_per_label(pair):
    atts = [explain_text(pair, FIRST, "lime", text_pair=SECOND, num_samples=40)]
    gi = global_importance(atts)
    occ = gi.occurrences
    assert set(occ[occ["segment"] == 1]["word"]) == set(WORDS.findall(SECOND))
    park = occ[(occ["word"] == "park")]
    assert len(park) == len(pair.labels) and (park["segment"] == 1).all()
    assert park.set_index("label")["score"].to_dict() == pytest.approx({l: atts[0].words(l, 1)[-1][3] for l in pair.labels})


def test_pairs_are_refused_with_what_to_do(pair, tmp_path):
    with pytest.raises(ExplainError, match="Second text of the pair"):
        explain_text(pair, FIRST, "lime", text_pair="   ")
    gpt2 = Predictor(make_tiny_checkpoint(tmp_path / "gpt2", kind="gpt2"), cache=None)
    with pytest.raises(ExplainError, match="cannot mark a sentence pair"):
        explain_text(gpt2, FIRST, "lime", text_pair=SECOND)
    with pytest.raises(ExplainError, match="too long|tokens long"):
        explain_text(pair, FIRST, "lime", text_pair=" ".join([SECOND] * 60))


# --- command line -----------------------------------------------------------------------------------------------------


def test_cli_explains_a_pair_as_json_with_segments(pair_dir, capsys):
    assert main(["explain", "--model", str(pair_dir), "--text", FIRST, "--text-pair", SECOND, "--method", "lime", "--num-samples", "40", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["text"], data["text_pair"]) == (FIRST, SECOND) and {t[3] for t in data["tokens"]} == {0, 1}
    assert main(["explain", "--model", str(pair_dir), "--text", FIRST, "--text-pair", SECOND, "--method", "lime", "--num-samples", "40"]) == 0
    out = capsys.readouterr().out
    assert f"Text:        {FIRST}" in out and f"Text pair:   {SECOND}" in out


def test_cli_task_override_explains_a_label_by_name_on_its_sigmoid(tmp_path, capsys):
    single = make_tiny_checkpoint(tmp_path / "plain", labels=TAGS, seed=4)  # config says nothing: single-label
    args = ["explain", "--model", str(single), "--text", FIRST, "--method", "lime", "--num-samples", "40"]
    assert main([*args, "--task", "multi-label", "--target", "spam", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(data["probabilities"], forward(single, FIRST, sigmoid=True), atol=1e-5)
    assert data["target"] == "spam" and data["fingerprint"].endswith(":multi-label")
    assert main([*args, "--task", "multi-label"]) == 0
    assert "threshold 0.5" in capsys.readouterr().out
    assert main([*args, "--task", "multi-label", "--target", "nope"]) == 2
    assert main([*args, "--task", "regression"]) == 2
