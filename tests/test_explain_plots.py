"""Figures for one explanation: what a person sees (colours, words, hover values), read from the figure data."""

from __future__ import annotations

import functools
import operator

import numpy as np
import pytest
from attr_factory import make_attribution, tokens_of

from explain.attribution import Attribution, Token
from explain.plots import (
    AGAINST,
    TOWARD,
    deletion_curve_figure,
    layout_text,
    probability_figure,
    token_heat_comparison,
    token_heat_figure,
    top_tokens_figure,
    top_words,
)

TEXT = "The acting was great, the plot awful."
SCORES = {"The": 0.01, "acting": 0.05, "was": 0.0, "great,": 0.4, "the": -0.02, "plot": 0.03, "awful.": -0.3}


def test_heat_colours_every_visible_token_by_its_exact_score_centred_at_zero():
    attribution = make_attribution(TEXT, SCORES)
    fig = token_heat_figure(attribution)
    bar = fig.data[0]
    assert list(bar.text) == ["The", "acting", "was", "great,", "the", "plot", "awful."]
    assert list(bar.marker.color) == pytest.approx([0.01, 0.05, 0.0, 0.4, -0.02, 0.03, -0.3])
    axis = fig.layout.coloraxis
    assert axis.cmid == 0 and axis.cmin == pytest.approx(-0.4) and axis.cmax == pytest.approx(0.4)
    assert axis.colorscale[0][1] != axis.colorscale[-1][1]  # a diverging scale, blue to red
    # hover shows the token and its exact value (4 decimals, signed)
    assert [c[0] for c in bar.customdata] == list(bar.text)
    assert bar.customdata[3][1] == pytest.approx(0.4)
    assert "%{customdata[1]:+.4f}" in bar.hovertemplate and "'positive'" in bar.hovertemplate
    # bars sit under their characters: column of each token in the one line
    assert list(bar.base) == [0, 4, 11, 15, 22, 26, 31]
    assert list(bar.x) == [3, 6, 3, 6, 3, 4, 6]
    assert set(bar.y) == {0}


def test_heat_for_another_class_flips_the_colours():
    attribution = make_attribution(TEXT, SCORES)
    fig = token_heat_figure(attribution, "negative")
    assert list(fig.data[0].marker.color) == pytest.approx([-0.01, -0.05, 0.0, -0.4, 0.02, -0.03, 0.3])
    assert "why 'negative'" in fig.layout.title.text


def test_long_text_wraps_at_spaces_and_keeps_every_character_in_order():
    words = [f"word{i}" for i in range(60)]
    text = " ".join(words)
    attribution = make_attribution(text)
    fig = token_heat_figure(attribution, width=40)
    bar = fig.data[0]
    lines = {}
    for y, base, shown in zip(bar.y, bar.base, bar.text):
        assert base + len(shown) <= 40  # nothing runs past the right edge
        lines.setdefault(y, []).append((base, shown))
    assert len(lines) > 5
    rebuilt = " ".join(" ".join(s for _, s in sorted(lines[y])) for y in sorted(lines))
    assert rebuilt == text  # wrapped only at spaces, nothing lost or reordered
    assert fig.layout.height > 110 + 30 * 5  # taller figure for more lines


def test_layout_breaks_on_newlines_and_cuts_overlong_runs():
    text = "short line\nhttps://example.org/a/very/long/address/that/never/ends ok"
    segments, n_lines = layout_text(text, tokens_of(text), width=20)
    by_line = {}
    for s in segments:
        by_line.setdefault(s.line, []).append(s.text)
    assert by_line[0] == ["short", "line"]
    assert "".join(by_line[1] + by_line[2]).startswith("https://example.org/a/very")
    assert max(len(t) for t in functools.reduce(operator.iadd, by_line.values(), [])) <= 20
    assert by_line[n_lines - 1][-1] == "ok"


def test_subword_pieces_stay_together_on_one_line():
    text = "unbelievably good"
    tokens = [Token("un", 0, 2), Token("believ", 2, 8), Token("ably", 8, 12), Token(" good", 12, 17)]
    attribution = make_attribution(text, {"un": -0.2, "believ": 0.1, "ably": 0.05, "good": 0.3}, tokens=tokens)
    fig = token_heat_figure(attribution, width=14)
    bar = fig.data[0]
    assert list(bar.text) == ["un", "believ", "ably", "good"]
    assert list(bar.y) == [0, 0, 0, 1]
    assert list(bar.base) == [0, 2, 8, 0]


def test_accents_and_emoji_are_shown_as_written():
    text = "Café crème 🎬 déjà vu"
    fig = token_heat_figure(make_attribution(text))
    assert list(fig.data[0].text) == ["Café", "crème", "🎬", "déjà", "vu"]


def test_truncated_text_says_so_in_the_title():
    text = "good film " * 5
    attribution = make_attribution(text.strip(), truncated=True)
    assert "longer than the model reads" in token_heat_figure(attribution).layout.title.text


def test_comparison_puts_each_method_in_its_own_panel_with_its_own_scale():
    shap_attr = make_attribution(TEXT, SCORES, method="shap")
    lime_attr = make_attribution(TEXT, {k: 10 * v for k, v in SCORES.items()}, method="lime")
    fig = token_heat_comparison([shap_attr, lime_attr])
    assert [t.name for t in fig.data] == ["SHAP", "LIME"]
    assert fig.data[0].marker.coloraxis == "coloraxis" and fig.data[1].marker.coloraxis == "coloraxis2"
    assert fig.layout.coloraxis.cmax == pytest.approx(0.4) and fig.layout.coloraxis2.cmax == pytest.approx(4.0)
    assert fig.data[0].xaxis == "x" and fig.data[1].xaxis == "x2"
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("SHAP") and titles[1].startswith("LIME")


def test_all_zero_scores_still_draw_a_valid_scale():
    fig = token_heat_figure(make_attribution("nothing matters here", {}))
    assert fig.layout.coloraxis.cmax == 1.0 and list(fig.data[0].marker.color) == [0, 0, 0]


def test_top_tokens_for_and_against_in_order_with_exact_values():
    attribution = make_attribution(TEXT, SCORES)
    toward, against = top_words(attribution, k=2)
    assert toward == [("great", pytest.approx(0.4)), ("acting", pytest.approx(0.05))]
    assert against == [("awful", pytest.approx(-0.3)), ("the", pytest.approx(-0.02))]
    fig = top_tokens_figure(attribution, k=2)
    bar = fig.data[0]
    assert list(bar.y) == ["awful", "the", "acting", "great"]
    assert list(bar.x) == pytest.approx([-0.3, -0.02, 0.05, 0.4])
    assert list(bar.marker.color) == [AGAINST, AGAINST, TOWARD, TOWARD]
    assert list(bar.text) == ["-0.3000", "-0.0200", "+0.0500", "+0.4000"]
    assert "against 'positive'" in fig.layout.xaxis.title.text


@pytest.mark.parametrize(
    ("method", "unit"),
    [
        ("shap", "SHAP value (probability points)"),
        ("lime", "LIME weight"),
        ("ig", "Integrated Gradients score (probability points)"),
        ("grad_input", "Gradient × Input score"),
    ],
)
def test_the_bars_axis_names_the_method_s_own_unit(method, unit):
    """The failure: Integrated Gradients' bars were labelled 'LIME weight' (every method but SHAP was)."""
    fig = top_tokens_figure(make_attribution(TEXT, SCORES, method=method), k=2)
    assert fig.layout.xaxis.title.text.startswith(f"{unit}: ← against 'positive'")


def test_a_repeated_word_is_listed_per_occurrence_not_merged():
    text = "good, good and bad"
    tokens = tokens_of(text)
    attribution = make_attribution(text, tokens=tokens, scores=None, seed=3)
    scores = np.array([[-0.2, 0.2], [-0.1, 0.1], [0.0, 0.0], [0.3, -0.3]])
    attribution = Attribution.from_dict({**attribution.to_dict(), "scores": scores.tolist()})
    toward, against = top_words(attribution)
    assert [w for w, _ in toward] == ["good", "good (2nd)"]
    assert [w for w, _ in against] == ["bad"]


def test_top_tokens_of_a_neutral_text_says_nothing_moved_it():
    fig = top_tokens_figure(make_attribution("plain words only", {}))
    assert len(fig.data[0].x) == 0
    assert "No word moved" in fig.layout.annotations[0].text


def test_deletion_curve_one_line_per_order_with_area_in_the_legend():
    curves = {"shap": ([0, 0.5, 1], [0.9, 0.2, 0.1]), "lime": ([0, 0.5, 1], [0.9, 0.4, 0.1]), "random": ([0, 0.5, 1], [0.9, 0.8, 0.1])}
    fig = deletion_curve_figure(curves, "positive", original=0.9)
    assert [t.name.split(" (")[0] for t in fig.data] == ["SHAP order", "LIME order", "random order"]
    assert list(fig.data[0].x) == [0, 50, 100]
    assert list(fig.data[0].y) == pytest.approx([0.9, 0.2, 0.1])
    assert "area 0.35" in fig.data[0].name and "area 0.65" in fig.data[2].name
    assert fig.layout.yaxis.title.text == "probability of 'positive'"
    assert fig.data[0].line.dash != fig.data[2].line.dash  # told apart without colour


def test_probability_figure_marks_gold_and_prediction():
    fig = probability_figure(("negative", "positive"), [0.3, 0.7], gold="negative", highlight="positive")
    bar = fig.data[0]
    assert list(bar.y) == ["negative ✓ gold", "positive"]
    assert list(bar.x) == pytest.approx([0.3, 0.7])
    assert list(bar.text) == ["30.0%", "70.0%"]
    assert fig.layout.title.text == "Prediction: 'positive' · gold: 'negative'"


def test_figures_are_plain_data_that_serialise():
    attribution = make_attribution(TEXT, SCORES)
    for fig in (token_heat_figure(attribution), top_tokens_figure(attribution), token_heat_comparison([attribution, attribution])):
        assert fig.to_json()
