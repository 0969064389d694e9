"""Background jobs: one daemon thread per expensive result (a prediction table, an embedding index), shared by every
session of the process, with progress any session can read.

A page that needs a result starts its job (or finds the one already running) and follows it with a progress bar. The
computation lives in the job's thread, not in the page's script run: a reviewer who goes to another page while it runs
does not stop it (Streamlit stops a script run on navigation, and with it whatever the run computes), four reviewers
opening the same page share one computation instead of four, and coming back shows the bar where the job is.

No Streamlit here (`dashboard.state.follow` draws the bar): unit-tested with plain threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

Compute = Callable[["Job"], Any]  # compute(job) -> result; it reports through `job.progress(done, total)` (the inference layer's callback) and `job.note`


class Job:
    """One computation running in its own daemon thread. `done`/`total` follow its progress callback; `wait` blocks
    until it ends; `outcome()` is its result or raises its error."""

    def __init__(self, key: Hashable, label: str):
        self.key, self.label = key, label
        self.done = self.total = 0
        self.note = ""  # a line the computation adds to the bar, e.g. how much of the work the results store already held
        self.started = time.monotonic()
        self._finished = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total  # two plain attribute writes: readers may see a pair one update old, never a torn number

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def outcome(self) -> Any:
        """The result of a finished job, or its error raised here (in the caller's thread, with the job's traceback)."""
        if not self.finished:
            raise RuntimeError(f"{self.label} is still running")
        if self._error is not None:
            raise self._error
        return self._result

    def seconds_left(self) -> float | None:
        """The remaining time at the rate so far; None until a first part is done."""
        if not self.done or not self.total:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done * (self.total - self.done)

    def describe(self) -> str:
        """'label: done/total texts, about N s left — note' for a progress bar."""
        note = f" — {self.note}" if self.note else ""
        if not self.total:
            return f"{self.label}…{note}"
        left = self.seconds_left()
        eta = "" if left is None else f", about {_duration(left)} left"
        return f"{self.label}: {self.done:,}/{self.total:,} texts{eta}{note}"

    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


class Jobs:
    """The process's running jobs by key. A finished job hands its result to `keep` (e.g. the shared table cache) and
    leaves the registry in one step under the registry's lock, so a caller either finds the job or finds the kept
    result, never neither (which would start the same work twice). A failed job leaves too: the sessions following it
    see its error, and the next request tries again."""

    def __init__(self) -> None:
        self._running: dict[Hashable, Job] = {}
        self._lock = threading.Lock()

    def start(
        self, key: Hashable, label: str, compute: Compute, *, kept: Callable[[], Any] = lambda: None, keep: Callable[[Any], None] = lambda _: None
    ) -> Job:
        """The job computing `key`: the running one, else a finished one built from `kept()` when that holds the result,
        else a new one running `compute(job)` in a daemon thread, whose result goes to `keep`."""
        with self._lock:
            job = self._running.get(key)
            if job is not None:
                return job
            job = Job(key, label)
            value = kept()
            if value is not None:
                job._result = value
                job._finished.set()
                return job
            self._running[key] = job
        threading.Thread(target=self._run, args=(job, compute, keep), name=f"veredicto-job-{label[:40]}", daemon=True).start()
        return job

    def _run(self, job: Job, compute: Compute, keep: Callable[[Any], None]) -> None:
        try:
            result = compute(job)
        except BaseException as exc:  # noqa: BLE001 — handed to every session following the job, raised in its thread
            job._error = exc
            with self._lock:
                self._running.pop(job.key, None)
        else:
            job._result = result
            with self._lock:
                keep(result)
                self._running.pop(job.key, None)
        job._finished.set()

    def running(self) -> list[Job]:
        with self._lock:
            return list(self._running.values())

    def clear(self) -> None:
        """Forget the running jobs (their threads finish on their own; their results are still kept)."""
        with self._lock:
            self._running.clear()


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{round(seconds / 60)} min"
