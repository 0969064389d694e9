"""Label issues: confident learning is exactly cleanlab's own call, planted wrong labels come first with the right
suggestion, neighbour hints merge in with a column naming the method, and other tasks are refused with a message."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from cleanlab.filter import find_label_issues

from analysis.synthetic import table_from_arrays
from models.task import MULTI_LABEL
from probes.embeddings import index_from_vectors
from quality.label_issues import NotSingleLabelError, confident_learning, find_issues

LABELS = ("neg", "neu", "pos")


def planted(seed: int = 0):
    """300 rows, 3 classes; the model is mostly right with ~0.8 confidence; rows 7, 150 and 222 carry a gold label the
    model (confidently) disagrees with."""
    rng = np.random.default_rng(seed)
    gold = np.repeat([0, 1, 2], 100)
    probs = rng.dirichlet([1, 1, 1], size=300) * 0.3
    probs[np.arange(300), gold] += 0.7
    wrong = {7: 2, 150: 0, 222: 1}  # row -> the label the text really has
    for row, real in wrong.items():
        probs[row] = 0.02
        probs[row, real] = 0.96
    return table_from_arrays(probs, gold, LABELS, texts=[f"text {i}" for i in range(300)]), wrong


def test_confident_learning_is_cleanlabs_own_call_and_finds_the_planted_labels():
    table, wrong = planted()
    expected = find_label_issues(labels=table.gold_idx, pred_probs=table.probs, return_indices_ranked_by="self_confidence")
    assert confident_learning(table).tolist() == expected.tolist()
    issues = find_issues(table)
    assert issues.frame["row"].tolist() == expected.tolist() and issues.confident_learning_count == len(expected)
    assert set(issues.frame["row"].head(3)) == set(wrong)
    top = issues.frame.set_index("row")
    for row, real in wrong.items():
        assert top.loc[row, "suggested"] == LABELS[real] and top.loc[row, "flagged_by"] == "confident learning"
        assert top.loc[row, "gold_probability"] == pytest.approx(0.02, abs=1e-6)
    assert issues.rate == pytest.approx(len(expected) / 300) and issues.neighbour_count is None


def test_neighbour_hints_merge_in_and_rows_both_methods_flag_rank_first():
    table, wrong = planted()
    # Embeddings: one tight cluster per *real* label, so rows 7, 150, 222 sit among neighbours of their real label;
    # row 5 is put in the "pos" cluster although the model is right about it: only the neighbours flag it.
    rng = np.random.default_rng(1)
    real = table.gold_idx.copy()
    for row, label in wrong.items():
        real[row] = label
    real[5] = 2
    vectors = np.eye(3)[real] * 10 + rng.normal(scale=0.1, size=(300, 3))
    issues = find_issues(table, index_from_vectors(vectors, table), k=10, threshold=0.7)
    frame = issues.frame.set_index("row")
    assert set(issues.frame["row"].head(3)) == set(wrong)
    assert (frame.loc[list(wrong), "flagged_by"] == "confident learning + neighbours").all()
    assert frame.loc[5, "flagged_by"] == "neighbours" and frame.loc[5, "suggested"] == "pos" and frame.loc[5, "neighbour_agreement"] == 1.0
    assert issues.frame["rank"].tolist() == list(range(1, len(issues.frame) + 1))
    assert issues.neighbour_count is not None and "the embedding neighbours flag" in issues.summary()


def test_other_tasks_are_refused_with_a_clear_message():
    table, _ = planted()
    multi = dataclasses.replace(table, probs=np.full_like(table.probs, 0.9), gold=np.eye(3, dtype=bool)[table.gold], task=MULTI_LABEL)
    with pytest.raises(NotSingleLabelError, match="not available for this task"):
        find_issues(multi)
    with pytest.raises(NotSingleLabelError, match="single-label checkpoint"):  # a table whose rows are not one softmax
        confident_learning(dataclasses.replace(table, probs=np.full_like(table.probs, 0.9)))


def test_on_a_large_set_the_neighbour_hints_look_at_a_sample_and_the_summary_says_so(monkeypatch):
    """All-against-all neighbours grow with n² (2 minutes at 100k rows here): past the sample size only a seeded sample is looked at."""
    import probes.embeddings

    table, wrong = planted()
    rng = np.random.default_rng(1)
    real = table.gold_idx.copy()
    for row, label in wrong.items():
        real[row] = label
    vectors = np.eye(3)[real] * 10 + rng.normal(scale=0.1, size=(300, 3))
    index = index_from_vectors(vectors, table)
    monkeypatch.setattr(probes.embeddings, "LABEL_NOISE_SAMPLE", 100)
    issues = find_issues(table, index, k=10, threshold=0.7)
    looked = set(np.random.default_rng(0).choice(300, 100, replace=False).tolist())
    by_neighbours = set(issues.frame.loc[issues.frame["flagged_by"].str.contains("neighbours"), "row"])
    assert by_neighbours == set(wrong) & looked  # the planted rows the sample holds, nothing outside it
    assert issues.neighbour_sample == 100 and "(of a random sample of 100 examples they looked at)" in issues.summary()
    monkeypatch.setattr(probes.embeddings, "LABEL_NOISE_SAMPLE", 300)
    assert find_issues(table, index, k=10, threshold=0.7).neighbour_sample is None
