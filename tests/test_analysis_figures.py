"""Figures are checked through the data a person sees: markers, counts, colours, titles, error bars."""

import json

import numpy as np
import pytest

from analysis import figures
from analysis.compare import compare_tables, slice_deltas
from analysis.metrics import calibration, confusion
from analysis.slices import Slice, slice_table
from analysis.synthetic import probs_for, table_from_arrays

LABELS = ("a", "b", "c")


def spec(fig):
    return json.loads(fig.to_json())  # what Streamlit sends to the browser


def test_confusion_matrix_is_a_scatter_of_square_markers_with_counts():
    counts = confusion(["a", "a", "a", "b", "b", "c"], ["a", "a", "b", "b", "c", "c"], LABELS)
    data = spec(figures.confusion_matrix_figure(counts, LABELS))
    (trace,) = data["data"]
    assert trace["type"] == "scatter" and trace["marker"]["symbol"] == "square"
    assert len(trace["x"]) == len(trace["y"]) == 9
    cells = {(g, p): int(t) for g, p, t in zip(trace["y"], trace["x"], trace["text"])}
    assert cells[("a", "a")] == 2 and cells[("a", "b")] == 1 and cells[("b", "c")] == 1 and cells[("c", "a")] == 0
    assert sum(cells.values()) == 6
    assert trace["customdata"][1] == ["a", "b", 1, pytest.approx(1 / 3, abs=1e-4)]
    # colour is the share of the gold row, on a fixed 0–1 single-hue scale
    assert trace["marker"]["color"][0] == pytest.approx(2 / 3)
    assert (trace["marker"]["cmin"], trace["marker"]["cmax"]) == (0, 1)
    assert trace["marker"]["colorscale"][0][1] != trace["marker"]["colorscale"][-1][1]
    layout = data["layout"]
    assert layout["xaxis"]["title"]["text"] == "Predicted label"
    assert layout["yaxis"]["title"]["text"] == "Gold label"
    assert layout["yaxis"]["range"] == [2.5, -0.5]  # first label on top, like a table
    assert layout["xaxis"]["categoryarray"] == list(LABELS)


@pytest.mark.parametrize("labels", [("a", "b"), ("negative", "positive", "neutral"), tuple(f"a rather long class name {i}" for i in range(9))])
def test_confusion_squares_tile_the_plot_area_whatever_the_labels(labels):
    """Marker sizes are pixels: the figure has a fixed size whose plot area is exactly k cells wide and high."""
    k = len(labels)
    fig = figures.confusion_matrix_figure(np.ones((k, k), dtype=int), labels)
    layout = fig.layout
    plot_w = layout.width - layout.margin.l - layout.margin.r
    plot_h = layout.height - layout.margin.t - layout.margin.b
    assert plot_w == plot_h
    assert fig.data[0].marker.size <= plot_w / k  # no overlap
    assert fig.data[0].marker.size >= 0.9 * plot_w / k  # and no wide gaps
    assert list(layout.xaxis.range) == [-0.5, k - 0.5]
    assert all(len(t) <= 18 for t in layout.xaxis.ticktext)


def test_confusion_matrix_text_stays_readable_on_dark_cells():
    counts = np.array([[10, 0], [5, 5]])
    trace = figures.confusion_matrix_figure(counts, ("x", "y")).data[0]
    assert list(trace.textfont.color) == ["white", "#111", "#111", "#111"]


def test_confusion_matrix_with_many_labels_still_has_one_marker_per_cell():
    k = 20
    labels = [f"class {i}" for i in range(k)]
    fig = figures.confusion_matrix_figure(np.eye(k, dtype=int), labels)
    assert len(fig.data[0].x) == k * k
    assert fig.data[0].marker.size >= 10


def test_confusion_matrix_shape_must_match_labels():
    with pytest.raises(ValueError, match="3×3"):
        figures.confusion_matrix_figure(np.zeros((2, 2)), LABELS)


def test_reliability_diagram_has_ece_in_title_and_one_bar_per_filled_bin():
    cal = calibration(np.array([0.55, 0.65, 0.95, 0.99]), np.array([1, 0, 1, 1]))
    data = spec(figures.reliability_figure(cal))
    assert "ECE 0.290" in data["layout"]["title"]["text"]
    bars, points, diagonal = data["data"]
    assert bars["type"] == "bar" and bars["y"] == pytest.approx([1.0, 0.0, 1.0])
    assert bars["x"] == pytest.approx([0.55, 0.65, 0.95])
    assert bars["text"] == ["n=1", "n=1", "n=2"]
    assert points["x"] == pytest.approx([0.55, 0.65, 0.97])
    assert diagonal["x"] == [0, 1] and diagonal["name"] == "Perfect calibration"
    assert "Confidence" in data["layout"]["xaxis"]["title"]["text"]
    assert "Accuracy" in data["layout"]["yaxis"]["title"]["text"]


def test_class_balance_gold_and_predicted_bars():
    fig = figures.class_balance_figure(LABELS, [5, 3, 2], {"tuned": [4, 4, 2]})
    gold, tuned = fig.data
    assert list(gold.y) == [5, 3, 2] and list(tuned.y) == [4, 4, 2]
    assert tuned.name == "Predicted by tuned"
    assert gold.marker.color != tuned.marker.color


def test_slice_accuracy_bars_colour_below_overall_and_carry_row_positions():
    correct = np.array([1] * 8 + [0] * 4, dtype=bool)
    table = slice_table([Slice("src", "a", np.arange(12) < 9), Slice("src", "b", np.arange(12) >= 9)], correct)
    fig = figures.slice_accuracy_figure(table, overall=8 / 12)
    (bar,) = fig.data
    assert list(bar.x) == pytest.approx([8 / 9, 0.0])
    assert list(bar.y) == ["a (n=9)", "b (n=3)"]
    assert list(bar.marker.color) == [figures.BLUE, figures.VERMILLION]
    assert [c[0] for c in bar.customdata] == [0, 1]
    assert bar.error_x.arrayminus[0] == pytest.approx(8 / 9 - table["ci_low"].iloc[0])
    assert fig.layout.title.text == "Accuracy by src"
    assert fig.layout.shapes[0].x0 == pytest.approx(8 / 12)
    assert fig.layout.annotations[0].text == "overall 66.7%"


def _comparison():
    gold = np.array([0, 1] * 30)
    pb = np.where(np.arange(60) < 40, gold, 1 - gold)
    pa = np.where(np.arange(60) < 50, gold, 1 - gold)
    pa[:5] = 1 - gold[:5]  # five broken
    before = table_from_arrays(probs_for(pb, 2, 0.8), gold, ("neg", "pos"), checkpoint_name="before")
    after = table_from_arrays(probs_for(pa, 2, 0.8), gold, ("neg", "pos"), checkpoint_name="after", data_fingerprint=before.data_fingerprint)
    return compare_tables(before, after, n_boot=300)


def test_class_delta_chart_has_bootstrap_error_bars_in_points():
    comp = _comparison()
    fig = figures.class_delta_figure(comp.per_class)
    (bar,) = fig.data
    pc = comp.per_class
    assert list(bar.x) == ["neg", "pos"]
    assert list(bar.y) == pytest.approx((pc["f1_delta"] * 100).tolist())
    assert list(bar.error_y.array) == pytest.approx(((pc["f1_ci_high"] - pc["f1_delta"]) * 100).clip(lower=0).tolist())
    assert list(bar.error_y.arrayminus) == pytest.approx(((pc["f1_delta"] - pc["f1_ci_low"]) * 100).clip(lower=0).tolist())
    assert "percentage points" in fig.layout.yaxis.title.text


def test_metric_delta_chart_and_slice_delta_chart_flag_worse_with_colour_and_hatching():
    comp = _comparison()
    fig = figures.metric_delta_figure(comp.deltas)
    assert list(fig.data[0].x) == ["Accuracy", "Macro-F1"]
    assert fig.data[0].y[0] == pytest.approx(comp.delta("accuracy") * 100)
    deltas = slice_deltas(
        [Slice("part", "first", np.arange(60) < 10), Slice("part", "rest", np.arange(60) >= 10)],
        comp.paired.correct_before,
        comp.paired.correct_after,
    )
    fig = figures.slice_delta_figure(deltas)
    bar = fig.data[0]
    assert list(bar.marker.color) == [figures.VERMILLION, figures.GREEN]
    assert list(bar.marker.pattern.shape) == ["/", ""]
    assert list(bar.y) == ["part: first (n=10)", "part: rest (n=50)"]
    assert list(bar.x) == pytest.approx((deltas["delta"] * 100).tolist())
    assert bar.orientation == "h"
