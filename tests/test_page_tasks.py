"""Overview, Errors and Explore on a multi-label checkpoint and on a sentence-pair table, as a person sees them.

The numbers are recomputed from the model's own probabilities and scikit-learn, not from the page's view models.
The sidebar's task / pair-column choices are another part of the app: the pair fixture presets the sidebar's pair
column choice and reads its file through `load_eval_data(..., pair_col="second")`.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest
from analysis_pages_support import app_test, dataframe, select_row
from sklearn.metrics import accuracy_score, f1_score, hamming_loss
from tiny import CORPUS, make_tiny_checkpoint

from runtime.escaping import md

TAGS = ("toxic", "insult", "threat", "spam")
SMALL = {"VEREDICTO_SHAP_MAX_EVALS": "40", "VEREDICTO_LIME_SAMPLES": "40"}


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    """One multi-label checkpoint (problem_type in its config) and 40 rows whose gold tags are joined by '|'."""
    root = tmp_path_factory.mktemp("multi-pages")
    make_tiny_checkpoint(root / "ckpts" / "tiny-ml", labels=TAGS, problem_type="multi_label_classification", seed=1)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        tags = [t for t in TAGS if rng.random() < 0.4] or [TAGS[i % 4]]
        rows.append({"text": f"{CORPUS[i % 7]} #{i}", "label": "|".join(tags), "source": ("web", "app")[i % 2]})
    pd.DataFrame(rows).to_csv(root / "data.csv", index=False)
    from models import Predictor

    probs = Predictor(str(root / "ckpts" / "tiny-ml"), device="cpu").predict_proba([r["text"] for r in rows])
    gold = np.array([[t in r["label"].split("|") for t in TAGS] for r in rows])
    return {"checkpoints": root / "ckpts", "data": root / "data.csv", "probs": probs, "gold": gold, "pred": probs >= 0.5}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair-pages")
    make_tiny_checkpoint(root / "ckpts" / "tiny-pair", seed=2)
    rows = [
        {"text": f"{CORPUS[i % 7]} #{i}", "second": f"reply {CORPUS[(i + 3) % 7]}", "label": ("negative", "positive")[i % 2], "source": ("web", "app")[i % 2]}
        for i in range(30)
    ]
    pd.DataFrame(rows).to_csv(root / "data.csv", index=False)
    from models import Predictor

    probs = Predictor(str(root / "ckpts" / "tiny-pair"), device="cpu").predict_proba([(r["text"], r["second"]) for r in rows])
    return {"checkpoints": root / "ckpts", "data": root / "data.csv", "rows": rows, "probs": probs}


def open_pairs(env, monkeypatch, page):
    """The page with 'second' as the pair column: preset as the sidebar's choice (key pair_col) and, where the sidebar
    has no such choice yet, given to the loader."""
    import dashboard.state as state
    from evaldata.loading import load_eval_data

    monkeypatch.setattr(state, "load_eval_data", functools.partial(load_eval_data, pair_col="second"))
    return app_test(env, monkeypatch, page, budget=SMALL, state={"pair_col": "second"})


def metric_values(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def chart_specs(at) -> dict[str, dict]:
    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


# --- multi-label ----------------------------------------------------------------------------------------------------


def test_overview_shows_multi_label_metrics_per_label_thresholds_and_their_source(multi, monkeypatch):
    at = app_test(multi, monkeypatch, "pages/overview.py")
    gold, pred = multi["gold"].astype(int), multi["pred"].astype(int)
    assert 0 < accuracy_score(gold, pred) < 1  # the tiny model gets some sets right and some wrong
    shown = metric_values(at)
    assert shown["Micro-F1"] == f"{f1_score(gold, pred, average='micro'):.3f}"
    assert shown["Macro-F1"] == f"{f1_score(gold, pred, average='macro', zero_division=0):.3f}"
    assert shown["Samples-F1"] == f"{f1_score(gold, pred, average='samples', zero_division=1):.3f}"
    assert shown["Subset accuracy"] == f"{accuracy_score(gold, pred):.1%}"
    assert shown["Hamming loss"] == f"{hamming_loss(gold, pred):.3f}"
    assert "Accuracy" not in shown
    captions = " ".join(c.value for c in at.caption)
    assert md("thresholds: default (0.5 for every label)") in captions  # shown as escaped Markdown
    per_label = at.dataframe[0].value
    assert list(per_label.index) == list(TAGS)
    assert per_label["threshold"].tolist() == [0.5] * 4
    assert per_label["support"].tolist() == gold.sum(axis=0).tolist()
    assert per_label["predicted"].tolist() == pred.sum(axis=0).tolist()


def test_errors_shows_a_two_by_two_per_label_and_the_cooccurrence_heatmaps(multi, monkeypatch):
    at = app_test(multi, monkeypatch, "pages/errors.py")
    gold, pred = multi["gold"], multi["pred"]
    wrong = np.flatnonzero((gold != pred).any(axis=1))
    assert metric_values(at)["Mistakes"] == str(len(wrong))
    specs = chart_specs(at)
    (cm,) = [s for k, s in specs.items() if "errors-cm-" in k]
    shown = {(g, p): int(t) for g, p, t in zip(cm["data"][0]["y"], cm["data"][0]["x"], cm["data"][0]["text"])}
    g, p = gold[:, 0], pred[:, 0]  # the first label is picked by default
    assert shown == {
        ("toxic", "toxic"): int((g & p).sum()),
        ("toxic", "not toxic"): int((g & ~p).sum()),
        ("not toxic", "toxic"): int((~g & p).sum()),
        ("not toxic", "not toxic"): int((~g & ~p).sum()),
    }
    (co,) = [s for k, s in specs.items() if "errors-co-pred-" in k]
    assert co["data"][0]["type"] == "heatmap"
    assert np.array(co["data"][0]["z"]).tolist() == (pred.astype(int).T @ pred.astype(int)).tolist()
    (missed,) = [s for k, s in specs.items() if "errors-co-missed-" in k]
    m = (gold & ~pred).astype(int)
    assert np.array(missed["data"][0]["z"]).tolist() == (m.T @ m).tolist()
    table = dataframe(at, "errors-examples-").value
    assert sorted(table.index) == wrong.tolist()
    assert {"missed", "false_positive", "p_gold"} <= set(table.columns)
    # pick the second label and its false positives
    at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Label" and s.key.startswith("errors_label_"))).set_value("insult").run()
    box = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Show"))
    fp = [o for o in box.options if o.startswith("insult: false positive")]
    expected = np.flatnonzero(~gold[:, 1] & pred[:, 1])
    assert bool(fp) == bool(len(expected))
    if fp:
        box.set_value(fp[0]).run()
        assert sorted(dataframe(at, "errors-examples-").value.index) == expected.tolist()
    # per-label calibration: the drawn label and its ECE table
    assert any("Reliability of 'toxic'" in s["layout"]["title"]["text"] for s in chart_specs(at).values())
    ece = [d.value for d in at.dataframe if "ECE" in d.value.columns]
    assert ece and ece[0]["Label"].tolist() == list(TAGS)
    select_row(at, dataframe(at, "errors-examples-"), 0)
    assert not at.exception


def test_explore_filters_a_multi_label_table_by_missed_label(multi, monkeypatch):
    # ?cls= names the label the example view opens on (which label a multi-label example opens on is the example part's)
    at = app_test(multi, monkeypatch, "pages/explore.py", budget=SMALL, query={"cls": TAGS[0]})
    labels = {m.label for m in at.multiselect}
    assert {"Gold includes", "Predicted includes", "Missed (gold, not predicted)", "False positive (predicted, not gold)"} <= labels
    gold, pred = multi["gold"], multi["pred"]
    target = next(t for i, t in enumerate(TAGS) if (gold[:, i] & ~pred[:, i]).any())
    at.multiselect(key="explore_missed").set_value([target]).run()
    assert not at.exception, [e.message for e in at.exception]
    column = TAGS.index(target)
    shown = dataframe(at, "explore_table_").value
    assert sorted(shown.index) == np.flatnonzero(gold[:, column] & ~pred[:, column]).tolist()


# --- sentence pairs -------------------------------------------------------------------------------------------------


def test_pair_tables_show_both_texts_on_every_listing(pairs, monkeypatch):
    gold = np.array([r["label"] for r in pairs["rows"]])
    pred = np.array(("negative", "positive"))[pairs["probs"].argmax(axis=1)]
    at = open_pairs(pairs, monkeypatch, "pages/overview.py")
    assert metric_values(at)["Accuracy"] == f"{(gold == pred).mean():.1%}"  # scored as pairs, not the first text alone
    assert any("Sentence pairs" in c.value for c in at.caption)

    at = open_pairs(pairs, monkeypatch, "pages/errors.py")
    table = dataframe(at, "errors-examples-").value
    assert list(table.columns[:2]) == ["text", "text_pair"]
    assert sorted(table.index) == np.flatnonzero(gold != pred).tolist()
    i = int(table.index[0])
    assert table.loc[i, "text_pair"] == pairs["rows"][i]["second"]
    select_row(at, dataframe(at, "errors-examples-"), 0)
    assert f"Second text:\n\n> {md(pairs['rows'][i]['second'])}" in [m.value for m in at.markdown]

    at = open_pairs(pairs, monkeypatch, "pages/explore.py")
    shown = dataframe(at, "explore_table_").value
    assert list(shown.columns[:2]) == ["text", "text_pair"] and len(shown) == len(gold)
    at.text_input(key="explore_search").set_value("reply the film").run()
    assert not at.exception, [e.message for e in at.exception]
    found = dataframe(at, "explore_table_").value
    assert sorted(found.index) == [i for i, r in enumerate(pairs["rows"]) if r["second"].startswith("reply the film")]


def test_the_data_page_on_a_multi_label_table_measures_leakage_and_drift_and_says_why_there_are_no_label_issues(multi, monkeypatch, tmp_path):
    monkeypatch.setenv("VEREDICTO_STORE_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    texts = pd.read_csv(multi["data"])["text"].tolist()
    train = tmp_path / "train.csv"
    pd.DataFrame({"text": [texts[5], "an unrelated training text about trains", "another one about the weather"]}).to_csv(train, index=False)
    at = app_test(multi, monkeypatch, "pages/data.py", budget=SMALL)
    assert any("single-label" in i.value for i in at.info), [i.value for i in at.info]
    at.text_input(key="training_file").input(str(train)).run()
    assert not at.exception, [e.message for e in at.exception]
    leaked = next(d.value for d in at.dataframe if "train_text" in d.value.columns)
    assert 5 in leaked["row"].tolist() and (leaked[leaked["row"] == 5]["kind"] == "exact").all()
    assert any("tells training from evaluation texts apart" in m.value.lower() for m in at.markdown)
    assert not [d for d in at.dataframe if "train_share" in d.value.columns]  # label balance: no single gold label per row
