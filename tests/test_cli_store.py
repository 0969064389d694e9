"""The CLI reads and fills the results store: a second command (a new process) scores nothing; an unusable store is one stderr warning."""

from __future__ import annotations

import pandas as pd
import pytest

from cli.main import main
from runtime import current


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "e.csv"
    pd.DataFrame({"text": ["good film", "awful", "good film", "fine, I guess"], "label": ["positive", "negative", "positive", "positive"]}).to_csv(
        path, index=False
    )
    return path


def predict(model, data, out, *extra):
    current().clear()  # a new process: nothing in memory
    return main(["predict", "--model", str(model), "--data", str(data), "--out", str(out), *map(str, extra)])


def test_a_second_predict_reads_the_store_and_forwards_nothing(tiny_bert, data, tmp_path, monkeypatch, forwarded):
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(tmp_path / "store"))
    assert predict(tiny_bert, data, tmp_path / "a.parquet") == 0
    assert sum(forwarded) == 3
    forwarded.clear()
    assert predict(tiny_bert, data, tmp_path / "b.parquet") == 0
    assert forwarded == []
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))


def test_an_unusable_store_is_one_warning_and_the_command_still_works(tiny_bert, data, tmp_path, monkeypatch, capsys, forwarded):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(blocker))
    assert predict(tiny_bert, data, tmp_path / "a.parquet") == 0
    err = capsys.readouterr().err
    assert err.count("warning: The results store folder") == 1 and "in memory only" in err and "VEREDICTO_CACHE_DIR" in err
    assert sum(forwarded) == 3 and len(pd.read_parquet(tmp_path / "a.parquet")) == 4
