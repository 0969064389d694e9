"""The Data page's view model without Streamlit: the ranking of label issues, the decisions shown on them, who may
record one, and the numbers as labelled and with the corrections."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score
from test_store_labels import ANA, LABELS, make_table

from probes.embeddings import NOISE_COLUMNS, index_from_vectors
from probes.views import ResultCache
from quality.views import EMBEDDINGS_NEEDED, MODEL, NEIGHBOURS, data_view, issue_choice, neighbour_hints, ranked_issues, record_decision
from store.audit import AuditStore
from store.identity import LoginThrottle, hash_password
from store.labels import decisions_of


@pytest.fixture
def store(tmp_path):
    return AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")


def noise(rows: dict[int, str]) -> pd.DataFrame:
    """A label_noise result flagging `rows` (row -> the neighbours' label), in the given order."""
    return pd.DataFrame([{**dict.fromkeys(NOISE_COLUMNS, 0), "row": r, "suggested": s} for r, s in rows.items()], columns=NOISE_COLUMNS)


def test_rows_both_methods_flag_come_first_then_neighbours_then_the_other_mistakes():
    # gold [0,1,2,0,1,2,0,1] vs pred [0,1,1,0,0,2,2,1]: the model is wrong on rows 2, 4 and 6 (all at confidence 0.8)
    table = make_table()
    issues = ranked_issues(table, noise({7: "negative", 4: "neutral"}))
    assert issues["row"].tolist() == [4, 7, 2, 6]
    assert issues["flagged_by"].tolist() == [f"{MODEL} + {NEIGHBOURS}", NEIGHBOURS, MODEL, MODEL]
    assert issues["suggested"].tolist() == ["neutral", "negative", "positive", "neutral"]  # neighbours' label, else the prediction
    assert issues["gold"].tolist() == [LABELS[1], LABELS[1], LABELS[2], LABELS[0]]
    assert ranked_issues(table)["row"].tolist() == [2, 4, 6]  # without embeddings: the mistakes alone
    assert ranked_issues(table, limit=1)["row"].tolist() == [2]


def test_the_view_shows_decisions_with_who_and_when_and_both_numbers(store):
    table = make_table()
    view = data_view(store, table)
    assert view.needs == (EMBEDDINGS_NEEDED,) and view.gold is None and view.history is None and view.csv == b""
    assert (view.issues["decision"] == "").all() and "**3** examples to check" in view.summary

    outcome = record_decision(store, table, row=2, verdict="wrong", corrected="positive", team_mode=False, name=" Ana ", note="plainly positive")
    assert outcome.error is None and outcome.decision is not None and "#2" in outcome.message
    view = data_view(store, table)
    assert "1 of them has a reviewer's decision already." in view.summary
    row = view.issues.set_index("row").loc[2]
    assert (row["decision"], row["decided_by"]) == ("gold label wrong → positive", "Ana")
    assert row["decided_at"] == outcome.decision.created_at[:19].replace("T", " ")
    assert view.history is not None and view.history["Text"].tolist() == ["text number 2"] and view.csv
    assert view.gold is not None and view.gold.corrections == 1
    pred = [0, 1, 1, 0, 0, 2, 2, 1]
    assert view.gold.as_labelled.accuracy == pytest.approx(accuracy_score([0, 1, 2, 0, 1, 2, 0, 1], pred))
    assert view.gold.corrected.accuracy == pytest.approx(accuracy_score([0, 1, 1, 0, 1, 2, 0, 1], pred))
    assert issue_choice(view.issues, 2) == "#2: text number 2 (gold neutral, suggested positive)"


def test_the_view_uses_the_neighbour_hints_when_embeddings_exist(store):
    table = make_table()
    # row 4 (gold positive) lies in the cluster of rows 0, 3 and 6 (all gold negative): only it has all 3 neighbours on another label
    vectors = [[1, 0], [0, 1], [0, 1], [1, 0], [1, 0.01], [0, 1], [1, 0], [0, 1]]
    index = index_from_vectors(pd.DataFrame(vectors).to_numpy(dtype=float), table)
    results = ResultCache()
    view = data_view(store, table, index, index_key=("ckpt", "data"), k=3, threshold=1.0, results=results)
    assert view.needs == ()
    hinted = view.issues[view.issues["flagged_by"].str.contains(NEIGHBOURS)]
    assert hinted["row"].tolist() == [4] and hinted["suggested"].tolist() == ["negative"]
    # kept for the next rerun: the same index and settings are not searched again
    kept = results.get("label_noise", (("ckpt", "data"), 3, 1.0))
    assert kept is not None and kept["row"].tolist() == [4]
    assert neighbour_hints(index, ("ckpt", "data"), 3, 1.0, results) is kept


def test_recording_says_what_is_missing_and_checks_who_decides(store):
    table = make_table()
    assert record_decision(store, table, row=None, verdict="right", team_mode=False, name="Ana").error == "Choose the example to decide on."
    assert "right or wrong" in (record_decision(store, table, row=1, verdict=None, team_mode=False, name="Ana").error or "")
    assert "enter your name" in (record_decision(store, table, row=1, verdict="right", team_mode=False, name="  ").error or "")
    assert "log in first" in (record_decision(store, table, row=1, verdict="right", team_mode=True, name="Ana").error or "")
    assert "not one of the checkpoint's labels" in (
        record_decision(store, table, row=1, verdict="wrong", corrected="spam", team_mode=False, name="Ana").error or ""
    )
    accounts = {"Ana Ruiz": hash_password("correct horse", iterations=1_000)}
    throttle = LoginThrottle()
    refused = record_decision(store, table, row=1, verdict="right", team_mode=True, reviewers=accounts, name="Ana Ruiz", password="nope", throttle=throttle)
    assert "Wrong reviewer or password" in (refused.error or "")
    assert decisions_of(store) == []
    ok = record_decision(store, table, row=1, verdict="right", team_mode=True, reviewers=accounts, name="Ana Ruiz", password="correct horse", throttle=throttle)
    assert ok.error is None and ok.decision is not None and (ok.decision.reviewer, ok.decision.identity) == ("Ana Ruiz", ANA.identity)


def test_a_multi_label_table_has_no_single_gold_label_to_decide_on(store):
    import numpy as np

    from analysis.predictions import build_table
    from models.task import MULTI_LABEL
    from store.audit import StoreError
    from store.labels import SINGLE_LABEL_ONLY, corrected_tables, record_label_decision

    table = build_table(
        checkpoint_name="tags",
        fingerprint="c" * 64,
        data_name="tags.csv",
        data_fingerprint="t" * 64,
        labels=LABELS,
        probs=np.full((2, 3), 0.7),
        gold=np.array([[True, False, True], [False, True, False]]),
        texts=["a", "b"],
        n_tokens=np.array([1, 1]),
        truncated=np.zeros(2, dtype=bool),
        task=MULTI_LABEL,
    )
    with pytest.raises(StoreError, match="single-label checkpoints"):
        record_label_decision(store, table, row=0, verdict="right", reviewer=ANA)
    assert corrected_tables(store, [table]).count == 0
    view = data_view(store, table)
    assert view.needs == (SINGLE_LABEL_ONLY,) and view.issues.empty and view.gold is None
