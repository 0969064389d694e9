"""`FairLock`: a re-entrant lock granted first come, first served, that tells a waiter its place in line.

`threading.RLock` wakes an arbitrary waiter, and a thread that releases and re-acquires at once usually
gets it back: a session explaining in a loop could keep every other one waiting. Here waiters form a
line; the lock passes to the head of the line when it is free, so a thread that releases and asks again
goes behind everyone already waiting. Two uses:

- the predictor's own lock (`models.inference.Predictor`), held per tokenization and per forward batch,
  so a short `predict_proba` from one session gets in between the batches of another session's SHAP run;
- one line of explanation jobs per checkpoint (`explain.api.explanation_queue`), whose waiters see
  "k explanations ahead of yours" through `turn(on_wait=...)`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

# on_wait(ahead, in_line): `ahead` holders/waiters before this one (the holder counts), `in_line` all of them, this one included
OnWait = Callable[[int, int], None]


class FairLock:
    """Re-entrant, first-come-first-served; `turn(on_wait)` reports the waiter's place each time it moves up."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._line: list[object] = []  # tickets in arrival order; while held, the holder's ticket is first
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, on_wait: OnWait | None = None) -> bool:
        """Wait for this thread's turn (at once when it already holds the lock). `on_wait` runs outside the lock;
        if it raises (a Streamlit rerun stops the script thread there), the waiter leaves the line and the error propagates."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            ticket = object()
            self._line.append(ticket)
            reported = None
            try:
                while self._line[0] is not ticket:
                    ahead = self._line.index(ticket)
                    if on_wait is not None and ahead != reported:
                        reported, in_line = ahead, len(self._line)
                        self._cond.release()
                        try:
                            on_wait(ahead, in_line)
                        finally:
                            self._cond.acquire()
                        continue  # the line may have moved while on_wait ran
                    self._cond.wait()
            except BaseException:
                self._line.remove(ticket)
                self._cond.notify_all()
                raise
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("FairLock released by a thread that does not hold it")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._line.pop(0)
                self._cond.notify_all()

    @contextlib.contextmanager
    def turn(self, on_wait: OnWait | None = None) -> Iterator[None]:
        """Hold the lock for the block, after waiting in line (reported through `on_wait`)."""
        self.acquire(on_wait)
        try:
            yield
        finally:
            self.release()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def in_line(self) -> int:
        """Threads holding or waiting for the lock (a holder counts once, however deep its re-entry)."""
        with self._cond:
            return len(self._line)

    def held_by_me(self) -> bool:
        with self._cond:
            return self._owner == threading.get_ident()
