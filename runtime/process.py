"""The process-wide state every session shares, owned by one `Runtime` (`runtime.current()`), each shared
mutable structure with its own lock.

- `probabilities` / `embeddings` / `tokens`: the inference layer's caches, (fingerprint, text) -> vector
  (`models.inference.SHARED_CACHE` / `EMBEDDING_CACHE` / `TOKEN_CACHE` name them);
- `tables`: the dashboard's prediction tables, shared by every browser session (`dashboard.state.get_table`);
- `calibrations`: measured throughput and learned corrections of cost estimates (`probes.cost`);
- `jobs`: the background computations every session can follow (`runtime.background`: prediction tables, embedding indexes);
- `shared(key, factory)`: one object per key for everything else that must exist once per process
  (e.g. one attribution cache per cache folder).

There is one Runtime per process; `clear()` empties it in place, so names bound to its parts stay valid.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from runtime.background import Jobs

PROBABILITY_ITEMS = 200_000
EMBEDDING_ITEMS = 100_000
TOKEN_ITEMS = 200_000
TABLE_ITEMS = 12


class LRUCache:
    """Bounded, thread-safe LRU map: `get` refreshes an entry, `put` evicts the least recently used beyond `max_items`."""

    def __init__(self, max_items: int = PROBABILITY_ITEMS):
        self.max_items = max_items
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_items:
                self._data.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value, else `compute()` (run outside the lock: it may be slow) stored and returned.

        Two callers missing the same key at once both compute; the later one's value is kept, and each gets its own.
        """
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

    def keys(self) -> list:
        with self._lock:
            return list(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        with self._lock:  # never the transient size between an insert and its eviction
            return len(self._data)


class Calibrations:
    """Cost-estimate state: `throughput[(fingerprint, device)]` and `correction[(fingerprint, task)]`, both under `lock`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.throughput: dict[tuple[str, str], Any] = {}
        self.correction: dict[tuple[str, str], float] = {}

    def clear(self) -> None:
        with self.lock:
            self.throughput.clear()
            self.correction.clear()


class Runtime:
    """Owns the process-wide caches and stores; see the module docstring."""

    def __init__(self) -> None:
        self.probabilities = LRUCache(PROBABILITY_ITEMS)
        self.embeddings = LRUCache(EMBEDDING_ITEMS)
        self.tokens = LRUCache(TOKEN_ITEMS)
        self.tables = LRUCache(TABLE_ITEMS)
        self.calibrations = Calibrations()
        self.jobs = Jobs()
        self._shared: dict[Hashable, Any] = {}
        self._shared_lock = threading.Lock()

    def shared(self, key: Hashable, factory: Callable[[], Any]) -> Any:
        """The one object for `key` in this process, made by `factory()` the first time (under a lock: made once)."""
        with self._shared_lock:
            if key not in self._shared:
                self._shared[key] = factory()
            return self._shared[key]

    def caches(self) -> Iterator[LRUCache]:
        yield from (self.probabilities, self.embeddings, self.tokens, self.tables)

    def clear(self) -> None:
        """Empty every cache in place (the objects stay, so names bound to them keep working)."""
        for cache in self.caches():
            cache.clear()
        self.calibrations.clear()
        self.jobs.clear()
        with self._shared_lock:
            self._shared.clear()


_RUNTIME = Runtime()


def current() -> Runtime:
    """The process's Runtime."""
    return _RUNTIME
