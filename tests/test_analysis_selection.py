"""Selection events -> examples, on the exact event shapes Streamlit 1.67 returns."""

import numpy as np
import pandas as pd
from streamlit.elements.arrow import DataframeSelectionState, DataframeState
from streamlit.elements.plotly_chart import PlotlySelectionState, PlotlyState

from analysis import figures
from analysis.selection import (
    cell_mask,
    describe_cells,
    selected_cells,
    selected_customdata,
    selected_index,
    selected_rows,
    selected_slice_rows,
)


def plotly_event(points):
    return PlotlyState(
        {"selection": PlotlySelectionState({"points": points, "point_indices": [p.get("point_index", 0) for p in points], "box": [], "lasso": []})}
    )


def test_a_clicked_confusion_cell_maps_to_gold_and_predicted_labels():
    fig = figures.confusion_matrix_figure(np.array([[3, 1], [2, 4]]), ("neg", "pos"))
    trace = fig.data[0]
    # what the browser sends back when the user clicks the point at index 1 (gold neg, predicted pos)
    point = {"curve_number": 0, "point_number": 1, "point_index": 1, "x": trace.x[1], "y": trace.y[1], "customdata": list(trace.customdata[1])}
    assert selected_cells(plotly_event([point])) == [("neg", "pos")]


def test_multiple_points_duplicates_and_stale_labels():
    points = [
        {"customdata": ["a", "b", 1, 0.5]},
        {"customdata": ["a", "b", 1, 0.5]},
        {"x": "a", "y": "c"},  # no customdata: y is gold, x is predicted
        {"customdata": ["gone", "a", 1, 1.0]},
        {"point_index": 3},
    ]
    assert selected_cells({"selection": {"points": points}}, labels=("a", "b", "c")) == [("a", "b"), ("c", "a")]


def test_no_event_or_empty_selection_selects_nothing():
    assert selected_cells(None) == []
    assert selected_cells(plotly_event([])) == []
    assert selected_rows(None) == []
    assert selected_customdata({}) == []


def test_cell_mask_and_its_description():
    gold = ["a", "a", "b", "b"]
    pred = ["a", "b", "a", "b"]
    assert cell_mask(gold, pred, [("a", "b")]).tolist() == [False, True, False, False]
    assert cell_mask(gold, pred, [("a", "b"), ("b", "a")]).tolist() == [False, True, True, False]
    assert cell_mask(gold, pred, []).all()
    assert describe_cells([("a", "b"), ("b", "b")]) == "gold a → predicted b; b predicted correctly"
    assert describe_cells([]) == "all examples"


def test_dataframe_row_positions_map_to_example_ids_of_the_shown_frame():
    shown = pd.DataFrame({"text": ["x", "y", "z"]}, index=pd.Index([17, 4, 9], name="example"))
    event = DataframeState({"selection": DataframeSelectionState({"rows": [2, 0], "columns": [], "cells": []})})
    assert selected_rows(event) == [2, 0]
    assert selected_index(event, shown) == [9, 17]
    assert selected_index({"selection": {"rows": [5]}}, shown) == []  # stale position after filtering


def test_clicked_slice_bars_give_slice_table_rows():
    points = [{"customdata": [2, "genre", "drama", 12]}, {"customdata": [0, "genre", "comedy", 40]}, {"customdata": [2, "genre", "drama", 12]}]
    assert selected_slice_rows({"selection": {"points": points}}) == [2, 0]


def test_customdata_filtered_by_trace():
    points = [{"curve_number": 0, "customdata": [1]}, {"curve_number": 1, "customdata": 7}]
    assert selected_customdata({"selection": {"points": points}}, curve=1) == [[7]]
