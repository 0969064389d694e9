"""The audit trail: append-only, hash-chained sign-off records in any SQLAlchemy database.

Every record holds what was judged (checkpoint and dataset fingerprints), against which
rules (the policy's sha256 and full text), what was measured (metrics and gate results at
that moment), by whom, when (UTC), the decision and why. Its `record_hash` is the sha256 of
the canonical JSON of all of that plus the previous record's hash, so editing, inserting or
deleting a record breaks the chain and `verify()` names the first bad record.

Storage
- One setting picks the database: `VEREDICTO_STORE_URL` (or `--store` in the CLI), any
  SQLAlchemy URL or a plain path (a directory or a `.db` file). Default: the SQLite file
  `store/veredicto.db` in the Veredicto home (`runtime.settings`; `VEREDICTO_STORE_DIR` moves it).
- SQLite runs in WAL mode with `synchronous=FULL` and a busy timeout; each record is one
  transaction opened with `BEGIN IMMEDIATE`, so reading the chain head and inserting the next
  record happen under the database write lock. On PostgreSQL (and other servers) the head row
  is read with `SELECT ... FOR UPDATE`, which serialises writers the same way.
- A killed writer leaves nothing behind: its transaction never committed, so the database
  rolls it back and the chain still verifies.
- The schema has a version (`veredicto_schema`, one row per applied step) and upgrades itself
  on open, under the same lock, so two processes opening an old store upgrade it once.

What the chain does not do: someone with write access who rewrites records *and* recomputes
every later hash and the head is only caught against an anchor kept elsewhere: `anchor()` /
`veredicto audit head` prints `SEQ:HASH` (optionally HMAC-signed with `$VEREDICTO_AUDIT_KEY`),
and `verify(expect=...)` / `veredicto audit verify --expect SEQ:HASH` checks the record at that
position, so later sign-offs are no false alarm. `verify` reads the head and the records in one
snapshot (REPEATABLE READ on PostgreSQL), so a sign-off made meanwhile never looks like a break.

Reviewers' decisions on gold labels (`store.labels`) live in the same database, in their own table (schema version 3),
beside the chain and outside it: they change no record hash, and a store upgraded to version 3 keeps its chain intact.

Approvals (`approval_status`, `AuditStore.status`) count reviewers by identity, only on a chain
that verifies, and only for the same weights, data and policy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from models.errors import VeredictoError
from runtime import settings

SCHEMA_VERSION = 3
RECORD_FORMAT = 1
GENESIS_HASH = "0" * 64
STORE_URL_ENV = settings.STORE_URL_ENV
STORE_DIR_ENV = settings.STORE_DIR_ENV
DB_FILENAME = settings.AUDIT_DB
SQLITE_BUSY_TIMEOUT_S = 60
MAX_COMMENT_CHARS = 20_000

DECISIONS: dict[str, str] = {
    "approve": "Approve",
    "reject": "Reject",
    "changes_requested": "Changes requested",
}
_DECISION_ALIASES = {
    "approved": "approve",
    "rejected": "reject",
    "changes requested": "changes_requested",
    "changes-requested": "changes_requested",
    "request_changes": "changes_requested",
}


class StoreError(VeredictoError):
    """The audit store cannot be opened or written; the message says why and what to do."""


# --------------------------------------------------------------------------- canonical JSON


def plain(value: Any) -> Any:
    """JSON-ready copy of `value`: numpy scalars/arrays, tuples, Paths and dataclasses become plain
    Python; NaN and infinities become None (JSON has no NaN, and the hash must round-trip)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if hasattr(value, "tolist"):  # numpy scalar or array
        return plain(value.tolist())
    raise TypeError(f"cannot store a {type(value).__name__} in an audit record")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is: the exact bytes a record hash covers."""
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def app_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("veredicto")
    except (ImportError, PackageNotFoundError):
        return "0.1.0"


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise_decision(decision: str) -> str:
    key = str(decision).strip().lower()
    key = _DECISION_ALIASES.get(key, key)
    if key not in DECISIONS:
        raise StoreError(f"Unknown decision '{decision}'. Use one of: {', '.join(DECISIONS)}.")
    return key


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True, eq=False)
class SignoffRecord:
    """One sign-off, exactly as stored. `record_hash` = sha256(canonical_json(payload()))."""

    seq: int
    created_at: str  # ISO 8601, UTC, e.g. 2025-05-01T09:30:00.123456Z
    reviewer: str
    identity: str  # how the reviewer was identified: "oidc:<email>", "secrets:<name>", "cli:<user>"
    decision: str  # a key of DECISIONS
    comment: str
    checkpoint_name: str
    checkpoint_path: str
    checkpoint_fingerprint: str
    dataset_name: str
    dataset_fingerprint: str
    policy_sha256: str
    policy_text: str
    metrics: Mapping[str, Any]
    gates: tuple[Mapping[str, Any], ...]
    app_version: str
    prev_hash: str
    record_hash: str
    record_format: int = RECORD_FORMAT

    def payload(self) -> dict[str, Any]:
        """Everything the hash covers: every field except the hash itself."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "record_hash"}

    def computed_hash(self) -> str:
        return sha256_text(canonical_json(self.payload()))

    @property
    def decision_label(self) -> str:
        return DECISIONS.get(self.decision, self.decision)

    @property
    def timestamp(self) -> datetime:
        return datetime.strptime(self.created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)

    @property
    def task(self) -> str:
        """The checkpoint kind judged, from the metrics snapshot (records from before task kinds were single-label)."""
        return str(self.metrics.get("task") or "single-label")

    @property
    def task_text(self) -> str:
        """The task in words, with a multi-label record's thresholds and where they came from."""
        thresholds = self.metrics.get("thresholds")
        if not isinstance(thresholds, Mapping):
            return self.task
        values = ", ".join(f"{label} {float(v):.2f}" for label, v in thresholds.get("values") or ())  # [label, value] pairs
        return f"{self.task}, thresholds {thresholds.get('source', '')}: {values}"

    @property
    def gates_passed(self) -> int:
        return sum(1 for g in self.gates if g.get("status") == "pass")

    @property
    def gates_total(self) -> int:
        return len(self.gates)

    def to_dict(self) -> dict[str, Any]:
        return plain({**self.payload(), "record_hash": self.record_hash})


# --------------------------------------------------------------------------- schema

_meta = sa.MetaData()
schema_table = sa.Table(
    "veredicto_schema",
    _meta,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.String(32), nullable=False),
    sa.Column("app_version", sa.String(64), nullable=False),
)
head_table = sa.Table(
    "veredicto_head",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False),
)
signoffs = sa.Table(
    "veredicto_signoffs",
    _meta,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("reviewer", sa.Text, nullable=False),
    sa.Column("identity", sa.Text, nullable=False),
    sa.Column("decision", sa.String(32), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("checkpoint_name", sa.Text, nullable=False),
    sa.Column("checkpoint_path", sa.Text, nullable=False),
    sa.Column("checkpoint_fingerprint", sa.String(64), nullable=False),
    sa.Column("dataset_name", sa.Text, nullable=False),
    sa.Column("dataset_fingerprint", sa.String(64), nullable=False),
    sa.Column("policy_sha256", sa.String(64), nullable=False),
    sa.Column("policy_text", sa.Text, nullable=False),
    sa.Column("metrics_json", sa.Text, nullable=False),
    sa.Column("gates_json", sa.Text, nullable=False),
    sa.Column("app_version", sa.String(64), nullable=False),
    sa.Column("record_format", sa.Integer, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False, unique=True),
)


def _migrate_to_1(conn: sa.Connection) -> None:
    """The chain: records, the head row writers lock, the version table."""
    for table in (schema_table, head_table, signoffs):
        table.create(conn, checkfirst=True)
    if conn.execute(sa.select(head_table.c.id).where(head_table.c.id == 1)).first() is None:
        conn.execute(head_table.insert().values(id=1, seq=0, record_hash=GENESIS_HASH))


def _migrate_to_2(conn: sa.Connection) -> None:
    """Lookup indexes for the sign-off page (records of one checkpoint, by weights or by path)."""
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_veredicto_signoffs_fp ON veredicto_signoffs (checkpoint_fingerprint)"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_veredicto_signoffs_path ON veredicto_signoffs (checkpoint_path)"))


label_decisions = sa.Table(
    "veredicto_label_decisions",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("data_name", sa.Text, nullable=False),
    sa.Column("data_fingerprint", sa.String(64), nullable=False, index=True),
    sa.Column("row_index", sa.Integer, nullable=False),
    sa.Column("text_sha256", sa.String(64), nullable=False),
    sa.Column("gold_label", sa.Text, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("corrected_label", sa.Text, nullable=False),
    sa.Column("reviewer", sa.Text, nullable=False),
    sa.Column("identity", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)


def _migrate_to_3(conn: sa.Connection) -> None:
    """Reviewers' decisions on gold labels (store.labels): one row per decision, history kept, looked up by data."""
    label_decisions.create(conn, checkfirst=True)


MIGRATIONS = {1: _migrate_to_1, 2: _migrate_to_2, 3: _migrate_to_3}
_PG_LOCK_KEY = 0x56455244  # "VERD": advisory lock taken while upgrading the schema on PostgreSQL


# --------------------------------------------------------------------------- where the store lives


def default_store_dir() -> Path:
    """`$VEREDICTO_STORE_DIR`, else `store/` in the Veredicto home (`runtime.settings`)."""
    return settings.store_dir()


def resolve_store_url(value: str | os.PathLike | None = None) -> str:
    """An SQLAlchemy URL from `--store`/`VEREDICTO_STORE_URL`: a URL as is, a path as a SQLite file
    (a directory gets `veredicto.db` inside it), nothing as the default SQLite file (`runtime.settings.store_url`)."""
    try:
        return settings.store_url(value, default_file=DB_FILENAME)
    except settings.StoreURLError as exc:
        raise StoreError(
            f"'{exc.url}' is not a valid database URL ({exc.reason}). Example: postgresql://user@host/dbname or sqlite:///path/to/veredicto.db."
        ) from None


_engines: dict[tuple[int, str], sa.Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the directory for the audit store '{database}': {exc.strerror}. Choose a writable directory with --store or {STORE_URL_ENV}."
            ) from None
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (pysqlite's own BEGIN is deferred)
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        write = conn.get_execution_options().get("veredicto_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _engine(url_text: str) -> sa.Engine:
    key = (os.getpid(), url_text)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            url = sa.engine.make_url(url_text)
            try:
                if url.get_backend_name() == "sqlite":
                    engine = _sqlite_engine(url)
                else:
                    engine = sa.create_engine(url, pool_pre_ping=True)
            except (SQLAlchemyError, ModuleNotFoundError) as exc:
                raise StoreError(
                    f"Cannot use the audit store {url.render_as_string(hide_password=True)}: {exc}. Install the database driver or check the URL."
                ) from None
            _engines[key] = engine
        return engine


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    first_bad: int | None = None  # seq of the first record that does not hold up
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"OK: {self.records} record(s), chain intact; head #{self.head_seq} {self.head_hash}"
        return f"BROKEN at record #{self.first_bad}: {self.problem}"


@dataclass(frozen=True)
class ApprovalStatus:
    """Where one checkpoint (by its current fingerprint) stands.

    state: "approved" | "rejected" | "changes_requested" | "pending" | "stale" | "unsigned" | "chain broken".
    A sign-off given to other weights at the same path never counts: those records are `stale`. Reviewers are told
    apart by identity, not display name; `approvers` holds the display names of those whose approval counts.
    """

    state: str
    approvals: int
    required: int
    approvers: tuple[str, ...]
    latest: tuple[SignoffRecord, ...]  # each reviewer's latest record for these weights
    stale: tuple[SignoffRecord, ...]  # records for the same path with other weights
    message: str

    @property
    def approved(self) -> bool:
        return self.state == "approved"


CHAIN_BROKEN = "chain broken"


def reviewer_key(record: SignoffRecord) -> str:
    """Who a record is from, for counting: its identity (`oidc:<issuer>|<subject>`, `secrets:<account>`), never the
    display name. Records written without an identity fall back to the lower-cased name, marked so it cannot collide
    with an identity."""
    identity = record.identity.strip()
    return identity if identity else f"name:{record.reviewer.strip().lower()}"


def approval_status(
    records: Sequence[SignoffRecord],
    fingerprint: str,
    approvals_required: int = 1,
    checkpoint_path: str | None = None,
    *,
    dataset_fingerprint: str | None = None,
    policy_sha256: str | None = None,
    chain: VerifyResult | None = None,
) -> ApprovalStatus:
    """Each reviewer's (identity's) latest decision on these exact weights decides: any reject -> rejected, any
    changes requested -> changes_requested, else enough distinct approvers -> approved.

    An approval counts only when it was given for the same data (`dataset_fingerprint`) and under the same policy
    (`policy_sha256`), where those are given; a rejection or change request stands whatever data or policy it was
    given under, until that reviewer decides again. A broken `chain` counts nothing: state "chain broken".
    """
    required = max(int(approvals_required), 1)
    if chain is not None and not chain.ok:
        message = (
            f"Chain broken at record #{chain.first_bad}: {chain.problem} No sign-off counts until the audit store is restored; run `veredicto audit verify`."
        )
        return ApprovalStatus(CHAIN_BROKEN, 0, required, (), (), (), message)
    mine = [r for r in records if r.checkpoint_fingerprint == fingerprint]
    stale = tuple(r for r in records if checkpoint_path and r.checkpoint_path == str(checkpoint_path) and r.checkpoint_fingerprint != fingerprint)
    latest: dict[str, SignoffRecord] = {}
    for record in sorted(mine, key=lambda r: r.seq):
        latest[reviewer_key(record)] = record
    current = tuple(sorted(latest.values(), key=lambda r: r.seq))

    def same_context(r: SignoffRecord) -> bool:
        return (not dataset_fingerprint or r.dataset_fingerprint == dataset_fingerprint) and (not policy_sha256 or r.policy_sha256 == policy_sha256)

    approvers = tuple(r.reviewer for r in current if r.decision == "approve" and same_context(r))
    elsewhere = [r for r in current if r.decision == "approve" and not same_context(r)]
    rejecters = [r.reviewer for r in current if r.decision == "reject"]
    changers = [r.reviewer for r in current if r.decision == "changes_requested"]
    if rejecters:
        state, message = "rejected", f"Rejected by {', '.join(rejecters)}."
    elif changers:
        state, message = "changes_requested", f"Changes requested by {', '.join(changers)}."
    elif len(approvers) >= required:
        state, message = "approved", f"Approved by {', '.join(approvers)} ({len(approvers)} of {required} required)."
    elif approvers:
        state, message = "pending", f"{len(approvers)} of {required} required approvals ({', '.join(approvers)})."
    elif stale:
        fps = sorted({r.checkpoint_fingerprint[:12] for r in stale})
        state = "stale"
        message = (
            f"Stale: the sign-offs at this path were for other weights ({', '.join(fps)}); the checkpoint files changed "
            f"since (now {fingerprint[:12]}). These weights have not been reviewed."
        )
    else:
        state, message = "unsigned", f"No sign-off yet for these weights ({fingerprint[:12]}); {required} approval(s) required."
    if elsewhere and state not in ("approved", "rejected", "changes_requested"):
        message += (
            f" {len(elsewhere)} approval(s) of these weights ({', '.join(r.reviewer for r in elsewhere)}) were given for other data "
            "or under another policy and do not count here."
        )
    return ApprovalStatus(state, len(approvers), required, approvers, current, stale, message)


def current_fingerprint(path: str | os.PathLike) -> str | None:
    """The fingerprint of the checkpoint now at `path`, or None when it is gone or unreadable."""
    from models.checkpoints import inspect_checkpoint

    try:
        return inspect_checkpoint(path).fingerprint
    except VeredictoError:
        return None


def freshness(record: SignoffRecord, fingerprint_now: str | None) -> str:
    """ "current" when the checkpoint still holds the signed weights, "stale" when its files changed,
    "missing" when it is gone. A stale approval is never an approval."""
    if fingerprint_now is None:
        return "missing"
    return "current" if fingerprint_now == record.checkpoint_fingerprint else "stale"


# --------------------------------------------------------------------------- anchors

AUDIT_KEY_ENV = "VEREDICTO_AUDIT_KEY"
_MIN_ANCHOR_HEX = 12


def _audit_key() -> bytes:
    key = os.environ.get(AUDIT_KEY_ENV, "")
    if len(key) < 16:
        raise StoreError(
            f"A signed anchor needs a key of at least 16 characters in ${AUDIT_KEY_ENV}, kept outside the database "
            "(a secrets manager, the CI's secret store); it is not set or too short."
        )
    return key.encode("utf-8")


def sign_anchor(seq: int, record_hash: str) -> str:
    """HMAC-SHA256 of `SEQ:HASH` under `$VEREDICTO_AUDIT_KEY`."""
    return hmac.new(_audit_key(), f"{int(seq)}:{record_hash}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Anchor:
    """A chain position kept outside the database: record `seq` had `record_hash` (a prefix of at least 12 hex digits;
    the full hash when signed), optionally with an HMAC over both."""

    seq: int
    record_hash: str
    mac: str = ""

    def mismatch(self, found: str | None, last_seq: int) -> str:
        """Why the chain does not match this anchor ("" when it does)."""
        if found is None:
            return f"the anchor names record #{self.seq} but the chain ends at #{last_seq}: records were removed (or the anchor comes from another store)."
        if not found.startswith(self.record_hash):
            return f"record #{self.seq} now hashes to {found[:16]}… but the anchor says {self.record_hash[:16]}…: the history up to that record was rewritten."
        if self.mac and not hmac.compare_digest(self.mac, sign_anchor(self.seq, self.record_hash)):
            return (
                f"the anchor's signature does not match under ${AUDIT_KEY_ENV}: the anchor was forged or altered, or the key is not the one it was signed with."
            )
        return ""


def parse_anchor(text: str) -> Anchor:
    """`SEQ:HASH` or `SEQ:HASH:HMAC` as printed by `veredicto audit head`; `StoreError` saying the format otherwise."""
    parts = str(text).strip().lower().split(":")
    hexdigits = set("0123456789abcdef")
    ok = len(parts) in (2, 3) and parts[0].isdigit() and int(parts[0]) > 0
    ok = ok and len(parts[1]) >= _MIN_ANCHOR_HEX and len(parts[1]) <= 64 and set(parts[1]) <= hexdigits
    if ok and len(parts) == 3:
        ok = len(parts[1]) == 64 and len(parts[2]) == 64 and set(parts[2]) <= hexdigits
    if not ok:
        raise StoreError(
            "The anchor must look like SEQ:HASH (e.g. 12:3f9a…, at least 12 hex digits) or SEQ:HASH:HMAC (full hashes), "
            "as printed by `veredicto audit head [--sign]`."
        )
    return Anchor(int(parts[0]), parts[1], parts[2] if len(parts) == 3 else "")


# --------------------------------------------------------------------------- the store


def _row_to_record(row: sa.RowMapping) -> SignoffRecord:
    return SignoffRecord(
        seq=int(row["seq"]),
        created_at=row["created_at"],
        reviewer=row["reviewer"],
        identity=row["identity"],
        decision=row["decision"],
        comment=row["comment"],
        checkpoint_name=row["checkpoint_name"],
        checkpoint_path=row["checkpoint_path"],
        checkpoint_fingerprint=row["checkpoint_fingerprint"],
        dataset_name=row["dataset_name"],
        dataset_fingerprint=row["dataset_fingerprint"],
        policy_sha256=row["policy_sha256"],
        policy_text=row["policy_text"],
        metrics=json.loads(row["metrics_json"]),
        gates=tuple(json.loads(row["gates_json"])),
        app_version=row["app_version"],
        prev_hash=row["prev_hash"],
        record_hash=row["record_hash"],
        record_format=int(row["record_format"]),
    )


def _clean(name: str, value: Any, *, required: bool = False, limit: int = 2_000) -> str:
    text = "" if value is None else str(value)
    if "\x00" in text:
        raise StoreError(f"The {name} contains a NUL character; remove it.")
    if required and not text.strip():
        raise StoreError(f"A sign-off needs a {name}.")
    if len(text) > limit:
        raise StoreError(f"The {name} is {len(text)} characters long; the limit is {limit}.")
    return text if name in ("comment", "policy text") else text.strip()


class AuditStore:
    """The sign-off chain in one database. Safe to share between threads; each process opens its own."""

    def __init__(self, url: str | os.PathLike | None = None):
        self.url = resolve_store_url(url)
        self.engine = _engine(self.url)
        self.dialect = self.engine.dialect.name
        self._ensure_schema()

    # -- plumbing -------------------------------------------------------------------------

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def _fail(self, action: str, exc: Exception) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        hint = (
            "Check that the database server is running and the URL is right."
            if self.dialect != "sqlite"
            else (
                "Check that the directory is writable and not on a network share that lacks file locks; another process may hold the write lock for too long."
            )
        )
        return StoreError(f"Could not {action} the audit store {self.display_url}: {detail}. {hint}")

    @contextmanager
    def _transaction(self, write: bool, snapshot: bool = False) -> Iterator[sa.Connection]:
        """One transaction. `snapshot`: every statement sees the same committed state (REPEATABLE READ on a server;
        on SQLite a read transaction already reads one snapshot from its first statement on, in WAL mode)."""
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(veredicto_write=True)
                if snapshot and self.dialect != "sqlite":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            raise self._fail("write to" if write else "read", exc) from None

    def _lock_head(self, conn: sa.Connection) -> tuple[int, str]:
        """Read the chain head under the write lock (BEGIN IMMEDIATE already holds it on SQLite)."""
        query = sa.select(head_table.c.seq, head_table.c.record_hash).where(head_table.c.id == 1)
        if self.dialect != "sqlite":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise StoreError(f"The audit store {self.display_url} has no chain head row; it was damaged. Run `veredicto audit verify`.")
        return int(row.seq), str(row.record_hash)

    def _ensure_schema(self) -> None:
        with self._transaction(write=False) as conn:
            version = self._version(conn)
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The audit store {self.display_url} has schema version {version}, written by a newer Veredicto "
                f"(this one, {app_version()}, knows up to {SCHEMA_VERSION}). Upgrade Veredicto; never downgrade a store."
            )
        self.upgrade()

    def upgrade(self, target: int = SCHEMA_VERSION) -> int:
        """Apply the missing schema steps up to `target`, once, under the write lock. Returns the version."""
        with self._transaction(write=True) as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            version = self._version(conn)
            for step in range(version + 1, target + 1):
                MIGRATIONS[step](conn)
                conn.execute(schema_table.insert().values(version=step, applied_at=utc_now(), app_version=app_version()))
                version = step
            return version

    @staticmethod
    def _version(conn: sa.Connection) -> int:
        if not sa.inspect(conn).has_table(schema_table.name):
            return 0
        return int(conn.execute(sa.select(sa.func.max(schema_table.c.version))).scalar() or 0)

    def schema_version(self) -> int:
        with self._transaction(write=False) as conn:
            return self._version(conn)

    def schema_history(self) -> list[tuple[int, str, str]]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(sa.select(schema_table).order_by(schema_table.c.version)).all()
        return [(int(r.version), r.applied_at, r.app_version) for r in rows]

    # -- writing ----------------------------------------------------------------------------

    def _insert(
        self,
        conn: sa.Connection,
        *,
        reviewer: str,
        decision: str,
        checkpoint_name: str,
        checkpoint_path: str | os.PathLike,
        checkpoint_fingerprint: str,
        dataset_name: str,
        dataset_fingerprint: str,
        comment: str = "",
        identity: str = "",
        policy_sha256: str = "",
        policy_text: str = "",
        metrics: Mapping[str, Any] | None = None,
        gates: Sequence[Mapping[str, Any]] = (),
    ) -> SignoffRecord:
        """Build and insert the next record inside an open write transaction (the head is locked here)."""
        decision = normalise_decision(decision)
        comment = _clean("comment", comment, limit=MAX_COMMENT_CHARS)
        if decision != "approve" and not comment.strip():
            raise StoreError(f"A '{DECISIONS[decision]}' decision needs a comment saying why, so the record holds up later.")
        if policy_text and not policy_sha256:
            policy_sha256 = sha256_text(policy_text)
        elif policy_text and policy_sha256 != sha256_text(policy_text):
            raise StoreError("The policy hash does not match the policy text; pass the file's exact text (Policy.text) and its Policy.sha256.")
        metrics_plain = plain(dict(metrics or {}))
        gates_plain = tuple(plain(list(gates)))
        seq, prev_hash = self._lock_head(conn)
        draft = SignoffRecord(
            seq=seq + 1,
            created_at=utc_now(),
            reviewer=_clean("reviewer", reviewer, required=True, limit=200),
            identity=_clean("identity", identity, limit=500),
            decision=decision,
            comment=comment,
            checkpoint_name=_clean("checkpoint name", checkpoint_name, required=True),
            checkpoint_path=_clean("checkpoint path", checkpoint_path),
            checkpoint_fingerprint=_clean("checkpoint fingerprint", checkpoint_fingerprint, required=True, limit=64),
            dataset_name=_clean("dataset name", dataset_name),
            dataset_fingerprint=_clean("dataset fingerprint", dataset_fingerprint, limit=64),
            policy_sha256=_clean("policy hash", policy_sha256, limit=64),
            policy_text=_clean("policy text", policy_text, limit=200_000),
            metrics=metrics_plain,
            gates=gates_plain,
            app_version=app_version(),
            prev_hash=prev_hash,
            record_hash="",
        )
        record = SignoffRecord(**{**draft.payload(), "record_hash": draft.computed_hash()})
        row = {k: v for k, v in record.payload().items() if k not in ("metrics", "gates")}
        row.update(metrics_json=canonical_json(record.metrics), gates_json=canonical_json(list(record.gates)), record_hash=record.record_hash)
        conn.execute(signoffs.insert().values(**row))
        conn.execute(head_table.update().where(head_table.c.id == 1).values(seq=record.seq, record_hash=record.record_hash))
        return record

    def append(self, **fields: Any) -> SignoffRecord:
        """Append one sign-off in its own transaction and return it as stored.

        Keywords: reviewer, decision (approve | reject | changes_requested), comment (required
        unless approving), identity, checkpoint_name/_path/_fingerprint, dataset_name/_fingerprint,
        policy_sha256/policy_text, metrics (mapping), gates (sequence of mappings).
        """
        with self._transaction(write=True) as conn:
            return self._insert(conn, **fields)

    def insert_label_decision(self, values: Mapping[str, Any]) -> int:
        """Store one reviewer decision on a gold label (validated by `store.labels.record_label_decision`); returns its id."""
        with self._transaction(write=True) as conn:
            key = conn.execute(label_decisions.insert().values(**values)).inserted_primary_key
        if key is None:
            raise StoreError(f"The audit store {self.display_url} did not return the new decision's id; nothing can refer to it.")
        return int(key[0])

    def label_decision_rows(self, data_fingerprint: str | None = None) -> list[dict[str, Any]]:
        """Every stored label decision (of one data fingerprint, when given), oldest first."""
        query = sa.select(label_decisions).order_by(label_decisions.c.id)
        if data_fingerprint:
            query = query.where(label_decisions.c.data_fingerprint == data_fingerprint)
        with self._transaction(write=False) as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # -- reading ----------------------------------------------------------------------------

    def records(
        self,
        *,
        checkpoint_fingerprint: str | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[SignoffRecord]:
        query = sa.select(signoffs)
        conditions = []
        if checkpoint_fingerprint:
            conditions.append(signoffs.c.checkpoint_fingerprint == checkpoint_fingerprint)
        if checkpoint_path:
            conditions.append(signoffs.c.checkpoint_path == str(checkpoint_path))
        if conditions:
            query = query.where(sa.or_(*conditions))
        query = query.order_by(signoffs.c.seq.desc() if newest_first else signoffs.c.seq)
        if limit:
            query = query.limit(int(limit))
        with self._transaction(write=False) as conn:
            return [_row_to_record(row._mapping) for row in conn.execute(query)]

    def count(self) -> int:
        with self._transaction(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(signoffs)).scalar() or 0)

    def head(self) -> tuple[int, str]:
        with self._transaction(write=False) as conn:
            row = conn.execute(sa.select(head_table.c.seq, head_table.c.record_hash).where(head_table.c.id == 1)).first()
        return (int(row.seq), str(row.record_hash)) if row else (0, GENESIS_HASH)

    def status(
        self,
        checkpoint_fingerprint: str,
        checkpoint_path: str | os.PathLike | None = None,
        approvals_required: int = 1,
        *,
        dataset_fingerprint: str | None = None,
        policy_sha256: str | None = None,
        chain: VerifyResult | None = None,
    ) -> ApprovalStatus:
        """Where these weights stand (see `approval_status`). The chain is verified first (`chain`, when the caller
        already holds a fresh `verify()` result, else here): a broken chain counts nothing."""
        chain = chain if chain is not None else self.verify()
        records = self.records(checkpoint_fingerprint=checkpoint_fingerprint, checkpoint_path=checkpoint_path)
        return approval_status(
            records,
            checkpoint_fingerprint,
            approvals_required,
            str(checkpoint_path) if checkpoint_path else None,
            dataset_fingerprint=dataset_fingerprint,
            policy_sha256=policy_sha256,
            chain=chain,
        )

    # -- verification -----------------------------------------------------------------------

    def anchor(self, *, sign: bool = False) -> str:
        """The chain head as an anchor to keep outside the database: `SEQ:HASH`, or `SEQ:HASH:HMAC` with `sign`
        (HMAC-SHA256 under `$VEREDICTO_AUDIT_KEY`). Refused when the chain does not verify: never anchor a broken chain."""
        result = self.verify()
        if not result.ok:
            raise StoreError(f"The chain is broken at record #{result.first_bad}: {result.problem} No anchor was printed; run `veredicto audit verify`.")
        text = f"{result.head_seq}:{result.head_hash}"
        return f"{text}:{sign_anchor(result.head_seq, result.head_hash)}" if sign else text

    def verify(self, expected_head: str | None = None, *, expect: str | None = None) -> VerifyResult:
        """Walk the chain in order; stop at the first record that does not hold up and say why.

        `expect`: an anchor printed earlier by `anchor()` (`SEQ:HASH` or `SEQ:HASH:HMAC`): the record at SEQ must still
        have that hash, so a rewritten history is caught and later sign-offs are no false alarm; a signed anchor's HMAC
        is checked with `$VEREDICTO_AUDIT_KEY`. `expected_head` (deprecated): the head hash itself, which stops matching
        at the next sign-off. The head and the rows are read in one snapshot, so a concurrent sign-off is never a break.
        """
        anchor = parse_anchor(expect) if expect else None
        anchored_hash: str | None = None
        prev_seq, prev_hash, count = 0, GENESIS_HASH, 0
        with self._transaction(write=False, snapshot=True) as conn:
            head = conn.execute(sa.select(head_table.c.seq, head_table.c.record_hash).where(head_table.c.id == 1)).first()
            head_seq, head_hash = (int(head.seq), str(head.record_hash)) if head else (-1, "")
            rows = conn.execute(sa.select(signoffs).order_by(signoffs.c.seq))
            for row in rows:
                count += 1
                try:
                    record = _row_to_record(row._mapping)
                except (ValueError, TypeError, KeyError) as exc:
                    return self._bad(
                        count,
                        head_seq,
                        head_hash,
                        int(row._mapping["seq"]),
                        f"its stored metrics/gates are not valid JSON any more ({exc}); the record was edited.",
                    )
                where = f"(written {record.created_at} by {record.reviewer}, {record.decision_label} for {record.checkpoint_name})"
                if record.seq != prev_seq + 1:
                    missing = prev_seq + 1 if record.seq > prev_seq + 1 else record.seq
                    span = f"#{prev_seq + 1}" if record.seq == prev_seq + 2 else f"#{prev_seq + 1}..#{record.seq - 1}"
                    return self._bad(count, head_seq, head_hash, missing, f"record {span} is missing (deleted); record #{record.seq} follows #{prev_seq}.")
                if record.computed_hash() != record.record_hash:
                    return self._bad(
                        count, head_seq, head_hash, record.seq, f"its content no longer matches its hash: the record was edited after it was written {where}."
                    )
                if record.prev_hash != prev_hash:
                    bad = record.seq - 1 if record.seq > 1 else record.seq
                    return self._bad(
                        count,
                        head_seq,
                        head_hash,
                        bad,
                        f"record #{record.seq} links to {record.prev_hash[:16]}… but record #{bad} now hashes to {prev_hash[:16]}…: "
                        f"record #{bad} was rewritten after #{record.seq} was written.",
                    )
                prev_seq, prev_hash = record.seq, record.record_hash
                if anchor is not None and record.seq == anchor.seq:
                    anchored_hash = record.record_hash
        if head is None:
            return self._bad(count, head_seq, head_hash, prev_seq + 1, "the chain head row is missing; the store was tampered with.")
        if head_seq > prev_seq:
            span = f"#{prev_seq + 1}" if head_seq == prev_seq + 1 else f"#{prev_seq + 1}..#{head_seq}"
            return self._bad(count, head_seq, head_hash, prev_seq + 1, f"record {span} is missing (deleted from the end): the chain head says #{head_seq}.")
        if (head_seq, head_hash) != (prev_seq, prev_hash):
            return self._bad(
                count,
                head_seq,
                head_hash,
                prev_seq,
                f"the chain head (#{head_seq} {head_hash[:16]}…) does not match the last record (#{prev_seq} {prev_hash[:16]}…).",
            )
        given = (expected_head or "").strip()
        expected = given.lower()
        if expected and (len(expected) < 12 or not prev_hash.startswith(expected)):
            return self._bad(
                count,
                head_seq,
                head_hash,
                prev_seq,
                f"the chain is self-consistent but its head {prev_hash[:16]}… is not the expected {given[:16]}…: records were rewritten or removed.",
            )
        if anchor is not None:
            problem = anchor.mismatch(anchored_hash, prev_seq)
            if problem:
                return self._bad(count, head_seq, head_hash, anchor.seq, problem)
        return VerifyResult(True, count, prev_seq, prev_hash)

    @staticmethod
    def _bad(count: int, head_seq: int, head_hash: str, first_bad: int, problem: str) -> VerifyResult:
        return VerifyResult(False, count, head_seq, head_hash, first_bad, problem)


_stores: dict[tuple[int, str], AuditStore] = {}


def open_store(url: str | os.PathLike | None = None) -> AuditStore:
    """The store for `url` (or the configured default), opened once per process."""
    resolved = resolve_store_url(url)
    key = (os.getpid(), resolved)
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = AuditStore(resolved)
    return store
