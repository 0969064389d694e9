"""The Overview page as a person sees it: fingerprints, headline metrics, class balance, try-a-sentence."""

import json

import numpy as np
import pytest
from analysis_pages_support import LABELS, app_test, build_fixture, predictions
from sklearn.metrics import f1_score

from analysis.compare import macro_f1_interval
from analysis.stats import wilson_interval


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("overview-page"))


def test_headline_metrics_match_the_predictions(env, monkeypatch):
    at = app_test(env, monkeypatch, "pages/overview.py")
    gold = env["frame"]["label"].to_numpy()
    # one column per checkpoint, baseline first: each shows its own numbers, not merely some checkpoint's
    expected = {name: predictions(env, name)[1] for name in ("tiny-before", "tiny-after")}
    assert [m.value for m in at.metric if m.label == "Accuracy"] == [f"{(pred == gold).mean():.1%}" for pred in expected.values()]
    assert [m.value for m in at.metric if m.label == "Macro-F1"] == [f"{f1_score(gold, pred, average='macro'):.3f}" for pred in expected.values()]
    assert not np.array_equal(expected["tiny-before"], expected["tiny-after"])  # the two checkpoints really differ here
    # the intervals under each pair of numbers, recomputed independently of the page
    captions = [c.value for c in at.caption if c.value.startswith("95% intervals")]
    assert len(captions) == 2
    for caption, name in zip(captions, ("tiny-before", "tiny-after")):
        _, pred = predictions(env, name)
        gold_idx, pred_idx = (np.array([LABELS.index(l) for l in x]) for x in (gold, pred))
        (a_lo, a_hi), (f_lo, f_hi) = wilson_interval(int((pred == gold).sum()), len(gold)), macro_f1_interval(gold_idx, pred_idx, len(LABELS))
        assert caption == f"95% intervals: accuracy {a_lo:.1%}–{a_hi:.1%} (Wilson), macro-F1 {f_lo:.3f}–{f_hi:.3f} (2,000 bootstrap resamples)."
        assert a_lo <= (pred == gold).mean() <= a_hi and f_lo <= f1_score(gold, pred, average="macro") <= f_hi
    markdown = " ".join(m.value for m in at.markdown)
    assert "tiny-before (baseline)" in markdown and "tiny-after (candidate)" in markdown
    per_class = at.dataframe[0].value
    assert list(per_class.index) == list(LABELS) and per_class["support"].sum() == len(gold)


def test_class_balance_counts_gold_and_predictions(env, monkeypatch):
    at = app_test(env, monkeypatch, "pages/overview.py")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    gold_trace = spec["data"][0]
    expected = [int((env["frame"]["label"] == l).sum()) for l in LABELS]
    assert gold_trace["name"] == "Gold labels" and list(gold_trace["y"]) == expected
    _, pred = predictions(env, "tiny-after")
    after = next(t for t in spec["data"] if t["name"] == "Predicted by tiny-after")
    assert list(after["y"]) == [int((pred == l).sum()) for l in LABELS]


def test_try_a_sentence_predicts_and_explains(env, monkeypatch):
    monkeypatch.setenv("VEREDICTO_SHAP_MAX_EVALS", "40")
    monkeypatch.setenv("VEREDICTO_LIME_SAMPLES", "40")
    at = app_test(env, monkeypatch, "pages/overview.py", checkpoints="single")
    at.text_area[0].input("the film was good").run()
    assert not at.exception, [e.message for e in at.exception]
    from models import Predictor

    probs = Predictor(str(env["single"] / "tiny-before"), device="cpu").predict_proba(["the film was good"])[0]
    verdict = f"**tiny-before** predicts **{LABELS[int(np.argmax(probs))]}** ({probs.max():.1%})"
    assert any(verdict in m.value for m in at.markdown)
    heat = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "heat" in c.proto.id]
    assert len(heat) == 2  # SHAP and LIME side by side
    for spec in heat:
        words = "".join(str(t) for trace in spec["data"] for t in (trace.get("text") or []))
        assert "film" in words and "good" in words


@pytest.mark.parametrize(
    "content, message",
    [
        ("review,stars\ncaf\xe9,5\n".encode("latin-1"), "is not UTF-8: byte 0xe9 on line 2"),
        (b"", "is empty"),
        (b"text,label\nfine,stellar\n", "label(s) the checkpoint does not know"),
    ],
)
def test_a_bad_data_file_is_explained_in_the_page_not_a_traceback(env, tmp_path, monkeypatch, content, message):
    from analysis_pages_support import ROOT
    from streamlit.testing.v1 import AppTest

    from runtime.escaping import md

    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    monkeypatch.setenv("VEREDICTO_CHECKPOINTS", str(env["checkpoints"]))
    monkeypatch.setenv("VEREDICTO_DATA", str(bad))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    assert not at.exception
    shown = [e.value for e in at.error]
    assert any(md(message) in m for m in shown), shown  # the sidebar escapes its problems as Markdown (they quote the file)


def test_replacing_weights_in_place_changes_the_fingerprint_shown(tmp_path, monkeypatch):
    """Sign-offs are tied to weights: a checkpoint rewritten in place must not keep its old identity."""
    import os

    from analysis_pages_support import ROOT
    from streamlit.testing.v1 import AppTest
    from tiny import make_tiny_checkpoint

    from models import inspect_checkpoint

    env = build_fixture(tmp_path)
    monkeypatch.setenv("VEREDICTO_CHECKPOINTS", str(env["single"]))
    monkeypatch.setenv("VEREDICTO_DATA", str(env["data"]))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    ckpt = env["single"] / "tiny-before"
    old = inspect_checkpoint(ckpt).short_fingerprint
    assert any(old in c.value for c in at.caption)
    mtime = os.stat(env["single"]).st_mtime_ns
    make_tiny_checkpoint(ckpt, "bert", seed=7)  # new weights, same folder
    os.utime(env["single"], ns=(mtime, mtime))  # the parent folder's time does not change
    new = inspect_checkpoint(ckpt).short_fingerprint
    assert new != old
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()  # a new visit; the process-wide caches stay
    captions = " ".join(c.value for c in at.caption)
    assert new in captions and old not in captions


def test_the_shap_warm_up_starts_once_the_first_predictions_are_ready_never_during_the_scoring(tmp_path, monkeypatch):
    """Issue 12: started with the app, the warm-up's `import shap` (seconds of CPU, holding the GIL) ran on the same two
    cores as the first page's scoring and slowed it. It starts once that page's tables are ready, still before any
    explanation (which needs a table first), on a thread of its own, once per process."""
    import threading

    from analysis_pages_support import ROOT
    from streamlit.testing.v1 import AppTest

    from dashboard import state

    events: list[str] = []
    real = state.predict_table

    def scoring(*args, **kwargs):
        events.append("scoring")
        try:
            return real(*args, **kwargs)
        finally:
            events.append("scored")

    monkeypatch.setattr(state, "predict_table", scoring)
    monkeypatch.setattr(state, "warm_up", lambda: events.append(f"warm-up on {threading.current_thread().name}"))
    state._shap_warm_up.clear()
    env = build_fixture(tmp_path)
    frame = env["frame"].assign(text=env["frame"]["text"] + " (warm-up)")  # texts no other test scored: no shared table to reuse
    frame.to_csv(env["data"], index=False)
    try:
        app_test(env, monkeypatch, "pages/overview.py")
        state._shap_warm_up().join(30)  # the thread the first run started (cached once per process)
        AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()  # another visit: no second warm-up
        assert events == ["scoring", "scored", "scoring", "scored", "warm-up on shap-warm-up"]  # both checkpoints scored first
    finally:
        state._shap_warm_up.clear()
