"""The Data page's expensive results in the results store (`store.results`), so an app restart, a second app process or
`veredicto precompute --what quality` opens the page on them instead of recomputing.

    found = stored("label_issues", key, params, compute)    # read the payload, else compute(), store it, return it

Three payload kinds, each written with `store.codec` under (kind, key, params) and `QUALITY_FORMAT`:
- "label_issues": `quality.label_issues.LabelIssues`; key the checkpoint's scoring key, params the table as judged
  (`cache_key`: data fingerprint, label mapping, a hash of the gold labels), whether the neighbour hints were merged in
  (the embeddings are the checkpoint's, so its key names them), k, threshold, the neighbours' sample size and cleanlab's version;
- "data_quality": `quality.assess.DataQuality` (leakage and drift); key the scoring key, params the table, the training
  data's key (a file: path, modification time, size, columns; data in memory: its fingerprint), the label mapping, the
  leakage threshold, the drift cap and seed; the training data itself is the caller's (`store.codec` externals);
- "pii": `privacy.pii.PiiScan`; key the data's fingerprint (or the training file's key), params its name, the examples
  kept per kind and the word lists' digest (the name detector reads them).

Bump `QUALITY_FORMAT` when what one of them means changes. Reading and writing is `store.payloads`'s: a store that cannot be
read or written, or a payload that cannot be decoded, is logged and the result computed (and kept in memory by the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from store import payloads

QUALITY_FORMAT = 1
T = TypeVar("T")


def stored(
    kind: str,
    key: str,
    params: Mapping[str, Any],
    compute: Callable[[], T],
    *,
    externals: Mapping[str, Any] | None = None,
    store=None,
    keep: Callable[[T], bool] = lambda _: True,
) -> T:
    """`store.payloads.stored` with `QUALITY_FORMAT`."""
    return payloads.stored(kind, key, params, QUALITY_FORMAT, compute, externals=externals, store=store, keep=keep)


def read(kind: str, key: str, params: Mapping[str, Any], *, externals: Mapping[str, Any] | None = None, store=None) -> Any:
    """`store.payloads.read` with `QUALITY_FORMAT`."""
    return payloads.read(kind, key, params, QUALITY_FORMAT, externals=externals, store=store)
