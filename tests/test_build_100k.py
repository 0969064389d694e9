"""scripts/build_100k.py: a large evaluation set made offline from the shipped Rotten Tomatoes corpus, deterministic,
without exact duplicates, each recombined row made of two snippets of its own label and demo split."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from models.errors import DataError
from training.demo_data import LABELS, load_corpus, split_corpus

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build_100k.py"


def _script():
    spec = importlib.util.spec_from_file_location("build_100k", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    try:
        return load_corpus()
    except DataError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def split_of(corpus) -> dict[str, str]:
    """Which demo split each real snippet is in, from training.demo_data directly (not through the script)."""
    return {text: name for name, part in split_corpus(corpus).items() for text in part["text"]}


def check_rows(df: pd.DataFrame, corpus: pd.DataFrame, split_of: dict[str, str]) -> None:
    label_of = dict(zip(corpus["text"], corpus["label"]))
    assert list(df.columns) == ["text", "label", "source", "demo_split", "movie_name", "n_words", "length_bucket", "channel", "date"]
    assert df["text"].is_unique  # no exact duplicates: leakage and near-duplicate numbers stay meaningful
    assert set(df["label"]) == set(LABELS)
    originals = df[df["source"] == "original"]
    assert [label_of[t] for t in originals["text"]] == originals["label"].tolist()
    assert [split_of[t] for t in originals["text"]] == originals["demo_split"].tolist()
    snippets = set(originals["text"])
    recombined = df[df["source"] == "recombined"]
    assert len(recombined) > 0
    for text, label, split in zip(recombined["text"], recombined["label"], recombined["demo_split"]):
        # text = a + " " + b: two different real snippets of this set, both of this label and demo split
        cuts = [i for i, ch in enumerate(text) if ch == " " and text[:i] in snippets and text[i + 1 :] in snippets]
        assert cuts, text
        a, b = text[: cuts[0]], text[cuts[0] + 1 :]
        assert a != b and label_of[a] == label_of[b] == label and split_of[a] == split_of[b] == split
    assert (df["n_words"] == df["text"].str.split().str.len()).all()
    assert set(df["length_bucket"]) <= {"short", "medium", "long"} and set(df["channel"]) <= {"web", "app", "email", "partner"}
    assert df["date"].between("2024-01-01", "2025-12-31").all()


def test_a_small_set_is_deterministic_and_made_as_documented(corpus, split_of, tmp_path):
    script = _script()
    first, second = script.build(1000, seed=3, corpus=corpus), script.build(1000, seed=3, corpus=corpus)
    assert len(first) == 1000 and (first["source"] == "original").sum() == 500
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(script.build(1000, seed=4, corpus=corpus))
    check_rows(first, corpus, split_of)
    a = script.write(first, tmp_path / "a.csv").read_bytes()
    assert a == script.write(second, tmp_path / "b.csv").read_bytes()
    back = pd.read_parquet(script.write(first, tmp_path / "a.parquet"))
    pd.testing.assert_frame_equal(back, first)


def test_above_the_corpus_size_every_real_snippet_is_kept(corpus, split_of, tmp_path, capsys):
    rows = len(corpus) + 2000
    out = tmp_path / "big.csv"
    assert _script().main(["--rows", str(rows), "--out", str(out)]) == 0
    df = pd.read_csv(out, dtype={"text": str}, keep_default_na=False)
    assert len(df) == rows and set(df.loc[df["source"] == "original", "text"]) == set(corpus["text"])
    check_rows(df, corpus, split_of)
    assert f"Wrote {rows:,} rows ({len(corpus):,} original, 2,000 recombined)" in capsys.readouterr().out
