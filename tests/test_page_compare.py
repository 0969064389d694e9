"""The Compare page as a person sees it: deltas with intervals, McNemar in words, flagged slices, flips, explanations."""

import json

import numpy as np
import pytest
from analysis_pages_support import LABELS, app_test, build_fixture, dataframe, demo_env, predictions, select_row

from runtime.escaping import md

PAGE = "pages/compare.py"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("compare-page"))


@pytest.fixture(scope="module")
def truth(env):
    _, before = predictions(env, "tiny-before")
    _, after = predictions(env, "tiny-after")
    gold = env["frame"]["label"].to_numpy()
    cb, ca = before == gold, after == gold
    return {
        "gold": gold,
        "before": before,
        "after": after,
        "fixed": np.flatnonzero(~cb & ca),
        "broken": np.flatnonzero(cb & ~ca),
        "acc_before": cb.mean(),
        "acc_after": ca.mean(),
    }


@pytest.fixture(scope="module")
def page(env, truth):
    """One app session on Compare, reused by the read-only tests (each AppTest run re-scores nothing: tables are cached)."""
    mp = pytest.MonkeyPatch()
    try:
        yield app_test(env, mp, PAGE)
    finally:
        mp.undo()


def test_one_checkpoint_says_how_to_choose_a_second(env, monkeypatch):
    at = app_test(env, monkeypatch, PAGE, checkpoints="single")
    (info,) = at.info
    assert "Compare needs two checkpoints; only **tiny-before** is chosen" in info.value
    assert "Compare up to two (baseline first)" in info.value
    assert not at.get("plotly_chart")


def test_headline_metrics_and_mcnemar_in_plain_words(page, truth):
    metrics = {m.label: (m.value, m.delta) for m in page.metric}
    assert metrics["Accuracy (candidate)"][0] == f"{truth['acc_after']:.1%}"
    assert metrics["Accuracy (candidate)"][1] == f"{(truth['acc_after'] - truth['acc_before']) * 100:+.1f} points"
    assert metrics["Fixed"][0] == str(len(truth["fixed"])) and metrics["Broken"][0] == str(len(truth["broken"]))
    verdict = [b.value for b in list(page.success) + list(page.info) + list(page.error) if "McNemar" in b.value]
    assert verdict, "the McNemar verdict is shown"
    assert f"fixes {len(truth['fixed'])} example" in verdict[0] and f"breaks {len(truth['broken'])} that it got right" in verdict[0]
    assert f"from {truth['acc_before']:.1%} ('tiny-before') to {truth['acc_after']:.1%} ('tiny-after')" in verdict[0]


def test_delta_charts_carry_the_bootstrap_intervals(page, truth):
    specs = {c.proto.id: json.loads(c.proto.spec) for c in page.get("plotly_chart")}
    metric = next(v for k, v in specs.items() if k.endswith("compare-metric-deltas"))
    bar = metric["data"][0]
    assert bar["x"] == ["Accuracy", "Macro-F1"]
    delta = (truth["acc_after"] - truth["acc_before"]) * 100
    assert bar["y"][0] == pytest.approx(delta)
    low = bar["y"][0] - bar["error_y"]["arrayminus"][0]
    high = bar["y"][0] + bar["error_y"]["array"][0]
    assert low <= delta <= high and high > low
    per_class = next(v for k, v in specs.items() if k.endswith("compare-class-deltas"))
    assert per_class["data"][0]["x"] == list(LABELS)
    assert len(per_class["data"][0]["error_y"]["array"]) == len(LABELS)


def test_per_slice_table_flags_every_slice_that_got_worse(page, env, truth):
    table = next(d for d in page.dataframe if "Flag" in d.value.columns and "Feature" in d.value.columns).value
    source = env["frame"]["source"].to_numpy()
    gold = truth["gold"]
    for value in ("web", "app", "mail"):
        m = source == value
        row = table[(table["Feature"] == "source") & (table["Slice"] == value)].iloc[0]
        before, after = (truth["before"][m] == gold[m]).mean(), (truth["after"][m] == gold[m]).mean()
        assert row["Accuracy before"] == pytest.approx(before * 100) and row["Accuracy after"] == pytest.approx(after * 100)
        assert row["Flag"].startswith("⚠") == (after < before)
    worse = table[table["Flag"] != ""]
    assert len(worse) == (table["Change (points)"] < 0).sum()
    if len(worse):
        alerts = [a.value for a in list(page.warning) + list(page.error) if "got worse" in a.value]
        named = worse.head(6)  # the alert names the six worst and counts the rest
        assert alerts and all(f"{md(r.Feature)} = {md(r.Slice)}" in alerts[0] for r in named.itertuples())  # as Markdown: names escaped
        if len(worse) > 6:
            assert f"and {len(worse) - 6} more" in alerts[0]
    assert table["Change (points)"].is_monotonic_increasing  # worst first


def test_flipped_examples_fixed_and_broken_filters(page, truth):
    radio = page.radio(key="compare_flip_status")
    assert radio.format_func("fixed") == f"Fixed ({len(truth['fixed'])})"
    assert radio.format_func("broken") == f"Broken ({len(truth['broken'])})"
    fixed = dataframe(page, "compare-flips-fixed").value
    assert sorted(fixed.index) == truth["fixed"].tolist()
    assert (fixed["pred_after"] == fixed["gold"]).all() and (fixed["pred_before"] != fixed["gold"]).all()
    radio.set_value("broken").run()
    broken = dataframe(page, "compare-flips-broken").value
    assert sorted(broken.index) == truth["broken"].tolist()
    radio.set_value("fixed").run()


def charts(at) -> dict:
    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def chart(at, key: str) -> dict:
    found = [v for k, v in charts(at).items() if k.endswith(key)]
    assert found, f"no chart {key}; ids: {list(charts(at))}"
    return found[0]


def words_table(at):
    return next(d for d in at.dataframe if list(d.value.columns) == ["word", "before", "after", "change"]).value


def test_selecting_a_flip_shows_the_gradient_difference_first_then_shap_and_lime(page, env, truth):
    from analysis.attribution_diff import attribution_change
    from explain.api import explain_text
    from models import Predictor

    flips = dataframe(page, "compare-flips-fixed")
    example = int(flips.value.index[0])
    select_row(page, flips, 0)
    assert any(m.value == f"#### Example {example}: fixed" for m in page.markdown)
    assert page.radio(key="compare_method").value == "ig"  # the instant view is the default
    heat = chart(page, "compare-heat")
    assert len(heat["data"]) == 2  # one panel per checkpoint
    titles = [a["text"] for a in heat["layout"]["annotations"][:2]]
    assert titles[0].startswith("tiny-before (before)") and titles[1].startswith("tiny-after (after)")
    assert "tiny-after − tiny-before (Integrated Gradients)" in chart(page, "compare-attr-change")["layout"]["title"]["text"]
    # the words table holds each checkpoint's own Integrated Gradients, as explain_text computes it outside the app
    label = page.selectbox(key=f"compare_label_{example}").value
    text = env["frame"].loc[example, "text"]
    reference = attribution_change(
        *(explain_text(Predictor(str(env["checkpoints"] / name), device="cpu"), text, "ig") for name in ("tiny-before", "tiny-after")), label
    ).set_index("word")
    words = words_table(page).set_index("word")
    assert len(words) and np.allclose(words[["before", "after"]], reference.loc[words.index, ["before", "after"]], atol=1e-6)
    assert np.allclose(words["after"] - words["before"], words["change"])
    assert any("leans" in m.value or "same way" in m.value for m in page.markdown)
    assert chart(page, "compare-slice-deltas")["data"][0]["orientation"] == "h"
    for method, name in (("shap", "SHAP"), ("lime", "LIME")):
        page.radio(key="compare_method").set_value(method).run()
        assert not page.exception
        assert f"({name})" in chart(page, "compare-attr-change")["layout"]["title"]["text"]
        assert not [k for k in charts(page) if "instant" in k], "once computed, the instant view gives way"


def test_the_gradient_view_stays_when_shap_fails(env, monkeypatch, tmp_path):
    """SHAP is computed after the gradient view is drawn: a SHAP failure leaves the Integrated Gradients difference on screen."""
    import explain.api
    from explain.attribution import ExplainError

    def broken(*args, **kwargs):
        raise ExplainError("SHAP is out of order for this test.")

    monkeypatch.setitem(explain.api.STRATEGIES, "shap", broken)
    at = app_test({**env, "cache": tmp_path}, monkeypatch, PAGE, state={"compare_method": "shap"})
    select_row(at, dataframe(at, "compare-flips-fixed"), 0)
    assert any("SHAP is out of order for this test." in w.value for w in at.warning)
    assert any("Instant view (Integrated Gradients) while SHAP is computed" in c.value for c in at.caption)
    assert "(Integrated Gradients)" in chart(at, "compare-instant-attr-change")["layout"]["title"]["text"]
    assert len(chart(at, "compare-instant-heat")["data"]) == 2
    assert not [k for k in charts(at) if k.endswith("-compare-heat")]


@pytest.mark.demo
def test_compare_page_on_the_demo(monkeypatch, tmp_path):
    at = app_test(demo_env(tmp_path), monkeypatch, PAGE)
    names = [m.label for m in at.metric]
    assert names == ["Accuracy (candidate)", "Macro-F1 (candidate)", "Fixed", "Broken"]
    assert dataframe(at, "compare-flips-").value["status"].isin(["fixed", "broken", "changed, still wrong"]).all()


def test_hyperparameter_changes_between_the_two_checkpoints(tmp_path, monkeypatch):
    from test_finetune_provenance import record

    from training.provenance import write_provenance

    env = build_fixture(tmp_path)
    before = record()
    after = record(hyperparameters={**before["hyperparameters"], "learning_rate": 1e-4})
    write_provenance(env["checkpoints"] / "tiny-before", before)
    write_provenance(env["checkpoints"] / "tiny-after", after)
    at = app_test(env, monkeypatch, PAGE)
    assert at.subheader[-1].value == "How they were trained"
    diff = at.dataframe[-1].value  # the last table on the page
    assert diff["setting"].tolist() == ["Learning rate"]  # only what changed
    row = diff.iloc[0]
    assert float(row["tiny-after"]) == pytest.approx(1e-4)
    assert float(row["tiny-before"]) == pytest.approx(before["hyperparameters"]["learning_rate"])


def test_without_provenance_the_page_says_how_training_is_recorded(page):
    assert any("Neither checkpoint carries a provenance.json" in c.value for c in page.caption)


# --- multi-label checkpoints -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ml_env(tmp_path_factory):
    from multilabel_support import build_multilabel_fixture

    return build_multilabel_fixture(tmp_path_factory.mktemp("compare-ml"))


def test_multi_label_checkpoints_are_compared_per_label(ml_env, monkeypatch):
    from multilabel_support import TAGS, predicted_sets_of
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss

    gold, before = predicted_sets_of(ml_env, "ml-before")
    _, after = predicted_sets_of(ml_env, "ml-after")
    at = app_test(ml_env, monkeypatch, PAGE)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Subset accuracy (candidate)"] == f"{accuracy_score(gold, after):.1%}"
    assert metrics["Micro-F1 (candidate)"] == f"{f1_score(gold, after, average='micro'):.3f}"
    assert metrics["Macro-F1 (candidate)"] == f"{f1_score(gold, after, average='macro'):.3f}"
    assert metrics["Hamming loss (candidate)"] == f"{hamming_loss(gold, after):.3f}"
    set_right_b, set_right_a = (before == gold).all(axis=1), (after == gold).all(axis=1)
    assert metrics["Fixed"] == str(int((~set_right_b & set_right_a).sum())) and metrics["Broken"] == str(int((set_right_b & ~set_right_a).sum()))
    per_label = next(d.value for d in at.dataframe if "Label" in d.value.columns and "McNemar p" in d.value.columns).set_index("Label")
    for c, tag in enumerate(TAGS):
        right_b, right_a = before[:, c] == gold[:, c], after[:, c] == gold[:, c]
        assert per_label.loc[tag, "Fixed"] == (~right_b & right_a).sum() and per_label.loc[tag, "Broken"] == (right_b & ~right_a).sum()
        assert per_label.loc[tag, "F1 after"] == pytest.approx(f1_score(gold[:, c], after[:, c], zero_division=0))
    # the flips of one label: examples where that label went from wrong to right (fixed) or right to wrong (broken)
    tag = next(t for c, t in enumerate(TAGS) if ((before[:, c] == gold[:, c]) & (after[:, c] != gold[:, c])).any())
    c = TAGS.index(tag)
    at.selectbox(key="compare_flip_label").select(tag).run()
    at.radio(key="compare_flip_status").set_value("broken").run()
    assert not at.exception, [e.message for e in at.exception]
    broken = dataframe(at, "compare-flips-broken").value
    assert sorted(broken.index) == np.flatnonzero((before[:, c] == gold[:, c]) & (after[:, c] != gold[:, c])).tolist()
    assert all(tag in labels.split(" | ") for labels in broken["broken_labels"])


# --- sentence pairs ------------------------------------------------------------------------------------------------------


def test_a_flipped_sentence_pair_shows_the_difference_over_both_texts(tmp_path, monkeypatch):
    """The gradient difference of a pair covers the second text's words too (before, pairs got only a pointer to Explore)."""
    import functools

    import pandas as pd
    from tiny import CORPUS, make_tiny_checkpoint

    import dashboard.state as state
    from analysis.attribution_diff import attribution_change
    from evaldata.loading import load_eval_data
    from explain.api import explain_text
    from models import Predictor

    for name, seed in (("pair-before", 2), ("pair-after", 5)):
        make_tiny_checkpoint(tmp_path / "ckpts" / name, seed=seed)
    rows = [{"text": f"{CORPUS[i % 7]} #{i}", "second": f"reply {CORPUS[(i + 3) % 7]}", "label": LABELS[i % 2]} for i in range(30)]
    pd.DataFrame(rows).to_csv(tmp_path / "data.csv", index=False)
    monkeypatch.setattr(state, "load_eval_data", functools.partial(load_eval_data, pair_col="second"))
    at = app_test({"checkpoints": tmp_path / "ckpts", "data": tmp_path / "data.csv"}, monkeypatch, PAGE, state={"pair_col": "second"})
    flips = next(d for d in at.dataframe if d.key and d.key.startswith("compare-flips-"))
    example = int(flips.value.index[0])
    select_row(at, flips, 0)
    assert not [i.value for i in at.info if "shown on the Explore page" in i.value]
    label = at.selectbox(key=f"compare_label_{example}").value
    pair = (rows[example]["text"], rows[example]["second"])
    reference = attribution_change(
        *(explain_text(Predictor(str(tmp_path / "ckpts" / name), device="cpu"), pair[0], "ig", text_pair=pair[1]) for name in ("pair-before", "pair-after")),
        label,
    )
    assert reference["word"].str.endswith("(second text)").any()
    bars = chart(at, "compare-attr-change")["data"][0]
    shown = dict(zip(bars["y"], bars["x"]))
    expected = reference.set_index("word")["change"]
    assert any(w.endswith("(second text)") for w in shown)  # the second text's words are compared too
    assert shown == pytest.approx({w: expected[w] for w in shown}, abs=1e-6)
    assert len(chart(at, "compare-heat")["data"]) == 2
