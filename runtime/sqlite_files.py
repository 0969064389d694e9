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
import threading
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


def _beside(path: Path, suffix: str) -> Path:
    """`<name>.checked`: the stamp of the file as it last passed `PRAGMA quick_check`; `<name>.damaged`: what a check found."""
    return path.with_name(f"{path.name}.{suffix}")


def _write_beside(path: Path, suffix: str, text: str) -> None:
    with contextlib.suppress(OSError):  # a folder one may only read: the next open checks again
        tmp = _beside(path, f"{suffix}.{os.getpid()}-{threading.get_ident()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, _beside(path, suffix))


_checks: list[threading.Thread] = []  # the integrity checks running in this process, under `_checks_lock`
_checks_lock = threading.Lock()


def wait_for_checks(timeout: float | None = None) -> None:
    """Wait for the integrity checks `open_or_recover` started in this process (tests, and a command about to exit)."""
    with _checks_lock:
        running = list(_checks)
    for thread in running:
        thread.join(timeout)


def _check(path: Path, stamp: list[int], what: str, on_damage: Callable[[str], None] | None) -> None:
    """`PRAGMA quick_check` of `path` (a thread of its own: SQLite releases the GIL while it reads). Passed: its stamp is
    kept beside it. Damaged: the finding is kept beside it (the next `open_or_recover` moves the file aside) and
    `on_damage` is told what to say."""
    try:
        conn = connect(path)
        try:
            row = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if unavailable(exc):  # a folder gone read-only, a disk error: says nothing about the file
            return
        row = (str(exc),)
    detail = row[0] if row else "no answer"
    if detail == "ok":
        _write_beside(path, "checked", json.dumps(stamp))
        return
    _write_beside(path, "damaged", str(detail))
    message = (
        f"The {what} '{path}' is damaged ({detail}). What cannot be read from it is computed again; Veredicto moves it "
        "aside (nothing is deleted) and starts a new one the next time it opens it."
    )
    log.warning(message)
    if on_damage is not None:
        on_damage(message)


def _problem(conn: sqlite3.Connection, path: Path, version: int, tables: Iterable[str]) -> tuple[str, Any] | None:
    """Why `path` cannot be used (another version, another program's file, damage an earlier check found), or None."""
    with contextlib.suppress(OSError):
        return ("corrupt", _beside(path, "damaged").read_text(encoding="utf-8", errors="replace")[:300])
    found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "schema_version" in found:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        if (row[0] if row else None) != version:
            return ("version", row[0] if row else None)
    elif found - set(tables):
        return ("foreign", sorted(found))
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
    for kept in ("checked", "damaged"):  # they describe the file moved aside, not the next one
        with contextlib.suppress(OSError):
            _beside(path, kept).unlink()
    for extra in ("-wal", "-shm"):  # WAL pages belong to the old file; keep them with it
        side = path.with_name(path.name + extra)
        if side.exists():
            os.replace(side, target.with_name(target.name + extra))
    return target


def open_or_recover(
    path: Path,
    *,
    schema: str,
    version: int,
    tables: Iterable[str],
    what: str,
    consequence: str,
    fail: Callable[[str], Exception],
    on_damage: Callable[[str], None] | None = None,
) -> str | None:
    """Make `path` a usable SQLite file with `schema` (statements separated by ';', `CREATE ... IF NOT EXISTS`) at `version`.

    A file that is damaged, of another `version`, or holds tables other than `tables` is moved aside and a fresh one
    started; the notice saying so (naming `what` and the `consequence`) is returned (None when nothing was moved).
    A folder or disk that cannot be used raises `fail(message)` (a VeredictoError whose message the caller completes
    with what to do): nothing is moved then.

    Damage inside the file is what `PRAGMA quick_check` finds, reading every page: 0.4 s for a 600 MB store in the page
    cache, 19 s for a 1 GB one after the cache went cold, and it was the first page's wait on every process start. It
    runs in a thread of its own (`_check`), only when the file changed since it last passed: damage is told to
    `on_damage` when found and the file moved aside at the next open; no page waits for the check.
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
    stamp = _stamp(path)  # before the check: a write during it changes the file, and the next open checks again
    with contextlib.suppress(OSError, ValueError):
        if json.loads(_beside(path, "checked").read_text(encoding="utf-8")) == stamp:
            return notice
    thread = threading.Thread(target=_check, args=(path, stamp, what, on_damage), name=f"check {path.name}", daemon=True)
    with _checks_lock:  # two stores opened from two threads at once keep both checks
        _checks[:] = [t for t in _checks if t.is_alive()] + [thread]
    thread.start()
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
