"""Open one of Veredicto's SQLite cache files safely: WAL and a busy timeout (readers never block the writer, several
processes share it), a file that is damaged, of another schema version or of something else moved aside (never deleted,
`-wal`/`-shm` with it) and a fresh one started, and a folder that cannot be written told apart from a damaged file.

Shared by the attribution cache (`explain.cache`) and the results store (`store.results`). Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# sqlite3.OperationalError messages that mean "this folder or disk cannot be used", not "this file is damaged".
_UNAVAILABLE = ("unable to open", "readonly", "read-only", "disk i/o error", "disk is full", "attempt to write", "authorization denied")


def connect(path: Path, timeout: float = 30.0) -> sqlite3.Connection:
    """An autocommit connection (callers BEGIN explicitly) that waits up to `timeout` seconds for another writer."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return conn


def unavailable(exc: BaseException) -> bool:
    """Whether an SQLite error says the folder or disk cannot be used (read-only, full, I/O error) rather than a damaged file."""
    return isinstance(exc, sqlite3.OperationalError) and any(word in str(exc).lower() for word in _UNAVAILABLE)


def full(exc: BaseException) -> bool:
    """Whether an SQLite error is SQLITE_FULL ("database or disk is full"): the disk, or a size limit the file hit."""
    return isinstance(exc, sqlite3.OperationalError) and (getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "disk is full" in str(exc).lower())


def _stamp(path: Path) -> list[int]:
    """What changes whenever SQLite writes `path`: size, modification time and inode of the file and of its WAL (an empty
    WAL, which a reader's connection creates and its close removes, holds nothing and counts as none)."""
    stamp = []
    for file in (path, path.with_name(path.name + "-wal")):
        try:
            st = file.stat()
        except FileNotFoundError:
            st = None
        stamp += [st.st_size, st.st_mtime_ns, st.st_ino] if st is not None and st.st_size else [0, 0, 0]
    return stamp


def _checked(path: Path) -> Path:
    """Where the stamp of the file as it last passed `PRAGMA quick_check` is kept."""
    return path.with_name(path.name + ".checked")


def _problem(conn: sqlite3.Connection, path: Path, version: int, tables: Iterable[str]) -> tuple[str, Any] | None:
    """Why `path` cannot be used (another version, another program's file, damaged), or None.

    The page-by-page `quick_check` reads the whole file: 0.4 s for a 600 MB store with the file in the page cache and
    seconds after a reboot, on every process's first open. It runs only when the file changed since it last passed (its
    stamp, `_stamp`, is kept beside it), so an app restart on an unchanged store reads only the pages it needs."""
    found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "schema_version" in found:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        if (row[0] if row else None) != version:
            return ("version", row[0] if row else None)
    elif found - set(tables):
        return ("foreign", sorted(found))
    stamp = _stamp(path)  # taken before the check: a write during it changes the file, and the next open checks again
    with contextlib.suppress(OSError, ValueError):
        if json.loads(_checked(path).read_text()) == stamp:
            return None
    check = conn.execute("PRAGMA quick_check").fetchone()
    if not check or check[0] != "ok":
        return ("corrupt", check[0] if check else "no answer")
    with contextlib.suppress(OSError):  # a folder one may only read: the next open checks again
        tmp = _checked(path).with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stamp))
        os.replace(tmp, _checked(path))
    return None


def move_aside(path: Path, kind: str, detail: Any) -> Path:
    """Rename `path` (and its `-wal`/`-shm`) to `<name>.corrupt-<stamp>` or `<name>.v<N>-<stamp>`; returns the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = f"corrupt-{stamp}" if kind != "version" else f"v{detail}-{stamp}"
    target = path.with_name(f"{path.name}.{suffix}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{suffix}-{n}")
        n += 1
    os.replace(path, target)
    with contextlib.suppress(OSError):
        _checked(path).unlink()
    for extra in ("-wal", "-shm"):  # WAL pages belong to the old file; keep them with it
        side = path.with_name(path.name + extra)
        if side.exists():
            os.replace(side, target.with_name(target.name + extra))
    return target


def open_or_recover(
    path: Path, *, schema: str, version: int, tables: Iterable[str], what: str, consequence: str, fail: Callable[[str], Exception]
) -> str | None:
    """Make `path` a usable SQLite file with `schema` (statements separated by ';', `CREATE ... IF NOT EXISTS`) at `version`.

    A file that is damaged, of another `version`, or holds tables other than `tables` is moved aside and a fresh one
    started; the notice saying so (naming `what` and the `consequence`) is returned (None when nothing was moved).
    A folder or disk that cannot be used raises `fail(message)` (a VeredictoError whose message the caller completes
    with what to do): nothing is moved then.
    """
    tables = set(tables) | {"schema_version"}
    problem = None
    if path.exists():
        try:
            conn = connect(path)
            try:
                problem = _problem(conn, path, version, tables)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            if unavailable(exc):
                raise fail(f"Cannot open the {what} '{path}': {exc}.") from None
            problem = ("corrupt", str(exc))
        except OSError as exc:
            raise fail(f"Cannot open the {what} '{path}': {exc}.") from None
    notice = None
    if problem is not None:
        kind, detail = problem
        try:
            target = move_aside(path, kind, detail)
        except OSError as exc:
            raise fail(f"The {what} '{path}' cannot be used and cannot be moved aside ({exc.strerror or exc}).") from None
        if kind == "version":
            why = f"it was written by another version of Veredicto ({what.split()[-1]} schema {detail}, this version reads {version})"
        elif kind == "foreign":
            why = f"it is an SQLite file of something else (tables: {', '.join(detail)})"
        else:
            why = f"it is damaged or not an SQLite database ({detail})"
        notice = f"The {what} '{path}' could not be used because {why}. It was moved to '{target.name}' (nothing was deleted) and {consequence}"
        log.warning(notice)
    try:
        conn = connect(path)
    except sqlite3.DatabaseError as exc:
        raise fail(f"Cannot open the {what} '{path}': {exc}.") from None
    try:
        with contextlib.suppress(sqlite3.OperationalError):  # some network filesystems refuse WAL; the default journal works
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        for statement in schema.split(";"):
            if statement.strip():
                conn.execute(statement)
        if conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise fail(f"Cannot initialise the {what} '{path}': {exc}.") from None
    finally:
        conn.close()
    return notice


def make_directory(directory: Path, what: str, fail: Callable[[str], Exception]) -> None:
    """Create `directory` (parents too) or raise `fail(message)` saying why (`fail` adds what to do)."""
    if directory.exists() and not directory.is_dir():
        raise fail(f"The {what} folder '{directory}' is not a directory (a file of that name is in the way).")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"Cannot create the {what} directory '{directory}': {exc.strerror or exc}.") from None
    if not directory.is_dir():
        raise fail(f"The {what} folder '{directory}' is not a directory.")
