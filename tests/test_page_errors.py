"""The Errors page as a person sees it: confusion matrix data, the example table it filters, slices, calibration."""

import json

import numpy as np
import pytest
from analysis_pages_support import LABELS, app_test, build_fixture, dataframe, demo_env, predictions, select_row
from sklearn.metrics import confusion_matrix

PAGE = "pages/errors.py"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("errors-page"))


@pytest.fixture(scope="module")
def truth(env):
    probs, pred = predictions(env, "tiny-after")
    gold = env["frame"]["label"].to_numpy()
    return {"probs": probs, "pred": pred, "gold": gold, "wrong": np.flatnonzero(pred != gold)}


def chart(at, prefix):
    found = [c for c in at.get("plotly_chart") if prefix in c.proto.id]
    assert found, [c.proto.id for c in at.get("plotly_chart")]
    return json.loads(found[0].proto.spec)


def test_confusion_matrix_markers_and_counts_match_the_predictions(env, truth, monkeypatch):
    at = app_test(env, monkeypatch, PAGE)
    # two checkpoints chosen: the candidate (after) is analysed by default
    assert at.radio[0].label == "Checkpoint" and at.radio[0].value == "tiny-after"
    spec = chart(at, "errors-cm-")
    (trace,) = spec["data"]
    assert trace["type"] == "scatter" and trace["marker"]["symbol"] == "square"
    assert len(trace["x"]) == len(LABELS) ** 2
    shown = {(g, p): int(t) for g, p, t in zip(trace["y"], trace["x"], trace["text"])}
    expected = confusion_matrix(truth["gold"], truth["pred"], labels=list(LABELS))
    for gi, g in enumerate(LABELS):
        for pi, p in enumerate(LABELS):
            assert shown[(g, p)] == expected[gi, pi]
    assert spec["layout"]["xaxis"]["title"]["text"] == "Predicted label"
    assert spec["layout"]["yaxis"]["title"]["text"] == "Gold label"
    accuracy = (truth["pred"] == truth["gold"]).mean()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == f"{accuracy:.1%}"
    assert metrics["Mistakes"] == str(len(truth["wrong"]))


def test_default_table_lists_every_mistake(env, truth, monkeypatch):
    """The order and p_gold of the rows: tests/test_views_analysis.py (examples_of)."""
    at = app_test(env, monkeypatch, PAGE)
    table = dataframe(at, "errors-examples-").value
    assert sorted(table.index) == sorted(truth["wrong"].tolist())
    assert not table["correct"].any()
    assert set(table.columns) >= {"text", "gold", "pred", "confidence", "p_gold", "source", "n_words"}


def test_picking_a_cell_filters_the_table_and_a_row_opens_the_example(env, truth, monkeypatch):
    at = app_test(env, monkeypatch, PAGE)
    box = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Show"))
    cells = [o for o in box.options if "→" in o]
    assert cells, box.options
    gold, pred = cells[0].split(" → ")
    box.set_value(cells[0]).run()
    table = dataframe(at, "errors-examples-").value
    expected = np.flatnonzero((truth["gold"] == gold) & (truth["pred"] == pred))
    assert sorted(table.index) == expected.tolist()
    assert set(table["gold"]) == {gold} and set(table["pred"]) == {pred}
    select_row(at, dataframe(at, "errors-examples-"), 0)
    example = table.index[0]
    detail = [m.value for m in at.markdown if m.value.startswith(f"**Example {example}**")]
    assert detail and f"gold **{gold}**, predicted **{pred}**" in detail[0]


def test_metadata_keyword_and_confidence_slices(env, truth, monkeypatch):
    """Each slice's accuracy, gap and range are checked by hand in tests/test_views_analysis.py (error_slices)."""
    at = app_test(env, monkeypatch, PAGE)
    source = env["frame"]["source"].to_numpy()
    meta = dataframe(at, "errors-meta-source").value  # first metadata column is chosen by default
    by_slice = meta.set_index("Slice")
    for value in ("web", "app", "mail"):
        assert by_slice.loc[value, "Examples"] == 20

    select_row(at, dataframe(at, "errors-meta-source"), 0)  # the first slice opens its examples, mistakes first
    first = meta["Slice"].iloc[0]
    members = [d.value for d in at.dataframe if "source" in d.value.columns and len(d.value) == 20 and set(d.value["source"]) == {first}]
    assert members, "the slice's examples are listed"
    assert sorted(members[0].index) == np.flatnonzero(source == first).tolist()
    assert list(members[0]["correct"]) == sorted(members[0]["correct"])  # mistakes (False) first
    assert any(m.value.startswith(f"**source = {first}** — 20 examples") for m in at.markdown)

    at.text_input(key="errors_keywords").set_value("terrible, loved").run()
    keyword = dataframe(at, "errors-keyword-").value.set_index("Slice")
    texts = env["frame"]["text"].str.lower()
    assert keyword.loc['contains "terrible"', "Examples"] == texts.str.contains("terrible").sum()
    assert keyword.loc['contains "loved"', "Examples"] == texts.str.contains("loved").sum()
    assert keyword.loc["contains none of them", "Examples"] == (~texts.str.contains("terrible|loved")).sum()

    conf = dataframe(at, "errors-confidence").value
    assert conf["Examples"].sum() == len(env["frame"])


def ece_by_hand(confidence, correct, n_bins: int = 10) -> float:
    """Expected calibration error written out: bins (k/n, (k+1)/n] (the first also holds 0), |accuracy − mean confidence| weighted by size."""
    total = 0.0
    for k in range(n_bins):
        lo, hi = k / n_bins, (k + 1) / n_bins
        inside = [(c, ok) for c, ok in zip(confidence, correct) if lo < round(float(c), 6) <= hi or (k == 0 and c == 0)]
        if inside:
            accuracy = sum(ok for _, ok in inside) / len(inside)
            mean_confidence = sum(c for c, _ in inside) / len(inside)
            total += len(inside) / len(confidence) * abs(accuracy - mean_confidence)
    return total


def test_reliability_diagram_reports_the_ece(env, truth, monkeypatch):
    at = app_test(env, monkeypatch, PAGE)
    conf = truth["probs"].max(axis=1)
    ece = ece_by_hand(conf, truth["gold"] == truth["pred"], 10)
    assert 0 < ece < 1
    spec = chart(at, "errors-reliability-")
    assert f"ECE {ece:.3f}" in spec["layout"]["title"]["text"]
    bars = spec["data"][0]
    assert sum(int(t.split("=")[1]) for t in bars["text"]) == len(env["frame"])
    assert {m.label: m.value for m in at.metric}["Calibration error (ECE)"] == f"{ece:.3f}"


@pytest.mark.parametrize("page", [PAGE, "pages/explore.py"])
def test_a_page_of_one_checkpoint_reads_that_checkpoints_table_alone(tmp_path, monkeypatch, page):
    """Errors and Explore show one checkpoint at a time: their first open scores (or reads from the results store) the
    candidate's predictions only, the baseline's once it is picked (at 100k rows each table is ~0.25 s and 2 MB)."""
    from dashboard import state

    fixture = build_fixture(tmp_path)
    fixture["frame"].assign(text=fixture["frame"]["text"] + f" ({page})").to_csv(fixture["data"], index=False)  # texts no other test scored
    scored: list[str] = []
    real = state.predict_table
    monkeypatch.setattr(state, "predict_table", lambda predictor, *a, **k: scored.append(predictor.ref.name) or real(predictor, *a, **k))
    at = app_test(fixture, monkeypatch, page, opened_first=True)
    assert not at.exception and scored == ["tiny-after"]
    at.radio(key=next(r.key for r in at.radio if r.label == "Checkpoint")).set_value("tiny-before").run()
    assert not at.exception and scored == ["tiny-after", "tiny-before"]


def test_with_one_checkpoint_there_is_no_checkpoint_switch(env, monkeypatch):
    at = app_test(env, monkeypatch, PAGE, checkpoints="single")
    assert not [r for r in at.radio if r.label == "Checkpoint"]
    assert "Where **tiny-before** goes wrong" in at.caption[0].value
    assert len(chart(at, "errors-cm-")["data"][0]["x"]) == 4


@pytest.mark.demo
def test_errors_page_on_the_demo(monkeypatch, tmp_path):
    import pandas as pd

    env = demo_env(tmp_path)
    at = app_test(env, monkeypatch, PAGE)
    (trace,) = chart(at, "errors-cm-")["data"]
    assert len(trace["x"]) == 4 and sum(int(t.replace(",", "")) for t in trace["text"]) == len(pd.read_csv(env["data"]))
