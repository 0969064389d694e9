"""The Robustness view models (probes.views): the named probe settings, the shared bounded result store, the before/after verdicts."""
from __future__ import annotations

import json
import threading

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
    others = [ProbeParams.of(("names", "negation"), 10, 50, 8, 2, "en", directions), ProbeParams.of(("names", "negation"), 10, 50, 7, 3, "en", directions),
              ProbeParams.of(("names", "negation"), 10, 50, 7, 2, "es", directions), ProbeParams.of(("names", "negation"), 10, 50, 7, 2, "en", None)]
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
