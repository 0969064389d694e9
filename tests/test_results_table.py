"""A prediction table stored whole (issue 12, 100k rows): one read per checkpoint instead of a row lookup per text, giving the
very table the rows give; a changed file, an older format or a damaged whole is a miss (the rows are read), never a stale hit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.predictions import predict_table
from evaldata.loading import load_eval_data
from models.inference import Predictor, ProbabilityCache
from store.results import TABLE_FORMAT, ResultsStore, StoreError, inputs_digest

TEXTS = [f"the film number {i} was {'good' if i % 3 else 'awful'}" for i in range(9)] + ["the film number 1 was good", "Café crème 🎬 " * 40]


def evalset(tmp_path, texts, name="eval.csv", pairs=None):
    frame = pd.DataFrame({"text": texts, "label": ["positive" if "good" in t else "negative" for t in texts]})
    if pairs is not None:
        frame.insert(1, "text_pair", pairs)
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return load_eval_data(path, pair_col="text_pair" if pairs is not None else None)


class RowReads(ResultsStore):
    """A ResultsStore that counts per-text row reads (`get_many`)."""

    rows_read = 0

    def get_many(self, kind, key, inputs, *, width=None):
        self.rows_read += len(inputs)
        return super().get_many(kind, key, inputs, width=width)


def fresh(path, store):
    """A predictor with empty memory caches, as in a newly started app process."""
    from models.inference import TOKEN_CACHE

    TOKEN_CACHE.clear()
    return Predictor(path, device="cpu", cache=ProbabilityCache(), store=store)


def assert_same_table(got, expected):
    np.testing.assert_array_equal(got.probs, expected.probs)
    assert got.probs.dtype == expected.probs.dtype
    pd.testing.assert_frame_equal(got.frame, expected.frame)  # n_tokens, truncated, texts, pairs, p_<label> columns


@pytest.mark.parametrize("pair", [False, True])
def test_a_filled_store_gives_the_row_paths_table_in_one_read(tiny_bert, tmp_path, pair):
    texts = TEXTS
    data = evalset(tmp_path, texts, pairs=[f"second {i}" for i in range(len(texts))] if pair else None)
    scored = predict_table(fresh(tiny_bert, ResultsStore(tmp_path / "store")), data)  # scored, rows and whole stored

    reference = predict_table(fresh(tiny_bert, None), data)  # the model itself, no store
    assert_same_table(scored, reference)

    store = RowReads(tmp_path / "store")
    again = fresh(tiny_bert, store)
    got = predict_table(again, data)
    assert store.rows_read == 0 and again.stats.texts_forwarded == 0  # one read, no row lookups, no forward pass
    assert_same_table(got, reference)
    assert got.frame["n_tokens"].max() > got.frame["n_tokens"].min() and got.frame["truncated"].any()  # counts really vary
    # the rows went to memory as a row read puts them: a later call on any of the texts reads neither store nor model
    np.testing.assert_array_equal(again.predict_proba(data.inputs[:3]), reference.probs[:3])
    np.testing.assert_array_equal(again.token_counts(data.inputs[:3]), reference.frame["n_tokens"].to_numpy()[:3])
    assert again.cached(data.inputs).all() and again.uncached_count(data.inputs) == 0
    np.testing.assert_array_equal(again.cached_proba(data.inputs[::-1]), reference.probs[::-1])
    assert store.rows_read == 0 and again.stats.texts_forwarded == 0


def test_a_changed_or_reordered_file_misses_the_stale_whole(tiny_bert, tmp_path):
    store_dir = tmp_path / "store"
    predict_table(fresh(tiny_bert, ResultsStore(store_dir)), evalset(tmp_path, TEXTS))
    changed = evalset(tmp_path, [*TEXTS[:-1], "a brand new text that was good"], name="changed.csv")
    reordered = evalset(tmp_path, TEXTS[::-1], name="reordered.csv")
    for data in (changed, reordered):
        store = RowReads(store_dir)
        predictor = fresh(tiny_bert, store)
        assert predictor.stored_table(data.inputs) is None
        got = predict_table(predictor, data)
        assert store.rows_read > 0  # read per text, then stored whole
        rows = ResultsStore(store_dir).get_many("proba", predictor.ref.scoring_key, data.inputs)
        np.testing.assert_array_equal(got.probs, np.stack([rows[i] for i in range(len(data))]))  # the rows, this file's order
        assert got.frame["n_tokens"].tolist() == fresh(tiny_bert, None).token_counts(data.inputs).tolist()
        whole = ResultsStore(store_dir).get_table(predictor.ref.scoring_key, data.inputs, 2)
        assert whole is not None and np.array_equal(whole[0], got.probs)
    assert predictor.stats.texts_forwarded == 0  # the reordered file's texts were all stored as rows


def test_an_older_or_damaged_whole_is_a_miss_and_is_replaced(tiny_bert, tmp_path):
    data = evalset(tmp_path, TEXTS)
    store = ResultsStore(tmp_path / "store")
    expected = predict_table(fresh(tiny_bert, store), data)
    key, inputs = fresh(tiny_bert, None).ref.scoring_key, data.inputs
    params = {"inputs": inputs_digest(inputs), "rows": 1}
    good = store.get_payload("table", key, params, TABLE_FORMAT)
    assert isinstance(good, dict)
    broken = [
        {**good, "proba": good["proba"][:-8]},  # truncated
        {**good, "proba": "not base64!"},
        {**good, "n": len(inputs) + 1},
        {**good, "width": 3},
        {k: v for k, v in good.items() if k != "tokens"},
        [1, 2, 3],
    ]
    for payload in broken:
        store.put_payload("table", key, params, TABLE_FORMAT, payload)
        assert store.get_table(key, inputs, 2) is None
        assert_same_table(predict_table(fresh(tiny_bert, store), data), expected)  # read per text, stored whole again
        assert store.get_table(key, inputs, 2) is not None
    store.put_payload("table", key, params, TABLE_FORMAT + 1, good)  # another format (replaces the row): a miss
    assert store.get_table(key, inputs, 2) is None
    with pytest.raises(StoreError, match="one row and one count per input"):
        store.put_table(key, inputs, expected.probs[:-1], expected.frame["n_tokens"].to_numpy())


def test_inputs_digest_tells_apart_order_pairs_and_joined_texts():
    digests = {
        inputs_digest(["a", "b"]),
        inputs_digest(["b", "a"]),
        inputs_digest(["a b"]),
        inputs_digest(["a\x00b"]),
        inputs_digest([("a", "b")]),
        inputs_digest([("a", "b"), "c"]),
    }
    assert len(digests) == 6
    assert inputs_digest([("a", "b")]) == inputs_digest([["a", "b"]])  # a pair as tuple or list is the same input


def test_precompute_and_the_demo_fill_leave_the_table_whole(tiny_bert, tmp_path, capsys):
    """What fills predictions outside the app also fills the whole, so the app's first open after it reads no row."""
    from cli.main import main

    data = evalset(tmp_path, TEXTS)
    store_dir = tmp_path / "store"
    assert main(["precompute", "--model", str(tiny_bert), "--data", str(tmp_path / "eval.csv"), "--store", str(store_dir), "--what", "predictions"]) == 0
    assert "stored as one result" in capsys.readouterr().err
    store = RowReads(store_dir)
    predictor = fresh(tiny_bert, store)
    got = predict_table(predictor, data)
    assert store.rows_read == 0 and predictor.stats.texts_forwarded == 0
    rows = ResultsStore(store_dir).get_many("proba", predictor.ref.scoring_key, data.inputs)
    np.testing.assert_array_equal(got.probs, np.stack([rows[i] for i in range(len(data))]))
    assert got.frame["n_tokens"].tolist() == fresh(tiny_bert, None).token_counts(data.inputs).tolist()


def test_the_demo_fill_leaves_the_table_whole_and_explores_first_example_explained(tiny_bert, tmp_path, monkeypatch):
    """`veredicto demo`: the Overview's tables are one read, and Explore's first example (the 'after' checkpoint's default,
    `analysis.browse.default_example`) has SHAP and LIME cached under the keys the page asks for, and no other text has."""
    import shutil

    from analysis.browse import default_example
    from cli.demo import fill_explore, fill_results
    from explain.cache import PAGE_METHODS, AttributionCache, default_params
    from training.demo import demo_paths

    monkeypatch.setenv("VEREDICTO_SHAP_MAX_EVALS", "20")
    monkeypatch.setenv("VEREDICTO_LIME_SAMPLES", "20")
    paths = demo_paths(tmp_path / "demo")
    for where in (paths.before, paths.after):
        shutil.copytree(tiny_bert, where)
    paths.data.mkdir(parents=True)
    data = evalset(paths.data, TEXTS, name=paths.test_data.name)
    store_dir = tmp_path / "store"
    fill_results(paths.root, cache_dir=store_dir, gates=False, log=lambda _: None)  # the gates' faithfulness check explains texts of its own
    fill_explore(paths.root, cache_dir=store_dir, log=lambda _: None)

    store = RowReads(store_dir)
    after = fresh(paths.after, store)
    table = predict_table(after, data)
    assert store.rows_read == 0 and after.stats.texts_forwarded == 0
    example = default_example(table)
    cache = AttributionCache(store_dir)
    for method in PAGE_METHODS:
        params = default_params(method)
        assert cache.get(after.ref.scoring_key, data.inputs[example], method, **params) is not None
        assert len(cache.cached_hashes(after.ref.scoring_key, method, **params)) == 1


def test_precompute_explore_explains_the_example_the_page_opens_on(tiny_bert, tmp_path, monkeypatch):
    from analysis.browse import default_example
    from cli.main import main
    from explain.cache import PAGE_METHODS, AttributionCache, default_params

    monkeypatch.setenv("VEREDICTO_SHAP_MAX_EVALS", "20")
    monkeypatch.setenv("VEREDICTO_LIME_SAMPLES", "20")
    data = evalset(tmp_path, TEXTS)
    store_dir = tmp_path / "store"
    args = ["precompute", "--model", str(tiny_bert), "--data", str(tmp_path / "eval.csv"), "--store", str(store_dir), "--what"]
    assert main([*args, "predictions,explore"]) == 0
    predictor = fresh(tiny_bert, ResultsStore(store_dir))
    example = default_example(predict_table(predictor, data))
    cache = AttributionCache(store_dir)
    for method in PAGE_METHODS:  # under the keys the page asks for (dashboard.explanations.get_attribution), that text alone
        assert cache.get(predictor.ref.scoring_key, data.inputs[example], method, **default_params(method)) is not None
        assert len(cache.cached_hashes(predictor.ref.scoring_key, method, **default_params(method))) == 1
