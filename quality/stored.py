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

Bump `QUALITY_FORMAT` when what one of them means changes. A store that cannot be read or written, or a payload that cannot
be decoded, is logged and the result computed (and kept in memory by the caller) as before: never an error on the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

QUALITY_FORMAT = 1
T = TypeVar("T")
log = logging.getLogger(__name__)


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
    """The `kind` payload under (key, params) from `store` (a `store.results.ResultsStore`; None: the process's shared one),
    else `compute()`, written there when `keep(result)`. `externals`: objects the result holds that the caller gives back on
    reading (`store.codec`)."""
    from store import codec
    from store.results import StoreError

    results = _results(store)
    found = read(kind, key, params, externals=externals, store=results)
    if found is not None:
        return found
    value = compute()
    if results is not None and keep(value):
        try:
            results.put_payload(kind, key, params, QUALITY_FORMAT, codec.encode(value, externals))
        except (StoreError, codec.CodecError) as exc:
            log.warning("%s kept in memory only: %s", kind, exc)
    return value


def read(kind: str, key: str, params: Mapping[str, Any], *, externals: Mapping[str, Any] | None = None, store=None) -> Any:
    """The `kind` payload under (key, params), decoded; None when none is stored (or it cannot be read: logged)."""
    from store import codec
    from store.results import StoreError

    results = _results(store)
    if results is None:
        return None
    try:
        found = results.get_payload(kind, key, params, QUALITY_FORMAT)
        return None if found is None else codec.decode(found, externals)
    except (StoreError, codec.CodecError, KeyError, TypeError, ValueError) as exc:  # unreadable: computed again and replaced
        log.warning("%s not read from the results store: %s", kind, exc)
        return None


def _results(store):
    from store.results import shared_store

    return store if store is not None else shared_store().store
