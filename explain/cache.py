"""A persistent attribution cache: explanations computed once survive restarts and are shared.

One SQLite file (`attributions.sqlite`) in a directory the user chooses (default `cache/` in the Veredicto home, see `runtime.settings`),
in WAL mode so the dashboard can read while `veredicto precompute` writes. Rows are keyed by
(checkpoint scoring key -- the fingerprint, plus the task when not single-label --, method, canonical parameter JSON,
sha256 of the text, or of the (text, text_pair) sentence pair); each row is written
in its own transaction, so an interrupted run keeps everything it finished.

A file that is not a readable SQLite database, or that was written by another schema version, is
never deleted: it is renamed to `<name>.corrupt-<timestamp>` (or `.v<N>-<timestamp>`), a fresh file
is started, and `AttributionCache.notice` says what happened and where the old file is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explain.attribution import Attribution
from models.errors import VeredictoError
from models.protocol import InferenceLayer, TextInput
from runtime import settings, sqlite_files

SCHEMA_VERSION = 1
FILENAME = "attributions.sqlite"
log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS attributions (
    fingerprint TEXT NOT NULL,
    method TEXT NOT NULL,
    params TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    created REAL NOT NULL,
    seconds REAL NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (fingerprint, method, params, text_hash)
);
"""


class CacheError(VeredictoError):
    """The cache directory cannot be used (permissions, disk, a path that is a file…)."""


def _fail(message: str) -> CacheError:
    return CacheError(f"{message} Choose another directory with --cache-dir (or {settings.CACHE_DIR_ENV}).")


def default_cache_dir() -> Path:
    """`$VEREDICTO_CACHE_DIR` if set, else `cache/` in the Veredicto home (`runtime.settings`), wherever the process was started."""
    return settings.cache_dir()


def _defaults() -> dict[str, dict[str, Any]]:
    from explain import gradient_explainer, lime_explainer, shap_explainer  # light modules: shap/lime/torch load only when computing

    return {
        "shap": {"max_evals": shap_explainer.DEFAULT_MAX_EVALS, "batch_size": shap_explainer.DEFAULT_BATCH_SIZE, "seed": 0},
        "lime": {"num_samples": lime_explainer.DEFAULT_NUM_SAMPLES, "seed": 0},
        "ig": {"n_steps": gradient_explainer.DEFAULT_STEPS, "baseline": gradient_explainer.DEFAULT_BASELINE},
        "grad_input": {},
    }


def key_params(method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters that change a `method`'s result, with defaults filled in.

    So `max_evals=None`, leaving it out, and passing the default all share one cache entry, and
    LIME's entry does not depend on SHAP's budget (or on callbacks such as `progress`).
    """
    defaults = _defaults().get(method)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    if defaults is None:  # an unknown method: key on whatever was given
        return {k: v for k, v in params.items() if not callable(v)}
    return {name: params.get(name, default) for name, default in defaults.items()}


PAGE_METHODS = ("shap", "lime")  # the thorough methods every page shows (Overview, Insights, Sign-off)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


def default_params(method: str) -> dict:
    """The budget the dashboard explains with (and looks up in the cache): `key_params`' defaults, SHAP's and LIME's
    overridden by $VEREDICTO_SHAP_MAX_EVALS / $VEREDICTO_LIME_SAMPLES."""
    params = key_params(method, {})
    if method == "shap" and _env_int("VEREDICTO_SHAP_MAX_EVALS"):
        params["max_evals"] = _env_int("VEREDICTO_SHAP_MAX_EVALS")
    if method == "lime" and _env_int("VEREDICTO_LIME_SAMPLES"):
        params["num_samples"] = _env_int("VEREDICTO_LIME_SAMPLES")
    return params


def page_explain_params() -> dict[str, dict]:
    """The explainer budgets a gate evaluation is made (and stored) with, by the Sign-off page and `veredicto gate` alike."""
    return {m: default_params(m) for m in PAGE_METHODS}


def canonical_params(params: Mapping[str, Any] | None, method: str | None = None) -> str:
    """Parameters as sorted, compact JSON (`key_params` first when `method` is given)."""
    clean = key_params(method, params) if method is not None else {k: v for k, v in (params or {}).items() if v is not None}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def text_hash(text: TextInput) -> str:
    """sha256 of a text (as before pairs existed), or of a sentence pair as a JSON list, so the two never meet."""
    data = text if isinstance(text, str) else json.dumps(list(text), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    rows: int
    by_method: Mapping[str, int]
    path: Path
    bytes: int


class AttributionCache:
    """Read-first store of `Attribution`s. Safe to share between threads; each call opens its own connection."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.path = self.directory / FILENAME
        self.notice: str | None = None  # set when an unusable file was moved aside or rows were unreadable
        self._lock = threading.Lock()
        sqlite_files.make_directory(self.directory, "cache", _fail)
        self.notice = sqlite_files.open_or_recover(
            self.path,
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            tables={"attributions"},
            what="attribution cache",
            consequence="a new, empty cache was started; explanations will be recomputed as needed.",
            fail=_fail,
            on_damage=self._damaged,
        )

    def _damaged(self, message: str) -> None:
        """Told by the background integrity check (`runtime.sqlite_files`) that the file is damaged: `notice` says so."""
        self.notice = message

    def _connect(self) -> sqlite3.Connection:
        return sqlite_files.connect(self.path)

    # ------------------------------------------------------------------ reads

    @staticmethod
    def _decode(payload: str, text: TextInput | None) -> Attribution | None:
        try:
            attribution = Attribution.from_dict(json.loads(payload))
        except Exception:  # noqa: BLE001 - an unreadable row is a miss, never a crash
            return None
        if text is not None and attribution.inputs != text:
            return None
        return attribution

    def get(self, fingerprint: str, text: TextInput, method: str, target: str | None = None, **params) -> Attribution | None:
        """The cached explanation, viewed for `target` if given; None when not cached."""
        found = self.get_many(fingerprint, [text], method, **params)
        attribution = found.get(text)
        if attribution is None:
            return None
        wanted = target if target is not None else attribution.predicted  # None means "the predicted class", as in explain_text
        return attribution if wanted == attribution.target else attribution.for_target(wanted)

    def get_many(self, fingerprint: str, texts: Iterable[TextInput], method: str, **params) -> dict[TextInput, Attribution]:
        """Every cached explanation among `texts`, as {text: Attribution}; missing texts are absent."""
        wanted = {text_hash(t): t for t in texts}
        if not wanted:
            return {}
        key = canonical_params(params, method)
        out: dict[TextInput, Attribution] = {}
        bad = 0
        hashes = list(wanted)
        conn = self._connect()
        try:
            for start in range(0, len(hashes), 500):
                chunk = hashes[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT text_hash, payload FROM attributions WHERE fingerprint=? AND method=? AND params=? AND text_hash IN ({marks})",
                    (fingerprint, method, key, *chunk),
                )
                for h, payload in rows:
                    attribution = self._decode(payload, wanted[h])
                    if attribution is None:
                        bad += 1
                    else:
                        out[wanted[h]] = attribution
        finally:
            conn.close()
        if bad:
            self.notice = f"{bad} cached explanation(s) in '{self.path}' could not be read; they will be recomputed and replaced."
            log.warning(self.notice)
        return out

    def cached_hashes(self, fingerprint: str, method: str, **params) -> set[str]:
        """Text hashes cached for this checkpoint, method and parameters (cheap: no payload is read)."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT text_hash FROM attributions WHERE fingerprint=? AND method=? AND params=?",
                (fingerprint, method, canonical_params(params, method)),
            )
            return {r[0] for r in rows}
        finally:
            conn.close()

    def count_cached(self, fingerprint: str, texts: Iterable[TextInput], method: str, **params) -> int:
        have = self.cached_hashes(fingerprint, method, **params)
        return sum(1 for t in set(texts) if text_hash(t) in have)

    def stats(self) -> CacheStats:
        conn = self._connect()
        try:
            by_method = dict(conn.execute("SELECT method, COUNT(*) FROM attributions GROUP BY method").fetchall())
        finally:
            conn.close()
        size = sum(p.stat().st_size for p in self.directory.glob(FILENAME + "*") if p.is_file() and "corrupt" not in p.name)
        return CacheStats(rows=sum(by_method.values()), by_method=by_method, path=self.path, bytes=size)

    def mean_seconds(self, fingerprint: str, method: str, **params) -> float | None:
        """Average compute time of the cached explanations (used to estimate what is still to do)."""
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT AVG(seconds), COUNT(*) FROM attributions WHERE fingerprint=? AND method=? AND params=?",
                (fingerprint, method, canonical_params(params, method)),
            ).fetchone()
        finally:
            conn.close()
        return float(row[0]) if row and row[1] else None

    # ------------------------------------------------------------------ writes

    def put(self, attribution: Attribution, **params) -> None:
        """Store one explanation (committed before returning). Replaces an unreadable or older row."""
        self.put_many([attribution], **params)

    def put_many(self, attributions: Sequence[Attribution], **params) -> None:
        rows = [
            (a.fingerprint, a.method, canonical_params(params, a.method), text_hash(a.inputs), time.time(), float(a.seconds), a.to_json()) for a in attributions
        ]
        if not rows:
            return
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR REPLACE INTO attributions VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise CacheError(f"Could not write to the attribution cache '{self.path}': {exc}.") from None
            finally:
                conn.close()

    # ------------------------------------------------------------------ read first, compute the rest

    def get_or_compute(
        self,
        predictor,
        text: TextInput,
        method: str,
        target: str | None = None,
        *,
        compute: Callable[..., Attribution] | None = None,
        **params,
    ) -> Attribution:
        """The cached explanation if there is one, else compute it (through `explain.api.explain_text`) and store it.

        Through `explain_text`, a run that waited in line for its turn first reads what the run ahead stored for the
        same text, and stores its own result before the line moves on, so the next waiter finds it (one write each)."""
        fingerprint = predictor.ref.scoring_key
        hit = self.get(fingerprint, text, method, target, **params)
        if hit is not None:
            return hit
        if compute is None:
            return _explain_text(
                predictor,
                text,
                method,
                target,
                reuse=lambda: self.get(fingerprint, text, method, target, **params),
                store=lambda attribution: self.put(attribution, **params),
                **_call_params(params),
            )
        attribution = compute(predictor, text, method, target, **_call_params(params))
        self.put(attribution, **params)
        return attribution

    def get_or_compute_many(
        self,
        predictor,
        texts: Sequence[TextInput],
        method: str,
        *,
        compute: Callable[..., Attribution] | None = None,
        progress: Callable[[int, int], None] | None = None,
        on_error: Callable[[Any, Exception], None] | None = None,  # given the text (or pair) and the error
        **params,
    ) -> dict[TextInput, Attribution]:
        """Explanations of all `texts` (or sentence pairs): cached ones are read, the rest computed and committed one by one.

        `progress(done, total)` is called after each computed text. An explanation that fails with a
        user-facing error (empty text…) is reported through `on_error` and skipped; others propagate.
        """
        fingerprint = predictor.ref.scoring_key
        unique = list(dict.fromkeys(texts))
        found = self.get_many(fingerprint, unique, method, **params)
        todo = [t for t in unique if t not in found]
        compute = compute or _explain_text
        for k, text in enumerate(todo, 1):
            try:
                attribution = compute(predictor, text, method, None, **_call_params(params))
            except VeredictoError as exc:
                if on_error is None:
                    raise
                on_error(text, exc)
            else:
                self.put(attribution, **params)
                found[text] = attribution
            if progress:
                progress(k, len(todo))
        return found


def _call_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _explain_text(predictor: InferenceLayer, text: TextInput, method: str, target: str | None = None, **params) -> Attribution:
    from explain.api import explain_text  # imported late: the explainers pull in shap/lime

    if isinstance(text, tuple):
        return explain_text(predictor, text[0], method, target, text_pair=text[1], **params)
    return explain_text(predictor, text, method, target, **params)


def shared_cache(directory: str | os.PathLike | None = None) -> AttributionCache:
    """The one `AttributionCache` per folder in this process (default folder: `default_cache_dir()`), owned by
    `runtime.current()`, so every page, session and thread reads and writes through the same object."""
    from runtime import current

    folder = Path(directory).expanduser() if directory is not None else default_cache_dir()
    return current().shared(("attribution_cache", str(folder.resolve())), lambda: AttributionCache(folder))
