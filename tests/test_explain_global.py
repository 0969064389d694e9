"""Global token importance: exact per-class statistics, spurious-cue flags, drill-down, sampling and cost."""

from __future__ import annotations

import pandas as pd
import pytest
from attr_factory import make_attribution

from explain.attribution import Token
from explain.global_importance import (
    estimate_cost,
    global_comparison_figure,
    global_importance,
    global_importance_figure,
    name_hints_from_metadata,
    sample_indices,
    unit_scores,
)

A = make_attribution("Great film! Maria loved it.", {"Great": 0.5, "film!": 0.3, "Maria": 0.2, "loved": 0.4, "it.": 0.0})
B = make_attribution("A great cast but Maria was bored", {"great": 0.1, "Maria": -0.4, "bored": -0.5, "A": 0.0})
C = make_attribution("Rated 10 out of 10", {"10": 0.2})


def row(gi, label, word):
    table = gi.table
    return table[(table["label"] == label) & (table["word"] == word)].iloc[0]


def test_per_class_statistics_are_exact():
    gi = global_importance({7: A, 9: B, 11: C})
    great = row(gi, "positive", "great")  # "Great" and "great" merge when lower-cased
    assert great["count"] == 2 and great["n_examples"] == 2
    assert great["mean_signed"] == pytest.approx(0.3) and great["mean_abs"] == pytest.approx(0.3) and great["total_abs"] == pytest.approx(0.6)
    maria = row(gi, "positive", "maria")
    assert maria["mean_signed"] == pytest.approx(-0.1) and maria["mean_abs"] == pytest.approx(0.3)
    assert row(gi, "negative", "maria")["mean_signed"] == pytest.approx(0.1)  # the other class sees the mirror image
    ten = row(gi, "positive", "10")
    assert ten["count"] == 2 and ten["n_examples"] == 1 and ten["mean_signed"] == pytest.approx(0.2)
    assert gi.n_examples == 3 and gi.method == "shap" and gi.labels == ("negative", "positive")


def test_a_token_score_is_shared_between_the_units_it_covers():
    units, scores = unit_scores(A)
    by_unit = {u[0]: s for u, s in zip(units, scores[:, 1])}
    assert by_unit["film"] == pytest.approx(0.3 * 4 / 5) and by_unit["!"] == pytest.approx(0.3 * 1 / 5)
    assert scores[:, 1].sum() == pytest.approx(A.scores[:, 1].sum())  # nothing lost, nothing counted twice


def test_subword_pieces_add_up_to_their_word():
    text = "unbelievably good"
    tokens = [Token("un", 0, 2), Token("believ", 2, 8), Token("ably", 8, 12), Token(" good", 12, 17)]
    attribution = make_attribution(text, {"un": -0.2, "believ": 0.1, "ably": 0.05, "good": 0.3}, tokens=tokens)
    units, scores = unit_scores(attribution)
    assert [u[0] for u in units] == ["unbelievably", "good"]
    assert scores[:, 1] == pytest.approx([-0.05, 0.3])


def test_the_unexplained_tail_of_a_truncated_text_is_left_out():
    text = "good film and then a very long tail"
    tokens = [Token("good", 0, 4), Token(" film", 4, 9), Token(text[9:], 9, len(text))]
    attribution = make_attribution(text, {"good": 0.4, "film": 0.1}, tokens=tokens, truncated=True)
    units, _ = unit_scores(attribution)
    assert [u[0] for u in units] == ["good", "film"]


def test_spurious_cues_are_flagged_with_a_reason():
    gi = global_importance([A, B, C], name_hints={"Maria": "actor"})
    assert row(gi, "positive", "!")["cue"] == "punctuation"
    assert row(gi, "positive", "10")["cue"] == "number"
    maria = row(gi, "positive", "maria")
    assert maria["cue"] == "name" and "metadata column 'actor'" in maria["cue_reason"]
    assert row(gi, "positive", "great")["cue"] == ""  # sentence-initial capital is not a name
    without_hints = global_importance([A, B])  # after "!" Maria starts a sentence; in B it is mid-sentence
    assert "capitalised mid-sentence in 1 of 2 uses" in row(without_hints, "positive", "maria")["cue_reason"]


def test_pronoun_i_and_acronyms_are_not_taken_for_names():
    gi = global_importance([make_attribution("Honestly I think the BBC did well", {})])
    assert row(gi, "positive", "i")["cue"] == "" and row(gi, "positive", "bbc")["cue"] == ""


def test_sorting_filters_and_drill_down():
    gi = global_importance({7: A, 9: B, 11: C})
    by_impact = gi.for_label("positive", by="total_abs")
    assert by_impact["word"].iloc[0] == "great"  # 0.6 in total
    by_strength = gi.for_label("positive", by="mean_abs")
    assert by_strength["word"].iloc[0] == "bored"  # 0.5 once
    assert list(gi.for_label("positive", min_count=2)["word"]) == ["great", "maria", "10"]
    assert set(gi.for_label("positive", flagged_only=True)["cue"]) == {"punctuation", "number", "name"}
    with pytest.raises(KeyError, match="Unknown label"):
        gi.for_label("neutral")
    drill = gi.examples_with("Maria")
    assert list(drill["example"]) == [9, 7]  # strongest effect first, ids point back to the dataset
    assert list(drill["score_positive"]) == pytest.approx([-0.4, 0.2])
    assert list(drill["occurrences"]) == [1, 1]
    assert gi.examples_with("absent").empty


def test_mixed_methods_or_label_sets_are_refused_clearly():
    with pytest.raises(ValueError, match="mix methods"):
        global_importance([A, make_attribution("x y", method="lime")])
    with pytest.raises(ValueError, match="different labels"):
        global_importance([A, make_attribution("x y", labels=("a", "b", "c"))])
    with pytest.raises(ValueError, match="at least one example"):
        global_importance([])


def test_figure_shows_signed_means_counts_and_flags():
    gi = global_importance({7: A, 9: B, 11: C}, name_hints={"maria": "actor"})
    fig = global_importance_figure(gi, "positive", k=3, min_count=2)
    bar = fig.data[0]
    assert list(bar.y) == ["⚠ 10", "⚠ maria", "great"]  # strongest at the top (plotly draws bottom-up)
    assert list(bar.x) == pytest.approx([0.2, -0.1, 0.3])
    assert list(bar.text) == ["n=2", "n=2", "n=2"]
    assert list(bar.marker.pattern.shape) == ["/", "/", ""]
    assert "3 examples" in fig.layout.title.text
    empty = global_importance_figure(gi, "positive", min_count=50)
    assert "No word occurs at least 50 times" in empty.layout.annotations[0].text


def test_comparison_figure_aligns_the_same_words_across_checkpoints():
    before = global_importance([A, B])
    after = global_importance([make_attribution("Great film! Maria loved it.", {"Great": 0.9}), B])
    fig = global_comparison_figure({"before": before, "after": after}, "positive", k=2, min_count=1)
    assert [t.name for t in fig.data] == ["before", "after"]
    assert list(fig.data[0].y) == list(fig.data[1].y)
    great = list(fig.data[1].y).index("great")
    assert fig.data[1].x[great] == pytest.approx(0.5) and fig.data[0].x[great] == pytest.approx(0.3)


def test_name_hints_come_from_text_metadata_columns():
    frame = pd.DataFrame({"text": ["x"], "movie_name": ["The Godfather Part II"], "n_words": [3]})
    assert name_hints_from_metadata(frame) == {"the": "movie_name", "godfather": "movie_name", "part": "movie_name"}


def test_sample_is_reproducible_stratified_and_bounded():
    gold = ["a"] * 50 + ["b"] * 45 + ["c"] * 5
    sample = sample_indices(gold, 20, seed=1)
    assert sample == sample_indices(gold, 20, seed=1) and len(sample) == 20 == len(set(sample))
    counts = pd.Series([gold[i] for i in sample]).value_counts()
    assert counts["a"] == 10 and counts["b"] == 9 and counts["c"] == 1
    assert sample_indices(gold, 1000) == list(range(100))
    assert len(sample_indices(gold, 2)) == 2 and sample_indices(gold, 0) == []
    assert {gold[i] for i in sample_indices(gold, 3)} == {"a", "b", "c"}  # every class as soon as possible
    for small, large in ((5, 20), (20, 21), (21, 77)):
        assert set(sample_indices(gold, small, seed=1)) <= set(sample_indices(gold, large, seed=1))  # nested: cache reuse


def test_cost_is_stated_before_computing():
    cost = estimate_cost(200, 50, 500, 1.5)
    assert cost.n_missing == 150 and cost.n_model_calls == 75_000 and cost.seconds == pytest.approx(225)
    assert cost.describe() == "150 of 200 examples still need an explanation (50 are cached), about 75,000 model calls, roughly 4 min on this machine."
    assert estimate_cost(10, 10, 500).describe() == "All 10 explanations are already cached: showing them is instant."
    assert "roughly" not in estimate_cost(10, 0, 500).describe()


def test_drill_down_joins_the_examples_and_flags_are_summarised():
    from explain.global_importance import drill_down, flagged_summary

    gi = global_importance({0: A, 1: B, 2: C})
    frame = pd.DataFrame(
        {"text": [A.text, B.text, C.text], "gold": ["positive", "negative", "positive"], "pred": ["positive"] * 3, "confidence": [0.9, 0.6, 0.7]}
    )
    rows = drill_down(gi, "maria", frame)
    assert rows.index.tolist() == [1, 0] and rows.index.name == "example"
    assert rows["text"].tolist() == [B.text, A.text] and rows["score_positive"].tolist() == pytest.approx([-0.4, 0.2])
    assert drill_down(gi, "absent", frame).empty
    lines = flagged_summary(gi, "positive", k=5, min_count=2)
    assert lines == [
        "'maria' pushes against 'positive' (2×): looks like a name (capitalised mid-sentence in 1 of 2 uses).",
        "'10' pushes toward 'positive' (2×): a number: check it is not a score, date or ID leaking the answer.",
    ]


def test_a_sample_of_every_row_is_every_row_in_order():
    from explain.global_importance import sample_order

    gold = ["b", "a", "a", "c", "b", "a", "a"]
    assert sample_indices(gold, len(gold)) == sorted(sample_order(gold, seed=3)) == list(range(len(gold)))
    assert sample_indices(gold, 99, seed=3) == list(range(len(gold)))
