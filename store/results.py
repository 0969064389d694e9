"""The persistent results store: probabilities and embeddings computed once, read by the app, the CLI, the gates and the report.

One SQLite file, `results.sqlite`, in the results store folder -- the attribution cache's folder, `runtime.settings.cache_dir()`
(`$VEREDICTO_CACHE_DIR`, default `cache/` in the Veredicto home). Why SQLite: the standard library has it, WAL lets the app's
sessions read while `veredicto precompute` (or another app process) writes, each batch is one transaction (a kill loses at most
the batch in flight), and a lookup by key is an index seek, so reading 100k rows is a few hundred chunked `IN` queries.

A row is keyed by (kind, key, text_hash): `kind` is "proba" (key: the checkpoint's `scoring_key`, fingerprint plus task),
"embedding" (key: the fingerprint) or "tokens" (key: the fingerprint, whose tokenizer decides the count; a one-wide row, the
count with special tokens before truncation, exact in float32); `text_hash` is `explain.cache.text_hash` of the input (a sentence pair hashes apart
from its texts). The value is a float32 vector with its width, written with `FORMAT` (the code version of the result format):
rows of another format are misses, recomputed and replaced, never mixed in. The data file is not part of the key: a text's
result does not depend on which file it came from, so a changed file reads the rows of its unchanged texts and scores the rest.

Whole results that are not per text -- a probe run, a gate evaluation, a prediction table's rows -- sit in a second table, `payloads`, as JSON:
(kind, key, params) -> payload, `params` the canonical JSON of what else the result depends on (`get_payload`/`put_payload`),
each with the format version its writer gives; a payload of another format version is a miss. A file of schema 1 written
before this table existed gains it when opened (nothing else changes, so the schema version stays).

A prediction table's rows are also stored whole (`put_table`/`get_table`, payload kind "table"): the probabilities and token
counts of one exact sequence of inputs, keyed by the scoring key and `inputs_digest` (every text, in order), so a filled store
gives the 100k-row Overview one read per checkpoint instead of 100k hashed row lookups. The rows stay the source of truth: a
changed data file has another digest (a miss: its rows are read, its new texts scored, and the new whole stored), a whole of
another format or a damaged one is a miss.

A damaged file, or one of another schema version, is moved aside (`notice` says where) as in `explain.cache`; a folder that
cannot be written raises `StoreUnavailable` (a write on a full disk `StoreFull`, one of them), and callers then keep results in memory only (`warning` in `open_store`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explain.cache import text_hash
from models.errors import VeredictoError
from models.protocol import TextInput
from runtime import settings, sqlite_files

SCHEMA_VERSION = 1
FORMAT = 1  # float32 little-endian vector; bump when what a row means changes (a new pooling, a new softmax…)
FILENAME = "results.sqlite"
KINDS = ("proba", "embedding", "tokens")
TABLE_FORMAT = 1  # a whole evaluation set's probabilities and token counts as one payload (`put_table`); bump when its layout changes
PAYLOAD_KINDS = (
    "probes",
    "gates",
    "table",
    "insights",
    "label_issues",
    "data_quality",
    "pii",
    "embedding_map",
    "label_noise",
)  # whole results stored as JSON (see `put_payload`)
CHUNK = 900  # placeholders per IN list (SQLite's old limit is 999)
_DTYPE = np.dtype("<f4")
_COUNTS = np.dtype("<i8")  # a stored table's token counts

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    format INTEGER NOT NULL,
    width INTEGER NOT NULL,
    value BLOB NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (kind, key, text_hash)
);
CREATE TABLE IF NOT EXISTS payloads (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    params TEXT NOT NULL,
    format INTEGER NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (kind, key, params)
);
"""  # a rowid table: an embedding row (1.5 KB at width 384) in a WITHOUT ROWID table takes about a page; here the demo's store is 6.6 MB, not 12.5


class StoreError(VeredictoError):
    """The results store refused a request (an unknown kind, rows of the wrong width)."""


class StoreUnavailable(StoreError):
    """The results store's folder or disk cannot be used (read-only, full, an I/O error); results stay in memory only."""


class StoreFull(StoreUnavailable):
    """A write found the disk holding the results store full (SQLITE_FULL); what was stored before stays readable."""


def _fail(message: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"{message} Results are kept in memory only (recomputed after a restart). "
        f"Point {settings.CACHE_DIR_ENV} (or --cache-dir) at a folder you can write to, or free disk space."
    )


@dataclass(frozen=True)
class StoreStats:
    rows: int
    by_kind: dict[str, int]
    keys: int  # distinct (kind, key) pairs: checkpoints (and tasks) stored
    path: Path
    bytes: int  # the file with its WAL


class ResultsStore:
    """Read-first store of per-text result vectors. Safe to share between threads and processes; each call opens its own connection."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory).expanduser() if directory is not None else settings.cache_dir()
        self.path = self.directory / FILENAME
        self._lock = threading.Lock()  # one writer per process at a time (SQLite serialises processes)
        sqlite_files.make_directory(self.directory, "results store", _fail)
        self.notice: str | None = sqlite_files.open_or_recover(
            self.path,
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            tables={"results", "payloads"},
            what="results store",
            consequence="a new, empty store was started; predictions and embeddings will be recomputed as needed.",
            fail=_fail,
            on_damage=self._damaged,
        )

    def _damaged(self, message: str) -> None:
        """Told by the background integrity check (`runtime.sqlite_files`) that the file is damaged: `notice` says so."""
        self.notice = message

    @staticmethod
    def _kind(kind: str) -> str:
        if kind not in KINDS:
            raise StoreError(f"Unknown result kind {kind!r}; the results store holds {', '.join(KINDS)}.")
        return kind

    def _hashes(self, inputs: Sequence[TextInput]) -> list[str]:
        return [text_hash(t) for t in inputs]

    def _select(self, kind: str, key: str, hashes: list[str], columns: str) -> Iterator[tuple]:
        conn = sqlite_files.connect(self.path)
        try:
            for start in range(0, len(hashes), CHUNK):
                chunk = hashes[start : start + CHUNK]
                marks = ",".join("?" * len(chunk))
                yield from conn.execute(
                    f"SELECT {columns} FROM results WHERE kind=? AND key=? AND format=? AND text_hash IN ({marks})", (kind, key, FORMAT, *chunk)
                )
        except sqlite3.DatabaseError as exc:
            if sqlite_files.unavailable(exc):
                raise _fail(f"Cannot read the results store '{self.path}': {exc}.") from None
            raise StoreError(f"Cannot read the results store '{self.path}': {exc}. Move the file aside to start a new one.") from None
        finally:
            conn.close()

    # ------------------------------------------------------------------ reads

    def get_many(self, kind: str, key: str, inputs: Sequence[TextInput], *, width: int | None = None) -> dict[int, np.ndarray]:
        """Stored rows of `inputs`, as {position in inputs: float32 vector}; inputs not stored are absent.

        With `width`, a stored row of another width (the same key with another head: a store mixed by hand) is refused.
        """
        hashes = self._hashes(inputs)
        positions: dict[str, list[int]] = {}
        for i, h in enumerate(hashes):
            positions.setdefault(h, []).append(i)
        out: dict[int, np.ndarray] = {}
        for h, stored_width, blob in self._select(self._kind(kind), key, list(positions), "text_hash, width, value"):
            if width is not None and stored_width != width:
                raise StoreError(
                    f"The results store '{self.path}' holds {kind} rows of width {stored_width} for this checkpoint, but it produces {width}. "
                    "Move the file aside (or point --cache-dir elsewhere) so the two are not mixed."
                )
            row = np.frombuffer(blob, dtype=_DTYPE)
            if row.size != stored_width:  # a truncated value: a miss, recomputed and replaced
                continue
            for i in positions[h]:
                out[i] = row
        return out

    def count(self, kind: str, key: str, inputs: Sequence[TextInput]) -> int:
        """How many distinct `inputs` have a stored row (no value is read)."""
        hashes = list(dict.fromkeys(self._hashes(inputs)))
        return sum(1 for _ in self._select(self._kind(kind), key, hashes, "text_hash"))

    def stats(self) -> StoreStats:
        conn = sqlite_files.connect(self.path)
        try:
            by_kind = dict(conn.execute("SELECT kind, COUNT(*) FROM results GROUP BY kind").fetchall())
            keys = conn.execute("SELECT COUNT(*) FROM (SELECT DISTINCT kind, key FROM results)").fetchone()[0]
        finally:
            conn.close()
        size = sum(
            p.stat().st_size for p in self.directory.glob(FILENAME + "*") if p.is_file() and "corrupt" not in p.name and ".v" not in p.name[len(FILENAME) :]
        )
        return StoreStats(rows=sum(by_kind.values()), by_kind=by_kind, keys=int(keys), path=self.path, bytes=size)

    # ------------------------------------------------------------------ writes

    def put_many(self, kind: str, key: str, inputs: Sequence[TextInput], rows: np.ndarray | Sequence[np.ndarray]) -> None:
        """Store one row per input, in one transaction (committed before returning; a kill loses at most this call's rows).

        Replaces rows of an older format; refuses rows whose width differs from what this key already holds.
        """
        self._kind(kind)
        matrix = np.asarray(rows, dtype=_DTYPE)
        if matrix.ndim != 2 or len(matrix) != len(inputs):
            raise StoreError(f"put_many needs one row per input: got {len(inputs)} input(s) and rows of shape {matrix.shape}.")
        if not len(inputs):
            return
        width = int(matrix.shape[1])
        now = time.time()
        records = [(kind, key, h, FORMAT, width, matrix[i].tobytes(), now) for i, h in enumerate(self._hashes(inputs))]

        def same_width(conn: sqlite3.Connection) -> None:
            found = conn.execute("SELECT width FROM results WHERE kind=? AND key=? AND format=? LIMIT 1", (kind, key, FORMAT)).fetchone()
            if found is not None and found[0] != width:
                raise StoreError(
                    f"The results store '{self.path}' holds {kind} rows of width {found[0]} for this checkpoint; refusing rows of width {width}. "
                    "Move the file aside (or point --cache-dir elsewhere) so the two are not mixed."
                )

        self._write("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", records, same_width)

    # ------------------------------------------------------------------ whole results (JSON payloads)

    @staticmethod
    def _payload_kind(kind: str) -> str:
        if kind not in PAYLOAD_KINDS:
            raise StoreError(f"Unknown payload kind {kind!r}; the results store holds {', '.join(PAYLOAD_KINDS)}.")
        return kind

    def get_payload(self, kind: str, key: str, params: Mapping, format: int) -> object | None:
        """The JSON payload stored under (kind, key, params) by a writer of `format`; None when there is none, it is of another
        format, or it is not readable JSON (a miss, recomputed and replaced)."""
        conn = sqlite_files.connect(self.path)
        try:
            row = conn.execute(
                "SELECT payload FROM payloads WHERE kind=? AND key=? AND params=? AND format=?", (self._payload_kind(kind), key, canonical(params), format)
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            if sqlite_files.unavailable(exc):
                raise _fail(f"Cannot read the results store '{self.path}': {exc}.") from None
            raise StoreError(f"Cannot read the results store '{self.path}': {exc}. Move the file aside to start a new one.") from None
        finally:
            conn.close()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:
            return None

    def put_payload(self, kind: str, key: str, params: Mapping, format: int, payload: object) -> None:
        """Store `payload` (JSON-serialisable) under (kind, key, params) in one transaction, replacing any earlier one (of any format)."""
        text = json.dumps(payload, ensure_ascii=False, allow_nan=True)
        self._write(
            "INSERT OR REPLACE INTO payloads VALUES (?, ?, ?, ?, ?, ?)", [(self._payload_kind(kind), key, canonical(params), format, text, time.time())]
        )

    # ------------------------------------------------------------------ a prediction table's rows, whole

    def get_table(self, key: str, inputs: Sequence[TextInput], width: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(probabilities, n x `width` float32; token counts, n ints) of exactly `inputs`, in this order, as `put_table` stored
        them under `key` (the checkpoint's scoring key); None when not stored, stored by another format, or not readable."""
        found = self.get_payload("table", key, _table_params(inputs), TABLE_FORMAT)
        if not isinstance(found, dict) or found.get("n") != len(inputs) or found.get("width") != width:
            return None
        try:  # a damaged whole is a miss: the rows are read instead and the whole is stored again
            probs = np.frombuffer(bytearray(base64.b64decode(found["proba"], validate=True)), dtype=_DTYPE).reshape(len(inputs), width)
            counts = np.frombuffer(bytearray(base64.b64decode(found["tokens"], validate=True)), dtype=_COUNTS).astype(int)
        except (KeyError, TypeError, ValueError, binascii.Error):
            return None
        return (probs, counts) if counts.shape == (len(inputs),) else None

    def put_table(self, key: str, inputs: Sequence[TextInput], probs: np.ndarray, counts: np.ndarray) -> None:
        """Store the probabilities and token counts of a whole sequence of `inputs` (an evaluation set's, in order) as one payload."""
        probs = np.ascontiguousarray(probs, dtype=_DTYPE)
        counts = np.ascontiguousarray(counts, dtype=_COUNTS)
        if probs.ndim != 2 or len(probs) != len(inputs) or counts.shape != (len(inputs),):
            raise StoreError(f"put_table needs one row and one count per input: got {len(inputs)} input(s), rows {probs.shape}, counts {counts.shape}.")
        payload = {
            "n": len(inputs),
            "width": int(probs.shape[1]),
            "proba": base64.b64encode(probs.tobytes()).decode("ascii"),
            "tokens": base64.b64encode(counts.tobytes()).decode("ascii"),
        }
        self.put_payload("table", key, _table_params(inputs), TABLE_FORMAT, payload)

    def table_from_rows(self, key: str, tokens_key: str, inputs: Sequence[TextInput], width: int) -> bool:
        """Store the whole of `inputs` (`put_table`) from their rows (probabilities under `key`, token counts under `tokens_key`)
        when every one is stored; what a writer that fills rows without a `Predictor` (precompute's sink) calls at the end.
        Returns whether it was stored."""
        proba, tokens = self.get_many("proba", key, inputs, width=width), self.get_many("tokens", tokens_key, inputs, width=1)
        if len(proba) < len(inputs) or len(tokens) < len(inputs):
            return False
        self.put_table(key, inputs, np.stack([proba[i] for i in range(len(inputs))]), np.array([tokens[i][0] for i in range(len(inputs))]))
        return True

    def _write(self, statement: str, records: list[tuple], check=None) -> None:
        """Run `statement` over `records` in one IMMEDIATE transaction (`check(conn)` first, inside it), with this store's errors."""
        with self._lock:
            conn = sqlite_files.connect(self.path)
            try:
                conn.execute("BEGIN IMMEDIATE")
                if check is not None:
                    check(conn)
                conn.executemany(statement, records)
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if sqlite_files.full(exc):
                    raise StoreFull(
                        f"The disk holding the results store {self.directory} is full ({exc}): free space or choose another store with --store / "
                        f"${settings.CACHE_DIR_ENV}; results stay in memory for this run."
                    ) from None
                if sqlite_files.unavailable(exc):
                    raise _fail(f"Cannot write to the results store '{self.path}': {exc}.") from None
                raise StoreError(f"Cannot write to the results store '{self.path}': {exc}.") from None
            finally:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                conn.close()


def inputs_digest(inputs: Sequence[TextInput]) -> str:
    """sha256 of a whole sequence of inputs, in order: names exactly the texts a table scored. Each input is written as its
    number of texts (1, or 2 for a sentence pair), then each text's UTF-8 length and bytes, so no two sequences share a
    spelling; 3x faster than hashing their JSON (0.04 s for 100k reviews). Raises TypeError on an input that is not text."""
    digest = hashlib.sha256(b"veredicto inputs 2\n")
    for item in inputs:
        texts = (item,) if isinstance(item, str) else tuple(item)
        digest.update(len(texts).to_bytes(1, "little"))
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"an input is {type(text).__name__}, not text")
            data = text.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()


def _table_params(inputs: Sequence[TextInput]) -> dict:
    return {"inputs": inputs_digest(inputs), "rows": FORMAT}  # rows of another format: another whole


def canonical(params: Mapping) -> str:
    """The one JSON spelling of a payload's parameters: sorted keys, no spaces, so equal parameters name one row."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# ---------------------------------------------------------------------- one store per folder, and the predictors that use it


@dataclass(frozen=True)
class OpenedStore:
    """The process's results store for a folder, or None when it cannot be used; `warning` says what happened (a damaged
    file moved aside, or why results stay in memory only and what to do)."""

    store: ResultsStore | None
    warning: str | None


def shared_store(directory: str | os.PathLike | None = None) -> OpenedStore:
    """The one `ResultsStore` per folder in this process (default: `settings.cache_dir()`), owned by `runtime.current()`,
    so every page, session, thread and command reads and writes through it. A folder that cannot be used gives
    `OpenedStore(None, warning)` (tried once per process), never an error."""
    from runtime import current

    folder = Path(directory).expanduser() if directory is not None else settings.cache_dir()

    def make() -> OpenedStore:
        try:
            store = ResultsStore(folder)
        except StoreUnavailable as exc:
            return OpenedStore(None, str(exc))
        return OpenedStore(store, store.notice)

    return current().shared(("results_store", str(folder.resolve())), make)


def open_predictor(checkpoint, *, directory: str | os.PathLike | None = None, **kwargs):
    """A `models.inference.Predictor` that reads and fills the shared results store of `directory` (see `shared_store`).

    The one way the app and the CLI make a predictor; `kwargs` go to `Predictor` (batch_size, device, ...)."""
    from models.inference import Predictor

    return Predictor(checkpoint, store=shared_store(directory).store, **kwargs)


def store_warnings(*predictors, directory: str | os.PathLike | None = None) -> list[str]:
    """What a person should know about the results store: the shared store's warning (moved aside, unusable) and each
    predictor's (a store that failed while writing), without repeats."""
    opened = shared_store(directory)
    found = [opened.warning, opened.store and opened.store.notice, *(getattr(p, "store_warning", None) for p in predictors)]
    return list(dict.fromkeys(w for w in found if w))
