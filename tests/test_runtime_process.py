"""runtime.process: one Runtime owns the process-wide caches, each with its lock. The dashboard's table store is
shared by every browser session, so it is hammered here from many threads with more keys than it may hold, through
the background jobs (`runtime.background`) that fill it."""

from __future__ import annotations

import functools
import random
import sys
import threading
from dataclasses import dataclass

import pytest

import runtime
from runtime.process import TABLE_ITEMS, LRUCache


@dataclass(frozen=True)
class FakeTable:
    key: tuple
    made_by: int


def test_lru_keeps_the_most_recently_used_within_its_bound():
    cache = LRUCache(max_items=3)
    for k in "abc":
        cache.put(k, k.upper())
    assert cache.get("a") == "A"  # refreshed: "b" is now the oldest
    cache.put("d", "D")
    assert cache.keys() == ["c", "a", "d"] and cache.get("b") is None and len(cache) == 3
    calls = []
    assert cache.get_or_compute("c", lambda: calls.append("c") or "new") == "C" and calls == []
    assert cache.get_or_compute("e", lambda: calls.append("e") or "E") == "E" and calls == ["e"]
    assert "a" not in cache and len(cache) == 3


def test_the_runtime_owns_the_caches_the_old_names_point_at():
    from models.inference import EMBEDDING_CACHE, SHARED_CACHE
    from probes import cost

    rt = runtime.current()
    assert runtime.current() is rt
    assert SHARED_CACHE is rt.probabilities and EMBEDDING_CACHE is rt.embeddings
    assert cost._lock is rt.calibrations.lock and cost._THROUGHPUT is rt.calibrations.throughput and cost._CORRECTION is rt.calibrations.correction
    assert (rt.probabilities.max_items, rt.embeddings.max_items, rt.tables.max_items) == (200_000, 100_000, TABLE_ITEMS)
    made = []
    first = rt.shared(("test", "once"), lambda: made.append(1) or object())
    assert rt.shared(("test", "once"), lambda: made.append(2) or object()) is first and made == [1]


def test_table_store_under_concurrent_sessions_respects_its_bound_computes_each_table_once_at_a_time_and_returns_the_asked_one() -> None:
    """Sessions get tables as `dashboard.state.get_table` does: the shared store, else a background job that keeps its
    result there. Two sessions missing the same table at once must share one computation, never run two."""
    from dashboard.state import _table_store

    store = _table_store()
    assert store is runtime.current().tables and store.max_items == TABLE_ITEMS
    store.clear()
    keys = [(f"fp{i}", "data", ()) for i in range(TABLE_ITEMS * 4)]  # far more keys than the store holds
    errors: list[BaseException] = []
    wrong: list[tuple] = []
    sizes: list[int] = []
    computed = [0]
    computing: set[tuple] = set()
    overlapped: list[tuple] = []
    guard = threading.Lock()
    done = threading.Event()

    def session(number: int) -> None:
        rng = random.Random(number)
        try:
            for _ in range(300):
                key = rng.choice(keys)

                def compute(job, key=key):
                    with guard:
                        computed[0] += 1
                        if key in computing:
                            overlapped.append(key)
                        computing.add(key)
                    job.progress(1, 1)
                    with guard:
                        computing.discard(key)
                    return FakeTable(key, number)

                job = runtime.current().jobs.start(key, "test", compute, kept=functools.partial(store.get, key), keep=functools.partial(store.put, key))
                assert job.wait(60)
                table = job.outcome()  # the store is typed for PredictionTable; it must hand back the very FakeTable made
                if not isinstance(table, FakeTable) or table.key != key:
                    wrong.append((key, table))
        except BaseException as exc:  # noqa: BLE001 - any exception in a session is the failure
            errors.append(exc)

    def watch() -> None:
        while not done.is_set():
            sizes.append(len(store))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: interleavings a real server gets under load
    try:
        watcher = threading.Thread(target=watch)
        sessions = [threading.Thread(target=session, args=(n,)) for n in range(8)]
        watcher.start()
        for t in sessions:
            t.start()
        for t in sessions:
            t.join(timeout=120)
        done.set()
        watcher.join(timeout=120)
    finally:
        sys.setswitchinterval(old)
    assert not any(t.is_alive() for t in sessions), "a session hung"
    assert errors == [] and wrong == [] and overlapped == []
    assert sizes and max(sizes) <= TABLE_ITEMS and len(store) <= TABLE_ITEMS
    assert computed[0] > len(keys)  # the bound really evicted: some tables were computed again
    store.clear()


@pytest.fixture(autouse=True)
def _restore_tables():
    yield
    runtime.current().tables.clear()
