"""Drift: the domain classifier's AUC is near 0.5 for two halves of the same data and near 1 for clearly different
data; out-of-vocabulary, truncation and length figures match a hand count from the tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.errors import VeredictoError
from quality.drift import domain_classifier, label_balance, measure_drift, oov_rate

WORDS = [
    "the",
    "film",
    "was",
    "good",
    "and",
    "the",
    "acting",
    "was",
    "great",
    "a",
    "terrible",
    "boring",
    "movie",
    "with",
    "awful",
    "actors",
    "I",
    "loved",
    "this",
    "story",
    "it",
    "wonderful",
    "never",
    "again",
]


def texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 12)))) for _ in range(n)]


def test_domain_classifier_on_vectors_same_distribution_vs_shifted():
    rng = np.random.default_rng(0)
    same = domain_classifier(rng.normal(size=(300, 8)), rng.normal(size=(300, 8)), seed=0)
    shifted = domain_classifier(rng.normal(size=(300, 8)), rng.normal(loc=1.5, size=(300, 8)), seed=0)
    assert abs(same.auc - 0.5) < 0.1 and shifted.auc > 0.98
    assert same.folds == 5 and same.p_eval.shape == (300,)
    assert domain_classifier(np.zeros((1, 3)), np.ones((5, 3))).folds == 0  # one training vector: no cross-validation


def test_domain_auc_near_half_for_two_halves_of_the_same_data_and_near_one_for_different_data(tiny_bert_predictor):
    pool = texts(400, seed=1)
    same = measure_drift(tiny_bert_predictor, pool[::2], pool[1::2], seed=0)
    assert abs(same.domain_auc - 0.5) < 0.15, same.domain_auc
    other = [f"{i} {i * 7} {i * 13}: ({i % 9})" for i in range(200)]  # numbers and punctuation, not reviews
    different = measure_drift(tiny_bert_predictor, pool[:200], other, seed=0)
    assert different.domain_auc > 0.9, different.domain_auc  # a random-weight 32-dim tiny model still separates them
    assert "tells training from evaluation texts apart" in different.sentence() and f"{different.domain_auc:.0%}" in different.sentence()
    assert set(different.most_unlike["row"]) <= set(range(200)) and len(different.most_unlike) == 10
    assert different.most_unlike["p_eval"].is_monotonic_decreasing


def test_lengths_truncation_and_the_training_cap_follow_the_tokenizer(tiny_bert_predictor):
    long = " ".join(["good"] * 200)  # tiny BERT reads 128 tokens
    train = [*texts(30, seed=2), long]
    evals = [long, long, "a film"]
    drift = measure_drift(tiny_bert_predictor, train, evals, cap=20, seed=0)
    assert drift.n_train == 20 and drift.n_train_total == 31 and "seeded sample of at most 20" in drift.summary()
    assert drift.truncation_rate["eval"] == pytest.approx(2 / 3)
    counts = tiny_bert_predictor.token_counts(evals)
    assert drift.lengths.loc["eval", "max"] == counts.max() == 202 and drift.lengths.loc["eval", "median"] == np.median(counts)
    assert drift.truncation_rate["eval"] == pytest.approx(tiny_bert_predictor.truncated(evals).mean())


def test_oov_rate_counts_words_the_tokenizer_turns_into_unk(tiny_bert_predictor, tiny_roberta_predictor):
    # The committed WordPiece vocabulary has Latin letters but no Cyrillic: 2 of these 4 words become [UNK].
    sample = ["good film жук", "мир"]
    assert oov_rate(tiny_bert_predictor, sample) == pytest.approx(2 / 4)
    assert oov_rate(tiny_roberta_predictor, sample) == 0.0  # byte-level BPE has no unknown token
    assert np.isnan(oov_rate(tiny_bert_predictor, ["!!", ""]))


def test_label_balance_lists_training_labels_outside_the_checkpoint():
    frame = label_balance(["negative", "negative", "positive", "spam"], ["positive", "negative"], ("negative", "positive"))
    assert list(frame.index) == ["negative", "positive", "spam"]
    assert frame.loc["negative", "train_share"] == 0.5 and frame.loc["spam", "eval_share"] == 0 and not frame.loc["spam", "in_checkpoint"]
    assert frame.loc["positive", "difference"] == pytest.approx(0.25)


def test_out_of_fold_auc_is_scikit_learns_roc_auc_of_the_reported_probabilities():
    rng = np.random.default_rng(3)
    train, evals = rng.normal(size=(80, 4)), rng.normal(loc=0.4, size=(60, 4))
    result = domain_classifier(train, evals, seed=1)
    # recompute the AUC from the probabilities it reports for the evaluation side plus a fresh run's training side
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = np.vstack([train, evals]), np.r_[np.zeros(80), np.ones(60)]
    oof = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000, class_weight="balanced")),
        x,
        y,
        cv=StratifiedKFold(5, shuffle=True, random_state=1),
        method="predict_proba",
    )[:, 1]
    assert result.auc == pytest.approx(roc_auc_score(y, oof)) and np.allclose(result.p_eval, oof[80:])


def test_drift_refuses_empty_sides_with_a_message(tiny_bert_predictor):
    with pytest.raises(VeredictoError, match="texts on both sides"):
        measure_drift(tiny_bert_predictor, [], ["a"])


def test_sentence_pairs_drift_over_what_the_model_reads_both_texts(tiny_bert_predictor):
    """The failure: measuring the first texts only. Here the first texts come from one pool on both sides and only the
    second texts differ (reviews vs numbers): first texts alone look alike, the pairs do not."""
    firsts, seconds = texts(400, seed=4), texts(200, seed=5)
    numbers = [" ".join(f"{i * m} ({m})" for m in (3, 7, 11, 13, 17)) for i in range(200)]  # as long as a review, none of its words
    train, evals = list(zip(firsts[:200], seconds)), list(zip(firsts[200:], numbers))
    alone = measure_drift(tiny_bert_predictor, firsts[:200], firsts[200:], seed=0)
    pairs = measure_drift(tiny_bert_predictor, train, evals, seed=0)
    # (mean-pooled over both texts of a random-weight 32-dim model, the second text moves the vector only so far: ~0.83)
    assert abs(alone.domain_auc - 0.5) < 0.15 and pairs.domain_auc > 0.75, (alone.domain_auc, pairs.domain_auc)
    assert list(pairs.most_unlike.columns) == ["row", "text", "text_pair", "p_eval"]
    top = pairs.most_unlike.iloc[0]
    assert (top["text"], top["text_pair"]) == evals[int(top["row"])]
    # lengths and truncation: the tokens of the encoded pair ([CLS] a [SEP] b [SEP])
    long = " ".join(["good"] * 70)  # 70 + 70 + 3 tokens: over tiny BERT's 128 as a pair, not as one text
    drift = measure_drift(tiny_bert_predictor, train[:30], [(long, long), (long, "a film"), ("a film", "good")], seed=0)
    counts = tiny_bert_predictor.token_counts([(long, long), (long, "a film"), ("a film", "good")])
    assert counts.tolist() == [143, 75, 6] and drift.lengths.loc["eval", "max"] == 143 and drift.lengths.loc["eval", "median"] == 75
    assert drift.truncation_rate["eval"] == pytest.approx(1 / 3)
    # out-of-vocabulary words of both texts: 2 Cyrillic words of 4
    assert oov_rate(tiny_bert_predictor, [("good film жук", "мир")]) == pytest.approx(2 / 4)
    with pytest.raises(VeredictoError, match="--train-pair-col"):
        measure_drift(tiny_bert_predictor, firsts[:10], evals[:10])
