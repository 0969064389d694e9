"""Multi-label and sentence-pair tables through metrics, calibration, co-occurrence, slices and the Overview/Errors/Explore
view models. Every number is checked against scikit-learn or a count by hand, never against the code under test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, multilabel_confusion_matrix, precision_recall_fscore_support

from analysis.browse import ExampleFilter, browse_examples
from analysis.metrics import (
    MultiLabelCalibration,
    MultiLabelMetrics,
    label_cooccurrence,
    label_outcomes,
    multi_label_intervals,
    table_calibration,
    table_metrics,
)
from analysis.predictions import build_table
from analysis.slices import confident_mistakes, gold_slices, keyword_slices, length_slices, slice_table
from analysis.thresholds import Thresholds
from analysis.views import (
    ALL_EXAMPLES,
    ALL_MISTAKES,
    calibration_view,
    class_balance,
    cooccurrence_view,
    error_slices,
    errors_summary,
    example_probabilities,
    examples_of,
    headline,
    label_cell_options,
    label_cell_selection,
    label_outcome,
)
from models.task import MULTI_LABEL

TAGS = ("toxic", "insult", "threat", "spam")


def multi_table(n: int = 120, seed: int = 0, thresholds: Thresholds | None = None, pair: bool = False):
    """Probabilities loosely tied to a random gold matrix, so some labels are right, some missed, some false positives."""
    rng = np.random.default_rng(seed)
    gold = rng.random((n, len(TAGS))) < np.array([0.4, 0.3, 0.1, 0.2])
    probs = np.clip(np.where(gold, 0.65, 0.3) + rng.normal(0, 0.22, gold.shape), 0.001, 0.999).astype(np.float32)
    texts = [f"text {i} " + "word " * (i % 7) for i in range(n)]
    return build_table(
        checkpoint_name="tiny-ml",
        fingerprint="f" * 64,
        data_name="ml.csv",
        data_fingerprint="d" * 64,
        labels=TAGS,
        probs=probs,
        gold=gold,
        texts=texts,
        text_pairs=[f"second {i % 5}" for i in range(n)] if pair else None,
        n_tokens=np.full(n, 8),
        truncated=np.zeros(n, dtype=bool),
        metadata={"source": [("web", "app", "mail")[i % 3] for i in range(n)]},
        task=MULTI_LABEL,
        thresholds=thresholds,
    )


@pytest.fixture(scope="module")
def table():
    return multi_table()


def test_multi_label_metrics_equal_scikit_learn_on_the_indicator_arrays(table):
    gold, pred = table.gold_matrix.astype(int), table.pred_matrix.astype(int)
    m = table_metrics(table)
    assert isinstance(m, MultiLabelMetrics)
    assert m.micro_f1 == pytest.approx(f1_score(gold, pred, average="micro"))
    assert m.macro_f1 == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert m.samples_f1 == pytest.approx(f1_score(gold, pred, average="samples", zero_division=1))
    assert m.accuracy == m.subset_accuracy == pytest.approx(accuracy_score(gold, pred))
    assert m.hamming_loss == pytest.approx(hamming_loss(gold, pred))
    p, r, f, s = precision_recall_fscore_support(gold, pred, average=None, zero_division=0)
    np.testing.assert_allclose(m.per_class[["precision", "recall", "f1"]].to_numpy(), np.stack([p, r, f], axis=1))
    assert m.per_class["support"].tolist() == s.tolist()
    assert m.per_class["predicted"].tolist() == pred.sum(axis=0).tolist()
    assert 0 < m.accuracy < m.micro_f1 < 1  # the fixture has mistakes of every kind
    assert m.as_dict()["hamming_loss"] == m.hamming_loss


def test_a_label_never_gold_nor_predicted_counts_zero_in_macro_f1_and_empty_rows_count_one_in_samples_f1():
    gold = np.array([[1, 0, 0], [0, 0, 0], [1, 0, 0]], dtype=bool)
    pred = np.array([[1, 1, 0], [0, 0, 0], [0, 0, 0]], dtype=bool)
    from analysis.metrics import multi_label_metrics

    m = multi_label_metrics(gold, pred, ("a", "b", "c"))
    # by hand: a: tp 1, fn 1 -> F1 2/3; b: fp 1 -> 0; c: nothing -> 0. Rows: 2/3, 1 (nothing to find, nothing said), 0.
    assert m.macro_f1 == pytest.approx((2 / 3) / 3)
    assert m.samples_f1 == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m.micro_f1 == pytest.approx(2 * 1 / (2 + 2))
    assert m.hamming_loss == pytest.approx(2 / 9)
    assert m.accuracy == pytest.approx(1 / 3)


def test_single_label_tables_keep_their_metrics_type_and_values():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([1, 1, 1], size=50).astype(np.float32)
    gold = rng.integers(0, 3, size=50)
    table = build_table(
        checkpoint_name="c",
        fingerprint="f",
        data_name="d",
        data_fingerprint="d",
        labels=("a", "b", "c"),
        probs=probs,
        gold=gold,
        texts=[str(i) for i in range(50)],
        n_tokens=np.ones(50),
        truncated=np.zeros(50, dtype=bool),
    )
    m = table_metrics(table)
    assert type(m).__name__ == "Metrics"
    assert m.macro_f1 == pytest.approx(f1_score(gold, probs.argmax(axis=1), average="macro"))
    assert not isinstance(table_calibration(table), MultiLabelCalibration)
    summary = errors_summary(table)
    assert not summary.multi_label and summary.counts.shape == (3, 3)
    assert list(examples_of(table, np.ones(50, dtype=bool)).columns[:6]) == ["text", "gold", "pred", "confidence", "p_gold", "correct"]


def test_bootstrap_intervals_hold_the_point_estimates_and_narrow_with_more_rows(table):
    m = table_metrics(table)
    ci = multi_label_intervals(table.gold_matrix, table.pred_matrix, n_boot=500)
    for name in ("micro_f1", "macro_f1", "samples_f1", "hamming_loss"):
        lo, hi = ci[name]
        assert lo <= getattr(m, name) <= hi, name
    big = multi_table(n=1200, seed=0)
    wide, narrow = ci["micro_f1"], multi_label_intervals(big.gold_matrix, big.pred_matrix, n_boot=500)["micro_f1"]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert multi_label_intervals(table.gold_matrix, table.pred_matrix, n_boot=500) == ci  # seeded


def test_per_label_calibration_matches_scikit_learns_calibration_curve(table):
    cal = table_calibration(table, 10)
    assert isinstance(cal, MultiLabelCalibration) and cal.labels == TAGS
    for c, label in enumerate(TAGS):
        one = cal.of(label)
        filled = one.table[one.table["count"] > 0]
        prob_true, prob_pred = calibration_curve(table.gold_matrix[:, c], table.probs[:, c], n_bins=10, strategy="uniform")
        np.testing.assert_allclose(filled["accuracy"], prob_true, atol=1e-6)
        np.testing.assert_allclose(filled["mean_confidence"], prob_pred, atol=1e-6)
        # ECE by hand: the bins' |share gold − mean probability|, weighted by their share of rows
        assert one.ece == pytest.approx(float((filled["count"] / len(table) * (filled["accuracy"] - filled["mean_confidence"]).abs()).sum()))
    assert cal.n == len(table) * len(TAGS)  # the pooled forecast counts every (row, label)
    view = calibration_view(cal, "threat")
    assert view.label == "threat" and view.calibration is cal.of("threat") and "'threat' is gold" in view.sentence
    assert view.per_label["Label"].tolist() == list(TAGS)


def test_label_outcomes_and_cooccurrence_match_scikit_learn_and_a_count_by_hand(table):
    outcomes = label_outcomes(table)
    for c, label in enumerate(TAGS):
        (tn, fp), (fn, tp) = multilabel_confusion_matrix(table.gold_matrix, table.pred_matrix)[c]
        assert outcomes.loc[label].tolist() == [tp, fp, fn, tn]
    co = label_cooccurrence(table)
    gold, pred = table.gold_matrix, table.pred_matrix
    for a in range(len(TAGS)):
        for b in range(len(TAGS)):
            assert co.predicted[a, b] == sum(1 for row in pred if row[a] and row[b])
            assert co.gold[a, b] == sum(1 for row in gold if row[a] and row[b])
            assert co.missed[a, b] == sum(1 for g, p in zip(gold, pred) if g[a] and g[b] and not p[a] and not p[b])
    assert np.diag(co.missed).tolist() == outcomes["fn"].tolist()
    top = co.pairs("predicted", limit=1).iloc[0]
    a, b = TAGS.index(top["first"]), TAGS.index(top["second"])
    off = co.predicted.copy()
    np.fill_diagonal(off, 0)
    assert top["rows"] == off.max() == co.predicted[a, b]
    view = cooccurrence_view(errors_summary(table))
    assert view.predicted_pairs[0].startswith(f"{top['first']} and {top['second']}: predicted together in {top['rows']}")


def test_confident_mistakes_are_rows_with_a_wrong_set_by_the_predicted_sets_probability(table):
    wrong = confident_mistakes(table)
    expected = np.flatnonzero((table.gold_matrix != table.pred_matrix).any(axis=1))
    assert sorted(wrong.index) == expected.tolist()
    assert wrong["confidence"].is_monotonic_decreasing
    i = int(wrong.index[0])
    p, g, q = table.probs[i].astype(float), table.gold_matrix[i], table.pred_matrix[i]
    assert wrong.loc[i, "confidence"] == pytest.approx(np.prod(np.where(q, p, 1 - p)))
    assert wrong.loc[i, "p_gold"] == pytest.approx(np.prod(np.where(g, p, 1 - p)))
    assert wrong.loc[i, "missed"] == " | ".join(t for t, gg, qq in zip(TAGS, g, q) if gg and not qq)
    assert wrong.loc[i, "false_positive"] == " | ".join(t for t, gg, qq in zip(TAGS, g, q) if qq and not gg)


def test_slices_report_subset_accuracy_and_micro_f1_per_slice(table):
    slices = gold_slices(table)
    assert [s.name for s in slices] == list(TAGS)
    np.testing.assert_array_equal(slices[0].mask, table.gold_matrix[:, 0])
    rows = slice_table(slices, table.correct, gold=table.gold_matrix, pred=table.pred_matrix)
    for s, (_, row) in zip(slices, rows.iterrows()):
        assert row["accuracy"] == pytest.approx(accuracy_score(table.gold_matrix[s.mask], table.pred_matrix[s.mask]))
        assert row["micro_f1"] == pytest.approx(f1_score(table.gold_matrix[s.mask], table.pred_matrix[s.mask], average="micro"))
    got = error_slices(table, "metadata", "source")
    assert list(got.display.columns) == ["Slice", "Examples", "Subset accuracy", "Micro-F1", "Gap", "95% range", "Mistakes"]
    web = np.arange(len(table)) % 3 == 0
    assert got.display.set_index("Slice").loc["web", "Micro-F1"] == pytest.approx(f1_score(table.gold_matrix[web], table.pred_matrix[web], average="micro"))


def test_overview_headline_says_where_the_thresholds_came_from(table):
    tuned = Thresholds(TAGS, (0.4, 0.5, 0.6, 0.5), "tuned on val.csv (each label's F1-best threshold)")
    t = multi_table(thresholds=tuned)
    h = headline(t)
    assert h.multi_label and h.thresholds == "thresholds: tuned on val.csv (each label's F1-best threshold)"
    assert h.per_label["threshold"].tolist() == pytest.approx([0.4, 0.5, 0.6, 0.5])
    assert h.macro_f1_ci == h.intervals["macro_f1"]
    lo, hi = h.accuracy_ci
    assert lo <= h.metrics.accuracy <= hi
    assert headline(table).thresholds == "thresholds: default (0.5 for every label)"
    balance = class_balance([t])
    assert balance.gold.tolist() == t.gold_matrix.sum(axis=0).tolist()
    assert balance.predicted["tiny-ml"].tolist() == t.pred_matrix.sum(axis=0).tolist()


def test_errors_two_by_two_cells_list_the_right_rows(table):
    summary = errors_summary(table)
    assert summary.multi_label and summary.top_confusion is None
    outcome = label_outcome(summary, "insult")
    c = TAGS.index("insult")
    g, p = table.gold_matrix[:, c], table.pred_matrix[:, c]
    assert outcome.counts.tolist() == [[int((g & p).sum()), int((g & ~p).sum())], [int((~g & p).sum()), int((~g & ~p).sum())]]
    options = label_cell_options(outcome)
    assert options[:2] == [ALL_MISTAKES, ALL_EXAMPLES]
    missed = next(o for o in options if o.startswith("insult: missed"))
    mask, heading = label_cell_selection(table, outcome, [], missed)
    np.testing.assert_array_equal(mask, g & ~p)
    assert "gold insult → predicted not insult" in heading
    mask, heading = label_cell_selection(table, outcome, [("not insult", "insult")], ALL_MISTAKES)  # a click wins
    np.testing.assert_array_equal(mask, ~g & p)
    assert heading.startswith("Clicked")
    listed = examples_of(table, mask)
    assert sorted(listed.index) == np.flatnonzero(~g & p).tolist()
    assert {"missed", "false_positive", "p_gold", "correct"} <= set(listed.columns)
    assert all("insult" in fp.split(" | ") for fp in listed["false_positive"])
    probs = example_probabilities(table, int(listed.index[0]))
    assert probs["predicted"].tolist() == table.pred_matrix[int(listed.index[0])].tolist()


def test_explore_filters_by_label_gold_predicted_missed_or_false_positive(table):
    g, p = table.gold_matrix, table.pred_matrix
    cases = {
        ExampleFilter(gold=("threat",)): g[:, 2],
        ExampleFilter(pred=("toxic", "spam")): p[:, 0] | p[:, 3],
        ExampleFilter(missed=("toxic",)): g[:, 0] & ~p[:, 0],
        ExampleFilter(false_positive=("spam",)): p[:, 3] & ~g[:, 3],
    }
    for flt, expected in cases.items():
        assert sorted(browse_examples(table, flt).index) == np.flatnonzero(expected).tolist(), flt.describe()
    assert ExampleFilter(missed=("toxic",), false_positive=("spam",)).describe() == "missed toxic; false positive spam"


def test_pair_tables_show_both_texts_and_search_and_length_read_both():
    pairs = multi_table(pair=True)
    shown = browse_examples(pairs)
    assert list(shown.columns[:3]) == ["text", "text_pair", "gold"]
    assert examples_of(pairs, np.ones(len(pairs), dtype=bool)).columns[1] == "text_pair"
    assert confident_mistakes(pairs).columns[1] == "text_pair"
    found = browse_examples(pairs, ExampleFilter(search="second 3")).index
    assert found.tolist() == [i for i in range(len(pairs)) if i % 5 == 3]
    (with_kw, without) = keyword_slices(pairs.frame, ["second"])
    assert with_kw.size == len(pairs) and without.size == 0
    lengths = pd.Series(pairs.frame["text"].str.split().str.len() + 2)  # "second k" is two words
    assert length_slices(pairs.frame, bins=2)[0].mask.sum() == (lengths <= lengths.quantile(0.5)).sum()


def test_cooccurrence_heatmap_and_per_label_reliability_figure_carry_the_counts(table):
    from analysis.figures import cooccurrence_figure, reliability_figure

    co = label_cooccurrence(table)
    fig = cooccurrence_figure(co.missed, TAGS, title="Missed together")
    (trace,) = fig.data
    assert trace.type == "heatmap" and list(trace.x) == list(TAGS) and list(trace.y) == list(TAGS)
    assert np.array(trace.z).tolist() == co.missed.tolist()
    assert [list(row) for row in trace.text][1][2] == f"{co.missed[1, 2]:,}"
    with pytest.raises(ValueError, match="4×4"):
        cooccurrence_figure(co.missed[:3], TAGS, title="x")
    cal = table_calibration(table).of("spam")
    fig = reliability_figure(cal, label="spam")
    assert fig.layout.xaxis.title.text == "Probability of 'spam'"
    assert fig.layout.yaxis.title.text == "Share of examples where 'spam' is gold"
    filled = cal.table[cal.table["count"] > 0]
    assert list(fig.data[0].y) == filled["accuracy"].tolist()
    assert fig.layout.xaxis.range[0] < 0  # a label's probabilities start at 0, not at the 0.5 a predicted label's confidence does


def test_the_slice_chart_of_a_multi_label_table_says_subset_accuracy_and_carries_micro_f1(table):
    from analysis.figures import slice_accuracy_figure

    got = error_slices(table, "metadata", "source")
    fig = slice_accuracy_figure(got.rows, got.overall)
    assert fig.layout.xaxis.title.text == "Subset accuracy" and fig.layout.title.text == "Subset accuracy by source"
    assert [c[4] for c in fig.data[0].customdata] == got.rows["micro_f1"].tolist()
    assert "micro-F1" in fig.data[0].hovertemplate
