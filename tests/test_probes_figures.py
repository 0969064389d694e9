"""Figures as a person reads them: bar heights are failure rates, error bars are the intervals, map points carry their rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from probes.figures import embedding_map_figure, failure_rate_figure
from probes.run import ProbeReport, ProbeResult


def result(test, title, failed, tried, note=""):
    return ProbeResult(
        test=test,
        kind="fairness",
        title=title,
        expectation="prediction unchanged",
        n_applicable=tried,
        n_tried=tried,
        n_failed=failed,
        n_perturbed=3 * tried,
        tried_rows=tuple(range(tried)),
        failed_rows=tuple(range(failed)),
        failures=(),
        n_model_calls=0,
        seconds=0.0,
        note=note,
    )


def report(name, results):
    return ProbeReport(
        checkpoint_name=name,
        fingerprint=name * 8,
        labels=("negative", "positive"),
        data_name="d.csv",
        data_fingerprint="d" * 64,
        n_examples=50,
        results=tuple(results),
        seed=0,
        n_variants=3,
        language="auto",
        limit=None,
        directions=None,
        n_model_calls=0,
        seconds=0.0,
    )


def spec(fig) -> dict:
    return json.loads(fig.to_json())


def test_failure_rate_bars_before_and_after():
    before = report(
        "base",
        [result("names", "Person names", 2, 40), result("gender", "Gendered words", 0, 10), result("negation", "Negation", 0, 0, "No text could be negated")],
    )
    after = report(
        "tuned",
        [result("names", "Person names", 10, 40), result("gender", "Gendered words", 1, 10), result("negation", "Negation", 0, 0, "No text could be negated")],
    )
    data = spec(failure_rate_figure([before, after]))
    b, a = data["data"]
    assert (b["name"], a["name"]) == ("before: base", "after: tuned")
    assert b["x"] == ["Person names", "Gendered words", "Negation"] and b["customdata"] == ["names", "gender", "negation"]
    assert b["y"][:2] == [0.05, 0.0] and a["y"][:2] == [0.25, 0.1]
    assert b["y"][2] is None and a["text"][2] == "n/a" and "No text could be negated" in a["hovertext"][2]
    assert a["text"][0] == "25%" and "10/40 failed" in a["hovertext"][0]
    lo, hi = after.result("names").interval
    assert a["error_y"]["array"][0] == pytest.approx(hi - 0.25) and a["error_y"]["arrayminus"][0] == pytest.approx(0.25 - lo)
    assert data["layout"]["yaxis"]["tickformat"] == ".0%" and data["layout"]["barmode"] == "group"


def test_one_report_and_named_series():
    one = spec(failure_rate_figure([report("only", [result("typos", "Typos", 3, 30)])]))
    assert len(one["data"]) == 1 and one["data"][0]["name"] == "only" and one["data"][0]["y"] == [0.1]
    named = spec(failure_rate_figure({"v1": report("a", [result("typos", "Typos", 0, 5)]), "v2": report("b", [result("typos", "Typos", 5, 5)])}))
    assert [t["name"] for t in named["data"]] == ["v1", "v2"] and named["data"][1]["y"] == [1.0]


def map_frame():
    return pd.DataFrame(
        {
            "row": [0, 1, 2, 3, 4],
            "x": [0.0, 1.0, 2.0, 3.0, 4.0],
            "y": [0.0, -1.0, 1.0, 0.5, 2.0],
            "text": ["a", "b", "c", "d", "a very long text " * 20],
            "gold": ["pos", "neg", "pos", "neg", "pos"],
            "pred": ["pos", "pos", "pos", "neg", "neg"],
            "correct": [True, False, True, True, False],
            "confidence": [0.9, 0.8, 0.7, 0.6, 0.55],
        }
    )


@pytest.mark.parametrize(
    "color_by,groups",
    [
        ("gold", {"gold: neg": [1, 3], "gold: pos": [0, 2, 4]}),
        ("pred", {"pred: neg": [3, 4], "pred: pos": [0, 1, 2]}),
        ("correct", {"correct": [0, 2, 3], "wrong": [1, 4]}),
    ],
)
def test_embedding_map_traces_by_colour_carry_rows(color_by, groups):
    data = spec(embedding_map_figure(map_frame(), color_by))
    traces = {t["name"]: t for t in data["data"]}
    assert {k: v["customdata"] for k, v in traces.items()} == groups
    for trace in traces.values():
        frame = map_frame().set_index("row")
        assert trace["x"] == [frame.loc[r, "x"] for r in trace["customdata"]]
        assert trace["mode"] == "markers"
    assert data["layout"]["dragmode"] == "lasso"
    hover = [h for t in data["data"] for h in t["hovertext"]]
    assert any(h.startswith("row 4 · gold pos · predicted neg (55%)") and h.endswith("…") for h in hover)


def test_embedding_map_highlights_rows_and_rejects_unknown_colouring():
    data = spec(embedding_map_figure(map_frame(), "gold", highlight=[2, 4]))
    ring = data["data"][-1]
    assert ring["name"] == "selected" and ring["customdata"] == [2, 4]
    with pytest.raises(ValueError):
        embedding_map_figure(map_frame(), "confidence")


def test_a_large_embedding_map_draws_a_stratified_sample_and_says_so():
    """100k points were 22 MB of figure JSON: above `max_points` the map samples per colour, keeps the highlighted row."""
    rng = np.random.default_rng(0)
    n = 600
    gold = np.where(np.arange(n) < 500, "pos", "neg")  # 5 : 1
    frame = pd.DataFrame(
        {"row": np.arange(n) + 1000, "x": rng.random(n), "y": rng.random(n), "text": "t", "gold": gold, "pred": gold, "correct": True, "confidence": 0.9}
    )
    data = spec(embedding_map_figure(frame, "gold", highlight=[1599], max_points=60))
    drawn = {t["name"]: t["customdata"] for t in data["data"] if t["name"] != "selected"}
    rows = [r for v in drawn.values() for r in v]
    assert len(drawn["gold: pos"]) == 50 and len(drawn["gold: neg"]) in (10, 11)  # in proportion, + the highlighted row
    assert 1599 in drawn["gold: neg"] and set(rows) <= set(frame["row"]) and len(set(rows)) == len(rows)
    assert data["data"][-1]["customdata"] == [1599]
    assert data["layout"]["title"]["text"].endswith(f" · showing {len(rows)} of 600 examples, a sample stratified by gold")
    assert "showing" not in spec(embedding_map_figure(frame, "gold"))["layout"]["title"]["text"]
