"""One writer at a time per results store: an advisory `fcntl.flock` on `precompute.lock` in the store's folder.

Two `veredicto precompute` runs on one store would compute the same rows twice and race on every write; the second is
refused with the holder's pid, host and start time. Readers (the app's sessions) never take the lock: SQLite's WAL lets
them read while the one writer writes. The kernel releases the lock when the holder exits, even on a kill, so a stale
file never blocks anyone (its contents only name the last holder).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from models.errors import VeredictoError

FILENAME = "precompute.lock"


class StoreBusy(VeredictoError):
    """Another process holds the store's writer lock, or the lock file cannot be created."""


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    return f"{info.get('command', 'a process')} (pid {info.get('pid', '?')} on host {info.get('host', '?')}, since {since})"


@contextlib.contextmanager
def writer_lock(directory: str | os.PathLike, command: str = "veredicto precompute") -> Iterator[Path]:
    """Hold the store's writer lock for the block, or raise `StoreBusy` naming who holds it. Yields the lock file's path."""
    import fcntl

    path = Path(directory) / FILENAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreBusy(
            f"Cannot create the lock file '{path}': {exc.strerror or exc}. The results store folder must be writable; choose another with --store."
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusy(
                f"Another precompute is writing to the results store '{Path(directory)}': {_holder(fd)}. Wait for it to finish "
                "(this run would then skip what it stored), or give this one another --store."
            ) from None
        os.ftruncate(fd, 0)
        info = {"command": command, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
