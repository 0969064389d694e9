"""Word-level before/after explanation differences, on hand-made attributions."""

import re

import numpy as np
import pytest

from analysis.attribution_diff import attribution_change, biggest_changes, describe_change
from analysis.figures import AGAINST, TOWARD, attribution_change_figure
from explain.attribution import Attribution, Token

LABELS = ("neg", "pos")


def attribution(text, pieces, pos_scores, method="shap"):
    tokens, start = [], 0
    for piece in pieces:
        tokens.append(Token(piece, start, start + len(piece)))
        start += len(piece)
    scores = np.column_stack([-np.asarray(pos_scores, float), np.asarray(pos_scores, float)])
    return Attribution(text, tuple(tokens), LABELS, scores, np.zeros(2), np.array([0.5, 0.5]), "pos", method, {}, 1, 0.0, "fp")


TEXT = "good not good"


def test_change_per_word_even_when_tokenizers_split_differently():
    before = attribution(TEXT, ["good", " ", "not", " ", "good"], [0.3, 0, -0.1, 0, 0.3])
    after = attribution(TEXT, ["go", "od", " not", " ", "good"], [0.1, 0.1, -0.5, 0, 0.45])  # sub-words sum per word
    change = attribution_change(before, after, "pos")
    assert change["word"].tolist() == ["good", "not", "good (2nd)"]
    assert change["before"].tolist() == pytest.approx([0.3, -0.1, 0.3])
    assert change["after"].tolist() == pytest.approx([0.2, -0.5, 0.45])
    assert change["change"].tolist() == pytest.approx([-0.1, -0.4, 0.15])
    neg = attribution_change(before, after, "neg")
    assert neg["change"].tolist() == pytest.approx([0.1, 0.4, -0.15])
    assert biggest_changes(change, k=2)["word"].tolist() == ["not", "good (2nd)"]
    text = describe_change(change, "pos", "base", "tuned")
    assert "'tuned' leans more on 'good (2nd)' toward 'pos'" in text and "less on 'not', 'good'" in text


def test_different_texts_or_methods_are_refused():
    a = attribution(TEXT, [TEXT], [0.1])
    with pytest.raises(ValueError, match="different texts"):
        attribution_change(a, attribution("other", ["other"], [0.1]), "pos")
    with pytest.raises(ValueError, match="different methods"):
        attribution_change(a, attribution(TEXT, [TEXT], [0.1], method="lime"), "pos")


def pair_attribution(first_scores, second_scores, second="not good"):
    """'good not good' + `second`, one token per word (with the space before it) in each segment, with these scores toward 'pos'."""
    tokens = [Token(m.group(), m.start(), m.end(), segment) for segment, text in ((0, TEXT), (1, second)) for m in re.finditer(r"\s*\S+", text)]
    pos = np.asarray([*first_scores, *second_scores], float)
    scores = np.column_stack([-pos, pos])
    return Attribution(TEXT, tuple(tokens), LABELS, scores, np.zeros(2), np.array([0.5, 0.5]), "pos", "ig", {}, 1, 0.0, "fp", text_pair=second)


def test_a_sentence_pair_is_compared_over_both_texts():
    # the second text's 'good' is a word of its own: it must neither merge with the first text's 'good's nor be dropped
    before = pair_attribution([0.3, -0.1, 0.3], [0.0, 0.2])
    after = pair_attribution([0.1, -0.1, 0.3], [-0.3, 0.6])
    change = attribution_change(before, after, "pos")
    assert change["word"].tolist() == ["good", "not", "good (2nd)", "not (second text)", "good (second text)"]
    assert change["change"].tolist() == pytest.approx([-0.2, 0.0, 0.0, -0.3, 0.4])
    assert change["start"].tolist() == [0, 5, 9, 0, 4]  # spans into each segment's own text
    assert biggest_changes(change, k=1)["word"].tolist() == ["good (second text)"]
    with pytest.raises(ValueError, match="different texts"):
        attribution_change(before, pair_attribution([0.3, -0.1, 0.3], [0.0, 0.2], second="not bad"), "pos")


def test_identical_explanations_are_described_as_unchanged():
    a = attribution(TEXT, [TEXT], [0.2])
    assert "the same way" in describe_change(attribution_change(a, a, "pos"), "pos")


def test_change_figure_biggest_on_top_coloured_by_direction():
    before = attribution(TEXT, ["good", " ", "not", " ", "good"], [0.3, 0, -0.1, 0, 0.3])
    after = attribution(TEXT, ["good", " ", "not", " ", "good"], [0.2, 0, -0.5, 0, 0.45])
    fig = attribution_change_figure(attribution_change(before, after, "pos"), "pos", before_name="base", after_name="tuned")
    bar = fig.data[0]
    assert list(bar.y) == ["good", "good (2nd)", "not"]  # reversed: the biggest change is drawn at the top
    assert list(bar.x) == pytest.approx([-0.1, 0.15, -0.4])
    assert list(bar.marker.color) == [AGAINST, TOWARD, AGAINST]
    assert "tuned − base" in fig.layout.title.text
