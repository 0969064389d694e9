"""Bad input on the results store: a full disk (SQLite's own SQLITE_FULL, from `PRAGMA max_page_count`) loses nothing
and says what to do; a data file changed under a filled store scores only its new or changed texts, and says how many."""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pandas as pd
import pytest
from test_cli_explain import write_data

from analysis.predictions import ScoringPlan, scoring_plan
from cli.main import main
from models.checkpoints import inspect_checkpoint
from models.inference import Predictor, ProbabilityCache
from runtime import sqlite_files
from store.results import ResultsStore

TEXTS = [f"the film number {i} was {'good' if i % 2 else 'awful'} and the cast was fine" for i in range(60)]


@contextlib.contextmanager
def disk_full():
    """Inside the block no connection to a store may grow its file: a real SQLITE_FULL on the first write that needs a page."""
    real = sqlite_files.connect

    def capped(path, timeout=30.0):
        conn = real(path, timeout)
        conn.execute("PRAGMA max_page_count = 1")  # SQLite clamps it to the file's current size
        return conn

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite_files, "connect", capped)
        yield


def fresh(path, store, **kw):
    return Predictor(path, device="cpu", cache=ProbabilityCache(), store=store, **kw)


def test_a_full_disk_keeps_the_stored_rows_and_returns_the_failing_batch_from_memory(tiny_bert, tmp_path, forwarded):
    store = ResultsStore(tmp_path)
    predictor = fresh(tiny_bert, store, batch_size=8)
    before = predictor.predict_proba(TEXTS[:4])
    expected = Predictor(tiny_bert, device="cpu", cache=ProbabilityCache(), batch_size=8).predict_proba(TEXTS[4:])

    with disk_full():
        got = predictor.predict_proba(TEXTS[4:])
    np.testing.assert_allclose(got, expected, atol=1e-6)  # every batch came back, the one that failed to store included
    warning = predictor.store_warning or ""
    assert f"The disk holding the results store {tmp_path} is full" in warning, warning
    assert "free space or choose another store with --store / $VEREDICTO_CACHE_DIR; results stay in memory for this run" in warning
    assert predictor.store is None
    forwarded.clear()
    np.testing.assert_array_equal(predictor.predict_proba(TEXTS[4:]), got)  # kept in memory for this run
    assert forwarded == []
    reopened = ResultsStore(tmp_path)  # the rows stored before stay readable, unchanged
    found = reopened.get_many("proba", predictor.ref.scoring_key, TEXTS[:4])
    np.testing.assert_array_equal(np.stack([found[i] for i in range(4)]), before)
    assert reopened.count("proba", predictor.ref.scoring_key, TEXTS[4:]) < len(TEXTS) - 4  # the failing batch was not half-written: it is absent


def precompute(model, data, store, *extra):
    return main(["precompute", "--model", str(model), "--data", str(data), "--store", str(store), "--what", "predictions", *extra])


def test_precompute_on_a_full_disk_stops_with_exit_2_saying_how_many_were_stored_and_a_rerun_continues(tiny_bert, tmp_path, capsys):
    data, store = tmp_path / "d.csv", tmp_path / "store"
    texts = write_data(data, 60)
    assert precompute(tiny_bert, data, store, "--limit", "3") == 0
    capsys.readouterr()
    with disk_full():
        assert precompute(tiny_bert, data, store, "--batch-size", "2") == 2
    err = capsys.readouterr().err
    assert f"veredicto precompute: The disk holding the results store {store} is full" in err
    assert "free space or choose another store with --store / $VEREDICTO_CACHE_DIR" in err
    match = re.search(r"PREDICTIONS: this run stored (\d+) of the 57 texts it had to score; (\d+) of 60 are stored now", err)
    assert match, err
    assert "Run the same command again to continue" in err
    key = inspect_checkpoint(tiny_bert).scoring_key
    held = ResultsStore(store).count("proba", key, texts)
    assert held == int(match[2]) == 3 + int(match[1]) < 60  # what it says is what is there: nothing stored was lost

    assert precompute(tiny_bert, data, store) == 0  # space again: the rerun scores only the rest
    assert f"PREDICTIONS: {60 - held} of 60 texts are not in the store yet" in capsys.readouterr().err
    assert ResultsStore(store).count("proba", key, texts) == 60


def change_three(data):
    frame = pd.read_csv(data)
    frame.loc[[1, 4, 7], "text"] = [f"a changed review, number {i}, quite good" for i in (1, 4, 7)]
    frame.to_csv(data, index=False)
    return frame["text"].tolist()


def test_a_data_file_changed_under_a_filled_store_scores_only_its_changed_texts_and_says_how_many(tiny_bert, tmp_path, capsys, forwarded):
    data, store = tmp_path / "d.csv", tmp_path / "store"
    write_data(data, 10)
    assert precompute(tiny_bert, data, store) == 0
    assert "PREDICTIONS: none of the 10 texts is stored yet: scoring them." in capsys.readouterr().err
    change_three(data)
    forwarded.clear()
    assert precompute(tiny_bert, data, store) == 0
    assert "PREDICTIONS: 3 of 10 texts are not in the store yet (new or changed since it was filled): scoring them." in capsys.readouterr().err
    assert sum(forwarded) == 3
    assert precompute(tiny_bert, data, store) == 0
    assert "PREDICTIONS: all 10 texts already stored." in capsys.readouterr().err


def test_the_scoring_plan_says_how_many_texts_came_from_the_store_and_only_those_missing_are_scored(tiny_bert, tmp_path, forwarded):
    data = tmp_path / "d.csv"
    texts = write_data(data, 10)
    fresh(tiny_bert, ResultsStore(tmp_path)).predict_proba(texts)
    changed = change_three(data)
    predictor = fresh(tiny_bert, ResultsStore(tmp_path))  # a restart: nothing in memory
    plan = scoring_plan(predictor, changed + changed[:2])  # duplicates count once
    assert plan == ScoringPlan(total=10, missing=3)
    assert plan.message == "3 of 10 texts are not in the store yet (new or changed since it was filled): scoring them"
    forwarded.clear()
    predictor.predict_proba(changed)
    assert forwarded == [3] and predictor.stats.texts_from_store == 7  # the plan read the 7 stored rows

    again = fresh(tiny_bert, ResultsStore(tmp_path))
    again.predict_proba(changed + changed[:1])
    assert forwarded == [3] and again.stats.texts_from_store == 10
    assert scoring_plan(again, changed).message == "all 10 texts already stored"
