"""The shared inference layer: batching, ordering, caching, thread safety and awkward texts."""

import contextlib
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from models import InferenceLayer, Predictor, Usage
from models.errors import CheckpointError, DataError
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
        except Exception as exc:  # noqa: BLE001 - "Already borrowed" would land here without the lock
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    [t.start() for t in threads]
    for t in threads:
        t.join(timeout=120)  # a deadlock fails here instead of hanging the suite
    assert not any(t.is_alive() for t in threads), "a predict_proba thread never finished (deadlock?)"
    assert not errors
    assert len(results) == len(threads)
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


# --- the public surface (models.protocol.InferenceLayer) -------------------------------------------


def test_predictor_is_an_inference_layer(tiny_bert_predictor):
    assert isinstance(tiny_bert_predictor, InferenceLayer)
    assert not isinstance(object(), InferenceLayer)


def test_cached_and_uncached_count_say_what_a_call_would_run(tiny_bert):
    predictor = fresh(tiny_bert)
    texts = ["only cached once", "never asked", "only cached once"]
    assert predictor.cached(texts).tolist() == [False, False, False]
    assert predictor.uncached_count(texts) == 2  # distinct texts, like predict_proba runs them
    assert predictor.cached_proba(texts) is None
    probs = predictor.predict_proba(["only cached once"])
    forwarded = predictor.stats.texts_forwarded
    assert predictor.cached(texts).tolist() == [True, False, True]
    assert predictor.uncached_count(texts) == 1
    assert predictor.cached_proba(texts) is None  # one is missing: nothing half-answered
    np.testing.assert_array_equal(predictor.cached_proba(["only cached once", "only cached once"]), np.vstack([probs, probs]))
    assert predictor.cached_proba([]).shape == (0, len(predictor.labels))
    assert predictor.stats.texts_forwarded == forwarded  # asking runs nothing
    predictor.predict_proba(texts)
    assert predictor.stats.texts_forwarded - forwarded == 1 and predictor.uncached_count(texts) == 0


def test_uncached_embeddings_are_counted_in_embeds_default_cache(tiny_bert):
    predictor = fresh(tiny_bert)
    texts = [f"embedding check {id(predictor)} {i}" for i in range(3)]  # new to the process-wide cache
    assert predictor.uncached_count(texts, embeddings=True) == 3
    predictor.embed(texts[:2])
    assert predictor.cached(texts, embeddings=True).tolist() == [True, True, False]
    assert predictor.uncached_count(texts) == 3  # probabilities are another cache


def test_exclusive_counts_only_its_own_forwards_and_holds_off_other_threads(tiny_bert):
    predictor = fresh(tiny_bert)
    other_started, other_done = threading.Event(), threading.Event()

    def other_session():
        other_started.set()
        predictor.predict_proba([f"other session {i}" for i in range(5)])
        other_done.set()

    with predictor.exclusive() as usage:
        assert isinstance(usage, Usage) and usage.texts_forwarded == 0
        thread = threading.Thread(target=other_session)
        thread.start()
        assert other_started.wait(timeout=30)
        with predictor.exclusive() as inner:  # re-entrant on this thread
            predictor.predict_proba(["mine one", "mine two", "mine one"])
            assert inner.texts_forwarded == 2
        assert predictor.token_counts(["mine one"])[0] > 0
        # the other session cannot forward while this block holds the predictor (it would set the event)
        assert not other_done.wait(timeout=1.0)
        assert usage.texts_forwarded == 2
    thread.join(timeout=120)
    assert not thread.is_alive() and other_done.is_set()  # and it runs once the block ends
    assert predictor.stats.texts_forwarded == 7


class KeywordLayer:
    """A fake inference layer, no model at all: "positive" exactly when the text names John.

    It implements only `InferenceLayer`'s members, so `run_probes` working on it shows the
    protocol is all the probes need.
    """

    def __init__(self, tokenizer=None):
        self.ref = SimpleNamespace(
            name="keyword", fingerprint="f" * 64, labels=("negative", "positive"), max_length=64, scoring_key="f" * 64, multi_label=False, task="single-label"
        )
        self.labels = self.ref.labels
        self.max_length = self.ref.max_length
        self.device = "cpu"
        self.takes_pairs = True
        self.tokenizer = tokenizer
        self._cache: dict[str, np.ndarray] = {}
        self._held = threading.RLock()  # not `_lock`: code reaching for the real one must fail here
        self.forwarded = 0

    def token_counts(self, texts):
        return np.array([len(t.split()) + 2 for t in texts], dtype=int)

    def truncated(self, texts):
        return self.token_counts(texts) > self.max_length

    def predict_proba(self, texts, *, progress=None):
        for t in dict.fromkeys(texts):
            if t not in self._cache:
                self.forwarded += 1
                self._cache[t] = np.array([0.1, 0.9] if "john" in t.lower() else [0.8, 0.2], dtype=np.float32)
        return np.array([self._cache[t] for t in texts], dtype=np.float32).reshape(len(texts), 2)

    def embed(self, texts, *, batch_size=None, progress=None, cache=None):
        return np.array([[len(t), t.count(" ")] for t in texts], dtype=np.float32).reshape(len(texts), 2)

    @contextlib.contextmanager
    def exclusive(self):
        with self._held:
            yield Usage(lambda: self.forwarded)

    @contextlib.contextmanager
    def usage(self):
        yield Usage(lambda: self.forwarded)

    def cached(self, texts, *, embeddings=False):
        return np.array([not embeddings and t in self._cache for t in texts], dtype=bool)

    def uncached_count(self, texts, *, embeddings=False):
        return int((~self.cached(list(dict.fromkeys(texts)), embeddings=embeddings)).sum())

    def cached_proba(self, texts):
        return self.predict_proba(texts) if all(self.cached(texts)) else None

    def stored_table(self, texts):
        return None  # no results store: a table is always assembled from predict_proba

    def store_table(self, texts, probs, counts):
        pass

    def path_gradients(self, text, alphas, weights, *, baseline="pad", batch_size=None, progress=None):
        raise CheckpointError("This keyword fake has no input embedding layer, so gradient explanations cannot be computed for it. SHAP and LIME still work.")


def test_a_fake_inference_layer_is_enough_for_the_probes():
    from probes.run import run_probes

    fake = KeywordLayer()
    assert isinstance(fake, InferenceLayer)
    texts = ["John said the film was good.", "I think John loved the story", "the plot was dull", "Emma hated the script"]
    report = run_probes(fake, texts, ["names", "casing"])
    names, casing = report.result("names"), report.result("casing")
    assert names.n_failed == 2 and sorted(names.failed_rows) == [0, 1]  # swapping John away flips the fake
    assert casing.n_failed == 0  # the fake lower-cases, so casing never matters
    assert report.n_model_calls == fake.forwarded > 0  # misses counted through uncached_count
    again = run_probes(fake, texts, ["names", "casing"])
    assert again.n_model_calls == 0 and fake.forwarded == report.n_model_calls


@pytest.mark.parametrize("method", ["shap", "lime"])
def test_a_fake_inference_layer_is_enough_for_the_explainers(tiny_bert, method):
    from transformers import AutoTokenizer

    from explain import explain_text

    fake = KeywordLayer(AutoTokenizer.from_pretrained(str(tiny_bert), local_files_only=True))
    att = explain_text(fake, "the film with john was long", method, max_evals=60, num_samples=200, seed=0)
    positive = att.scores[:, att.labels.index("positive")]
    assert att.tokens[int(np.argmax(positive))].text.strip().lower() == "john"  # the only word the fake reads
    np.testing.assert_allclose(att.probabilities, [0.1, 0.9])
    assert att.extra["texts_forwarded"] == fake.forwarded > 0  # counted through exclusive()'s Usage
