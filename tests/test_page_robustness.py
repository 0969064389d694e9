"""The Robustness page as a person sees it: cost first, probe results before/after, failing pairs, the map, neighbours, label noise.

Fixture: two checkpoints with planted behaviour —
  kw-before: an invariant model (its output ignores the input);
  kw-after:  a model that says 'positive' exactly when the text holds "john" (it flips on a name swap).
and a small CSV where one text appears six times, five times labelled positive and once negative.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from analysis_pages_support import app_test, dataframe
from test_probes_models import make_invariant_checkpoint, make_keyword_checkpoint

PAGE = "pages/robustness.py"
DUPLICATE = "the acting was wonderful and the story was fun"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("robustness-page")
    ckpts = root / "ckpts"
    make_invariant_checkpoint(ckpts / "kw-before")
    make_keyword_checkpoint(ckpts / "kw-after", {"john": +1})
    rows = []
    names = ["John", "Maria", "Carlos", "Emma"]
    for i in range(24):
        name = names[i % 4]
        text = [f"{name} said the film was good", f"I think {name} loved the story", f"the plot was dull, said {name}", f"{name} and his brother enjoyed it"][
            i % 4
        ]
        rows.append({"text": f"{text} ({i})", "label": "positive" if i % 3 else "negative"})
    rows += [{"text": DUPLICATE, "label": "positive"}] * 5 + [{"text": DUPLICATE, "label": "negative"}]
    data = root / "data.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    single = make_keyword_checkpoint(root / "single" / "kw-after", {"john": +1}).parent
    return {"checkpoints": ckpts, "single": single, "data": data, "frame": pd.DataFrame(rows), "cache": root / "cache"}


def open_page(env, monkeypatch, checkpoints: str = "checkpoints"):
    return app_test(env, monkeypatch, PAGE, checkpoints=checkpoints, budget={"VEREDICTO_SHAP_MAX_EVALS": "40"})


def frame_with(at, column: str) -> pd.DataFrame:
    """A read-only table (Streamlit keeps no key for those), found by a column only it has."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a '{column}' column; columns: {[list(d.value.columns) for d in at.dataframe]}"
    return found[0]


def chart(at, key_prefix: str) -> dict:
    found = [c for c in at.get("plotly_chart") if key_prefix in c.proto.id]
    assert found, [c.proto.id for c in at.get("plotly_chart")]
    return json.loads(found[0].proto.spec)


def button(at, key: str):
    return next(b for b in at.button if b.key == key)


@pytest.fixture
def downloads(monkeypatch):
    """Every file the page hands to a download button, as {file name: bytes} (Streamlit keeps them in its media store)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    seen: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        if isinstance(path_or_data, bytes) and filename:
            seen[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return seen


def test_cost_is_stated_before_anything_runs(env, monkeypatch):
    at = open_page(env, monkeypatch)
    infos = [i.value for i in at.info]
    assert any(v.startswith("**Before running:**") and "model calls" in v and "on this machine" in v for v in infos), infos
    assert "kw-before" in " ".join(infos) and "kw-after" in " ".join(infos)
    assert button(at, "robustness_run").label == "Run probes"
    assert not [c for c in at.get("plotly_chart") if "robustness-rates" in c.proto.id]
    # directional tests are on: the labels look like sentiment
    assert at.selectbox(key="robustness_positive").value == "positive"


def test_running_shows_before_after_rates_and_flags_the_name_swap(env, monkeypatch):
    at = open_page(env, monkeypatch)
    button(at, "robustness_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    spec = chart(at, "robustness-rates")
    before, after = spec["data"]
    assert before["name"] == "before: kw-before" and after["name"] == "after: kw-after"
    tests = before["customdata"]
    assert "names" in tests and "negation" in tests
    rates_after = dict(zip(tests, after["y"]))
    rates_before = dict(zip(tests, before["y"]))
    # worked out by hand from the planted models: kw-after answers 'positive' exactly when a text holds "john", so swapping
    # the name flips every text that names John and no other; kw-before ignores its input, so nothing flips
    with_a_name = env["frame"]["text"].str.contains("John|Maria|Carlos|Emma")
    naming_john = env["frame"]["text"].str.lower().str.contains("john")
    assert with_a_name.sum() == 24 and naming_john.sum() == 6
    assert rates_after["names"] == pytest.approx(naming_john.sum() / with_a_name.sum())
    assert rates_before["names"] == 0.0 and rates_before["typos"] == 0.0
    table = frame_with(at, "verdict")
    names_row = table[table["title"] == "Person names"].iloc[0]
    assert names_row["verdict"] == "more brittle" and names_row["new"] > 0 and names_row["fixed"] == 0
    assert any("more brittle" in w.value and "Person names" in w.value for w in at.warning)
    assert any("Estimated" in c.value and "took" in c.value for c in at.caption)


def test_failing_pairs_and_explaining_the_perturbed_text(env, monkeypatch):
    at = open_page(env, monkeypatch)
    button(at, "robustness_run").click().run()
    at.selectbox(key="robustness_failure_test").set_value("names").run()
    failures = dataframe(at, "robustness-failures-names").value
    naming_john = {t for t in env["frame"]["text"] if "john" in t.lower()}  # by hand: exactly these flip when the name changes
    assert set(failures["original"]) == naming_john and len(failures) >= len(naming_john) == 6
    assert set(failures["pred_before"]) == {"positive"} and set(failures["pred_after"]) == {"negative"}
    assert all("john" in o.lower() and "john" not in p.lower() for o, p in zip(failures["original"], failures["perturbed"]))
    element = dataframe(at, "robustness-failures-names")
    at.session_state[element.key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    codes = [c.value for c in at.code]
    assert failures["original"].iloc[0] in codes and failures["perturbed"].iloc[0] in codes
    # Integrated Gradients, the default, is explained on sight: no button, no cost estimate
    assert at.radio(key="robustness_explain_method").value == "ig" and not [b for b in at.button if b.key == "robustness_explain"]
    heat = chart(at, "robustness-explain-heat")
    assert len(heat["data"]) == 2
    titles = [a["text"] for a in heat["layout"]["annotations"]]
    assert "Original → positive" in titles and "Perturbed → negative" in titles
    assert any(c.value.endswith("Integrated Gradients.") for c in at.caption)
    # its colours are each text's own IG scores for the watched class (explain_text run outside the app)
    from explain.api import explain_text
    from models import Predictor

    after = Predictor(str(env["checkpoints"] / "kw-after"), device="cpu")
    for k, text in enumerate((failures["original"].iloc[0], failures["perturbed"].iloc[0])):
        scores = explain_text(after, text, "ig").scores_for(failures["watched"].iloc[0])
        shown = {int(token): score for _, score, token in heat["data"][k]["customdata"]}  # token index -> the score drawn
        assert shown and np.allclose(list(shown.values()), scores[list(shown)], atol=1e-6)
    at.radio(key="robustness_explain_method").set_value("shap").run()
    assert any("model call" in c.value for c in at.caption)  # SHAP's cost, before it runs
    button(at, "robustness_explain").click().run()
    assert not at.exception, [e.message for e in at.exception]
    heat = chart(at, "robustness-explain-heat")
    assert len(heat["data"]) == 2 and any(c.value.endswith("SHAP.") for c in at.caption)


def test_one_checkpoint_shows_its_summary_table(env, monkeypatch):
    at = open_page(env, monkeypatch, checkpoints="single")  # a folder with kw-after only
    button(at, "robustness_run").click().run()
    summary = frame_with(at, "failure_rate")
    rates = dict(zip(summary["title"], summary["failure_rate"]))
    assert rates["Person names"] == pytest.approx(6 / 24)  # the 6 texts naming John, of the 24 that name someone
    assert len(chart(at, "robustness-rates")["data"]) == 1


def test_turning_directional_tests_off_removes_them(env, monkeypatch):
    at = open_page(env, monkeypatch)
    at.selectbox(key="robustness_positive").set_value("off").run()
    options = at.multiselect(key="robustness_tests_False").options
    assert "Negation" not in options and "Intensifier" not in options and "Person names" in options


def test_embedding_map_selection_filters_the_table_and_neighbours(env, monkeypatch):
    at = open_page(env, monkeypatch)
    at.radio(key="robustness_encoder").set_value("kw-before").run()
    spec = chart(at, "robustness-map-")
    rows = sorted(int(r) for trace in spec["data"] for r in trace["customdata"])
    assert rows == list(range(len(env["frame"])))
    assert {t["name"] for t in spec["data"]} == {"gold: positive", "gold: negative"}
    from models.checkpoints import inspect_checkpoint

    map_key = "robustness-map-" + inspect_checkpoint(env["checkpoints"] / "kw-before").fingerprint[:12]
    at.session_state[map_key] = {
        "selection": {
            "points": [{"curve_number": 0, "point_index": 0, "customdata": 3}, {"curve_number": 1, "point_index": 1, "customdata": 7}],
            "point_indices": [0, 1],
            "box": [],
            "lasso": [],
        }
    }
    at.run()
    table = dataframe(at, "robustness-examples-").value
    assert list(table.index) == [3, 7]
    assert any("selected on the map" in m.value for m in at.markdown)
    element = dataframe(at, "robustness-examples-")
    at.session_state[element.key] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    near = frame_with(at, "similarity")
    assert 7 not in set(near["row"]) and len(near) == 5
    assert np.all(np.diff(near["similarity"].to_numpy()) <= 1e-6)


def test_label_noise_flags_the_conflicting_duplicate_and_exports_it(env, monkeypatch, downloads):
    at = open_page(env, monkeypatch)
    at.radio(key="robustness_encoder").set_value("kw-before").run()
    at.slider(key="robustness_noise_k").set_value(5).run()
    noise = frame_with(at, "suggested")
    odd_row = len(env["frame"]) - 1  # the one negative copy of the duplicated text
    flagged = noise.set_index("row")
    assert odd_row in flagged.index
    assert flagged.loc[odd_row, "gold"] == "negative" and flagged.loc[odd_row, "suggested"] == "positive"
    assert flagged.loc[odd_row, "agreement"] == 1.0
    assert not set(range(odd_row - 5, odd_row)) & set(flagged.index)  # the positive copies are not flagged
    assert [d for d in at.get("download_button") if "relabelling" in d.proto.label]
    exported = pd.read_csv(io.BytesIO(downloads[f"label-noise-{env['data'].stem}.csv"]), encoding="utf-8-sig", keep_default_na=False)
    assert list(exported["row"]) == list(noise["row"])  # one row per flagged example, as listed on the page
    assert {"row", "text", "gold", "suggested", "relabel_to"} <= set(exported.columns)
    odd = exported.set_index("row").loc[odd_row]
    assert odd["text"] == DUPLICATE and odd["gold"] == "negative" and odd["suggested"] == "positive" and odd["relabel_to"] == ""


def test_a_typed_text_finds_its_neighbours(env, monkeypatch):
    at = open_page(env, monkeypatch)
    at.radio(key="robustness_encoder").set_value("kw-before").run()
    at.text_input(key="robustness_query").input(DUPLICATE).run()
    near = frame_with(at, "similarity")
    assert set(near["text"].head(5)) == {DUPLICATE}
    assert near["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-5)


def test_on_a_filled_store_the_similar_examples_tab_projects_searches_and_loads_nothing(env, monkeypatch):
    """The failure: at 100k rows the tab's first open in a new app process read every stored embedding, projected them and
    searched the label-noise neighbours (~13 s); the first open stores the map and the hints, and a restart reads them."""
    from analysis_pages_support import restart

    from dashboard import state
    from probes import embeddings

    open_page(env, monkeypatch)  # computes (or finds) and stores the embeddings, the map and the hints
    first = frame_with(open_page(env, monkeypatch), "suggested")
    restart()
    for name in ("project", "label_noise", "build_index", "neighbours", "neighbours_of_vector"):
        monkeypatch.setattr(embeddings, name, lambda *a, name=name, **kw: pytest.fail(f"probes.embeddings.{name} ran on a filled store"))
    monkeypatch.setattr(state, "embedding_index", lambda *a, **kw: pytest.fail("the embedding index was loaded on a filled store"))
    at = open_page(env, monkeypatch)
    assert not at.exception, at.exception
    assert chart(at, "robustness-map-")["data"]
    pd.testing.assert_frame_equal(frame_with(at, "suggested"), first)
