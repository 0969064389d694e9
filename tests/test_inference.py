"""The shared inference layer: batching, ordering, caching, thread safety and awkward texts."""
import threading

import numpy as np
import pytest

from models import Predictor
from models.errors import DataError
from models.inference import ProbabilityCache

TEXTS = ["the film was good", "awful", "I loved this story, it was wonderful!", "", "   ", "Café crème 🎬 déjà vu"]


def fresh(path, **kw):
    return Predictor(path, device="cpu", cache=ProbabilityCache(), **kw)


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_roberta"])
def test_batched_sorted_equals_one_by_one(request, fixture):
    path = request.getfixturevalue(fixture)
    batched = fresh(path, batch_size=4).predict_proba(TEXTS)
    single = np.vstack([fresh(path, batch_size=1).predict_proba([t]) for t in TEXTS])
    assert batched.shape == (len(TEXTS), len(fresh(path).labels))
    np.testing.assert_allclose(batched, single, atol=1e-5)  # padding and order do not change results
    np.testing.assert_allclose(batched.sum(axis=1), 1, atol=1e-5)


def test_asking_twice_costs_one_forward_pass(tiny_bert):
    predictor = fresh(tiny_bert)
    first = predictor.predict_proba(TEXTS)
    assert predictor.stats.texts_forwarded == len(set(TEXTS))
    second = predictor.predict_proba(list(reversed(TEXTS)))
    assert predictor.stats.texts_forwarded == len(set(TEXTS))
    np.testing.assert_array_equal(first, second[::-1])


def test_duplicates_in_one_call_are_scored_once(tiny_bert):
    predictor = fresh(tiny_bert)
    probs = predictor.predict_proba(["same"] * 10 + ["other"])
    assert predictor.stats.texts_forwarded == 2
    assert np.all(probs[:10] == probs[0])


def test_cache_is_keyed_by_fingerprint(tiny_bert, tiny_generic):
    cache = ProbabilityCache()
    a = Predictor(tiny_bert, device="cpu", cache=cache).predict_proba(["shared text"])
    b_predictor = Predictor(tiny_generic, device="cpu", cache=cache)
    b = b_predictor.predict_proba(["shared text"])
    assert b_predictor.stats.texts_forwarded == 1  # another checkpoint never reads this one's entries
    assert not np.allclose(a, b)


def test_cache_is_bounded():
    cache = ProbabilityCache(max_items=3)
    for i in range(5):
        cache.put(("fp", str(i)), np.zeros(2))
    assert len(cache) == 3 and cache.get(("fp", "0")) is None and cache.get(("fp", "4")) is not None


def test_progress_callback_reports_every_batch(tiny_bert):
    calls = []
    fresh(tiny_bert, batch_size=2).predict_proba([f"text {i}" for i in range(5)], progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_thread_safe_under_concurrent_sessions(tiny_bert):
    predictor = fresh(tiny_bert, batch_size=3)
    expected = fresh(tiny_bert).predict_proba([f"thread {i} text" for i in range(40)])
    errors, results = [], {}

    def work(k):
        try:
            results[k] = predictor.predict_proba([f"thread {i} text" for i in range(40)])
        except Exception as exc:  # "Already borrowed" would land here without the lock
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    for probs in results.values():
        np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_long_texts_are_truncated_and_reported(tiny_roberta):
    predictor = fresh(tiny_roberta)
    long_text = "good " * 500
    assert predictor.truncated(["good", long_text]).tolist() == [False, True]
    assert predictor.token_counts([long_text])[0] > predictor.max_length
    # only the first max_length tokens count: appending more text past the limit changes nothing
    np.testing.assert_allclose(predictor.predict_proba([long_text]), predictor.predict_proba([long_text + " awful" * 50]), atol=1e-6)


def test_empty_and_whitespace_texts_get_probabilities(tiny_bert):
    probs = fresh(tiny_bert).predict_proba(["", "   \n"])
    assert probs.shape == (2, 2) and np.all(np.isfinite(probs))


def test_bytes_must_be_utf8(tiny_bert):
    predictor = fresh(tiny_bert)
    assert predictor.predict_proba(["café".encode()]).shape == (1, 2)
    with pytest.raises(DataError, match=r"Text #1 is not valid UTF-8 \(byte 0xe9 at position 3\)"):
        predictor.predict_proba(["ok", "caf\xe9".encode("latin-1")])
    with pytest.raises(DataError, match="Text #0 is NoneType"):
        predictor.predict_proba([None])
