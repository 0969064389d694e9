"""Metrics and calibration against values worked out by hand."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from analysis.metrics import (
    calibration,
    classification_metrics,
    confusion,
    describe_calibration,
    expected_calibration_error,
    reliability_table,
    table_calibration,
    table_metrics,
)
from analysis.synthetic import probs_for, table_from_arrays

LABELS = ("a", "b", "c")
GOLD = ["a", "a", "a", "b", "b", "c"]
PRED = ["a", "a", "b", "b", "c", "c"]


def test_known_confusion_rows_are_gold_columns_are_predicted():
    assert confusion(GOLD, PRED, LABELS).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_per_class_and_macro_f1_by_hand():
    m = classification_metrics(GOLD, PRED, LABELS)
    assert m.accuracy == pytest.approx(4 / 6)
    pc = m.per_class
    # a: P = 2/2, R = 2/3, F1 = 0.8 ; b: P = 1/2, R = 1/2 ; c: P = 1/2, R = 1, F1 = 2/3
    assert pc.loc["a", ["precision", "recall", "f1"]].tolist() == pytest.approx([1.0, 2 / 3, 0.8])
    assert pc.loc["b", ["precision", "recall", "f1"]].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert pc.loc["c", ["precision", "recall", "f1"]].tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    assert pc["support"].tolist() == [3, 2, 1]
    assert pc["predicted"].tolist() == [2, 2, 2]
    assert m.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m.macro_f1 == pytest.approx(f1_score(GOLD, PRED, average="macro"))
    assert m.n == 6 and m.labels == LABELS


def test_indices_and_names_give_the_same_metrics():
    by_name = classification_metrics(GOLD, PRED, LABELS)
    by_index = classification_metrics([LABELS.index(g) for g in GOLD], [LABELS.index(p) for p in PRED], LABELS)
    assert by_name.as_dict() == by_index.as_dict()


def test_a_class_absent_from_gold_and_predictions_does_not_drag_macro_f1():
    m = classification_metrics([0, 1, 1], [0, 1, 1], ("x", "y", "never"))
    assert m.macro_f1 == pytest.approx(1.0)
    assert m.per_class.loc["never"].tolist() == [0.0, 0.0, 0.0, 0, 0]


def test_a_never_predicted_class_counts_as_zero_f1():
    m = classification_metrics([0, 1, 2], [0, 1, 1], ("x", "y", "z"))
    assert m.per_class.loc["z", "precision"] == 0.0 and m.per_class.loc["z", "recall"] == 0.0
    assert m.macro_f1 == pytest.approx((1 + 2 / 3 + 0) / 3)  # y: P = 1/2, R = 1


def test_unknown_label_is_refused():
    with pytest.raises(ValueError, match="'q'"):
        classification_metrics(["a", "q"], ["a", "a"], LABELS)


def test_table_metrics_match_direct_metrics():
    probs = probs_for([0, 0, 1, 1, 2, 2], 3, 0.8)
    table = table_from_arrays(probs, GOLD, LABELS)
    assert table_metrics(table).as_dict() == classification_metrics(GOLD, PRED, LABELS).as_dict()


def test_ece_by_hand():
    conf = np.array([0.55, 0.65, 0.95, 0.99])
    correct = np.array([1, 0, 1, 1])
    # bins (0.5,0.6]: acc 1, conf .55 -> .45; (0.6,0.7]: acc 0, conf .65 -> .65; (0.9,1]: acc 1, conf .97 -> .03
    expected = (0.45 + 0.65 + 2 * 0.03) / 4
    assert expected_calibration_error(conf, correct) == pytest.approx(expected)
    cal = calibration(conf, correct)
    assert cal.ece == pytest.approx(expected)
    assert cal.max_gap == pytest.approx(0.65)
    assert cal.n == 4


def test_reliability_bins_are_left_open_right_closed_and_keep_empty_bins():
    table = reliability_table([0.0, 0.1, 0.3, 0.7, 0.8, 1.0], [1, 1, 1, 1, 1, 1], n_bins=10)
    assert len(table) == 10
    assert table["count"].sum() == 6
    counts = dict(zip(table["bin"], table["count"]))
    assert counts["0.00–0.10"] == 2  # 0.0 and 0.1
    assert counts["0.20–0.30"] == 1  # 0.3 sits at the top of its bin, not the bottom of the next
    assert counts["0.60–0.70"] == 1 and counts["0.70–0.80"] == 1 and counts["0.90–1.00"] == 1
    assert table.loc[table["count"] == 0, "accuracy"].isna().all()


def test_perfectly_calibrated_predictions_have_zero_ece():
    conf = np.full(10, 0.8)
    correct = np.array([1] * 8 + [0] * 2)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)
    assert "well calibrated" in describe_calibration(calibration(conf, correct))


def test_overconfident_model_is_described_as_such():
    cal = calibration(np.full(10, 0.95), np.array([1] * 6 + [0] * 4))
    assert cal.ece == pytest.approx(0.35)
    text = describe_calibration(cal)
    assert "over-confident" in text and "0.350" in text


def test_table_calibration_uses_the_predicted_label_probability():
    probs = probs_for([0, 1, 1, 0], 2, [0.9, 0.6, 0.7, 0.55])
    table = table_from_arrays(probs, [0, 1, 0, 0], ("neg", "pos"))
    cal = table_calibration(table)
    assert cal.table["count"].sum() == 4
    # (0.5, 0.6]: 0.55 and 0.6 (float32, still in this bin), both right -> |1 - 0.575| * 2
    # (0.6, 0.7]: 0.7 wrong -> 0.7 ; (0.8, 0.9]: 0.9 right -> 0.1
    assert cal.ece == pytest.approx((0.45 + 0.4 + 0.7 + 0.1) / 4)
