"""Whole results read from the results store, else computed and stored: the one pattern behind the Data page's and the
Robustness page's stored results (`quality.stored`, `probes.views`).

    found = stored("label_noise", key, params, FORMAT, compute)   # read the payload, else compute(), store it, return it

Each payload is written with `store.codec` under (kind, key, params) and the caller's format version (`ResultsStore.put_payload`).
A store that cannot be read or written, or a payload that cannot be decoded, is logged and the result computed (and kept
in memory by the caller): never an error on a page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def stored(
    kind: str,
    key: str,
    params: Mapping[str, Any],
    format: int,
    compute: Callable[[], T],
    *,
    externals: Mapping[str, Any] | None = None,
    store=None,
    keep: Callable[[T], bool] = lambda _: True,
) -> T:
    """The `kind` payload under (key, params) and `format` from `store` (a `store.results.ResultsStore`; None: the process's
    shared one), else `compute()`, written there when `keep(result)`. `externals`: objects the result holds that the caller
    gives back on reading (`store.codec`)."""
    from store import codec
    from store.results import StoreError

    results = _results(store)
    found = read(kind, key, params, format, externals=externals, store=results)
    if found is not None:
        return found
    value = compute()
    if results is not None and keep(value):
        try:
            results.put_payload(kind, key, params, format, codec.encode(value, externals))
        except (StoreError, codec.CodecError) as exc:
            log.warning("%s kept in memory only: %s", kind, exc)
    return value


def read(kind: str, key: str, params: Mapping[str, Any], format: int, *, externals: Mapping[str, Any] | None = None, store=None) -> Any:
    """The `kind` payload under (key, params) and `format`, decoded; None when none is stored (or it cannot be read: logged)."""
    from store import codec
    from store.results import StoreError

    results = _results(store)
    if results is None:
        return None
    try:
        found = results.get_payload(kind, key, params, format)
        return None if found is None else codec.decode(found, externals)
    except (StoreError, codec.CodecError, KeyError, TypeError, ValueError) as exc:  # unreadable: computed again and replaced
        log.warning("%s not read from the results store: %s", kind, exc)
        return None


def _results(store):
    from store.results import shared_store

    return store if store is not None else shared_store().store
