"""The Predictor reads the results store first and writes every forward batch to it: a restart forwards nothing, a kill keeps what finished."""

from __future__ import annotations

import numpy as np
import pytest

from models.inference import Predictor, ProbabilityCache
from runtime import LRUCache
from store.results import ResultsStore

TEXTS = [f"the film number {i} was {'good' if i % 2 else 'awful'}" for i in range(10)] + ["", "Café crème 🎬"]


def fresh(path, store, **kw):
    """A predictor with its own empty memory caches, as in a newly started process."""
    return Predictor(path, device="cpu", cache=ProbabilityCache(), store=store, **kw)


def test_a_restart_on_the_same_store_forwards_nothing_and_returns_identical_arrays(tiny_bert, tmp_path):
    first = fresh(tiny_bert, ResultsStore(tmp_path), batch_size=4)
    expected = first.predict_proba(TEXTS)
    assert first.stats.texts_forwarded == len(TEXTS) and first.stats.texts_from_store == 0
    again = fresh(tiny_bert, ResultsStore(tmp_path), batch_size=4)
    got = again.predict_proba(TEXTS[::-1] + TEXTS[:2])
    assert again.stats.texts_forwarded == 0 and again.stats.texts_from_store == len(TEXTS)
    np.testing.assert_array_equal(got, np.vstack([expected[::-1], expected[:2]]))
    # store rows fill the memory cache: asking again reads neither the store nor the model
    again.predict_proba(TEXTS)
    assert again.stats.texts_from_store == len(TEXTS) and again.stats.texts_forwarded == 0
    # without a store the same predictor would have computed them: the arrays are the model's, bit for bit
    np.testing.assert_array_equal(fresh(tiny_bert, None, batch_size=4).predict_proba(TEXTS), expected)


def test_only_what_the_store_lacks_is_forwarded(tiny_bert, tmp_path):
    store = ResultsStore(tmp_path)
    fresh(tiny_bert, store).predict_proba(TEXTS[:5])
    later = fresh(tiny_bert, store)
    later.predict_proba(TEXTS)
    assert later.stats.texts_from_store == 5 and later.stats.texts_forwarded == len(TEXTS) - 5
    assert store.count("proba", later.ref.scoring_key, TEXTS) == len(TEXTS)


def test_cached_and_cached_proba_see_the_store_without_running_anything(tiny_bert, tmp_path):
    store = ResultsStore(tmp_path)
    expected = fresh(tiny_bert, store).predict_proba(TEXTS[:3])
    restarted = fresh(tiny_bert, store)
    assert restarted.cached(TEXTS[:4]).tolist() == [True, True, True, False] and restarted.uncached_count(TEXTS[:4]) == 1
    np.testing.assert_array_equal(restarted.cached_proba(TEXTS[:3]), expected)
    assert restarted.cached_proba(TEXTS[:4]) is None and restarted.stats.texts_forwarded == 0


class NoRowReads(ResultsStore):
    def get_many(self, kind, key, inputs, *, width=None):
        raise AssertionError(f"read {len(inputs)} {kind} row(s)")


def test_counting_what_is_missing_reads_no_stored_row_and_loads_no_model(tiny_bert, tmp_path):
    """The failure: at 100k rows the Robustness page read every stored embedding (and loaded the model for their width)
    only to learn that none was missing: ~5 s of its first open."""
    store = ResultsStore(tmp_path)
    writer = fresh(tiny_bert, store)
    writer.embed(TEXTS[:4], cache=ProbabilityCache())
    writer.predict_proba(TEXTS[:3])
    restarted = Predictor(tiny_bert, device="cpu", cache=ProbabilityCache(), store=NoRowReads(tmp_path))
    from models.inference import EMBEDDING_CACHE

    EMBEDDING_CACHE.clear()  # as in a new process
    assert restarted.uncached_count(TEXTS[:6] + TEXTS[:2], embeddings=True) == 2  # distinct texts, as `embed` runs them
    assert restarted.uncached_count(TEXTS[:5]) == 2
    assert restarted._loaded is None  # nothing loaded to count


class Killed(Exception):
    pass


def test_a_kill_mid_run_keeps_the_batches_that_finished(tiny_bert, tmp_path):
    store = ResultsStore(tmp_path)
    predictor = fresh(tiny_bert, store, batch_size=4)

    def progress(done, total):
        if done >= 8:  # after batch 2 of 3
            raise Killed

    with pytest.raises(Killed):
        predictor.predict_proba(TEXTS, progress=progress)
    assert store.count("proba", predictor.ref.scoring_key, TEXTS) == 8
    resumed = fresh(tiny_bert, ResultsStore(tmp_path), batch_size=4)
    got = resumed.predict_proba(TEXTS)
    assert resumed.stats.texts_from_store == 8 and resumed.stats.texts_forwarded == 4
    np.testing.assert_allclose(got, fresh(tiny_bert, None).predict_proba(TEXTS), atol=1e-6)


def test_embeddings_are_stored_too_and_kept_apart_from_probabilities(tiny_bert, tmp_path, monkeypatch):
    import models.inference as inference

    monkeypatch.setattr(inference, "EMBEDDING_CACHE", LRUCache())  # an empty process-wide embedding cache
    store = ResultsStore(tmp_path)
    first = fresh(tiny_bert, store, batch_size=4)
    expected = first.embed(TEXTS)
    assert store.count("embedding", first.ref.fingerprint, TEXTS) == len(TEXTS) and store.count("proba", first.ref.scoring_key, TEXTS) == 0
    monkeypatch.setattr(inference, "EMBEDDING_CACHE", LRUCache())  # the restart
    again = fresh(tiny_bert, ResultsStore(tmp_path))
    assert again.cached(TEXTS, embeddings=True).all()
    np.testing.assert_array_equal(again.embed(TEXTS), expected)
    assert again.stats.texts_forwarded == 0
    # a private memory cache (a caller that must fill the store whatever the process holds) still reads and writes it
    private = fresh(tiny_bert, store)
    np.testing.assert_array_equal(private.embed(TEXTS[:2], cache=LRUCache()), expected[:2])
    private.embed(["only here"], cache=LRUCache())
    assert store.count("embedding", private.ref.fingerprint, ["only here"]) == 1 and private.stats.texts_forwarded == 1


def test_sentence_pairs_and_their_texts_are_stored_apart(tiny_bert, tmp_path):
    store = ResultsStore(tmp_path)
    pairs = [("a good film", "it was great"), ("awful", "boring")]
    expected = fresh(tiny_bert, store).predict_proba(pairs)
    again = fresh(tiny_bert, store)
    np.testing.assert_array_equal(again.predict_proba(pairs), expected)
    assert again.stats.texts_forwarded == 0
    again.predict_proba(["a good film", "awful"])
    assert again.stats.texts_forwarded == 2  # a pair's first text alone is another input


def test_a_store_that_fails_leaves_a_warning_and_the_results_in_memory(tiny_bert, tmp_path):
    from store.results import StoreUnavailable

    class Broken(ResultsStore):
        def put_many(self, *args, **kwargs):
            raise StoreUnavailable(f"Cannot write to the results store '{self.path}': disk is full.")

    predictor = fresh(tiny_bert, Broken(tmp_path))
    got = predictor.predict_proba(TEXTS)
    assert predictor.store is None and "disk is full" in predictor.store_warning and str(tmp_path) in predictor.store_warning
    np.testing.assert_array_equal(predictor.predict_proba(TEXTS), got)
    assert predictor.stats.texts_forwarded == len(TEXTS)


def test_an_explanations_perturbed_texts_stay_out_of_the_store(tiny_bert, tmp_path):
    """SHAP's masked texts and LIME's samples are many and used once: they must not fill the store (the explanation is cached elsewhere)."""
    from explain.api import explain_text

    store = ResultsStore(tmp_path)
    predictor = fresh(tiny_bert, store)
    predictor.predict_proba(["the film was good"])
    explain_text(predictor, "the film was good", "lime", num_samples=60, seed=0)
    explain_text(predictor, "the film was good", "shap", max_evals=40)
    assert store.stats().by_kind == {"proba": 1, "tokens": 1} and predictor.stats.texts_forwarded > 1
    predictor.predict_proba(["the film was great"])  # outside an explanation, writes resume
    assert store.stats().by_kind == {"proba": 2, "tokens": 2}
