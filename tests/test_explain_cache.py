"""The persistent attribution cache: hits are identical, only misses are computed, bad files are moved aside, never lost."""

from __future__ import annotations

import sqlite3
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from attr_factory import make_attribution

from explain.attribution import ExplainError
from explain.cache import FILENAME, SCHEMA_VERSION, AttributionCache, CacheError, canonical_params, key_params, text_hash

FP = "a" * 64


def fake_predictor(fingerprint=FP):
    return SimpleNamespace(ref=SimpleNamespace(fingerprint=fingerprint, scoring_key=fingerprint, name="fake"), labels=("negative", "positive"))


class Counting:
    """A stand-in for explain_text that records what it was asked to compute."""

    def __init__(self):
        self.calls = []

    def __call__(self, predictor, text, method, target=None, **params):
        self.calls.append((text, method, target, params))
        if not text.strip():
            raise ExplainError("The text is empty, so there is nothing to explain.")
        attribution = make_attribution(text, method=method, fingerprint=predictor.ref.fingerprint, seed=len(text))
        return attribution.for_target(target or attribution.predicted)  # like explain_text: None = predicted class


def same(a, b):
    assert a.to_dict() == b.to_dict()


def test_put_then_get_returns_an_identical_attribution(tmp_path):
    cache = AttributionCache(tmp_path)
    original = make_attribution("Café crème 🎬 was lovely", method="lime", fingerprint=FP)
    cache.put(original, num_samples=200, seed=1)
    hit = cache.get(FP, original.text, "lime", num_samples=200, seed=1)
    same(hit, original)
    assert np.array_equal(hit.scores, original.scores)
    # a fresh object (another process, a restart) reads the same
    same(AttributionCache(tmp_path).get(FP, original.text, "lime", num_samples=200, seed=1), original)


def test_key_is_fingerprint_method_params_and_text(tmp_path):
    cache = AttributionCache(tmp_path)
    a = make_attribution("good film", method="shap", fingerprint=FP)
    cache.put(a, max_evals=100)
    assert cache.get(FP, "good film", "shap", max_evals=100) is not None
    assert cache.get("b" * 64, "good film", "shap", max_evals=100) is None  # another checkpoint
    assert cache.get(FP, "good film", "lime", max_evals=100) is None  # another method
    assert cache.get(FP, "good film", "shap", max_evals=200) is None  # another budget
    assert cache.get(FP, "good film ", "shap", max_evals=100) is None  # another text (one space more)


def test_defaults_and_irrelevant_parameters_share_one_entry():
    assert key_params("shap", {}) == key_params("shap", {"max_evals": 500, "num_samples": 7, "progress": print})
    assert key_params("shap", {"max_evals": None}) == key_params("shap", {})
    assert key_params("lime", {"max_evals": 1}) == key_params("lime", {})
    assert key_params("lime", {"seed": 3}) != key_params("lime", {})
    assert canonical_params({"b": 1, "a": None, "c": [1, 2]}) == '{"b":1,"c":[1,2]}'


def test_target_none_means_the_predicted_class_and_any_class_can_be_viewed(tmp_path):
    cache = AttributionCache(tmp_path)
    a = make_attribution("bad but fun", target="negative", probabilities=[0.2, 0.8], fingerprint=FP)
    cache.put(a)
    assert cache.get(FP, a.text, "shap").target == "positive"
    negative = cache.get(FP, a.text, "shap", target="negative")
    assert negative.target == "negative" and np.array_equal(negative.scores, a.scores)


def test_get_or_compute_reads_first_and_computes_only_what_is_missing(tmp_path):
    cache = AttributionCache(tmp_path)
    compute = Counting()
    predictor = fake_predictor()
    first = cache.get_or_compute(predictor, "a fine film", "lime", compute=compute, num_samples=50, seed=0)
    again = cache.get_or_compute(predictor, "a fine film", "lime", compute=compute, num_samples=50, seed=0)
    same(first, again)
    assert len(compute.calls) == 1
    assert compute.calls[0][3] == {"num_samples": 50, "seed": 0}  # None-valued params are not passed on

    texts = ["a fine film", "dull", "great cast", "dull"]
    found = cache.get_or_compute_many(predictor, texts, "lime", compute=compute, num_samples=50, seed=0)
    assert set(found) == {"a fine film", "dull", "great cast"}
    assert [c[0] for c in compute.calls] == ["a fine film", "dull", "great cast"]  # the cached one and the duplicate skipped


def test_bad_texts_are_reported_and_skipped_not_cached(tmp_path):
    cache = AttributionCache(tmp_path)
    errors = []
    found = cache.get_or_compute_many(fake_predictor(), ["ok text", "   "], "shap", compute=Counting(), on_error=lambda t, e: errors.append((t, str(e))))
    assert list(found) == ["ok text"]
    assert errors == [("   ", "The text is empty, so there is nothing to explain.")]
    with pytest.raises(ExplainError):
        cache.get_or_compute_many(fake_predictor(), ["  "], "shap", compute=Counting())
    assert cache.stats().rows == 1


def test_file_uses_wal_and_records_its_schema_version(tmp_path):
    AttributionCache(tmp_path)
    conn = sqlite3.connect(tmp_path / FILENAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_a_corrupt_file_is_moved_aside_with_a_clear_message_never_deleted(tmp_path):
    garbage = b"this is not a database at all\x00\x01" * 100
    (tmp_path / FILENAME).write_bytes(garbage)
    cache = AttributionCache(tmp_path)
    assert "could not be used" in cache.notice and "damaged or not an SQLite database" in cache.notice and "nothing was deleted" in cache.notice
    kept = list(tmp_path.glob(FILENAME + ".corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == garbage
    assert kept[0].name in cache.notice
    cache.put(make_attribution("works again", fingerprint=FP))  # and the new cache works
    assert cache.get(FP, "works again", "shap") is not None


def test_a_file_from_another_version_is_moved_aside_with_its_rows_intact(tmp_path):
    old = AttributionCache(tmp_path)
    old.put(make_attribution("kept safe", fingerprint=FP))
    conn = sqlite3.connect(tmp_path / FILENAME)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    cache = AttributionCache(tmp_path)
    assert "another version of Veredicto (cache schema 99" in cache.notice
    assert cache.get(FP, "kept safe", "shap") is None  # the new file starts empty...
    moved = list(tmp_path.glob(FILENAME + ".v99-*"))
    moved = [p for p in moved if not p.name.endswith(("-wal", "-shm"))]
    assert len(moved) == 1
    rows = sqlite3.connect(moved[0]).execute("SELECT COUNT(*) FROM attributions").fetchone()[0]
    assert rows == 1  # ...and the old rows are all still in the moved file


def test_an_unreadable_row_is_a_miss_that_gets_recomputed_and_replaced(tmp_path):
    cache = AttributionCache(tmp_path)
    cache.put(make_attribution("row to damage", fingerprint=FP))
    conn = sqlite3.connect(tmp_path / FILENAME)
    conn.execute("UPDATE attributions SET payload = '{not json'")
    conn.commit()
    conn.close()
    compute = Counting()
    result = cache.get_or_compute(fake_predictor(), "row to damage", "shap", compute=compute)
    assert "could not be read" in cache.notice and len(compute.calls) == 1
    same(cache.get(FP, "row to damage", "shap"), result)
    assert cache.stats().rows == 1  # replaced, not duplicated


def test_a_cache_directory_that_is_a_file_gets_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(CacheError, match="Cannot create the cache directory|is not a directory"):
        AttributionCache(blocker)


def test_concurrent_writers_lose_nothing(tmp_path):
    cache = AttributionCache(tmp_path)
    other = AttributionCache(tmp_path)  # as if another session or process

    def write(store, start):
        for i in range(start, start + 20):
            store.put(make_attribution(f"text number {i}", fingerprint=FP))

    threads = [threading.Thread(target=write, args=(c, s)) for c, s in ((cache, 0), (other, 20), (cache, 40))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.stats().rows == 60
    assert len(cache.get_many(FP, [f"text number {i}" for i in range(60)], "shap")) == 60
    assert cache.count_cached(FP, [f"text number {i}" for i in range(70)], "shap") == 60
    assert text_hash("text number 3") in cache.cached_hashes(FP, "shap")


def test_cache_hit_equals_a_real_explanation(tmp_path, tiny_bert_predictor):
    pytest.importorskip("explain.api")
    cache = AttributionCache(tmp_path)
    first = cache.get_or_compute(tiny_bert_predictor, "the film was good and the acting was great", "lime", num_samples=60, seed=2)
    calls = tiny_bert_predictor.stats.texts_requested
    hit = AttributionCache(tmp_path).get_or_compute(tiny_bert_predictor, "the film was good and the acting was great", "lime", num_samples=60, seed=2)
    assert tiny_bert_predictor.stats.texts_requested == calls  # no model call at all on a hit
    same(hit, first)
    assert first.fingerprint == tiny_bert_predictor.ref.fingerprint
