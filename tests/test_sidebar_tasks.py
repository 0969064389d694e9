"""The sidebar's task, sentence-pair, multi-label gold and threshold choices reach the prediction tables every page gets
(`dashboard.state.tables(session)`), checked against the model's own probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny import make_tiny_checkpoint

from dashboard import state
from models.inference import Predictor

TAGS = ("toxic", "insult", "threat", "spam")
TEXTS = ["you idiot", "buy now cheap", "hello there", "I will find you", "the film was good", "a terrible boring movie"]
OTHER = ["an insult", "an advert", "a greeting", "a threat", "a review", "another review"]
GOLD = ["toxic|insult", "spam", "", "threat|toxic", "", "toxic"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("sidebar")
    make_tiny_checkpoint(root / "multi" / "tags", labels=TAGS, problem_type="multi_label_classification")
    make_tiny_checkpoint(root / "untyped" / "tags-untyped", labels=TAGS, seed=2)
    make_tiny_checkpoint(root / "single" / "sentiment", seed=1)
    indicators = {t: [int(t in g.split("|")) for g in GOLD] for t in TAGS}
    pd.DataFrame({"text": TEXTS, "other": OTHER, **indicators}).to_csv(root / "indicators.csv", index=False)
    pd.DataFrame({"text": TEXTS, "other": OTHER, "label": GOLD}).to_csv(root / "joined.csv", index=False)
    pd.DataFrame({"text": TEXTS, "other": OTHER, "label": ["positive", "negative"] * 3}).to_csv(root / "single.csv", index=False)
    return root


def _sidebar_only() -> None:
    from dashboard.state import sidebar

    sidebar()


def _app(monkeypatch, checkpoints: Path, data: Path):
    """The sidebar alone (pages are tested in tests/test_page_*.py); `state.tables(session)` is what every page gets from it."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VEREDICTO_CHECKPOINTS", str(checkpoints))
    monkeypatch.setenv("VEREDICTO_DATA", str(data))
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(data.parent / "attribution-cache"))
    at = AppTest.from_function(_sidebar_only, default_timeout=300)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _session(at) -> state.Session:
    session = at.session_state.get(state.SESSION_KEY)
    assert session is not None, [e.value for e in at.sidebar.error]
    return session


def _sets(probs: np.ndarray, cuts) -> list[str]:
    return [" | ".join(t for t, on in zip(TAGS, row) if on) for row in probs >= np.asarray(cuts)]


def test_a_multi_label_checkpoint_reads_detected_indicator_columns_with_sigmoids(folders, monkeypatch):
    at = _app(monkeypatch, folders / "multi", folders / "indicators.csv")
    assert at.radio(key="gold_format").value == state.PER_LABEL  # columns named like the labels
    session = _session(at)
    (table,) = state.tables(session)
    assert table.task == "multi-label" and session.candidate.task_source == "config"
    probs = Predictor(folders / "multi" / "tags").predict_proba(TEXTS)
    np.testing.assert_allclose(table.probs, probs, atol=1e-6)
    assert table.frame["gold"].tolist() == [" | ".join(t for t in TAGS if t in g.split("|")) for g in GOLD]
    assert table.frame["pred"].tolist() == _sets(probs, [0.5] * 4)


def test_choosing_multi_label_overrides_a_config_without_problem_type(folders, monkeypatch):
    at = _app(monkeypatch, folders / "untyped", folders / "joined.csv")
    # read as its config says (single-label), rows without a tag are refused
    assert state.SESSION_KEY not in at.session_state and any("without a label" in e.value for e in at.sidebar.error)
    at.selectbox(key="task").set_value("multi-label").run()
    session = _session(at)
    assert (session.candidate.task, session.candidate.task_source) == ("multi-label", "override")
    assert any("set by the user" in c.value for c in at.sidebar.caption)
    (table,) = state.tables(session)
    assert table.multi_label and not np.allclose(table.probs.sum(axis=1), 1.0)
    assert table.gold_matrix.sum() == sum(len([t for t in g.split("|") if t]) for g in GOLD)  # the empty cells are "no tag"


def test_an_uploaded_thresholds_file_and_per_label_numbers_decide_the_sets(folders, monkeypatch):
    at = _app(monkeypatch, folders / "multi", folders / "joined.csv")
    default_table = state.tables(_session(at))[0]
    at.radio(key="thresholds_source").set_value(state.FILE_THRESHOLDS).run()
    at.file_uploader(key="thresholds_file").set_value(("t.yaml", b"toxic: 0.0\ndefault: 1.0\n", "application/x-yaml")).run()
    session = _session(at)
    assert session.thresholds.as_dict() == {"toxic": 0.0, "insult": 1.0, "threat": 1.0, "spam": 1.0}
    (table,) = state.tables(session)
    assert set(table.frame["pred"]) == {"toxic"}  # p >= 0 always, p >= 1 never for a sigmoid
    assert table.data_fingerprint != default_table.data_fingerprint  # two threshold sets never share a result

    at.radio(key="thresholds_source").set_value(state.EACH_THRESHOLDS).run()
    at.number_input(key="threshold_3").set_value(0.3).run()
    (table,) = state.tables(_session(at))
    np.testing.assert_array_equal(table.pred_matrix, table.probs >= np.array([0.5, 0.5, 0.5, 0.3]))
    assert table.thresholds.source == "set in the sidebar"


def test_a_bad_thresholds_upload_is_shown_as_a_problem_not_a_crash(folders, monkeypatch):
    at = _app(monkeypatch, folders / "multi", folders / "joined.csv")
    at.radio(key="thresholds_source").set_value(state.FILE_THRESHOLDS).run()
    at.file_uploader(key="thresholds_file").set_value(("t.json", b'{"**bold**": 0.3}', "application/json")).run()
    assert state.SESSION_KEY not in at.session_state
    assert any("is not a label of the checkpoint" in e.value and "\\*\\*bold\\*\\*" in e.value for e in at.sidebar.error)  # escaped, not bold
    at.file_uploader(key="thresholds_file").set_value(("t.json", b"x" * 70_000, "application/json")).run()
    assert any("larger than 64 KiB" in e.value for e in at.sidebar.error)


def test_a_second_text_column_scores_sentence_pairs(folders, monkeypatch):
    at = _app(monkeypatch, folders / "single", folders / "single.csv")
    assert at.selectbox(key="pair_col").value == state.NO_PAIR
    at.selectbox(key="pair_col").set_value("other").run()
    session = _session(at)
    assert session.evalset.pair
    (table,) = state.tables(session)
    expected = Predictor(folders / "single" / "sentiment").predict_proba(list(zip(TEXTS, OTHER)))
    np.testing.assert_allclose(table.probs, expected, atol=1e-6)
    assert table.frame["text_pair"].tolist() == OTHER


def test_tuning_refuses_the_evaluation_file_itself(folders, monkeypatch):
    at = _app(monkeypatch, folders / "multi", folders / "joined.csv")
    at.radio(key="thresholds_source").set_value(state.TUNED_THRESHOLDS).run()
    at.text_input(key="validation_file").set_value(str(folders / "joined.csv")).run()
    assert any("same examples as the evaluation data" in e.value for e in at.sidebar.error)
    validation = folders / "validation.csv"
    pd.DataFrame(
        {"text": ["you are an idiot", "cheap pills", "good morning", "I know where you live"], "label": ["toxic|insult", "spam", "", "threat"]}
    ).to_csv(validation, index=False)
    at.text_input(key="validation_file").set_value(str(validation)).run()
    session = _session(at)
    assert session.thresholds.source == "tuned on validation.csv (F1-best per label)"
    assert state.tables(session)[0].thresholds == session.thresholds


def test_team_mode_tunes_only_on_files_under_the_shared_roots(folders, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "joined.csv").write_bytes((folders / "joined.csv").read_bytes())
    pd.DataFrame({"text": ["you are an idiot", "cheap pills"], "label": ["toxic|insult", "spam"]}).to_csv(shared / "val.csv", index=False)
    outside = tmp_path / "elsewhere.csv"
    outside.write_bytes((shared / "val.csv").read_bytes())
    monkeypatch.setenv("VEREDICTO_TEAM_MODE", "1")
    monkeypatch.setenv("VEREDICTO_DATA_ROOTS", str(shared))
    monkeypatch.setenv("VEREDICTO_CHECKPOINT_ROOTS", str(folders / "multi"))
    at = _app(monkeypatch, folders / "multi", shared / "joined.csv")
    at.radio(key="thresholds_source").set_value(state.TUNED_THRESHOLDS).run()
    picker = at.selectbox(key="team_validation_file")
    assert set(picker.options) == {"shared/joined.csv", "shared/val.csv"}  # no free path box, nothing outside the roots
    picker.set_value(str((shared / "val.csv").resolve())).run()
    assert _session(at).thresholds.source == "tuned on val.csv (F1-best per label)"
    # belt and braces: were the listing fooled into offering a file outside the roots, the path check still refuses it
    listed = [str((shared / "joined.csv").resolve()), str(outside.resolve())]
    monkeypatch.setattr(state, "allowed_files", lambda roots, suffixes: listed)
    at.run()
    at.selectbox(key="team_validation_file").set_value(str(outside.resolve())).run()
    assert state.SESSION_KEY not in at.session_state
    assert any("outside the folders this server shares" in e.value for e in at.sidebar.error)
