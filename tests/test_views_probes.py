"""The Robustness view models (probes.views): the named probe settings, the shared bounded result store, the before/after verdicts."""

from __future__ import annotations

import dataclasses
import json
import threading

import numpy as np
import pytest

from probes.perturb import DirectionConfig
from probes.run import ProbeReport, ProbeResult
from probes.views import COMPARISON_COLUMNS, SUMMARY_COLUMNS, ProbeParams, ResultCache, probe_comparison, probe_summary


def test_a_limit_as_large_as_the_data_means_no_limit():
    assert ProbeParams.of(("typos",), 50, 50, 0, 3, "auto", None).limit is None
    assert ProbeParams.of(("typos",), 80, 50, 0, 3, "auto", None).limit is None
    assert ProbeParams.of(("typos",), 20, 50, 0, 3, "auto", None).limit == 20
    assert ProbeParams.of(("typos",), 50, 50, 0, 3, "auto", None) == ProbeParams.of(("typos",), 99, 50, 0, 3, "auto", None)


def test_the_key_names_every_setting_and_the_directions():
    directions = DirectionConfig.sentiment("positive", "negative")
    params = ProbeParams.of(("names", "negation"), 10, 50, 7, 2, "en", directions)
    assert json.loads(params.directions) == directions.to_dict()
    assert ProbeParams.of(("names",), 10, 50, 7, 2, "en", None).directions == "null"
    key = params.key("ckpt", "data")
    assert key[:2] == ("ckpt", "data") and ("names", "negation") in key and 7 in key and "en" in key
    others = [
        ProbeParams.of(("names", "negation"), 10, 50, 8, 2, "en", directions),
        ProbeParams.of(("names", "negation"), 10, 50, 7, 3, "en", directions),
        ProbeParams.of(("names", "negation"), 10, 50, 7, 2, "es", directions),
        ProbeParams.of(("names", "negation"), 10, 50, 7, 2, "en", None),
    ]
    assert len({key, *(p.key("ckpt", "data") for p in others), params.key("other", "data")}) == 6
    with pytest.raises(AttributeError):
        params.seed = 1  # frozen


def test_the_result_cache_keeps_the_most_recently_used_per_kind():
    cache = ResultCache(keep=2)
    cache.put("reports", "a", 1)
    cache.put("reports", "b", 2)
    assert cache.get("reports", "a") == 1  # touching "a" makes "b" the oldest
    cache.put("reports", "c", 3)
    assert cache.get("reports", "b") is None and cache.get("reports", "a") == 1 and cache.get("reports", "c") == 3
    cache.put("maps", "b", 4)  # kinds do not evict each other
    assert cache.get("maps", "b") == 4 and len(cache) == 3
    assert cache.get("nothing", "a") is None
    with pytest.raises(ValueError):
        ResultCache(keep=0)


def test_the_result_cache_stays_bounded_under_concurrent_sessions():
    cache = ResultCache(keep=8)

    def session(n: int):
        for i in range(500):
            cache.put("reports", (n, i), i)
            cache.get("reports", (n, i - 1))

    threads = [threading.Thread(target=session, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert len(cache) == 8


def result(test: str, tried: range, failed: tuple[int, ...]) -> ProbeResult:
    return ProbeResult(test, "invariance", test.title(), "same prediction", len(tried), len(tried), len(failed), len(tried), tuple(tried), failed, (), 0, 0.0)


def report(name: str, results: tuple[ProbeResult, ...]) -> ProbeReport:
    return ProbeReport(name, f"fp-{name}", ("negative", "positive"), "d.csv", "data-fp", 40, results, 0, 3, "auto", None, None, 0, 0.0)


def test_the_comparison_lists_tests_that_got_more_brittle_or_more_robust():
    before = report("before", (result("names", range(40), ()), result("typos", range(40), tuple(range(12))), result("case", range(40), (1,))))
    after = report("after", (result("names", range(40), tuple(range(10))), result("typos", range(40), ()), result("case", range(40), (2,))))
    comparison = probe_comparison(before, after)
    assert list(comparison.table.columns) == COMPARISON_COLUMNS
    # 10 new failures and none fixed (exact McNemar p = 2 · 0.5¹⁰ ≈ 0.002); 12 fixed and none new; one each way: no clear change
    assert comparison.more_brittle == (("Names", 0.0, 0.25),)
    assert comparison.more_robust == (("Typos", 0.3, 0.0),)
    assert comparison.table.set_index("title").loc["Case", "verdict"] == "no clear change"


def test_the_summary_has_the_columns_the_page_shows():
    summary = probe_summary(report("one", (result("names", range(40), (0, 1)),)))
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary["failure_rate"].tolist() == [pytest.approx(2 / 40)] and summary["failed"].tolist() == [2]


def test_the_summary_says_about_where_planning_estimated_how_many_examples_a_test_applies_to():
    import dataclasses

    exact = result("names", range(40), ())
    estimated = dataclasses.replace(result("typos", range(40), ()), n_applicable=41_350, applicable_estimated=True)
    summary = probe_summary(report("one", (exact, estimated)))
    assert summary["applicable"].tolist() == ["40", "about 41,000"]


def with_failures(name: str) -> ProbeReport:
    from probes.run import ProbeFailure

    fail = ProbeFailure(3, "Anna liked it", "Maria liked it", "positive", "positive", "negative", "positive", 0.8, 0.4)
    names = ProbeResult("names", "invariance", "Names", "same prediction", 40, 40, 1, 40, tuple(range(40)), (3,), (fail,), 0, 0.0, note="swapped names")
    typos = ProbeResult("typos", "invariance", "Typos", "same prediction", 40, 40, 0, 40, tuple(range(40)), (), (), 0, 0.0)
    empty = ProbeResult("case", "invariance", "Case", "same prediction", 0, 0, 0, 0, (), (), (), 0, 0.0, note="No text to change.")
    return report(name, (typos, names, empty))


def test_the_failure_picker_opens_on_the_test_with_most_failures():
    from probes.views import failure_choices

    choices = failure_choices(with_failures("one"))
    assert choices.tests == ("typos", "names", "case") and choices.default == 1
    assert choices.names["names"] == "Names — 1 failing of 40" and choices.names["case"] == "Case — 0 failing of 0"


def test_failing_examples_hold_the_pairs_the_downloads_and_the_message_without_any():
    import io

    import pandas as pd

    from probes.views import failing_examples

    reports = [with_failures("before"), with_failures("after")]
    shown = failing_examples(reports, 1, "names")
    assert shown.heading == "**Names** · same prediction · swapped names"
    assert "test" not in shown.failures.columns and shown.failures["row"].tolist() == [3]
    assert shown.failures["change"].tolist() == [pytest.approx(-0.4)]
    csv = pd.read_csv(io.BytesIO(shown.csv), encoding="utf-8-sig")
    assert csv["test"].tolist() == ["names"] and csv["perturbed"].tolist() == ["Maria liked it"]
    assert [r["checkpoint_name"] for r in json.loads(shown.json)["reports"]] == ["before", "after"]
    assert failing_examples(reports, 0, "typos").none_message == "No failing example for Typos on before."
    assert failing_examples(reports, 0, "case").none_message == "No text to change."  # nothing tried: the note says why


def noise_index():
    """Six examples in two tight groups; example 2 sits among the 'neg' group but is labelled 'pos' (and predicted 'neg')."""
    import numpy as np

    from analysis.synthetic import probs_for, table_from_arrays
    from probes.embeddings import index_from_vectors

    gold = np.array([0, 0, 1, 1, 1, 1])
    pred = np.array([0, 0, 0, 1, 1, 1])
    table = table_from_arrays(probs_for(pred, 2, np.full(6, 0.9)), gold, ("neg", "pos"), texts=[f"t{i}" for i in range(6)], checkpoint_name="m")
    vectors = np.array([[1, 0.01], [1, 0.03], [1, 0.04], [0.01, 1], [0.02, 1], [0.03, 1]])  # 1 is nearer 2 than 0, by more than float32 rounding
    return table, index_from_vectors(vectors, table)


def test_label_noise_view_flags_the_outlier_and_counts_where_the_model_agrees():
    from probes.views import label_noise_view

    _, index = noise_index()
    noise = label_noise_view(index, 2, 1.0)
    assert noise.frame["row"].tolist() == [2] and noise.frame["suggested"].tolist() == ["neg"]
    assert "neighbour_rows" not in noise.frame.columns and "neighbours" not in noise.frame.columns
    assert noise.summary.startswith("**1** example (16.7%) look mislabelled") and "For 1 of them the model also predicts" in noise.summary
    assert b"relabel_to" in noise.csv
    one = label_noise_view(index, 1, 1.0)  # one neighbour each: 1's nearest is 2 (labelled 'pos'), so 1 is flagged too
    assert sorted(one.frame["row"].tolist()) == [1, 2]
    clean = label_noise_view(index, 5, 1.0)
    assert clean.frame.empty and clean.summary == "No example has 100% or more of its 5 nearest neighbours on one other gold label." and clean.csv == b""


def test_label_noise_is_searched_once_per_index_and_settings(monkeypatch):
    """The page reruns on every click: the neighbour search behind the hints runs once per (index, gold labels, settings)."""
    from probes import embeddings
    from probes.views import label_noise_view

    _, index = noise_index()
    calls = []
    real = embeddings.label_noise
    monkeypatch.setattr(embeddings, "label_noise", lambda *a, **kw: calls.append(kw["k"]) or real(*a, **kw))
    cache = ResultCache()
    first = label_noise_view(index, 2, 1.0, key=("index", "gold-a"), results=cache)
    again = label_noise_view(index, 2, 1.0, key=("index", "gold-a"), results=cache)
    assert calls == [2] and again.frame.equals(first.frame) and again.summary == first.summary
    label_noise_view(index, 1, 1.0, key=("index", "gold-a"), results=cache)  # other settings
    label_noise_view(index, 2, 1.0, key=("index", "gold-b"), results=cache)  # other gold labels (a reviewer's corrections)
    label_noise_view(index, 2, 1.0, results=cache)  # no key: searched, not kept
    assert calls == [2, 1, 2, 2]


def test_the_map_lists_selected_points_and_the_neighbours_of_a_picked_example():
    from probes.views import embedding_map, map_examples, nearest

    table, index = noise_index()
    cache = ResultCache()
    frame = embedding_map(index, ("k",), "pca", results=cache)
    assert list(frame.columns[:3]) == ["row", "x", "y"] and len(frame) == 6
    assert cache.get("maps", ("k", "pca")) is not None  # projected once, then reused
    listed = map_examples(table, [{"customdata": [4]}, {"customdata": [1]}, {"customdata": [99]}])
    assert list(listed.shown.index) == [1, 4] and listed.heading == "**2 examples** selected on the map"
    everything = map_examples(table, [])
    assert len(everything.shown) == 6 and everything.heading == "**6 examples** (select points on the map to filter)"
    assert list(everything.shown.columns) == ["text", "gold", "pred", "confidence", "correct"]
    paged = map_examples(table, [], page_rows=4)  # a large set lists one page, and says so
    assert list(paged.shown.index) == [0, 1, 2, 3] and paged.heading.startswith("**6 examples** (select") and "the first 4 are listed" in paged.heading
    picked = map_examples(table, [{"customdata": [5]}, {"customdata": [0]}, {"customdata": [3]}], page_rows=2)
    assert list(picked.shown.index) == [0, 3] and picked.heading == "**3 examples** selected on the map; the first 2 are listed"
    near = nearest(index, table, None, "  ", [2], 2)
    assert near.row == 2 and near.frame["row"].tolist() == [1, 0] and near.other_gold == 2
    assert near.heading == "Examples most similar to **example 2** (gold **pos**, predicted **neg**): t2"
    assert nearest(index, table, None, "", [], 2).frame is None


def test_embedding_state_reuses_an_index_some_session_built():
    from probes.views import embedding_state

    table, index = noise_index()
    cache = ResultCache()
    key = (table.fingerprint, table.data_fingerprint, json.dumps({"b": 1, "a": 2}, sort_keys=True))
    cache.put("indexes", key, index)
    state = embedding_state(None, table, {"a": 2, "b": 1}, results=cache)  # no predictor needed: nothing to estimate
    assert state.index is index and state.estimate is None and state.key == key


def test_embeddings_all_in_the_results_store_are_built_without_timing_the_model():
    """The failure: after a restart, with every embedding in the results store, the Robustness page still measured the
    model's speed (forwarding a few dozen calibration texts, ~3.6 s on the demo) to estimate a build that runs nothing."""
    from probes.views import embedding_state

    table, _ = noise_index()

    class Stored:
        counted = 0

        def uncached_count(self, texts, *, embeddings=False):
            assert embeddings
            self.counted += 1
            return 0

        def __getattr__(self, name):  # anything else (token counts, a calibration forward) is a failure
            raise AssertionError(f"embedding_state called predictor.{name}")

    predictor, cache = Stored(), ResultCache()
    state = embedding_state(predictor, table, {}, results=cache)
    assert state.auto and state.ready and state.estimate is None and state.index is None
    assert embedding_state(predictor, table, {}, results=cache).ready and predictor.counted == 1  # the page reruns on every click: counted once


def test_with_the_reviewers_corrections_the_noise_hints_judge_every_row_by_the_corrected_gold():
    """The failure: the Data page built the index on the labels as in the file; the Robustness page, with "Use reviewers'
    label corrections" on, reused it and flagged (and counted neighbours by) gold labels a reviewer had already corrected."""
    from analysis.predictions import with_corrected_gold
    from probes.views import embedding_state, label_noise_view

    table, index = noise_index()
    cache = ResultCache()
    key = (table.fingerprint, table.data_fingerprint, json.dumps({}))
    cache.put("indexes", key, index)  # built as labelled (row 2: 'pos')
    assert label_noise_view(index, 2, 1.0).frame["row"].tolist() == [2]

    corrected = with_corrected_gold(table, {2: "neg"})  # a reviewer said row 2 is 'neg'
    state = embedding_state(None, corrected, {}, results=cache)
    assert state.index.frame["gold"].tolist() == corrected.frame["gold"].tolist() == ["neg", "neg", "neg", "pos", "pos", "pos"]
    assert state.index.frame["correct"].tolist() == corrected.frame["correct"].tolist()  # row 2 now predicted right
    assert np.allclose(state.index.vectors, index.vectors)  # the same embeddings, only the labels differ
    noise = label_noise_view(state.index, 2, 1.0)
    assert noise.frame.empty  # with the corrected gold, every example agrees with its neighbours
    # one neighbour each: as labelled, rows 1 and 2 are each other's nearest with different gold; corrected, they agree
    assert sorted(label_noise_view(index, 1, 1.0).frame["row"].tolist()) == [1, 2]
    assert label_noise_view(state.index, 1, 1.0).frame.empty
    assert embedding_state(None, table, {}, results=cache).index is index  # as labelled: the index as built


def test_with_redaction_the_probe_and_label_noise_downloads_mask_personal_data():
    """The failure: the Robustness page masked the failing pairs and the label-noise table it showed, but its CSV and
    JSON downloads carried the texts as they are."""
    from privacy_support import leaks

    from analysis.synthetic import probs_for, table_from_arrays
    from probes.embeddings import index_from_vectors
    from probes.run import ProbeFailure
    from probes.views import failing_examples, label_noise_view

    original, perturbed = "Jennifer Okafor wrote from maria.lopez@example.com", "Jennifer Okafor wrote from maria.lopez@example.com!"
    fail = ProbeFailure(3, original, perturbed, "positive", "positive", "negative", "positive", 0.8, 0.4)
    names = ProbeResult("names", "invariance", "Names", "same prediction", 40, 40, 1, 40, tuple(range(40)), (3,), (fail,), 0, 0.0)
    reports = [report("one", (names,))]
    masked = failing_examples(reports, 0, "names", redact=True)
    assert leaks(masked.csv.decode("utf-8-sig")) == [] and leaks(masked.json.decode("utf-8")) == [] and b"<EMAIL>" in masked.csv
    assert json.loads(masked.json)["reports"][0]["results"][0]["failures"][0]["p_after"] == pytest.approx(0.4)  # the numbers stay
    plain = failing_examples(reports, 0, "names")
    assert leaks(plain.csv.decode("utf-8-sig")) and leaks(plain.json.decode("utf-8"))  # off: as they are

    texts = [f"note {i}" for i in range(6)]
    texts[2] = original
    table = table_from_arrays(probs_for(np.array([0, 0, 0, 1, 1, 1]), 2, np.full(6, 0.9)), np.array([0, 0, 1, 1, 1, 1]), ("neg", "pos"), texts=texts)
    index = index_from_vectors(np.array([[1, 0.01], [1, 0.02], [1, 0.03], [0.01, 1], [0.02, 1], [0.03, 1]]), table)
    noise = label_noise_view(index, 2, 1.0, redact=True)
    assert noise.frame["row"].tolist() == [2] and leaks(noise.csv.decode("utf-8-sig")) == [] and b"<NAME>" in noise.csv
    assert leaks(label_noise_view(index, 2, 1.0).csv.decode("utf-8-sig"))


def test_a_formula_in_a_failing_pair_downloads_as_text_and_the_numbers_stay_numbers():
    """The attack: a data row `=HYPERLINK(...)` becomes a clickable formula in whoever opens the probe-failures CSV."""
    import csv
    import io

    import pandas as pd

    from probes.run import ProbeFailure
    from probes.views import failing_examples

    formula = '=HYPERLINK("http://x","see")'
    fail = ProbeFailure(3, formula, "@" + formula, "-negative", "positive", "negative", "positive", 0.8, 0.3)
    names = ProbeResult("names", "invariance", "Names", "same prediction", 40, 40, 1, 40, tuple(range(40)), (3,), (fail,), 0, 0.0)
    shown = failing_examples([report("one", (names,))], 0, "names")
    rows = list(csv.DictReader(io.StringIO(shown.csv.decode("utf-8-sig"), newline="")))
    assert rows[0]["original"] == "'" + formula and rows[0]["perturbed"] == "'@" + formula and rows[0]["gold"] == "'-negative"
    back = pd.read_csv(io.BytesIO(shown.csv), encoding="utf-8-sig")
    assert back["change"].tolist() == [pytest.approx(-0.5)] and back["p_before"].dtype == float  # a negative number is not a formula


def test_a_kept_report_is_read_back_from_the_results_store_and_only_under_its_own_key(tmp_path, monkeypatch):
    """After a restart (an empty memory cache) the report comes from the store; other settings, another checkpoint or edited
    word lists miss; a store that cannot be used keeps it in memory only."""
    from probes import views
    from store.results import ResultsStore

    store = ResultsStore(tmp_path)
    monkeypatch.setattr(views, "_results_store", lambda given=None: given or store)
    kept = with_failures("after")
    params = ProbeParams.of(("names", "typos"), 10, 40, 0, 3, "auto", DirectionConfig.sentiment("positive", "negative"))
    key = params.key("ckpt:single_label", "data-fp")
    views.keep_report(key, kept, ResultCache())
    memory = ResultCache()  # a new process
    back = views.probe_report(key, memory)
    assert back is not None and back.to_dict() == kept.to_dict() and memory.get("reports", key) is back
    assert views.probe_report(ProbeParams.of(("names", "typos"), 10, 40, 1, 3, "auto", None).key("ckpt:single_label", "data-fp"), ResultCache()) is None
    assert views.probe_report(params.key("ckpt:multi_label", "data-fp"), ResultCache()) is None
    assert views.probe_report(params.key("ckpt:single_label", "other-data"), ResultCache()) is None
    monkeypatch.setattr(views, "wordlists_digest", lambda: "edited")
    assert views.probe_report(key, ResultCache()) is None  # the perturbations follow the word lists
    monkeypatch.setattr(views, "_results_store", lambda given=None: None)
    memory = ResultCache()
    assert views.keep_report(key, kept, memory) is kept and views.probe_report(key, memory) is kept


class Embedder:
    """A predictor whose embeddings are given vectors (row i of the table: vectors[i]); counts its calls."""

    def __init__(self, table, vectors):
        from types import SimpleNamespace

        self.ref = SimpleNamespace(fingerprint=table.fingerprint, name="m")
        self.texts = dict(zip(table.inputs, vectors))
        self.calls = 0

    def embed(self, texts, **kw):
        self.calls += 1
        return np.array([self.texts[t] for t in texts], dtype=np.float32)


def fail(what):
    def failing(*a, **kw):
        raise AssertionError(f"{what} ran on a filled store")

    return failing


def test_the_map_and_the_noise_hints_are_stored_equal_to_fresh_ones_and_read_without_the_vectors(tmp_path, monkeypatch):
    """The failure: at 100k rows the Robustness page's first open read every embedding, projected them (PCA, ~3 s) and
    searched the label-noise neighbours (~5 s) in every new app process; a filled store now gives both without the index."""
    import pandas as pd

    from probes import embeddings
    from probes.views import embedding_map, label_noise_view
    from store.results import ResultsStore

    table, index = noise_index()
    store = ResultsStore(tmp_path)
    fresh_map = embeddings.embedding_map_frame(index, embeddings.project(index.vectors, "pca"))
    fresh_noise = label_noise_view(index, 2, 1.0)
    assert len(fresh_noise.frame) == 1  # something to store
    first_map = embedding_map(index, ("k",), "pca", ResultCache(), table=table, store=store)  # projected and stored
    first_noise = label_noise_view(index, 2, 1.0, key=("k",), table=table, store=store, results=ResultCache())
    pd.testing.assert_frame_equal(first_map, fresh_map)

    monkeypatch.setattr(embeddings, "project", fail("PCA"))
    monkeypatch.setattr(embeddings, "label_noise", fail("the neighbour search"))
    no_index = fail("loading the index")  # a loader the page gives: never called when both are stored
    stored_map = embedding_map(no_index, ("k",), "pca", ResultCache(), table=table, store=store)  # a new process: memory empty
    stored_noise = label_noise_view(no_index, 2, 1.0, key=("k",), table=table, store=store, results=ResultCache())
    pd.testing.assert_frame_equal(stored_map, fresh_map, check_exact=True)
    pd.testing.assert_frame_equal(stored_noise.frame, fresh_noise.frame, check_exact=True)
    assert stored_noise.summary == first_noise.summary == fresh_noise.summary and stored_noise.csv == fresh_noise.csv


def test_other_data_gold_labels_checkpoint_or_settings_are_a_miss_in_the_store(tmp_path, monkeypatch):
    from analysis.predictions import with_corrected_gold
    from analysis.synthetic import probs_for, table_from_arrays
    from probes import embeddings
    from probes.views import embedding_map, label_noise_view
    from store.results import ResultsStore

    table, index = noise_index()
    store = ResultsStore(tmp_path)
    embedding_map(index, ("k",), "pca", ResultCache(), table=table, store=store)
    label_noise_view(index, 2, 1.0, table=table, store=store, results=ResultCache())
    projected, searched = [], []
    real_project, real_noise = embeddings.project, embeddings.label_noise
    monkeypatch.setattr(embeddings, "project", lambda *a, **kw: projected.append(a[1]) or real_project(*a, **kw))
    monkeypatch.setattr(embeddings, "label_noise", lambda *a, **kw: searched.append(kw["k"]) or real_noise(*a, **kw))

    def both(t, idx, method="pca", k=2, threshold=1.0):
        embedding_map(idx, ("k",), method, ResultCache(), table=t, store=store)
        label_noise_view(idx, k, threshold, table=t, store=store, results=ResultCache())

    both(table, index)
    assert projected == searched == []  # the same: read
    corrected = with_corrected_gold(table, {2: "neg"})  # a reviewer's correction: other gold labels, the same texts
    both(corrected, embeddings.index_for_table(index, corrected))
    assert projected == [] and searched == [2]  # the map does not depend on the labels; the hints do
    both(table, index, k=1)
    both(table, index, threshold=0.5)
    both(table, index, method="tsne")
    assert projected == ["tsne"] and searched == [2, 1, 2]  # t-SNE: the hints of these settings are stored
    texts = [f"t{i}" for i in range(5)] + ["another text"]
    other = table_from_arrays(
        probs_for(np.array([0, 0, 0, 1, 1, 1]), 2, np.full(6, 0.9)), np.array([0, 0, 1, 1, 1, 1]), ("neg", "pos"), texts=texts, checkpoint_name="m"
    )
    both(other, embeddings.index_from_vectors(index.vectors, other))  # another data file
    assert projected == ["tsne", "pca"] and len(searched) == 4
    other_model = dataclasses.replace(table, fingerprint="f" * 64)  # another checkpoint's embeddings
    both(other_model, embeddings.index_from_vectors(index.vectors, other_model))
    assert projected == ["tsne", "pca", "pca"] and len(searched) == 5


def test_fill_similar_stores_what_the_tab_opens_on_once(tmp_path, monkeypatch):
    """`veredicto precompute --what embeddings` stores the map and the hints under the page's keys: the page then reads them."""
    from probes import embeddings
    from probes.views import NOISE_THRESHOLD, default_noise_k, embedding_map, fill_similar, label_noise_view
    from store.results import ResultsStore

    table, index = noise_index()
    store = ResultsStore(tmp_path)
    predictor = Embedder(table, index.vectors)
    assert fill_similar(predictor, table, store=store) == [
        "The embedding map (PCA): computed and stored.",
        "Label-noise hints (5 neighbours, 70% agreement): computed and stored.",
    ]
    assert predictor.calls == 1  # the embeddings read once for both
    assert all(line.endswith("already stored, skipped.") for line in fill_similar(predictor, table, store=store)) and predictor.calls == 1
    monkeypatch.setattr(embeddings, "project", fail("PCA"))
    monkeypatch.setattr(embeddings, "label_noise", fail("the neighbour search"))
    embedding_map(fail("loading the index"), ("page",), "pca", ResultCache(), table=table, store=store)
    label_noise_view(fail("loading the index"), default_noise_k(len(table)), NOISE_THRESHOLD, key=("page",), table=table, store=store, results=ResultCache())


def test_a_stored_map_makes_the_embeddings_ready_without_counting_them(tmp_path, monkeypatch):
    """The failure: at 100k rows a filled store's first Robustness open still counted every stored embedding (~1 s of SQL
    over 100k hashes) although the stored map says they are all there (it is stored only from a full index)."""
    from probes import embeddings
    from probes.views import embedding_map, embedding_state, fill_similar
    from store.results import ResultsStore

    table, index = noise_index()
    store = ResultsStore(tmp_path)
    fill_similar(Embedder(table, index.vectors), table, store=store)

    class NoCounting:
        def __getattr__(self, name):
            raise AssertionError(f"embedding_state called predictor.{name}")

    monkeypatch.setattr(embeddings, "project", fail("PCA"))
    cache = ResultCache()
    state = embedding_state(NoCounting(), table, {}, results=cache, store=store)
    assert state.ready and state.auto and state.index is None
    shown = embedding_map(fail("loading the index"), state.key, "pca", cache, table=table, store=ResultsStore(tmp_path / "empty"))  # from memory
    assert len(shown) == len(table)
