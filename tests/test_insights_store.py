"""The Insights aggregate kept in the results store: what is read back equals what the attributions give, anything it
is computed from that changes is a miss (never a stale hit), and aggregating a part at a time changes nothing."""

from __future__ import annotations

import pandas as pd
import pytest
from attr_factory import make_attribution

import explain.insights as insights
from explain.cache import AttributionCache, key_params
from explain.global_importance import global_importance
from privacy.redact import private_words
from store.results import ResultsStore

FP = "a" * 64
TEXTS = [
    "Great film! Maria loved it.",
    "A great cast but Maria was bored",
    "Rated 10 out of 10",
    "Write to maria.lopez@example.com for the great tickets",
    "Paris was dull, Maria said",
    "great great fun",
]
PARAMS = key_params("ig")
HINTS = {"paris": "city"}


def attributions(texts=TEXTS, fingerprint=FP):
    return {i: make_attribution(t, seed=i, method="ig", fingerprint=fingerprint) for i, t in enumerate(texts)}


class CountingCache(AttributionCache):
    """An attribution cache that counts the explanations it hands out."""

    read = 0

    def get_many(self, fingerprint, texts, method, **params):
        found = super().get_many(fingerprint, texts, method, **params)
        self.read += len(found)
        return found


@pytest.fixture
def filled(tmp_path):
    cache, store = CountingCache(tmp_path), ResultsStore(tmp_path)
    cache.put_many(list(attributions().values()), **PARAMS)
    return cache, store


def whole(cache, store, texts=TEXTS, fingerprint=FP, params=PARAMS, hints=HINTS):
    explained = insights.explained_examples(cache, fingerprint, "ig", params, range(len(texts)), texts)
    return insights.stored_importance(cache, fingerprint, "ig", params, explained, texts, hints=hints, store=store)


def assert_same(got, expected):
    cols = ["label", "word", "count", "n_examples", "cue", "cue_reason"]
    a, b = (gi.table.sort_values(["label", "word"]).reset_index(drop=True) for gi in (got, expected))
    pd.testing.assert_frame_equal(a[cols], b[cols])
    for col in ("mean_abs", "mean_signed", "total_abs"):
        assert a[col].to_numpy() == pytest.approx(b[col].to_numpy(), rel=1e-12, abs=1e-15)
    assert (got.labels, got.method, got.n_examples) == (expected.labels, expected.method, expected.n_examples)


def test_the_aggregate_read_from_the_store_equals_the_one_computed_from_the_attributions(filled):
    cache, store = filled
    expected = global_importance(attributions(), name_hints=HINTS)  # independent: every explanation in memory at once
    first = whole(cache, store)
    assert cache.read == len(TEXTS)  # computed from the cache, then stored
    again = whole(cache, store)
    assert cache.read == len(TEXTS)  # read from the store: no explanation read again
    assert again.occurrences is None
    assert_same(again, expected)
    assert_same(first, expected)
    # the words inside personal data, as the page masks them from all occurrences
    frame = pd.DataFrame({"text": TEXTS})
    assert again.private == private_words(expected.occurrences, frame) and again.private  # the email's words


@pytest.mark.parametrize(
    "change",
    ["text", "order", "params", "checkpoint", "hints", "format"],
)
def test_anything_the_aggregate_depends_on_that_changes_is_a_miss(filled, monkeypatch, change):
    cache, store = filled
    whole(cache, store)
    before = cache.read
    texts, fingerprint, params, hints = list(TEXTS), FP, PARAMS, HINTS
    if change == "text":  # one text of the data file edited (and explained)
        texts[2] = "Rated 9 out of 10"
        cache.put_many([make_attribution(texts[2], method="ig", fingerprint=FP)], **PARAMS)
    elif change == "order":  # the same texts in another order: the drill-down's example ids differ
        texts = texts[::-1]
    elif change == "params":
        params = {**PARAMS, "n_steps": 50}
        cache.put_many(list(attributions().values()), **params)
    elif change == "checkpoint":
        fingerprint = "b" * 64
        cache.put_many(list(attributions(fingerprint=fingerprint).values()), **PARAMS)
    elif change == "hints":
        hints = {"maria": "actor"}
    else:
        monkeypatch.setattr(insights, "INSIGHTS_FORMAT", insights.INSIGHTS_FORMAT + 1)
    got = whole(cache, store, texts, fingerprint, params, hints)
    assert cache.read == before + len(texts), "a changed input must be aggregated again, not read stale from the store"
    found = cache.get_many(fingerprint, texts, "ig", **params)
    assert_same(got, global_importance({i: found[t] for i, t in enumerate(texts)}, name_hints=hints))


def test_a_partly_explained_sample_is_not_stored(filled):
    cache, store = filled
    texts = [*TEXTS, "not explained yet"]
    explained = insights.explained_examples(cache, FP, "ig", PARAMS, range(len(texts)), texts)
    assert len(explained) == len(TEXTS)
    insights.stored_importance(cache, FP, "ig", PARAMS, explained, texts, hints=HINTS, store=store, complete=False)
    key, where = insights.importance_key(FP, "ig", PARAMS, explained, HINTS)
    assert store.get_payload("insights", key, where, insights.INSIGHTS_FORMAT) is None


def test_aggregating_a_part_at_a_time_equals_all_at_once(filled, monkeypatch):
    cache, _ = filled
    expected = global_importance(attributions(), name_hints=HINTS)
    monkeypatch.setattr(insights, "AGGREGATE_CHUNK", 2)  # three parts; 'maria' and 'great' are in several
    got = whole(cache, None)
    assert_same(got, expected)
    assert got.private == private_words(expected.occurrences, pd.DataFrame({"text": TEXTS}))  # numbered across parts as at once


def test_precompute_leaves_what_the_page_asks_for(filled):
    cache, store = filled
    stored = insights.store_whole_set(cache, store, FP, TEXTS, HINTS)
    assert stored is not None
    read = cache.read
    whole(cache, store)  # as the page asks: every example, its parameters
    assert cache.read == read
    assert insights.store_whole_set(cache, store, FP, [*TEXTS, "new text"], HINTS) is None  # not all explained: nothing stored
