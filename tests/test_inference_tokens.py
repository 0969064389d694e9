"""Token counts (the prediction table's 'truncated' flag) are a stored result like probabilities: a restart tokenizes nothing,
and the stored counts are exactly what the tokenizer gives."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from models.inference import TOKEN_CACHE, TOKENS, Predictor, ProbabilityCache
from store.results import ResultsStore, StoreUnavailable

TEXTS = ["the film was good", "", "Café crème 🎬 — très bien", "word " * 300, "the film was good"]
PAIRS = [("a good film", "it was good"), ("", "Ünïcödé"), ("x " * 200, "y " * 200)]


def fresh(path, store):
    TOKEN_CACHE.clear()  # a new process: nothing in memory
    return Predictor(path, device="cpu", cache=ProbabilityCache(), store=store)


def reference(path, inputs) -> list[int]:
    """The tokenizer's own count, special tokens included, nothing truncated."""
    tok = AutoTokenizer.from_pretrained(path)
    return [len(tok(*((x,) if isinstance(x, str) else x), truncation=False)["input_ids"]) for x in inputs]


@pytest.mark.parametrize("inputs", [TEXTS, PAIRS], ids=["texts", "pairs"])
def test_counts_read_from_the_store_after_a_restart_equal_a_fresh_tokenization(tiny_bert, tmp_path, tokenized, inputs):
    store = ResultsStore(tmp_path)
    first = fresh(tiny_bert, store).token_counts(inputs)
    assert first.tolist() == reference(tiny_bert, inputs)
    assert store.count(TOKENS, fresh(tiny_bert, store).ref.fingerprint, inputs) == len(set(inputs))
    tokenized.clear()
    again = fresh(tiny_bert, store)
    assert again.token_counts(inputs).tolist() == first.tolist() and tokenized == []
    assert again.truncated(inputs).tolist() == [n > again.max_length for n in first]


def test_stored_predictions_leave_their_token_counts_stored(tiny_bert, tmp_path, tokenized):
    """`veredicto demo` and whatever else stores predictions through a predictor: the Overview's counts come from the store too."""
    store = ResultsStore(tmp_path)
    fresh(tiny_bert, store).predict_proba(TEXTS)
    tokenized.clear()
    again = fresh(tiny_bert, store)
    assert again.token_counts(TEXTS).tolist() == reference(tiny_bert, TEXTS) and tokenized == []


def test_only_the_texts_the_store_lacks_are_tokenized(tiny_bert, tmp_path, tokenized):
    store = ResultsStore(tmp_path)
    fresh(tiny_bert, store).token_counts(TEXTS[:2])
    tokenized.clear()
    assert fresh(tiny_bert, store).token_counts(TEXTS).tolist() == reference(tiny_bert, TEXTS)
    assert tokenized == [len(set(TEXTS)) - 2]


def test_a_store_that_fails_keeps_counts_in_memory_with_a_warning(tiny_bert, tmp_path):
    class Broken(ResultsStore):
        def put_many(self, *args, **kwargs):
            raise StoreUnavailable(f"Cannot write to the results store '{self.path}': disk is full.")

    predictor = fresh(tiny_bert, Broken(tmp_path))
    assert predictor.token_counts(TEXTS).tolist() == reference(tiny_bert, TEXTS)
    assert predictor.store is None and "disk is full" in (predictor.store_warning or "")
    assert predictor.token_counts(TEXTS).tolist() == reference(tiny_bert, TEXTS)


def test_counts_do_not_change_what_a_call_reports(tiny_bert, tmp_path):
    """`texts_from_store` describes model results; reading token counts must not add to it."""
    store = ResultsStore(tmp_path)
    fresh(tiny_bert, store).predict_proba(TEXTS)
    again = fresh(tiny_bert, store)
    again.predict_proba(TEXTS)
    again.token_counts(TEXTS)
    assert again.stats.texts_from_store == len(set(TEXTS))
    np.testing.assert_array_equal(again.token_counts([]), np.zeros(0, dtype=int))
