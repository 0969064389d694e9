"""What the Explore page's listing is built from (analysis.browse, through analysis.views.explore_listing): filters that keep
example ids, the demo pick, links parsed safely, which example wins (selection, link, default), and row positions — on a
table the tiny model predicted, no Streamlit. (Moved here from the page tests, which now check only what the page shows.)"""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_pages_support import LABELS

from analysis.browse import ExampleFilter, browse_examples, choose_example, class_from_query, default_example, example_from_query, position_of
from analysis.predictions import predict_table
from analysis.selection import selected_index


@pytest.fixture(scope="module")
def small_table(tiny_bert_predictor):
    from evaldata.loading import load_eval_data

    frame = pd.DataFrame(
        {
            "text": ["good film", "bad film", "great cast", "awful plot", "fine", "not bad at all"],
            "label": ["positive", "negative", "positive", "negative", "positive", "positive"],
            "source": list("ababab"),
        }
    )
    evalset = load_eval_data(frame.to_csv(index=False).encode(), name="small.csv")
    return predict_table(tiny_bert_predictor, evalset)


def test_filters_combine_and_keep_example_ids(small_table):
    frame = small_table.frame
    shown = browse_examples(small_table, ExampleFilter(gold=("positive",), correct=False))
    expected = frame.index[(frame["gold"] == "positive") & ~frame["correct"]].tolist()
    assert shown.index.tolist() == expected and shown.index.name == "example"
    assert list(shown.columns) == ["text", "gold", "pred", "confidence", "correct", "source"]
    assert browse_examples(small_table, ExampleFilter(search="FILM")).index.tolist() == [0, 1]  # case-insensitive
    assert browse_examples(small_table, ExampleFilter(search="ilm")).index.tolist() == [0, 1]  # substring
    lo = float(frame["confidence"].median())
    conf = browse_examples(small_table, ExampleFilter(confidence=(lo, 1.0)))
    assert (conf["confidence"] >= lo - 1e-9).all() and len(conf) == int((frame["confidence"] >= lo - 1e-9).sum())
    mistakes = browse_examples(small_table, order="mistakes")
    assert not mistakes["correct"].iloc[0] or frame["correct"].all()
    assert ExampleFilter(pred=("negative",), correct=True, search=" film ").describe() == 'predicted negative; correct only; text contains "film"'
    assert ExampleFilter().describe() == "all examples" and ExampleFilter().is_empty()


def test_demo_pick_is_the_most_confident_mistake(small_table):
    frame = small_table.frame
    wrong = frame[~frame["correct"]]
    if len(wrong):
        assert default_example(small_table) == int(wrong["confidence"].idxmax())


def test_links_are_parsed_safely():
    assert example_from_query("3", 10) == 3 and example_from_query(["1", "4"], 10) == 4
    assert example_from_query("10", 10) is None and example_from_query("-1", 10) is None
    assert example_from_query("abc", 10) is None and example_from_query(None, 10) is None
    assert class_from_query("Positive", LABELS) == "positive" and class_from_query("stellar", LABELS) is None


def test_selection_link_and_default_precedence():
    assert choose_example([5], 3, 7) == (5, "selected")
    assert choose_example([], 3, 7) == (3, "link")
    assert choose_example([], None, 7) == (7, "default")
    assert choose_example([7], None, 7) == (7, "default")  # the table's pre-selection of the demo pick
    assert choose_example([], None, None) == (None, "none")


def test_dataframe_row_position_maps_to_the_example_id(small_table):
    shown = browse_examples(small_table, ExampleFilter(gold=("negative",)), order="confident")
    event = {"selection": {"rows": [1], "columns": []}}
    assert selected_index(event, shown) == [shown.index[1]]
    assert position_of(shown, shown.index[1]) == 1 and position_of(shown, 999) is None
