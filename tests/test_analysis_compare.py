"""Before/after comparison: McNemar by hand, bootstrap coverage on synthetic data, flagged slices, flips."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from analysis.compare import (
    _f1_from_weights,
    compare_tables,
    describe_comparison,
    describe_mcnemar,
    flipped_examples,
    macro_f1_interval,
    mcnemar_test,
    pair_tables,
    paired_bootstrap,
    slice_deltas,
)
from analysis.slices import categorical_slices
from analysis.stats import bootstrap_counts
from analysis.synthetic import probs_for, table_from_arrays
from models.errors import VeredictoError

LABELS = ("neg", "pos")


def correctness(fixed, broken, both_right=0, both_wrong=0):
    before = [False] * fixed + [True] * broken + [True] * both_right + [False] * both_wrong
    after = [True] * fixed + [False] * broken + [True] * both_right + [False] * both_wrong
    return np.array(before), np.array(after)


def test_mcnemar_exact_by_hand():
    before, after = correctness(fixed=9, broken=1, both_right=30, both_wrong=5)
    test = mcnemar_test(before, after)
    assert (test.fixed, test.broken, test.method) == (9, 1, "exact")
    # two-sided binomial: 2 * P(X <= 1 | n=10, p=1/2) = 2 * (1 + 10) / 2**10
    assert test.p_value == pytest.approx(22 / 1024)


def test_mcnemar_stays_exact_with_many_disagreements():
    """One policy for every n: the exact binomial test (Compare and Robustness report the same p for the same counts)."""
    before, after = correctness(fixed=20, broken=10)
    test = mcnemar_test(before, after)
    assert (test.fixed, test.broken, test.method, test.statistic) == (20, 10, "exact", 10)
    # two-sided binomial: 2 * P(X <= 10 | n=30, p=1/2)
    assert test.p_value == pytest.approx(2 * sum(math.comb(30, k) for k in range(11)) / 2**30)


def test_mcnemar_with_no_disagreement_or_a_tie():
    before, after = correctness(fixed=0, broken=0, both_right=5)
    assert mcnemar_test(before, after).p_value == 1.0
    before, after = correctness(fixed=15, broken=15)
    assert mcnemar_test(before, after).p_value == 1.0


def test_describe_mcnemar_in_plain_words():
    test = mcnemar_test(*correctness(fixed=9, broken=1, both_right=30))
    text = describe_mcnemar(test, "base", "tuned")
    assert "'tuned' fixes 9 examples that 'base' got wrong and breaks 1 that it got right" in text
    assert "unlikely to be chance" in text and "'tuned' is more accurate" in text and "p = 0.0215" in text
    text = describe_mcnemar(mcnemar_test(*correctness(fixed=3, broken=2)), "base", "tuned")
    assert "does not show" in text and "more data would help" in text


def test_vectorised_f1_with_unit_weights_matches_scikit_learn():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.6, gold, rng.integers(0, 4, 300))
    eye = np.eye(4)
    f1, macro = _f1_from_weights(np.ones((1, 300)), eye[gold], eye[pred])
    assert f1[0] == pytest.approx(f1_score(gold, pred, average=None))
    assert macro[0] == pytest.approx(f1_score(gold, pred, average="macro"))


def test_bootstrap_is_seeded_and_paired():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, 200)
    pb = np.where(rng.random(200) < 0.7, gold, 1 - gold)
    a = paired_bootstrap(gold, pb, pb, 2, n_boot=300, seed=3)
    assert np.all(a.accuracy == 0) and np.all(a.macro_f1 == 0)  # same predictions: every paired resample agrees
    pa = np.where(rng.random(200) < 0.8, gold, 1 - gold)
    x = paired_bootstrap(gold, pb, pa, 2, n_boot=300, seed=3)
    y = paired_bootstrap(gold, pb, pa, 2, n_boot=300, seed=3)
    z = paired_bootstrap(gold, pb, pa, 2, n_boot=300, seed=4)
    assert np.array_equal(x.accuracy, y.accuracy) and np.array_equal(x.f1, y.f1)
    assert not np.array_equal(x.accuracy, z.accuracy)
    assert x.f1.shape == (300, 2)


def test_bootstrap_chunks_do_not_change_the_answer(monkeypatch):
    """Chunking is only for memory: the same seed gives the same resamples, in one chunk or in many."""
    import analysis.stats

    rng = np.random.default_rng(5)
    n = 3000
    gold = rng.integers(0, 3, n)
    pb = np.where(rng.random(n) < 0.6, gold, rng.integers(0, 3, n))
    pa = np.where(rng.random(n) < 0.7, gold, rng.integers(0, 3, n))
    chunks = []
    real = analysis.stats.bootstrap_counts

    def counting(*args, **kwargs):
        parts = list(real(*args, **kwargs))
        chunks.append(len(parts))
        yield from parts

    monkeypatch.setattr("analysis.compare.bootstrap_counts", counting)
    monkeypatch.setattr(analysis.stats, "_BOOTSTRAP_CELLS", 27 * 1000)  # at most 27 (gold, before, after) groups: 3+ chunks
    res = paired_bootstrap(gold, pb, pa, 3, n_boot=3000, seed=0)
    monkeypatch.setattr(analysis.stats, "_BOOTSTRAP_CELLS", 27 * 3000)
    whole = paired_bootstrap(gold, pb, pa, 3, n_boot=3000, seed=0)
    assert chunks[0] >= 3 and chunks[1] == 1
    np.testing.assert_array_equal(res.accuracy, whole.accuracy)
    np.testing.assert_array_equal(res.macro_f1, whole.macro_f1)
    np.testing.assert_array_equal(res.f1, whole.f1)
    assert np.isfinite(res.accuracy).all() and np.isfinite(res.f1).all()
    true = (pa == gold).mean() - (pb == gold).mean()
    assert res.accuracy.mean() == pytest.approx(true, abs=0.003)


def _synthetic(seed, n, p_fixed=0.10, p_broken=0.05, p_right=0.65):
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    before = (u >= p_fixed) & (u < p_fixed + p_broken + p_right)  # broken or both right
    after = (u < p_fixed) | ((u >= p_fixed + p_broken) & (u < p_fixed + p_broken + p_right))
    gold = rng.integers(0, 2, n)
    return gold, np.where(before, gold, 1 - gold), np.where(after, gold, 1 - gold)


def test_bootstrap_interval_contains_the_true_delta_about_95_percent_of_the_time():
    true_delta = 0.10 - 0.05  # population accuracy change
    covered, excludes_zero = 0, 0
    for seed in range(120):
        gold, pb, pa = _synthetic(seed, 400)
        res = paired_bootstrap(gold, pb, pa, 2, n_boot=400, seed=seed)
        lo, hi = res.interval(res.accuracy)
        covered += lo <= true_delta <= hi
        excludes_zero += lo > 0
    assert 0.88 <= covered / 120 <= 0.995
    assert excludes_zero > 60  # and it usually sees the improvement


def test_bootstrap_interval_width_matches_the_paired_standard_error():
    gold, pb, pa = _synthetic(7, 4000)
    res = paired_bootstrap(gold, pb, pa, 2, n_boot=2000, seed=0)
    lo, hi = res.interval(res.accuracy)
    d = (pa == gold).astype(int) - (pb == gold).astype(int)
    se = d.std() / math.sqrt(len(d))
    assert (hi - lo) / 2 == pytest.approx(1.96 * se, rel=0.1)


def _two_tables(order_after=LABELS):
    """100 examples. Drama (20): all right before, 10 broken after. Comedy (80): 40 right before, all right after."""
    n = 100
    gold = np.array([i % 2 for i in range(n)])
    genre = ["drama"] * 20 + ["comedy"] * 80
    right_before = np.array([True] * 20 + [True] * 40 + [False] * 40)
    right_after = np.array([True] * 10 + [False] * 10 + [True] * 80)
    pb = np.where(right_before, gold, 1 - gold)
    pa = np.where(right_after, gold, 1 - gold)
    texts = [f"text {i}" for i in range(n)]
    before = table_from_arrays(probs_for(pb, 2, 0.8), gold, LABELS, texts=texts, metadata={"genre": genre}, checkpoint_name="before")
    probs_after = probs_for(pa, 2, np.linspace(0.6, 0.99, n))
    if order_after != LABELS:  # the tuned checkpoint lists its labels the other way round
        probs_after = probs_after[:, [LABELS.index(l) for l in order_after]]
    gold_after = np.array([order_after.index(LABELS[g]) for g in gold])
    after = table_from_arrays(
        probs_after, gold_after, order_after, texts=texts, metadata={"genre": genre}, checkpoint_name="after", data_fingerprint=before.data_fingerprint
    )
    return before, after, genre


def test_comparison_deltas_and_a_slice_that_got_worse_while_the_total_improved():
    before, after, genre = _two_tables()
    comp = compare_tables(before, after, n_boot=500, seed=0)
    assert comp.deltas.loc["accuracy", ["before", "after"]].tolist() == pytest.approx([0.6, 0.9])
    assert comp.delta("accuracy") == pytest.approx(0.3)
    assert comp.deltas.loc["accuracy", "ci_low"] > 0
    assert comp.deltas.loc["accuracy", "ci_low"] <= 0.3 <= comp.deltas.loc["accuracy", "ci_high"]
    assert (comp.mcnemar.fixed, comp.mcnemar.broken) == (40, 10)
    assert list(comp.per_class.index) == list(LABELS)
    assert comp.per_class["f1_delta"].tolist() == pytest.approx((comp.metrics_after.per_class["f1"] - comp.metrics_before.per_class["f1"]).tolist())

    table = slice_deltas(categorical_slices(genre, "genre"), comp.paired.correct_before, comp.paired.correct_after)
    by = table.set_index("slice")
    assert by.loc["drama", ["accuracy_before", "accuracy_after"]].tolist() == pytest.approx([1.0, 0.5])
    assert bool(by.loc["drama", "worse"]) and bool(by.loc["drama", "clearly_worse"])
    assert by.loc["drama", "p_value"] == pytest.approx(2 * 0.5**10)  # 10 broken, 0 fixed
    assert not by.loc["comedy", "worse"]
    assert by.loc["comedy", "delta"] == pytest.approx(0.5)
    assert "+30.0 points" in describe_comparison(comp) and "whole interval is above zero" in describe_comparison(comp)


def test_label_order_of_the_second_checkpoint_does_not_matter():
    before, after, _ = _two_tables()
    before2, after_swapped, _ = _two_tables(order_after=("pos", "neg"))
    a = compare_tables(before, after, n_boot=200)
    b = compare_tables(before2, after_swapped, n_boot=200)
    assert a.deltas.equals(b.deltas)
    assert flipped_examples(before, after).equals(flipped_examples(before2, after_swapped))


def test_flipped_examples_fixed_first_then_broken_with_both_predictions():
    before, after, _ = _two_tables()
    flips = flipped_examples(before, after)
    assert flips["status"].value_counts().to_dict() == {"fixed": 40, "broken": 10}
    assert flips["status"].iloc[0] == "fixed" and flips["status"].iloc[-1] == "broken"
    assert set(flips[flips.status == "broken"].index) == set(range(10, 20))
    row = flips.loc[10]
    assert row["gold"] == "neg" and row["pred_before"] == "neg" and row["pred_after"] == "pos"
    assert row["genre"] == "drama" and row["text"] == "text 10"
    assert row["p_gold_change"] == pytest.approx(row["p_gold_after"] - row["p_gold_before"])
    # within a status, the biggest move of the gold-label probability first
    fixed = flips[flips.status == "fixed"]["p_gold_change"].abs().to_numpy()
    assert np.all(np.diff(fixed) <= 1e-9)
    assert len(flipped_examples(before, after, include_unchanged=True)) == 100


def test_multiclass_change_between_two_wrong_labels_is_its_own_status():
    labels = ("a", "b", "c")
    before = table_from_arrays(probs_for([1, 0], 3, 0.8), [0, 0], labels, checkpoint_name="x")
    after = table_from_arrays(probs_for([2, 0], 3, 0.8), [0, 0], labels, checkpoint_name="y", data_fingerprint=before.data_fingerprint)
    flips = flipped_examples(before, after)
    assert flips["status"].tolist() == ["changed, still wrong"]


def test_tables_on_different_data_or_labels_are_refused_with_a_message():
    before, after, _ = _two_tables()
    other = table_from_arrays(np.asarray(after.probs), after.gold_idx, LABELS, checkpoint_name="other", data_fingerprint="x")
    with pytest.raises(VeredictoError, match="different data"):
        pair_tables(before, other)
    three = table_from_arrays(
        probs_for(np.zeros(100, int), 3, 0.8), np.zeros(100, int), ("neg", "pos", "meh"), checkpoint_name="three", data_fingerprint=before.data_fingerprint
    )
    with pytest.raises(VeredictoError, match="different labels.*neg, pos, meh"):
        pair_tables(before, three)


def resamples(rows: np.ndarray, n_boot: int, seed: int) -> list[np.ndarray]:
    """The resamples the bootstrap drew, as example indices: examples with equal rows (gold, predictions) are
    interchangeable, so each draw of counts per group is a resample of that many examples of each group."""
    groups, code = np.unique(rows, axis=0, return_inverse=True)
    members = [np.flatnonzero(code.ravel() == g) for g in range(len(groups))]
    counts = np.vstack([c for _, _, c in bootstrap_counts(code.ravel(), len(groups), n_boot, seed)]).astype(int)
    out = [np.concatenate([np.resize(members[g], c) for g, c in enumerate(row)]) for row in counts]
    assert all(len(idx) == len(rows) for idx in out)
    return out


def test_bootstrap_equals_a_naive_loop_over_the_same_resamples():
    """The grouped, vectorised computation gives exactly what resampling and re-scoring with scikit-learn gives."""
    rng = np.random.default_rng(11)
    n, k = 120, 3
    gold = rng.integers(0, k, n)
    pb = np.where(rng.random(n) < 0.6, gold, rng.integers(0, k, n))
    pa = np.where(rng.random(n) < 0.7, gold, rng.integers(0, k, n))
    res = paired_bootstrap(gold, pb, pa, k, n_boot=40, seed=5)
    for b, idx in enumerate(resamples(np.stack([gold, pb, pa], axis=1), 40, seed=5)):
        g, x, y = gold[idx], pb[idx], pa[idx]
        assert res.accuracy[b] == pytest.approx((y == g).mean() - (x == g).mean())
        assert res.macro_f1[b] == pytest.approx(f1_score(g, y, average="macro") - f1_score(g, x, average="macro"))
        assert res.f1[b] == pytest.approx(
            f1_score(g, y, labels=range(k), average=None, zero_division=0) - f1_score(g, x, labels=range(k), average=None, zero_division=0)
        )


def test_flipped_examples_when_nothing_changed_is_an_empty_table():
    before, _, _ = _two_tables()
    flips = flipped_examples(before, before)
    assert flips.empty and list(flips.columns[:5]) == ["status", "text", "gold", "pred_before", "pred_after"]


def test_macro_f1_interval_equals_a_plain_bootstrap_with_sklearn():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 3, 150)
    pred = np.where(rng.random(150) < 0.7, gold, rng.integers(0, 3, 150))
    lo, hi = macro_f1_interval(gold, pred, 3, n_boot=200, seed=9)
    draws = resamples(np.stack([gold, pred], axis=1), 200, seed=9)  # the same resamples, one by one
    plain = [f1_score(gold[i], pred[i], average="macro") for i in draws]
    assert (lo, hi) == pytest.approx((np.quantile(plain, 0.025), np.quantile(plain, 0.975)), abs=1e-12)
    assert lo < f1_score(gold, pred, average="macro") < hi
    assert macro_f1_interval(gold, gold, 3) == (1.0, 1.0)


def test_macro_f1_interval_covers_the_population_value_about_95_percent_of_the_time():
    def sample(rng, n):
        gold = rng.integers(0, 3, n)
        return gold, np.where(rng.random(n) < 0.75, gold, rng.integers(0, 3, n))

    population = f1_score(*sample(np.random.default_rng(123), 400_000), average="macro")
    covered = 0
    for seed in range(100):
        lo, hi = macro_f1_interval(*sample(np.random.default_rng(seed), 400), 3, n_boot=400, seed=seed)
        covered += lo <= population <= hi
    assert 0.88 <= covered / 100 <= 0.995


# --- multi-label and pairs -------------------------------------------------------------------------------------------------


def test_multi_label_comparison_matches_scikit_learn_and_mcnemar_per_label():
    from multilabel_support import random_pair
    from sklearn.metrics import accuracy_score, hamming_loss
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    before, after = random_pair()
    comp = compare_tables(before, after, n_boot=300)
    gold, pb, pa = before.gold_matrix, before.pred_matrix, after.pred_matrix
    expected = {
        "accuracy": (accuracy_score(gold, pb), accuracy_score(gold, pa)),
        "micro_f1": (f1_score(gold, pb, average="micro"), f1_score(gold, pa, average="micro")),
        "macro_f1": (f1_score(gold, pb, average="macro"), f1_score(gold, pa, average="macro")),
        "samples_f1": (f1_score(gold, pb, average="samples", zero_division=1), f1_score(gold, pa, average="samples", zero_division=1)),
        "hamming_loss": (hamming_loss(gold, pb), hamming_loss(gold, pa)),
    }
    for metric, (b, a) in expected.items():
        row = comp.deltas.loc[metric]
        assert (row.before, row.after) == (pytest.approx(b), pytest.approx(a)), metric
        assert row.ci_low <= row.delta <= row.ci_high, metric
    assert comp.multi_label and comp.deltas.loc["hamming_loss", "delta"] < 0  # the candidate is right more often
    for c, label in enumerate(before.labels):
        assert comp.per_class.loc[label, "f1_after"] == pytest.approx(f1_score(gold[:, c], pa[:, c]))
        right_b, right_a = pb[:, c] == gold[:, c], pa[:, c] == gold[:, c]
        table = [[np.sum(right_b & right_a), np.sum(right_b & ~right_a)], [np.sum(~right_b & right_a), np.sum(~right_b & ~right_a)]]
        assert comp.per_class.loc[label, "p_value"] == pytest.approx(sm_mcnemar(table, exact=True).pvalue)
        assert (comp.per_class.loc[label, "fixed"], comp.per_class.loc[label, "broken"]) == (table[1][0], table[0][1])
    assert comp.mcnemar.fixed == np.sum(~(pb == gold).all(axis=1) & (pa == gold).all(axis=1))


def test_multi_label_bootstrap_draws_match_a_loop_over_the_resamples():
    from multilabel_support import random_pair
    from sklearn.metrics import accuracy_score, hamming_loss

    from analysis.compare import label_bootstrap

    before, after = random_pair(n=40, seed=3)
    gold, pb, pa = before.gold_matrix, before.pred_matrix, after.pred_matrix
    boot = label_bootstrap(gold, pb, pa, n_boot=25, seed=7)
    for i, rows in enumerate(resamples(np.hstack([gold, pb, pa]), 25, seed=7)):
        g, b, a = gold[rows], pb[rows], pa[rows]
        for name, score in (("micro_f1", "micro"), ("macro_f1", "macro")):
            want = f1_score(g, a, average=score, zero_division=0) - f1_score(g, b, average=score, zero_division=0)
            assert boot[name][i] == pytest.approx(want), (name, i)
        want = f1_score(g, a, average=None, zero_division=0) - f1_score(g, b, average=None, zero_division=0)
        assert boot["f1"][i] == pytest.approx(want)
        want = f1_score(g, a, average="samples", zero_division=1) - f1_score(g, b, average="samples", zero_division=1)
        assert boot["samples_f1"][i] == pytest.approx(want)
        assert boot["hamming_loss"][i] == pytest.approx(hamming_loss(g, a) - hamming_loss(g, b))
        assert boot["accuracy"][i] == pytest.approx(accuracy_score(g, a) - accuracy_score(g, b))


def test_tables_of_different_tasks_are_not_compared():
    from multilabel_support import ml_table

    single = table_from_arrays(probs_for([0, 1], 2), [0, 1], LABELS, checkpoint_name="single")
    multi = ml_table([[0.9, 0.1], [0.2, 0.7]], [[1, 0], [0, 1]], labels=LABELS, name="multi")
    with pytest.raises(VeredictoError, match="single-label checkpoint and 'multi' a multi-label one"):
        pair_tables(single, multi)


def test_multi_label_flips_name_the_labels_that_changed_and_pairs_keep_both_texts():
    from multilabel_support import ml_table

    from analysis.compare import label_flips

    gold = [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    before = ml_table([[0.9, 0.8, 0.1], [0.9, 0.9, 0.1], [0.1, 0.1, 0.2]], gold, name="b", pairs=["p0", "p1", "p2"])
    after = ml_table([[0.9, 0.1, 0.1], [0.9, 0.2, 0.1], [0.1, 0.1, 0.2]], gold, name="a", pairs=["p0", "p1", "p2"])
    flips = flipped_examples(before, after)
    assert flips["status"].to_dict() == {0: "fixed", 1: "broken"}  # row 2 did not change
    assert flips.loc[0, "fixed_labels"] == "insult" and flips.loc[1, "broken_labels"] == "insult"
    assert (flips.loc[0, "gold"], flips.loc[0, "pred_before"], flips.loc[0, "pred_after"]) == ("toxic", "toxic | insult", "toxic")
    assert flips["text_pair"].tolist() == ["p0", "p1"]
    assert flips.loc[1, "p_gold_before"] == pytest.approx(0.9 * 0.9 * 0.9)  # P(gold set) = p(toxic) p(insult) (1 - p(threat))
    insult = label_flips(flips, "insult")
    assert insult["status"].to_dict() == {0: "fixed", 1: "broken"}
    assert label_flips(flips, "threat").empty
