"""Reviewers' decisions on gold labels: stored durably with who and when, latest per row wins, never applied to another
text, validated against the checkpoint's labels; the metrics with the corrections; the CSV export and the CLI."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import accuracy_score, f1_score
from store_support import BACKENDS, fresh_store_url, signoff

from analysis.predictions import build_table, with_corrected_gold
from analysis.views import headline
from cli.main import main
from evaldata.loading import data_fingerprint, load_eval_data
from models.errors import DataError
from store.audit import SCHEMA_VERSION, AuditStore, StoreError, sha256_text
from store.identity import LoginRefused, Reviewer, Team
from store.labels import (
    authorize_labeller,
    corrected_tables,
    corrections,
    decisions_csv,
    decisions_of,
    latest_decisions,
    record_label_decision,
    table_decisions,
)

LABELS = ("negative", "positive", "neutral")
ANA = Reviewer("Ana Ruiz", "secrets:Ana Ruiz")
BO = Reviewer("Bo", "oidc:https://login.example.org|9f8e")


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    url, cleanup = fresh_store_url(request.param, tmp_path)
    yield url
    cleanup()


@pytest.fixture
def store(store_url):
    return AuditStore(store_url)


def make_table(texts=None, gold=None, pred=None, fingerprint="d" * 64):
    """A prediction table without a model: `pred` as label indices, probabilities 0.8 on the predicted label."""
    texts = texts or [f"text number {i}" for i in range(8)]
    gold = np.array(gold if gold is not None else [0, 1, 2, 0, 1, 2, 0, 1])
    pred = np.array(pred if pred is not None else [0, 1, 1, 0, 0, 2, 2, 1])
    probs = np.full((len(texts), len(LABELS)), 0.1)
    probs[np.arange(len(texts)), pred] = 0.8
    return build_table(
        checkpoint_name="ckpt",
        fingerprint="c" * 64,
        data_name="eval.csv",
        data_fingerprint=fingerprint,
        labels=LABELS,
        probs=probs,
        gold=gold,
        texts=texts,
        n_tokens=np.full(len(texts), 5),
        truncated=np.zeros(len(texts), dtype=bool),
        metadata={"source": ["web", "app"] * (len(texts) // 2)},
    )


def test_a_decision_round_trips_with_everything_it_needs(store, store_url):
    table = make_table()
    stored = record_label_decision(store, table, row=2, verdict="wrong", corrected="positive", reviewer=ANA, note="sarcasm")
    again = decisions_of(AuditStore(store_url), table.data_fingerprint)
    assert again == [stored]
    d = again[0]
    assert (d.row, d.gold, d.verdict, d.corrected, d.label) == (2, "neutral", "wrong", "positive", "positive")
    assert d.text_sha256 == sha256_text("text number 2") and d.data_fingerprint == "d" * 64 and d.data_name == "eval.csv"
    assert (d.reviewer, d.identity, d.note) == ("Ana Ruiz", "secrets:Ana Ruiz", "sarcasm")
    assert d.created_at.endswith("Z") and pd.Timestamp(d.created_at).tzinfo is not None  # UTC, as sign-offs
    assert decisions_of(store, "e" * 64) == []  # other data: nothing


def test_the_latest_decision_per_row_wins_and_the_history_is_kept(store):
    table = make_table()
    record_label_decision(store, table, row=1, verdict="wrong", corrected="neutral", reviewer=ANA)
    record_label_decision(store, table, row=1, verdict="right", reviewer=BO, note="re-read it: positive is right")
    record_label_decision(store, table, row=4, verdict="wrong", corrected="negative", reviewer=BO)
    record_label_decision(store, table, row=4, verdict="wrong", corrected="neutral", reviewer=ANA)
    latest = table_decisions(store, table)
    assert {r: (d.verdict, d.corrected, d.reviewer) for r, d in latest.items()} == {1: ("right", "", "Bo"), 4: ("wrong", "neutral", "Ana Ruiz")}
    assert corrections(latest) == {4: "neutral"}
    assert len(decisions_of(store, table.data_fingerprint)) == 4


def test_a_changed_text_does_not_inherit_a_decision(store):
    table = make_table()
    record_label_decision(store, table, row=3, verdict="wrong", corrected="positive", reviewer=ANA)
    record_label_decision(store, table, row=5, verdict="wrong", corrected="negative", reviewer=ANA)
    texts = table.frame["text"].tolist()
    texts[3] = "a different text now sits at row 3"
    changed = make_table(texts=texts)  # same fingerprint, as if the position were all that named a row
    assert set(table_decisions(store, changed)) == {5}
    assert corrected_tables(store, [changed]).count == 1
    other_file = make_table(fingerprint="f" * 64)  # other data: even identical texts get nothing
    assert table_decisions(store, other_file) == {}
    # and a decision for a row the shorter file no longer has is ignored, not an IndexError
    decisions = decisions_of(store, table.data_fingerprint)
    assert latest_decisions(decisions, table.data_fingerprint, texts[:4]) == {}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(row=0, verdict="wrong", corrected="spam"), "not one of the checkpoint's labels"),
        (dict(row=0, verdict="wrong"), "not one of the checkpoint's labels"),
        (dict(row=0, verdict="wrong", corrected="negative"), "is the gold label already"),
        (dict(row=99, verdict="right"), "outside the evaluation data"),
        (dict(row=0, verdict="maybe"), "Unknown label verdict"),
    ],
)
def test_invalid_decisions_are_refused_and_nothing_is_stored(store, kwargs, message):
    table = make_table()
    with pytest.raises(StoreError, match=message):
        record_label_decision(store, table, reviewer=ANA, **kwargs)
    assert decisions_of(store) == []


def test_who_may_decide():
    authorize_labeller(Reviewer("Ana", "local:Ana"), team_mode=False)  # on one's own machine a name is enough
    with pytest.raises(LoginRefused, match="enter your name"):
        authorize_labeller(Reviewer(" ", "local: "), team_mode=False)
    with pytest.raises(LoginRefused, match="log in first"):
        authorize_labeller(None, team_mode=True)
    with pytest.raises(LoginRefused, match="verified identity"):
        authorize_labeller(Reviewer("Ana", "local:Ana"), team_mode=True)
    authorize_labeller(ANA, team_mode=True)  # a password account, no allow-list: as for sign-offs
    with pytest.raises(LoginRefused, match="allow-list"):
        authorize_labeller(BO, team_mode=True)  # OIDC fails closed without [veredicto.team]
    authorize_labeller(BO, team_mode=True, team=Team(approvers=frozenset(), reviewers=frozenset({BO.identity})))


def test_corrected_metrics_equal_scikit_learn_on_the_corrected_arrays(store):
    table = make_table()
    record_label_decision(store, table, row=2, verdict="wrong", corrected="positive", reviewer=ANA)  # the model said positive
    record_label_decision(store, table, row=6, verdict="wrong", corrected="neutral", reviewer=ANA)  # the model said neutral
    record_label_decision(store, table, row=0, verdict="right", reviewer=ANA)
    fixed = corrected_tables(store, [table])
    assert fixed.count == 2
    corrected = fixed.tables[0]
    gold = np.array([0, 1, 1, 0, 1, 2, 2, 1])  # by hand: rows 2 and 6 relabelled
    pred = np.array([0, 1, 1, 0, 0, 2, 2, 1])
    before, after = headline(table).metrics, headline(corrected).metrics
    assert before.accuracy == pytest.approx(accuracy_score([0, 1, 2, 0, 1, 2, 0, 1], pred)) == 5 / 8
    assert after.accuracy == pytest.approx(accuracy_score(gold, pred)) == 7 / 8
    assert after.macro_f1 == pytest.approx(f1_score(gold, pred, average="macro", labels=[0, 1, 2]))
    assert corrected.frame["gold"].tolist() == [LABELS[i] for i in gold] and corrected.frame["correct"].tolist() == list(gold == pred)
    assert corrected.cache_key != table.cache_key  # Streamlit's caches never serve one for the other
    assert corrected.frame["source"].tolist() == table.frame["source"].tolist() and corrected.metadata == ("source",)
    assert with_corrected_gold(table, {}) is table
    with pytest.raises(DataError, match="spam"):
        with_corrected_gold(table, {0: "spam"})


def test_the_csv_cannot_run_a_formula_in_a_spreadsheet(store):
    texts = [f"text {i}" for i in range(7)] + ['=HYPERLINK("http://evil","click")']
    table = make_table(texts=texts)
    evil = Reviewer("@SUM(1+1)", "local:@SUM(1+1)")
    record_label_decision(store, table, row=7, verdict="wrong", corrected="neutral", reviewer=evil, note="-2+3")
    rows = list(csv.DictReader(io.StringIO(decisions_csv(decisions_of(store), texts).decode("utf-8-sig"))))
    assert len(rows) == 1
    row = rows[0]
    assert row["Reviewer"] == "'@SUM(1+1)" and row["Note"] == "'-2+3" and row["Text"].startswith("'=HYPERLINK")
    assert (row["Row"], row["Gold label"], row["Corrected label"], row["Verdict"]) == ("7", "positive", "neutral", "gold label wrong")
    assert not any(value.startswith(("=", "+", "-", "@")) for value in row.values())


def _v2(store: AuditStore) -> None:
    """Turn `store` into what Veredicto with schema version 2 left on disk: no label table, no version-3 row."""
    with store.engine.connect() as conn, conn.begin():
        conn.execute(sa.text("DROP TABLE veredicto_label_decisions"))
        conn.execute(sa.text("DELETE FROM veredicto_schema WHERE version = 3"))


def test_upgrading_a_version_2_store_keeps_every_signoff_and_the_chain(store_url):
    assert SCHEMA_VERSION == 3
    store = AuditStore(store_url)
    for i, who in enumerate(("alice", "bob", "carol"), start=1):
        store.append(**signoff(i, reviewer=who))
    _v2(store)
    assert store.schema_version() == 2 and not sa.inspect(store.engine).has_table("veredicto_label_decisions")
    before = [r.to_dict() for r in store.records()]
    reopened = AuditStore(store_url)  # what opening the old file with this version does
    assert reopened.schema_version() == 3 and [v for v, _, _ in reopened.schema_history()] == [1, 2, 3]
    assert [r.to_dict() for r in reopened.records()] == before
    result = reopened.verify()
    assert result.ok and result.records == 3
    record_label_decision(reopened, make_table(), row=0, verdict="right", reviewer=ANA)
    assert len(decisions_of(reopened)) == 1 and reopened.verify().ok  # decisions live beside the chain, never in it


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "eval.csv"
    pd.DataFrame({"text": ["good film", "bad film", "=cmd|' /C calc'!A0", "fine"], "label": ["positive", "negative", "negative", "neutral"]}).to_csv(
        path, index=False
    )
    return path


def test_cli_labels_export_and_list(tmp_path, data_file, capsys):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = AuditStore(url)
    evalset = load_eval_data(data_file)
    fp = data_fingerprint(evalset)
    table = make_table(texts=evalset.texts, gold=[1, 0, 0, 2], pred=[1, 0, 1, 2], fingerprint=fp)
    record_label_decision(store, table, row=2, verdict="wrong", corrected="neutral", reviewer=ANA)
    record_label_decision(store, table, row=2, verdict="wrong", corrected="positive", reviewer=BO, note="@later")
    record_label_decision(store, table, row=0, verdict="right", reviewer=ANA)
    record_label_decision(store, make_table(fingerprint="9" * 64), row=0, verdict="right", reviewer=ANA)  # other data

    out = tmp_path / "decisions.csv"
    assert main(["labels", "export", "--data", str(data_file), "--store", url, "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [(r["Row"], r["Corrected label"], r["Reviewer"]) for r in rows] == [("0", "", "Ana Ruiz"), ("2", "positive", "Bo")]  # latest per row, newest first
    assert rows[1]["Text"] == "'=cmd|' /C calc'!A0" and rows[1]["Note"] == "'@later"
    assert "2 decision(s)" in capsys.readouterr().err

    assert main(["labels", "export", "--data", str(data_file), "--store", url, "--history"]) == 0
    printed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(printed) == 3  # every decision on this file, newest first
    assert [r["Reviewer"] for r in printed] == ["Ana Ruiz", "Bo", "Ana Ruiz"]

    assert main(["labels", "list", "--data", str(data_file), "--store", url]) == 0
    listing = capsys.readouterr().out
    assert "gold label wrong → positive" in listing and "Bo" in listing and "=cmd" not in listing  # rows, not file contents

    assert main(["labels", "list", "--store", url]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if "gold label" in line]) == 4


def test_cli_labels_on_other_data_says_how_decisions_are_matched(tmp_path, data_file, capsys):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    record_label_decision(AuditStore(url), make_table(), row=0, verdict="right", reviewer=ANA)
    assert main(["labels", "export", "--data", str(data_file), "--store", url]) == 0
    out, err = capsys.readouterr()
    assert "No decision was recorded on this data" in err and "--label-map" in err
    assert out.splitlines()[0].startswith('"Decision","When (UTC)"') and len(out.splitlines()) == 1  # the header only
    assert main(["labels", "list", "--data", str(data_file), "--store", url, "--label-map", "neutral=positive"]) == 0
    assert "No label decisions on eval.csv. No decision was recorded" in capsys.readouterr().out


def test_cli_labels_bad_input_exits_2(tmp_path, capsys):
    assert main(["labels", "export", "--data", str(tmp_path / "missing.csv"), "--store", str(tmp_path)]) == 2
    assert "missing.csv" in capsys.readouterr().err


def test_with_redaction_the_decisions_export_masks_personal_data_in_texts_and_notes(tmp_path, capsys):
    """The failure: the Data page's download and `veredicto labels export` wrote the decided texts (and notes quoting
    them) as stored, names and emails included, while the page itself masked them."""
    from privacy_support import PIECES, leaks, planted_file, planted_frame

    from quality.views import data_view

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = AuditStore(url)
    path = planted_file(tmp_path)
    evalset = load_eval_data(path)
    n = len(planted_frame())
    table = make_table(texts=evalset.texts, gold=[0] * n, pred=[1] * n, fingerprint=data_fingerprint(evalset))
    for row in range(17):  # every planted value's row
        record_label_decision(store, table, row=row, verdict="wrong", corrected="positive", reviewer=BO, note=f"as the text says: {evalset.texts[row]}")

    view = data_view(store, table, redact=True)
    exported = view.csv.decode("utf-8-sig")
    assert leaks(exported) == [] and [p for p in PIECES if p in exported] == [] and "<EMAIL>" in exported
    assert view.history is not None and leaks(view.history.to_csv()) == []
    assert leaks(data_view(store, table).csv.decode("utf-8-sig"))  # off: as stored (the search finds what it looks for)

    assert main(["labels", "export", "--data", str(path), "--store", url, "--redact", "--history"]) == 0
    printed = capsys.readouterr().out
    assert leaks(printed) == [] and len(list(csv.DictReader(io.StringIO(printed)))) == 17 and "<NAME>" in printed
    assert main(["labels", "export", "--data", str(path), "--store", url]) == 0
    assert leaks(capsys.readouterr().out)
    assert main(["labels", "list", "--data", str(path), "--store", url, "--redact"]) == 0
    assert leaks(capsys.readouterr().out) == []
