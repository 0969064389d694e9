"""What the Robustness page shows, as plain data: the probe settings, the shared store of computed results, the before/after verdicts.

The page lays these out; nothing here imports Streamlit, so it is tested directly.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from probes.perturb import DirectionConfig
from probes.run import ProbeReport, compare_reports


@dataclass(frozen=True)
class ProbeParams:
    """The settings a probe run depends on; with the checkpoint and data fingerprints they name its result."""

    tests: tuple[str, ...]
    limit: int | None  # None: every example the test applies to
    seed: int
    variants: int
    language: str
    directions: str  # DirectionConfig.to_dict() as JSON, "null" when directional tests are off

    @classmethod
    def of(cls, tests: tuple[str, ...], limit: int, n_examples: int, seed: int, variants: int, language: str, directions: DirectionConfig | None) -> ProbeParams:
        """A limit as large as the data means no limit, so both settings share one result."""
        return cls(tuple(tests), limit if limit < n_examples else None, seed, variants, language, json.dumps(directions.to_dict() if directions else None))

    def key(self, checkpoint_fingerprint: str, data_fingerprint: str) -> tuple:
        return (checkpoint_fingerprint, data_fingerprint, self.tests, self.limit, self.seed, self.variants, self.language, self.directions)


class ResultCache:
    """Results any session computed, shared by all: per kind, the `keep` most recently used, behind one lock."""

    def __init__(self, keep: int = 16):
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.keep = keep
        self._lock = threading.Lock()
        self._kinds: dict[str, OrderedDict[Hashable, Any]] = {}

    def put(self, kind: str, key: Hashable, value: Any) -> Any:
        with self._lock:
            store = self._kinds.setdefault(kind, OrderedDict())
            store[key] = value
            store.move_to_end(key)
            while len(store) > self.keep:
                store.popitem(last=False)
        return value

    def get(self, kind: str, key: Hashable) -> Any:
        with self._lock:
            store = self._kinds.get(kind)
            if store is None or key not in store:
                return None
            store.move_to_end(key)
            return store[key]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._kinds.values())

    def clear(self) -> None:
        with self._lock:
            self._kinds.clear()


PROBE_RESULTS = ResultCache(keep=16)  # process-wide for now; meant to be owned by the app's runtime object


@dataclass(frozen=True)
class ProbeComparison:
    """Before/after probe results: the table, and the tests that got more brittle or more robust as (title, before, after)."""

    table: pd.DataFrame
    more_brittle: tuple[tuple[str, float, float], ...]
    more_robust: tuple[tuple[str, float, float], ...]


COMPARISON_COLUMNS = ["title", "kind", "before", "after", "change", "tried_after", "fixed", "new", "p_value", "verdict"]
SUMMARY_COLUMNS = ["title", "kind", "failure_rate", "failed", "tried", "applicable", "expectation", "note"]


def probe_comparison(before: ProbeReport, after: ProbeReport) -> ProbeComparison:
    comparison = compare_reports(before, after)

    def rows(verdict: str) -> tuple[tuple[str, float, float], ...]:
        part = comparison[comparison["verdict"] == verdict]
        return tuple((str(t), b, a) for t, b, a in zip(part["title"], part["before"], part["after"]))

    return ProbeComparison(comparison[COMPARISON_COLUMNS], rows("more brittle"), rows("more robust"))


def probe_summary(report: ProbeReport) -> pd.DataFrame:
    return report.summary_frame()[SUMMARY_COLUMNS]
